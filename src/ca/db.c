#include "ca/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define SCHEMA_VERSION "1"

enum {
	ST_INSERT, ST_FIND_SERIAL, ST_FIND_MAC, ST_REVOKE, ST_DELIVERED, ST_MAX
};

struct sp_cadb {
	sqlite3 *h;
	sqlite3_stmt *st[ST_MAX];
	char path[PATH_MAX];
};

#define ROW_COLS "serial, ca, subject, coalesce(mac, ''), not_before, not_after, " \
	"issued_at, status = 'revoked', coalesce(revoked_at, 0), coalesce(reason, 0), " \
	"coalesce(outdir, ''), delivered, coalesce(run_id, '')"

static const char *const sql[ST_MAX] = {
	/* Parenthesised: clang's -Wstring-concatenation reads these as typos. */
	[ST_INSERT] = ("INSERT INTO certs (serial, ca, subject, mac, not_before, not_after, "
	    "issued_at, status, outdir, delivered, run_id, der) "
	    "VALUES (?1, ?2, ?3, nullif(?4, ''), ?5, ?6, ?7, 'valid', nullif(?8, ''), ?9, "
	    "nullif(?10, ''), ?11)"),
	[ST_FIND_SERIAL] = ("SELECT " ROW_COLS " FROM certs WHERE serial = ?1"),
	[ST_FIND_MAC] = ("SELECT " ROW_COLS " FROM certs WHERE mac = ?1 AND status = 'valid'"),
	[ST_REVOKE] = ("UPDATE certs SET status = 'revoked', revoked_at = ?2, reason = ?3 "
	    "WHERE serial = ?1 AND status = 'valid'"),
	[ST_DELIVERED] = "UPDATE certs SET delivered = 1 WHERE serial = ?1",
};

static const char schema[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE certs ("
    "  serial TEXT PRIMARY KEY,"
    "  ca TEXT NOT NULL CHECK (ca IN ('server', 'device')),"
    "  subject TEXT NOT NULL,"
    "  mac TEXT CHECK (mac IS NULL OR length(mac) = 12),"
    "  not_before INTEGER NOT NULL,"
    "  not_after INTEGER NOT NULL,"
    "  issued_at INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),"
    "  revoked_at INTEGER,"
    "  reason INTEGER,"
    "  outdir TEXT,"
    "  delivered INTEGER NOT NULL DEFAULT 1,"
    "  run_id TEXT,"
    "  der BLOB NOT NULL"
    ");"
    /* One valid certificate per device; revoked ones may repeat. */
    "CREATE UNIQUE INDEX certs_valid_mac ON certs (mac) WHERE status = 'valid';"
    "CREATE INDEX certs_ca_status ON certs (ca, status);"
    "CREATE TABLE crl (ca TEXT PRIMARY KEY, number INTEGER NOT NULL CHECK (number >= 0));"
    "INSERT INTO crl VALUES ('server', 0), ('device', 0);"
    "CREATE TABLE domains (domain TEXT PRIMARY KEY);";

static sp_result
db_err(sp_cadb *db, const char *what)
{
	return sp_error(SP_E_DB, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static sp_result
exec(sp_cadb *db, const char *s)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, s, NULL, NULL, &msg) != SQLITE_OK) {
		sp_result r = sp_error(SP_E_DB, "%s: %s", db->path,
		    msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return r;
	}
	return SP_OK;
}

static sp_result
open_handle(const char *path, int flags, sp_cadb **out)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;

	TRY_ALLOC(db, calloc(1, sizeof(*db)));
	snprintf(db->path, sizeof(db->path), "%s", path);
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		res = sp_error(SP_E_DB, "%s: %s", path,
		    db->h ? sqlite3_errmsg(db->h) : "cannot open");
		goto out;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, SP_CADB_BUSY_MS);
	TRY(exec(db, "PRAGMA journal_mode = WAL"));
	/* FULL: WAL commits are fsynced, so a committed row survives power loss. */
	TRY(exec(db, "PRAGMA synchronous = FULL"));
	TRY(exec(db, "PRAGMA foreign_keys = ON"));
	*out = db;
	db = NULL;
out:
	sp_cadb_close(db);
	return res;
}

sp_result
sp_cadb_create(const char *path, const char *org)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	sqlite3_stmt *st = NULL;

	TRY(open_handle(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_EXCLUSIVE, &db));
	TRY(sp_cadb_begin(db));
	TRY(exec(db, schema));
	if (sqlite3_prepare_v2(db->h, "INSERT INTO meta VALUES ('schema', ?1), ('org', ?2)",
	    -1, &st, NULL) != SQLITE_OK)
		TRY(db_err(db, "prepare"));
	sqlite3_bind_text(st, 1, SCHEMA_VERSION, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		TRY(db_err(db, "meta"));
	TRY(sp_cadb_commit(db));
out:
	sqlite3_finalize(st);
	if (db)
		sp_cadb_rollback(db);
	sp_cadb_close(db);
	return res;
}

sp_result
sp_cadb_open(const char *path, sp_cadb **out)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	char v[16];

	TRY(open_handle(path, SQLITE_OPEN_READWRITE, &db));
	res = sp_cadb_meta_get(db, "schema", v, sizeof(v));
	if (sp_failed(res) || strcmp(v, SCHEMA_VERSION) != 0)
		ENSURE(0, SP_E_DB, "%s: not a sprov CA database (schema %s)", path,
		    sp_ok(res) ? v : "missing");
	for (int i = 0; i < ST_MAX; i++)
		if (sqlite3_prepare_v3(db->h, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		    &db->st[i], NULL) != SQLITE_OK)
			TRY(db_err(db, "prepare"));
	*out = db;
	db = NULL;
out:
	sp_cadb_close(db);
	return res;
}

void
sp_cadb_close(sp_cadb *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < ST_MAX; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->h);
	free(db);
}

sp_result
sp_cadb_begin(sp_cadb *db)
{
	return exec(db, "BEGIN IMMEDIATE");
}

sp_result
sp_cadb_begin_read(sp_cadb *db)
{
	return exec(db, "BEGIN DEFERRED");
}

sp_result
sp_cadb_commit(sp_cadb *db)
{
	return exec(db, "COMMIT");
}

void
sp_cadb_rollback(sp_cadb *db)
{
	if (db && db->h && !sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

sp_result
sp_cadb_meta_get(sp_cadb *db, const char *key, char *out, size_t outsz)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db->h, "SELECT value FROM meta WHERE key = ?1", -1, &st,
	    NULL) != SQLITE_OK)
		TRY(db_err(db, "meta"));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	ENSURE(rc == SQLITE_ROW, rc == SQLITE_DONE ? SP_E_NOTFOUND : SP_E_DB,
	    "%s: no '%s' in meta", db->path, key);
	snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
out:
	sqlite3_finalize(st);
	return res;
}

sp_result
sp_cadb_meta_set(sp_cadb *db, const char *key, const char *value)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, *value ? "INSERT OR REPLACE INTO meta VALUES (?1, ?2)" :
	    "DELETE FROM meta WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
		TRY(db_err(db, "meta"));
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (*value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		TRY(db_err(db, "meta"));
out:
	sqlite3_finalize(st);
	return res;
}

sp_result
sp_cadb_domains(sp_cadb *db, char ***out, size_t *n)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	char **v = NULL, **nv;
	size_t cnt = 0;
	int rc;

	if (sqlite3_prepare_v2(db->h, "SELECT domain FROM domains ORDER BY domain", -1, &st,
	    NULL) != SQLITE_OK)
		TRY(db_err(db, "domains"));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		TRY_ALLOC(nv, realloc(v, (cnt + 1) * sizeof(*v)));
		v = nv;
		TRY_ALLOC(v[cnt], strdup((const char *)sqlite3_column_text(st, 0)));
		cnt++;
	}
	if (rc != SQLITE_DONE)
		TRY(db_err(db, "domains"));
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	sp_cadb_domains_free(v, cnt);
	sqlite3_finalize(st);
	return res;
}

void
sp_cadb_domains_free(char **d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(d[i]);
	free(d);
}

static sp_result
exec1(sp_cadb *db, const char *s, const char *arg, int *changes)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, s, -1, &st, NULL) != SQLITE_OK)
		TRY(db_err(db, "prepare"));
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		TRY(db_err(db, "update"));
	if (changes)
		*changes = sqlite3_changes(db->h);
out:
	sqlite3_finalize(st);
	return res;
}

sp_result
sp_cadb_domain_add(sp_cadb *db, const char *d)
{
	return exec1(db, "INSERT OR IGNORE INTO domains VALUES (lower(?1))", d, NULL);
}

sp_result
sp_cadb_domain_remove(sp_cadb *db, const char *d, bool *found)
{
	int n = 0;
	sp_result r = exec1(db, "DELETE FROM domains WHERE domain = lower(?1)", d, &n);

	*found = n > 0;
	return r;
}

sp_result
sp_cadb_domain_clear(sp_cadb *db)
{
	return exec1(db, "DELETE FROM domains", NULL, NULL);
}

sp_result
sp_cadb_insert(sp_cadb *db, const sp_certrow *r, const void *der, size_t derlen)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = db->st[ST_INSERT];
	int rc;

	sqlite3_bind_text(st, 1, r->serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->ca, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, r->mac, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, r->not_before);
	sqlite3_bind_int64(st, 6, r->not_after);
	sqlite3_bind_int64(st, 7, r->issued_at);
	sqlite3_bind_text(st, 8, r->outdir, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, r->delivered ? 1 : 0);
	sqlite3_bind_text(st, 10, r->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, der, (int)derlen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		res = sp_error(SP_E_EXISTS, "serial %s is already in the database", r->serial);
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		res = sp_error(SP_E_EXISTS, "MAC %s already has a valid certificate", r->mac);
	else if (rc != SQLITE_DONE)
		res = db_err(db, "insert");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}

static void
read_row(sqlite3_stmt *st, sp_certrow *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "%s", sqlite3_column_text(st, 0));
	snprintf(r->ca, sizeof(r->ca), "%s", sqlite3_column_text(st, 1));
	snprintf(r->subject, sizeof(r->subject), "%s", sqlite3_column_text(st, 2));
	snprintf(r->mac, sizeof(r->mac), "%s", sqlite3_column_text(st, 3));
	r->not_before = sqlite3_column_int64(st, 4);
	r->not_after = sqlite3_column_int64(st, 5);
	r->issued_at = sqlite3_column_int64(st, 6);
	r->revoked = sqlite3_column_int(st, 7) != 0;
	r->revoked_at = sqlite3_column_int64(st, 8);
	r->reason = sqlite3_column_int(st, 9);
	snprintf(r->outdir, sizeof(r->outdir), "%s", sqlite3_column_text(st, 10));
	r->delivered = sqlite3_column_int(st, 11) != 0;
	snprintf(r->run_id, sizeof(r->run_id), "%s", sqlite3_column_text(st, 12));
}

static sp_result
find_one(sp_cadb *db, int which, const char *key, sp_certrow *out, bool *found)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = db->st[which];
	int rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		read_row(st, out);
	else if (rc != SQLITE_DONE)
		res = db_err(db, "select");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}

sp_result
sp_cadb_find_serial(sp_cadb *db, const char *serial, sp_certrow *out, bool *found)
{
	return find_one(db, ST_FIND_SERIAL, serial, out, found);
}

sp_result
sp_cadb_find_valid_mac(sp_cadb *db, const char *mac, sp_certrow *out, bool *found)
{
	return find_one(db, ST_FIND_MAC, mac, out, found);
}

sp_result
sp_cadb_revoke(sp_cadb *db, const char *serial, int reason, int64_t at, bool *changed)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = db->st[ST_REVOKE];

	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int(st, 3, reason);
	if (sqlite3_step(st) != SQLITE_DONE)
		res = db_err(db, "revoke");
	else
		*changed = sqlite3_changes(db->h) > 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}

sp_result
sp_cadb_mark_delivered(sp_cadb *db, const char *serial)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = db->st[ST_DELIVERED];

	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		res = db_err(db, "update");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return res;
}

sp_result
sp_cadb_next_crl_number(sp_cadb *db, const char *ca, int64_t *out)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	ENSURE(!sqlite3_get_autocommit(db->h), SP_E_INTERNAL,
	    "CRL number outside a transaction");
	if (sqlite3_prepare_v2(db->h, "UPDATE crl SET number = number + 1 WHERE ca = ?1 "
	    "RETURNING number", -1, &st, NULL) != SQLITE_OK)
		TRY(db_err(db, "crl"));
	sqlite3_bind_text(st, 1, ca, -1, SQLITE_STATIC);
	ENSURE(sqlite3_step(st) == SQLITE_ROW, SP_E_DB, "%s: no CRL counter for %s: %s",
	    db->path, ca, sqlite3_errmsg(db->h));
	*out = sqlite3_column_int64(st, 0);
	ENSURE(sqlite3_step(st) == SQLITE_DONE, SP_E_DB, "%s: crl: %s", db->path,
	    sqlite3_errmsg(db->h));
out:
	sqlite3_finalize(st);
	return res;
}

sp_result
sp_cadb_each(sp_cadb *db, const char *ca, bool revoked_only, sp_cadb_row_fn fn, void *arg)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	sp_certrow *r = NULL;
	int rc;

	TRY_ALLOC(r, malloc(sizeof(*r)));
	if (sqlite3_prepare_v2(db->h, "SELECT " ROW_COLS " FROM certs "
	    "WHERE (?1 IS NULL OR ca = ?1) AND (?2 = 0 OR status = 'revoked') "
	    "ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
		TRY(db_err(db, "list"));
	if (ca)
		sqlite3_bind_text(st, 1, ca, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, revoked_only ? 1 : 0);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, r);
		TRY(fn(r, arg));
	}
	if (rc != SQLITE_DONE)
		TRY(db_err(db, "list"));
out:
	free(r);
	sqlite3_finalize(st);
	return res;
}

sp_result
sp_cadb_count(sp_cadb *db, int64_t *out)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db->h, "SELECT count(*) FROM certs", -1, &st, NULL) !=
	    SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		TRY(db_err(db, "count"));
	*out = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return res;
}
