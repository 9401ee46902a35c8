/*
 * The PostgreSQL backend's console records (schema 7): the same tables
 * and rules as SQLite's (sqlite_console.c, where the design is), written
 * by the same transactions.  The contact batch sends its statements in
 * the batch's pipeline, so each contact's event slot is computed by the
 * server (a data-modifying WITH), not read back.  The level's generation
 * is the meta row the change's own triggers just bumped.
 */
#include "store/pgsql_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/console_internal.h"

#define GEN_NOW "(SELECT v FROM meta WHERE k = 'generation')"
#define CHANGED_GEN_OF(T) \
	"GREATEST(coalesce((SELECT gen FROM levelgen WHERE level = 0 AND" \
	" key = ''), 0), coalesce((SELECT gen FROM levelgen WHERE level = 1" \
	" AND key = " T ".product AND " T ".product <> ''), 0)," \
	" coalesce((SELECT gen FROM levelgen WHERE level = 2 AND" \
	" key = " T ".grp AND " T ".grp <> ''), 0), coalesce((SELECT gen" \
	" FROM levelgen WHERE level = 3 AND key = " T ".mac), 0))"
/* One event into a ring: the slot from the upsert's counter (u.k). */
#define EVENT_FROM_UP \
	"INSERT INTO devevents (mac, slot, time, failure, http, reason, n, ip," \
	" etag, detail) SELECT u.mac, u.slot, u.time, u.failure, u.http," \
	" u.reason, u.n, u.ip, u.etag, u.detail FROM up u" \
	" ON CONFLICT (mac, slot) DO UPDATE SET time = excluded.time," \
	" failure = excluded.failure, http = excluded.http," \
	" reason = excluded.reason, n = excluded.n, ip = excluded.ip," \
	" etag = excluded.etag, detail = excluded.detail"

static const char *const cs_sql[PG_CS_COUNT] = {
	[PCS_STATUS - PS_COUNT] = "UPDATE devstate SET status = CASE"
	    " WHEN enabled = 0 THEN 4"
	    " WHEN fail_newer = 1 AND fail_reason = 0 THEN 5"
	    " WHEN fail_newer = 1 OR last_http >= 400 THEN 2"
	    " WHEN last_seen = 0 THEN 3"
	    " WHEN fetched_gen < " CHANGED_GEN_OF("devstate") " THEN 1 ELSE 0 END"
	    " WHERE mac = $1 AND inv = 1",
	[PCS_DEV_SYNC - PS_COUNT] = "INSERT INTO devstate (mac, inv, serial,"
	    " product, grp, enabled) SELECT mac, CASE WHEN pending THEN 2"
	    " ELSE 1 END, serial, product, grp, CASE WHEN enabled THEN 1"
	    " ELSE 0 END FROM devices WHERE mac = $1"
	    " ON CONFLICT (mac) DO UPDATE SET inv = excluded.inv,"
	    " serial = excluded.serial, product = excluded.product,"
	    " grp = excluded.grp, enabled = excluded.enabled",
	[PCS_GONE - PS_COUNT] = "WITH a AS (DELETE FROM devevents WHERE"
	    " mac = $1), b AS (DELETE FROM failcounts WHERE mac = $1)"
	    " DELETE FROM devstate WHERE mac = $1",
	[PCS_CONTACT - PS_COUNT] = "WITH up AS (INSERT INTO devstate (mac,"
	    " last_seen, last_http, last_any, fetched_gen, fetched_etag,"
	    " cert_serial, cert_not_after, ncontacts) VALUES ($1, $2::bigint,"
	    " $3::int, $2::bigint,"
	    " CASE WHEN $3::int IN (200, 304) THEN $4::bigint ELSE 0 END,"
	    " CASE WHEN $3::int IN (200, 304) THEN $5::text ELSE '' END,"
	    " $6::text, $7::bigint, 1)"
	    " ON CONFLICT (mac) DO UPDATE SET last_seen = $2::bigint,"
	    " last_http = $3::int, last_any = GREATEST(devstate.last_any,"
	    " $2::bigint), fetched_gen = CASE WHEN $3::int IN (200, 304)"
	    " THEN $4::bigint ELSE devstate.fetched_gen END,"
	    " fetched_etag = CASE WHEN $3::int IN (200, 304) THEN $5::text"
	    " ELSE devstate.fetched_etag END,"
	    " cert_serial = CASE WHEN $6::text <> '' THEN $6::text"
	    " ELSE devstate.cert_serial END,"
	    " cert_not_after = CASE WHEN $6::text <> '' THEN $7::bigint"
	    " ELSE devstate.cert_not_after END,"
	    " fail_newer = CASE WHEN devstate.fail_time > $2::bigint THEN 1"
	    " ELSE 0 END, ncontacts = devstate.ncontacts + 1"
	    " RETURNING mac, ((ncontacts - 1) % 8)::int AS slot,"
	    " $2::bigint AS time, 0 AS failure, $3::int AS http, 0 AS reason,"
	    " 1 AS n, $8::text AS ip, $5::text AS etag, ''::text AS detail) "
	    EVENT_FROM_UP,
	[PCS_FAIL - PS_COUNT] = "WITH up AS (INSERT INTO devstate (mac,"
	    " last_any, fail_time, fail_first, fail_reason, fail_ip, fail_newer,"
	    " fail_total, cert_serial, nfailures) VALUES ($1, $2::bigint,"
	    " $2::bigint, $2::bigint, $3::int, $4::text, 1, $5::bigint,"
	    " $6::text, 1) ON CONFLICT (mac) DO UPDATE SET"
	    " last_any = GREATEST(devstate.last_any, $2::bigint),"
	    " fail_reason = CASE WHEN $2::bigint >= devstate.fail_time"
	    " THEN $3::int ELSE devstate.fail_reason END,"
	    " fail_ip = CASE WHEN $2::bigint >= devstate.fail_time"
	    " THEN $4::text ELSE devstate.fail_ip END,"
	    " fail_first = CASE WHEN devstate.fail_first = 0 OR"
	    " $2::bigint < devstate.fail_first THEN $2::bigint"
	    " ELSE devstate.fail_first END,"
	    " fail_newer = CASE WHEN $2::bigint >= devstate.last_seen THEN 1"
	    " ELSE devstate.fail_newer END,"
	    " fail_time = GREATEST(devstate.fail_time, $2::bigint),"
	    " fail_total = devstate.fail_total + $5::bigint,"
	    " cert_serial = CASE WHEN $6::text <> '' THEN $6::text"
	    " ELSE devstate.cert_serial END,"
	    " nfailures = devstate.nfailures + 1"
	    " RETURNING mac, (8 + (nfailures - 1) % 8)::int AS slot,"
	    " $2::bigint AS time, 1 AS failure, 0 AS http, $3::int AS reason,"
	    " $5::bigint AS n, $4::text AS ip, ''::text AS etag,"
	    " $7::text AS detail),"
	    " cnt AS (INSERT INTO failcounts (mac, reason, n) VALUES ($1,"
	    " $3::int, $5::bigint) ON CONFLICT (mac, reason) DO UPDATE"
	    " SET n = failcounts.n + excluded.n) " EVENT_FROM_UP,
	[PCS_FAILSRC - PS_COUNT] = "INSERT INTO failsrc (reason, ip, n,"
	    " first_seen, last_seen) VALUES ($1::int, $2::text, $3::bigint,"
	    " $4::bigint, $4::bigint) ON CONFLICT (reason, ip) DO UPDATE"
	    " SET n = failsrc.n + excluded.n,"
	    " first_seen = LEAST(failsrc.first_seen, excluded.first_seen),"
	    " last_seen = GREATEST(failsrc.last_seen, excluded.last_seen)",
	[PCS_FAILSRC_PRUNE - PS_COUNT] = "DELETE FROM failsrc WHERE (reason, ip)"
	    " IN (SELECT reason, ip FROM failsrc ORDER BY last_seen, reason, ip"
	    " LIMIT GREATEST(0, (SELECT count(*) FROM failsrc) - $1::bigint))",
	[PCS_SERIES - PS_COUNT] = "INSERT INTO series (bucket, kind, n)"
	    " VALUES ($1::bigint, $2::int, $3::bigint) ON CONFLICT (bucket, kind)"
	    " DO UPDATE SET n = series.n + excluded.n",
	[PCS_SERIES_PRUNE - PS_COUNT] = "DELETE FROM series WHERE bucket < $1",
	[PCS_LEVELGEN - PS_COUNT] = "INSERT INTO levelgen (level, key, gen)"
	    " VALUES ($1::int, $2::text, " GEN_NOW ") ON CONFLICT (level, key)"
	    " DO UPDATE SET gen = excluded.gen",
	[PCS_BEHIND - PS_COUNT] = "UPDATE devstate SET status = 1 WHERE"
	    " inv = 1 AND status = 0 AND fetched_gen < " GEN_NOW
	    " AND $1::int = 0 AND $2::text = ''",
	[PCS_BEHIND_PRODUCT - PS_COUNT] = "UPDATE devstate SET status = 1"
	    " WHERE inv = 1 AND product = $2::text AND status = 0"
	    " AND fetched_gen < " GEN_NOW " AND $1::int = 1",
	[PCS_BEHIND_GROUP - PS_COUNT] = "UPDATE devstate SET status = 1"
	    " WHERE inv = 1 AND grp = $2::text AND status = 0"
	    " AND fetched_gen < " GEN_NOW " AND $1::int = 2",
	[PCS_BEHIND_DEVICE - PS_COUNT] = "UPDATE devstate SET status = 1"
	    " WHERE mac = $2::text AND inv = 1 AND status = 0"
	    " AND fetched_gen < " GEN_NOW " AND $1::int = 3",
	[PCS_DETAIL - PS_COUNT] = "SELECT d.mac, d.serial, d.product, d.grp,"
	    " d.enabled, d.pending, d.created, coalesce(ds.status, 3),"
	    " coalesce(ds.last_seen, 0), c.ip, coalesce(ds.last_http, 0), c.ua,"
	    " coalesce(ds.fail_time, 0), coalesce(ds.fail_reason, 0),"
	    " coalesce(ds.cert_serial, ''), coalesce(ds.cert_not_after, 0),"
	    " coalesce(ds.fetched_etag, ''), coalesce(ds.fetched_gen, 0), "
	    CHANGED_GEN_OF("d")
	    " FROM devices d LEFT JOIN devstate ds ON ds.mac = d.mac"
	    " LEFT JOIN contacts c ON c.mac = d.mac WHERE d.mac = $1",
	[PCS_COUNTS - PS_COUNT] = "SELECT reason, n FROM failcounts WHERE mac = $1",
	[PCS_EVENTS - PS_COUNT] = "SELECT time, failure, http, reason, n, ip,"
	    " etag, detail FROM devevents WHERE mac = $1",
	[PCS_UNKNOWN - PS_COUNT] = "SELECT ds.mac, ds.inv, coalesce(d.serial,"
	    " ''), coalesce(d.product, ''), CASE WHEN ds.fail_time >="
	    " ds.last_seen THEN ds.fail_ip ELSE coalesce(c.ip, '') END,"
	    " ds.fail_reason, ds.fail_total, CASE WHEN d.created IS NOT NULL AND"
	    " (ds.fail_first = 0 OR d.created < ds.fail_first) THEN d.created"
	    " ELSE ds.fail_first END, ds.last_any FROM devstate ds"
	    " LEFT JOIN devices d ON d.mac = ds.mac"
	    " LEFT JOIN contacts c ON c.mac = ds.mac"
	    " WHERE ds.inv <> 1 AND (ds.inv = 2 OR ds.fail_total > 0)"
	    " ORDER BY ds.last_any DESC, ds.mac LIMIT $1",
	[PCS_SOURCES - PS_COUNT] = "SELECT reason, ip, n, first_seen, last_seen"
	    " FROM failsrc ORDER BY last_seen DESC, reason, ip LIMIT $1",
	[PCS_BY_STATUS - PS_COUNT] = "SELECT status, count(*) FROM devstate"
	    " WHERE inv = 1 GROUP BY status UNION ALL SELECT -1, count(*)"
	    " FROM devstate WHERE inv = 2",
	[PCS_SERIES_GET - PS_COUNT] = "SELECT bucket, kind, n FROM series"
	    " WHERE bucket >= $1",
};

const char *
pg_cs_sql(int id)
{
	return cs_sql[id - PS_COUNT];
}

/* Run statement id on one MAC; *n (optional) the rows it changed. */
static sp_result
run_mac(pg_store *s, int id, const char *ma, int64_t *n, const char *what)
{
	sp_result res = SP_OK;
	pg_params p = { 0 };
	PGresult *r = NULL;

	pg_p_str(&p, ma);
	TRY(pg_run(s, id, &p, &r, what));
	if (n)
		*n = pg_affected(r);
out:
	PQclear(r);
	return res;
}

static void
level_params(pg_params *p, int level, const char *key)
{
	pg_p_i64(p, level);
	pg_p_str(p, key ? key : "");
}

sp_result
pg_cs_level(pg_store *s, int level, const char *key)
{
	sp_result res = SP_OK;
	pg_params p = { 0 };

	level_params(&p, level, key);
	TRY(pg_run(s, PCS_LEVELGEN, &p, NULL, "recording a level's change"));
	TRY(pg_run(s, PCS_BEHIND + level, &p, NULL, "recording a level's change"));
out:
	return res;
}

sp_result
pg_cs_sync(pg_store *s, const char *ma)
{
	return run_mac(s, PCS_DEV_SYNC, ma, NULL, "recording a device's state");
}

sp_result
pg_cs_device(pg_store *s, const char *ma)
{
	sp_result res = SP_OK;
	int64_t n = 0;

	TRY(run_mac(s, PCS_DEV_SYNC, ma, &n, "recording a device's state"));
	if (n == 0) {
		/* Removed: its records go with it, as its contact record does. */
		TRY(run_mac(s, PCS_GONE, ma, NULL, "removing a device's records"));
		goto out;
	}
	TRY(pg_cs_level(s, SP_LEVEL_DEVICE, ma));
	TRY(run_mac(s, PCS_STATUS, ma, NULL, "updating a device's status"));
out:
	return res;
}

/* The statements a contact batch's pipeline sends (prepared before). */
const int pg_cs_contact_ids[PG_CS_CONTACT_NIDS] = {
	PCS_DEV_SYNC, PCS_CONTACT, PCS_STATUS, PCS_SERIES, PCS_SERIES_PRUNE
};

sp_result
pg_cs_contact_send(pg_store *s, const char *ma, const sp_contact *c,
    bool pending, sp_cs_agg *a, size_t *nsent)
{
	sp_result res = SP_OK;
	pg_params p = { 0 }, pm = { 0 };

	pg_p_str(&pm, ma);
	if (pending) {
		TRY(pg_pipe_send(s, PCS_DEV_SYNC, &pm, "recording a device's state"));
		(*nsent)++;
	}
	pg_p_str(&p, ma);
	pg_p_i64(&p, c->time);
	pg_p_i64(&p, c->status);
	pg_p_i64(&p, (int64_t)c->gen);
	pg_p_str(&p, c->etag);
	pg_p_str(&p, c->cert_serial);
	pg_p_i64(&p, c->cert_not_after);
	pg_p_str(&p, c->ip);
	TRY(pg_pipe_send(s, PCS_CONTACT, &p, "recording a contact's state"));
	TRY(pg_pipe_send(s, PCS_STATUS, &pm, "updating a device's status"));
	*nsent += 2;
	if ((c->status == 200 || c->status == 304) &&
	    !sp_cs_agg_add(a, c->time, SP_CS_KIND_RESYNC, 1)) {
		TRY(pg_cs_series_send(s, a, nsent));
		(void)sp_cs_agg_add(a, c->time, SP_CS_KIND_RESYNC, 1);
	}
out:
	return res;
}

/* The series rows a holds, into the pipeline (or run, outside one). */
sp_result
pg_cs_series_send(pg_store *s, sp_cs_agg *a, size_t *nsent)
{
	sp_result res = SP_OK;
	bool piped = PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF;

	for (int i = 0; i <= a->n; i++) {
		pg_params p = { 0 };
		int id = i < a->n ? PCS_SERIES : PCS_SERIES_PRUNE;

		if (i == a->n && a->n == 0)
			break;
		if (i < a->n) {
			pg_p_i64(&p, a->v[i].bucket);
			pg_p_i64(&p, a->v[i].kind);
			pg_p_i64(&p, a->v[i].count);
		} else
			pg_p_i64(&p, a->newest - SP_CS_SERIES_KEEP);
		if (piped) {
			TRY(pg_pipe_send(s, id, &p, "recording the series"));
			(*nsent)++;
		} else
			TRY(pg_run(s, id, &p, NULL, "recording the series"));
	}
	a->n = 0;
out:
	return res;
}

static sp_result
failure_put(pg_store *s, const sp_failure *f)
{
	sp_result res = SP_OK;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];

	if (!f->has_mac) {
		pg_p_i64(&p, f->reason);
		pg_p_str(&p, f->ip);
		pg_p_i64(&p, f->count);
		pg_p_i64(&p, f->time);
		TRY(pg_run(s, PCS_FAILSRC, &p, NULL, "counting a failure"));
		goto out;
	}
	sp_mac_format(&f->mac, SP_MAC_MA, ma);
	pg_p_str(&p, ma);
	pg_p_i64(&p, f->time);
	pg_p_i64(&p, f->reason);
	pg_p_str(&p, f->ip);
	pg_p_i64(&p, f->count);
	pg_p_str(&p, f->cert_serial);
	pg_p_str(&p, f->detail);
	TRY(pg_run(s, PCS_FAIL, &p, NULL, "recording a failure"));
	TRY(run_mac(s, PCS_STATUS, ma, NULL, "updating a device's status"));
out:
	return res;
}

sp_result
pg_failure_batch(sp_store *base, const sp_failure *v, size_t n)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	sp_cs_agg agg = { 0 };
	bool mine = false, nameless = false;
	size_t nsent = 0;

	TRY(pg_tx_begin(s, &mine));
	for (size_t i = 0; i < n; i++) {
		TRY(failure_put(s, &v[i]));
		nameless = nameless || !v[i].has_mac;
		if (!sp_cs_agg_add(&agg, v[i].time, SP_CS_KIND_FAIL(v[i].reason),
		    v[i].count)) {
			TRY(pg_cs_series_send(s, &agg, &nsent));
			(void)sp_cs_agg_add(&agg, v[i].time,
			    SP_CS_KIND_FAIL(v[i].reason), v[i].count);
		}
	}
	TRY(pg_cs_series_send(s, &agg, &nsent));
	if (nameless) {
		pg_params p = { 0 };

		pg_p_i64(&p, SP_FAIL_SOURCES_MAX);
		TRY(pg_run(s, PCS_FAILSRC_PRUNE, &p, NULL,
		    "bounding the failure sources"));
	}
out:
	/* Failures change no answer of the server: no generation. */
	return pg_tx_end(s, mine, false, res);
}

/* ---- reading ------------------------------------------------------------- */

static sp_result
row_read(PGresult *r, int i, sp_inv_row *row)
{
	sp_result res = SP_OK;
	sp_contact ua;

	memset(row, 0, sizeof(*row));
	TRY(sp_mac_parse(sp_slice_of(PQgetvalue(r, i, 0)), &row->dev.mac));
	pg_row_device(r, i, 1, &row->dev);
	row->status = (sp_dev_status)pg_col_i64(r, i, 7);
	ENSURE((unsigned)row->status < SP_DST_N, SP_E_DB, "a device's status "
	    "is out of range");
	row->last_seen = pg_col_i64(r, i, 8);
	pg_col_copy(r, i, 9, row->last_ip, sizeof(row->last_ip));
	row->last_http = (int)pg_col_i64(r, i, 10);
	if (!PQgetisnull(r, i, 11)) {
		unsigned char *raw;
		size_t len = 0;

		/* The raw User-Agent is bytea (pgsql_hot.c). */
		TRY_ALLOC(raw, PQunescapeBytea((const unsigned char *)
		    PQgetvalue(r, i, 11), &len));
		if (len > SP_UA_MAX)
			len = SP_UA_MAX;
		memcpy(ua.ua, raw, len);
		ua.ua[len] = '\0';
		PQfreemem(raw);
		memcpy(row->ua, ua.ua, len + 1);
	}
	row->last_fail = pg_col_i64(r, i, 12);
	row->last_reason = sp_cs_reason_of(pg_col_i64(r, i, 13));
	pg_col_copy(r, i, 14, row->cert_serial, sizeof(row->cert_serial));
	row->cert_not_after = pg_col_i64(r, i, 15);
out:
	return res;
}

/* A built statement (sp_cs_inv_build), run unprepared. */
static sp_result
exec_built(pg_store *s, const sp_cs_sql *q, PGresult **out, const char *what)
{
	sp_result res = SP_OK;
	const char *v[SP_CS_ARGS_MAX];
	char num[SP_CS_ARGS_MAX][24];
	PGresult *r;

	*out = NULL;
	for (int i = 0; i < q->nargs; i++) {
		if (q->args[i].is_int) {
			snprintf(num[i], sizeof(num[i]), "%lld",
			    (long long)q->args[i].i);
			v[i] = num[i];
		} else
			v[i] = q->args[i].s;
	}
	r = PQexecParams(s->conn, sp_buf_cstr(&q->sql), q->nargs, NULL, v,
	    NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		res = sp_error(SP_E_DB, "%s: %s: %s", s->label, what,
		    m ? m : PQerrorMessage(s->conn));
		PQclear(r);
		goto out;
	}
	*out = r;
out:
	return res;
}

sp_result
pg_inventory(sp_store *base, const sp_inv_query *q, sp_store_inv_cb cb,
    void *arg, char *next)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	sp_cs_sql b = { 0 };
	sp_inv_row row, last;
	bool none = true, few = false, built = false;
	int n;

	memset(&last, 0, sizeof(last));
	TRY(sp_cs_inv_probe(q, '$', &b, &none));
	if (!none) {
		res = exec_built(s, &b, &r, "querying the inventory");
		sp_buf_free(&b.sql);
		TRY(res);
		few = pg_col_i64(r, 0, 0) < SP_CS_PROBE_MAX;
		PQclear(r);
		r = NULL;
	}
	TRY(sp_cs_inv_build(q, '$', !few, &b));
	built = true;
	TRY(exec_built(s, &b, &r, "querying the inventory"));
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		if (i == q->limit) {
			sp_cs_cursor(q, &last, next);
			break;
		}
		TRY(row_read(r, i, &row));
		TRY(cb(arg, &row));
		last = row;
	}
out:
	PQclear(r);
	if (built)
		sp_buf_free(&b.sql);
	return res;
}

sp_result
pg_device_detail(sp_store *base, const sp_mac *mac, sp_dev_detail *out,
    bool *found)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_run(s, PCS_DETAIL, &(pg_params){ .n = 1, .v = { ma } }, &r,
	    "reading a device"));
	if (PQntuples(r) == 0)
		goto out;
	TRY(row_read(r, 0, &out->row));
	pg_col_copy(r, 0, 16, out->fetched_etag, sizeof(out->fetched_etag));
	out->fetched_gen = (uint64_t)pg_col_i64(r, 0, 17);
	out->changed_gen = (uint64_t)pg_col_i64(r, 0, 18);
	PQclear(r);
	r = NULL;
	TRY(pg_run(s, PCS_COUNTS, &(pg_params){ .n = 1, .v = { ma } }, &r,
	    "reading failure counts"));
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t k = pg_col_i64(r, i, 0);

		if (k >= 0 && k < SP_FAIL_N)
			out->fail_counts[k] = (uint64_t)pg_col_i64(r, i, 1);
	}
	PQclear(r);
	r = NULL;
	TRY(pg_run(s, PCS_EVENTS, &(pg_params){ .n = 1, .v = { ma } }, &r,
	    "reading events"));
	for (int i = 0; i < PQntuples(r) &&
	    out->nevents < (int)SP_ARRAY_LEN(out->events); i++) {
		sp_dev_event *e = &out->events[out->nevents++];

		e->time = pg_col_i64(r, i, 0);
		e->failure = pg_col_i64(r, i, 1) != 0;
		e->http = (int)pg_col_i64(r, i, 2);
		e->reason = sp_cs_reason_of(pg_col_i64(r, i, 3));
		e->count = (uint32_t)pg_col_i64(r, i, 4);
		pg_col_copy(r, i, 5, e->ip, sizeof(e->ip));
		pg_col_copy(r, i, 6, e->etag, sizeof(e->etag));
		pg_col_copy(r, i, 7, e->detail, sizeof(e->detail));
	}
	sp_cs_events_sort(out->events, out->nevents);
	*found = true;
out:
	PQclear(r);
	return pg_tx_end(s, mine, false, res);
}

sp_result
pg_unknown_list(sp_store *base, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	sp_unknown_row u;
	int n;

	pg_p_i64(&p, limit);
	TRY(pg_run(s, PCS_UNKNOWN, &p, &r, "listing unknown devices"));
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		memset(&u, 0, sizeof(u));
		TRY(sp_mac_parse(sp_slice_of(PQgetvalue(r, i, 0)), &u.mac));
		u.has_mac = true;
		u.pending = pg_col_i64(r, i, 1) == 2;
		pg_col_copy(r, i, 2, u.serial, sizeof(u.serial));
		pg_col_copy(r, i, 3, u.product, sizeof(u.product));
		pg_col_copy(r, i, 4, u.ip, sizeof(u.ip));
		u.reason = sp_cs_reason_of(pg_col_i64(r, i, 5));
		u.count = (uint64_t)pg_col_i64(r, i, 6);
		u.first_seen = pg_col_i64(r, i, 7);
		u.last_seen = pg_col_i64(r, i, 8);
		TRY(cb(arg, &u));
	}
	PQclear(r);
	r = NULL;
	if (n >= limit)
		goto out;
	p.n = 0;
	pg_p_i64(&p, limit - n);
	TRY(pg_run(s, PCS_SOURCES, &p, &r, "listing failure sources"));
	for (int i = 0; i < PQntuples(r); i++) {
		memset(&u, 0, sizeof(u));
		u.reason = sp_cs_reason_of(pg_col_i64(r, i, 0));
		pg_col_copy(r, i, 1, u.ip, sizeof(u.ip));
		u.count = (uint64_t)pg_col_i64(r, i, 2);
		u.first_seen = pg_col_i64(r, i, 3);
		u.last_seen = pg_col_i64(r, i, 4);
		TRY(cb(arg, &u));
	}
out:
	PQclear(r);
	return res;
}

sp_result
pg_summary(sp_store *base, int64_t start, sp_summary *out)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	bool mine = false;

	TRY(pg_tx_begin(s, &mine));
	TRY(pg_run(s, PCS_BY_STATUS, NULL, &r, "counting devices"));
	for (int i = 0; i < PQntuples(r); i++)
		sp_cs_summary_count(out, pg_col_i64(r, i, 0), pg_col_i64(r, i, 1));
	PQclear(r);
	r = NULL;
	pg_p_i64(&p, start);
	TRY(pg_run(s, PCS_SERIES_GET, &p, &r, "reading the series"));
	for (int i = 0; i < PQntuples(r); i++)
		sp_cs_summary_series(out, start, pg_col_i64(r, i, 0),
		    pg_col_i64(r, i, 1), pg_col_i64(r, i, 2));
out:
	PQclear(r);
	return pg_tx_end(s, mine, false, res);
}
