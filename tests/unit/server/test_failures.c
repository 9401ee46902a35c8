#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/failures.h"
#include "tls/tls.h"

static void
must(sp_result r)
{
	if (sp_failed(r))
		fail_msg("unexpected failure: %s", sp_errmsg());
}

static sp_mac
mac_n(uint32_t n)
{
	sp_mac m = { { 0x00, 0x11, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
	    (uint8_t)n } };
	return m;
}

static sp_failure
fail_of(bool named, uint32_t n, sp_fail_reason r, int64_t t, const char *ip)
{
	sp_failure f;

	memset(&f, 0, sizeof(f));
	f.has_mac = named;
	if (named)
		f.mac = mac_n(n);
	f.reason = r;
	f.count = 1;
	f.time = t;
	snprintf(f.ip, sizeof(f.ip), "%s", ip);
	snprintf(f.detail, sizeof(f.detail), "detail at %lld", (long long)t);
	return f;
}

/* Same MAC and reason fold into one entry with the newest details. */
static void
test_fold_by_mac_and_reason(void **state)
{
	srv_failures *q = NULL;
	sp_failure *v = NULL, f;
	size_t n = 0;
	srv_failures_stats st;

	(void)state;
	must(srv_failures_new(16, &q));
	f = fail_of(true, 1, SP_FAIL_REVOKED, 100, "10.0.0.1");
	assert_true(srv_failures_put(q, &f));
	f = fail_of(true, 1, SP_FAIL_REVOKED, 105, "10.0.0.2");
	assert_true(srv_failures_put(q, &f));
	f = fail_of(true, 1, SP_FAIL_REVOKED, 90, "10.0.0.3");  /* older: counted only */
	assert_true(srv_failures_put(q, &f));
	f = fail_of(true, 1, SP_FAIL_EXPIRED, 101, "10.0.0.1"); /* another reason */
	assert_true(srv_failures_put(q, &f));
	f = fail_of(true, 2, SP_FAIL_REVOKED, 101, "10.0.0.1"); /* another MAC */
	assert_true(srv_failures_put(q, &f));
	srv_failures_stats_get(q, &st);
	assert_int_equal(st.queued, 3);
	assert_int_equal(st.by_reason[SP_FAIL_REVOKED], 4);
	assert_int_equal(st.by_reason[SP_FAIL_EXPIRED], 1);
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(n, 3);
	/* Arrival order of the keys. */
	assert_int_equal(v[0].reason, SP_FAIL_REVOKED);
	assert_memory_equal(v[0].mac.b, mac_n(1).b, 6);
	assert_int_equal(v[0].count, 3);
	assert_int_equal(v[0].time, 105);
	assert_string_equal(v[0].ip, "10.0.0.2");
	assert_string_equal(v[0].detail, "detail at 105");
	assert_int_equal(v[1].reason, SP_FAIL_EXPIRED);
	assert_int_equal(v[1].count, 1);
	assert_memory_equal(v[2].mac.b, mac_n(2).b, 6);
	free(v);
	/* Empty and usable again. */
	must(srv_failures_take(q, &v, &n));
	assert_null(v);
	assert_int_equal(n, 0);
	f = fail_of(true, 1, SP_FAIL_REVOKED, 200, "10.0.0.1");
	assert_true(srv_failures_put(q, &f));
	srv_failures_stats_get(q, &st);
	assert_int_equal(st.queued, 1);
	srv_failures_free(q);
}

/* Nameless refusals fold by source address and reason, never with a MAC's. */
static void
test_fold_nameless_by_address(void **state)
{
	srv_failures *q = NULL;
	sp_failure *v = NULL, f;
	size_t n = 0;

	(void)state;
	must(srv_failures_new(16, &q));
	for (int i = 0; i < 5; i++) {
		f = fail_of(false, 0, SP_FAIL_NO_CERT, 100 + i, "192.0.2.7");
		assert_true(srv_failures_put(q, &f));
	}
	f = fail_of(false, 0, SP_FAIL_NO_CERT, 100, "192.0.2.8");
	assert_true(srv_failures_put(q, &f));
	f = fail_of(false, 0, SP_FAIL_UNTRUSTED, 100, "192.0.2.7");
	assert_true(srv_failures_put(q, &f));
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(n, 3);
	assert_false(v[0].has_mac);
	assert_int_equal(v[0].count, 5);
	assert_int_equal(v[0].time, 104);
	assert_string_equal(v[1].ip, "192.0.2.8");
	assert_int_equal(v[2].reason, SP_FAIL_UNTRUSTED);
	free(v);
	srv_failures_free(q);
}

/* A storm of distinct keys: bounded at max, the rest dropped and counted. */
static void
test_bounded_storm(void **state)
{
	srv_failures *q = NULL;
	sp_failure *v = NULL, f;
	size_t n = 0;
	srv_failures_stats st;

	(void)state;
	must(srv_failures_new(SRV_FAIL_KEYS_MAX, &q));
	for (uint32_t i = 0; i < SRV_FAIL_KEYS_MAX + 1000; i++) {
		f = fail_of(true, i, SP_FAIL_UNTRUSTED, 1, "10.0.0.1");
		assert_int_equal(srv_failures_put(q, &f), i < SRV_FAIL_KEYS_MAX);
	}
	/* A key already queued still folds when full. */
	f = fail_of(true, 0, SP_FAIL_UNTRUSTED, 2, "10.0.0.1");
	assert_true(srv_failures_put(q, &f));
	srv_failures_stats_get(q, &st);
	assert_int_equal(st.queued, SRV_FAIL_KEYS_MAX);
	assert_int_equal(st.dropped, 1000);
	assert_int_equal(st.by_reason[SP_FAIL_UNTRUSTED], SRV_FAIL_KEYS_MAX + 1001);
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(n, SRV_FAIL_KEYS_MAX);
	assert_true(n <= SP_FAIL_BATCH_MAX);  /* one store batch per flush */
	assert_int_equal(v[0].count, 2);
	/* Put back (the store was away): folded with what came meanwhile. */
	f = fail_of(true, 0, SP_FAIL_UNTRUSTED, 3, "10.0.0.9");
	assert_true(srv_failures_put(q, &f));
	srv_failures_putback(q, v, n);
	free(v);
	srv_failures_stats_get(q, &st);
	assert_int_equal(st.queued, SRV_FAIL_KEYS_MAX);
	assert_int_equal(st.dropped, 1000);
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(v[0].count, 3);
	assert_int_equal(v[0].time, 3);
	assert_string_equal(v[0].ip, "10.0.0.9");
	free(v);
	srv_failures_free(q);
}

static void
test_bad_input(void **state)
{
	srv_failures *q = NULL;
	sp_failure f;
	srv_failures_stats st;

	(void)state;
	assert_int_equal(srv_failures_new(0, &q).code, SP_E_USAGE);
	assert_int_equal(srv_failures_new(SRV_FAIL_KEYS_MAX + 1, &q).code, SP_E_USAGE);
	assert_null(q);
	must(srv_failures_new(4, &q));
	f = fail_of(true, 1, (sp_fail_reason)SP_FAIL_N, 1, "");
	assert_false(srv_failures_put(q, &f));
	srv_failures_stats_get(q, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.dropped, 0);
	srv_failures_free(q);
	srv_failures_free(NULL);
}

/* srv_failures_note fills a record and cuts long fields. */
static void
test_note(void **state)
{
	srv_failures *q = NULL;
	sp_failure *v = NULL;
	size_t n = 0;
	sp_mac m = mac_n(7);
	char big[300];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	must(srv_failures_new(4, &q));
	assert_true(srv_failures_note(q, SP_FAIL_MISMATCH, &m, "10.1.1.1", "0A1B", big));
	assert_true(srv_failures_note(q, SP_FAIL_NO_CERT, NULL, NULL, NULL, NULL));
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(n, 2);
	assert_true(v[0].has_mac);
	assert_int_equal(v[0].count, 1);
	assert_true(v[0].time > 0);
	assert_string_equal(v[0].cert_serial, "0A1B");
	assert_int_equal(strlen(v[0].detail), sizeof(v[0].detail) - 1);
	assert_false(v[1].has_mac);
	assert_string_equal(v[1].ip, "");
	free(v);
	srv_failures_free(q);
}

/* Every TLS reason has the store reason of the same name. */
static void
test_tls_reasons(void **state)
{
	static const struct { int t; const char *name; } m[] = {
		{ SP_TLS_FAIL_REVOKED, "revoked" }, { SP_TLS_FAIL_EXPIRED, "expired" },
		{ SP_TLS_FAIL_NOT_YET_VALID, "not-yet-valid" },
		{ SP_TLS_FAIL_WRONG_PURPOSE, "wrong-purpose" },
		{ SP_TLS_FAIL_UNTRUSTED, "untrusted" }, { SP_TLS_FAIL_NO_CRL, "no-crl" },
		{ SP_TLS_FAIL_NO_CERT, "no-certificate" },
		{ SP_TLS_FAIL_BAD_IDENTITY, "bad-identity" },
		{ SP_TLS_FAIL_HANDSHAKE, "handshake" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		assert_string_equal(sp_fail_reason_name(srv_fail_reason_of_tls(m[i].t)),
		    m[i].name);
}

/* Many threads at once: nothing lost, nothing counted twice. */
static void *
storm_thread(void *arg)
{
	srv_failures *q = arg;

	for (uint32_t i = 0; i < 20000; i++) {
		sp_failure f = fail_of(true, i % 100, SP_FAIL_REVOKED, 1, "10.0.0.1");
		(void)srv_failures_put(q, &f);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	srv_failures *q = NULL;
	pthread_t th[4];
	sp_failure *v = NULL;
	size_t n = 0;
	uint64_t total = 0;

	(void)state;
	must(srv_failures_new(128, &q));
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, storm_thread, q), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	must(srv_failures_take(q, &v, &n));
	assert_int_equal(n, 100);
	for (size_t i = 0; i < n; i++)
		total += v[i].count;
	assert_int_equal(total, 80000);
	free(v);
	srv_failures_free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fold_by_mac_and_reason),
		cmocka_unit_test(test_fold_nameless_by_address),
		cmocka_unit_test(test_bounded_storm),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_note),
		cmocka_unit_test(test_tls_reasons),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
