/*
 * Parameter sets: sorted, last occurrence wins, name rules, limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "profile/param.h"

static void
test_sorted_and_last_wins(void **state)
{
	sp_params ps;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "b", "1", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "a", "2", SP_ACCESS_RO)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "B", "3", SP_ACCESS_NA)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "ab", "4", SP_ACCESS_RW)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "b", "5", SP_ACCESS_RW)));
	assert_int_equal(ps.n, 4);
	assert_string_equal(ps.v[0].name, "B");
	assert_string_equal(ps.v[1].name, "a");
	assert_string_equal(ps.v[2].name, "ab");
	assert_string_equal(ps.v[3].name, "b");
	assert_string_equal(sp_params_value(&ps, "b", NULL), "5");
	assert_int_equal(sp_params_get(&ps, "b")->access, SP_ACCESS_RW);
	/* Case-sensitive. */
	assert_string_equal(sp_params_value(&ps, "B", NULL), "3");
	assert_null(sp_params_get(&ps, "A"));
	assert_string_equal(sp_params_value(&ps, "A", "dflt"), "dflt");
	assert_string_equal(sp_params_value(NULL, "A", "dflt"), "dflt");
	assert_true(sp_params_unset(&ps, "a"));
	assert_false(sp_params_unset(&ps, "a"));
	assert_int_equal(ps.n, 3);
	assert_string_equal(ps.v[1].name, "ab");
	sp_params_free(&ps);
	assert_int_equal(ps.n, 0);
	sp_params_free(&ps);  /* twice is fine */
}

static void
test_values_with_nul_and_empty(void **state)
{
	sp_params ps;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_params_set(&ps, SP_SLICE_LIT("X"), sp_slice_mk("a\0b", 3),
	    SP_ACCESS_UNSET)));
	assert_int_equal(sp_params_get(&ps, "X")->value_len, 3);
	assert_true(sp_ok(sp_params_set(&ps, SP_SLICE_LIT("E"), sp_slice_mk(NULL, 0),
	    SP_ACCESS_UNSET)));
	assert_string_equal(sp_params_value(&ps, "E", NULL), "");
	sp_params_free(&ps);
}

static void
test_merge_copy_equal(void **state)
{
	sp_params a, b, c;

	sp_params_init(&a);
	sp_params_init(&b);
	assert_true(sp_ok(sp_params_set_cstr(&a, "x", "1", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&a, "y", "1", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&b, "y", "2", SP_ACCESS_NA)));
	assert_true(sp_ok(sp_params_set_cstr(&b, "z", "2", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_copy(&c, &a)));
	assert_true(sp_params_equal(&a, &c));
	assert_true(sp_ok(sp_params_merge(&c, &b)));
	assert_false(sp_params_equal(&a, &c));
	assert_int_equal(c.n, 3);
	assert_string_equal(sp_params_value(&c, "y", NULL), "2");
	assert_int_equal(sp_params_get(&c, "y")->access, SP_ACCESS_NA);
	/* Equality looks at access and value bytes. */
	sp_params d;
	assert_true(sp_ok(sp_params_copy(&d, &c)));
	assert_true(sp_ok(sp_params_set_cstr(&d, "y", "2", SP_ACCESS_RO)));
	assert_false(sp_params_equal(&c, &d));
	assert_true(sp_ok(sp_params_set_cstr(&d, "y", "2", SP_ACCESS_NA)));
	assert_true(sp_params_equal(&c, &d));
	assert_true(sp_ok(sp_params_set_cstr(&d, "y", "3", SP_ACCESS_NA)));
	assert_false(sp_params_equal(&c, &d));
	sp_params_free(&a);
	sp_params_free(&b);
	sp_params_free(&c);
	sp_params_free(&d);
}

static void
test_names(void **state)
{
	static const char *const good[] = { "A", "_", "Dial_Plan_1_", "GPP_SA", "x9",
		"Resync_Periodic" };
	static const char *const bad[] = { "", "1abc", "a-b", "a b", "a:b", "é", "a.b",
		"Dial_Plan[1]" };
	char longname[SP_PARAM_NAME_MAX + 2];

	for (size_t i = 0; i < SP_ARRAY_LEN(good); i++)
		assert_true(sp_ok(sp_param_name_check(sp_slice_of(good[i]))));
	for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
		sp_result r = sp_param_name_check(sp_slice_of(bad[i]));
		assert_int_equal(r.code, SP_E_PARSE);
		assert_non_null(strstr(sp_errmsg(), "parameter name"));
	}
	memset(longname, 'a', sizeof(longname));
	assert_true(sp_ok(sp_param_name_check(sp_slice_mk(longname, SP_PARAM_NAME_MAX))));
	assert_int_equal(sp_param_name_check(sp_slice_mk(longname,
	    SP_PARAM_NAME_MAX + 1)).code, SP_E_PARSE);
	/* Refused names never enter a set. */
	sp_params ps;
	sp_params_init(&ps);
	assert_int_equal(sp_params_set_cstr(&ps, "a-b", "1", SP_ACCESS_UNSET).code, SP_E_PARSE);
	assert_int_equal(ps.n, 0);
	sp_params_free(&ps);
}

static void
test_name_from_field(void **state)
{
	static const struct { const char *field, *name; } cases[] = {
		{ "Dial Plan[1]", "Dial_Plan_1_" },
		{ "Proxy(2)", "Proxy_2_" },
		{ "Line/Ext Name", "Line_Ext_Name" },
		{ "Resync_Periodic", "Resync_Periodic" },
	};
	sp_buf b;

	sp_buf_init(&b, SP_PARAM_NAME_MAX);
	for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
		assert_true(sp_ok(sp_param_name_from_field(sp_slice_of(cases[i].field), &b)));
		assert_string_equal(sp_buf_cstr(&b), cases[i].name);
	}
	assert_int_equal(sp_param_name_from_field(SP_SLICE_LIT("a-b"), &b).code, SP_E_PARSE);
	assert_int_equal(sp_param_name_from_field(SP_SLICE_LIT(""), &b).code, SP_E_PARSE);
	assert_int_equal(sp_param_name_from_field(SP_SLICE_LIT("1st"), &b).code, SP_E_PARSE);
	sp_buf_free(&b);
}

static void
test_access(void **state)
{
	sp_access a;

	assert_true(sp_ok(sp_access_parse(SP_SLICE_LIT("na"), &a)));
	assert_int_equal(a, SP_ACCESS_NA);
	assert_true(sp_ok(sp_access_parse(SP_SLICE_LIT("ro"), &a)));
	assert_int_equal(a, SP_ACCESS_RO);
	assert_true(sp_ok(sp_access_parse(SP_SLICE_LIT("rw"), &a)));
	assert_int_equal(a, SP_ACCESS_RW);
	assert_int_equal(sp_access_parse(SP_SLICE_LIT("RW"), &a).code, SP_E_PARSE);
	assert_int_equal(sp_access_parse(SP_SLICE_LIT(""), &a).code, SP_E_PARSE);
	assert_int_equal(sp_access_parse(sp_slice_mk("rw\0", 3), &a).code, SP_E_PARSE);
	assert_string_equal(sp_access_name(SP_ACCESS_RO), "ro");
	assert_string_equal(sp_access_name(SP_ACCESS_UNSET), "");
}

static void
test_limits(void **state)
{
	sp_params ps;
	static char big[SP_PARAM_VALUE_MAX + 1];
	char name[16];

	sp_params_init(&ps);
	memset(big, 'v', sizeof(big));
	assert_true(sp_ok(sp_params_set(&ps, SP_SLICE_LIT("V"),
	    sp_slice_mk(big, SP_PARAM_VALUE_MAX), SP_ACCESS_UNSET)));
	assert_int_equal(sp_params_set(&ps, SP_SLICE_LIT("V"),
	    sp_slice_mk(big, SP_PARAM_VALUE_MAX + 1), SP_ACCESS_UNSET).code, SP_E_LIMIT);
	/* The old value survives a refused replacement. */
	assert_int_equal(sp_params_get(&ps, "V")->value_len, SP_PARAM_VALUE_MAX);
	sp_params_free(&ps);

	sp_params_init(&ps);
	for (int i = 0; i < SP_PARAMS_MAX; i++) {
		snprintf(name, sizeof(name), "P%06d", i);
		assert_true(sp_ok(sp_params_set_cstr(&ps, name, "", SP_ACCESS_UNSET)));
	}
	assert_int_equal(sp_params_set_cstr(&ps, "Q", "", SP_ACCESS_UNSET).code, SP_E_LIMIT);
	/* Replacing an existing name is still allowed at the limit. */
	assert_true(sp_ok(sp_params_set_cstr(&ps, "P000000", "x", SP_ACCESS_UNSET)));
	assert_int_equal(ps.n, SP_PARAMS_MAX);
	sp_params_free(&ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sorted_and_last_wins),
		cmocka_unit_test(test_values_with_nul_and_empty),
		cmocka_unit_test(test_merge_copy_equal),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_from_field),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
