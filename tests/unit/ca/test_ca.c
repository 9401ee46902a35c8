#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "ca/ca.h"

static void
test_crl_url_check(void **state)
{
	static const char *const ok[] = {
		"https://pki.vendor.example/", "http://pki.vendor.example/crl/",
		"HTTP://10.0.0.1:8080/", "https://[2001:db8::1]/x/",
	};
	static const struct { const char *url; int code; } bad[] = {
		{ "ftp://pki.vendor.example/", SP_E_PARSE },
		{ "pki.vendor.example/", SP_E_PARSE },
		{ "https:///", SP_E_PARSE },
		{ "https://pki.vendor.example", SP_E_PARSE },
		{ "https://pki.vendor.example/x.crl", SP_E_PARSE },
		{ "https://pki.vendor.example/%s/", SP_E_PARSE },
		{ "https://pki.vendor.example/a,b/", SP_E_PARSE },
		{ "https://pki.vendor.example/?a/", SP_E_PARSE },
		{ "https://pki.vendor.example/#/", SP_E_PARSE },
		{ "https://pki.vendor.example/\"/", SP_E_PARSE },
		{ "https://pki.vendor.example/a b/", SP_E_PARSE },
		{ "https://pki.vendor.example/\n/", SP_E_PARSE },
		{ "https://user@pki.vendor.example/", SP_E_PARSE },
	};
	char longurl[SP_CA_CRL_URL_MAX + 2];
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(sp_ok(sp_ca_crl_url_check(ok[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_result r = sp_ca_crl_url_check(bad[i].url);
		assert_int_equal(r.code, bad[i].code);
		assert_non_null(strstr(sp_errmsg(), "--crl-url"));
	}
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "https://x.example/", 18);
	longurl[sizeof(longurl) - 2] = '/';
	longurl[sizeof(longurl) - 1] = '\0';
	assert_int_equal(sp_ca_crl_url_check(longurl).code, SP_E_LIMIT);
	longurl[sizeof(longurl) - 3] = '/';
	longurl[sizeof(longurl) - 2] = '\0';
	assert_true(sp_ok(sp_ca_crl_url_check(longurl)));
}

/* A CA directory given with trailing slashes joins without doubling them. */
static void
test_ca_path(void **state)
{
	char p[64];
	(void)state;
	assert_true(sp_ok(sp_ca_path("vendor", "ca.db", p, sizeof(p))));
	assert_string_equal(p, "vendor/ca.db");
	assert_true(sp_ok(sp_ca_path("vendor/", "ca.db", p, sizeof(p))));
	assert_string_equal(p, "vendor/ca.db");
	assert_true(sp_ok(sp_ca_path("a/b//", "server-ca.crt", p, sizeof(p))));
	assert_string_equal(p, "a/b/server-ca.crt");
	assert_true(sp_ok(sp_ca_path("/", "x", p, sizeof(p))));
	assert_string_equal(p, "/x");
	assert_int_equal(sp_ca_path("vendor", "a-very-long-file-name-that-does-not-fit-here.crt",
	    p, 16).code, SP_E_LIMIT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl_url_check),
		cmocka_unit_test(test_ca_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
