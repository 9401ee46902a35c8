/* The fetch's URL steps that need no network: a redirect's next URL, literals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/fetch.h"

static void
test_redirect(void **state)
{
	sp_url u;

	assert_true(sp_ok(sp_fetch_redirect("https://[2001:db8::1]:8443/b?c", 4, &u)));
	assert_int_equal(u.scheme, SP_SCHEME_HTTPS);
	assert_string_equal(u.host, "2001:db8::1");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/b?c");

	/* The hop limit comes first, whatever the URL. */
	assert_int_equal(sp_fetch_redirect("http://h/x", SP_FETCH_REDIRECTS_MAX, &u).code,
	    SP_E_NET);
	assert_string_equal(sp_errmsg(), "more than 5 redirects (last to http://h/x)");

	/* The one https-only check, and the parser, as for the rule's URL. */
	assert_int_equal(sp_fetch_redirect("http://h/x", 0, &u).code, SP_E_POLICY);
	assert_string_equal(sp_errmsg(), "redirect to 'http://h/x': scheme http refused: the "
	    "device fetches profiles over https only (the server checks need TLS)");
	assert_int_equal(sp_fetch_redirect("https://u@h/x", 0, &u).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "redirect to 'https://u@h/x': URL 'u@h': user "
	    "information (user@) is refused"));
	assert_int_equal(sp_fetch_redirect("https:///x", 0, &u).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "names no server"));
	assert_int_equal(sp_fetch_redirect("https://h:99999/", 0, &u).code, SP_E_PARSE);
	assert_string_equal(u.host, "");  /* nothing half-parsed */
}

static void
test_resolve_literal(void **state)
{
	sp_url u;
	sp_addrlist a;
	char s[SP_ADDRSTR_MAX];

	/* A literal is the one answer: no DNS server is asked (none exists here). */
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https://[::1]:8443/x"), &u)));
	assert_true(sp_ok(sp_fetch_resolve(&u, "127.0.0.1:1", &a)));
	assert_int_equal(a.n, 1);
	sp_ipaddr_format(&a.v[0], s);
	assert_string_equal(s, "::1");
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https://192.0.2.7/x"), &u)));
	assert_true(sp_ok(sp_fetch_resolve(&u, "127.0.0.1:1", &a)));
	assert_int_equal(a.n, 1);
	sp_ipaddr_format(&a.v[0], s);
	assert_string_equal(s, "192.0.2.7");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_resolve_literal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
