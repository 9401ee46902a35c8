#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "identity/mac.h"

static void
test_accepted_forms(void **state)
{
	static const char *const good[] = {
		"00:0E:08:aa:bb:cc", "000e08aabbcc", "000E08AABBCC", "00:0e:08:AA:BB:CC",
		"000e08AABBcc",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		sp_mac m;
		char s[SP_MAC_STRLEN];
		assert_true(sp_ok(sp_mac_parse(sp_slice_of(good[i]), &m)));
		sp_mac_format(&m, SP_MAC_MA, s);
		assert_string_equal(s, "000e08aabbcc");
		sp_mac_format(&m, SP_MAC_MAU, s);
		assert_string_equal(s, "000E08AABBCC");
		sp_mac_format(&m, SP_MAC_MAC, s);
		assert_string_equal(s, "00:0e:08:aa:bb:cc");
	}
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"", "000e08aabbc", "000e08aabbccd", "00-0e-08-aa-bb-cc", "00:0e:08:aa:bb:c",
		"00:0e:08:aa:bb:cc:", "000e08aabbcg", "0x0e08aabbcc", " 000e08aabbcc",
		"000e08aabbcc ", "00:0e:08:aa:bbcc:", "00.0e.08.aa.bb.cc", "000e.08aa.bbcc",
		"00:0e:08:aa:bb::c", "+00e08aabbcc",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_mac m;
		sp_result r = sp_mac_parse(sp_slice_of(bad[i]), &m);
		if (sp_ok(r))
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(r.code, SP_E_PARSE);
		assert_non_null(strstr(sp_errmsg(), "is not a MAC address"));
	}
}

static void
test_embedded_nul(void **state)
{
	sp_mac m;
	(void)state;
	assert_true(sp_failed(sp_mac_parse(sp_slice_mk("000e08aa\0bcc", 12), &m)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_embedded_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
