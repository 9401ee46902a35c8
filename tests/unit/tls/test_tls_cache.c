/* The shared TLS caches (src/tls/tls_cache.c): session IDs, verified
 * chains, trusted leaves, chain digests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tls/tls_internal.h"

static void
test_scache(void **state)
{
	sp_tls_cache *cc = NULL;
	const unsigned char id[] = "session-id-1", id2[] = "session-id-2";
	const unsigned char data[] = "packed session";
	unsigned char big[40] = { 0 };
	unsigned char *got;
	size_t len = 99;
	(void)state;
	assert_true(sp_ok(sp_tls_cache_new(&cc)));
	assert_null(sp_tls_scache_fetch(cc, id, sizeof(id), malloc, &len));
	assert_int_equal(len, 0);
	assert_int_equal(sp_tls_scache_store(cc, id, sizeof(id), data, sizeof(data),
	    sp_now() + 60), 0);
	got = sp_tls_scache_fetch(cc, id, sizeof(id), malloc, &len);
	assert_non_null(got);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	free(got);
	/* Another ID, an expired entry, bad sizes: nothing. */
	assert_null(sp_tls_scache_fetch(cc, id2, sizeof(id2), malloc, &len));
	assert_int_equal(sp_tls_scache_store(cc, id2, sizeof(id2), data, sizeof(data),
	    sp_now() - 1), 0);
	assert_null(sp_tls_scache_fetch(cc, id2, sizeof(id2), malloc, &len));
	assert_int_equal(sp_tls_scache_store(cc, big, sizeof(big), data, sizeof(data),
	    sp_now() + 60), -1);
	assert_int_equal(sp_tls_scache_store(cc, id, 0, data, sizeof(data), sp_now() + 60), -1);
	/* Removed once; the second time there is nothing to remove. */
	assert_int_equal(sp_tls_scache_remove(cc, id, sizeof(id)), 0);
	assert_int_equal(sp_tls_scache_remove(cc, id, sizeof(id)), -1);
	assert_null(sp_tls_scache_fetch(cc, id, sizeof(id), malloc, &len));
	sp_tls_cache_free(cc);
}

static void
digest(const char *a, const char *b, unsigned char md[SP_TLS_MD_LEN])
{
	sp_tls_md m;

	assert_true(sp_tls_md_init(&m));
	sp_tls_md_add(&m, (const unsigned char *)a, strlen(a));
	if (b != NULL)
		sp_tls_md_add(&m, (const unsigned char *)b, strlen(b));
	assert_true(sp_tls_md_final(&m, md));
}

static void
test_md_lengths(void **state)
{
	unsigned char x[SP_TLS_MD_LEN], y[SP_TLS_MD_LEN], z[SP_TLS_MD_LEN];
	(void)state;
	/* Each certificate is length-prefixed: "ab"+"c" is not "a"+"bc". */
	digest("ab", "c", x);
	digest("a", "bc", y);
	digest("ab", "c", z);
	assert_memory_not_equal(x, y, SP_TLS_MD_LEN);
	assert_memory_equal(x, z, SP_TLS_MD_LEN);
}

static void
test_vcache(void **state)
{
	sp_tls_cache *cc = NULL;
	sp_tls_conf c;
	unsigned char md[SP_TLS_MD_LEN], other[SP_TLS_MD_LEN];
	int64_t now = sp_now();
	(void)state;
	assert_true(sp_ok(sp_tls_cache_new(&cc)));
	memset(&c, 0, sizeof(c));
	c.gen = 7;
	c.ca_until = now + 1000;
	digest("chain", NULL, md);
	digest("other chain", NULL, other);
	assert_false(sp_tls_vcache_hit(cc, 7, md, now));
	/* Not remembered without the chain's or the CAs' dates. */
	sp_tls_vcache_put(cc, &c, md, now, 0);
	assert_false(sp_tls_vcache_hit(cc, 7, md, now));
	c.ca_until = 0;
	sp_tls_vcache_put(cc, &c, md, now, now + 500);
	assert_false(sp_tls_vcache_hit(cc, 7, md, now));
	/* Remembered for this generation, until the earliest notAfter. */
	c.ca_until = now + 1000;
	sp_tls_vcache_put(cc, &c, md, now, now + 500);
	assert_true(sp_tls_vcache_hit(cc, 7, md, now));
	assert_true(sp_tls_vcache_hit(cc, 7, md, now + 499));
	assert_false(sp_tls_vcache_hit(cc, 7, md, now + 500));
	assert_false(sp_tls_vcache_hit(cc, 8, md, now));
	assert_false(sp_tls_vcache_hit(cc, 7, other, now));
	/* An already expired chain is not remembered. */
	sp_tls_vcache_put(cc, &c, other, now, now);
	assert_false(sp_tls_vcache_hit(cc, 7, other, now));
	sp_tls_cache_free(cc);
}

static void
test_tcache(void **state)
{
	sp_tls_cache *cc = NULL;
	unsigned char leaf[SP_TLS_MD_LEN], t1[SP_TLS_MD_LEN], t2[SP_TLS_MD_LEN];
	(void)state;
	assert_true(sp_ok(sp_tls_cache_new(&cc)));
	digest("leaf", NULL, leaf);
	digest("trust 1", NULL, t1);
	digest("trust 2", NULL, t2);
	assert_false(sp_tls_tcache_hit(cc, leaf, t1));
	sp_tls_tcache_put(cc, leaf, t1);
	assert_true(sp_tls_tcache_hit(cc, leaf, t1));
	assert_false(sp_tls_tcache_hit(cc, leaf, t2));
	sp_tls_cache_free(cc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scache),
		cmocka_unit_test(test_md_lengths),
		cmocka_unit_test(test_vcache),
		cmocka_unit_test(test_tcache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
