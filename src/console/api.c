/*
 * The console's JSON API under /api/v1/ (docs/CONSOLE.md, the contract in
 * api14.md): summary, inventory, one device, parameter changes, secret
 * reveal, unknown devices, audit trail.  Every answer is built with
 * common/text.h's writers; secrets are masked by param_secret() alone.
 */
#include "console/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/json.h"
#include "common/text.h"
#include "common/util.h"
#include "common/version.h"
#include "identity/mac.h"
#include "profile/param.h"
#include "store/console.h"
#include "store/tokens.h"
#include "tls/tls.h"

#define API_SEGS_MAX 8
#define API_CRLS_MAX 64
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define DEVICE_AUDIT_MAX 50
#define UNKNOWN_LIMIT_DEFAULT 100
#define UNKNOWN_LIMIT_MAX 1000
#define NODES_SEEN_WITHIN 300        /* s: nodes that published since */

/*
 * The one masking rule (docs/CONSOLE.md "Secrets"): a parameter is secret
 * when its name contains, in any case, "pass" (Password_1_, Admin_Passwd),
 * "pwd", "secret", "token" or "credential".  Its value is sent as null
 * unless an admin asks for it (reveal, audited).
 */
static bool
param_secret(const char *name)
{
	static const char *const words[] = { "pass", "pwd", "secret", "token",
		"credential" };
	char low[256];
	size_t n = strlen(name);

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ?
		    name[i] - 'A' + 'a' : name[i]);
	low[n] = '\0';
	for (size_t i = 0; i < SP_ARRAY_LEN(words); i++)
		if (strstr(low, words[i]) != NULL)
			return true;
	return false;
}

static sp_result
jtime(sp_buf *b, int64_t t)
{
	return t > 0 ? sp_buf_printf(b, "%lld", (long long)t) :
	    sp_buf_append_str(b, "null");
}

/* A string, or null when empty. */
static sp_result
jstr_or_null(sp_buf *b, const char *s)
{
	return s && *s ? sp_json_cstr(b, s) : sp_buf_append_str(b, "null");
}

static sp_result
jmac(sp_buf *b, const sp_mac *m)
{
	char ma[SP_MAC_STRLEN];

	sp_mac_format(m, SP_MAC_MA, ma);
	return sp_buf_printf(b, "\"%s\"", ma);
}

/* The fields of one inventory row, without the braces. */
static sp_result
row_fields(sp_buf *b, const sp_inv_row *row)
{
	sp_result res = SP_OK;
	const sp_device *d = &row->dev;

	TRY(sp_buf_append_str(b, "\"mac\":"));
	TRY(jmac(b, &d->mac));
	TRY(sp_buf_append_str(b, ",\"serial\":"));
	TRY(sp_json_cstr(b, d->serial));
	TRY(sp_buf_append_str(b, ",\"product\":"));
	TRY(sp_json_cstr(b, d->product));
	TRY(sp_buf_append_str(b, ",\"group\":"));
	TRY(sp_json_cstr(b, d->group));
	TRY(sp_buf_printf(b, ",\"enabled\":%s,\"status\":\"%s\",\"last_seen\":",
	    d->enabled ? "true" : "false", sp_dev_status_name(row->status)));
	TRY(jtime(b, row->last_seen));
	TRY(sp_buf_append_str(b, ",\"last_ip\":"));
	TRY(jstr_or_null(b, row->last_ip));
	TRY(sp_buf_append_str(b, ",\"last_http\":"));
	TRY(row->last_http ? sp_buf_printf(b, "%d", row->last_http) :
	    sp_buf_append_str(b, "null"));
	TRY(sp_buf_append_str(b, ",\"user_agent\":"));
	TRY(jstr_or_null(b, row->ua));
	TRY(sp_buf_append_str(b, ",\"last_failure\":"));
	if (row->last_fail > 0)
		TRY(sp_buf_printf(b, "{\"time\":%lld,\"reason\":\"%s\"}",
		    (long long)row->last_fail, sp_fail_reason_name(row->last_reason)));
	else
		TRY(sp_buf_append_str(b, "null"));
	TRY(sp_buf_append_str(b, ",\"cert\":"));
	if (row->cert_serial[0]) {
		TRY(sp_buf_append_str(b, "{\"serial\":"));
		TRY(sp_json_cstr(b, row->cert_serial));
		TRY(sp_buf_append_str(b, ",\"not_after\":"));
		TRY(jtime(b, row->cert_not_after));
		TRY(sp_buf_append_str(b, "}"));
	} else
		TRY(sp_buf_append_str(b, "null"));
out:
	return res;
}

/* ---- query parameters ------------------------------------------------------ */

/* An integer query parameter in [min, max], def when absent; false: 400 sent. */
static bool
q_int(con_req *r, const char *name, int64_t min, int64_t max, int64_t def,
    int64_t *out)
{
	const char *v = con_query(r, name);

	*out = def;
	if (v == NULL)
		return true;
	if (sp_failed(sp_parse_i64(v, min, max, name, out))) {
		con_error(r, 400, "%s", sp_errmsg());
		sp_error_clear();
		return false;
	}
	return true;
}

/* ---- GET /api/v1/summary ---------------------------------------------------- */

static sp_result
summary_server(con_req *r, sp_buf *b)
{
	sp_result res = SP_OK;
	sp_tls_crl_info *v = NULL;
	char node[SP_NODE_NAME_MAX + 1];
	size_t n;

	sp_serve_node_name(r->c->srv, node);
	TRY(sp_buf_append_str(b, ",\"server\":{\"node\":"));
	TRY(sp_json_cstr(b, node));
	TRY(sp_buf_append_str(b, ",\"cert_not_after\":"));
	TRY(jtime(b, sp_serve_cert_not_after(r->c->srv)));
	TRY(sp_buf_append_str(b, ",\"crls\":["));
	TRY_ALLOC(v, calloc(API_CRLS_MAX, sizeof(*v)));
	n = sp_serve_crls(r->c->srv, v, API_CRLS_MAX);
	for (size_t i = 0; i < n; i++) {
		TRY(sp_buf_append_str(b, i ? ",{\"issuer\":" : "{\"issuer\":"));
		TRY(sp_json_cstr(b, v[i].issuer));
		TRY(sp_buf_append_str(b, ",\"next_update\":"));
		TRY(jtime(b, v[i].next_update));
		TRY(sp_buf_append_str(b, "}"));
	}
	TRY(sp_buf_append_str(b, "]}"));
out:
	free(v);
	return res;
}

typedef struct nodes_ctx {
	sp_buf *b;
	int64_t since;
	size_t n;
} nodes_ctx;

/*
 * One node's state as its store thread published it (cluster data
 * node:NAME, version = when; srv_node_state): the object with "seen"
 * added, once the JSON reader accepts it as a flat object.
 */
static sp_result
node_row(void *arg, const sp_cluster_row *row)
{
	sp_result res = SP_OK;
	nodes_ctx *c = arg;
	sp_json_obj o;

	sp_json_obj_init(&o);
	if (row->version < c->since || row->data.len < 2 ||
	    sp_failed(sp_json_obj_parse(&o, row->data))) {
		sp_error_clear();
		goto out;
	}
	TRY(sp_buf_printf(c->b, "%s{\"seen\":%lld%s", c->n ? "," : "",
	    (long long)row->version, o.n ? "," : ""));
	TRY(sp_buf_append(c->b, row->data.p + 1, row->data.len - 1));
	c->n++;
out:
	sp_json_obj_free(&o);
	return res;
}

static void
api_summary(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_summary *sum = NULL;
	nodes_ctx nc;
	sp_buf b;

	sp_buf_init(&b, CON_REPLY_MAX);
	TRY_ALLOC(sum, calloc(1, sizeof(*sum)));
	TRY(con_store(r, &st));
	TRY(sp_store_summary(st, r->now, sum));
	TRY(sp_buf_printf(&b, "{\"now\":%lld,\"devices\":%llu,\"pending\":%llu,"
	    "\"by_status\":{", (long long)r->now, (unsigned long long)sum->devices,
	    (unsigned long long)sum->pending));
	for (int i = 0; i < SP_DST_N; i++)
		TRY(sp_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "",
		    sp_dev_status_name((sp_dev_status)i),
		    (unsigned long long)sum->by_status[i]));
	TRY(sp_buf_printf(&b, "},\"series\":{\"start\":%lld,\"step\":%d,"
	    "\"resyncs\":[", (long long)sum->series_start, SP_SERIES_STEP));
	for (int i = 0; i < SP_SERIES_POINTS; i++)
		TRY(sp_buf_printf(&b, "%s%u", i ? "," : "", sum->resyncs[i]));
	TRY(sp_buf_append_str(&b, "]},\"failures_24h\":{"));
	for (int i = 0; i < SP_FAIL_N; i++)
		TRY(sp_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "",
		    sp_fail_reason_name((sp_fail_reason)i),
		    (unsigned long long)sum->fail_24h[i]));
	TRY(sp_buf_append_str(&b, "}"));
	TRY(summary_server(r, &b));
	TRY(sp_buf_append_str(&b, ",\"nodes\":["));
	nc.b = &b;
	nc.since = r->now - NODES_SEEN_WITHIN;
	nc.n = 0;
	TRY(sp_store_cluster_newest(st, "node:", node_row, &nc));
	TRY(sp_buf_append_str(&b, "]}"));
out:
	con_done(r, res, &b);
	free(sum);
	sp_buf_free(&b);
}

/* ---- GET /api/v1/devices ------------------------------------------------------ */

typedef struct list_ctx {
	sp_buf *b;
	size_t n;
} list_ctx;

static sp_result
inv_row(void *arg, const sp_inv_row *row)
{
	sp_result res = SP_OK;
	list_ctx *l = arg;

	TRY(sp_buf_append_str(l->b, l->n ? ",{" : "{"));
	TRY(row_fields(l->b, row));
	TRY(sp_buf_append_str(l->b, "}"));
	l->n++;
out:
	return res;
}

/* The query of GET /api/v1/devices; false: 400 sent. */
static bool
inv_query(con_req *r, sp_inv_query *q)
{
	const char *v;
	sp_dev_status st;
	int64_t n;

	memset(q, 0, sizeof(*q));
	q->status = -1;
	q->q = con_query(r, "q");
	if (q->q && strlen(q->q) > SP_INV_Q_MAX) {
		con_error(r, 400, "q: longer than %d bytes", SP_INV_Q_MAX);
		return false;
	}
	if ((v = con_query(r, "status")) != NULL) {
		if (sp_failed(sp_dev_status_parse(v, &st))) {
			sp_error_clear();
			con_error(r, 400, "status: not one of ok, behind, failing, "
			    "never-seen, disabled, revoked");
			return false;
		}
		q->status = (int)st;
	}
	if (!q_int(r, "seen_after", 1, INT64_MAX, 0, &q->seen_after) ||
	    !q_int(r, "seen_before", 1, INT64_MAX, 0, &q->seen_before))
		return false;
	if ((v = con_query(r, "sort")) == NULL || strcmp(v, "mac") == 0)
		q->sort = SP_INV_SORT_MAC;
	else if (strcmp(v, "last-seen") == 0)
		q->sort = SP_INV_SORT_LAST_SEEN;
	else if (strcmp(v, "serial") == 0)
		q->sort = SP_INV_SORT_SERIAL;
	else {
		con_error(r, 400, "sort: not one of mac, last-seen, serial");
		return false;
	}
	if ((v = con_query(r, "order")) != NULL && strcmp(v, "asc") != 0 &&
	    strcmp(v, "desc") != 0) {
		con_error(r, 400, "order: not asc or desc");
		return false;
	}
	q->desc = v != NULL && strcmp(v, "desc") == 0;
	if (!q_int(r, "limit", 1, SP_INV_LIMIT_MAX, 50, &n))
		return false;
	q->limit = (int)n;
	q->after = con_query(r, "after");
	if (q->after) {
		size_t len = strlen(q->after);
		bool ok = len > 0 && len <= SP_INV_CURSOR_MAX;

		for (size_t i = 0; ok && i < len; i++) {
			char ch = q->after[i];

			ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
		}
		if (!ok) {
			con_error(r, 400, "after: not a cursor this API returned");
			return false;
		}
	}
	return true;
}

static void
api_devices(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_inv_query q;
	char next[SP_INV_CURSOR_MAX + 1] = "";
	list_ctx l;
	sp_buf b;

	sp_buf_init(&b, CON_REPLY_MAX);
	l.b = &b;
	l.n = 0;
	if (!inv_query(r, &q))
		goto out;
	TRY(con_store(r, &st));
	TRY(sp_buf_append_str(&b, "{\"devices\":["));
	res = sp_store_inventory(st, &q, inv_row, &l, next);
	if (res.code == SP_E_PARSE) {
		con_error(r, 400, "after: %s", sp_errmsg());
		sp_error_clear();
		res = SP_OK;
		goto out;
	}
	TRY(res);
	TRY(sp_buf_append_str(&b, "],\"next\":"));
	TRY(jstr_or_null(&b, next));
	TRY(sp_buf_append_str(&b, "}"));
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}

/* ---- audit entries ------------------------------------------------------------ */

static sp_result
audit_entry(void *arg, const sp_audit_entry *e)
{
	sp_result res = SP_OK;
	list_ctx *l = arg;
	sp_json_obj o;

	sp_json_obj_init(&o);
	TRY(sp_buf_printf(l->b, "%s{\"seq\":%lld,\"time\":%lld,\"actor\":",
	    l->n ? "," : "", (long long)e->seq, (long long)e->time));
	TRY(sp_json_cstr(l->b, e->actor));
	TRY(sp_buf_append_str(l->b, ",\"action\":"));
	TRY(sp_json_cstr(l->b, e->action));
	TRY(sp_buf_append_str(l->b, ",\"target\":"));
	TRY(sp_json_cstr(l->b, e->target));
	TRY(sp_buf_append_str(l->b, ",\"detail\":"));
	/* The stored object as it is, once the JSON reader accepts it. */
	if (sp_ok(sp_json_obj_parse(&o, sp_slice_of(e->detail))))
		TRY(sp_buf_append_str(l->b, e->detail));
	else {
		sp_error_clear();
		TRY(sp_json_cstr(l->b, e->detail));
	}
	TRY(sp_buf_append_str(l->b, ",\"hash\":"));
	TRY(sp_json_cstr(l->b, e->hash));
	TRY(sp_buf_append_str(l->b, "}"));
	l->n++;
out:
	sp_json_obj_free(&o);
	return res;
}

static void
api_audit(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	const char *dev = con_query(r, "device");
	sp_mac mac;
	int64_t limit;
	list_ctx l;
	sp_buf b;

	sp_buf_init(&b, CON_REPLY_MAX);
	l.b = &b;
	l.n = 0;
	if (!q_int(r, "limit", 1, AUDIT_LIMIT_MAX, AUDIT_LIMIT_DEFAULT, &limit))
		goto out;
	if (dev && sp_failed(sp_mac_parse(sp_slice_of(dev), &mac))) {
		sp_error_clear();
		con_error(r, 400, "device: not a MAC address");
		goto out;
	}
	TRY(con_store(r, &st));
	TRY(sp_buf_append_str(&b, "{\"entries\":["));
	TRY(sp_store_audit_list(st, dev ? &mac : NULL, limit, audit_entry, &l));
	TRY(sp_buf_append_str(&b, "]}"));
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}

static void
api_audit_verify(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	int64_t n = 0;
	sp_result v;
	sp_buf b;

	sp_buf_init(&b, 4096);
	TRY(con_store(r, &st));
	v = sp_store_audit_verify(st, &n);
	if (v.code == SP_E_VERIFY) {
		TRY(sp_buf_append_str(&b, "{\"intact\":false,\"error\":"));
		TRY(sp_json_cstr(&b, sp_errmsg()));
		sp_error_clear();
		TRY(sp_buf_append_str(&b, "}"));
	} else {
		TRY(v);
		TRY(sp_buf_printf(&b, "{\"intact\":true,\"entries\":%lld}",
		    (long long)n));
	}
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}

/* ---- GET /api/v1/devices/MAC ------------------------------------------------------- */

/* Which level a merged parameter comes from: the highest that sets it to
 * the value served, else a rollout. */
static const char *
param_level(sp_params lv[4], const sp_param *p)
{
	static const char *const names[4] = { "defaults", "product", "group",
		"device" };

	for (int i = 3; i >= 0; i--) {
		const sp_param *q = sp_params_get(&lv[i], p->name);

		if (q != NULL)
			return q->value_len == p->value_len &&
			    memcmp(q->value, p->value, p->value_len) == 0 ?
			    names[i] : "rollout";
	}
	return "rollout";
}

static sp_result
detail_params(sp_store *st, const sp_device *dev, sp_buf *b)
{
	sp_result res = SP_OK;
	sp_params lv[4], eff;
	char ma[SP_MAC_STRLEN];
	const sp_level_ref refs[4] = {
		{ SP_LEVEL_DEFAULTS, NULL }, { SP_LEVEL_PRODUCT, dev->product },
		{ SP_LEVEL_GROUP, dev->group }, { SP_LEVEL_DEVICE, ma } };

	sp_mac_format(&dev->mac, SP_MAC_MA, ma);
	sp_params_init(&eff);
	for (int i = 0; i < 4; i++)
		sp_params_init(&lv[i]);
	for (int i = 0; i < 4; i++)
		if (i == 0 || i == 3 || refs[i].key[0])
			TRY(sp_store_params_level(st, &refs[i], &lv[i]));
	TRY(sp_store_params_effective(st, dev, &eff, NULL));
	TRY(sp_buf_append_str(b, ",\"params\":["));
	for (size_t i = 0; i < eff.n; i++) {
		const sp_param *p = &eff.v[i];
		bool secret = param_secret(p->name);
		const char *acc = sp_access_name(p->access);

		TRY(sp_buf_append_str(b, i ? ",{\"name\":" : "{\"name\":"));
		TRY(sp_json_cstr(b, p->name));
		TRY(sp_buf_append_str(b, ",\"value\":"));
		if (secret)
			TRY(sp_buf_append_str(b, "null"));
		else
			TRY(sp_json_str(b, sp_slice_mk(p->value, p->value_len)));
		TRY(sp_buf_printf(b, ",\"secret\":%s,\"level\":\"%s\",\"access\":",
		    secret ? "true" : "false", param_level(lv, p)));
		TRY(jstr_or_null(b, acc));
		TRY(sp_buf_append_str(b, "}"));
	}
	TRY(sp_buf_append_str(b, "]"));
out:
	sp_params_free(&eff);
	for (int i = 0; i < 4; i++)
		sp_params_free(&lv[i]);
	return res;
}

static sp_result
detail_events(const sp_dev_detail *d, sp_buf *b)
{
	sp_result res = SP_OK;
	bool any = false;

	TRY(sp_buf_append_str(b, ",\"failures\":{"));
	for (int i = 0; i < SP_FAIL_N; i++) {
		if (d->fail_counts[i] == 0)
			continue;
		TRY(sp_buf_printf(b, "%s\"%s\":%llu", any ? "," : "",
		    sp_fail_reason_name((sp_fail_reason)i),
		    (unsigned long long)d->fail_counts[i]));
		any = true;
	}
	TRY(sp_buf_append_str(b, "},\"events\":["));
	for (int i = 0; i < d->nevents && i < 2 * SP_FAIL_EVENTS_KEEP; i++) {
		const sp_dev_event *e = &d->events[i];

		TRY(sp_buf_printf(b, "%s{\"time\":%lld,", i ? "," : "",
		    (long long)e->time));
		if (e->failure) {
			TRY(sp_buf_printf(b, "\"kind\":\"failure\",\"reason\":\"%s\","
			    "\"count\":%u,\"ip\":", sp_fail_reason_name(e->reason),
			    e->count));
			TRY(sp_json_cstr(b, e->ip));
			TRY(sp_buf_append_str(b, ",\"detail\":"));
			TRY(sp_json_cstr(b, e->detail));
		} else {
			TRY(sp_buf_printf(b, "\"kind\":\"contact\",\"http\":%d,\"ip\":",
			    e->http));
			TRY(sp_json_cstr(b, e->ip));
			TRY(sp_buf_append_str(b, ",\"etag\":"));
			TRY(sp_json_cstr(b, e->etag));
		}
		TRY(sp_buf_append_str(b, "}"));
	}
	TRY(sp_buf_append_str(b, "]"));
out:
	return res;
}

static void
api_device(con_req *r, const char *macs)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_dev_detail *d = NULL;
	char etag[SP_ETAG_MAX + 1] = "";
	bool found = false, efound = false;
	sp_mac mac;
	list_ctx l;
	sp_buf b;

	sp_buf_init(&b, CON_REPLY_MAX);
	l.b = &b;
	l.n = 0;
	if (sp_failed(sp_mac_parse(sp_slice_of(macs), &mac))) {
		sp_error_clear();
		con_error(r, 400, "'%s' is not a MAC address", macs);
		goto out;
	}
	TRY_ALLOC(d, calloc(1, sizeof(*d)));
	TRY(con_store(r, &st));
	TRY(sp_store_device_detail(st, &mac, d, &found));
	if (!found) {
		char ma[SP_MAC_STRLEN];

		sp_mac_format(&mac, SP_MAC_MA, ma);
		con_error(r, 404, "no device %s in the database", ma);
		goto out;
	}
	TRY(sp_buf_append_str(&b, "{\"device\":{"));
	TRY(row_fields(&b, &d->row));
	TRY(sp_buf_append_str(&b, ",\"created\":"));
	TRY(jtime(&b, d->row.dev.created));
	TRY(sp_buf_printf(&b, ",\"pending\":%s}",
	    d->row.dev.pending ? "true" : "false"));
	TRY(detail_events(d, &b));
	TRY(sp_serve_profile_etag(r->c->srv, st, &mac, etag, &efound));
	TRY(sp_buf_append_str(&b, ",\"drift\":{\"fetched_etag\":"));
	TRY(jstr_or_null(&b, d->fetched_etag));
	TRY(sp_buf_append_str(&b, ",\"current_etag\":"));
	TRY(jstr_or_null(&b, efound ? etag : ""));
	TRY(sp_buf_printf(&b, ",\"behind\":%s}",
	    d->row.status == SP_DST_BEHIND ? "true" : "false"));
	TRY(detail_params(st, &d->row.dev, &b));
	TRY(sp_buf_append_str(&b, ",\"audit\":["));
	TRY(sp_store_audit_list(st, &mac, DEVICE_AUDIT_MAX, audit_entry, &l));
	TRY(sp_buf_append_str(&b, "]}"));
out:
	con_done(r, res, &b);
	free(d);
	sp_buf_free_secret(&b);
}

/* POST /api/v1/devices/MAC/params/NAME/reveal (admin, audited). */
static void
api_reveal(con_req *r, const char *macs, const char *name)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_device dev;
	sp_mac mac;
	sp_params eff;
	const sp_param *p;
	char ma[SP_MAC_STRLEN];
	bool found = false;
	sp_buf b, det;

	sp_params_init(&eff);
	sp_buf_init_secret(&b, CON_REPLY_MAX);
	sp_buf_init(&det, SP_AUDIT_DETAIL_MAX);
	if (sp_failed(sp_mac_parse(sp_slice_of(macs), &mac))) {
		sp_error_clear();
		con_error(r, 400, "'%s' is not a MAC address", macs);
		goto out;
	}
	sp_mac_format(&mac, SP_MAC_MA, ma);
	TRY(con_store(r, &st));
	TRY(sp_store_device_get(st, &mac, &dev, &found));
	if (!found) {
		con_error(r, 404, "no device %s in the database", ma);
		goto out;
	}
	TRY(sp_store_params_effective(st, &dev, &eff, NULL));
	if ((p = sp_params_get(&eff, name)) == NULL) {
		char q[160];

		sp_quote(sp_slice_of(name), q, sizeof(q));
		con_error(r, 404, "device %s has no parameter '%s'", ma, q);
		goto out;
	}
	TRY(sp_buf_append_str(&det, "{\"name\":"));
	TRY(sp_json_cstr(&det, p->name));
	TRY(sp_buf_append_str(&det, "}"));
	TRY(sp_buf_append(&det, "", 1));
	TRY(sp_store_audit_note(st, "param.reveal", ma, det.p));
	TRY(sp_buf_append_str(&b, "{\"name\":"));
	TRY(sp_json_cstr(&b, p->name));
	TRY(sp_buf_append_str(&b, ",\"value\":"));
	TRY(sp_json_str(&b, sp_slice_mk(p->value, p->value_len)));
	TRY(sp_buf_append_str(&b, "}"));
out:
	con_done(r, res, &b);
	sp_params_free(&eff);
	sp_buf_free_secret(&b);
	sp_buf_free(&det);
}

/* ---- PUT/DELETE /api/v1/params/... ------------------------------------------------ */

/* {"value":"...","access":"rw"}: value required, access optional. */
static bool
param_body(con_req *r, sp_json_obj *o, sp_buf *body, sp_slice *value,
    sp_access *access)
{
	const sp_json_member *v, *a;
	sp_slice line;

	if (!con_body(r, body))
		return false;
	line = sp_slice_trim(sp_slice_mk(body->p ? body->p : "", body->len));
	if (sp_failed(sp_json_obj_parse(o, line))) {
		con_error(r, 400, "body: %s", sp_errmsg());
		sp_error_clear();
		return false;
	}
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->m[i].name, "value") != 0 &&
		    strcmp(o->m[i].name, "access") != 0) {
			con_error(r, 400, "body: unknown member '%s' (value, access)",
			    o->m[i].name);
			return false;
		}
	v = sp_json_obj_get(o, "value");
	if (v == NULL || v->type != SP_JSON_STRING) {
		con_error(r, 400, "body: \"value\" must be a string");
		return false;
	}
	*value = v->str;
	*access = SP_ACCESS_UNSET;
	if ((a = sp_json_obj_get(o, "access")) != NULL && a->type != SP_JSON_NULL) {
		if (a->type != SP_JSON_STRING ||
		    sp_failed(sp_access_parse(a->str, access))) {
			sp_error_clear();
			con_error(r, 400, "body: \"access\" must be rw, ro or na");
			return false;
		}
	}
	return true;
}

/* seg: the path after params/; false: 404 sent. */
static bool
param_target(con_req *r, char **seg, int nseg, sp_level_ref *lvl,
    const char **name)
{
	if (nseg == 2 && strcmp(seg[0], "defaults") == 0) {
		*lvl = (sp_level_ref){ SP_LEVEL_DEFAULTS, NULL };
		*name = seg[1];
	} else if (nseg == 3 && strcmp(seg[0], "product") == 0) {
		*lvl = (sp_level_ref){ SP_LEVEL_PRODUCT, seg[1] };
		*name = seg[2];
	} else if (nseg == 3 && strcmp(seg[0], "group") == 0) {
		*lvl = (sp_level_ref){ SP_LEVEL_GROUP, seg[1] };
		*name = seg[2];
	} else if (nseg == 3 && strcmp(seg[0], "device") == 0) {
		*lvl = (sp_level_ref){ SP_LEVEL_DEVICE, seg[1] };
		*name = seg[2];
	} else {
		con_error(r, 404, "not a parameter path: /api/v1/params/"
		    "{defaults/NAME|product/KEY/NAME|group/KEY/NAME|device/MAC/NAME}");
		return false;
	}
	return true;
}

static void
api_param(con_req *r, char **seg, int nseg)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_level_ref lvl;
	const char *name;
	sp_json_obj o;
	sp_buf body, b;
	sp_slice value;
	sp_access access;

	sp_json_obj_init(&o);
	sp_buf_init_secret(&body, CON_BODY_MAX);
	sp_buf_init(&b, 64);
	if (!param_target(r, seg, nseg, &lvl, &name))
		goto out;
	if (r->method == EVHTTP_REQ_PUT) {
		if (!param_body(r, &o, &body, &value, &access))
			goto out;
		TRY(con_store(r, &st));
		TRY(sp_store_param_set(st, &lvl, name, value, access));
	} else if (r->method == EVHTTP_REQ_DELETE) {
		TRY(con_store(r, &st));
		TRY(sp_store_param_unset(st, &lvl, name));
	} else {
		con_header(r, "Allow", "PUT, DELETE");
		con_error(r, 405, "method not allowed on %s", r->path);
		goto out;
	}
	TRY(sp_buf_append_str(&b, "{\"ok\":true}"));
out:
	con_done(r, res, &b);
	sp_json_obj_free(&o);
	sp_buf_free_secret(&body);
	sp_buf_free(&b);
}

/* ---- GET /api/v1/unknown ------------------------------------------------------------ */

static sp_result
unknown_row(void *arg, const sp_unknown_row *u)
{
	sp_result res = SP_OK;
	list_ctx *l = arg;

	TRY(sp_buf_append_str(l->b, l->n ? ",{\"mac\":" : "{\"mac\":"));
	TRY(u->has_mac ? jmac(l->b, &u->mac) : sp_buf_append_str(l->b, "null"));
	TRY(sp_buf_printf(l->b, ",\"pending\":%s,\"serial\":",
	    u->pending ? "true" : "false"));
	TRY(sp_json_cstr(l->b, u->serial));
	TRY(sp_buf_append_str(l->b, ",\"product\":"));
	TRY(sp_json_cstr(l->b, u->product));
	TRY(sp_buf_append_str(l->b, ",\"ip\":"));
	TRY(sp_json_cstr(l->b, u->ip));
	TRY(sp_buf_append_str(l->b, ",\"reason\":"));
	TRY(u->count > 0 ? sp_buf_printf(l->b, "\"%s\"",
	    sp_fail_reason_name(u->reason)) : sp_buf_append_str(l->b, "null"));
	TRY(sp_buf_printf(l->b, ",\"count\":%llu,\"first_seen\":",
	    (unsigned long long)u->count));
	TRY(jtime(l->b, u->first_seen));
	TRY(sp_buf_append_str(l->b, ",\"last_seen\":"));
	TRY(jtime(l->b, u->last_seen));
	TRY(sp_buf_append_str(l->b, "}"));
	l->n++;
out:
	return res;
}

static void
api_unknown(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	int64_t limit;
	list_ctx l;
	sp_buf b;

	sp_buf_init(&b, CON_REPLY_MAX);
	l.b = &b;
	l.n = 0;
	if (!q_int(r, "limit", 1, UNKNOWN_LIMIT_MAX, UNKNOWN_LIMIT_DEFAULT, &limit))
		goto out;
	TRY(con_store(r, &st));
	TRY(sp_buf_append_str(&b, "{\"unknown\":["));
	TRY(sp_store_unknown_list(st, (int)limit, unknown_row, &l));
	TRY(sp_buf_append_str(&b, "]}"));
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}

/* ---- routing ---------------------------------------------------------------------- */

/* GET only: false (405 sent) for another method. */
static bool
get_only(con_req *r)
{
	if (r->method == EVHTTP_REQ_GET)
		return true;
	con_header(r, "Allow", "GET");
	con_error(r, 405, "method not allowed on %s", r->path);
	return false;
}

void
con_api(con_req *r)
{
	char buf[CON_PATH_MAX], *seg[API_SEGS_MAX], *save = NULL, *t;
	int n = 0;

	if (strncmp(r->path, "/api/v1/", 8) != 0) {
		con_error(r, 404, "no such API path (this is /api/v1/)");
		return;
	}
	snprintf(buf, sizeof(buf), "%s", r->path + 8);
	for (t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n == API_SEGS_MAX) {
			n = 0;
			break;
		}
		seg[n++] = t;
	}
	if (n == 1 && strcmp(seg[0], "summary") == 0) {
		if (get_only(r))
			api_summary(r);
	} else if (n == 1 && strcmp(seg[0], "devices") == 0) {
		if (get_only(r))
			api_devices(r);
	} else if (n == 2 && strcmp(seg[0], "devices") == 0) {
		if (get_only(r))
			api_device(r, seg[1]);
	} else if (n == 5 && strcmp(seg[0], "devices") == 0 &&
	    strcmp(seg[2], "params") == 0 && strcmp(seg[4], "reveal") == 0) {
		if (r->method != EVHTTP_REQ_POST) {
			con_header(r, "Allow", "POST");
			con_error(r, 405, "method not allowed on %s", r->path);
		} else
			api_reveal(r, seg[1], seg[3]);
	} else if (n >= 1 && strcmp(seg[0], "params") == 0) {
		api_param(r, seg + 1, n - 1);
	} else if (n == 1 && strcmp(seg[0], "unknown") == 0) {
		if (get_only(r))
			api_unknown(r);
	} else if (n == 1 && strcmp(seg[0], "audit") == 0) {
		if (get_only(r))
			api_audit(r);
	} else if (n == 2 && strcmp(seg[0], "audit") == 0 &&
	    strcmp(seg[1], "verify") == 0) {
		if (get_only(r))
			api_audit_verify(r);
	} else {
		con_error(r, 404, "no such API path");
	}
}
