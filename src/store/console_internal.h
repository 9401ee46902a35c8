/*
 * Between src/store/console.c (the front of store/console.h: names,
 * the inventory query, its cursor) and the backends' console files
 * (sqlite_console.c, pgsql_console.c).  Private to src/store.
 */
#ifndef SPROV_STORE_CONSOLE_INTERNAL_H
#define SPROV_STORE_CONSOLE_INTERNAL_H

#include "common/buf.h"
#include "store/console.h"

/* Rows of the five-minute series: kind 0 resyncs, 1 + reason failures. */
#define SP_CS_KIND_RESYNC 0
#define SP_CS_KIND_FAIL(r) (1 + (int)(r))
#define SP_CS_SERIES_KEEP (7 * 24 * 3600)   /* seconds of series kept */

/*
 * A batch's additions to the series, summed in memory so a batch writes
 * one row per (bucket, kind) instead of one per entry.
 */
#define SP_CS_AGG_MAX 64
typedef struct sp_cs_agg {
	int n;
	int64_t newest;                        /* newest bucket seen */
	struct { int64_t bucket; int kind; int64_t count; } v[SP_CS_AGG_MAX];
} sp_cs_agg;

/* false: full (flush it, then add again). */
bool sp_cs_agg_add(sp_cs_agg *a, int64_t time, int kind, int64_t count);

/* The bucket a time falls in. */
int64_t sp_cs_bucket(int64_t t);

/* One bound value of a built statement. */
typedef struct sp_cs_arg {
	bool is_int;
	int64_t i;
	char s[2 * SP_STORE_FIELD_MAX + 2];
} sp_cs_arg;

#define SP_CS_ARGS_MAX 16
/*
 * An inventory page as SQL, built from constant fragments; values only
 * ever as bound parameters (ph '?' for SQLite's ?N, '$' for libpq's $N).
 * Columns: sp_cs_inv_cols below.  limit + 1 rows are asked for: the extra
 * one says there is a next page.
 */
typedef struct sp_cs_sql {
	sp_buf sql;
	int nargs;
	sp_cs_arg args[SP_CS_ARGS_MAX];
} sp_cs_sql;

/*
 * The selected columns of an inventory row, in order:
 *  0 mac, 1 serial, 2 product, 3 grp, 4 enabled, 5 pending, 6 created,
 *  7 status, 8 last_seen, 9 last_ip, 10 last_http, 11 ua, 12 fail_time,
 *  13 fail_reason, 14 cert_serial, 15 cert_not_after
 */
#define SP_CS_INV_NCOLS 16
extern const char sp_cs_inv_cols[];

/*
 * Check q and build its page's statement (sp_buf_free(&out->sql) after).
 * sort_index: name the sort's index (SQLite's INDEXED BY) so the page is
 * read in order from it; false lets the planner pick (a q that matches
 * few rows: reading those and sorting them is cheaper).
 */
SP_MUST_CHECK sp_result sp_cs_inv_build(const sp_inv_query *q, char ph,
    bool sort_index, sp_cs_sql *out);
/*
 * The statement that counts, up to SP_CS_PROBE_MAX, the rows q's text
 * matches; *none when q has no text (no probe needed).
 */
#define SP_CS_PROBE_MAX 1000
SP_MUST_CHECK sp_result sp_cs_inv_probe(const sp_inv_query *q, char ph,
    sp_cs_sql *out, bool *none);
/* The cursor of the page after the row (its sort key and MAC). */
void sp_cs_cursor(const sp_inv_query *q, const sp_inv_row *row,
    char next[SP_INV_CURSOR_MAX + 1]);

/* A stored reason; one out of range reads as "handshake". */
sp_fail_reason sp_cs_reason_of(int64_t v);
/* One row of the status counts (status -1: the pending devices). */
void sp_cs_summary_count(sp_summary *out, int64_t status, int64_t n);
/* One row of the series (bucket, kind, n) into out, from start on. */
void sp_cs_summary_series(sp_summary *out, int64_t start, int64_t bucket,
    int64_t kind, int64_t n);

/* A device's events, newest first (device detail). */
void sp_cs_events_sort(sp_dev_event *ev, int n);

#endif
