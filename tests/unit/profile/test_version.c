/* Version syntax and order (profile/version.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "common/util.h"
#include "profile/version.h"

static void
test_syntax(void **state)
{
	static const char *const good[] = {
		"0", "1", "1.0", "2.0.3", "007.1", "2.0.3(0412s)", "1.2()", "1(x y)",
		"10.20.30.40.50", "99999999999999999999999.1",
	};
	static const char *const bad[] = {
		"", ".", "1.", ".1", "1..2", "a", "v1.0", "1.0a", "1.0 ", " 1.0", "1(",
		"1)", "1(a", "1(a(b))", "1(a)b", "1.0-rc1", "-1", "1,0", "(1)",
	};
	(void)state;
	for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
		if (!sp_version_ok(sp_slice_of(good[i])))
			fail_msg("'%s' should be a version", good[i]);
	}
	for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
		if (sp_version_ok(sp_slice_of(bad[i])))
			fail_msg("'%s' should not be a version", bad[i]);
	}
	/* Length-carrying: the byte after the slice does not count. */
	assert_true(sp_version_ok(sp_slice_mk("1.0x", 3)));
	assert_false(sp_version_ok(sp_slice_mk("1.0\0", 4)));
}

static const struct {
	const char *a, *b;
	int want;
} order[] = {
	{ "1.0", "1.0", 0 },
	{ "1.0", "1.0.0", 0 },
	{ "1", "1.0.0.0", 0 },
	{ "01.002", "1.2", 0 },
	{ "1.0", "1.0.1", -1 },
	{ "1.9", "1.10", -1 },
	{ "2.0", "10.0", -1 },
	{ "1.0.2", "1.0.10", -1 },
	{ "99999999999999999999999", "99999999999999999999998", 1 },
	{ "2.0.3", "2.0.3(0)", 0 },
	{ "2.0.3", "2.0.3(1)", -1 },
	{ "2.0.3(0412s)", "2.0.3(0413a)", -1 },
	{ "2.0.3(412s)", "2.0.3(0412s)", 0 },
	{ "2.0.3(0412s)", "2.0.3(0412t)", -1 },
	{ "2.0.3(0412)", "2.0.3(0412s)", -1 },
	{ "2.0.3(9999z)", "2.0.4", -1 },
	{ "2.0.3(10)", "2.0.3(9)", 1 },
	/* Not versions: byte-wise. */
	{ "abc", "abd", -1 },
	{ "1.0", "1.0a", -1 },
	{ "1.10a", "1.9", -1 },
	{ "", "", 0 },
};

static void
test_order(void **state)
{
	(void)state;
	for (size_t i = 0; i < SP_ARRAY_LEN(order); i++) {
		int got = sp_version_cmp(sp_slice_of(order[i].a), sp_slice_of(order[i].b));
		int rev = sp_version_cmp(sp_slice_of(order[i].b), sp_slice_of(order[i].a));
		if (got != order[i].want || rev != -order[i].want)
			fail_msg("cmp('%s', '%s') = %d / %d, want %d", order[i].a, order[i].b,
			    got, rev, order[i].want);
	}
}

static void
test_helpers(void **state)
{
	(void)state;
	assert_int_equal(sp_digits_cmp(SP_SLICE_LIT("0010"), SP_SLICE_LIT("10")), 0);
	assert_int_equal(sp_digits_cmp(SP_SLICE_LIT("9"), SP_SLICE_LIT("10")), -1);
	assert_int_equal(sp_digits_cmp(SP_SLICE_LIT("000"), SP_SLICE_LIT("0")), 0);
	assert_int_equal(sp_bytes_cmp(SP_SLICE_LIT("ab"), SP_SLICE_LIT("abc")), -1);
	assert_int_equal(sp_bytes_cmp(SP_SLICE_LIT("b"), SP_SLICE_LIT("abc")), 1);
	assert_int_equal(sp_bytes_cmp(SP_SLICE_LIT(""), SP_SLICE_LIT("")), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
