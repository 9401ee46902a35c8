/* Connections in the TLS handshake per source address (src/tls/tls_source.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "tls/tls_internal.h"

/* The key of the address s of family fam (AF_INET or AF_INET6). */
static sp_tls_srckey
key_of(int fam, const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sp_tls_srckey k;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)fam;
	assert_int_equal(inet_pton(fam, s, fam == AF_INET ? (void *)&sin->sin_addr :
	    (void *)&sin6->sin6_addr), 1);
	assert_true(sp_tls_srckey_of((struct sockaddr *)&ss, fam == AF_INET ? sizeof(*sin) :
	    sizeof(*sin6), &k));
	return k;
}

#define v4(s) key_of(AF_INET, s)
#define v6(s) key_of(AF_INET6, s)

static void
test_keys(void **state)
{
	sp_tls_srckey a, b;
	struct sockaddr_un_like {
		sa_family_t fam;
		char path[20];
	} un = { AF_UNIX, "x" };
	char s[64];
	(void)state;

	a = v4("192.0.2.7");
	assert_int_equal(a.fam, 4);
	sp_tls_srckey_str(&a, s, sizeof(s));
	assert_string_equal(s, "192.0.2.7");
	/* An IPv4-mapped IPv6 peer is its IPv4 address. */
	b = v6("::ffff:192.0.2.7");
	assert_int_equal(b.fam, 4);
	assert_true(a.v == b.v);
	/* IPv6: the /64 is the key; the interface half does not matter. */
	a = v6("2001:db8:1:2::1");
	b = v6("2001:db8:1:2:ffff:ffff:ffff:ffff");
	assert_int_equal(a.fam, 6);
	assert_true(a.v == b.v);
	sp_tls_srckey_str(&a, s, sizeof(s));
	assert_string_equal(s, "2001:db8:1:2::/64");
	b = v6("2001:db8:1:3::1");
	assert_false(a.v == b.v);
	/* An IPv6 /64 whose bits equal an IPv4 address is another source. */
	a = v4("0.0.0.1");
	b = v6("::1");
	assert_true(a.v == 1 && b.v == 0);
	/* Neither IPv4 nor IPv6, or a short address: no key. */
	assert_false(sp_tls_srckey_of((struct sockaddr *)&un, sizeof(un), &a));
	{
		struct sockaddr_in sin = { .sin_family = AF_INET };
		assert_false(sp_tls_srckey_of((struct sockaddr *)&sin, 4, &a));
	}
}

static void
test_cap(void **state)
{
	sp_tls_srcmap *m = NULL;
	sp_tls_srckey a = v4("127.0.0.2"), b = v4("127.0.0.1");
	sp_tls_src_refusal r;
	size_t n = 99;
	(void)state;

	assert_true(sp_ok(sp_tls_srcmap_new(&m)));
	for (int i = 0; i < 3; i++)
		assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 1000, &r), SP_TLS_SRC_COUNTED);
	assert_int_equal(sp_tls_srcmap_count(m, &a, &n), 3);
	assert_int_equal(n, 1);
	/* At the cap: refused, and the first refusal is logged. */
	assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 2000, &r), SP_TLS_SRC_REFUSED);
	assert_true(r.log);
	assert_int_equal(r.in_handshake, 3);
	assert_int_equal(r.refused, 1);
	/* Within the second: refused silently, counted for the next line. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 2000 + 999999999ull, &r),
		    SP_TLS_SRC_REFUSED);
		assert_false(r.log);
	}
	assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 2000 + 1000000000ull, &r),
	    SP_TLS_SRC_REFUSED);
	assert_true(r.log);
	assert_int_equal(r.refused, 6);
	/* Refusals are not counted as connections; another source is apart. */
	assert_int_equal(sp_tls_srcmap_count(m, &a, NULL), 3);
	assert_int_equal(sp_tls_srcmap_enter(m, &b, 3, 2000, &r), SP_TLS_SRC_COUNTED);
	assert_int_equal(sp_tls_srcmap_count(m, &b, &n), 1);
	assert_int_equal(n, 2);
	/* One finishes its handshake: room for one more. */
	sp_tls_srcmap_leave(m, &a);
	assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 3000, &r), SP_TLS_SRC_COUNTED);
	assert_int_equal(sp_tls_srcmap_enter(m, &a, 3, 3000, &r), SP_TLS_SRC_REFUSED);
	/* A cap lowered by a reload refuses until the count is below it. */
	assert_int_equal(sp_tls_srcmap_enter(m, &a, 1, 3000, &r), SP_TLS_SRC_REFUSED);
	/* The entry is freed when its count drops to 0. */
	for (int i = 0; i < 3; i++)
		sp_tls_srcmap_leave(m, &a);
	assert_int_equal(sp_tls_srcmap_count(m, &a, &n), 0);
	assert_int_equal(n, 1);
	sp_tls_srcmap_leave(m, &a); /* not there: no effect */
	sp_tls_srcmap_leave(m, &b);
	assert_int_equal(sp_tls_srcmap_count(m, &b, &n), 0);
	assert_int_equal(n, 0);
	sp_tls_srcmap_free(m);
}

/*
 * Many sources: the table is bounded (a source with no room within its
 * probe run is let through uncounted), deletion keeps every other entry
 * findable, and it empties completely.
 */
static void
test_bounded(void **state)
{
	enum { N = SP_TLS_SRC_SLOTS * 2 };
	static sp_tls_src_verdict got[N];
	sp_tls_srcmap *m = NULL;
	sp_tls_src_refusal r;
	sp_tls_srckey k;
	size_t n = 0, counted = 0, untracked = 0;
	(void)state;

	assert_true(sp_ok(sp_tls_srcmap_new(&m)));
	k.fam = 6;
	for (size_t i = 0; i < N; i++) {
		k.v = 0x20010db800000000ull + i;
		got[i] = sp_tls_srcmap_enter(m, &k, 2, 1, &r);
		assert_true(got[i] == SP_TLS_SRC_COUNTED || got[i] == SP_TLS_SRC_UNTRACKED);
		counted += got[i] == SP_TLS_SRC_COUNTED;
		untracked += got[i] == SP_TLS_SRC_UNTRACKED;
	}
	(void)sp_tls_srcmap_count(m, &k, &n);
	assert_int_equal(n, counted);
	assert_true(counted <= SP_TLS_SRC_SLOTS / 4 * 3);
	assert_true(counted > SP_TLS_SRC_SLOTS / 2);
	assert_true(untracked >= N - SP_TLS_SRC_SLOTS / 4 * 3);
	/* Remove every other counted source; the rest are all still found. */
	for (size_t i = 0; i < N; i += 2) {
		k.v = 0x20010db800000000ull + i;
		if (got[i] == SP_TLS_SRC_COUNTED)
			sp_tls_srcmap_leave(m, &k);
	}
	for (size_t i = 0; i < N; i++) {
		k.v = 0x20010db800000000ull + i;
		assert_int_equal(sp_tls_srcmap_count(m, &k, NULL),
		    (i % 2 == 1 && got[i] == SP_TLS_SRC_COUNTED) ? 1 : 0);
	}
	for (size_t i = 1; i < N; i += 2) {
		k.v = 0x20010db800000000ull + i;
		if (got[i] == SP_TLS_SRC_COUNTED)
			sp_tls_srcmap_leave(m, &k);
	}
	(void)sp_tls_srcmap_count(m, &k, &n);
	assert_int_equal(n, 0);
	sp_tls_srcmap_free(m);
}

/* Worker threads share one table: counts stay exact under contention. */
typedef struct {
	sp_tls_srcmap *m;
	int id;
	int refused;
} thr_arg;

static void *
thr(void *p)
{
	thr_arg *a = p;
	sp_tls_src_refusal r;
	sp_tls_srckey k = { .v = 0x7f000002, .fam = 4 }, mine = { .v = (uint64_t)a->id,
		.fam = 6 };

	for (int i = 0; i < 20000; i++) {
		if (sp_tls_srcmap_enter(a->m, &k, 1000000, 1, &r) == SP_TLS_SRC_COUNTED)
			sp_tls_srcmap_leave(a->m, &k);
		else
			a->refused++;
		if (sp_tls_srcmap_enter(a->m, &mine, 1, 1, &r) == SP_TLS_SRC_COUNTED)
			sp_tls_srcmap_leave(a->m, &mine);
		else
			a->refused++;
	}
	return NULL;
}

static void
test_threads(void **state)
{
	sp_tls_srcmap *m = NULL;
	pthread_t t[4];
	thr_arg a[4];
	size_t n = 99;
	sp_tls_srckey k = { .v = 0x7f000002, .fam = 4 };
	(void)state;

	assert_true(sp_ok(sp_tls_srcmap_new(&m)));
	for (int i = 0; i < 4; i++) {
		a[i] = (thr_arg){ m, i, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, thr, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].refused, 0);
	}
	assert_int_equal(sp_tls_srcmap_count(m, &k, &n), 0);
	assert_int_equal(n, 0);
	sp_tls_srcmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
