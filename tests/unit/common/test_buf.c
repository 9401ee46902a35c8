#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <malloc.h>

#include "common/buf.h"
#include "common/util.h"
#include "profile/profile.h"

/*
 * Freed-memory watch: the test executable is linked with --wrap=free and
 * --wrap=realloc (CMakeLists.txt), so every free and realloc that sprov's
 * code makes passes through here.  A block that still holds MARK when it is
 * freed, or that holds it when handed to realloc (which may free it without
 * wiping), is counted.
 */
#define MARK "s3cr3t-SIP-pa55w0rd"
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
static int watching, freed_with_mark, realloc_with_mark;

static bool
holds_mark(void *p)
{
	return p && memmem(p, malloc_usable_size(p), MARK, sizeof(MARK) - 1) != NULL;
}

void
__wrap_free(void *p)
{
	if (watching && holds_mark(p))
		freed_with_mark++;
	__real_free(p);
}

void *
__wrap_realloc(void *p, size_t n)
{
	if (watching && holds_mark(p))
		realloc_with_mark++;
	return __real_realloc(p, n);
}

/* Put MARK in b, grow b well past its first blocks, free it. */
static void
fill_and_free(sp_buf *b)
{
	watching = 1;
	freed_with_mark = realloc_with_mark = 0;
	assert_true(sp_ok(sp_buf_append_str(b, MARK)));
	for (int i = 0; i < 200; i++)
		assert_true(sp_ok(sp_buf_printf(b, "<line %d>", i)));
	sp_buf_free(b);
	watching = 0;
}

static void
test_ceiling(void **state)
{
	sp_buf b;
	(void)state;
	sp_buf_init(&b, 8);
	assert_true(sp_ok(sp_buf_append_str(&b, "12345678")));
	assert_int_equal(b.len, 8);
	sp_result r = sp_buf_append_byte(&b, 'x');
	assert_int_equal(r.code, SP_E_LIMIT);
	assert_int_equal(b.len, 8);          /* unchanged after a refusal */
	assert_string_equal(sp_buf_cstr(&b), "12345678");
	sp_buf_reset(&b);
	assert_int_equal(sp_buf_printf(&b, "%s", "123456789").code, SP_E_LIMIT);
	assert_true(sp_ok(sp_buf_printf(&b, "%d-%d", 12, 34)));
	assert_string_equal(sp_buf_cstr(&b), "12-34");
	sp_buf_free(&b);
	assert_null(b.p);
}

static void
test_binary(void **state)
{
	sp_buf b;
	size_t n;
	(void)state;
	sp_buf_init(&b, 1024);
	assert_string_equal(sp_buf_cstr(&b), "");
	assert_true(sp_ok(sp_buf_append(&b, "a\0b", 3)));
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, "a\0b", 3);
	char *s = sp_buf_steal(&b, &n);
	assert_int_equal(n, 3);
	assert_null(b.p);
	free(s);
	sp_buf_free_secret(&b);
}

static void
test_slices(void **state)
{
	(void)state;
	assert_true(sp_slice_eq_nocase(sp_slice_of("AbC"), sp_slice_of("aBc")));
	assert_false(sp_slice_eq(sp_slice_of("abc"), sp_slice_of("abcd")));
	assert_int_equal(sp_slice_find(sp_slice_of("a/b"), '/'), 1);
	assert_int_equal(sp_slice_find(sp_slice_of("ab"), '/'), 2);
	sp_slice t = sp_slice_trim(sp_slice_of("  x y \n"));
	assert_true(sp_slice_eq_cstr(t, "x y"));
	assert_int_equal(sp_slice_trim(sp_slice_of("   ")).len, 0);
}

static void
test_secret_leaves_nothing(void **state)
{
	sp_buf b;
	(void)state;
	/* The watch works: a plain buffer leaves the mark behind. */
	sp_buf_init(&b, 1 << 20);
	fill_and_free(&b);
	assert_true(realloc_with_mark + freed_with_mark > 0);
	/* A secret buffer never reallocs with it and wipes before free. */
	sp_buf_init_secret(&b, 1 << 20);
	fill_and_free(&b);
	assert_int_equal(realloc_with_mark, 0);
	assert_int_equal(freed_with_mark, 0);
	/* Marked after init, before the secret arrives: the same. */
	sp_buf_init(&b, 1 << 20);
	sp_buf_mark_secret(&b);
	fill_and_free(&b);
	assert_int_equal(realloc_with_mark + freed_with_mark, 0);
	/* The ceiling still holds for secret buffers. */
	sp_buf_init_secret(&b, 4);
	assert_int_equal(sp_buf_append_str(&b, "12345").code, SP_E_LIMIT);
	sp_buf_free(&b);
}

/* A rendered profile holds SIP passwords: sp_profile_render marks it. */
static void
test_rendered_profile_is_secret(void **state)
{
	sp_params ps;
	sp_buf xml;
	char name[32];
	(void)state;
	sp_params_init(&ps);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Admin_Passwd", MARK, SP_ACCESS_NA)));
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "Display_Name_%d_", i);
		assert_true(sp_ok(sp_params_set_cstr(&ps, name, "Front desk",
		    SP_ACCESS_UNSET)));
	}
	sp_buf_init(&xml, 1 << 20);
	watching = 1;
	freed_with_mark = realloc_with_mark = 0;
	assert_true(sp_ok(sp_profile_render(&ps, &xml)));
	assert_true(xml.secret);
	assert_non_null(strstr(sp_buf_cstr(&xml), MARK));
	sp_buf_free(&xml);
	watching = 0;
	assert_int_equal(realloc_with_mark + freed_with_mark, 0);
	sp_params_free(&ps);
}

/* sp_read_file_secret: key files land in a secret buffer. */
static void
test_read_file_secret(void **state)
{
	char path[] = "/tmp/sprov-test-buf-XXXXXX";
	sp_buf b;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(write(fd, MARK "\n", sizeof(MARK)), (ssize_t)sizeof(MARK));
	close(fd);
	watching = 1;
	freed_with_mark = realloc_with_mark = 0;
	assert_true(sp_ok(sp_read_file_secret(path, 1 << 20, &b)));
	assert_true(b.secret);
	assert_int_equal(b.len, 4000 * sizeof(MARK));
	sp_buf_free(&b);
	watching = 0;
	unlink(path);
	assert_int_equal(realloc_with_mark + freed_with_mark, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_secret_leaves_nothing),
		cmocka_unit_test(test_rendered_profile_is_secret),
		cmocka_unit_test(test_read_file_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
