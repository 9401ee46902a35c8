/*
 * Who may use the console (schema 6; docs/CONSOLE.md "Access"): API
 * tokens, one-time login links and browser sessions.  Kept in the store so
 * that every node behind the balancer honours the same ones.  Only hashes
 * of secrets are stored: a token, link or session id is 32 random bytes
 * shown once, and the store keeps SHA-256 of it; the caller compares in
 * constant time (CRYPTO_memcmp).  Adding and revoking tokens is audited
 * (the handle's actor); sessions and links are not (their use is).
 */
#ifndef SPROV_STORE_TOKENS_H
#define SPROV_STORE_TOKENS_H

#include "store/store.h"

#define SP_TOKEN_NAME_MAX 64      /* [A-Za-z0-9._@-] */
#define SP_TOKEN_ID_LEN 8         /* public id: 8 hex digits, the lookup key */
#define SP_SECRET_HASH_LEN 32     /* SHA-256 */

typedef enum { SP_ROLE_READ = 0, SP_ROLE_ADMIN } sp_role;
const char *sp_role_name(sp_role r);                    /* "read", "admin" */
SP_MUST_CHECK sp_result sp_role_parse(const char *s, sp_role *out);
SP_MUST_CHECK sp_result sp_token_name_check(const char *name);

typedef struct sp_token_info {
	char name[SP_TOKEN_NAME_MAX + 1];
	char id[SP_TOKEN_ID_LEN + 1];
	sp_role role;
	int64_t created;
	int64_t last_used;                  /* 0: never */
	bool revoked;
	uint8_t hash[SP_SECRET_HASH_LEN];   /* of the secret part */
} sp_token_info;

/* SP_E_EXISTS for a name or id in use (revoked ones included). */
SP_MUST_CHECK sp_result sp_store_token_add(sp_store *s, const sp_token_info *t);
/* By public id; *found false if none.  The caller checks hash and revoked. */
SP_MUST_CHECK sp_result sp_store_token_get(sp_store *s, const char *id,
    sp_token_info *out, bool *found);
SP_MUST_CHECK sp_result sp_store_token_list(sp_store *s,
    sp_result (*cb)(void *arg, const sp_token_info *t), void *arg);
/* SP_E_NOTFOUND if no such name; revoking twice is SP_OK. */
SP_MUST_CHECK sp_result sp_store_token_revoke(sp_store *s, const char *name);
/* Best effort, not audited. */
SP_MUST_CHECK sp_result sp_store_token_used(sp_store *s, const char *id,
    int64_t now);

/*
 * One-time login links: add one with its expiry; take it exactly once
 * (race-free across nodes: of two takers one gets *ok), only before it
 * expires.  actor: who asked for it ("cli:alice"), given to the session.
 */
SP_MUST_CHECK sp_result sp_store_login_add(sp_store *s,
    const uint8_t hash[SP_SECRET_HASH_LEN], const char *actor, int64_t expires);
SP_MUST_CHECK sp_result sp_store_login_take(sp_store *s,
    const uint8_t hash[SP_SECRET_HASH_LEN], int64_t now, char actor[SP_AUDIT_ACTOR_MAX + 1],
    bool *ok);

/* Browser sessions (admin role), with their CSRF token's hash. */
typedef struct sp_session_info {
	uint8_t hash[SP_SECRET_HASH_LEN];
	uint8_t csrf_hash[SP_SECRET_HASH_LEN];
	char actor[SP_AUDIT_ACTOR_MAX + 1];
	int64_t expires;
} sp_session_info;
SP_MUST_CHECK sp_result sp_store_session_add(sp_store *s, const sp_session_info *si);
/* *found false when absent or expired at now. */
SP_MUST_CHECK sp_result sp_store_session_get(sp_store *s,
    const uint8_t hash[SP_SECRET_HASH_LEN], int64_t now, sp_session_info *out,
    bool *found);
SP_MUST_CHECK sp_result sp_store_session_end(sp_store *s,
    const uint8_t hash[SP_SECRET_HASH_LEN]);

/*
 * Added by the API work (not in the first contract): one audit entry for
 * an action that changes nothing in the store but must be on the trail
 * (the console revealing a secret value: "param.reveal"), in its own
 * transaction, with the handle's actor.  detail: a JSON object or NULL.
 */
SP_MUST_CHECK sp_result sp_store_audit_note(sp_store *s, const char *action,
    const char *target, const char *detail);

#endif
