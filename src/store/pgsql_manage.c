/*
 * The PostgreSQL backend, the operator's side: explicit transactions,
 * devices and parameters (`sprov db`), with the semantics and messages of
 * sqlite_manage.c.  Connecting, the schema and the server's hot path are
 * in pgsql.c.
 */
#include "store/pgsql_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define PG_UNIQUE_VIOLATION "23505"

sp_result
pg_begin(sp_store *base)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	bool mine = false;

	ENSURE(!s->in_tx, SP_E_STATE, "a transaction is already open");
	TRY(pg_tx_begin(s, &mine));
	s->in_tx = true;
out:
	return res;
}

sp_result
pg_commit(sp_store *base)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);

	ENSURE(s->in_tx, SP_E_STATE, "no transaction is open");
	s->in_tx = false;
	TRY(pg_tx_end(s, true, true, SP_OK));
out:
	return res;
}

void
pg_rollback(sp_store *base)
{
	pg_store *s = pg(base);

	if (!s->in_tx)
		return;
	s->in_tx = false;
	s->gen_valid = false;
	pg_tx_abort(s);
}

/* The device's pending flag; SP_E_NOTFOUND (no device MA) if absent. */
static sp_result
device_pending_q(pg_store *s, const char *ma, bool *pending)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	pg_params p = { 0 };

	pg_p_str(&p, ma);
	TRY(pg_run(s, PS_DEV_PENDING_Q, &p, &r, "looking up a device"));
	ENSURE(PQntuples(r) == 1, SP_E_NOTFOUND, "no device %s", ma);
	*pending = pg_col_i64(r, 0, 0) != 0;
out:
	PQclear(r);
	return res;
}

sp_result
pg_device_add(sp_store *base, const sp_device *d)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];
	bool mine = false, pending = false;
	sp_result q;

	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	TRY(pg_tx_begin(s, &mine));
	q = device_pending_q(s, ma, &pending);
	if (q.code == SP_E_NOTFOUND)
		sp_error_clear();
	else if (sp_failed(q))
		TRY(q);
	else
		ENSURE(pending, SP_E_EXISTS, "device %s already exists", ma);
	pg_p_str(&p, ma);
	pg_p_str(&p, d->serial);
	pg_p_str(&p, d->product);
	pg_p_str(&p, d->group);
	pg_p_i64(&p, d->enabled ? 1 : 0);
	if (!pending)
		pg_p_i64(&p, d->created ? d->created : sp_now());
	res = pg_run(s, pending ? PS_DEV_ADOPT : PS_DEV_INSERT, &p, NULL,
	    "adding a device");
	/* Another writer added it since the lookup. */
	if (sp_failed(res) && strcmp(pg_last_state(), PG_UNIQUE_VIOLATION) == 0)
		res = sp_error(SP_E_EXISTS, "device %s already exists", ma);
	TRY(res);
	TRY(pg_cs_device(s, ma));
out:
	return pg_tx_end(s, mine, true, res);
}

sp_result
pg_device_rm(sp_store *base, const sp_mac *mac)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	pg_p_str(&p, ma);
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_run(s, PS_DEV_RM, &p, &r, "removing a device"));
	ENSURE(pg_affected(r) > 0, SP_E_NOTFOUND, "no device %s", ma);
	TRY(pg_run(s, PS_CONTACT_RM, &p, NULL, "removing a contact record"));
	TRY(pg_cs_device(s, ma));
out:
	PQclear(r);
	return pg_tx_end(s, mine, true, res);
}

sp_result
pg_device_set_enabled(sp_store *base, const sp_mac *mac, bool enabled)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	pg_p_str(&p, ma);
	pg_p_i64(&p, enabled ? 1 : 0);
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_run(s, PS_DEV_ENABLE, &p, &r, "updating a device"));
	ENSURE(pg_affected(r) > 0, SP_E_NOTFOUND, "no device %s", ma);
	TRY(pg_cs_device(s, ma));
out:
	PQclear(r);
	return pg_tx_end(s, mine, true, res);
}

sp_result
pg_device_list(sp_store *base, sp_store_device_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	sp_device d;

	TRY(pg_run(s, PS_DEV_LIST, NULL, &r, "listing devices"));
	for (int i = 0; i < PQntuples(r); i++) {
		memset(&d, 0, sizeof(d));
		TRY(sp_mac_parse(sp_slice_of(PQgetvalue(r, i, 0)), &d.mac));
		pg_row_device(r, i, 1, &d);
		TRY(cb(arg, &d));
	}
out:
	PQclear(r);
	return res;
}

sp_result
pg_param_set(sp_store *base, const sp_level_ref *lvl, const char *name,
    sp_slice value, sp_access access)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	pg_params p = { 0 };
	bool mine = false, pending;

	TRY(pg_tx_begin(s, &mine));
	if (lvl->level == SP_LEVEL_DEVICE) {
		TRY(device_pending_q(s, lvl->key, &pending));
		pg_p_str(&p, lvl->key);
	} else {
		pg_p_i64(&p, (int64_t)lvl->level);
		pg_p_str(&p, lvl->key);
	}
	pg_p_str(&p, name);
	pg_p_slice(&p, value);
	pg_p_access(&p, access);
	TRY(pg_run(s, lvl->level == SP_LEVEL_DEVICE ? PS_DPARAM_SET : PS_PARAM_SET,
	    &p, NULL, "setting a parameter"));
	TRY(pg_cs_level(s, (int)lvl->level, lvl->key));
out:
	return pg_tx_end(s, mine, true, res);
}

sp_result
pg_param_unset(sp_store *base, const sp_level_ref *lvl, const char *name)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	bool mine = false;

	if (lvl->level != SP_LEVEL_DEVICE)
		pg_p_i64(&p, (int64_t)lvl->level);
	pg_p_str(&p, lvl->key);
	pg_p_str(&p, name);
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_run(s, lvl->level == SP_LEVEL_DEVICE ? PS_DPARAM_UNSET :
	    PS_PARAM_UNSET, &p, &r, "unsetting a parameter"));
	if (pg_affected(r) == 0) {
		res = sp_store_err_not_set(lvl, name);
		goto out;
	}
	TRY(pg_cs_level(s, (int)lvl->level, lvl->key));
out:
	PQclear(r);
	return pg_tx_end(s, mine, true, res);
}

sp_result
pg_params_level(sp_store *base, const sp_level_ref *lvl, sp_params *out)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };

	if (lvl->level != SP_LEVEL_DEVICE)
		pg_p_i64(&p, (int64_t)lvl->level);
	pg_p_str(&p, lvl->key);
	TRY(pg_run(s, lvl->level == SP_LEVEL_DEVICE ? PS_DPARAM_LEVEL :
	    PS_PARAM_LEVEL, &p, &r, "reading parameters"));
	TRY(pg_merge_rows(r, 0, out));
out:
	PQclear(r);
	return res;
}

/* ---- the whole store (dump, restore) ------------------------------------ */

/* One snapshot for every listing until sp_store_commit or rollback. */
sp_result
pg_begin_read(sp_store *base)
{
	sp_result res = SP_OK;

	TRY(pg_begin(base));
	/* Allowed as the transaction's first statement: no query ran yet. */
	res = pg_cmd(pg(base), "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, "
	    "READ ONLY", "starting a read snapshot");
	if (sp_failed(res))
		pg_rollback(base);
out:
	return res;
}

sp_result
pg_level_list(sp_store *base, sp_store_level_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	char key[SP_STORE_FIELD_MAX + 1];
	sp_level_ref lvl;

	TRY(pg_run(s, PS_LEVEL_LIST, NULL, &r, "listing parameter levels"));
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t level = pg_col_i64(r, i, 0);

		ENSURE(level >= SP_LEVEL_DEFAULTS && level <= SP_LEVEL_DEVICE &&
		    PQgetlength(r, i, 1) <= SP_STORE_FIELD_MAX, SP_E_DB,
		    "a parameter level that is not valid (level %lld)",
		    (long long)level);
		pg_col_copy(r, i, 1, key, sizeof(key));
		lvl.level = (sp_level)level;
		lvl.key = level == SP_LEVEL_DEFAULTS ? NULL : key;
		TRY(cb(arg, &lvl));
	}
out:
	PQclear(r);
	return res;
}

sp_result
pg_contact_list(sp_store *base, sp_store_contact_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	sp_contact *c = NULL;

	TRY_ALLOC(c, malloc(sizeof(*c)));
	TRY(pg_run(s, PS_CONTACT_LIST, NULL, &r, "listing contacts"));
	for (int i = 0; i < PQntuples(r); i++) {
		memset(c, 0, sizeof(*c));
		TRY(sp_mac_parse(sp_slice_of(PQgetvalue(r, i, 0)), &c->mac));
		TRY(pg_row_contact(r, i, 1, c));
		TRY(cb(arg, c));
	}
out:
	PQclear(r);
	free(c);
	return res;
}

sp_result
pg_is_empty(sp_store *base, bool *empty)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;

	*empty = false;
	TRY(pg_run(s, PS_IS_EMPTY, NULL, &r, "reading the store"));
	ENSURE(PQntuples(r) == 1, SP_E_DB, "reading the store: no answer");
	*empty = pg_col_i64(r, 0, 0) == 0;
out:
	PQclear(r);
	return res;
}

sp_result
pg_clear(sp_store *base)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	TRY(pg_cmd(s, "DELETE FROM device_params; DELETE FROM params; "
	    "DELETE FROM devices; DELETE FROM contacts; DELETE FROM devstate; "
	    "DELETE FROM devevents; DELETE FROM failcounts; "
	    "DELETE FROM failsrc; DELETE FROM levelgen; DELETE FROM series",
	    "emptying the store"));
out:
	return pg_tx_end(s, mine, true, res);
}
