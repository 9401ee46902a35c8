/*
 * The SQLite backend, the operator's side: explicit transactions, devices
 * and parameters (`sprov db`).  Opening, the schema and the server's hot
 * path are in sqlite.c.
 */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/*
 * An explicit transaction: BEGIN IMMEDIATE for writes (the write lock up
 * front, so busy_timeout applies), plain BEGIN for a read snapshot (WAL
 * gives the connection one snapshot from its first read).
 */
static sp_result
tx_open(sq_store *s, const char *stmt)
{
	sp_result res = SP_OK;

	ENSURE(!s->in_tx, SP_E_STATE, "a transaction is already open");
	TRY(sq_exec(s, stmt, "starting a transaction"));
	s->in_tx = true;
out:
	return res;
}

sp_result
sq_begin(sp_store *base)
{
	return tx_open(sq(base), "BEGIN IMMEDIATE");
}

sp_result
sq_commit(sp_store *base)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);

	ENSURE(s->in_tx, SP_E_STATE, "no transaction is open");
	s->gen_valid = false;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		res = sq_dberr(s, "committing");
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	s->in_tx = false;
out:
	return res;
}

void
sq_rollback(sp_store *base)
{
	sq_store *s = sq(base);

	if (!s->in_tx)
		return;
	(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = false;
	s->gen_valid = false;
}

sp_result
sq_device_add(sp_store *base, const sp_device *d)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false, pending = false;
	int rc;

	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_DEV_PENDING_Q, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		pending = sqlite3_column_int(st, 0) != 0;
		ENSURE(pending, SP_E_EXISTS, "device %s already exists", ma);
	} else if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "looking up a device");
		goto out;
	}
	sq_st_done(st);
	TRY(sq_st_get(s, pending ? ST_DEV_ADOPT : ST_DEV_INSERT, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sq_bind_str(st, 2, d->serial));
	BIND(s, sq_bind_str(st, 3, d->product));
	BIND(s, sq_bind_str(st, 4, d->group));
	BIND(s, sqlite3_bind_int(st, 5, d->enabled ? 1 : 0));
	if (!pending)
		BIND(s, sqlite3_bind_int64(st, 6, d->created ? d->created :
		    sp_now()));
	TRY(sq_step_done(s, st, "adding a device"));
	TRY(sq_cs_device(s, ma));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

sp_result
sq_device_rm(sp_store *base, const sp_mac *mac)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_DEV_RM, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	TRY(sq_step_done(s, st, "removing a device"));
	ENSURE(sqlite3_changes(s->db) > 0, SP_E_NOTFOUND, "no device %s", ma);
	sq_st_done(st);
	TRY(sq_st_get(s, ST_CONTACT_RM, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	TRY(sq_step_done(s, st, "removing a contact record"));
	TRY(sq_cs_device(s, ma));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

sp_result
sq_device_set_enabled(sp_store *base, const sp_mac *mac, bool enabled)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_DEV_ENABLE, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int(st, 2, enabled ? 1 : 0));
	TRY(sq_step_done(s, st, "updating a device"));
	ENSURE(sqlite3_changes(s->db) > 0, SP_E_NOTFOUND, "no device %s", ma);
	TRY(sq_cs_device(s, ma));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

sp_result
sq_device_list(sp_store *base, sp_store_device_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_device d;
	int rc;

	TRY(sq_st_get(s, ST_DEV_LIST, &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ma = (const char *)sqlite3_column_text(st, 0);

		memset(&d, 0, sizeof(d));
		TRY(sp_mac_parse(sp_slice_of(ma), &d.mac));
		TRY(sq_row_device(st, 1, &d));
		TRY(cb(arg, &d));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "listing devices");
out:
	sq_st_done(st);
	return res;
}

static sp_result
device_exists(sq_store *s, const char *ma)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	int rc;

	TRY(sq_st_get(s, ST_DEV_PENDING_Q, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	rc = sqlite3_step(st);
	ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, SP_E_DB,
	    "looking up a device: %s", sqlite3_errmsg(s->db));
	ENSURE(rc == SQLITE_ROW, SP_E_NOTFOUND, "no device %s", ma);
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_param_set(sp_store *base, const sp_level_ref *lvl, const char *name,
    sp_slice value, sp_access access)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	if (lvl->level == SP_LEVEL_DEVICE) {
		TRY(device_exists(s, lvl->key));
		TRY(sq_st_get(s, ST_DPARAM_SET, &st));
		BIND(s, sq_bind_str(st, 1, lvl->key));
		BIND(s, sq_bind_str(st, 2, name));
		BIND(s, sq_bind_slice(st, 3, value));
		BIND(s, sq_bind_access(st, 4, access));
	} else {
		TRY(sq_st_get(s, ST_PARAM_SET, &st));
		BIND(s, sqlite3_bind_int(st, 1, (int)lvl->level));
		BIND(s, sq_bind_str(st, 2, lvl->key));
		BIND(s, sq_bind_str(st, 3, name));
		BIND(s, sq_bind_slice(st, 4, value));
		BIND(s, sq_bind_access(st, 5, access));
	}
	TRY(sq_step_done(s, st, "setting a parameter"));
	TRY(sq_cs_level(s, (int)lvl->level, lvl->key));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

sp_result
sq_param_unset(sp_store *base, const sp_level_ref *lvl, const char *name)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	if (lvl->level == SP_LEVEL_DEVICE) {
		TRY(sq_st_get(s, ST_DPARAM_UNSET, &st));
		BIND(s, sq_bind_str(st, 1, lvl->key));
		BIND(s, sq_bind_str(st, 2, name));
	} else {
		TRY(sq_st_get(s, ST_PARAM_UNSET, &st));
		BIND(s, sqlite3_bind_int(st, 1, (int)lvl->level));
		BIND(s, sq_bind_str(st, 2, lvl->key));
		BIND(s, sq_bind_str(st, 3, name));
	}
	TRY(sq_step_done(s, st, "unsetting a parameter"));
	if (sqlite3_changes(s->db) == 0) {
		res = sp_store_err_not_set(lvl, name);
		goto out;
	}
	TRY(sq_cs_level(s, (int)lvl->level, lvl->key));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

sp_result
sq_params_level(sp_store *base, const sp_level_ref *lvl, sp_params *out)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	if (lvl->level == SP_LEVEL_DEVICE) {
		TRY(sq_st_get(s, ST_DPARAM_LEVEL, &st));
		BIND(s, sq_bind_str(st, 1, lvl->key));
	} else {
		TRY(sq_st_get(s, ST_PARAM_LEVEL, &st));
		BIND(s, sqlite3_bind_int(st, 1, (int)lvl->level));
		BIND(s, sq_bind_str(st, 2, lvl->key));
	}
	TRY(sq_merge_rows(s, st, out));
out:
	sq_st_done(st);
	return res;
}

/* ---- the whole store (dump, restore) ------------------------------------ */

sp_result
sq_begin_read(sp_store *base)
{
	return tx_open(sq(base), "BEGIN");
}

sp_result
sq_level_list(sp_store *base, sp_store_level_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char key[SP_STORE_FIELD_MAX + 1];
	sp_level_ref lvl;
	int rc;

	TRY(sq_st_get(s, ST_LEVEL_LIST, &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int level = sqlite3_column_int(st, 0);

		ENSURE(level >= SP_LEVEL_DEFAULTS && level <= SP_LEVEL_DEVICE &&
		    sqlite3_column_bytes(st, 1) <= SP_STORE_FIELD_MAX, SP_E_DB,
		    "a parameter level that is not valid (level %d)", level);
		sq_col_copy(st, 1, key, sizeof(key));
		lvl.level = (sp_level)level;
		lvl.key = level == SP_LEVEL_DEFAULTS ? NULL : key;
		TRY(cb(arg, &lvl));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "listing parameter levels");
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_contact_list(sp_store *base, sp_store_contact_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_contact *c = NULL;
	int rc;

	TRY_ALLOC(c, malloc(sizeof(*c)));
	TRY(sq_st_get(s, ST_CONTACT_LIST, &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ma = (const char *)sqlite3_column_text(st, 0);

		memset(c, 0, sizeof(*c));
		TRY(sp_mac_parse(sp_slice_of(ma), &c->mac));
		sq_row_contact(st, 1, c);
		TRY(cb(arg, c));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "listing contacts");
out:
	sq_st_done(st);
	free(c);
	return res;
}

sp_result
sq_is_empty(sp_store *base, bool *empty)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;

	*empty = false;
	TRY(sq_st_get(s, ST_IS_EMPTY, &st));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "reading the store");
		goto out;
	}
	*empty = sqlite3_column_int(st, 0) == 0;
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_clear(sp_store *base)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_exec(s, "DELETE FROM device_params; DELETE FROM params; "
	    "DELETE FROM devices; DELETE FROM contacts;", "emptying the store"));
out:
	return sq_tx_end(s, mine, true, res);
}
