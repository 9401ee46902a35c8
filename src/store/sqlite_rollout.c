/*
 * The SQLite backend's firmware images and rollouts (schema 4): rows in,
 * rows out.  The checks, the overlay and the verdicts are rollout.c's and
 * fwstore.c's, the same for every backend.
 */
#include "store/sqlite_internal.h"

#include <string.h>

#include <openssl/crypto.h>

static int
bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	return sqlite3_bind_blob(st, i, n ? p : "", (int)n, SQLITE_STATIC);
}

sp_result
sq_fw_chunk_put(sp_store *base, int64_t id, int64_t seq, sp_slice data)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_FW_CHUNK_PUT, &st));
	BIND(s, sqlite3_bind_int64(st, 1, id));
	BIND(s, sqlite3_bind_int64(st, 2, seq));
	BIND(s, bind_blob(st, 3, data.p, data.len));
	TRY(sq_step_done(s, st, "storing firmware"));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_fw_insert(sp_store *base, const sp_fw_info *fw)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_FW_INSERT, &st));
	BIND(s, sq_bind_str(st, 1, fw->product));
	BIND(s, sq_bind_str(st, 2, fw->version));
	BIND(s, sqlite3_bind_int64(st, 3, fw->id));
	BIND(s, sqlite3_bind_int64(st, 4, (int64_t)fw->length));
	BIND(s, bind_blob(st, 5, fw->sha256, sizeof(fw->sha256)));
	BIND(s, sqlite3_bind_int64(st, 6, fw->created));
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		res = sp_error(SP_E_EXISTS, "firmware %s %s is stored already",
		    fw->product, fw->version);
		goto out;
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "storing firmware");
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

static void
row_fw(sqlite3_stmt *st, sp_fw_info *fw)
{
	const void *h = sqlite3_column_blob(st, 4);

	memset(fw, 0, sizeof(*fw));
	sq_col_copy(st, 0, fw->product, sizeof(fw->product));
	sq_col_copy(st, 1, fw->version, sizeof(fw->version));
	fw->id = sqlite3_column_int64(st, 2);
	fw->length = (uint64_t)sqlite3_column_int64(st, 3);
	if (h && sqlite3_column_bytes(st, 4) == (int)sizeof(fw->sha256))
		memcpy(fw->sha256, h, sizeof(fw->sha256));
	fw->created = sqlite3_column_int64(st, 5);
}

sp_result
sq_fw_get(sp_store *base, const char *product, const char *version,
    sp_fw_info *out, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	int rc;

	*found = false;
	TRY(sq_st_get(s, ST_FW_GET, &st));
	BIND(s, sq_bind_str(st, 1, product));
	BIND(s, sq_bind_str(st, 2, version));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_fw(st, out);
		*found = true;
	} else if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "reading firmware");
	}
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_fw_chunks(sp_store *base, int64_t id, int64_t first, int64_t last,
    sp_fw_chunk_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;

	TRY(sq_tx_begin(s, false, &mine));
	TRY(sq_st_get(s, ST_FW_CHUNKS, &st));
	BIND(s, sqlite3_bind_int64(st, 1, id));
	BIND(s, sqlite3_bind_int64(st, 2, first));
	BIND(s, sqlite3_bind_int64(st, 3, last));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);
		TRY(cb(arg, sqlite3_column_int64(st, 0),
		    sp_slice_mk(p ? p : "", n)));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "reading firmware");
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_fw_list(sp_store *base, sp_store_fw_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_fw_info fw;
	int rc;

	TRY(sq_st_get(s, ST_FW_LIST, &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_fw(st, &fw);
		TRY(cb(arg, &fw));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "listing firmware");
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_fw_rm(sp_store *base, const char *product, const char *version, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int64_t id = 0;
	int rc;

	*found = false;
	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_FW_RM, &st));
	BIND(s, sq_bind_str(st, 1, product));
	BIND(s, sq_bind_str(st, 2, version));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		*found = true;
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "removing firmware");
		goto out;
	}
	sq_st_done(st);
	st = NULL;
	if (*found) {
		TRY(sq_st_get(s, ST_FW_CHUNKS_RM, &st));
		BIND(s, sqlite3_bind_int64(st, 1, id));
		TRY(sq_step_done(s, st, "removing firmware"));
	}
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_ro_insert(sp_store *base, const sp_ro_row *row, const char *waves)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	const sp_rollout *r = &row->r;
	bool mine = false;
	int rc;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_RO_INSERT, &st));
	BIND(s, sq_bind_str(st, 1, r->name));
	BIND(s, sqlite3_bind_int(st, 2, (int)r->kind));
	BIND(s, sqlite3_bind_int(st, 3, (int)r->state));
	BIND(s, sqlite3_bind_int(st, 4, (int)r->target_level));
	BIND(s, sq_bind_str(st, 5, r->target_key));
	BIND(s, sq_bind_str(st, 6, r->param));
	BIND(s, sq_bind_slice(st, 7, row->value));
	BIND(s, sq_bind_str(st, 8, r->fw_version));
	BIND(s, sq_bind_str(st, 9, r->parent));
	BIND(s, sq_bind_str(st, 10, r->rolled_back_by));
	BIND(s, bind_blob(st, 11, row->key, sizeof(row->key)));
	BIND(s, sq_bind_str(st, 12, waves));
	BIND(s, sqlite3_bind_int(st, 13, r->released));
	BIND(s, sqlite3_bind_int64(st, 14, r->wave_interval));
	BIND(s, sqlite3_bind_int64(st, 15, r->success_window));
	BIND(s, sqlite3_bind_int(st, 16, r->halt_bp));
	BIND(s, sqlite3_bind_int64(st, 17, r->created));
	BIND(s, sqlite3_bind_int64(st, 18, r->updated));
	BIND(s, sq_bind_str(st, 19, r->reason));
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		res = sp_error(SP_E_EXISTS, "a rollout named %s exists already",
		    r->name);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "storing a rollout");
		goto out;
	}
	TRY(sq_cs_level(s, (int)r->target_level, r->target_key));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}

static sp_result
row_ro(sqlite3_stmt *st, sp_ro_row *row)
{
	sp_result res = SP_OK;
	sp_rollout *r = &row->r;
	const void *k = sqlite3_column_blob(st, 10);
	const char *w = (const char *)sqlite3_column_text(st, 11);
	const char *v = (const char *)sqlite3_column_text(st, 6);

	memset(row, 0, sizeof(*row));
	sq_col_copy(st, 0, r->name, sizeof(r->name));
	r->kind = (sp_rollout_kind)sqlite3_column_int(st, 1);
	r->state = (sp_rollout_state)sqlite3_column_int(st, 2);
	r->target_level = (sp_level)sqlite3_column_int(st, 3);
	sq_col_copy(st, 4, r->target_key, sizeof(r->target_key));
	sq_col_copy(st, 5, r->param, sizeof(r->param));
	row->value = sp_slice_mk(v ? v : "", v ? (size_t)sqlite3_column_bytes(st, 6) : 0);
	sq_col_copy(st, 7, r->fw_version, sizeof(r->fw_version));
	sq_col_copy(st, 8, r->parent, sizeof(r->parent));
	sq_col_copy(st, 9, r->rolled_back_by, sizeof(r->rolled_back_by));
	ENSURE(k && sqlite3_column_bytes(st, 10) == SP_ROLLOUT_KEY_LEN, SP_E_DB,
	    "rollout %s: bad key column", r->name);
	memcpy(row->key, k, SP_ROLLOUT_KEY_LEN);
	TRY(sp_store_ro_waves_decode(sp_slice_mk(w ? w : "",
	    w ? (size_t)sqlite3_column_bytes(st, 11) : 0), r));
	r->released = sqlite3_column_int(st, 12);
	ENSURE(r->released >= 0 && r->released <= r->nwaves, SP_E_DB,
	    "rollout %s: bad released count", r->name);
	r->wave_interval = sqlite3_column_int64(st, 13);
	r->success_window = sqlite3_column_int64(st, 14);
	r->halt_bp = sqlite3_column_int(st, 15);
	r->created = sqlite3_column_int64(st, 16);
	r->updated = sqlite3_column_int64(st, 17);
	sq_col_copy(st, 18, r->reason, sizeof(r->reason));
	row->seq = sqlite3_column_int64(st, 19);
out:
	return res;
}

sp_result
sq_ro_list(sp_store *base, const char *name, sp_ro_row_cb cb, void *arg,
    uint64_t *gen)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_ro_row row;
	bool mine = false;
	int rc;

	memset(&row, 0, sizeof(row));
	TRY(sq_tx_begin(s, false, &mine));
	TRY(sq_st_get(s, name ? ST_RO_GET : ST_RO_LIST, &st));
	if (name)
		BIND(s, sq_bind_str(st, 1, name));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		TRY(row_ro(st, &row));
		TRY(cb(arg, &row));
	}
	if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "reading rollouts");
		goto out;
	}
	if (gen)
		TRY(sq_read_gen(s, gen));
out:
	OPENSSL_cleanse(row.key, sizeof(row.key));
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_ro_update(sp_store *base, const sp_ro_row *row, const char *waves,
    bool *applied)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	const sp_rollout *r = &row->r;
	bool mine = false;

	*applied = false;
	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_RO_UPDATE, &st));
	BIND(s, sq_bind_str(st, 1, r->name));
	BIND(s, sqlite3_bind_int64(st, 2, row->seq));
	BIND(s, sqlite3_bind_int(st, 3, (int)r->state));
	BIND(s, sqlite3_bind_int(st, 4, r->released));
	BIND(s, sq_bind_str(st, 5, waves));
	BIND(s, sqlite3_bind_int64(st, 6, r->updated));
	BIND(s, sq_bind_str(st, 7, r->reason));
	BIND(s, sq_bind_str(st, 8, r->rolled_back_by));
	TRY(sq_step_done(s, st, "updating a rollout"));
	*applied = sqlite3_changes(s->db) == 1;
	if (*applied)
		TRY(sq_cs_level(s, (int)r->target_level, r->target_key));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, true, res);
}
