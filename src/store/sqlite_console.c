/*
 * The SQLite backend's console records (schema 7; store/console.h,
 * docs/STORE.md "Console records").
 *
 * devstate: one row per MAC that is a device or was seen, with a copy of
 * the device's inventory columns (serial, product, group, enabled; inv 1
 * for a device in the inventory, 2 pending, 0 none) next to its status,
 * last contact and newest failure, so every inventory filter and sort is
 * a range of one partial index on one table (WHERE inv = 1).  The copy is
 * written by the same transaction as the device change (sq_cs_device).
 * Status is recomputed by one statement (CS_STATUS) after every write
 * that may change it; a level change (parameters, rollouts) moves the
 * level's generation in levelgen and turns its ok devices that fetched
 * below it into behind with one UPDATE.
 */
#include "store/sqlite_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/console_internal.h"

/* Migration 6 -> 7 (sqlite.c's migrations[] names it). */
const char sq_schema_console[] =
	"CREATE TABLE devstate ("
	"  mac TEXT PRIMARY KEY NOT NULL,"
	"  inv INTEGER NOT NULL DEFAULT 0 CHECK (inv IN (0, 1, 2)),"
	"  serial TEXT NOT NULL DEFAULT '',"
	"  product TEXT NOT NULL DEFAULT '',"
	"  grp TEXT NOT NULL DEFAULT '',"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  status INTEGER NOT NULL DEFAULT 3,"
	"  last_seen INTEGER NOT NULL DEFAULT 0,"
	"  last_http INTEGER NOT NULL DEFAULT 0,"
	"  last_any INTEGER NOT NULL DEFAULT 0,"
	"  fetched_gen INTEGER NOT NULL DEFAULT 0,"
	"  fetched_etag TEXT NOT NULL DEFAULT '',"
	"  fail_time INTEGER NOT NULL DEFAULT 0,"
	"  fail_first INTEGER NOT NULL DEFAULT 0,"
	"  fail_reason INTEGER NOT NULL DEFAULT 0,"
	"  fail_ip TEXT NOT NULL DEFAULT '',"
	"  fail_newer INTEGER NOT NULL DEFAULT 0,"
	"  fail_total INTEGER NOT NULL DEFAULT 0,"
	"  cert_serial TEXT NOT NULL DEFAULT '',"
	"  cert_not_after INTEGER NOT NULL DEFAULT 0,"
	"  ncontacts INTEGER NOT NULL DEFAULT 0,"
	"  nfailures INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX ds_inv_mac ON devstate (mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_seen ON devstate (last_seen, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_serial ON devstate (serial, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_product ON devstate (product, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_grp ON devstate (grp, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_mac ON devstate (status, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_seen ON devstate (status, last_seen, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_serial ON devstate (status, serial, mac) WHERE inv = 1;"
	"CREATE INDEX ds_unknown ON devstate (last_any) WHERE inv <> 1;"
	"CREATE TABLE failcounts ("
	"  mac TEXT NOT NULL, reason INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (mac, reason)"
	") WITHOUT ROWID;"
	/* Slots 0-7 the newest contacts, 8-15 the newest failures. */
	"CREATE TABLE devevents ("
	"  mac TEXT NOT NULL, slot INTEGER NOT NULL,"
	"  time INTEGER NOT NULL, failure INTEGER NOT NULL,"
	"  http INTEGER NOT NULL, reason INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  ip TEXT NOT NULL, etag TEXT NOT NULL, detail TEXT NOT NULL,"
	"  PRIMARY KEY (mac, slot)"
	") WITHOUT ROWID;"
	"CREATE TABLE failsrc ("
	"  reason INTEGER NOT NULL, ip TEXT NOT NULL, n INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
	"  PRIMARY KEY (reason, ip)"
	") WITHOUT ROWID;"
	"CREATE INDEX failsrc_seen ON failsrc (last_seen);"
	"CREATE TABLE levelgen ("
	"  level INTEGER NOT NULL, key TEXT NOT NULL, gen INTEGER NOT NULL,"
	"  PRIMARY KEY (level, key)"
	") WITHOUT ROWID;"
	"CREATE TABLE series ("
	"  bucket INTEGER NOT NULL, kind INTEGER NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY (bucket, kind)"
	") WITHOUT ROWID;"
	/* The devices there are, with what their contact records say. */
	"INSERT INTO devstate (mac, inv, serial, product, grp, enabled, status,"
	"  last_seen, last_http, last_any, ncontacts)"
	"  SELECT d.mac, CASE WHEN d.pending THEN 2 ELSE 1 END, d.serial,"
	"  d.product, d.grp, d.enabled,"
	"  CASE WHEN NOT d.enabled THEN 4 WHEN c.mac IS NULL THEN 3"
	"  WHEN c.status >= 400 THEN 2 ELSE 0 END,"
	"  coalesce(c.time, 0), coalesce(c.status, 0), coalesce(c.time, 0),"
	"  CASE WHEN c.mac IS NULL THEN 0 ELSE 1 END"
	"  FROM devices d LEFT JOIN contacts c ON c.mac = d.mac;"
	"PRAGMA user_version = 7;";

/* The status rules of store/console.h, for the row of ?1. */
#define STATUS_EXPR \
	"CASE WHEN enabled = 0 THEN 4" \
	" WHEN fail_newer = 1 AND fail_reason = 0 THEN 5" \
	" WHEN fail_newer = 1 OR last_http >= 400 THEN 2" \
	" WHEN last_seen = 0 THEN 3" \
	" WHEN fetched_gen < " CHANGED_GEN " THEN 1 ELSE 0 END"
/* The newest change to the levels of the row whose columns are T.* */
#define CHANGED_GEN_OF(T) \
	"max(coalesce((SELECT gen FROM levelgen WHERE level = 0 AND" \
	" key = ''), 0), coalesce((SELECT gen FROM levelgen WHERE level = 1" \
	" AND key = " T ".product AND " T ".product <> ''), 0)," \
	" coalesce((SELECT gen FROM levelgen WHERE level = 2 AND" \
	" key = " T ".grp AND " T ".grp <> ''), 0), coalesce((SELECT gen" \
	" FROM levelgen WHERE level = 3 AND key = " T ".mac), 0))"
#define CHANGED_GEN CHANGED_GEN_OF("devstate")

enum {
	CS_STATUS,
	CS_DEV_SYNC,
	CS_GONE_STATE,
	CS_GONE_EVENTS,
	CS_GONE_COUNTS,
	CS_CONTACT,
	CS_COUNTERS,
	CS_EVENT,
	CS_FAIL,
	CS_FAILCOUNT,
	CS_FAILSRC,
	CS_FAILSRC_PRUNE,
	CS_SERIES,
	CS_SERIES_PRUNE,
	CS_LEVELGEN,
	CS_BEHIND,           /* + level: the level's statement */
	CS_BEHIND_PRODUCT,
	CS_BEHIND_GROUP,
	CS_BEHIND_DEVICE,
	CS_DETAIL,
	CS_COUNTS,
	CS_EVENTS,
	CS_UNKNOWN,
	CS_SOURCES,
	CS_BY_STATUS,
	CS_SERIES_GET,
	CS_COUNT_
};

static const char *const cs_sql[CS_COUNT_] = {
	[CS_STATUS] = "UPDATE devstate SET status = " STATUS_EXPR
	    " WHERE mac = ?1 AND inv = 1",
	/* A device's copy, from devices (or gone: no longer in the inventory). */
	[CS_DEV_SYNC] = "INSERT INTO devstate (mac, inv, serial, product, grp,"
	    " enabled) SELECT mac, CASE WHEN pending THEN 2 ELSE 1 END, serial,"
	    " product, grp, enabled FROM devices WHERE mac = ?1"
	    " ON CONFLICT (mac) DO UPDATE SET inv = excluded.inv,"
	    " serial = excluded.serial, product = excluded.product,"
	    " grp = excluded.grp, enabled = excluded.enabled",
	[CS_GONE_STATE] = "DELETE FROM devstate WHERE mac = ?1",
	[CS_GONE_EVENTS] = "DELETE FROM devevents WHERE mac = ?1",
	[CS_GONE_COUNTS] = "DELETE FROM failcounts WHERE mac = ?1",
	[CS_CONTACT] = "INSERT INTO devstate (mac, last_seen, last_http,"
	    " last_any, fetched_gen, fetched_etag, cert_serial, cert_not_after,"
	    " ncontacts) VALUES (?1, ?2, ?3, ?2,"
	    " CASE WHEN ?3 IN (200, 304) THEN ?4 ELSE 0 END,"
	    " CASE WHEN ?3 IN (200, 304) THEN ?5 ELSE '' END, ?6, ?7, 1)"
	    " ON CONFLICT (mac) DO UPDATE SET last_seen = ?2, last_http = ?3,"
	    " last_any = CASE WHEN ?2 > last_any THEN ?2 ELSE last_any END,"
	    " fetched_gen = CASE WHEN ?3 IN (200, 304) THEN ?4"
	    "  ELSE fetched_gen END,"
	    " fetched_etag = CASE WHEN ?3 IN (200, 304) THEN ?5"
	    "  ELSE fetched_etag END,"
	    " cert_serial = CASE WHEN ?6 <> '' THEN ?6 ELSE cert_serial END,"
	    " cert_not_after = CASE WHEN ?6 <> '' THEN ?7"
	    "  ELSE cert_not_after END,"
	    " fail_newer = CASE WHEN fail_time > ?2 THEN 1 ELSE 0 END,"
	    " ncontacts = ncontacts + 1,"
	    /* STATUS_EXPR over the row as this contact leaves it. */
	    " status = CASE WHEN enabled = 0 THEN 4"
	    " WHEN fail_time > ?2 AND fail_reason = 0 THEN 5"
	    " WHEN fail_time > ?2 OR ?3 >= 400 THEN 2"
	    " WHEN ?2 = 0 THEN 3"
	    " WHEN (CASE WHEN ?3 IN (200, 304) THEN ?4 ELSE fetched_gen END) < "
	    CHANGED_GEN " THEN 1 ELSE 0 END",
	/*
	 * The counters after an upsert (SQLite's RETURNING costs about a
	 * millisecond a statement here: a separate lookup is 100x cheaper).
	 */
	[CS_COUNTERS] = "SELECT ncontacts, nfailures, inv FROM devstate"
	    " WHERE mac = ?1",
	[CS_EVENT] = "INSERT INTO devevents (mac, slot, time, failure, http,"
	    " reason, n, ip, etag, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	    " ?8, ?9, ?10) ON CONFLICT (mac, slot) DO UPDATE SET time = ?3,"
	    " failure = ?4, http = ?5, reason = ?6, n = ?7, ip = ?8, etag = ?9,"
	    " detail = ?10",
	[CS_FAIL] = "INSERT INTO devstate (mac, last_any, fail_time, fail_first,"
	    " fail_reason, fail_ip, fail_newer, fail_total, cert_serial,"
	    " nfailures) VALUES (?1, ?2, ?2, ?2, ?3, ?4, 1, ?5, ?6, 1)"
	    " ON CONFLICT (mac) DO UPDATE SET"
	    " last_any = CASE WHEN ?2 > last_any THEN ?2 ELSE last_any END,"
	    " fail_reason = CASE WHEN ?2 >= fail_time THEN ?3"
	    "  ELSE fail_reason END,"
	    " fail_ip = CASE WHEN ?2 >= fail_time THEN ?4 ELSE fail_ip END,"
	    " fail_first = CASE WHEN fail_first = 0 OR ?2 < fail_first THEN ?2"
	    "  ELSE fail_first END,"
	    " fail_newer = CASE WHEN ?2 >= last_seen THEN 1 ELSE fail_newer END,"
	    " fail_time = CASE WHEN ?2 > fail_time THEN ?2 ELSE fail_time END,"
	    " fail_total = fail_total + ?5,"
	    " cert_serial = CASE WHEN ?6 <> '' THEN ?6 ELSE cert_serial END,"
	    " nfailures = nfailures + 1",
	[CS_FAILCOUNT] = "INSERT INTO failcounts (mac, reason, n)"
	    " VALUES (?1, ?2, ?3) ON CONFLICT (mac, reason) DO UPDATE"
	    " SET n = n + ?3",
	[CS_FAILSRC] = "INSERT INTO failsrc (reason, ip, n, first_seen,"
	    " last_seen) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (reason, ip)"
	    " DO UPDATE SET n = n + ?3,"
	    " first_seen = CASE WHEN ?4 < first_seen THEN ?4 ELSE first_seen END,"
	    " last_seen = CASE WHEN ?4 > last_seen THEN ?4 ELSE last_seen END",
	/* The least recently seen beyond the bound. */
	[CS_FAILSRC_PRUNE] = "DELETE FROM failsrc WHERE (reason, ip) IN"
	    " (SELECT reason, ip FROM failsrc ORDER BY last_seen, reason, ip"
	    " LIMIT max(0, (SELECT count(*) FROM failsrc) - ?1))",
	[CS_SERIES] = "INSERT INTO series (bucket, kind, n) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (bucket, kind) DO UPDATE SET n = n + ?3",
	[CS_SERIES_PRUNE] = "DELETE FROM series WHERE bucket < ?1",
	[CS_LEVELGEN] = "INSERT INTO levelgen (level, key, gen) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (level, key) DO UPDATE SET gen = ?3",
	/* Per level, each an index range (CS_BEHIND + level). */
	[CS_BEHIND] = "UPDATE devstate SET status = 1 WHERE inv = 1 AND"
	    " status = 0 AND fetched_gen < ?3 AND ?1 = 0 AND ?2 = ''",
	[CS_BEHIND_PRODUCT] = "UPDATE devstate SET status = 1 WHERE inv = 1"
	    " AND product = ?2 AND status = 0 AND fetched_gen < ?3 AND ?1 = 1",
	[CS_BEHIND_GROUP] = "UPDATE devstate SET status = 1 WHERE inv = 1"
	    " AND grp = ?2 AND status = 0 AND fetched_gen < ?3 AND ?1 = 2",
	[CS_BEHIND_DEVICE] = "UPDATE devstate SET status = 1 WHERE mac = ?2"
	    " AND inv = 1 AND status = 0 AND fetched_gen < ?3 AND ?1 = 3",
	[CS_DETAIL] = "SELECT d.mac, d.serial, d.product, d.grp, d.enabled,"
	    " d.pending, d.created, coalesce(ds.status, 3),"
	    " coalesce(ds.last_seen, 0), c.ip, coalesce(ds.last_http, 0), c.ua,"
	    " coalesce(ds.fail_time, 0), coalesce(ds.fail_reason, 0),"
	    " coalesce(ds.cert_serial, ''), coalesce(ds.cert_not_after, 0),"
	    " coalesce(ds.fetched_etag, ''), coalesce(ds.fetched_gen, 0),"
	    " " CHANGED_GEN_OF("d")
	    " FROM devices d LEFT JOIN devstate ds ON ds.mac = d.mac"
	    " LEFT JOIN contacts c ON c.mac = d.mac WHERE d.mac = ?1",
	[CS_COUNTS] = "SELECT reason, n FROM failcounts WHERE mac = ?1",
	[CS_EVENTS] = "SELECT time, failure, http, reason, n, ip, etag, detail"
	    " FROM devevents WHERE mac = ?1",
	[CS_UNKNOWN] = "SELECT ds.mac, ds.inv, coalesce(d.serial, ''),"
	    " coalesce(d.product, ''), CASE WHEN ds.fail_time >= ds.last_seen"
	    " THEN ds.fail_ip ELSE coalesce(c.ip, '') END, ds.fail_reason,"
	    " ds.fail_total, CASE WHEN d.created IS NOT NULL AND"
	    " (ds.fail_first = 0 OR d.created < ds.fail_first) THEN d.created"
	    " ELSE ds.fail_first END,"
	    " ds.last_any FROM devstate ds LEFT JOIN devices d ON d.mac = ds.mac"
	    " LEFT JOIN contacts c ON c.mac = ds.mac"
	    " WHERE ds.inv <> 1 AND (ds.inv = 2 OR ds.fail_total > 0)"
	    " ORDER BY ds.last_any DESC, ds.mac LIMIT ?1",
	[CS_SOURCES] = "SELECT reason, ip, n, first_seen, last_seen FROM failsrc"
	    " ORDER BY last_seen DESC, reason, ip LIMIT ?1",
	[CS_BY_STATUS] = "SELECT status, count(*) FROM devstate WHERE inv = 1"
	    " GROUP BY status UNION ALL SELECT -1, count(*) FROM devstate"
	    " WHERE inv = 2",
	[CS_SERIES_GET] = "SELECT bucket, kind, n FROM series WHERE bucket >= ?1",
};

static sp_result
cs_get(sq_store *s, int id, sqlite3_stmt **out)
{
	return sq_st_cached(s, &s->cs[id], cs_sql[id], out);
}

void
sq_cs_close(sq_store *s)
{
	for (int i = 0; i < CS_COUNT_; i++)
		sqlite3_finalize(s->cs[i]);
}

/* Run statement id on one MAC. */
static sp_result
run_mac(sq_store *s, int id, const char *ma, const char *what)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(cs_get(s, id, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	TRY(sq_step_done(s, st, what));
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_cs_level(sq_store *s, int level, const char *key)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	uint64_t gen;

	TRY(sq_read_gen(s, &gen));
	for (int id = CS_LEVELGEN; id != -1;
	    id = id == CS_LEVELGEN ? CS_BEHIND + level : -1) {
		TRY(cs_get(s, id, &st));
		BIND(s, sqlite3_bind_int(st, 1, level));
		BIND(s, sq_bind_str(st, 2, key ? key : ""));
		BIND(s, sqlite3_bind_int64(st, 3, (int64_t)gen));
		TRY(sq_step_done(s, st, "recording a level's change"));
		sq_st_done(st);
		st = NULL;
	}
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_cs_device(sq_store *s, const char *ma)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	int changes;

	TRY(cs_get(s, CS_DEV_SYNC, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	TRY(sq_step_done(s, st, "recording a device's state"));
	changes = sqlite3_changes(s->db);
	sq_st_done(st);
	st = NULL;
	if (changes == 0) {
		/* Removed: its records go with it, as its contact record does. */
		for (int id = CS_GONE_STATE; id <= CS_GONE_COUNTS; id++)
			TRY(run_mac(s, id, ma, "removing a device's records"));
		goto out;
	}
	TRY(sq_cs_level(s, SP_LEVEL_DEVICE, ma));
	TRY(run_mac(s, CS_STATUS, ma, "updating a device's status"));
out:
	sq_st_done(st);
	return res;
}

/* One event into the MAC's ring: slot from the counter RETURNING gave. */
static sp_result
event_put(sq_store *s, const char *ma, int64_t nth, const sp_dev_event *e)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	int slot = (int)((nth - 1) % SP_FAIL_EVENTS_KEEP) +
	    (e->failure ? SP_FAIL_EVENTS_KEEP : 0);

	TRY(cs_get(s, CS_EVENT, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int(st, 2, slot));
	BIND(s, sqlite3_bind_int64(st, 3, e->time));
	BIND(s, sqlite3_bind_int(st, 4, e->failure ? 1 : 0));
	BIND(s, sqlite3_bind_int(st, 5, e->http));
	BIND(s, sqlite3_bind_int(st, 6, (int)e->reason));
	BIND(s, sqlite3_bind_int64(st, 7, e->count));
	BIND(s, sq_bind_str(st, 8, e->ip));
	BIND(s, sq_bind_str(st, 9, e->etag));
	BIND(s, sq_bind_str(st, 10, e->detail));
	TRY(sq_step_done(s, st, "recording an event"));
out:
	sq_st_done(st);
	return res;
}

/* Step an upsert of ma's devstate row, then read its counter and inv. */
static sp_result
step_counters(sq_store *s, sqlite3_stmt *up, const char *ma, bool failure,
    int64_t *n, int *inv, const char *what)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(sq_step_done(s, up, what));
	TRY(cs_get(s, CS_COUNTERS, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, what);
		goto out;
	}
	*n = sqlite3_column_int64(st, failure ? 1 : 0);
	*inv = sqlite3_column_int(st, 2);
out:
	sq_st_done(st);
	return res;
}

static sp_result
series_flush(sq_store *s, sp_cs_agg *a)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	for (int i = 0; i < a->n; i++) {
		TRY(cs_get(s, CS_SERIES, &st));
		BIND(s, sqlite3_bind_int64(st, 1, a->v[i].bucket));
		BIND(s, sqlite3_bind_int(st, 2, a->v[i].kind));
		BIND(s, sqlite3_bind_int64(st, 3, a->v[i].count));
		TRY(sq_step_done(s, st, "recording the series"));
		sq_st_done(st);
		st = NULL;
	}
	if (a->n) {
		TRY(cs_get(s, CS_SERIES_PRUNE, &st));
		BIND(s, sqlite3_bind_int64(st, 1, a->newest - SP_CS_SERIES_KEEP));
		TRY(sq_step_done(s, st, "pruning the series"));
	}
	a->n = 0;
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_cs_series_add(sq_store *s, sp_cs_agg *a, int64_t time, int kind,
    int64_t count)
{
	sp_result res = SP_OK;

	if (!sp_cs_agg_add(a, time, kind, count)) {
		TRY(series_flush(s, a));
		(void)sp_cs_agg_add(a, time, kind, count);
	}
out:
	return res;
}

sp_result
sq_cs_series_flush(sq_store *s, sp_cs_agg *a)
{
	return series_flush(s, a);
}

sp_result
sq_cs_contact(sq_store *s, const char *ma, const sp_contact *c, sp_cs_agg *a)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	sp_dev_event e;
	int64_t nth = 0;
	int inv = 0;

	TRY(cs_get(s, CS_CONTACT, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int64(st, 2, c->time));
	BIND(s, sqlite3_bind_int(st, 3, c->status));
	BIND(s, sqlite3_bind_int64(st, 4, (int64_t)c->gen));
	BIND(s, sq_bind_str(st, 5, c->etag));
	BIND(s, sq_bind_str(st, 6, c->cert_serial));
	BIND(s, sqlite3_bind_int64(st, 7, c->cert_not_after));
	TRY(step_counters(s, st, ma, false, &nth, &inv,
	    "recording a contact's state"));
	memset(&e, 0, sizeof(e));
	e.time = c->time;
	e.http = c->status;
	e.count = 1;
	snprintf(e.ip, sizeof(e.ip), "%s", c->ip);
	snprintf(e.etag, sizeof(e.etag), "%s", c->etag);
	TRY(event_put(s, ma, nth, &e));
	(void)inv;   /* the upsert set the status */
	if (c->status == 200 || c->status == 304)
		TRY(sq_cs_series_add(s, a, c->time, SP_CS_KIND_RESYNC, 1));
out:
	sq_st_done(st);
	return res;
}

static sp_result
failure_named(sq_store *s, const sp_failure *f)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	sp_dev_event e;
	int64_t nth = 0;
	int inv = 0;

	sp_mac_format(&f->mac, SP_MAC_MA, ma);
	TRY(cs_get(s, CS_FAIL, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int64(st, 2, f->time));
	BIND(s, sqlite3_bind_int(st, 3, (int)f->reason));
	BIND(s, sq_bind_str(st, 4, f->ip));
	BIND(s, sqlite3_bind_int64(st, 5, f->count));
	BIND(s, sq_bind_str(st, 6, f->cert_serial));
	TRY(step_counters(s, st, ma, true, &nth, &inv, "recording a failure"));
	sq_st_done(st);
	TRY(cs_get(s, CS_FAILCOUNT, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int(st, 2, (int)f->reason));
	BIND(s, sqlite3_bind_int64(st, 3, f->count));
	TRY(sq_step_done(s, st, "counting a failure"));
	memset(&e, 0, sizeof(e));
	e.time = f->time;
	e.failure = true;
	e.reason = f->reason;
	e.count = f->count;
	snprintf(e.ip, sizeof(e.ip), "%s", f->ip);
	snprintf(e.detail, sizeof(e.detail), "%s", f->detail);
	TRY(event_put(s, ma, nth, &e));
	if (inv == 1)
		TRY(run_mac(s, CS_STATUS, ma, "updating a device's status"));
out:
	sq_st_done(st);
	return res;
}

static sp_result
failure_nameless(sq_store *s, const sp_failure *f)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(cs_get(s, CS_FAILSRC, &st));
	BIND(s, sqlite3_bind_int(st, 1, (int)f->reason));
	BIND(s, sq_bind_str(st, 2, f->ip));
	BIND(s, sqlite3_bind_int64(st, 3, f->count));
	BIND(s, sqlite3_bind_int64(st, 4, f->time));
	TRY(sq_step_done(s, st, "counting a failure"));
out:
	sq_st_done(st);
	return res;
}

sp_result
sq_failure_batch(sp_store *base, const sp_failure *v, size_t n)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_cs_agg agg = { 0 };
	bool mine = false, nameless = false;

	TRY(sq_tx_begin(s, true, &mine));
	for (size_t i = 0; i < n; i++) {
		if (v[i].has_mac)
			TRY(failure_named(s, &v[i]));
		else {
			TRY(failure_nameless(s, &v[i]));
			nameless = true;
		}
		TRY(sq_cs_series_add(s, &agg, v[i].time,
		    SP_CS_KIND_FAIL(v[i].reason), v[i].count));
	}
	TRY(series_flush(s, &agg));
	if (nameless) {
		TRY(cs_get(s, CS_FAILSRC_PRUNE, &st));
		BIND(s, sqlite3_bind_int(st, 1, SP_FAIL_SOURCES_MAX));
		TRY(sq_step_done(s, st, "bounding the failure sources"));
	}
out:
	sq_st_done(st);
	/* Failures change no answer of the server: no generation. */
	return sq_tx_end(s, mine, false, res);
}

/* ---- reading ------------------------------------------------------------- */

static sp_result
row_read(sqlite3_stmt *st, sp_inv_row *r)
{
	sp_result res = SP_OK;
	const char *ma = (const char *)sqlite3_column_text(st, 0);

	memset(r, 0, sizeof(*r));
	ENSURE(ma, SP_E_DB, "a device row without a MAC");
	TRY(sp_mac_parse(sp_slice_of(ma), &r->dev.mac));
	TRY(sq_row_device(st, 1, &r->dev));
	r->status = (sp_dev_status)sqlite3_column_int(st, 7);
	ENSURE((unsigned)r->status < SP_DST_N, SP_E_DB, "device %s: bad status",
	    ma);
	r->last_seen = sqlite3_column_int64(st, 8);
	sq_col_copy(st, 9, r->last_ip, sizeof(r->last_ip));
	r->last_http = sqlite3_column_int(st, 10);
	sq_col_copy(st, 11, r->ua, sizeof(r->ua));
	r->last_fail = sqlite3_column_int64(st, 12);
	r->last_reason = sp_cs_reason_of(sqlite3_column_int(st, 13));
	sq_col_copy(st, 14, r->cert_serial, sizeof(r->cert_serial));
	r->cert_not_after = sqlite3_column_int64(st, 15);
out:
	return res;
}

static sp_result
bind_args(sq_store *s, sqlite3_stmt *st, const sp_cs_sql *q)
{
	sp_result res = SP_OK;

	for (int i = 0; i < q->nargs; i++) {
		if (q->args[i].is_int)
			BIND(s, sqlite3_bind_int64(st, i + 1, q->args[i].i));
		else
			BIND(s, sqlite3_bind_text(st, i + 1, q->args[i].s, -1,
			    SQLITE_TRANSIENT));
	}
out:
	return res;
}

/* Whether q's text matches so few rows that reading them all is cheaper. */
static sp_result
few_matches(sq_store *s, const sp_inv_query *q, bool *few)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	sp_cs_sql p;
	bool none;

	*few = false;
	TRY(sp_cs_inv_probe(q, '?', &p, &none));
	if (none)
		goto out;
	if (sqlite3_prepare_v2(s->db, sp_buf_cstr(&p.sql), -1, &st, NULL) !=
	    SQLITE_OK) {
		res = sq_dberr(s, "preparing the inventory query");
		goto out;
	}
	TRY(bind_args(s, st, &p));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "querying the inventory");
		goto out;
	}
	*few = sqlite3_column_int64(st, 0) < SP_CS_PROBE_MAX;
out:
	sqlite3_finalize(st);
	if (!none)
		sp_buf_free(&p.sql);
	return res;
}

sp_result
sq_inventory(sp_store *base, const sp_inv_query *q, sp_store_inv_cb cb,
    void *arg, char *next)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_cs_sql b = { 0 };
	sp_inv_row row, last;
	bool mine = false, few = false, built = false;
	int rc, n = 0;

	TRY(sq_tx_begin(s, false, &mine));
	TRY(few_matches(s, q, &few));
	TRY(sp_cs_inv_build(q, '?', !few, &b));
	built = true;
	if (sqlite3_prepare_v2(s->db, sp_buf_cstr(&b.sql), -1, &st, NULL) !=
	    SQLITE_OK) {
		res = sq_dberr(s, "preparing the inventory query");
		goto out;
	}
	TRY(bind_args(s, st, &b));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == q->limit) {
			sp_cs_cursor(q, &last, next);
			break;
		}
		TRY(row_read(st, &row));
		TRY(cb(arg, &row));
		last = row;
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		res = sq_dberr(s, "querying the inventory");
out:
	sqlite3_finalize(st);
	if (built)
		sp_buf_free(&b.sql);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_device_detail(sp_store *base, const sp_mac *mac, sp_dev_detail *out,
    bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;
	int rc;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, false, &mine));
	TRY(cs_get(s, CS_DETAIL, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	if (rc != SQLITE_ROW) {
		res = sq_dberr(s, "reading a device");
		goto out;
	}
	TRY(row_read(st, &out->row));
	sq_col_copy(st, 16, out->fetched_etag, sizeof(out->fetched_etag));
	out->fetched_gen = (uint64_t)sqlite3_column_int64(st, 17);
	out->changed_gen = (uint64_t)sqlite3_column_int64(st, 18);
	sq_st_done(st);
	TRY(cs_get(s, CS_COUNTS, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int r = sqlite3_column_int(st, 0);

		if ((unsigned)r < SP_FAIL_N)
			out->fail_counts[r] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	ENSURE(rc == SQLITE_DONE, SP_E_DB, "reading failure counts: %s",
	    sqlite3_errmsg(s->db));
	sq_st_done(st);
	TRY(cs_get(s, CS_EVENTS, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    out->nevents < (int)SP_ARRAY_LEN(out->events)) {
		sp_dev_event *e = &out->events[out->nevents++];
		int r = sqlite3_column_int(st, 3);

		e->time = sqlite3_column_int64(st, 0);
		e->failure = sqlite3_column_int(st, 1) != 0;
		e->http = sqlite3_column_int(st, 2);
		e->reason = sp_cs_reason_of(r);
		e->count = (uint32_t)sqlite3_column_int64(st, 4);
		sq_col_copy(st, 5, e->ip, sizeof(e->ip));
		sq_col_copy(st, 6, e->etag, sizeof(e->etag));
		sq_col_copy(st, 7, e->detail, sizeof(e->detail));
	}
	ENSURE(rc == SQLITE_DONE || rc == SQLITE_ROW, SP_E_DB,
	    "reading events: %s", sqlite3_errmsg(s->db));
	sp_cs_events_sort(out->events, out->nevents);
	*found = true;
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_unknown_list(sp_store *base, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	sp_unknown_row r;
	bool mine = false;
	int rc, n = 0;

	TRY(sq_tx_begin(s, false, &mine));
	TRY(cs_get(s, CS_UNKNOWN, &st));
	BIND(s, sqlite3_bind_int(st, 1, limit));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *ma = (const char *)sqlite3_column_text(st, 0);

		memset(&r, 0, sizeof(r));
		ENSURE(ma, SP_E_DB, "a row without a MAC");
		TRY(sp_mac_parse(sp_slice_of(ma), &r.mac));
		r.has_mac = true;
		r.pending = sqlite3_column_int(st, 1) == 2;
		sq_col_copy(st, 2, r.serial, sizeof(r.serial));
		sq_col_copy(st, 3, r.product, sizeof(r.product));
		sq_col_copy(st, 4, r.ip, sizeof(r.ip));
		r.reason = sp_cs_reason_of(sqlite3_column_int(st, 5));
		r.count = (uint64_t)sqlite3_column_int64(st, 6);
		r.first_seen = sqlite3_column_int64(st, 7);
		r.last_seen = sqlite3_column_int64(st, 8);
		TRY(cb(arg, &r));
		n++;
	}
	ENSURE(rc == SQLITE_DONE, SP_E_DB, "listing unknown devices: %s",
	    sqlite3_errmsg(s->db));
	sq_st_done(st);
	st = NULL;
	if (n >= limit)
		goto out;
	TRY(cs_get(s, CS_SOURCES, &st));
	BIND(s, sqlite3_bind_int(st, 1, limit - n));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.reason = sp_cs_reason_of(sqlite3_column_int(st, 0));
		sq_col_copy(st, 1, r.ip, sizeof(r.ip));
		r.count = (uint64_t)sqlite3_column_int64(st, 2);
		r.first_seen = sqlite3_column_int64(st, 3);
		r.last_seen = sqlite3_column_int64(st, 4);
		TRY(cb(arg, &r));
	}
	ENSURE(rc == SQLITE_DONE, SP_E_DB, "listing failure sources: %s",
	    sqlite3_errmsg(s->db));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

sp_result
sq_summary(sp_store *base, int64_t start, sp_summary *out)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	bool mine = false;
	int rc;

	TRY(sq_tx_begin(s, false, &mine));
	TRY(cs_get(s, CS_BY_STATUS, &st));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sp_cs_summary_count(out, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1));
	ENSURE(rc == SQLITE_DONE, SP_E_DB, "counting devices: %s",
	    sqlite3_errmsg(s->db));
	sq_st_done(st);
	TRY(cs_get(s, CS_SERIES_GET, &st));
	BIND(s, sqlite3_bind_int64(st, 1, start));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sp_cs_summary_series(out, start, sqlite3_column_int64(st, 0),
		    sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	ENSURE(rc == SQLITE_DONE, SP_E_DB, "reading the series: %s",
	    sqlite3_errmsg(s->db));
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

