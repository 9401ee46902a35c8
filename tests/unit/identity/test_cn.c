/* The CN rule: a table of good and bad CNs, each bad one with its rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "identity/cn.h"

typedef struct {
	const char *cn;
	size_t len;          /* 0: strlen(cn) */
	const char *fqdn;    /* expected FQDN part when accepted, NULL: refused */
	const char *extra;   /* expected extra part ("" if none) */
	const char *why;     /* expected substring of the refusal message */
} cn_case;

#define GOOD(c, f, e) { c, 0, f, e, NULL }
#define BAD(c, w) { c, 0, NULL, NULL, w }

static const cn_case cases[] = {
	/* The seed page's three examples (the e-mails as the digest restores them). */
	GOOD("sprov.callme.com", "sprov.callme.com", ""),
	GOOD("pv.telco.net/mailto:admin@telco.net", "pv.telco.net", "mailto:admin@telco.net"),
	GOOD("prof.voice.com/info@voice.com", "prof.voice.com", "info@voice.com"),
	/* Other good names. */
	GOOD("a.b", "a.b", ""),
	GOOD("Prov.Example.COM", "Prov.Example.COM", ""),          /* upper case: DNS ignores case */
	GOOD("x1-y2.example.org", "x1-y2.example.org", ""),
	GOOD("123.example.com", "123.example.com", ""),            /* digit labels are fine... */
	GOOD("xn--bcher-kva.example", "xn--bcher-kva.example", ""), /* IDN in A-label form */
	GOOD("a.example.com/extra info with spaces", "a.example.com", "extra info with spaces"),
	GOOD("a.example.com/x/y/z", "a.example.com", "x/y/z"),     /* only the first / splits */
	GOOD("a.example.com/~!@#$%^&*()", "a.example.com", "~!@#$%^&*()"),
	/* 61-character label: the CN bound, not the label bound, binds first. */
	GOOD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.co",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.co", ""),
	/* 64 characters exactly: the X.520 bound. */
	GOOD("abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdef.xy",
	    NULL, NULL),
	/* Bad names. */
	BAD("", "it is empty"),
	BAD("localhost", "needs at least two labels"),
	BAD("example", "needs at least two labels"),
	BAD("sprov.callme.com.", "trailing dot"),
	BAD(".sprov.callme.com", "empty label"),
	BAD("sprov..callme.com", "empty label"),
	BAD("*.callme.com", "wildcards are not allowed"),
	BAD("prov*.callme.com", "wildcards are not allowed"),
	BAD("192.168.1.10", "it is an IP address"),
	BAD("10.0.0.1/extra", "it is an IP address"),
	BAD("::1", "it is an IP address"),
	BAD("2001:db8::1", "it is an IP address"),
	BAD("1.2.3.4.5", "the top-level label is all digits"),
	BAD("example.123", "the top-level label is all digits"),
	BAD("-prov.callme.com", "starts or ends with a hyphen"),
	BAD("prov-.callme.com", "starts or ends with a hyphen"),
	BAD("prov.callme.com-", "starts or ends with a hyphen"),
	BAD("prov_1.callme.com", "only letters, digits and hyphens"),
	BAD("prov callme.com", "only letters, digits and hyphens"),
	BAD("prov.callme.com:443", "only letters, digits and hyphens"),
	BAD("b\xc3\xbc" "cher.example", "non-ASCII"),                 /* UTF-8 U-label */
	BAD("\xe2\x80\x8bprov.callme.com", "non-ASCII"),              /* zero-width space */
	BAD("/extra", "it is empty"),
	BAD("pv.telco.net/", "nothing follows the '/'"),
	BAD("pv.telco.net/tab\there", "printable ASCII"),
	BAD("pv.telco.net/caf\xc3\xa9", "printable ASCII"),
	BAD("pv.telco.net/del\x7f", "printable ASCII"),
	/* 65 characters: one over the X.520 bound. */
	BAD("abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefg.xy",
	    "longer than 64 characters"),
	BAD("a.example.com/0123456789012345678901234567890123456789012345678901",
	    "longer than 64 characters"),
	BAD("pv.telco.net, CN=evil.com", "only letters, digits and hyphens"),
	BAD("pv.telco.net\n", "only letters, digits and hyphens"),
};

static void
test_table(void **state)
{
	(void)state;
	assert_true(sizeof(cases) / sizeof(cases[0]) >= 40);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const cn_case *c = &cases[i];
		sp_cn out;
		sp_slice in = sp_slice_mk(c->cn, c->len ? c->len : strlen(c->cn));
		sp_result r = sp_cn_parse(in, &out);
		if (c->why == NULL) {
			if (sp_failed(r))
				fail_msg("case %zu '%s' refused: %s", i, c->cn, sp_errmsg());
			if (c->fqdn == NULL)
				continue;
			assert_true(sp_slice_eq_cstr(out.fqdn, c->fqdn));
			assert_true(sp_slice_eq_cstr(out.extra, c->extra));
			assert_int_equal(out.has_extra, c->extra[0] != '\0');
		} else {
			if (sp_ok(r))
				fail_msg("case %zu '%s' accepted, expected: %s", i, c->cn, c->why);
			assert_int_equal(r.code, SP_E_POLICY);
			if (strstr(sp_errmsg(), c->why) == NULL)
				fail_msg("case %zu '%s': message '%s' lacks '%s'", i, c->cn,
				    sp_errmsg(), c->why);
		}
	}
}

static void
test_embedded_nul(void **state)
{
	static const char cn[] = "good.example.com\0.evil.com";
	sp_cn out;
	(void)state;
	sp_result r = sp_cn_parse(sp_slice_mk(cn, sizeof(cn) - 1), &out);
	assert_int_equal(r.code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "NUL byte"));
	/* The message quotes the NUL visibly, it does not stop at it. */
	assert_non_null(strstr(sp_errmsg(), "\\x00"));
}

static void
test_message_names_cn(void **state)
{
	sp_cn out;
	(void)state;
	sp_result r = sp_cn_parse(sp_slice_of("foo"), &out);
	assert_true(sp_failed(r));
	assert_string_equal(sp_errmsg(),
	    "CN 'foo' is not a fully qualified domain name: needs at least two labels");
	r = sp_cn_parse(sp_slice_of("foo/bar"), &out);
	assert_string_equal(sp_errmsg(),
	    "CN 'foo/bar': the host part 'foo' is not a fully qualified domain name: "
	    "needs at least two labels");
}

static void
test_fqdn_253(void **state)
{
	char name[300];
	(void)state;
	/* 4 labels of 63 + 3 dots = 255 > 253; 3 of 63 + "a" label fits. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[253] = '\0';
	assert_true(sp_ok(sp_fqdn_check(sp_slice_mk(name, 253))));
	name[253] = 'a';
	assert_true(sp_failed(sp_fqdn_check(sp_slice_mk(name, 254))));
	assert_non_null(strstr(sp_errmsg(), "longer than 253"));
	/* Label bound: 63 is fine, 64 is not (only reachable through the FQDN rule). */
	memset(name, 'a', 64);
	memcpy(name + 63, ".co", 3);
	assert_true(sp_ok(sp_fqdn_check(sp_slice_mk(name, 66))));
	memcpy(name + 63, "a.co", 4);
	assert_true(sp_failed(sp_fqdn_check(sp_slice_mk(name, 67))));
	assert_non_null(strstr(sp_errmsg(), "longer than 63"));
}

static void
test_within(void **state)
{
	(void)state;
	assert_true(sp_fqdn_within(sp_slice_of("prov.telco.net"), sp_slice_of("telco.net")));
	assert_true(sp_fqdn_within(sp_slice_of("telco.net"), sp_slice_of("telco.net")));
	assert_true(sp_fqdn_within(sp_slice_of("A.TELCO.net"), sp_slice_of("telco.NET")));
	assert_false(sp_fqdn_within(sp_slice_of("eviltelco.net"), sp_slice_of("telco.net")));
	assert_false(sp_fqdn_within(sp_slice_of("telco.net.evil.com"), sp_slice_of("telco.net")));
	assert_false(sp_fqdn_within(sp_slice_of("net"), sp_slice_of("telco.net")));
	assert_false(sp_fqdn_within(sp_slice_of("x.net"), sp_slice_of("")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_message_names_cn),
		cmocka_unit_test(test_fqdn_253),
		cmocka_unit_test(test_within),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
