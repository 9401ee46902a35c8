/*
 * The PostgreSQL backend's console-access rows (schema 6; store/tokens.h),
 * as SQLite's (sqlite_tokens.c).  These run on the admin path a few times
 * a minute at most, so the statements are sent with PQexecParams (input
 * only as parameters) rather than added to pgsql.c's prepared set; they do
 * not reconnect by themselves (the next pg_run does).  Messages carry the
 * server's primary message only, never a DETAIL (it may show a row).
 */
#include "store/pgsql_internal.h"
#include "store/tokens_internal.h"

#include <string.h>


#define PG_UNIQUE_VIOLATION "23505"

static sp_result
q(pg_store *s, const char *sql, const pg_params *p, PGresult **out,
    const char *what)
{
	PGresult *r;
	ExecStatusType st;
	const char *state, *msg;
	sp_result res;

	if (out)
		*out = NULL;
	r = PQexecParams(s->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0);
	st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = r;
		else
			PQclear(r);
		return SP_OK;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	res = sp_error(state && strcmp(state, PG_UNIQUE_VIOLATION) == 0 ?
	    SP_E_EXISTS : SP_E_DB, "%s: %s: %s", s->label, what,
	    msg ? msg : "the connection failed");
	PQclear(r);
	return res;
}

/* A bytea column of exactly SP_SECRET_HASH_LEN bytes into out (else zeros). */
static sp_result
col_hash(PGresult *r, int row, int col, uint8_t out[SP_SECRET_HASH_LEN])
{
	sp_result res = SP_OK;
	unsigned char *b = NULL;
	size_t n = 0;

	memset(out, 0, SP_SECRET_HASH_LEN);
	TRY_ALLOC(b, PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col),
	    &n));
	if (n == SP_SECRET_HASH_LEN)
		memcpy(out, b, SP_SECRET_HASH_LEN);
out:
	PQfreemem(b);
	return res;
}

#define TOKEN_COLS "id, name, role, created, last_used, revoked, hash"

static sp_result
row_token(PGresult *r, int row, sp_token_info *t)
{
	memset(t, 0, sizeof(*t));
	pg_col_copy(r, row, 0, t->id, sizeof(t->id));
	pg_col_copy(r, row, 1, t->name, sizeof(t->name));
	t->role = pg_col_i64(r, row, 2) == 1 ? SP_ROLE_ADMIN : SP_ROLE_READ;
	t->created = pg_col_i64(r, row, 3);
	t->last_used = pg_col_i64(r, row, 4);
	t->revoked = strcmp(PQgetvalue(r, row, 5), "t") == 0;
	return col_hash(r, row, 6, t->hash);
}

static sp_result
token_add(sp_store *base, const sp_token_info *t)
{
	sp_result res;
	pg_params p = { 0 };

	pg_p_str(&p, t->id);
	pg_p_str(&p, t->name);
	pg_p_i64(&p, t->role == SP_ROLE_ADMIN);
	pg_p_i64(&p, t->created);
	pg_p_slice(&p, sp_slice_mk((const char *)t->hash, SP_SECRET_HASH_LEN));
	res = q(pg(base), "INSERT INTO tokens (" TOKEN_COLS ") "
	    "VALUES ($1, $2, $3, $4, 0, false, $5)", &p, NULL, "adding a token");
	if (res.code == SP_E_EXISTS) {
		sp_error_clear();
		res = sp_error(SP_E_EXISTS, "a token named '%s' exists already "
		    "(revoked ones keep their name)", t->name);
	}
	return res;
}

static sp_result
token_get(sp_store *base, const char *id, sp_token_info *out, bool *found)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };

	*found = false;
	pg_p_str(&p, id);
	TRY(q(pg(base), "SELECT " TOKEN_COLS " FROM tokens WHERE id = $1", &p, &r,
	    "reading a token"));
	if (PQntuples(r) == 1) {
		TRY(row_token(r, 0, out));
		*found = true;
	}
out:
	PQclear(r);
	return res;
}

static sp_result
token_list(sp_store *base, sp_result (*cb)(void *arg, const sp_token_info *t),
    void *arg)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };
	sp_token_info t;

	TRY(q(pg(base), "SELECT " TOKEN_COLS " FROM tokens ORDER BY name COLLATE \"C\"",
	    &p, &r, "listing tokens"));
	for (int i = 0; i < PQntuples(r); i++) {
		TRY(row_token(r, i, &t));
		TRY(cb(arg, &t));
	}
out:
	PQclear(r);
	return res;
}

static sp_result
token_revoke(sp_store *base, const char *name, bool *found)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };

	*found = false;
	pg_p_str(&p, name);
	TRY(q(pg(base), "UPDATE tokens SET revoked = true WHERE name = $1", &p, &r,
	    "revoking a token"));
	*found = pg_affected(r) > 0;
out:
	PQclear(r);
	return res;
}

static sp_result
token_used(sp_store *base, const char *id, int64_t now)
{
	pg_params p = { 0 };

	pg_p_str(&p, id);
	pg_p_i64(&p, now);
	return q(pg(base), "UPDATE tokens SET last_used = $2 WHERE id = $1", &p,
	    NULL, "recording a token's use");
}

static sp_result
login_add(sp_store *base, const uint8_t *hash, const char *actor,
    int64_t expires)
{
	sp_result res = SP_OK;
	pg_params p = { 0 }, d = { 0 };

	/* Links nobody used: gone an hour after they expired. */
	pg_p_i64(&d, expires - 3600);
	TRY(q(pg(base), "DELETE FROM logins WHERE expires <= $1", &d, NULL,
	    "adding a login link"));
	pg_p_slice(&p, sp_slice_mk((const char *)hash, SP_SECRET_HASH_LEN));
	pg_p_str(&p, actor);
	pg_p_i64(&p, expires);
	TRY(q(pg(base), "INSERT INTO logins (hash, actor, expires) "
	    "VALUES ($1, $2, $3)", &p, NULL, "adding a login link"));
out:
	return res;
}

static sp_result
login_take(sp_store *base, const uint8_t *hash, int64_t now,
    char actor[SP_AUDIT_ACTOR_MAX + 1], bool *ok)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };

	/* One statement: of two takers, only one deletes the row. */
	pg_p_slice(&p, sp_slice_mk((const char *)hash, SP_SECRET_HASH_LEN));
	pg_p_i64(&p, now);
	TRY(q(pg(base), "DELETE FROM logins WHERE hash = $1 AND expires > $2 "
	    "RETURNING actor", &p, &r, "taking a login link"));
	if (PQntuples(r) == 1) {
		pg_col_copy(r, 0, 0, actor, SP_AUDIT_ACTOR_MAX + 1);
		*ok = true;
	}
out:
	PQclear(r);
	return res;
}

static sp_result
session_add(sp_store *base, const sp_session_info *si)
{
	sp_result res = SP_OK;
	pg_params p = { 0 }, d = { 0 };

	pg_p_i64(&d, si->expires - 86400 * 7);
	TRY(q(pg(base), "DELETE FROM sessions WHERE expires <= $1", &d, NULL,
	    "adding a session"));
	pg_p_slice(&p, sp_slice_mk((const char *)si->hash, SP_SECRET_HASH_LEN));
	pg_p_slice(&p, sp_slice_mk((const char *)si->csrf_hash, SP_SECRET_HASH_LEN));
	pg_p_str(&p, si->actor);
	pg_p_i64(&p, si->expires);
	TRY(q(pg(base), "INSERT INTO sessions (hash, csrf_hash, actor, expires) "
	    "VALUES ($1, $2, $3, $4)", &p, NULL, "adding a session"));
out:
	return res;
}

static sp_result
session_get(sp_store *base, const uint8_t *hash, int64_t now,
    sp_session_info *out, bool *found)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };

	*found = false;
	pg_p_slice(&p, sp_slice_mk((const char *)hash, SP_SECRET_HASH_LEN));
	pg_p_i64(&p, now);
	TRY(q(pg(base), "SELECT csrf_hash, actor, expires FROM sessions "
	    "WHERE hash = $1 AND expires > $2", &p, &r, "reading a session"));
	if (PQntuples(r) == 1) {
		memset(out, 0, sizeof(*out));
		memcpy(out->hash, hash, SP_SECRET_HASH_LEN);
		TRY(col_hash(r, 0, 0, out->csrf_hash));
		pg_col_copy(r, 0, 1, out->actor, sizeof(out->actor));
		out->expires = pg_col_i64(r, 0, 2);
		*found = true;
	}
out:
	PQclear(r);
	return res;
}

static sp_result
session_end(sp_store *base, const uint8_t *hash)
{
	pg_params p = { 0 };

	pg_p_slice(&p, sp_slice_mk((const char *)hash, SP_SECRET_HASH_LEN));
	return q(pg(base), "DELETE FROM sessions WHERE hash = $1", &p, NULL,
	    "ending a session");
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
