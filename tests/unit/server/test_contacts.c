#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "server/contacts.h"
#include "store/store.h"

/* A call that must succeed; the failure names the error. */
static void
must(sp_result r)
{
	if (sp_failed(r))
		fail_msg("unexpected failure: %s", sp_errmsg());
}

/* A sink that keeps what it is given, and can refuse chosen batches. */
typedef struct rec {
	sp_contact *v;
	size_t n;
	size_t calls;
	size_t fail_call; /* 1-based call to refuse; 0: none */
	size_t fail_from; /* 1-based: refuse this call and every later one; 0: none */
	sp_code fail_code; /* how: SP_E_POLICY (for good) unless set */
	sp_contacts *put_q; /* when refusing, put put_c into it (a request meanwhile) */
	sp_contact put_c;
} rec;

static sp_result
rec_sink(void *arg, const sp_contact *v, size_t n)
{
	rec *r = arg;
	sp_contact *nv;

	r->calls++;
	assert_true(n >= 1 && n <= SP_CONTACT_BATCH_MAX);
	if ((r->calls == r->fail_call || (r->fail_from > 0 && r->calls >= r->fail_from)) &&
	    r->put_q != NULL)
		assert_true(sp_contacts_put(r->put_q, &r->put_c, 100));
	if (r->calls == r->fail_call || (r->fail_from > 0 && r->calls >= r->fail_from))
		return sp_error(r->fail_code ? r->fail_code : SP_E_POLICY,
		    "sink refused batch %zu", r->calls);
	nv = realloc(r->v, (r->n + n) * sizeof(*nv));
	assert_non_null(nv);
	memcpy(nv + r->n, v, n * sizeof(*v));
	r->v = nv;
	r->n += n;
	return SP_OK;
}

static sp_contact
contact(unsigned int i, const char *etag)
{
	sp_contact c;

	memset(&c, 0, sizeof(c));
	c.mac.b[0] = 0x00;
	c.mac.b[1] = 0x0e;
	c.mac.b[2] = 0x08;
	c.mac.b[3] = (uint8_t)(i >> 16);
	c.mac.b[4] = (uint8_t)(i >> 8);
	c.mac.b[5] = (uint8_t)i;
	c.time = 1700000000 + (int64_t)i;
	snprintf(c.ip, sizeof(c.ip), "10.0.%u.%u", (i >> 8) & 255, i & 255);
	snprintf(c.ua, sizeof(c.ua), "Vendor/PN-1.0 (SN%u)", i);
	snprintf(c.etag, sizeof(c.etag), "\"%s\"", etag);
	c.status = 200;
	return c;
}

static sp_contacts_stats
stats(sp_contacts *q)
{
	sp_contacts_stats st;

	sp_contacts_stats_get(q, &st);
	return st;
}

static void
test_put_and_flush(void **state)
{
	sp_contacts *q = NULL;
	rec r = { 0 };
	sp_contact a = contact(1, "a"), b = contact(2, "b");

	must(sp_contacts_new(&q));
	assert_int_equal(stats(q).queued, 0);
	assert_true(sp_contacts_put(q, &a, 10));
	assert_true(sp_contacts_put(q, &b, 10));
	assert_int_equal(stats(q).queued, 2);
	/* The caller's record is copied: changing it later changes nothing. */
	snprintf(a.etag, sizeof(a.etag), "changed");
	sp_contacts_flush(q, rec_sink, &r);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.n, 2);
	assert_memory_equal(r.v[0].mac.b, contact(1, "a").mac.b, 6);
	assert_string_equal(r.v[0].etag, "\"a\"");
	assert_string_equal(r.v[0].ip, "10.0.0.1");
	assert_string_equal(r.v[1].etag, "\"b\"");
	assert_int_equal(r.v[1].time, 1700000002);
	assert_int_equal(stats(q).queued, 0);
	assert_int_equal(stats(q).written, 2);
	assert_int_equal(stats(q).dropped, 0);
	assert_int_equal(stats(q).failed, 0);
	/* An empty queue calls no sink. */
	sp_contacts_flush(q, rec_sink, &r);
	assert_int_equal(r.calls, 1);
	/* Usable again after a flush. */
	assert_true(sp_contacts_put(q, &b, 10));
	assert_int_equal(stats(q).queued, 1);
	free(r.v);
	sp_contacts_free(q);
}

static void
test_one_record_per_mac(void **state)
{
	sp_contacts *q = NULL;
	rec r = { 0 };
	sp_contact a1 = contact(1, "a1"), b = contact(2, "b"), a2 = contact(1, "a2");
	sp_contact p1 = contact(3, "p1"), p2 = contact(3, "p2");

	p1.record_pending = true;
	snprintf(p1.serial, sizeof(p1.serial), "SN-CERT");
	snprintf(p1.product, sizeof(p1.product), "PN-CERT");
	must(sp_contacts_new(&q));
	assert_true(sp_contacts_put(q, &a1, 10));
	assert_true(sp_contacts_put(q, &b, 10));
	assert_true(sp_contacts_put(q, &p1, 10));
	assert_true(sp_contacts_put(q, &a2, 10));
	assert_true(sp_contacts_put(q, &p2, 10));
	assert_int_equal(stats(q).queued, 3);
	sp_contacts_flush(q, rec_sink, &r);
	assert_int_equal(r.n, 3);
	/* The first arrival keeps its place; the last contact wins. */
	assert_string_equal(r.v[0].etag, "\"a2\"");
	assert_string_equal(r.v[1].etag, "\"b\"");
	assert_string_equal(r.v[2].etag, "\"p2\"");
	/* A pending mark stays, with the serial and product it came with. */
	assert_true(r.v[2].record_pending);
	assert_string_equal(r.v[2].serial, "SN-CERT");
	assert_string_equal(r.v[2].product, "PN-CERT");
	assert_false(r.v[0].record_pending);
	free(r.v);
	sp_contacts_free(q);
}

static void
test_bounded(void **state)
{
	sp_contacts *q = NULL;
	rec r = { 0 };
	sp_contact c;
	const size_t max = 600, tries = 1000; /* past the first allocation */

	must(sp_contacts_new(&q));
	for (unsigned int i = 0; i < tries; i++) {
		c = contact(i, "x");
		assert_int_equal(sp_contacts_put(q, &c, max), i < max);
	}
	assert_int_equal(stats(q).queued, max);
	assert_int_equal(stats(q).dropped, tries - max);
	/* Full, a device already queued still updates its record. */
	c = contact(7, "again");
	assert_true(sp_contacts_put(q, &c, max));
	assert_int_equal(stats(q).queued, max);
	assert_int_equal(stats(q).dropped, tries - max);
	sp_contacts_flush(q, rec_sink, &r);
	assert_int_equal(r.n, max);
	for (unsigned int i = 0; i < max; i++)
		assert_int_equal(r.v[i].mac.b[5] | (r.v[i].mac.b[4] << 8), i);
	assert_string_equal(r.v[7].etag, "\"again\"");
	/* max 0 is treated as 1. */
	c = contact(1, "y");
	assert_true(sp_contacts_put(q, &c, 0));
	c = contact(2, "y");
	assert_false(sp_contacts_put(q, &c, 0));
	assert_int_equal(stats(q).queued, 1);
	assert_int_equal(stats(q).dropped, tries - max + 1);
	free(r.v);
	sp_contacts_free(q);
}

/* A new queue holding devices 0 .. n-1, in order. */
static sp_contacts *
filled(size_t n, const char *etag)
{
	sp_contacts *q = NULL;
	sp_contact c;

	must(sp_contacts_new(&q));
	for (unsigned int i = 0; i < n; i++) {
		c = contact(i, etag);
		assert_true(sp_contacts_put(q, &c, n));
	}
	return q;
}

static void
test_failed_batch(void **state)
{
	const size_t n = SP_CONTACT_BATCH_MAX + 5;
	sp_contacts *q = filled(n, "x");
	rec r = { 0 };
	sp_contact c;

	r.fail_call = 1;
	assert_true(sp_contacts_flush(q, rec_sink, &r));
	/* Refused for good: the first batch is lost and counted; the second is written. */
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.n, 5);
	assert_int_equal(r.v[0].mac.b[5] | (r.v[0].mac.b[4] << 8) |
	    (r.v[0].mac.b[3] << 16), SP_CONTACT_BATCH_MAX);
	assert_int_equal(stats(q).failed, SP_CONTACT_BATCH_MAX);
	assert_int_equal(stats(q).written, 5);
	assert_int_equal(stats(q).queued, 0);
	/* No sink: the records are discarded, nothing is counted. */
	c = contact(1, "x");
	assert_true(sp_contacts_put(q, &c, n));
	sp_contacts_flush(q, NULL, NULL);
	assert_int_equal(stats(q).queued, 0);
	assert_int_equal(stats(q).written, 5);
	assert_int_equal(stats(q).failed, SP_CONTACT_BATCH_MAX);
	free(r.v);
	sp_contacts_free(q);
}

/* The store unreachable: refused batches go back in front, in order. */
static void
test_unreachable_requeues(void **state)
{
	const size_t n = SP_CONTACT_BATCH_MAX + 5;
	sp_contacts *q = filled(n, "old");
	rec r = { 0 };
	sp_contact c;

	r.fail_from = 2;
	r.fail_code = SP_E_DB;
	assert_false(sp_contacts_flush(q, rec_sink, &r));
	/* The first batch was written; the second stays queued, not counted. */
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.n, SP_CONTACT_BATCH_MAX);
	assert_int_equal(stats(q).written, SP_CONTACT_BATCH_MAX);
	assert_int_equal(stats(q).failed, 0);
	assert_int_equal(stats(q).dropped, 0);
	assert_int_equal(stats(q).queued, 5);
	/* Meanwhile: a newer record of a requeued MAC and a new MAC. */
	c = contact(SP_CONTACT_BATCH_MAX + 1, "new");
	assert_true(sp_contacts_put(q, &c, n));
	c = contact(n + 7, "new");
	assert_true(sp_contacts_put(q, &c, n));
	assert_int_equal(stats(q).queued, 6);
	/* Refused again, while a request queues a newer record of a requeued MAC. */
	r.fail_from = 3;
	r.put_q = q;
	r.put_c = contact(SP_CONTACT_BATCH_MAX + 1, "newer");
	assert_false(sp_contacts_flush(q, rec_sink, &r));
	assert_int_equal(stats(q).queued, 6);
	/* Back: requeued first (oldest), the newer record replaced its old one. */
	r.fail_from = 0;
	r.put_q = NULL;
	assert_true(sp_contacts_flush(q, rec_sink, &r));
	assert_int_equal(r.n, SP_CONTACT_BATCH_MAX + 6);
	for (size_t i = 0; i < 6; i++) {
		const sp_contact *g = &r.v[SP_CONTACT_BATCH_MAX + i];
		unsigned int id = (unsigned)(g->mac.b[5] | (g->mac.b[4] << 8) |
		    (g->mac.b[3] << 16));
		static const unsigned int want[] = { SP_CONTACT_BATCH_MAX,
		    SP_CONTACT_BATCH_MAX + 2, SP_CONTACT_BATCH_MAX + 3,
		    SP_CONTACT_BATCH_MAX + 4, SP_CONTACT_BATCH_MAX + 5 + 7,
		    SP_CONTACT_BATCH_MAX + 1 };
		static const char *const etag[] = { "\"old\"", "\"old\"", "\"old\"",
		    "\"old\"", "\"new\"", "\"newer\"" };
		assert_int_equal(id, want[i]);
		assert_string_equal(g->etag, etag[i]);
	}
	assert_int_equal(stats(q).queued, 0);
	assert_int_equal(stats(q).failed, 0);
	free(r.v);
	sp_contacts_free(q);
}

/* take_oldest leaves the newest keep records, oldest first out. */
static void
test_take_oldest(void **state)
{
	sp_contacts *q = NULL;
	rec r = { 0 };
	sp_contact c, *v = NULL;
	size_t n = 0;

	must(sp_contacts_new(&q));
	for (unsigned int i = 0; i < 10; i++) {
		c = contact(i, "x");
		assert_true(sp_contacts_put(q, &c, 100));
	}
	must(sp_contacts_take_oldest(q, 20, &v, &n));
	assert_null(v);
	assert_int_equal(n, 0);
	must(sp_contacts_take_oldest(q, 3, &v, &n));
	assert_int_equal(n, 7);
	for (unsigned int i = 0; i < 7; i++)
		assert_int_equal(v[i].mac.b[5], i);
	assert_int_equal(stats(q).queued, 3);
	/* The index still finds the rest: a repeat overwrites, no new slot. */
	c = contact(8, "again");
	assert_true(sp_contacts_put(q, &c, 100));
	assert_int_equal(stats(q).queued, 3);
	assert_true(sp_contacts_flush(q, rec_sink, &r));
	assert_int_equal(r.n, 3);
	assert_int_equal(r.v[0].mac.b[5], 7);
	assert_string_equal(r.v[1].etag, "\"again\"");
	free(v);
	free(r.v);
	sp_contacts_free(q);
}

static int kicks;
static void
count_kick(void *arg)
{
	(void)arg;
	kicks++;
}

/* Past the soft bound the store thread is kicked, once per crossing. */
static void
test_kick(void **state)
{
	sp_contacts *q = NULL;
	sp_contact c;

	must(sp_contacts_new(&q));
	sp_contacts_set_kick(q, 3, count_kick, NULL);
	kicks = 0;
	for (unsigned int i = 0; i < 6; i++) {
		c = contact(i, "x");
		assert_true(sp_contacts_put(q, &c, 10));
		assert_int_equal(kicks, i >= 3 ? 1 : 0);
	}
	sp_contacts_flush(q, NULL, NULL);
	for (unsigned int i = 0; i < 4; i++) {
		c = contact(i, "x");
		assert_true(sp_contacts_put(q, &c, 10));
	}
	assert_int_equal(kicks, 2);
	sp_contacts_free(q);
}

static void
test_flush_to_sqlite(void **state)
{
	char dir[64], path[128], uri[160], p[160];
	sp_store *st = NULL;
	sp_contacts *q = NULL;
	sp_contact a1 = contact(1, "a1"), b = contact(2, "b"), a2 = contact(1, "a2");
	sp_contact got;
	sp_device dev;
	bool found = false;
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };

	snprintf(dir, sizeof(dir), "/tmp/sprov-contacts.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	snprintf(uri, sizeof(uri), "sqlite:%s", path);
	must(sp_store_open_ex(uri, SP_STORE_CREATE, &st));
	must(sp_contacts_new(&q));

	b.record_pending = true;
	snprintf(b.serial, sizeof(b.serial), "SN2");
	snprintf(b.product, sizeof(b.product), "PN2");
	assert_true(sp_contacts_put(q, &a1, 10));
	assert_true(sp_contacts_put(q, &b, 10));
	assert_true(sp_contacts_put(q, &a2, 10));
	/* Nothing reaches the store before the flush. */
	must(sp_store_contact_get(st, &a1.mac, &got, &found));
	assert_false(found);
	sp_contacts_flush(q, sp_contacts_store_sink, st);
	assert_int_equal(stats(q).written, 2);
	assert_int_equal(stats(q).failed, 0);

	must(sp_store_contact_get(st, &a1.mac, &got, &found));
	assert_true(found);
	assert_string_equal(got.etag, "\"a2\"");
	assert_string_equal(got.ip, "10.0.0.1");
	assert_string_equal(got.ua, "Vendor/PN-1.0 (SN1)");
	assert_int_equal(got.time, 1700000001);
	assert_int_equal(got.status, 200);
	must(sp_store_contact_get(st, &b.mac, &got, &found));
	assert_true(found);
	assert_string_equal(got.etag, "\"b\"");
	/* The pending mark made an unknown device a pending one. */
	must(sp_store_device_get(st, &b.mac, &dev, &found));
	assert_true(found);
	assert_true(dev.pending);
	assert_string_equal(dev.serial, "SN2");
	assert_string_equal(dev.product, "PN2");
	must(sp_store_device_get(st, &a1.mac, &dev, &found));
	assert_false(found);

	sp_contacts_free(q);
	sp_store_close(st);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_and_flush),
		cmocka_unit_test(test_one_record_per_mac),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_failed_batch),
		cmocka_unit_test(test_unreachable_requeues),
		cmocka_unit_test(test_take_oldest),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_flush_to_sqlite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
