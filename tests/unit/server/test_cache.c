/* The render cache: generation-tagged entries, ETag from the bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cache.h"

/* 01 02 ... 20 */
static const uint8_t key1[SP_ETAG_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key2[SP_ETAG_KEY_LEN] = { 9 };

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
	assert_true(sp_ok(sp_cache_new(10, key1, &c)));
	assert_null(sp_cache_get(c, &m, 1));
	assert_true(sp_ok(sp_cache_entry_new(c, &m, 1, false, "<a/>", 4, &e)));
	sp_cache_put(c, e);
	g = sp_cache_get(c, &m, 1);
	assert_ptr_equal(g, e);
	sp_cache_release(g);
	/* Another generation misses. */
	assert_null(sp_cache_get(c, &m, 2));
	/* Same bytes, same ETag; quoted, 32 hex digits. */
	assert_true(sp_ok(sp_cache_entry_new(c, &m, 2, false, "<a/>", 4, &e2)));
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
	assert_true(sp_ok(sp_cache_new(4, key1, &c)));
	for (uint8_t i = 0; i < 9; i++) {
		sp_mac m = mac(i);
		sp_cache_entry *e = NULL;
		assert_true(sp_ok(sp_cache_entry_new(c, &m, 1, false, "x", 1, &e)));
		sp_cache_put(c, e);
		sp_cache_release(e);
	}
	sp_cache_stats_get(c, &st);
	assert_true(st.entries <= 4);
	assert_true(st.flushes >= 1);
	sp_cache_free(c);
}

/* The ETag of "<a/>" under key1, and the body's plain SHA-256. */
#define HMAC_A "\"8e36b530fb7a817245c98a7adedbc09e\""
#define SHA_A "\"29114363f749a0226b6988dda3ca2492\""

static void
test_etag_keyed(void **state)
{
	sp_cache *c1 = NULL, *c1b = NULL, *c2 = NULL;
	sp_cache_entry *e1 = NULL, *e1b = NULL, *e2 = NULL;
	sp_mac m = mac(1);
	(void)state;
	assert_true(sp_ok(sp_cache_new(4, key1, &c1)));
	assert_true(sp_ok(sp_cache_new(4, key1, &c1b)));
	assert_true(sp_ok(sp_cache_new(4, key2, &c2)));
	assert_true(sp_ok(sp_cache_entry_new(c1, &m, 1, false, "<a/>", 4, &e1)));
	assert_true(sp_ok(sp_cache_entry_new(c1b, &m, 1, false, "<a/>", 4, &e1b)));
	assert_true(sp_ok(sp_cache_entry_new(c2, &m, 1, false, "<a/>", 4, &e2)));
	/* HMAC-SHA256 (RFC 2104) cut to 128 bits; not the digest of the body. */
	assert_string_equal(e1->etag, HMAC_A);
	assert_string_not_equal(e1->etag, SHA_A);
	/* Same key (two nodes sharing etag-key-file): same ETag; another key: not. */
	assert_string_equal(e1b->etag, e1->etag);
	assert_string_not_equal(e2->etag, e1->etag);
	sp_cache_release(e1);
	sp_cache_release(e1b);
	sp_cache_release(e2);
	sp_cache_free(c1);
	sp_cache_free(c1b);
	sp_cache_free(c2);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_etag_key_file(void **state)
{
	char dir[] = "/tmp/sprov-etagkey.XXXXXX", path[64];
	uint8_t k[SP_ETAG_KEY_LEN], r1[SP_ETAG_KEY_LEN], r2[SP_ETAG_KEY_LEN];
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/etag.key", dir);
	write_text(path, "0102030405060708090a0b0c0d0e0f10"
	    "1112131415161718191A1B1C1D1E1F20\n");
	assert_true(sp_ok(sp_etag_key_load(path, k)));
	assert_memory_equal(k, key1, sizeof(k));
	/* No file: a random key, different each start. */
	assert_true(sp_ok(sp_etag_key_load("", r1)));
	assert_true(sp_ok(sp_etag_key_load(NULL, r2)));
	assert_memory_not_equal(r1, r2, sizeof(r1));
	/* Refusals name the file and the fault. */
	memset(k, 0, sizeof(k));
	write_text(path, "0102\n");
	assert_int_equal(sp_etag_key_load(path, k).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "expected 64 hex digits, found 4 bytes"));
	assert_non_null(strstr(sp_errmsg(), path));
	write_text(path, "0102030405060708090a0b0c0d0e0f10"
	    "1112131415161718191a1b1c1d1e1fzz");
	assert_int_equal(sp_etag_key_load(path, k).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "not a hex digit at byte 62"));
	unlink(path);
	assert_true(sp_failed(sp_etag_key_load(path, k)));
	assert_non_null(strstr(sp_errmsg(), "etag-key-file"));
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put), cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_etag_keyed), cmocka_unit_test(test_etag_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
