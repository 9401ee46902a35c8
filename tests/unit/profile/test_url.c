/* One parsed URL (profile/url.h): the split, the limits, the https-only rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "profile/url.h"

#define OK SP_E_OK

/* "scheme host port[*] path": '*' marks an explicit port. */
static void
summarize(const sp_url *u, char *s, size_t n)
{
	snprintf(s, n, "%s %s %u%s %s", sp_scheme_name(u->scheme), u->host[0] ? u->host : "-",
	    (unsigned)u->port, u->port_explicit ? "*" : "", u->path);
}

static const struct {
	const char *in;
	sp_code code;
	const char *want;     /* summary, or a piece of the message on error */
} cases[] = {
	{ "https://ps.example.com/x.xml", OK, "https ps.example.com 443 /x.xml" },
	{ "HTTPS://Ps.Example.com:8443/p?a=1&b=2", OK, "https Ps.Example.com 8443* /p?a=1&b=2" },
	{ "http://h/", OK, "http h 80 /" },
	{ "tftp://10.0.0.1/spa.cfg", OK, "tftp 10.0.0.1 69 /spa.cfg" },
	{ "/spa.cfg", OK, "tftp - 69 /spa.cfg" },
	{ "ps.example.com/x", OK, "tftp ps.example.com 69 /x" },
	{ "ps.example.com:1069/x", OK, "tftp ps.example.com 1069* /x" },
	{ "https://ps.example.com", OK, "https ps.example.com 443 /" },
	{ "https://ps.example.com?x=1", OK, "https ps.example.com 443 /?x=1" },
	{ "https://h:1/", OK, "https h 1* /" },
	{ "https://h:65535/", OK, "https h 65535* /" },
	{ "https://h:00443/", OK, "https h 443* /" },
	{ "", OK, "tftp - 69 /" },
	{ "https://", OK, "https - 443 /" },
	{ "https://:8443/x", OK, "https - 8443* /x" },
	{ "https://h/a/../b?q#frag", OK, "https h 443 /a/../b?q#frag" },
	{ "https://h/%41%20b", OK, "https h 443 /%41%20b" },
	{ "https://h/\xc3\xa9", OK, "https h 443 /\xc3\xa9" },
	{ "/a://b", OK, "tftp - 69 /a://b" },                 /* '/' before "://": no scheme */
	/* IPv6 literals. */
	{ "https://[::1]:8443/x", OK, "https ::1 8443* /x" },
	{ "https://[2001:DB8::a]/x", OK, "https 2001:DB8::a 443 /x" },
	{ "https://[::ffff:192.0.2.1]/", OK, "https ::ffff:192.0.2.1 443 /" },
	{ "https://[::1/x", SP_E_PARSE, "unterminated '['" },
	{ "https://[]/x", SP_E_PARSE, "empty IPv6 literal" },
	{ "https://[fe80::1%25eth0]/x", SP_E_PARSE, "bad IPv6 literal" },
	{ "https://[::g]/x", SP_E_PARSE, "bad IPv6 literal" },
	{ "https://[::1]x/y", SP_E_PARSE, "unexpected text after ']'" },
	{ "https://[::1]:/y", SP_E_PARSE, "URL port '' is not 1..65535" },
	/* Ports. */
	{ "https://h:0/x", SP_E_PARSE, "URL port '0' is not 1..65535" },
	{ "https://h:65536/x", SP_E_PARSE, "URL port '65536' is not 1..65535" },
	{ "https://h:/x", SP_E_PARSE, "URL port '' is not 1..65535" },
	{ "https://h:+443/x", SP_E_PARSE, "URL port '+443' is not 1..65535" },
	{ "https://h:-1/x", SP_E_PARSE, "is not 1..65535" },
	{ "https://h:443443/x", SP_E_PARSE, "is not 1..65535" },
	{ "https://h:44a/x", SP_E_PARSE, "URL port '44a' is not 1..65535" },
	{ "https://h:1:2/x", SP_E_PARSE, "is not 1..65535" },
	/* Hosts, user information, schemes. */
	{ "https://user@ps.example.com/x", SP_E_PARSE,
	  "URL 'user@ps.example.com': user information (user@) is refused" },
	{ "https://u:pw@h/x", SP_E_PARSE, "user information (user@) is refused" },
	{ "https://h_o-s.t/x", OK, "https h_o-s.t 443 /x" },
	{ "https://h*st/x", SP_E_PARSE, "URL host 'h*st' is not a host name or address" },
	{ "https://h\xc3\xa9/x", SP_E_PARSE, "URL host 'h\\xc3\\xa9' is not a host name" },
	{ "ftp://ps.example.com/x", SP_E_PARSE, "URL scheme 'ftp' is not tftp, http or https" },
	{ "://h/x", SP_E_PARSE, "URL scheme '' is not tftp, http or https" },
	/* Spaces and control bytes. */
	{ "https://h/a b", SP_E_PARSE, "URL 'https://h/a b' contains a space or control byte" },
	{ "https://h/a\tb", SP_E_PARSE, "URL 'https://h/a\\x09b' contains a space or control byte" },
	{ "https://h/a\x7f", SP_E_PARSE, "contains a space or control byte" },
	{ "https://h/a\r\n", SP_E_PARSE, "contains a space or control byte" },
};

static void
test_table(void **state)
{
	char got[SP_URL_MAX + SP_URL_HOST_MAX + 64];
	sp_url u;

	for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
		sp_result r = sp_url_parse(sp_slice_of(cases[i].in), &u);
		if (r.code != cases[i].code)
			fail_msg("case %zu '%s': %s (%s)", i, cases[i].in, sp_code_name(r.code),
			    sp_errmsg());
		if (sp_ok(r)) {
			summarize(&u, got, sizeof(got));
			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu '%s':\n got  %s\n want %s", i, cases[i].in, got,
				    cases[i].want);
		} else {
			if (strstr(sp_errmsg(), cases[i].want) == NULL)
				fail_msg("case %zu '%s': message '%s' lacks '%s'", i, cases[i].in,
				    sp_errmsg(), cases[i].want);
			/* A failed parse leaves nothing behind. */
			assert_int_equal(u.host[0], 0);
			assert_int_equal(u.path[0], 0);
			assert_int_equal(u.port, 0);
		}
	}
}

static void
test_nul_byte(void **state)
{
	sp_url u;

	assert_int_equal(sp_url_parse(sp_slice_mk("https://h/a\0b", 13), &u).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "'https://h/a\\x00b' contains a space or control byte"));
	assert_int_equal(sp_url_parse(sp_slice_mk("https://h\0.example/", 19), &u).code,
	    SP_E_PARSE);
}

static void
test_limits(void **state)
{
	char *big = malloc(SP_URL_MAX + 2);
	sp_url u;
	char out[SP_URL_MAX + 1];

	assert_non_null(big);
	/* The text: at most SP_URL_MAX bytes. */
	memset(big, 'a', SP_URL_MAX + 1);
	memcpy(big, "https://h/", 10);
	assert_int_equal(sp_url_parse(sp_slice_mk(big, SP_URL_MAX + 1), &u).code, SP_E_LIMIT);
	assert_non_null(strstr(sp_errmsg(), "URL longer than 2048 bytes"));
	assert_true(sp_ok(sp_url_parse(sp_slice_mk(big, SP_URL_MAX), &u)));
	assert_int_equal(strlen(u.path), SP_URL_MAX - 9);
	/* Built with ":443" it no longer fits. */
	assert_int_equal(sp_url_https(&u, out).code, SP_E_LIMIT);
	assert_string_equal(out, "");
	assert_true(sp_ok(sp_url_parse(sp_slice_mk(big, SP_URL_MAX - 4), &u)));
	assert_true(sp_ok(sp_url_https(&u, out)));
	assert_int_equal(strlen(out), SP_URL_MAX);
	/* A bare query of the longest text still fits the path. */
	memset(big, 'q', SP_URL_MAX);
	big[0] = '?';
	assert_true(sp_ok(sp_url_parse(sp_slice_mk(big, SP_URL_MAX), &u)));
	assert_int_equal(strlen(u.path), SP_URL_MAX + 1);
	/* Hosts: SP_URL_HOST_MAX bytes. */
	memcpy(big, "https://", 8);
	memset(big + 8, 'h', SP_URL_HOST_MAX + 1);
	big[8 + SP_URL_HOST_MAX + 1] = '/';
	assert_int_equal(sp_url_parse(sp_slice_mk(big, 8 + SP_URL_HOST_MAX + 2), &u).code,
	    SP_E_LIMIT);
	assert_non_null(strstr(sp_errmsg(), "URL host longer than 255 bytes"));
	big[8 + SP_URL_HOST_MAX] = '/';
	assert_true(sp_ok(sp_url_parse(sp_slice_mk(big, 8 + SP_URL_HOST_MAX + 1), &u)));
	assert_int_equal(strlen(u.host), SP_URL_HOST_MAX);
	free(big);
}

/*
 * Every prefix of each URL, in a buffer of exactly its length (ASan sees a
 * read past the end), parses or fails with PARSE; a prefix never reads
 * beyond itself, so each prefix's result equals that of its own copy.
 */
static void
test_prefixes(void **state)
{
	static const char *const urls[] = {
		"HTTPS://Ps.Example.com:8443/p?mac=000e08aabbcc&sn=88012BA01234",
		"https://[2001:db8::1]:443/x?y",
		"tftp://10.0.0.1:69/spa.cfg",
		"https://u@h:1/x",
	};
	for (size_t k = 0; k < SP_ARRAY_LEN(urls); k++) {
		size_t n = strlen(urls[k]);
		for (size_t len = 0; len <= n; len++) {
			char *p = malloc(len ? len : 1);
			sp_url a, b;
			sp_result ra, rb;
			assert_non_null(p);
			memcpy(p, urls[k], len);
			ra = sp_url_parse(sp_slice_mk(p, len), &a);
			rb = sp_url_parse(sp_slice_mk(urls[k], len), &b);
			assert_int_equal(ra.code, rb.code);
			assert_true(ra.code == SP_E_OK || ra.code == SP_E_PARSE);
			assert_memory_equal(&a, &b, sizeof(a));
			if (sp_ok(ra))
				assert_int_equal(a.path[0], '/');
			free(p);
		}
	}
	/* Some prefixes in particular. */
	sp_url u;
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https"), &u)));
	assert_string_equal(u.host, "https");   /* no "://": a bare host */
	assert_int_equal(sp_url_parse(SP_SLICE_LIT("https:"), &u).code, SP_E_PARSE);
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https://[2001:db8::1]"), &u)));
	assert_string_equal(u.host, "2001:db8::1");
	assert_int_equal(sp_url_parse(SP_SLICE_LIT("https://[2001:db8::1]:"), &u).code,
	    SP_E_PARSE);
}

/* Byte at a time: the URL grows one byte per call from an exact-size buffer. */
static void
test_byte_at_a_time(void **state)
{
	const char *url = "https://ps.example.com:8443/a/b.xml?x=1";
	size_t n = strlen(url);
	char *p = malloc(n);
	sp_url u;

	assert_non_null(p);
	for (size_t len = 1; len <= n; len++) {
		p[len - 1] = url[len - 1];
		sp_result r = sp_url_parse(sp_slice_mk(p, len), &u);
		/* "https:" to "https:/" and "...com:" lack a port or scheme; the rest parse. */
		bool bad = len == 6 || len == 7 || len == 23;
		if (bad != sp_failed(r))
			fail_msg("length %zu: %s", len, sp_errmsg());
	}
	assert_string_equal(u.host, "ps.example.com");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/a/b.xml?x=1");
	free(p);
}

static void
test_https_only(void **state)
{
	char out[SP_URL_MAX + 1];
	sp_url u;

	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("HTTPS://Ps.Example.com/x?y"), &u)));
	assert_true(sp_ok(sp_url_https(&u, out)));
	assert_string_equal(out, "https://Ps.Example.com:443/x?y");
	assert_true(sp_ok(sp_url_https(&u, NULL)));
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https://[::1]:8443"), &u)));
	assert_true(sp_ok(sp_url_https(&u, out)));
	assert_string_equal(out, "https://[::1]:8443/");
	assert_true(sp_ok(sp_url_parse(SP_SLICE_LIT("https://[10.0.0.1]/"), &u)));
	assert_true(sp_ok(sp_url_https(&u, out)));
	assert_string_equal(out, "https://10.0.0.1:443/");

	static const struct { const char *in; sp_code code; const char *msg; } bad[] = {
		{ "http://h/x", SP_E_POLICY, "scheme http refused: the device fetches profiles "
		  "over https only (the server checks need TLS)" },
		{ "tftp://h/x", SP_E_POLICY, "scheme tftp refused: the device fetches profiles "
		  "over https only (the server checks need TLS)" },
		{ "h/x", SP_E_POLICY, "scheme tftp refused: the device fetches profiles "
		  "over https only (the server checks need TLS)" },
		{ "https:///x", SP_E_PARSE, "the URL 'https:///x' names no server" },
		{ "https://:8443?q", SP_E_PARSE, "the URL 'https:///?q' names no server" },
	};
	for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
		assert_true(sp_ok(sp_url_parse(sp_slice_of(bad[i].in), &u)));
		memset(out, 'x', sizeof(out));
		assert_int_equal(sp_url_https(&u, out).code, bad[i].code);
		assert_string_equal(sp_errmsg(), bad[i].msg);
		assert_string_equal(out, "");  /* nothing built */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_https_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
