/* Path templates: parsing, structural matching, routing, $PSN. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "server/template.h"

static sp_tpl
tpl(const char *s)
{
	sp_tpl t;
	assert_true(sp_ok(sp_tpl_parse(sp_slice_of(s), &t)));
	return t;
}

static sp_devid
dev(const char *mac, const char *sn, const char *pn)
{
	sp_devid d;
	memset(&d, 0, sizeof(d));
	assert_true(sp_ok(sp_mac_parse(sp_slice_of(mac), &d.mac)));
	strcpy(d.serial, sn);
	strcpy(d.product, pn);
	return d;
}

static void
test_parse_errors(void **state)
{
	static const struct { const char *src, *msg; } bad[] = {
		{ "", "1-256" }, { "profiles/$MA", "start with '/'" },
		{ "/p/$XX.xml", "unknown macro" }, { "/p/$MAX.xml", "unknown macro" },
		{ "/p/$MA$SN", "separated" }, { "/p?$MA", "'?'" }, { "/p/%41", "'%'" },
		{ "/p /$MA", "space" }, { "/p/\x01", "control" }, { "/p/$", "unknown macro" },
		{ "/p/$(MA", "unknown macro" },
	};
	sp_tpl t;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_result r = sp_tpl_parse(sp_slice_of(bad[i].src), &t);
		assert_int_equal(r.code, SP_E_PARSE);
		assert_non_null(strstr(sp_errmsg(), bad[i].msg));
	}
	char big[300];
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	assert_int_equal(sp_tpl_parse(sp_slice_mk(big, sizeof(big)), &t).code, SP_E_PARSE);
}

static void
test_parse_ok(void **state)
{
	sp_tpl t;
	(void)state;
	t = tpl("/profiles/$MA.xml");
	assert_true(t.has_identity);
	assert_int_equal(t.nseg, 3);
	t = tpl("/spa$PSN.cfg");
	assert_false(t.has_identity);
	t = tpl("/a/$(MAC)/$$x/$(SN)");
	assert_true(t.has_identity);
	assert_true(sp_tpl_match(&t, sp_slice_of("/a/00:0e:08:aa:bb:cc/$x/SN1")));
}

static void
test_match_table(void **state)
{
	static const struct { const char *t, *p; bool m; } cases[] = {
		{ "/profiles/$MA.xml", "/profiles/000e08aabbcc.xml", true },
		{ "/profiles/$MA.xml", "/profiles/000E08AABBCC.xml", false },
		{ "/profiles/$MA.xml", "/profiles/000e08aabbc.xml", false },
		{ "/profiles/$MA.xml", "/profiles/000e08aabbccd.xml", false },
		{ "/profiles/$MA.xml", "/profiles/000e08aabbcc.xmlx", false },
		{ "/profiles/$MA.xml", "/profiles/000e08aabbcc", false },
		{ "/profiles/$MAU.xml", "/profiles/000E08AABBCC.xml", true },
		{ "/m/$MAC", "/m/00:0e:08:aa:bb:cc", true },
		{ "/m/$MAC", "/m/00-0e-08-aa-bb-cc", false },
		{ "/spa$PSN.cfg", "/spa2102.cfg", true },
		{ "/spa$PSN.cfg", "/spa.cfg", false },
		{ "/spa$PSN.cfg", "/spa2102.cfg.cfg", true }, /* "2102.cfg" is a field */
		{ "/spa$PSN.cfg", "/spa21/02.cfg", false },
		{ "/$PN/$SN.xml", "/SPA-962/88012BA01234.xml", true },
		{ "/$PN/$SN.xml", "/SPA-962/.xml", false },
		{ "/x", "/x", true }, { "/x", "/x/", false }, { "/x", "", false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sp_tpl t = tpl(cases[i].t);
		if (sp_tpl_match(&t, sp_slice_of(cases[i].p)) != cases[i].m)
			fail_msg("%s vs %s: expected %d", cases[i].t, cases[i].p, cases[i].m);
	}
}

/* picohttpparser-style: no strict prefix of a matching path matches. */
static void
test_match_prefixes(void **state)
{
	const char *p = "/profiles/000e08aabbcc.xml";
	sp_tpl t = tpl("/profiles/$MA.xml");
	(void)state;
	for (size_t n = 0; n < strlen(p); n++)
		assert_false(sp_tpl_match(&t, sp_slice_mk(p, n)));
	assert_true(sp_tpl_match(&t, sp_slice_of(p)));
}

static void
test_route(void **state)
{
	sp_tpl ts[3];
	sp_devid a = dev("000e08aabbcc", "SN1", "SPA2102");
	size_t w;
	(void)state;
	ts[0] = tpl("/profiles/$MA.xml");
	ts[1] = tpl("/spa$PSN.cfg");
	ts[2] = tpl("/s/$SN.xml");
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/profiles/000e08aabbcc.xml"), &a, &w),
	    SP_ROUTE_SELF);
	assert_int_equal(w, 0);
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/profiles/000e08aabbcd.xml"), &a, &w),
	    SP_ROUTE_MISMATCH);
	/* No identity macro: own profile whatever the series says. */
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/spa962.cfg"), &a, &w), SP_ROUTE_SELF);
	assert_int_equal(w, 1);
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/s/SN1.xml"), &a, &w), SP_ROUTE_SELF);
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/s/SN2.xml"), &a, &w), SP_ROUTE_MISMATCH);
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/etc/passwd"), &a, &w), SP_ROUTE_NONE);
	/* Case matters: $MA is lower-case, so the upper-case path is not a match. */
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/profiles/000E08AABBCC.xml"), &a, &w),
	    SP_ROUTE_NONE);
	/* A device without a serial never matches a $SN path. */
	sp_devid ns = dev("000e08aabbcc", "", "SPA2102");
	assert_int_equal(sp_route(ts, 3, sp_slice_of("/s/SN1.xml"), &ns, &w), SP_ROUTE_MISMATCH);
}

/* A serial shaped like a MAC: SELF from one template beats MISMATCH from another. */
static void
test_route_ambiguous(void **state)
{
	sp_tpl ts[2];
	sp_devid a = dev("000e08aabbcc", "88012BA01234", "SPA2102");
	size_t w;
	(void)state;
	ts[0] = tpl("/p/$MAU");
	ts[1] = tpl("/p/$SN");
	assert_int_equal(sp_route(ts, 2, sp_slice_of("/p/88012BA01234"), &a, &w), SP_ROUTE_SELF);
	assert_int_equal(w, 1);
	assert_int_equal(sp_route(ts, 2, sp_slice_of("/p/000E08AABBCC"), &a, &w), SP_ROUTE_SELF);
	assert_int_equal(w, 0);
}

static void
test_expand(void **state)
{
	sp_tpl t = tpl("/$MA/$MAU/$MAC/$SN/$PN/$PSN/$$");
	sp_devid a = dev("000e08aabbcc", "SN1", "SPA-962");
	sp_buf b;
	(void)state;
	sp_buf_init(&b, SP_REQ_PATH_MAX);
	assert_true(sp_ok(sp_tpl_expand(&t, &a, &b)));
	assert_string_equal(sp_buf_cstr(&b),
	    "/000e08aabbcc/000E08AABBCC/00:0e:08:aa:bb:cc/SN1/SPA-962/962/$");
	sp_buf_free(&b);
}

static void
test_psn(void **state)
{
	static const char *const c[][2] = {
		{ "SPA2102", "2102" }, { "SPA-962", "962" }, { "PAP2T", "2T" },
		{ "spa941", "941" }, { "SPA", "SPA" }, { "", "" }, { "2102", "2102" },
		{ "SPA--9", "-9" },
	};
	char out[SP_PSN_MAX + 1];
	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		sp_psn(c[i][0], out);
		assert_string_equal(out, c[i][1]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_match_table), cmocka_unit_test(test_match_prefixes),
		cmocka_unit_test(test_route), cmocka_unit_test(test_route_ambiguous),
		cmocka_unit_test(test_expand), cmocka_unit_test(test_psn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
