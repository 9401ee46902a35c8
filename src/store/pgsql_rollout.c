/*
 * The PostgreSQL backend's firmware images and rollouts (schema 4): rows
 * in, rows out, as sqlite_rollout.c.  bytea goes up in binary format and
 * comes back in text format (PQunescapeBytea).
 */
#include "store/pgsql_internal.h"

#include <string.h>

#include <openssl/crypto.h>

#define PG_UNIQUE_VIOLATION "23505"

/* A bytea column into an exact-size field; false if it is not that size. */
static sp_result
col_bytes(PGresult *r, int row, int col, void *dst, size_t n, bool *ok)
{
	sp_result res = SP_OK;
	unsigned char *b = NULL;
	size_t len = 0;

	*ok = false;
	if (PQgetisnull(r, row, col))
		goto out;
	TRY_ALLOC(b, PQunescapeBytea((const unsigned char *)PQgetvalue(r, row,
	    col), &len));
	if (len == n) {
		memcpy(dst, b, n);
		*ok = true;
	}
	OPENSSL_cleanse(b, len);
out:
	PQfreemem(b);
	return res;
}

sp_result
pg_fw_chunk_put(sp_store *base, int64_t id, int64_t seq, sp_slice data)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	pg_params p = { 0 };
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	pg_p_i64(&p, id);
	pg_p_i64(&p, seq);
	pg_p_slice(&p, data);
	TRY(pg_run(s, PS_FW_CHUNK_PUT, &p, NULL, "storing firmware"));
out:
	return pg_tx_end(s, mine, false, res);
}

sp_result
pg_fw_insert(sp_store *base, const sp_fw_info *fw)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	pg_params p = { 0 };
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	pg_p_str(&p, fw->product);
	pg_p_str(&p, fw->version);
	pg_p_i64(&p, fw->id);
	pg_p_i64(&p, (int64_t)fw->length);
	pg_p_slice(&p, sp_slice_mk((const char *)fw->sha256, sizeof(fw->sha256)));
	pg_p_i64(&p, fw->created);
	res = pg_run(s, PS_FW_INSERT, &p, NULL, "storing firmware");
	if (sp_failed(res) && strcmp(pg_last_state(), PG_UNIQUE_VIOLATION) == 0)
		res = sp_error(SP_E_EXISTS, "firmware %s %s is stored already",
		    fw->product, fw->version);
out:
	return pg_tx_end(s, mine, false, res);
}

static sp_result
row_fw(PGresult *r, int i, sp_fw_info *fw)
{
	sp_result res = SP_OK;
	bool ok;

	memset(fw, 0, sizeof(*fw));
	pg_col_copy(r, i, 0, fw->product, sizeof(fw->product));
	pg_col_copy(r, i, 1, fw->version, sizeof(fw->version));
	fw->id = pg_col_i64(r, i, 2);
	fw->length = (uint64_t)pg_col_i64(r, i, 3);
	TRY(col_bytes(r, i, 4, fw->sha256, sizeof(fw->sha256), &ok));
	ENSURE(ok, SP_E_DB, "firmware %s %s: bad digest column", fw->product,
	    fw->version);
	fw->created = pg_col_i64(r, i, 5);
out:
	return res;
}

sp_result
pg_fw_get(sp_store *base, const char *product, const char *version,
    sp_fw_info *out, bool *found)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };

	*found = false;
	pg_p_str(&p, product);
	pg_p_str(&p, version);
	TRY(pg_run(s, PS_FW_GET, &p, &r, "reading firmware"));
	if (PQntuples(r) == 1) {
		TRY(row_fw(r, 0, out));
		*found = true;
	}
out:
	PQclear(r);
	return res;
}

sp_result
pg_fw_chunks(sp_store *base, int64_t id, int64_t first, int64_t last,
    sp_fw_chunk_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	unsigned char *b = NULL;
	size_t len = 0;

	pg_p_i64(&p, id);
	pg_p_i64(&p, first);
	pg_p_i64(&p, last);
	TRY(pg_run(s, PS_FW_CHUNKS, &p, &r, "reading firmware"));
	for (int i = 0; i < PQntuples(r); i++) {
		PQfreemem(b);
		TRY_ALLOC(b, PQunescapeBytea((const unsigned char *)PQgetvalue(r,
		    i, 1), &len));
		TRY(cb(arg, pg_col_i64(r, i, 0), sp_slice_mk((const char *)b, len)));
	}
out:
	PQfreemem(b);
	PQclear(r);
	return res;
}

sp_result
pg_fw_list(sp_store *base, sp_store_fw_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	sp_fw_info fw;

	TRY(pg_run(s, PS_FW_LIST, NULL, &r, "listing firmware"));
	for (int i = 0; i < PQntuples(r); i++) {
		TRY(row_fw(r, i, &fw));
		TRY(cb(arg, &fw));
	}
out:
	PQclear(r);
	return res;
}

sp_result
pg_fw_rm(sp_store *base, const char *product, const char *version, bool *found)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	bool mine = false;
	int64_t id;

	*found = false;
	TRY(pg_tx_begin(s, &mine));
	pg_p_str(&p, product);
	pg_p_str(&p, version);
	TRY(pg_run(s, PS_FW_RM, &p, &r, "removing firmware"));
	if (PQntuples(r) != 1)
		goto out;
	*found = true;
	id = pg_col_i64(r, 0, 0);
	memset(&p, 0, sizeof(p));
	pg_p_i64(&p, id);
	TRY(pg_run(s, PS_FW_CHUNKS_RM, &p, NULL, "removing firmware"));
out:
	PQclear(r);
	return pg_tx_end(s, mine, false, res);
}

sp_result
pg_ro_insert(sp_store *base, const sp_ro_row *row, const char *waves)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	const sp_rollout *r = &row->r;
	pg_params p = { 0 };
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	pg_p_str(&p, r->name);
	pg_p_i64(&p, r->kind);
	pg_p_i64(&p, r->state);
	pg_p_i64(&p, r->target_level);
	pg_p_str(&p, r->target_key);
	pg_p_str(&p, r->param);
	pg_p_slice(&p, row->value);
	pg_p_str(&p, r->fw_version);
	pg_p_str(&p, r->parent);
	pg_p_str(&p, r->rolled_back_by);
	pg_p_slice(&p, sp_slice_mk((const char *)row->key, sizeof(row->key)));
	pg_p_str(&p, waves);
	pg_p_i64(&p, r->released);
	pg_p_i64(&p, r->wave_interval);
	pg_p_i64(&p, r->success_window);
	pg_p_i64(&p, r->halt_bp);
	pg_p_i64(&p, r->created);
	pg_p_i64(&p, r->updated);
	pg_p_str(&p, r->reason);
	res = pg_run(s, PS_RO_INSERT, &p, NULL, "storing a rollout");
	if (sp_failed(res) && strcmp(pg_last_state(), PG_UNIQUE_VIOLATION) == 0)
		res = sp_error(SP_E_EXISTS, "a rollout named %s exists already",
		    r->name);
	TRY(res);
	TRY(pg_cs_level(s, (int)r->target_level, r->target_key));
out:
	return pg_tx_end(s, mine, true, res);
}

/* Columns from 1 on (0 is the generation). */
static sp_result
row_ro(PGresult *r, int i, sp_ro_row *row)
{
	sp_result res = SP_OK;
	sp_rollout *ro = &row->r;
	bool ok;

	memset(row, 0, sizeof(*row));
	pg_col_copy(r, i, 1, ro->name, sizeof(ro->name));
	ro->kind = (sp_rollout_kind)pg_col_i64(r, i, 2);
	ro->state = (sp_rollout_state)pg_col_i64(r, i, 3);
	ro->target_level = (sp_level)pg_col_i64(r, i, 4);
	pg_col_copy(r, i, 5, ro->target_key, sizeof(ro->target_key));
	pg_col_copy(r, i, 6, ro->param, sizeof(ro->param));
	row->value = sp_slice_mk(PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7));
	pg_col_copy(r, i, 8, ro->fw_version, sizeof(ro->fw_version));
	pg_col_copy(r, i, 9, ro->parent, sizeof(ro->parent));
	pg_col_copy(r, i, 10, ro->rolled_back_by, sizeof(ro->rolled_back_by));
	TRY(col_bytes(r, i, 11, row->key, sizeof(row->key), &ok));
	ENSURE(ok, SP_E_DB, "rollout %s: bad key column", ro->name);
	TRY(sp_store_ro_waves_decode(sp_slice_mk(PQgetvalue(r, i, 12),
	    (size_t)PQgetlength(r, i, 12)), ro));
	ro->released = (int)pg_col_i64(r, i, 13);
	ENSURE(ro->released >= 0 && ro->released <= ro->nwaves, SP_E_DB,
	    "rollout %s: bad released count", ro->name);
	ro->wave_interval = pg_col_i64(r, i, 14);
	ro->success_window = pg_col_i64(r, i, 15);
	ro->halt_bp = (int)pg_col_i64(r, i, 16);
	ro->created = pg_col_i64(r, i, 17);
	ro->updated = pg_col_i64(r, i, 18);
	pg_col_copy(r, i, 19, ro->reason, sizeof(ro->reason));
	row->seq = pg_col_i64(r, i, 20);
out:
	return res;
}

sp_result
pg_ro_list(sp_store *base, const char *name, sp_ro_row_cb cb, void *arg,
    uint64_t *gen)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	sp_ro_row row;

	memset(&row, 0, sizeof(row));
	if (name)
		pg_p_str(&p, name);
	TRY(pg_run(s, name ? PS_RO_GET : PS_RO_LIST, name ? &p : NULL, &r,
	    "reading rollouts"));
	ENSURE(PQntuples(r) >= 1, SP_E_DB, "%s: no generation row", s->label);
	if (gen)
		*gen = (uint64_t)pg_col_i64(r, 0, 0);
	for (int i = 0; i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, 1))
			continue;   /* the generation row of an empty table */
		TRY(row_ro(r, i, &row));
		TRY(cb(arg, &row));
	}
out:
	OPENSSL_cleanse(row.key, sizeof(row.key));
	PQclear(r);
	return res;
}

sp_result
pg_ro_update(sp_store *base, const sp_ro_row *row, const char *waves,
    bool *applied)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	const sp_rollout *ro = &row->r;
	PGresult *r = NULL;
	pg_params p = { 0 };
	bool mine = false;

	*applied = false;
	TRY(pg_tx_begin(s, &mine));
	pg_p_str(&p, ro->name);
	pg_p_i64(&p, row->seq);
	pg_p_i64(&p, ro->state);
	pg_p_i64(&p, ro->released);
	pg_p_str(&p, waves);
	pg_p_i64(&p, ro->updated);
	pg_p_str(&p, ro->reason);
	pg_p_str(&p, ro->rolled_back_by);
	TRY(pg_run(s, PS_RO_UPDATE, &p, &r, "updating a rollout"));
	*applied = pg_affected(r) == 1;
	if (*applied)
		TRY(pg_cs_level(s, (int)row->r.target_level, row->r.target_key));
out:
	PQclear(r);
	return pg_tx_end(s, mine, true, res);
}
