/*
 * The SQLite backend's console-access rows (schema 6; store/tokens.h).
 * These run on the admin path, a few times a minute at most, so each
 * statement is prepared per call (from a constant string, input only as
 * bound parameters) rather than added to sqlite.c's per-handle cache.
 */
#include "store/sqlite_internal.h"
#include "store/tokens_internal.h"

#include <string.h>

/*
 * Schema 5 -> 6 (sqlite.c's migrations[]): API tokens, one-time login
 * links, browser sessions.  Only SHA-256 of each secret.  No generation
 * triggers: nothing served depends on them.
 */
const char sq_schema_tokens[] =
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  role INTEGER NOT NULL CHECK (role IN (0, 1)),"
	"  created INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32)"
	");"
	"CREATE TABLE logins ("
	"  hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
	"  actor TEXT NOT NULL,"
	"  expires INTEGER NOT NULL"
	");"
	"CREATE TABLE sessions ("
	"  hash BLOB PRIMARY KEY NOT NULL CHECK (length(hash) = 32),"
	"  csrf_hash BLOB NOT NULL CHECK (length(csrf_hash) = 32),"
	"  actor TEXT NOT NULL,"
	"  expires INTEGER NOT NULL"
	");"
	"PRAGMA user_version = 6;";

/* Prepare sql, or fail with the database's message. */
static sp_result
prep(sq_store *s, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return sq_dberr(s, "preparing a statement");
	return SP_OK;
}

/* DELETE FROM table WHERE expires <= before: rows nobody will use again. */
static sp_result
purge(sq_store *s, const char *sql, int64_t before, const char *what)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(prep(s, sql, &st));
	BIND(s, sqlite3_bind_int64(st, 1, before));
	TRY(sq_step_done(s, st, what));
out:
	sqlite3_finalize(st);
	return res;
}

static void
row_token(sqlite3_stmt *st, sp_token_info *t)
{
	memset(t, 0, sizeof(*t));
	sq_col_copy(st, 0, t->id, sizeof(t->id));
	sq_col_copy(st, 1, t->name, sizeof(t->name));
	t->role = sqlite3_column_int(st, 2) == 1 ? SP_ROLE_ADMIN : SP_ROLE_READ;
	t->created = sqlite3_column_int64(st, 3);
	t->last_used = sqlite3_column_int64(st, 4);
	t->revoked = sqlite3_column_int(st, 5) != 0;
	if (sqlite3_column_bytes(st, 6) == SP_SECRET_HASH_LEN)
		memcpy(t->hash, sqlite3_column_blob(st, 6), SP_SECRET_HASH_LEN);
}

#define TOKEN_COLS "id, name, role, created, last_used, revoked, hash"

static sp_result
token_add(sp_store *base, const sp_token_info *t)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(prep(s, "INSERT INTO tokens (" TOKEN_COLS ") "
	    "VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)", &st));
	BIND(s, sq_bind_str(st, 1, t->id));
	BIND(s, sq_bind_str(st, 2, t->name));
	BIND(s, sqlite3_bind_int(st, 3, t->role == SP_ROLE_ADMIN));
	BIND(s, sqlite3_bind_int64(st, 4, t->created));
	BIND(s, sqlite3_bind_blob(st, 5, t->hash, SP_SECRET_HASH_LEN,
	    SQLITE_STATIC));
	rc = sqlite3_step(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		res = sp_error(SP_E_EXISTS, "a token named '%s' exists already "
		    "(revoked ones keep their name)", t->name);
		goto out;
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "adding a token");
out:
	sqlite3_finalize(st);
	return sq_tx_end(s, mine, false, res);
}

static sp_result
token_get(sp_store *base, const char *id, sp_token_info *out, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	int rc;

	*found = false;
	TRY(prep(s, "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1", &st));
	BIND(s, sq_bind_str(st, 1, id));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_token(st, out);
		*found = true;
	} else if (rc != SQLITE_DONE)
		res = sq_dberr(s, "reading a token");
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
token_list(sp_store *base, sp_result (*cb)(void *arg, const sp_token_info *t),
    void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_token_info t;
	int rc;

	TRY(prep(s, "SELECT " TOKEN_COLS " FROM tokens ORDER BY name", &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_token(st, &t);
		TRY(cb(arg, &t));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "listing tokens");
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
token_revoke(sp_store *base, const char *name, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	*found = false;
	TRY(sq_tx_begin(s, true, &mine));
	TRY(prep(s, "UPDATE tokens SET revoked = 1 WHERE name = ?1", &st));
	BIND(s, sq_bind_str(st, 1, name));
	TRY(sq_step_done(s, st, "revoking a token"));
	*found = sqlite3_changes(s->db) > 0;
out:
	sqlite3_finalize(st);
	return sq_tx_end(s, mine, false, res);
}

static sp_result
token_used(sp_store *base, const char *id, int64_t now)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	TRY(prep(s, "UPDATE tokens SET last_used = ?2 WHERE id = ?1", &st));
	BIND(s, sq_bind_str(st, 1, id));
	BIND(s, sqlite3_bind_int64(st, 2, now));
	TRY(sq_step_done(s, st, "recording a token's use"));
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
login_add(sp_store *base, const uint8_t *hash, const char *actor,
    int64_t expires)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	/* Links nobody used: gone an hour after they expired. */
	TRY(purge(s, "DELETE FROM logins WHERE expires <= ?1", expires - 3600,
	    "adding a login link"));
	TRY(prep(s, "INSERT INTO logins (hash, actor, expires) "
	    "VALUES (?1, ?2, ?3)", &st));
	BIND(s, sqlite3_bind_blob(st, 1, hash, SP_SECRET_HASH_LEN, SQLITE_STATIC));
	BIND(s, sq_bind_str(st, 2, actor));
	BIND(s, sqlite3_bind_int64(st, 3, expires));
	TRY(sq_step_done(s, st, "adding a login link"));
out:
	sqlite3_finalize(st);
	return sq_tx_end(s, mine, false, res);
}

static sp_result
login_take(sp_store *base, const uint8_t *hash, int64_t now,
    char actor[SP_AUDIT_ACTOR_MAX + 1], bool *ok)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;

	/* One statement: of two takers, only one deletes the row. */
	TRY(sq_tx_begin(s, true, &mine));
	TRY(prep(s, "DELETE FROM logins WHERE hash = ?1 AND expires > ?2 "
	    "RETURNING actor", &st));
	BIND(s, sqlite3_bind_blob(st, 1, hash, SP_SECRET_HASH_LEN, SQLITE_STATIC));
	BIND(s, sqlite3_bind_int64(st, 2, now));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sq_col_copy(st, 0, actor, SP_AUDIT_ACTOR_MAX + 1);
		*ok = true;
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "taking a login link");
out:
	sqlite3_finalize(st);
	if (sp_failed(res))
		*ok = false;
	return sq_tx_end(s, mine, false, res);
}

static sp_result
session_add(sp_store *base, const sp_session_info *si)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(purge(s, "DELETE FROM sessions WHERE expires <= ?1",
	    si->expires - 86400 * 7, "adding a session"));
	TRY(prep(s, "INSERT INTO sessions (hash, csrf_hash, actor, expires) "
	    "VALUES (?1, ?2, ?3, ?4)", &st));
	BIND(s, sqlite3_bind_blob(st, 1, si->hash, SP_SECRET_HASH_LEN,
	    SQLITE_STATIC));
	BIND(s, sqlite3_bind_blob(st, 2, si->csrf_hash, SP_SECRET_HASH_LEN,
	    SQLITE_STATIC));
	BIND(s, sq_bind_str(st, 3, si->actor));
	BIND(s, sqlite3_bind_int64(st, 4, si->expires));
	TRY(sq_step_done(s, st, "adding a session"));
out:
	sqlite3_finalize(st);
	return sq_tx_end(s, mine, false, res);
}

static sp_result
session_get(sp_store *base, const uint8_t *hash, int64_t now,
    sp_session_info *out, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	int rc;

	*found = false;
	TRY(prep(s, "SELECT csrf_hash, actor, expires FROM sessions "
	    "WHERE hash = ?1 AND expires > ?2", &st));
	BIND(s, sqlite3_bind_blob(st, 1, hash, SP_SECRET_HASH_LEN, SQLITE_STATIC));
	BIND(s, sqlite3_bind_int64(st, 2, now));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		memcpy(out->hash, hash, SP_SECRET_HASH_LEN);
		if (sqlite3_column_bytes(st, 0) == SP_SECRET_HASH_LEN)
			memcpy(out->csrf_hash, sqlite3_column_blob(st, 0),
			    SP_SECRET_HASH_LEN);
		sq_col_copy(st, 1, out->actor, sizeof(out->actor));
		out->expires = sqlite3_column_int64(st, 2);
		*found = true;
	} else if (rc != SQLITE_DONE)
		res = sq_dberr(s, "reading a session");
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
session_end(sp_store *base, const uint8_t *hash)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	TRY(prep(s, "DELETE FROM sessions WHERE hash = ?1", &st));
	BIND(s, sqlite3_bind_blob(st, 1, hash, SP_SECRET_HASH_LEN, SQLITE_STATIC));
	TRY(sq_step_done(s, st, "ending a session"));
out:
	sqlite3_finalize(st);
	return res;
}

const sp_tokens_ops sq_tokens_ops = {
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
