/* The render cache: generation-tagged entries, ETag from the bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "server/cache.h"

static sp_mac
mac(uint8_t last)
{
	sp_mac m = { { 0x00, 0x0e, 0x08, 0xaa, 0xbb, last } };
	return m;
}

static void
test_get_put(void **state)
{
	sp_cache *c = NULL;
	sp_cache_entry *e = NULL, *g, *e2 = NULL;
	sp_mac m = mac(1);
	sp_cache_stats st;
	(void)state;
	assert_true(sp_ok(sp_cache_new(10, &c)));
	assert_null(sp_cache_get(c, &m, 1));
	assert_true(sp_ok(sp_cache_entry_new(&m, 1, false, "<a/>", 4, &e)));
	sp_cache_put(c, e);
	g = sp_cache_get(c, &m, 1);
	assert_ptr_equal(g, e);
	sp_cache_release(g);
	/* Another generation misses. */
	assert_null(sp_cache_get(c, &m, 2));
	/* Same bytes, same ETag; quoted, 32 hex digits. */
	assert_true(sp_ok(sp_cache_entry_new(&m, 2, false, "<a/>", 4, &e2)));
	assert_string_equal(e->etag, e2->etag);
	assert_int_equal(strlen(e->etag), 34);
	assert_int_equal(e->etag[0], '"');
	sp_cache_put(c, e2); /* replaces e */
	g = sp_cache_get(c, &m, 2);
	assert_ptr_equal(g, e2);
	sp_cache_release(g);
	sp_cache_stats_get(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.misses, 2);
	sp_cache_release(e);
	sp_cache_release(e2);
	sp_cache_free(c);
}

static void
test_bounded(void **state)
{
	sp_cache *c = NULL;
	sp_cache_stats st;
	(void)state;
	assert_true(sp_ok(sp_cache_new(4, &c)));
	for (uint8_t i = 0; i < 9; i++) {
		sp_mac m = mac(i);
		sp_cache_entry *e = NULL;
		assert_true(sp_ok(sp_cache_entry_new(&m, 1, false, "x", 1, &e)));
		sp_cache_put(c, e);
		sp_cache_release(e);
	}
	sp_cache_stats_get(c, &st);
	assert_true(st.entries <= 4);
	assert_true(st.flushes >= 1);
	sp_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put), cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
