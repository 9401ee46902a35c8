/*
 * The console's records (store/console.h): names and parsers, and the
 * front every backend's console functions go through.
 */
#include "store/console.h"
#include "store/console_internal.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char *const fail_names[SP_FAIL_N] = {
	[SP_FAIL_REVOKED] = "revoked",
	[SP_FAIL_EXPIRED] = "expired",
	[SP_FAIL_NOT_YET_VALID] = "not-yet-valid",
	[SP_FAIL_WRONG_PURPOSE] = "wrong-purpose",
	[SP_FAIL_UNTRUSTED] = "untrusted",
	[SP_FAIL_NO_CRL] = "no-crl",
	[SP_FAIL_NO_CERT] = "no-certificate",
	[SP_FAIL_BAD_IDENTITY] = "bad-identity",
	[SP_FAIL_UNKNOWN_DEVICE] = "unknown-device",
	[SP_FAIL_DISABLED] = "disabled",
	[SP_FAIL_MISMATCH] = "identity-mismatch",
	[SP_FAIL_HANDSHAKE] = "handshake",
};

static const char *const status_names[SP_DST_N] = {
	[SP_DST_OK] = "ok",
	[SP_DST_BEHIND] = "behind",
	[SP_DST_FAILING] = "failing",
	[SP_DST_NEVER_SEEN] = "never-seen",
	[SP_DST_DISABLED] = "disabled",
	[SP_DST_REVOKED] = "revoked",
};

const char *
sp_fail_reason_name(sp_fail_reason r)
{
	return (unsigned)r < SP_FAIL_N ? fail_names[r] : "?";
}

sp_result
sp_fail_reason_parse(const char *s, sp_fail_reason *out)
{
	for (int i = 0; s && i < SP_FAIL_N; i++)
		if (strcmp(s, fail_names[i]) == 0) {
			*out = (sp_fail_reason)i;
			return SP_OK;
		}
	return sp_error(SP_E_PARSE, "unknown failure reason");
}

const char *
sp_dev_status_name(sp_dev_status st)
{
	return (unsigned)st < SP_DST_N ? status_names[st] : "?";
}

sp_result
sp_dev_status_parse(const char *s, sp_dev_status *out)
{
	for (int i = 0; s && i < SP_DST_N; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (sp_dev_status)i;
			return SP_OK;
		}
	return sp_error(SP_E_PARSE, "unknown device status: expected ok, "
	    "behind, failing, never-seen, disabled or revoked");
}


/* ---- the series --------------------------------------------------------- */

int64_t
sp_cs_bucket(int64_t t)
{
	int64_t b = t - t % SP_SERIES_STEP;

	return t < 0 && t % SP_SERIES_STEP ? b - SP_SERIES_STEP : b;
}

bool
sp_cs_agg_add(sp_cs_agg *a, int64_t time, int kind, int64_t count)
{
	int64_t b = sp_cs_bucket(time);

	if (b > a->newest)
		a->newest = b;
	for (int i = 0; i < a->n; i++)
		if (a->v[i].bucket == b && a->v[i].kind == kind) {
			a->v[i].count += count;
			return true;
		}
	if (a->n == SP_CS_AGG_MAX)
		return false;
	a->v[a->n].bucket = b;
	a->v[a->n].kind = kind;
	a->v[a->n].count = count;
	a->n++;
	return true;
}

/* ---- the inventory query ------------------------------------------------ */

const char sp_cs_inv_cols[] =
    "ds.mac, d.serial, d.product, d.grp, d.enabled, d.pending, d.created, "
    "ds.status, ds.last_seen, c.ip, ds.last_http, c.ua, ds.fail_time, "
    "ds.fail_reason, ds.cert_serial, ds.cert_not_after";

/* The sort's column and its indexes (SQLite's names), per sort. */
static const struct {
	char tag;
	const char *col;        /* NULL: the MAC alone */
	const char *index;      /* without a status filter */
	const char *index_st;   /* with one */
} sorts[] = {
	[SP_INV_SORT_MAC] = { 'm', NULL, "ds_inv_mac", "ds_st_mac" },
	[SP_INV_SORT_LAST_SEEN] = { 'l', "ds.last_seen", "ds_inv_seen",
	    "ds_st_seen" },
	[SP_INV_SORT_SERIAL] = { 's', "ds.serial", "ds_inv_serial",
	    "ds_st_serial" },
};

static bool
sort_ok(sp_inv_sort s)
{
	return (unsigned)s <= SP_INV_SORT_SERIAL;
}

static sp_result
arg_int(sp_cs_sql *o, char ph, int64_t v)
{
	sp_result res = SP_OK;

	ENSURE(o->nargs < SP_CS_ARGS_MAX, SP_E_INTERNAL,
	    "inventory query: too many parameters");
	o->args[o->nargs].is_int = true;
	o->args[o->nargs].i = v;
	o->nargs++;
	TRY(sp_buf_printf(&o->sql, "%c%d", ph, o->nargs));
out:
	return res;
}

static sp_result
arg_str(sp_cs_sql *o, char ph, const char *v)
{
	sp_result res = SP_OK;

	ENSURE(o->nargs < SP_CS_ARGS_MAX, SP_E_INTERNAL,
	    "inventory query: too many parameters");
	ENSURE(strlen(v) < sizeof(o->args[0].s), SP_E_INTERNAL,
	    "inventory query: a parameter is too long");
	o->args[o->nargs].is_int = false;
	strcpy(o->args[o->nargs].s, v);
	o->nargs++;
	TRY(sp_buf_printf(&o->sql, "%c%d", ph, o->nargs));
out:
	return res;
}

/* The first string above every one that starts with p (p printable). */
static void
prefix_hi(const char *p, char *hi, size_t hisz)
{
	size_t n = strlen(p);

	snprintf(hi, hisz, "%s", p);
	if (n)
		hi[n - 1]++;
}

/* q as a MAC prefix: separators dropped, lower case; false if not one. */
static bool
mac_prefix(const char *q, char out[13])
{
	size_t n = 0;

	for (; *q; q++) {
		char c = *q;

		if (c == ':' || c == '-' || c == '.')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) ||
		    n == 12)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return n > 0;
}

static sp_result
q_check(const sp_inv_query *q)
{
	sp_result res = SP_OK;

	ENSURE(q->limit >= 1 && q->limit <= SP_INV_LIMIT_MAX, SP_E_USAGE,
	    "inventory: limit must be 1 to %d", SP_INV_LIMIT_MAX);
	ENSURE(q->status >= -1 && q->status < SP_DST_N, SP_E_USAGE,
	    "inventory: unknown status");
	ENSURE(sort_ok(q->sort), SP_E_USAGE, "inventory: unknown sort");
	ENSURE(q->seen_after >= 0 && q->seen_before >= 0, SP_E_USAGE,
	    "inventory: seen_after and seen_before are unix times");
	if (q->q && *q->q) {
		size_t n = strlen(q->q);

		ENSURE(n <= SP_INV_Q_MAX, SP_E_USAGE,
		    "inventory: q is longer than %d bytes", SP_INV_Q_MAX);
		for (size_t i = 0; i < n; i++)
			ENSURE(q->q[i] >= 0x20 && q->q[i] <= 0x7e, SP_E_USAGE,
			    "inventory: q must be printable ASCII");
	}
out:
	return res;
}

/*
 * q as ranges, one per column it may match: the MAC (when q reads as a
 * MAC prefix), serial, product, group.  Each is a range of one index.
 */
typedef struct q_ranges {
	int n;
	const char *col[4];
	char lo[4][SP_INV_Q_MAX + 1];
	char hi[4][SP_INV_Q_MAX + 2];
} q_ranges;

static void
q_ranges_of(const sp_inv_query *q, q_ranges *r)
{
	static const char *const cols[] = { "serial", "product", "grp" };
	char mp[13];

	r->n = 0;
	if (!q->q || !*q->q)
		return;
	if (mac_prefix(q->q, mp)) {
		r->col[r->n] = "mac";
		snprintf(r->lo[r->n], sizeof(r->lo[0]), "%s", mp);
		prefix_hi(mp, r->hi[r->n], sizeof(r->hi[0]));
		r->n++;
	}
	for (size_t i = 0; i < SP_ARRAY_LEN(cols); i++) {
		r->col[r->n] = cols[i];
		snprintf(r->lo[r->n], sizeof(r->lo[0]), "%s", q->q);
		prefix_hi(q->q, r->hi[r->n], sizeof(r->hi[0]));
		r->n++;
	}
}

/* "PREFIX col >= lo AND PREFIX col < hi" */
static sp_result
q_range(const q_ranges *r, int i, const char *prefix, char ph, sp_cs_sql *o)
{
	sp_result res = SP_OK;

	TRY(sp_buf_printf(&o->sql, "%s%s >= ", prefix, r->col[i]));
	TRY(arg_str(o, ph, r->lo[i]));
	TRY(sp_buf_printf(&o->sql, " AND %s%s < ", prefix, r->col[i]));
	TRY(arg_str(o, ph, r->hi[i]));
out:
	return res;
}

/* " AND (range OR range ...)": q tested on rows read in the sort's order. */
static sp_result
q_terms(const sp_inv_query *q, char ph, sp_cs_sql *o)
{
	sp_result res = SP_OK;
	q_ranges r;

	q_ranges_of(q, &r);
	if (r.n == 0)
		goto out;
	TRY(sp_buf_append_str(&o->sql, " AND ("));
	for (int i = 0; i < r.n; i++) {
		TRY(sp_buf_append_str(&o->sql, i ? " OR (" : "("));
		TRY(q_range(&r, i, "ds.", ph, o));
		TRY(sp_buf_append_str(&o->sql, ")"));
	}
	TRY(sp_buf_append_str(&o->sql, ")"));
out:
	return res;
}

/* "(SELECT mac ... UNION ...) m": the MACs q matches, read from its ranges. */
static sp_result
q_union(const sp_inv_query *q, char ph, sp_cs_sql *o)
{
	sp_result res = SP_OK;
	q_ranges r;

	q_ranges_of(q, &r);
	TRY(sp_buf_append_str(&o->sql, "(SELECT mac FROM devstate WHERE "
	    "inv = 1 AND "));
	for (int i = 0; i < r.n; i++) {
		if (i)
			TRY(sp_buf_append_str(&o->sql, " UNION SELECT mac FROM "
			    "devstate WHERE inv = 1 AND "));
		TRY(q_range(&r, i, "", ph, o));
	}
	TRY(sp_buf_append_str(&o->sql, ") m"));
out:
	return res;
}

/* " AND status = .. AND last_seen >= .. AND last_seen < .." [q's terms] */
static sp_result
filter_terms(const sp_inv_query *q, char ph, bool with_q, sp_cs_sql *o)
{
	sp_result res = SP_OK;

	if (q->status >= 0) {
		TRY(sp_buf_append_str(&o->sql, " AND ds.status = "));
		TRY(arg_int(o, ph, q->status));
	}
	if (q->seen_after) {
		TRY(sp_buf_append_str(&o->sql, " AND ds.last_seen >= "));
		TRY(arg_int(o, ph, q->seen_after));
	}
	if (q->seen_before) {
		TRY(sp_buf_append_str(&o->sql, " AND ds.last_seen < "));
		TRY(arg_int(o, ph, q->seen_before));
	}
	if (with_q)
		TRY(q_terms(q, ph, o));
out:
	return res;
}

static int
unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Cursor: 'c', the sort's tag, 'a' or 'd', the MAC (12 hex), then the
 * sort key as hex of its text (last-seen: decimal; serial: its bytes).
 */
void
sp_cs_cursor(const sp_inv_query *q, const sp_inv_row *row,
    char next[SP_INV_CURSOR_MAX + 1])
{
	char key[SP_STORE_FIELD_MAX + 1] = "";
	char ma[SP_MAC_STRLEN];
	size_t n;

	if (q->sort == SP_INV_SORT_LAST_SEEN)
		snprintf(key, sizeof(key), "%lld", (long long)row->last_seen);
	else if (q->sort == SP_INV_SORT_SERIAL)
		snprintf(key, sizeof(key), "%s", row->dev.serial);
	sp_mac_format(&row->dev.mac, SP_MAC_MA, ma);
	n = (size_t)snprintf(next, SP_INV_CURSOR_MAX + 1, "c%c%c%s",
	    sorts[q->sort].tag, q->desc ? 'd' : 'a', ma);
	sp_hex((const uint8_t *)key, strlen(key), next + n);
}

static sp_result
cursor_decode(const sp_inv_query *q, char mac[13], char key[SP_STORE_FIELD_MAX + 1],
    int64_t *ikey)
{
	sp_result res = SP_OK;
	const char *c = q->after;
	size_t n = strlen(c), klen;

	ENSURE(n >= 15 && n <= SP_INV_CURSOR_MAX && c[0] == 'c' &&
	    c[1] == sorts[q->sort].tag && c[2] == (q->desc ? 'd' : 'a'),
	    SP_E_PARSE, "inventory: the cursor is not one of this query's");
	for (int i = 0; i < 12; i++)
		ENSURE(unhex(c[3 + i]) >= 0, SP_E_PARSE,
		    "inventory: the cursor does not decode");
	memcpy(mac, c + 3, 12);
	mac[12] = '\0';
	klen = (n - 15) / 2;
	ENSURE((n - 15) % 2 == 0 && klen <= SP_STORE_FIELD_MAX, SP_E_PARSE,
	    "inventory: the cursor does not decode");
	for (size_t i = 0; i < klen; i++) {
		int hi = unhex(c[15 + 2 * i]), lo = unhex(c[16 + 2 * i]);

		ENSURE(hi >= 0 && lo >= 0, SP_E_PARSE,
		    "inventory: the cursor does not decode");
		key[i] = (char)(hi << 4 | lo);
		ENSURE(key[i] >= 0x20 && key[i] <= 0x7e, SP_E_PARSE,
		    "inventory: the cursor does not decode");
	}
	key[klen] = '\0';
	if (q->sort == SP_INV_SORT_MAC)
		ENSURE(klen == 0, SP_E_PARSE, "inventory: the cursor does not decode");
	if (q->sort == SP_INV_SORT_LAST_SEEN) {
		res = sp_parse_i64(key, 0, INT64_MAX, "cursor", ikey);
		if (sp_failed(res))
			res = sp_error(SP_E_PARSE, "inventory: the cursor does not decode");
	}
out:
	return res;
}

sp_result
sp_cs_inv_build(const sp_inv_query *q, char ph, bool sort_index, sp_cs_sql *out)
{
	sp_result res = SP_OK;
	const char *dir = q->desc ? "DESC" : "ASC";
	char mac[13], key[SP_STORE_FIELD_MAX + 1];
	int64_t ikey = 0;
	bool union_q;

	memset(out, 0, sizeof(*out));
	sp_buf_init(&out->sql, 8192);
	TRY(q_check(q));
	union_q = !sort_index && q->q && *q->q;
	TRY(sp_buf_printf(&out->sql, "SELECT %s FROM ", sp_cs_inv_cols));
	if (union_q) {
		TRY(q_union(q, ph, out));
		TRY(sp_buf_append_str(&out->sql, " CROSS JOIN devstate ds"));
	} else {
		TRY(sp_buf_append_str(&out->sql, "devstate ds"));
		/* SQLite's hint; PostgreSQL's planner reads the sort off it. */
		if (sort_index && ph == '?')
			TRY(sp_buf_printf(&out->sql, " INDEXED BY %s",
			    q->status >= 0 ? sorts[q->sort].index_st :
			    sorts[q->sort].index));
	}
	TRY(sp_buf_append_str(&out->sql, " CROSS JOIN devices d LEFT JOIN "
	    "contacts c ON c.mac = ds.mac WHERE ds.inv = 1 AND d.mac = ds.mac"));
	if (union_q)
		TRY(sp_buf_append_str(&out->sql, " AND ds.mac = m.mac"));
	TRY(filter_terms(q, ph, !union_q, out));
	if (q->after && *q->after) {
		TRY(cursor_decode(q, mac, key, &ikey));
		if (sorts[q->sort].col) {
			TRY(sp_buf_printf(&out->sql, " AND (%s, ds.mac) %c (",
			    sorts[q->sort].col, q->desc ? '<' : '>'));
			if (q->sort == SP_INV_SORT_LAST_SEEN)
				TRY(arg_int(out, ph, ikey));
			else
				TRY(arg_str(out, ph, key));
			TRY(sp_buf_append_str(&out->sql, ", "));
			TRY(arg_str(out, ph, mac));
			TRY(sp_buf_append_str(&out->sql, ")"));
		} else {
			TRY(sp_buf_printf(&out->sql, " AND ds.mac %c ",
			    q->desc ? '<' : '>'));
			TRY(arg_str(out, ph, mac));
		}
	}
	TRY(sp_buf_append_str(&out->sql, " ORDER BY "));
	if (sorts[q->sort].col)
		TRY(sp_buf_printf(&out->sql, "%s %s, ", sorts[q->sort].col, dir));
	TRY(sp_buf_printf(&out->sql, "ds.mac %s LIMIT ", dir));
	TRY(arg_int(out, ph, q->limit + 1));
out:
	if (sp_failed(res))
		sp_buf_free(&out->sql);
	return res;
}

sp_result
sp_cs_inv_probe(const sp_inv_query *q, char ph, sp_cs_sql *out, bool *none)
{
	sp_result res = SP_OK;
	q_ranges r;

	memset(out, 0, sizeof(*out));
	sp_buf_init(&out->sql, 8192);
	*none = !q->q || !*q->q;
	if (*none)
		goto out;
	TRY(q_check(q));
	/* Capped counts per range: their sum bounds the rows q matches. */
	q_ranges_of(q, &r);
	TRY(sp_buf_append_str(&out->sql, "SELECT 0"));
	for (int i = 0; i < r.n; i++) {
		TRY(sp_buf_append_str(&out->sql, " + (SELECT count(*) FROM "
		    "(SELECT 1 FROM devstate WHERE inv = 1 AND "));
		TRY(q_range(&r, i, "", ph, out));
		TRY(sp_buf_append_str(&out->sql, " LIMIT "));
		TRY(arg_int(out, ph, SP_CS_PROBE_MAX));
		TRY(sp_buf_printf(&out->sql, ") t%d)", i));
	}
out:
	if (sp_failed(res) || *none)
		sp_buf_free(&out->sql);
	return res;
}

/* Newest first; a failure before a contact of the same second. */
static int
ev_cmp(const void *pa, const void *pb)
{
	const sp_dev_event *a = pa, *b = pb;

	if (a->time != b->time)
		return a->time > b->time ? -1 : 1;
	return (int)b->failure - (int)a->failure;
}

void
sp_cs_events_sort(sp_dev_event *ev, int n)
{
	qsort(ev, (size_t)n, sizeof(*ev), ev_cmp);
}

sp_fail_reason
sp_cs_reason_of(int64_t v)
{
	return v >= 0 && v < SP_FAIL_N ? (sp_fail_reason)v : SP_FAIL_HANDSHAKE;
}

void
sp_cs_summary_count(sp_summary *out, int64_t status, int64_t n)
{
	if (status == -1)
		out->pending = (uint64_t)n;
	else if (status >= 0 && status < SP_DST_N) {
		out->by_status[status] = (uint64_t)n;
		out->devices += (uint64_t)n;
	}
}

void
sp_cs_summary_series(sp_summary *out, int64_t start, int64_t bucket,
    int64_t kind, int64_t n)
{
	int64_t i = (bucket - start) / SP_SERIES_STEP;

	if (bucket < start || i >= SP_SERIES_POINTS)
		return;
	if (kind == SP_CS_KIND_RESYNC)
		out->resyncs[i] += (uint32_t)n;
	else if (kind >= 1 && kind <= SP_FAIL_N)
		out->fail_24h[kind - 1] += (uint64_t)n;
}

/* ---- the front ---------------------------------------------------------- */

sp_result
sp_store_failure_batch(sp_store *s, const sp_failure *v, size_t n)
{
	sp_result res = SP_OK;

	ENSURE(n <= SP_FAIL_BATCH_MAX, SP_E_LIMIT,
	    "failure batch of %zu entries: at most %d", n, SP_FAIL_BATCH_MAX);
	for (size_t i = 0; i < n; i++)
		ENSURE((unsigned)v[i].reason < SP_FAIL_N && v[i].count >= 1,
		    SP_E_USAGE, "failure batch: entry %zu has no valid reason "
		    "or count", i);
	if (n == 0)
		goto out;
	TRY(s->ops->failure_batch(s, v, n));
out:
	return res;
}

sp_result
sp_store_inventory(sp_store *s, const sp_inv_query *q, sp_store_inv_cb cb,
    void *arg, char next[SP_INV_CURSOR_MAX + 1])
{
	sp_result res = SP_OK;
	char after[SP_INV_CURSOR_MAX + 1] = "";
	sp_inv_query qq = *q;

	/* next may be the buffer q->after points into. */
	if (q->after) {
		ENSURE(strlen(q->after) <= SP_INV_CURSOR_MAX, SP_E_PARSE,
		    "inventory: the cursor does not decode");
		strcpy(after, q->after);
	}
	qq.after = after;
	next[0] = '\0';
	TRY(s->ops->inventory(s, &qq, cb, arg, next));
out:
	return res;
}

sp_result
sp_store_device_detail(sp_store *s, const sp_mac *mac, sp_dev_detail *out,
    bool *found)
{
	sp_result res = SP_OK;

	*found = false;
	memset(out, 0, sizeof(*out));
	TRY(s->ops->device_detail(s, mac, out, found));
out:
	return res;
}

sp_result
sp_store_unknown_list(sp_store *s, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg)
{
	sp_result res = SP_OK;

	ENSURE(limit >= 1, SP_E_USAGE, "unknown devices: limit must be >= 1");
	TRY(s->ops->unknown_list(s, limit, cb, arg));
out:
	return res;
}

sp_result
sp_store_summary(sp_store *s, int64_t now, sp_summary *out)
{
	sp_result res = SP_OK;

	memset(out, 0, sizeof(*out));
	out->series_start = sp_cs_bucket(now) -
	    (int64_t)(SP_SERIES_POINTS - 1) * SP_SERIES_STEP;
	TRY(s->ops->summary(s, out->series_start, out));
out:
	return res;
}
