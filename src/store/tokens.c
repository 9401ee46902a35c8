/*
 * Who may use the console (store/tokens.h): checks, the audit entries of
 * token changes, and the calls into the backend's rows (tokens_internal.h).
 */
#include "store/tokens_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"

#define TOKEN_DETAIL_MAX 256

const char *
sp_role_name(sp_role r)
{
	return r == SP_ROLE_ADMIN ? "admin" : "read";
}

sp_result
sp_role_parse(const char *s, sp_role *out)
{
	if (strcmp(s, "read") == 0)
		*out = SP_ROLE_READ;
	else if (strcmp(s, "admin") == 0)
		*out = SP_ROLE_ADMIN;
	else {
		char q[64];

		sp_quote(sp_slice_of(s), q, sizeof(q));
		return sp_error(SP_E_USAGE, "role '%s' is not read or admin", q);
	}
	return SP_OK;
}

sp_result
sp_token_name_check(const char *name)
{
	size_t n = strlen(name);
	char q[2 * SP_TOKEN_NAME_MAX];

	sp_quote(sp_slice_of(name), q, sizeof(q));
	if (n == 0)
		return sp_error(SP_E_USAGE, "a token name is empty");
	if (n > SP_TOKEN_NAME_MAX)
		return sp_error(SP_E_USAGE, "token name '%s' is longer than %d "
		    "characters", q, SP_TOKEN_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
		    c == '-'))
			return sp_error(SP_E_USAGE, "token name '%s': only letters, "
			    "digits and . _ @ - are allowed", q);
	}
	return SP_OK;
}

static bool
id_valid(const char *id)
{
	if (strlen(id) != SP_TOKEN_ID_LEN)
		return false;
	for (size_t i = 0; i < SP_TOKEN_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* {"name":"...","role":"...","id":"..."}: the detail of a token's entry. */
static sp_result
token_detail(sp_buf *b, const char *name, const char *role, const char *id)
{
	sp_result res = SP_OK;

	TRY(sp_buf_append_str(b, "{\"name\":"));
	TRY(sp_json_cstr(b, name));
	if (role) {
		TRY(sp_buf_append_str(b, ",\"role\":"));
		TRY(sp_json_cstr(b, role));
	}
	if (id) {
		TRY(sp_buf_append_str(b, ",\"id\":"));
		TRY(sp_json_cstr(b, id));
	}
	TRY(sp_buf_append_str(b, "}"));
	TRY(sp_buf_append(b, "", 1));
out:
	return res;
}

sp_result
sp_store_token_add(sp_store *s, const sp_token_info *t)
{
	sp_result res = SP_OK;
	sp_buf d;
	char target[SP_AUDIT_TARGET_MAX + 1];

	sp_buf_init(&d, TOKEN_DETAIL_MAX);
	TRY(sp_token_name_check(t->name));
	ENSURE(id_valid(t->id), SP_E_USAGE, "token id is not %d hex digits",
	    SP_TOKEN_ID_LEN);
	TRY(token_detail(&d, t->name, sp_role_name(t->role), t->id));
	snprintf(target, sizeof(target), "token:%s", t->name);
	TRY(sp_store_begin(s));
	TRY(s->ops->tokens->token_add(s, t));
	TRY(sp_store_audit(s, "token.add", target, (const char *)d.p));
	TRY(sp_store_commit(s));
out:
	if (sp_failed(res))
		sp_store_rollback(s);
	sp_buf_free(&d);
	return res;
}

sp_result
sp_store_token_get(sp_store *s, const char *id, sp_token_info *out, bool *found)
{
	*found = false;
	if (!id_valid(id))
		return SP_OK;
	return s->ops->tokens->token_get(s, id, out, found);
}

sp_result
sp_store_token_list(sp_store *s, sp_result (*cb)(void *arg,
    const sp_token_info *t), void *arg)
{
	return s->ops->tokens->token_list(s, cb, arg);
}

sp_result
sp_store_token_revoke(sp_store *s, const char *name)
{
	sp_result res = SP_OK;
	sp_buf d;
	char target[SP_AUDIT_TARGET_MAX + 1];
	bool found = false;

	sp_buf_init(&d, TOKEN_DETAIL_MAX);
	TRY(sp_token_name_check(name));
	TRY(token_detail(&d, name, NULL, NULL));
	snprintf(target, sizeof(target), "token:%s", name);
	TRY(sp_store_begin(s));
	TRY(s->ops->tokens->token_revoke(s, name, &found));
	ENSURE(found, SP_E_NOTFOUND, "no token named '%s'", name);
	TRY(sp_store_audit(s, "token.revoke", target, (const char *)d.p));
	TRY(sp_store_commit(s));
out:
	if (sp_failed(res))
		sp_store_rollback(s);
	sp_buf_free(&d);
	return res;
}

sp_result
sp_store_token_used(sp_store *s, const char *id, int64_t now)
{
	if (!id_valid(id))
		return SP_OK;
	return s->ops->tokens->token_used(s, id, now);
}

sp_result
sp_store_login_add(sp_store *s, const uint8_t hash[SP_SECRET_HASH_LEN],
    const char *actor, int64_t expires)
{
	if (strlen(actor) > SP_AUDIT_ACTOR_MAX)
		return sp_error(SP_E_USAGE, "login actor is longer than %d bytes",
		    SP_AUDIT_ACTOR_MAX);
	return s->ops->tokens->login_add(s, hash, actor, expires);
}

sp_result
sp_store_login_take(sp_store *s, const uint8_t hash[SP_SECRET_HASH_LEN],
    int64_t now, char actor[SP_AUDIT_ACTOR_MAX + 1], bool *ok)
{
	*ok = false;
	actor[0] = '\0';
	return s->ops->tokens->login_take(s, hash, now, actor, ok);
}

sp_result
sp_store_session_add(sp_store *s, const sp_session_info *si)
{
	return s->ops->tokens->session_add(s, si);
}

sp_result
sp_store_session_get(sp_store *s, const uint8_t hash[SP_SECRET_HASH_LEN],
    int64_t now, sp_session_info *out, bool *found)
{
	*found = false;
	return s->ops->tokens->session_get(s, hash, now, out, found);
}

sp_result
sp_store_session_end(sp_store *s, const uint8_t hash[SP_SECRET_HASH_LEN])
{
	return s->ops->tokens->session_end(s, hash);
}

sp_result
sp_store_audit_note(sp_store *s, const char *action, const char *target,
    const char *detail)
{
	sp_result res = SP_OK;

	TRY(sp_store_begin(s));
	TRY(sp_store_audit(s, action, target, detail));
	TRY(sp_store_commit(s));
out:
	if (sp_failed(res))
		sp_store_rollback(s);
	return res;
}
