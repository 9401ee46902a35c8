#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static void
expect_slice(sp_slice s, const char *want)
{
	char got[SP_UA_MAX + 1];

	assert_true(s.len <= SP_UA_MAX);
	memcpy(got, s.p ? s.p : "", s.len);
	got[s.len] = '\0';
	assert_string_equal(got, want);
}

static const struct {
	const char *ua, *vendor, *product, *swver, *mac, *serial;
} good[] = {
	{ "Linksys/SPA-2102-2.0.5 (88012BA01234)", "Linksys", "SPA-2102", "2.0.5",
	    "", "88012BA01234" },
	{ "Cisco/SPA504G-7.6.2 (000e08aabbcc)(88012BA01234)", "Cisco", "SPA504G",
	    "7.6.2", "000e08aabbcc", "88012BA01234" },
	{ "Cisco/SPA504G-7.6.2 (00:0E:08:AA:BB:CC) (88012BA01234)", "Cisco",
	    "SPA504G", "7.6.2", "00:0E:08:AA:BB:CC", "88012BA01234" },
	{ "Sipura/SPA2000-3.1.5 (FM000000001)", "Sipura", "SPA2000", "3.1.5", "",
	    "FM000000001" },
	{ "Linksys/SPA-2102-2.0.3(0412s) (88012BA01234)", "Linksys", "SPA-2102",
	    "2.0.3(0412s)", "", "88012BA01234" },
	{ "Linksys/PAP2T-NA-5.1.6 (SN1)  ", "Linksys", "PAP2T-NA", "5.1.6", "",
	    "SN1" },
	{ "Cisco/SPA-962-6.1.5a (88012BA01234)", "Cisco", "SPA-962", "6.1.5a", "",
	    "88012BA01234" },
};

static void
test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		sp_ua ua;
		sp_result r = sp_ua_parse(sp_slice_of(good[i].ua), &ua);
		if (sp_failed(r))
			fail_msg("'%s' refused: %s", good[i].ua, sp_errmsg());
		expect_slice(ua.vendor, good[i].vendor);
		expect_slice(ua.product, good[i].product);
		expect_slice(ua.swver, good[i].swver);
		expect_slice(ua.mac, good[i].mac);
		expect_slice(ua.serial, good[i].serial);
	}
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"curl/8.5.0",
		"Mozilla/5.0 (X11; Linux x86_64)",
		"Linksys/SPA-2102-2.0.5",                    /* no (SN) */
		"Linksys/SPA-2102-2.0.5 ",                   /* no (SN) */
		"Linksys/SPA2102 (88012BA01234)",            /* no version */
		"Linksys/SPA-2102-2.0.5 (88012BA01234",      /* unterminated */
		"Linksys/SPA-2102-2.0.5 ()",                 /* empty SN */
		"Linksys/SPA-2102-2.0.5 (88012BA01234) x",   /* junk */
		"Linksys/SPA-2102-2.0.5 88012BA01234",
		"Cisco/SPA504G-7.6.2 (notamac)(88012BA01234)",
		"Cisco/SPA504G-7.6.2 (000e08aabbcc)(88012BA01234)(x)",
		"/SPA-2102-2.0.5 (88012BA01234)",            /* no vendor */
		"Link sys/SPA-2102-2.0.5 (88012BA01234)",
		"Linksys/-2.0.5 (88012BA01234)",             /* no product */
		"Linksys/SPA-2102-2.0.5 (88012 BA01234)",
		"Linksys/SPA-2102-2.0.5 (88012BA01234\")",
		"Linksys/SPA-2102-2.0.5 (<script>)",
		"Linksys/SPA/2102-2.0.5 (88012BA01234)",
		"(88012BA01234)",
		" ",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_ua ua;
		sp_result r = sp_ua_parse(sp_slice_of(bad[i]), &ua);
		if (sp_ok(r))
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(r.code, SP_E_PARSE);
	}
}

static void
test_empty_and_null(void **state)
{
	sp_ua ua;

	(void)state;
	assert_int_equal(sp_ua_parse(sp_slice_mk(NULL, 0), &ua).code, SP_E_PARSE);
	assert_int_equal(sp_ua_parse(SP_SLICE_LIT(""), &ua).code, SP_E_PARSE);
}

static void
test_control_chars(void **state)
{
	static const char *const bad[] = {
		"Linksys/SPA-2102-2.0.5 (88012BA01234)\r\n",
		"Linksys/SPA-2102-2.0.5\t(88012BA01234)",
		"Linksys/SPA-2102-2.0.5 (88012BA\x1b[0m01234)",
		"Linksys/SPA-2102-2.0.5 (88012BA01234)\x7f",
	};
	sp_ua ua;
	/* An embedded NUL: the length is authoritative. */
	static const char nul[] = "Linksys/SPA-2102-2.0.5 (8801\0" "2BA01234)";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_result r = sp_ua_parse(sp_slice_of(bad[i]), &ua);
		assert_int_equal(r.code, SP_E_PARSE);
		/* The message quotes the input without raw control bytes. */
		for (const char *m = sp_errmsg(); *m; m++)
			assert_false((unsigned char)*m < 0x20 || *m == 0x7f);
	}
	assert_int_equal(sp_ua_parse(sp_slice_mk(nul, sizeof(nul) - 1), &ua).code,
	    SP_E_PARSE);
}

static void
test_overlong(void **state)
{
	char *big = malloc(SP_UA_MAX + 100);
	sp_ua ua;
	size_t n;

	(void)state;
	assert_non_null(big);
	/* Exactly at the limit: parsed on its merits (serial too long here). */
	n = (size_t)snprintf(big, SP_UA_MAX + 100, "Linksys/SPA-2102-2.0.5 (");
	memset(big + n, 'A', SP_UA_MAX + 50 - n);
	big[SP_UA_MAX + 50] = ')';
	big[SP_UA_MAX + 51] = '\0';
	assert_int_equal(sp_ua_parse(sp_slice_of(big), &ua).code, SP_E_LIMIT);
	assert_int_equal(sp_ua_parse(sp_slice_mk(big, SP_UA_MAX - 1), &ua).code,
	    SP_E_PARSE);
	/* A token longer than its own limit inside a short UA. */
	n = (size_t)snprintf(big, SP_UA_MAX + 100, "Linksys/SPA-2102-2.0.5 (");
	memset(big + n, 'B', 65);
	big[n + 65] = ')';
	big[n + 66] = '\0';
	assert_int_equal(sp_ua_parse(sp_slice_of(big), &ua).code, SP_E_PARSE);
	free(big);
}

/*
 * Byte-at-a-time: every prefix of the (MAC)(SN) form is refused, except
 * the one ending after "(000e08aabbcc)" (a 12-hex serial is a serial) and
 * the whole string; slices never point outside the input.
 */
static void
test_prefixes(void **state)
{
	const char *ua = good[1].ua;
	size_t len = strlen(ua), ok = 0;

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		char *copy = malloc(n ? n : 1);
		sp_ua out;

		assert_non_null(copy);
		memcpy(copy, ua, n);
		if (sp_ok(sp_ua_parse(sp_slice_mk(copy, n), &out))) {
			ok++;
			assert_true(out.serial.p >= copy &&
			    out.serial.p + out.serial.len <= copy + n);
		}
		free(copy);
	}
	assert_int_equal(ok, 2);
}

static bool
inside(sp_slice s, const char *p, size_t n)
{
	return s.len == 0 || (s.p >= p && s.p + s.len <= p + n);
}

/*
 * A poor man's fuzzer (deterministic): random bytes and single-byte
 * mutations of the good table.  Never crashes (ASan), every slice of a
 * success lies inside the input, and a success has every required part.
 */
static void
test_mutations(void **state)
{
	static const char alphabet[] = "/-() .:Aa09\x01\x7f\xff";
	uint32_t seed = 12345;
	char buf[96];

	(void)state;
	for (int round = 0; round < 50000; round++) {
		size_t n;
		sp_ua ua;

		seed = seed * 1103515245u + 12345u;
		if (round % 2) {
			const char *g = good[(seed >> 8) % (sizeof(good) / sizeof(good[0]))].ua;
			n = strlen(g);
			memcpy(buf, g, n);
			buf[(seed >> 4) % n] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		} else {
			n = (seed >> 8) % sizeof(buf);
			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			}
		}
		if (sp_ok(sp_ua_parse(sp_slice_mk(buf, n), &ua))) {
			assert_true(ua.vendor.len && ua.product.len && ua.swver.len &&
			    ua.serial.len);
			assert_true(inside(ua.vendor, buf, n) && inside(ua.product, buf, n) &&
			    inside(ua.swver, buf, n) && inside(ua.mac, buf, n) &&
			    inside(ua.serial, buf, n));
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
