/* firmware-path templates, Range headers and the image ETag (server/firmware.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "server/firmware.h"

static sp_fwpath
fwp(const char *s)
{
	sp_fwpath t;

	assert_true(sp_ok(sp_fwpath_parse(sp_slice_of(s), &t)));
	return t;
}

static void
refused(const char *s, const char *msg)
{
	sp_fwpath t;
	sp_result r = sp_fwpath_parse(sp_slice_of(s), &t);

	assert_int_equal(r.code, SP_E_PARSE);
	if (strstr(sp_errmsg(), msg) == NULL)
		fail_msg("'%s': '%s' does not say '%s'", s, sp_errmsg(), msg);
	sp_error_clear();
}

static bool
match(const sp_fwpath *t, const char *path, const char *pn, const char *ver)
{
	char p[SP_FW_PRODUCT_MAX + 1], v[SP_FW_VERSION_MAX + 1];

	if (!sp_fwpath_match(t, sp_slice_of(path), p, v))
		return false;
	assert_string_equal(p, pn);
	assert_string_equal(v, ver);
	return true;
}

static void
test_fwpath_default(void **state)
{
	sp_fwpath t = fwp(SP_FWPATH_DEFAULT);

	(void)state;
	assert_true(match(&t, "/firmware/SPA-962/2.0.1.sfw", "SPA-962", "2.0.1"));
	assert_true(match(&t, "/firmware/SPA2102/2.0.3(0412s).sfw", "SPA2102", "2.0.3(0412s)"));
	assert_false(match(&t, "/firmware/SPA2102/.sfw", "", ""));
	assert_false(match(&t, "/firmware//2.0.1.sfw", "", ""));
	assert_false(match(&t, "/firmware/SPA2102/2.0.1.sf", "", ""));
	assert_false(match(&t, "/firmware/SPA2102/2.0.1.sfw/x", "", ""));
	assert_false(match(&t, "/firmware/SP A/2.0.1.sfw", "", ""));
	assert_false(match(&t, "/firmware/a/b/2.0.1.sfw", "", ""));
	assert_false(match(&t, "/profiles/000e08aabbcc.xml", "", ""));
	assert_false(match(&t, "", "", ""));
}

static void
test_fwpath_forms(void **state)
{
	sp_fwpath t = fwp("/fw/$(VERSION)-for-$(PN).bin");

	(void)state;
	assert_true(match(&t, "/fw/1.2-for-SPA962.bin", "SPA962", "1.2"));
	t = fwp("/f$$/$PN/$VERSION");
	assert_true(match(&t, "/f$/PAP2T/3.1", "PAP2T", "3.1"));
	assert_false(match(&t, "/f/PAP2T/3.1", "", ""));
	refused("firmware/$PN/$VERSION", "must start with '/'");
	refused("/fw/$PN.sfw", "needs $PN and $VERSION");
	refused("/fw/$PN/$VERSION/$PN", "$PN twice");
	refused("/fw/$VERSION/$VERSION/$PN", "$VERSION twice");
	refused("/fw/$MA/$PN/$VERSION", "only $PN and $VERSION");
	refused("/fw/$PN$VERSION", "needs text between");
	refused("/fw/$PN/$VERSION?x", "no control byte");
	refused("/fw/$PN/%41$VERSION", "no control byte");
	refused("/fw/$(PN/$VERSION", "without ')'");
	refused("", "1 to 256 bytes");
}

static void
test_range(void **state)
{
	uint64_t a = 99, b = 99;

	(void)state;
	assert_int_equal(sp_range_parse(NULL, 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=0-9", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 0 && b == 9);
	assert_int_equal(sp_range_parse("bytes=90-", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 90 && b == 99);
	assert_int_equal(sp_range_parse("bytes=90-1000", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 90 && b == 99);
	assert_int_equal(sp_range_parse("bytes=-10", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 90 && b == 99);
	assert_int_equal(sp_range_parse("bytes=-500", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 0 && b == 99);
	assert_int_equal(sp_range_parse(" Bytes = 5-5 ", 100, &a, &b), SP_RANGE_PART);
	assert_true(a == 5 && b == 5);
	assert_int_equal(sp_range_parse("bytes=100-", 100, &a, &b), SP_RANGE_UNSATISFIABLE);
	assert_int_equal(sp_range_parse("bytes=-0", 100, &a, &b), SP_RANGE_UNSATISFIABLE);
	/* Ignored: the whole body. */
	assert_int_equal(sp_range_parse("bytes=0-1,5-6", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("items=0-1", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=9-1", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=-", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=a-1", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=1-2x", 100, &a, &b), SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes=99999999999999999999-", 100, &a, &b),
	    SP_RANGE_WHOLE);
	assert_int_equal(sp_range_parse("bytes", 100, &a, &b), SP_RANGE_WHOLE);
}

static void
test_etag(void **state)
{
	uint8_t d[32];
	char e[SP_FW_ETAG_LEN + 1];

	(void)state;
	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)(i * 8 + 1);
	sp_fw_etag(d, e);
	assert_int_equal(strlen(e), SP_FW_ETAG_LEN);
	assert_string_equal(e, "\"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fwpath_default),
		cmocka_unit_test(test_fwpath_forms),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_etag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
