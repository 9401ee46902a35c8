/*
 * The SQLite backend's cluster data (store.h, "cluster data"): one table,
 * cluster_data (name, version) unique.  A put is one INSERT that inserts
 * nothing unless its version is above every stored one, inside BEGIN
 * IMMEDIATE, so two writers never both win.
 */
#include "store/sqlite_internal.h"

#include <string.h>

sp_result
sq_cluster_put(sp_store *base, const char *name, int64_t version, int64_t created,
    sp_slice data, int64_t keep)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int64_t newest = 0;

	TRY(sq_tx_begin(s, true, &mine));
	TRY(sq_st_get(s, ST_CL_PUT, &st));
	BIND(s, sq_bind_str(st, 1, name));
	BIND(s, sqlite3_bind_int64(st, 2, version));
	BIND(s, sqlite3_bind_int64(st, 3, created));
	BIND(s, sqlite3_bind_blob(st, 4, data.len ? data.p : "", (int)data.len,
	    SQLITE_STATIC));
	TRY(sq_step_done(s, st, "storing cluster data"));
	if (sqlite3_changes(s->db) == 0) {
		sq_st_done(st);
		TRY(sq_st_get(s, ST_CL_MAX, &st));
		BIND(s, sq_bind_str(st, 1, name));
		if (sqlite3_step(st) == SQLITE_ROW)
			newest = sqlite3_column_int64(st, 0);
		res = sp_error(SP_E_EXISTS, "%s: version %lld is not above the "
		    "newest stored (%lld)", name, (long long)version, (long long)newest);
		goto out;
	}
	if (keep > 0 && version - keep >= 1) {
		sq_st_done(st);
		TRY(sq_st_get(s, ST_CL_PRUNE, &st));
		BIND(s, sq_bind_str(st, 1, name));
		BIND(s, sqlite3_bind_int64(st, 2, version - keep));
		TRY(sq_step_done(s, st, "pruning cluster data"));
	}
out:
	sq_st_done(st);
	/* Not a change of devices or params: the generation stays. */
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_cluster_get(sp_store *base, const char *name, int max, bool prefix_newest,
    sp_store_cluster_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;
	char rname[SP_CLUSTER_NAME_MAX + 1];
	sp_cluster_row row;

	TRY(sq_tx_begin(s, false, &mine));
	TRY(sq_st_get(s, prefix_newest ? ST_CL_NEWEST : ST_CL_GET, &st));
	BIND(s, sq_bind_str(st, 1, name));
	if (!prefix_newest)
		BIND(s, sqlite3_bind_int(st, 2, max));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *p;

		sq_col_copy(st, 0, rname, sizeof(rname));
		row.name = rname;
		row.version = sqlite3_column_int64(st, 1);
		row.created = sqlite3_column_int64(st, 2);
		p = sqlite3_column_blob(st, 3);
		row.data.len = (size_t)sqlite3_column_bytes(st, 3);
		row.data.p = p ? p : "";
		TRY(cb(arg, &row));
	}
	if (rc != SQLITE_DONE)
		TRY(sq_dberr(s, "reading cluster data"));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}
