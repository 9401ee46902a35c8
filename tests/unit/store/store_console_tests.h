/*
 * The console records (schema 7, store/console.h), included by
 * test_store.c after store_audit_tests.h so that they run with its
 * fixture.
 */
#include "store/console.h"

#define CS_NOW 1800000000

static void
cs_contact(sp_store *s, const char *mac, int64_t t, int http, uint64_t g)
{
	sp_contact c;

	memset(&c, 0, sizeof(c));
	c.mac = mac_of(mac);
	c.time = t;
	c.status = http;
	c.gen = g;
	snprintf(c.ip, sizeof(c.ip), "10.0.0.1");
	snprintf(c.etag, sizeof(c.etag), "\"e%llu\"", (unsigned long long)g);
	snprintf(c.cert_serial, sizeof(c.cert_serial), "abc1");
	c.cert_not_after = t + 1000;
	OK(sp_store_contact_batch(s, &c, 1));
}

static sp_failure
cs_fail_of(const char *mac, sp_fail_reason r, int64_t t, const char *ip)
{
	sp_failure f;

	memset(&f, 0, sizeof(f));
	if (mac) {
		f.has_mac = true;
		f.mac = mac_of(mac);
	}
	f.reason = r;
	f.count = 1;
	f.time = t;
	snprintf(f.ip, sizeof(f.ip), "%s", ip);
	snprintf(f.detail, sizeof(f.detail), "refused %lld", (long long)t);
	return f;
}

static void
cs_fail(sp_store *s, const char *mac, sp_fail_reason r, int64_t t)
{
	sp_failure f = cs_fail_of(mac, r, t, "10.0.0.2");

	OK(sp_store_failure_batch(s, &f, 1));
}

static sp_dev_status
cs_status(sp_store *s, const char *mac)
{
	sp_dev_detail d;
	bool found = false;
	sp_mac m = mac_of(mac);

	OK(sp_store_device_detail(s, &m, &d, &found));
	assert_true(found);
	return d.row.status;
}

static bool
cs_skip_pg(fx *f)
{
	(void)f;
	return false;
}

/* Every status and the writes that move a device between them. */
static void
test_console_status(void **state)
{
	fx *f = *state;
	sp_store *s = f->s;
	sp_mac m = mac_of("000e08000001");
	sp_dev_detail d;
	bool found = true;

	if (cs_skip_pg(f))
		return;
	add_dev(s, "000e08000001", "SN1", "P1", "G1");
	add_dev(s, "000e08000002", "SN2", "P2", "G2");
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_NEVER_SEEN);
	cs_contact(s, "000e08000001", CS_NOW, 200, gen(s));
	cs_contact(s, "000e08000002", CS_NOW, 200, gen(s));
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);

	/* Each level: its devices that fetched before it changed are behind. */
	pset(s, SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "a", SP_ACCESS_UNSET);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_BEHIND);
	assert_int_equal(cs_status(s, "000e08000002"), SP_DST_BEHIND);
	cs_contact(s, "000e08000001", CS_NOW + 1, 304, gen(s));
	cs_contact(s, "000e08000002", CS_NOW + 1, 200, gen(s));
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);
	pset(s, SP_LEVEL_PRODUCT, "P2", "Proxy_1_", "b", SP_ACCESS_UNSET);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);
	assert_int_equal(cs_status(s, "000e08000002"), SP_DST_BEHIND);
	cs_contact(s, "000e08000002", CS_NOW + 2, 200, gen(s));
	pset(s, SP_LEVEL_GROUP, "G1", "Proxy_1_", "c", SP_ACCESS_UNSET);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_BEHIND);
	assert_int_equal(cs_status(s, "000e08000002"), SP_DST_OK);
	cs_contact(s, "000e08000001", CS_NOW + 3, 200, gen(s));
	pset(s, SP_LEVEL_DEVICE, "000e08000002", "Proxy_1_", "d",
	    SP_ACCESS_UNSET);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);
	assert_int_equal(cs_status(s, "000e08000002"), SP_DST_BEHIND);
	{
		sp_level_ref lv = { SP_LEVEL_GROUP, "G1" };

		cs_contact(s, "000e08000002", CS_NOW + 4, 200, gen(s));
		OK(sp_store_param_unset(s, &lv, "Proxy_1_"));
		assert_int_equal(cs_status(s, "000e08000001"), SP_DST_BEHIND);
		assert_int_equal(cs_status(s, "000e08000002"), SP_DST_OK);
		/* A refused unset changes nothing. */
		cs_contact(s, "000e08000001", CS_NOW + 5, 200, gen(s));
		assert_int_equal(sp_store_param_unset(s, &lv, "Proxy_1_").code,
		    SP_E_NOTFOUND);
		assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);
	}
	/* A rollout on the defaults: every device that fetched before. */
	{
		sp_rollout_spec sp = { .name = "r", .kind = SP_ROLLOUT_PARAM,
		    .target = { SP_LEVEL_DEFAULTS, NULL }, .param = "Proxy_2_",
		    .value = sp_slice_of("p.example.net"), .nwaves = 1,
		    .waves = { 100 }, .success_window = 60, .halt_bp = -1 };

		OK(sp_store_rollout_create(s, &sp, 1000, NULL));
		assert_int_equal(cs_status(s, "000e08000001"), SP_DST_BEHIND);
		assert_int_equal(cs_status(s, "000e08000002"), SP_DST_BEHIND);
	}
	/* A failing answer, then failures: the newest event decides. */
	cs_contact(s, "000e08000001", CS_NOW + 10, 404, 0);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_FAILING);
	cs_fail(s, "000e08000001", SP_FAIL_REVOKED, CS_NOW + 11);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_REVOKED);
	cs_fail(s, "000e08000001", SP_FAIL_EXPIRED, CS_NOW + 12);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_FAILING);
	/* An older failure flushed late does not hide the newer one. */
	cs_fail(s, "000e08000001", SP_FAIL_REVOKED, CS_NOW + 9);
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_FAILING);
	cs_contact(s, "000e08000001", CS_NOW + 13, 200, gen(s));
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_OK);
	/* Disabled wins over everything; enabling moves its own level. */
	OK(sp_store_device_set_enabled(s, &m, false));
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_DISABLED);
	OK(sp_store_device_set_enabled(s, &m, true));
	assert_int_equal(cs_status(s, "000e08000001"), SP_DST_BEHIND);
	OK(sp_store_device_detail(s, &m, &d, &found));
	assert_true(d.changed_gen > d.fetched_gen);
	assert_string_equal(d.row.cert_serial, "abc1");
	assert_int_equal(d.row.cert_not_after, CS_NOW + 13 + 1000);
	assert_int_equal(d.fail_counts[SP_FAIL_REVOKED], 2);
	assert_int_equal(d.fail_counts[SP_FAIL_EXPIRED], 1);
	/* Removed: its records go, it is not found. */
	OK(sp_store_device_rm(s, &m));
	OK(sp_store_device_detail(s, &m, &d, &found));
	assert_false(found);
	{
		char v[32];

		raw_text(f, "SELECT count(*) FROM devstate WHERE mac = "
		    "'000e08000001'", v, sizeof(v));
		assert_string_equal(v, "0");
		raw_text(f, "SELECT count(*) FROM devevents WHERE mac = "
		    "'000e08000001'", v, sizeof(v));
		assert_string_equal(v, "0");
	}
}

/* The rows of a query, page by page, as "mac" lines. */
typedef struct cs_pages {
	char macs[64][13];
	int n, pages;
} cs_pages;

static sp_result
cs_page_cb(void *arg, const sp_inv_row *r)
{
	cs_pages *p = arg;

	if (p->n < 64)
		sp_mac_format(&r->dev.mac, SP_MAC_MA, p->macs[p->n]);
	p->n++;
	return SP_OK;
}

static void
cs_all(sp_store *s, sp_inv_query q, cs_pages *p)
{
	char next[SP_INV_CURSOR_MAX + 1] = "";

	memset(p, 0, sizeof(*p));
	do {
		q.after = next;
		OK(sp_store_inventory(s, &q, cs_page_cb, p, next));
		p->pages++;
		assert_true(p->pages < 64);
		for (const char *c = next; *c; c++)
			assert_true(strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *c));
	} while (next[0]);
}

/* Device i: MAC ...0i, serial S(29-i), product P(i%3), group G(i%2), seen i. */
static void
cs_fleet(sp_store *s, int n)
{
	for (int i = 0; i < n; i++) {
		char ma[13], sn[8], pn[8], gr[8];

		snprintf(ma, sizeof(ma), "0011223344%02d", i);
		snprintf(sn, sizeof(sn), "S%02d", 29 - i);
		snprintf(pn, sizeof(pn), "P%d", i % 3);
		snprintf(gr, sizeof(gr), "G%d", i % 2);
		add_dev(s, ma, sn, pn, gr);
		if (i % 5 != 4)
			cs_contact(s, ma, CS_NOW + i, i % 7 == 6 ? 500 : 200,
			    gen(s));
	}
}

static void
test_console_inventory(void **state)
{
	fx *f = *state;
	sp_store *s = f->s;
	sp_inv_query q = { .status = -1, .limit = 7 };
	char next[SP_INV_CURSOR_MAX + 1];
	cs_pages p, p2;

	if (cs_skip_pg(f))
		return;
	cs_fleet(s, 30);
	add_dev(s, "0011220000ff", "", "", "");
	OK(sp_store_device_pending(s, &(sp_mac){ 0 }, "X", "Y", CS_NOW));

	/* By MAC, both ways: every device once, pending ones not. */
	cs_all(s, q, &p);
	assert_int_equal(p.n, 31);
	assert_int_equal(p.pages, 5);
	assert_string_equal(p.macs[0], "0011220000ff");
	assert_string_equal(p.macs[1], "001122334400");
	assert_string_equal(p.macs[30], "001122334429");
	q.desc = true;
	cs_all(s, q, &p2);
	assert_int_equal(p2.n, 31);
	for (int i = 0; i < 31; i++)
		assert_string_equal(p.macs[i], p2.macs[30 - i]);
	/* Serial: S00 is device 29; "" (0011220000ff) first. */
	q.desc = false;
	q.sort = SP_INV_SORT_SERIAL;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 31);
	assert_string_equal(p.macs[0], "0011220000ff");
	assert_string_equal(p.macs[1], "001122334429");
	assert_string_equal(p.macs[30], "001122334400");
	/* Last seen, newest first: 29 last seen, never-seen ones last by MAC. */
	q.sort = SP_INV_SORT_LAST_SEEN;
	q.desc = true;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 31);
	assert_string_equal(p.macs[0], "001122334428");
	assert_string_equal(p.macs[30], "0011220000ff");
	/* Filters: status, seen, q as MAC (any form), serial, product, group. */
	q.status = SP_DST_NEVER_SEEN;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 7);   /* 4, 9, 14, 19, 24, 29 and ff */
	q.status = SP_DST_FAILING;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 4);   /* answered 500: 6, 13, 20, 27 */
	q.status = -1;
	q.seen_after = CS_NOW + 20;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 8);   /* 20..28 without 24 */
	q.seen_after = 0;
	q.seen_before = CS_NOW + 2;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 2 + 7);   /* 0, 1 and the never-seen */
	q.seen_before = 0;
	q.q = "00:11:22:33:44:1";
	cs_all(s, q, &p);
	assert_int_equal(p.n, 10);
	q.q = "0011-2233-442";
	cs_all(s, q, &p);
	assert_int_equal(p.n, 10);
	q.q = "S0";
	cs_all(s, q, &p);
	assert_int_equal(p.n, 10);  /* S00..S09: devices 20..29 */
	q.q = "P1";
	cs_all(s, q, &p);
	assert_int_equal(p.n, 10);
	q.q = "G";
	cs_all(s, q, &p);
	assert_int_equal(p.n, 30);
	q.q = "G1";
	q.status = SP_DST_OK;
	cs_all(s, q, &p);
	for (int i = 0; i < p.n; i++) {
		int dev = atoi(p.macs[i] + 10);

		assert_true(dev % 2 == 1 && dev % 5 != 4 && dev % 7 != 6);
	}
	assert_int_equal(p.n, 10);
	q.q = "nothing";
	q.status = -1;
	cs_all(s, q, &p);
	assert_int_equal(p.n, 0);

	/* Rows that change between pages are neither lost nor doubled. */
	q.q = NULL;
	q.sort = SP_INV_SORT_MAC;
	q.desc = false;
	memset(&p, 0, sizeof(p));
	next[0] = '\0';
	q.after = next;
	OK(sp_store_inventory(s, &q, cs_page_cb, &p, next));
	cs_fail(s, "001122334410", SP_FAIL_REVOKED, CS_NOW + 100);
	pset(s, SP_LEVEL_DEFAULTS, NULL, "X_", "1", SP_ACCESS_UNSET);
	add_dev(s, "001122334499", "", "", "");
	do {
		q.after = next;
		OK(sp_store_inventory(s, &q, cs_page_cb, &p, next));
	} while (next[0]);
	assert_int_equal(p.n, 32);
	for (int i = 1; i < 32; i++)
		assert_true(strcmp(p.macs[i - 1], p.macs[i]) < 0);

	/* Refusals: a cursor that does not decode, or is another query's. */
	q.after = "garbage";
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "cursor"));
	q.after = "cla001122334400" "3132";     /* last-seen's, asked by MAC */
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_PARSE);
	q.sort = SP_INV_SORT_LAST_SEEN;
	q.after = "cla00112233440g";
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_PARSE);
	q.after = "cla001122334400" "3x";
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_PARSE);
	q.after = "cla001122334400" "2d31";  /* "-1" */
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_PARSE);
	{
		char longc[SP_INV_CURSOR_MAX + 2];

		memset(longc, 'a', sizeof(longc) - 1);
		longc[sizeof(longc) - 1] = '\0';
		q.after = longc;
		assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p,
		    next).code, SP_E_PARSE);
	}
	q.after = NULL;
	q.limit = 0;
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_USAGE);
	q.limit = SP_INV_LIMIT_MAX + 1;
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_USAGE);
	q.limit = 5;
	q.status = SP_DST_N;
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_USAGE);
	q.status = -1;
	q.q = "bad\tq";
	assert_int_equal(sp_store_inventory(s, &q, cs_page_cb, &p, next).code,
	    SP_E_USAGE);
	assert_string_equal(next, "");
}

typedef struct cs_unk {
	sp_unknown_row r[4];
	int n;
} cs_unk;

static sp_result
cs_unknown_cb(void *arg, const sp_unknown_row *r)
{
	cs_unk *u = arg;

	if (u->n < 4)
		u->r[u->n] = *r;
	u->n++;
	return SP_OK;
}

/* The rings keep 8 of each, the nameless sources stay bounded. */
static void
test_console_failures(void **state)
{
	fx *f = *state;
	sp_store *s = f->s;
	sp_mac m = mac_of("000e08000001");
	sp_dev_detail d;
	bool found = false;
	sp_failure *v;
	char val[32];

	if (cs_skip_pg(f))
		return;
	add_dev(s, "000e08000001", "SN1", "P1", "G1");
	for (int i = 0; i < 12; i++) {
		cs_contact(s, "000e08000001", CS_NOW + 2 * i, 200, gen(s));
		cs_fail(s, "000e08000001", (sp_fail_reason)(i % 3), CS_NOW + 2 * i + 1);
	}
	OK(sp_store_device_detail(s, &m, &d, &found));
	assert_true(found);
	assert_int_equal(d.nevents, 16);
	assert_true(d.events[0].failure);
	assert_int_equal(d.events[0].time, CS_NOW + 23);
	assert_int_equal(d.events[0].reason, 11 % 3);
	assert_string_equal(d.events[0].detail, "refused 1800000023");
	assert_false(d.events[1].failure);
	assert_int_equal(d.events[1].http, 200);
	assert_int_equal(d.events[15].time, CS_NOW + 8);
	for (int i = 1; i < 16; i++)
		assert_true(d.events[i - 1].time > d.events[i].time);
	assert_int_equal(d.fail_counts[0], 4);
	assert_int_equal(d.fail_counts[1], 4);
	assert_int_equal(d.fail_counts[2], 4);
	assert_int_equal(d.row.last_fail, CS_NOW + 23);
	assert_int_equal(d.row.status, SP_DST_FAILING);

	/* Bad entries refuse the whole batch; nothing is written. */
	{
		sp_failure bad[2] = { cs_fail_of("000e08000001", SP_FAIL_REVOKED,
		    CS_NOW + 50, "1.2.3.4"), cs_fail_of(NULL, SP_FAIL_N, 1, "") };

		assert_int_equal(sp_store_failure_batch(s, bad, 2).code,
		    SP_E_USAGE);
		bad[1].reason = SP_FAIL_REVOKED;
		bad[1].count = 0;
		assert_int_equal(sp_store_failure_batch(s, bad, 2).code,
		    SP_E_USAGE);
		assert_int_equal(sp_store_failure_batch(s, bad,
		    SP_FAIL_BATCH_MAX + 1).code, SP_E_LIMIT);
		assert_int_equal(cs_status(s, "000e08000001"), SP_DST_FAILING);
	}

	/* Nameless sources: at most SP_FAIL_SOURCES_MAX, the oldest go. */
	v = calloc(SP_FAIL_BATCH_MAX, sizeof(*v));
	assert_non_null(v);
	for (int i = 0; i < SP_FAIL_BATCH_MAX; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255,
		    i & 255);
		v[i] = cs_fail_of(NULL, SP_FAIL_NO_CERT, CS_NOW + i, ip);
	}
	OK(sp_store_failure_batch(s, v, SP_FAIL_BATCH_MAX));
	for (int i = 0; i < 5; i++)
		v[i] = cs_fail_of(NULL, SP_FAIL_UNTRUSTED, CS_NOW + 20000 + i,
		    "192.0.2.1");
	v[5] = cs_fail_of("000e080000aa", SP_FAIL_UNKNOWN_DEVICE, CS_NOW + 30000,
	    "192.0.2.9");
	OK(sp_store_failure_batch(s, v, 6));
	free(v);
	raw_text(f, "SELECT count(*) FROM failsrc", val, sizeof(val));
	assert_string_equal(val, "10000");
	raw_text(f, "SELECT count(*) FROM failsrc WHERE ip = '10.0.0.0'", val,
	    sizeof(val));
	assert_string_equal(val, "0");
	raw_text(f, "SELECT n FROM failsrc WHERE ip = '192.0.2.1'", val,
	    sizeof(val));
	assert_string_equal(val, "5");
	/* Unknown: the MAC not in the database, then the newest sources. */
	{
		cs_unk u = { .n = 0 };

		OK(sp_store_unknown_list(s, 3, cs_unknown_cb, &u));
		assert_int_equal(u.n, 3);
		assert_true(u.r[0].has_mac);
		assert_false(u.r[0].pending);
		assert_int_equal(u.r[0].reason, SP_FAIL_UNKNOWN_DEVICE);
		assert_string_equal(u.r[0].ip, "192.0.2.9");
		assert_false(u.r[1].has_mac);
		assert_string_equal(u.r[1].ip, "192.0.2.1");
		assert_int_equal(u.r[1].count, 5);
		assert_int_equal(u.r[1].first_seen, CS_NOW + 20000);
		assert_int_equal(u.r[1].last_seen, CS_NOW + 20004);
		assert_int_equal(sp_store_unknown_list(s, 0, cs_unknown_cb,
		    &u).code, SP_E_USAGE);
	}
}

/* The overview: counts by status, the resync series, failures by reason. */
static void
test_console_summary(void **state)
{
	fx *f = *state;
	sp_store *s = f->s;
	sp_summary sm;
	int64_t now = CS_NOW + 7;   /* not on a bucket boundary */
	sp_failure v[3];
	sp_mac pm = mac_of("000e080000ee");

	if (cs_skip_pg(f))
		return;
	OK(sp_store_summary(s, now, &sm));
	assert_int_equal(sm.devices, 0);
	assert_int_equal(sm.series_start, CS_NOW - 287 * 300);
	add_dev(s, "000e08000001", "", "", "");
	add_dev(s, "000e08000002", "", "", "");
	add_dev(s, "000e08000003", "", "", "");
	OK(sp_store_device_pending(s, &pm, "SNX", "PX", CS_NOW - 5));
	cs_contact(s, "000e08000001", now, 200, gen(s));
	cs_contact(s, "000e08000002", now - 300, 304, gen(s));
	cs_contact(s, "000e08000002", now - 1, 404, 0);      /* not a resync */
	cs_contact(s, "000e08000003", now - 2 * 86400, 200, gen(s)); /* too old */
	v[0] = cs_fail_of("000e08000003", SP_FAIL_REVOKED, now - 600, "1.1.1.1");
	v[0].count = 3;
	v[1] = cs_fail_of(NULL, SP_FAIL_NO_CERT, now - 86400 + 400, "1.1.1.2");
	v[2] = cs_fail_of(NULL, SP_FAIL_NO_CERT, now - 86400 - 400, "1.1.1.3");
	OK(sp_store_failure_batch(s, v, 3));
	OK(sp_store_summary(s, now, &sm));
	assert_int_equal(sm.devices, 3);
	assert_int_equal(sm.pending, 1);
	assert_int_equal(sm.by_status[SP_DST_OK], 1);
	assert_int_equal(sm.by_status[SP_DST_FAILING], 1);
	assert_int_equal(sm.by_status[SP_DST_REVOKED], 1);
	assert_int_equal(sm.resyncs[287], 1);
	assert_int_equal(sm.resyncs[286], 1);
	{
		uint64_t total = 0;

		for (int i = 0; i < SP_SERIES_POINTS; i++)
			total += sm.resyncs[i];
		assert_int_equal(total, 2);
	}
	assert_int_equal(sm.fail_24h[SP_FAIL_REVOKED], 3);
	assert_int_equal(sm.fail_24h[SP_FAIL_NO_CERT], 1);
	assert_int_equal(sm.fail_24h[SP_FAIL_EXPIRED], 0);
	/* The pending device is an unknown one, with its certificate's names. */
	{
		cs_unk u = { .n = 0 };

		OK(sp_store_unknown_list(s, 1, cs_unknown_cb, &u));
		assert_int_equal(u.n, 1);
		assert_true(u.r[0].pending);
		assert_string_equal(u.r[0].serial, "SNX");
		assert_int_equal(u.r[0].first_seen, CS_NOW - 5);
	}
	/* Series older than 7 days are dropped by the next batch. */
	cs_contact(s, "000e08000001", now + 8 * 86400, 200, gen(s));
	{
		char val[32];

		raw_text(f, "SELECT count(*) FROM series", val, sizeof(val));
		assert_string_equal(val, "1");
	}
}
