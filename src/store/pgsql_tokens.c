/*
 * The PostgreSQL backend's console-access rows (schema 6; store/tokens.h).
 * XXX: the tables exist (pgsql_schema.c) but the rows are not written yet:
 * every call says so, naming the backend, rather than pretending.
 */
#include "store/pgsql_internal.h"
#include "store/tokens_internal.h"

static sp_result
todo(sp_store *base)
{
	return sp_error(SP_E_STATE, "%s: console tokens, login links and "
	    "sessions are not implemented on PostgreSQL yet", pg(base)->label);
}

static sp_result
token_add(sp_store *s, const sp_token_info *t)
{
	(void)t;
	return todo(s);
}

static sp_result
token_get(sp_store *s, const char *id, sp_token_info *out, bool *found)
{
	(void)id, (void)out, (void)found;
	return todo(s);
}

static sp_result
token_list(sp_store *s, sp_result (*cb)(void *arg, const sp_token_info *t),
    void *arg)
{
	(void)cb, (void)arg;
	return todo(s);
}

static sp_result
token_revoke(sp_store *s, const char *name, bool *found)
{
	(void)name, (void)found;
	return todo(s);
}

static sp_result
token_used(sp_store *s, const char *id, int64_t now)
{
	(void)id, (void)now;
	return todo(s);
}

static sp_result
login_add(sp_store *s, const uint8_t *hash, const char *actor, int64_t expires)
{
	(void)hash, (void)actor, (void)expires;
	return todo(s);
}

static sp_result
login_take(sp_store *s, const uint8_t *hash, int64_t now,
    char actor[SP_AUDIT_ACTOR_MAX + 1], bool *ok)
{
	(void)hash, (void)now, (void)actor, (void)ok;
	return todo(s);
}

static sp_result
session_add(sp_store *s, const sp_session_info *si)
{
	(void)si;
	return todo(s);
}

static sp_result
session_get(sp_store *s, const uint8_t *hash, int64_t now,
    sp_session_info *out, bool *found)
{
	(void)hash, (void)now, (void)out, (void)found;
	return todo(s);
}

static sp_result
session_end(sp_store *s, const uint8_t *hash)
{
	(void)hash;
	return todo(s);
}

const sp_tokens_ops pg_tokens_ops = {
	.token_add = token_add,
	.token_get = token_get,
	.token_list = token_list,
	.token_revoke = token_revoke,
	.token_used = token_used,
	.login_add = login_add,
	.login_take = login_take,
	.session_add = session_add,
	.session_get = session_get,
	.session_end = session_end,
};
