/*
 * The SQLite backend's audit trail rows (schema 5; the chain is audit.c's).
 * A write transaction (BEGIN IMMEDIATE) serialises appends: the head read
 * inside one is still the head when the entry is written.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include <openssl/crypto.h>

sp_result
sq_audit_head(sp_store *base, int64_t *seq, char hash[SP_AUDIT_HASH_HEX + 1],
    uint8_t key[32])
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	TRY(sq_st_get(s, ST_AU_HEAD, &st));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "reading the audit head");
		goto out;
	}
	ENSURE(sqlite3_column_bytes(st, 2) == 32, SP_E_STATE,
	    "store '%s': the audit key is damaged", s->path);
	*seq = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, hash, SP_AUDIT_HASH_HEX + 1);
	memcpy(key, sqlite3_column_blob(st, 2), 32);
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_audit_insert(sp_store *base, const sp_audit_entry *e)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	TRY(sq_st_get(s, ST_AU_INSERT, &st));
	BIND(s, sqlite3_bind_int64(st, 1, e->seq));
	BIND(s, sqlite3_bind_int64(st, 2, e->time));
	BIND(s, sq_bind_str(st, 3, e->actor));
	BIND(s, sq_bind_str(st, 4, e->action));
	BIND(s, sq_bind_str(st, 5, e->target));
	BIND(s, sq_bind_str(st, 6, e->detail));
	BIND(s, sq_bind_str(st, 7, e->prev));
	BIND(s, sq_bind_str(st, 8, e->hash));
	TRY(sq_step_done(s, st, "recording an audit entry"));
	sq_st_done(st);
	st = NULL;
	TRY(sq_st_get(s, ST_AU_HEAD_SET, &st));
	BIND(s, sqlite3_bind_int64(st, 1, e->seq));
	BIND(s, sq_bind_str(st, 2, e->hash));
	TRY(sq_step_done(s, st, "recording an audit entry"));
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_audit_list(sp_store *base, const char *target, bool newest_first,
    int64_t limit, sp_store_audit_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_audit_entry e;
	int rc;

	TRY(sq_st_get(s, ST_AU_LIST, &st));
	if (target)
		BIND(s, sq_bind_str(st, 1, target));
	BIND(s, sqlite3_bind_int(st, 2, newest_first));
	BIND(s, sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.seq = sqlite3_column_int64(st, 0);
		e.time = sqlite3_column_int64(st, 1);
		sq_col_copy(st, 2, e.actor, sizeof(e.actor));
		sq_col_copy(st, 3, e.action, sizeof(e.action));
		sq_col_copy(st, 4, e.target, sizeof(e.target));
		sq_col_copy(st, 5, e.detail, sizeof(e.detail));
		sq_col_copy(st, 6, e.prev, sizeof(e.prev));
		sq_col_copy(st, 7, e.hash, sizeof(e.hash));
		TRY(cb(arg, &e));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "reading the audit trail");
out:
	sq_st_done(st);
	return res;
}
