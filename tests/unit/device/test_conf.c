#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/conf.h"

static void
test_parse_ok(void **state)
{
	static const char text[] =
	    "# comment\n"
	    "MAC = 00:0E:08:AA:BB:CC\r\n"
	    "Serial_Number=88012BA01234\n"
	    "  Product_Name =  SPA2102  \n"
	    "\n"
	    "Profile_Rule = ( $A == 1 )? [--key $SA] https://h/$MA.cfg | https://h/x # c\n"
	    "Resync_Periodic = 60\n"
	    "Resync_Periodic = 120\n"
	    "GPP_A =\n";
	sp_identity id;
	sp_params ps;
	char mac[SP_MAC_STRLEN];
	(void)state;
	sp_params_init(&ps);
	assert_true(sp_ok(sp_devconf_parse(sp_slice_of(text), &id, &ps)));
	sp_mac_format(&id.mac, SP_MAC_MA, mac);
	assert_string_equal(mac, "000e08aabbcc");
	assert_string_equal(id.serial, "88012BA01234");
	assert_string_equal(id.product, "SPA2102");
	assert_string_equal(id.series, "2102"); /* derived from the product */
	/* The value runs to the end of the line: '#' inside is the rule's. */
	assert_string_equal(sp_params_value(&ps, "Profile_Rule", ""),
	    "( $A == 1 )? [--key $SA] https://h/$MA.cfg | https://h/x # c");
	assert_string_equal(sp_params_value(&ps, "Resync_Periodic", ""), "120"); /* last wins */
	assert_string_equal(sp_params_value(&ps, "GPP_A", "x"), "");
	assert_null(sp_params_get(&ps, "MAC")); /* identity is not a parameter */
	assert_null(sp_params_get(&ps, "Serial_Number"));
	sp_params_free(&ps);
}

static void
test_parse_refusals(void **state)
{
	static const struct {
		const char *text;
		sp_code code;
		const char *msg;
	} t[] = {
		{ "Serial_Number = 1\n", SP_E_PARSE, "no MAC" },
		{ "MAC = 00:0e:08\n", SP_E_PARSE, "MAC" },
		{ "MAC = 000e08aabbcc\nno equals sign\n", SP_E_PARSE, "line 2" },
		{ "MAC = 000e08aabbcc\n1bad = x\n", SP_E_PARSE, "line 2" },
		{ "MAC = 000e08aabbcc\nA = x\001y\n", SP_E_PARSE, "control" },
		{ "MAC = 000e08aabbcc\nProduct_Name = ../../etc\n", SP_E_PARSE, "Product_Name" },
		{ "MAC = 000e08aabbcc\nSerial_Number = a b\n", SP_E_PARSE, "Serial_Number" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_identity id;
		sp_params ps;
		sp_params_init(&ps);
		sp_result r = sp_devconf_parse(sp_slice_of(t[i].text), &id, &ps);
		assert_int_equal(r.code, t[i].code);
		if (strstr(sp_errmsg(), t[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, sp_errmsg(), t[i].msg);
		sp_params_free(&ps);
	}
}

static void
test_nul_and_limits(void **state)
{
	static const char withnul[] = "MAC = 000e08aabbcc\nA = x\0y\n";
	sp_identity id;
	sp_params ps;
	(void)state;
	sp_params_init(&ps);
	assert_int_equal(sp_devconf_parse(sp_slice_mk(withnul, sizeof(withnul) - 1), &id, &ps).code,
	    SP_E_PARSE);
	sp_params_free(&ps);
}

static void
test_render_roundtrip(void **state)
{
	static const char text[] = "MAC = 000e08aabbcc\nProduct_Name = SPA962\n"
	    "Software_Version = 2.0.3(0412s)\nB = 2\nA = 1\n";
	sp_identity id, id2;
	sp_params ps, ps2;
	sp_buf out;
	(void)state;
	sp_params_init(&ps);
	sp_params_init(&ps2);
	sp_buf_init(&out, 4096);
	assert_true(sp_ok(sp_devconf_parse(sp_slice_of(text), &id, &ps)));
	assert_true(sp_ok(sp_devconf_render(&id, &ps, &out)));
	assert_non_null(strstr(sp_buf_cstr(&out), "A = 1\nB = 2\n")); /* sorted */
	assert_true(sp_ok(sp_devconf_parse(sp_slice_mk(out.p, out.len), &id2, &ps2)));
	assert_true(sp_params_equal(&ps, &ps2));
	assert_string_equal(id2.swver, "2.0.3(0412s)");
	assert_string_equal(id2.series, "962");
	assert_true(sp_mac_eq(&id.mac, &id2.mac));
	/* A value with a line break cannot be written in this format. */
	assert_true(sp_ok(sp_params_set_cstr(&ps, "C", "a\nb", SP_ACCESS_UNSET)));
	sp_buf_reset(&out);
	assert_int_equal(sp_kv_render(&ps, &out).code, SP_E_PARSE);
	sp_buf_free(&out);
	sp_params_free(&ps);
	sp_params_free(&ps2);
}

static void
test_bool(void **state)
{
	bool b;
	(void)state;
	assert_true(sp_ok(sp_param_bool("Yes", "x", &b)) && b);
	assert_true(sp_ok(sp_param_bool("no", "x", &b)) && !b);
	assert_true(sp_ok(sp_param_bool("1", "x", &b)) && b);
	assert_int_equal(sp_param_bool("", "x", &b).code, SP_E_PARSE);
	assert_int_equal(sp_param_bool("yess", "x", &b).code, SP_E_PARSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_nul_and_limits),
		cmocka_unit_test(test_render_roundtrip),
		cmocka_unit_test(test_bool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
