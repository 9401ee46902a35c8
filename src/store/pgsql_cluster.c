/*
 * The PostgreSQL backend's cluster data (store.h, "cluster data"): table
 * cluster_data, (name, version) unique.  A put is one INSERT that inserts
 * nothing unless its version is above every stored one; two nodes racing
 * for the same version meet the primary key (ON CONFLICT DO NOTHING), so
 * exactly one wins and the other reads the winner's row.
 */
#include "store/pgsql_internal.h"

#include <string.h>

sp_result
pg_cluster_put(sp_store *base, const char *name, int64_t version, int64_t created,
    sp_slice data, int64_t keep)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	pg_p_str(&p, name);
	pg_p_i64(&p, version);
	pg_p_i64(&p, created);
	pg_p_slice(&p, data);
	TRY(pg_run(s, PS_CL_PUT, &p, &r, "storing cluster data"));
	if (pg_affected(r) == 0) {
		PQclear(r);
		r = NULL;
		memset(&p, 0, sizeof(p));
		pg_p_str(&p, name);
		TRY(pg_run(s, PS_CL_MAX, &p, &r, "reading cluster data"));
		res = sp_error(SP_E_EXISTS, "%s: version %lld is not above the "
		    "newest stored (%lld)", name, (long long)version,
		    (long long)(PQntuples(r) == 1 ? pg_col_i64(r, 0, 0) : 0));
		goto out;
	}
	if (keep > 0 && version - keep >= 1) {
		memset(&p, 0, sizeof(p));
		pg_p_str(&p, name);
		pg_p_i64(&p, version - keep);
		TRY(pg_run(s, PS_CL_PRUNE, &p, NULL, "pruning cluster data"));
	}
out:
	PQclear(r);
	/* Not a change of devices or params: the generation stays. */
	return pg_tx_end(s, mine, false, res);
}

sp_result
pg_cluster_get(sp_store *base, const char *name, int max, bool prefix_newest,
    sp_store_cluster_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	unsigned char *data = NULL;
	size_t len = 0;
	char rname[SP_CLUSTER_NAME_MAX + 1];
	sp_cluster_row row;

	pg_p_str(&p, name);
	if (!prefix_newest)
		pg_p_i64(&p, max);
	TRY(pg_run(s, prefix_newest ? PS_CL_NEWEST : PS_CL_GET, &p, &r,
	    "reading cluster data"));
	for (int i = 0; i < PQntuples(r); i++) {
		pg_col_copy(r, i, 0, rname, sizeof(rname));
		row.name = rname;
		row.version = pg_col_i64(r, i, 1);
		row.created = pg_col_i64(r, i, 2);
		PQfreemem(data);
		TRY_ALLOC(data, PQunescapeBytea((const unsigned char *)PQgetvalue(r,
		    i, 3), &len));
		row.data = (sp_slice){ (const char *)data, len };
		TRY(cb(arg, &row));
	}
out:
	PQfreemem(data);
	PQclear(r);
	return res;
}
