/* Which device is asking: subject attributes -> identity, both styles. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/x509.h>

#include "identity/devid.h"

#define A(t, v) { SP_ATTR_##t, { v, sizeof(v) - 1 } }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
expect_ok(const sp_name_attr *a, size_t n, sp_idstyle mode, const char *mac,
    const char *serial, const char *product, sp_idstyle style)
{
	sp_devid id;
	char s[SP_MAC_STRLEN];
	sp_result r = sp_devid_from_attrs(a, n, mode, &id);
	if (sp_failed(r))
		fail_msg("refused: %s", sp_errmsg());
	sp_mac_format(&id.mac, SP_MAC_MA, s);
	assert_string_equal(s, mac);
	assert_string_equal(id.serial, serial);
	assert_string_equal(id.product, product);
	assert_int_equal(id.style, style);
}

static void
expect_refused(const sp_name_attr *a, size_t n, sp_idstyle mode, const char *why)
{
	sp_devid id;
	sp_result r = sp_devid_from_attrs(a, n, mode, &id);
	if (sp_ok(r))
		fail_msg("accepted, expected '%s'", why);
	assert_int_equal(r.code, SP_E_POLICY);
	if (strstr(sp_errmsg(), why) == NULL)
		fail_msg("message '%s' lacks '%s'", sp_errmsg(), why);
}

static void
test_sprov_style(void **state)
{
	sp_name_attr a[] = { A(O, "Acme"), A(OU, "SPA2102"), A(CN, "000e08aabbcc"),
		A(SERIALNUMBER, "88012BA01234") };
	(void)state;
	expect_ok(a, N(a), SP_IDSTYLE_AUTO, "000e08aabbcc", "88012BA01234", "SPA2102",
	    SP_IDSTYLE_SPROV);
	expect_ok(a, N(a), SP_IDSTYLE_SPROV, "000e08aabbcc", "88012BA01234", "SPA2102",
	    SP_IDSTYLE_SPROV);
	expect_refused(a, N(a), SP_IDSTYLE_SPA, "names no device");
}

static void
test_spa_style(void **state)
{
	sp_name_attr a[] = { A(OU, "SPA-962"), A(L, "88012BA01234"), A(ST, "000e08abcdef") };
	(void)state;
	expect_ok(a, N(a), SP_IDSTYLE_AUTO, "000e08abcdef", "88012BA01234", "SPA-962",
	    SP_IDSTYLE_SPA);
	expect_ok(a, N(a), SP_IDSTYLE_SPA, "000e08abcdef", "88012BA01234", "SPA-962",
	    SP_IDSTYLE_SPA);
	expect_refused(a, N(a), SP_IDSTYLE_SPROV, "names no device");
}

static void
test_refusals(void **state)
{
	sp_name_attr generic[] = { A(OU, "SPA-962"), A(L, "ciscogeneric"), A(ST, "ciscogeneric") };
	sp_name_attr generic_l[] = { A(OU, "SPA-962"), A(L, "CiscoGeneric"), A(ST, "000e08abcdef") };
	sp_name_attr none[] = { A(O, "Acme"), A(CN, "phone") };
	sp_name_attr empty[] = { A(O, "Acme") };
	sp_name_attr two_cn[] = { A(CN, "000e08aabbcc"), A(CN, "000e08aabbcd") };
	sp_name_attr two_st[] = { A(ST, "000e08aabbcc"), A(ST, "000e08aabbcd") };
	sp_name_attr both[] = { A(CN, "000e08aabbcc"), A(ST, "000e08aabbcc") };
	sp_name_attr bad_serial[] = { A(CN, "000e08aabbcc"), A(SERIALNUMBER, "88 01") };
	sp_name_attr nul_serial[] = { { SP_ATTR_SERIALNUMBER, { "88\0" "01", 5 } },
		A(CN, "000e08aabbcc") };
	sp_name_attr two_sn[] = { A(CN, "000e08aabbcc"), A(SERIALNUMBER, "1"),
		A(SERIALNUMBER, "2") };
	sp_name_attr path_product[] = { A(CN, "000e08aabbcc"), A(OU, "../../etc") };
	sp_name_attr nul_cn[] = { { SP_ATTR_CN, { "000e08aabbcc\0", 13 } } };
	(void)state;
	expect_refused(generic, N(generic), SP_IDSTYLE_AUTO, "generic certificate");
	expect_refused(generic_l, N(generic_l), SP_IDSTYLE_AUTO, "generic certificate");
	expect_refused(none, N(none), SP_IDSTYLE_AUTO, "names no device");
	expect_refused(empty, N(empty), SP_IDSTYLE_AUTO, "names no device");
	expect_refused(empty, 0, SP_IDSTYLE_AUTO, "names no device");
	expect_refused(two_cn, N(two_cn), SP_IDSTYLE_AUTO, "2 CNs");
	expect_refused(two_st, N(two_st), SP_IDSTYLE_AUTO, "2 ST attributes");
	expect_refused(both, N(both), SP_IDSTYLE_AUTO, "ambiguous");
	expect_refused(bad_serial, N(bad_serial), SP_IDSTYLE_AUTO, "serialNumber");
	expect_refused(nul_serial, N(nul_serial), SP_IDSTYLE_AUTO, "serialNumber");
	expect_refused(two_sn, N(two_sn), SP_IDSTYLE_AUTO, "several serialNumbers");
	expect_refused(path_product, N(path_product), SP_IDSTYLE_AUTO, "product (OU)");
	expect_refused(nul_cn, N(nul_cn), SP_IDSTYLE_AUTO, "names no device");
}

static void
test_from_x509(void **state)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	sp_devid id;
	(void)state;
	assert_non_null(x);
	X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (unsigned char *)"SPA-962", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "L", MBSTRING_ASC, (unsigned char *)"88012BA01234", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "ST", MBSTRING_ASC, (unsigned char *)"000e08abcdef", -1, -1, 0);
	assert_true(sp_ok(sp_devid_from_x509(x, SP_IDSTYLE_AUTO, &id)));
	assert_string_equal(id.serial, "88012BA01234");
	assert_string_equal(id.product, "SPA-962");
	assert_true(sp_failed(sp_devid_from_x509(NULL, SP_IDSTYLE_AUTO, &id)));
	X509_free(x);
}

static void
test_style_names(void **state)
{
	sp_idstyle s;
	(void)state;
	assert_true(sp_ok(sp_idstyle_parse("spa", &s)));
	assert_int_equal(s, SP_IDSTYLE_SPA);
	assert_true(sp_ok(sp_idstyle_parse("auto", &s)));
	assert_int_equal(s, SP_IDSTYLE_AUTO);
	assert_int_equal(sp_idstyle_parse("SPA", &s).code, SP_E_USAGE);
	assert_string_equal(sp_idstyle_name(SP_IDSTYLE_SPROV), "sprov");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sprov_style),
		cmocka_unit_test(test_spa_style),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_from_x509),
		cmocka_unit_test(test_style_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
