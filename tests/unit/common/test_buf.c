#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceiling),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_slices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
