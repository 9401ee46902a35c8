/*
 * Between tokens.c (the public functions of store/tokens.h) and the
 * backends' console-access rows (sqlite_tokens.c, pgsql_tokens.c): one
 * table of functions per backend, reached through sp_store_ops.tokens.
 * Arguments are checked by tokens.c.  Private to src/store.
 */
#ifndef SPROV_STORE_TOKENS_INTERNAL_H
#define SPROV_STORE_TOKENS_INTERNAL_H

#include "store/store_internal.h"
#include "store/tokens.h"

typedef struct sp_tokens_ops {
	/* SP_E_EXISTS for a name or id in use. */
	sp_result (*token_add)(sp_store *s, const sp_token_info *t);
	sp_result (*token_get)(sp_store *s, const char *id, sp_token_info *out,
	    bool *found);
	/* By name. */
	sp_result (*token_list)(sp_store *s,
	    sp_result (*cb)(void *arg, const sp_token_info *t), void *arg);
	/* *found false if no such name. */
	sp_result (*token_revoke)(sp_store *s, const char *name, bool *found);
	sp_result (*token_used)(sp_store *s, const char *id, int64_t now);
	sp_result (*login_add)(sp_store *s, const uint8_t *hash,
	    const char *actor, int64_t expires);
	/* Delete the row if it is there and not expired, in one statement. */
	sp_result (*login_take)(sp_store *s, const uint8_t *hash, int64_t now,
	    char actor[SP_AUDIT_ACTOR_MAX + 1], bool *ok);
	sp_result (*session_add)(sp_store *s, const sp_session_info *si);
	sp_result (*session_get)(sp_store *s, const uint8_t *hash, int64_t now,
	    sp_session_info *out, bool *found);
	sp_result (*session_end)(sp_store *s, const uint8_t *hash);
} sp_tokens_ops;

extern const sp_tokens_ops sq_tokens_ops;
/* SQLite's schema 5 -> 6 script (sqlite_tokens.c). */
extern const char sq_schema_tokens[];
extern const sp_tokens_ops pg_tokens_ops;

#endif
