/*
 * Flat-profile XML: rendering, parsing (the digest's rules), round trips,
 * prefixes, byte-at-a-time feeding, malformed input with specific errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "profile/profile.h"

static sp_code
parse(const char *xml, sp_params *ps)
{
	return sp_profile_parse(sp_slice_of(xml), ps).code;
}

static void
assert_param(const sp_params *ps, const char *name, const char *value, sp_access a)
{
	const sp_param *p = sp_params_get(ps, name);

	if (p == NULL)
		fail_msg("parameter %s missing", name);
	if (strcmp(p->value, value) != 0)
		fail_msg("parameter %s = '%s', want '%s'", name, p->value, value);
	assert_int_equal(p->access, a);
}

/* ---- rendering ---- */

static void
test_render_exact(void **state)
{
	sp_params ps;
	sp_buf out;

	sp_params_init(&ps);
	sp_buf_init(&out, SP_PROFILE_MAX);
	assert_true(sp_ok(sp_profile_render(&ps, &out)));
	assert_string_equal(sp_buf_cstr(&out), "<flat-profile>\n</flat-profile>\n");
	sp_buf_reset(&out);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Proxy_1_", "sip.example.com", SP_ACCESS_RW)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Password_1_", "p<&>\"'w", SP_ACCESS_NA)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Display_Name_1_", "", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Dial_Plan_1_", "(*xx|[3469]11|0|00)",
	    SP_ACCESS_RO)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Station_Name", "caf\xc3\xa9\tbar",
	    SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_profile_render(&ps, &out)));
	assert_string_equal(sp_buf_cstr(&out),
	    "<flat-profile>\n"
	    "  <Dial_Plan_1_ ua=\"ro\">(*xx|[3469]11|0|00)</Dial_Plan_1_>\n"
	    "  <Display_Name_1_></Display_Name_1_>\n"
	    "  <Password_1_ ua=\"na\">p&lt;&amp;&gt;&quot;&apos;w</Password_1_>\n"
	    "  <Proxy_1_ ua=\"rw\">sip.example.com</Proxy_1_>\n"
	    "  <Station_Name>caf\xc3\xa9\tbar</Station_Name>\n"
	    "</flat-profile>\n");
	sp_buf_free(&out);
	sp_params_free(&ps);
}

static void
test_render_deterministic(void **state)
{
	static const char *const names[] = { "GPP_A", "Zeta", "alpha", "Proxy_1_", "_x",
		"Dial_Plan_1_", "A1" };
	sp_params a, b;
	sp_buf ra, rb;

	sp_params_init(&a);
	sp_params_init(&b);
	sp_buf_init(&ra, SP_PROFILE_MAX);
	sp_buf_init(&rb, SP_PROFILE_MAX);
	for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
		assert_true(sp_ok(sp_params_set_cstr(&a, names[i], names[i], SP_ACCESS_RO)));
		size_t j = SP_ARRAY_LEN(names) - 1 - i;
		assert_true(sp_ok(sp_params_set_cstr(&b, names[j], "junk", SP_ACCESS_NA)));
		assert_true(sp_ok(sp_params_set_cstr(&b, names[j], names[j], SP_ACCESS_RO)));
	}
	assert_true(sp_ok(sp_profile_render(&a, &ra)));
	assert_true(sp_ok(sp_profile_render(&b, &rb)));
	assert_int_equal(ra.len, rb.len);
	assert_memory_equal(ra.p, rb.p, ra.len);
	/* Byte order: upper case before '_' before lower case. */
	assert_true(strstr(ra.p, "<A1") < strstr(ra.p, "<Zeta"));
	assert_true(strstr(ra.p, "<Zeta") < strstr(ra.p, "<_x"));
	assert_true(strstr(ra.p, "<_x") < strstr(ra.p, "<alpha"));
	sp_buf_free(&ra);
	sp_buf_free(&rb);
	sp_params_free(&a);
	sp_params_free(&b);
}

static void
test_render_refuses(void **state)
{
	static const char *const bad[] = {
		"line1\nline2", "cr\r", "nul-free\x01", "\x1b[31m", " lead", "trail ",
		"\ttab", "bad\xff", "\xc0\xaf", "\xed\xa0\x80", "\xef\xbf\xbe", "\xe2\x82",
		"\xf4\x90\x80\x80",
	};
	static const char *const good[] = {
		"", "a b", "in\tside", "\x7f", "\xf0\x9f\x93\x9e", "\xe2\x82\xac",
		"\xef\xbf\xbd", "\xc2\x80",
	};
	sp_params ps;
	sp_buf out;

	sp_buf_init(&out, SP_PROFILE_MAX);
	for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
		sp_params_init(&ps);
		assert_true(sp_ok(sp_params_set_cstr(&ps, "X", bad[i], SP_ACCESS_UNSET)));
		sp_buf_reset(&out);
		sp_result r = sp_profile_render(&ps, &out);
		if (r.code != SP_E_POLICY)
			fail_msg("bad[%zu] rendered", i);
		assert_non_null(strstr(sp_errmsg(), "parameter X"));
		sp_params_free(&ps);
	}
	for (size_t i = 0; i < SP_ARRAY_LEN(good); i++) {
		sp_params_init(&ps);
		assert_true(sp_ok(sp_params_set_cstr(&ps, "X", good[i], SP_ACCESS_UNSET)));
		sp_buf_reset(&out);
		if (sp_failed(sp_profile_render(&ps, &out)))
			fail_msg("good[%zu] refused: %s", i, sp_errmsg());
		/* ... and reads back unchanged. */
		sp_params back;
		sp_params_init(&back);
		assert_true(sp_ok(sp_profile_parse(sp_slice_mk(out.p, out.len), &back)));
		assert_true(sp_params_equal(&ps, &back));
		sp_params_free(&back);
		sp_params_free(&ps);
	}
	assert_true(strstr(sp_errmsg(), "") != NULL);
	sp_buf_free(&out);
}

static void
test_round_trip(void **state)
{
	sp_params ps, back;
	sp_buf out, out2;
	char name[32], value[64];

	sp_params_init(&ps);
	sp_params_init(&back);
	sp_buf_init(&out, SP_PROFILE_MAX);
	sp_buf_init(&out2, SP_PROFILE_MAX);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "P%d_%c", (i * 7919) % 1000, 'a' + i % 26);
		snprintf(value, sizeof(value), "v%d &<>\"' ]]> %c", i, 'A' + i % 26);
		assert_true(sp_ok(sp_params_set_cstr(&ps, name, value, (sp_access)(i % 4))));
	}
	assert_true(sp_ok(sp_profile_render(&ps, &out)));
	assert_true(sp_ok(sp_profile_parse(sp_slice_mk(out.p, out.len), &back)));
	assert_true(sp_params_equal(&ps, &back));
	assert_true(sp_ok(sp_profile_render(&back, &out2)));
	assert_int_equal(out.len, out2.len);
	assert_memory_equal(out.p, out2.p, out.len);
	sp_buf_free(&out);
	sp_buf_free(&out2);
	sp_params_free(&ps);
	sp_params_free(&back);
}

/* ---- parsing: the digest's rules ---- */

static void
test_parse_rules(void **state)
{
	sp_params ps;

	sp_params_init(&ps);
	assert_int_equal(parse(
	    "<?xml version=\"1.0\"?>\n"
	    "<!-- provider header -->\n"
	    "<device><info>ignored <b>x</b></info>\n"
	    " <flat-profile foo=\"bar\">\n"
	    "  <Proxy_1_ ua=\"rw\" other=\"x\">  sip.example.com  </Proxy_1_>\n"
	    "  <proxy_1_>lower</proxy_1_>\n"
	    "  <Multi>first\nsecond\r\nthird</Multi>\n"
	    "  <Ents>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;</Ents>\n"
	    "  <Cdata><![CDATA[<raw & text>]]></Cdata>\n"
	    "  <Empty></Empty>\n"
	    "  <Dup>one</Dup><Dup ua=\"ro\">two</Dup>\n"
	    "  <Acc ua=\"na\">x</Acc><Acc>y</Acc>\n"
	    "  <?pi ignored?>\n"
	    "  <bad-name>skipped<Inner>also skipped</Inner></bad-name>\n"
	    "  <ns:x>skipped</ns:x>\n"
	    "  text between parameters is ignored\n"
	    " </flat-profile>\n"
	    " <Outside>not a parameter</Outside>\n"
	    "</device>\n", &ps), SP_E_OK);
	assert_param(&ps, "Proxy_1_", "sip.example.com", SP_ACCESS_RW);
	assert_param(&ps, "proxy_1_", "lower", SP_ACCESS_UNSET);
	/* Expat turns CRLF into one LF first. */
	assert_param(&ps, "Multi", "first second third", SP_ACCESS_UNSET);
	assert_param(&ps, "Ents", "&<>\"'AB", SP_ACCESS_UNSET);
	assert_param(&ps, "Cdata", "<raw & text>", SP_ACCESS_UNSET);
	assert_param(&ps, "Empty", "", SP_ACCESS_UNSET);
	assert_param(&ps, "Dup", "two", SP_ACCESS_RO);
	/* The last occurrence wins, its access too (absent = unset). */
	assert_param(&ps, "Acc", "y", SP_ACCESS_UNSET);
	assert_null(sp_params_get(&ps, "Outside"));
	assert_null(sp_params_get(&ps, "Inner"));
	assert_null(sp_params_get(&ps, "info"));
	assert_int_equal(ps.n, 8);
	sp_params_free(&ps);
}

static void
test_parse_self_closing_leaves_unchanged(void **state)
{
	sp_params ps;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Keep", "old", SP_ACCESS_RO)));
	assert_int_equal(parse("<flat-profile><Keep/><New/><Set ua=\"na\"/>"
	    "<Cleared></Cleared><Keep2>v</Keep2><Keep2 /></flat-profile>", &ps), SP_E_OK);
	assert_param(&ps, "Keep", "old", SP_ACCESS_RO);
	assert_null(sp_params_get(&ps, "New"));
	assert_null(sp_params_get(&ps, "Set"));
	assert_param(&ps, "Cleared", "", SP_ACCESS_UNSET);
	assert_param(&ps, "Keep2", "v", SP_ACCESS_UNSET);
	sp_params_free(&ps);
}

static void
test_parse_several_flat_profiles(void **state)
{
	sp_params ps;

	sp_params_init(&ps);
	assert_int_equal(parse("<r><flat-profile><A>1</A><B>1</B></flat-profile>"
	    "<x><flat-profile><B>2</B></flat-profile></x></r>", &ps), SP_E_OK);
	assert_param(&ps, "A", "1", SP_ACCESS_UNSET);
	assert_param(&ps, "B", "2", SP_ACCESS_UNSET);
	sp_params_free(&ps);
	/* An encoding declaration is honoured; values come out as UTF-8. */
	sp_params_init(&ps);
	assert_int_equal(parse("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
	    "<flat-profile><N>caf\xe9</N></flat-profile>", &ps), SP_E_OK);
	assert_param(&ps, "N", "caf\xc3\xa9", SP_ACCESS_UNSET);
	sp_params_free(&ps);
}

static const struct {
	const char *xml;
	sp_code code;
	const char *msg;  /* substring of the error */
} bad_docs[] = {
	{ "", SP_E_PARSE, "line 1" },
	{ "not xml", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile>\n<A>1</A>\n<B>2</C>\n</flat-profile>", SP_E_PARSE, "line 3" },
	{ "<flat-profile><A>1</A>", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile><A>&bogus;</A></flat-profile>", SP_E_PARSE, "undefined entity" },
	{ "<flat-profile><A ua=\"rx\">1</A></flat-profile>", SP_E_PARSE, "not one of na, ro, rw" },
	{ "<flat-profile><A ua=\"RW\">1</A></flat-profile>", SP_E_PARSE, "parameter A" },
	{ "<flat-profile><A ua=\"\">1</A></flat-profile>", SP_E_PARSE, "line 1" },
	{ "<flat-profile><A>1<b>2</b></A></flat-profile>", SP_E_PARSE, "contains an element" },
	{ "<flat-profile><A><A/></A></flat-profile>", SP_E_PARSE, "contains an element" },
	{ "<other><A>1</A></other>", SP_E_PARSE, "no <flat-profile>" },
	{ "<Flat-Profile><A>1</A></Flat-Profile>", SP_E_PARSE, "no <flat-profile>" },
	{ "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>"
	  "<flat-profile><A>&lol2;</A></flat-profile>", SP_E_PARSE, "DOCTYPE" },
	{ "<!DOCTYPE flat-profile SYSTEM \"http://evil/x.dtd\"><flat-profile/>",
	  SP_E_PARSE, "DOCTYPE" },
	{ "<flat-profile><A>1</A></flat-profile><second/>", SP_E_PARSE, "junk after" },
	{ "<flat-profile><A>\x01</A></flat-profile>", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile><A>&#0;</A></flat-profile>", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile><A>\xff</A></flat-profile>", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile><A x=1>1</A></flat-profile>", SP_E_PARSE, "malformed XML" },
	{ "<flat-profile><A ua=\"na\" ua=\"rw\">1</A></flat-profile>", SP_E_PARSE,
	  "duplicate attribute" },
};

static void
test_parse_malformed(void **state)
{
	for (size_t i = 0; i < SP_ARRAY_LEN(bad_docs); i++) {
		sp_params ps;
		sp_params_init(&ps);
		assert_true(sp_ok(sp_params_set_cstr(&ps, "Before", "kept", SP_ACCESS_RO)));
		sp_result r = sp_profile_parse(sp_slice_of(bad_docs[i].xml), &ps);
		if (r.code != bad_docs[i].code)
			fail_msg("doc %zu: got %s (%s)", i, sp_code_name(r.code), sp_errmsg());
		if (strstr(sp_errmsg(), bad_docs[i].msg) == NULL)
			fail_msg("doc %zu: message '%s' lacks '%s'", i, sp_errmsg(),
			    bad_docs[i].msg);
		/* All or nothing: the caller's set is untouched. */
		assert_int_equal(ps.n, 1);
		assert_param(&ps, "Before", "kept", SP_ACCESS_RO);
		sp_params_free(&ps);
	}
}

static void
test_parse_limits(void **state)
{
	sp_params ps;
	sp_buf doc;

	sp_params_init(&ps);
	sp_buf_init(&doc, SP_PROFILE_MAX + 100);
	/* Depth. */
	for (int i = 0; i < SP_PROFILE_DEPTH_MAX + 1; i++)
		assert_true(sp_ok(sp_buf_append_str(&doc, "<d>")));
	for (int i = 0; i < SP_PROFILE_DEPTH_MAX + 1; i++)
		assert_true(sp_ok(sp_buf_append_str(&doc, "</d>")));
	assert_int_equal(sp_profile_parse(sp_slice_mk(doc.p, doc.len), &ps).code, SP_E_LIMIT);
	assert_non_null(strstr(sp_errmsg(), "deeper than"));
	/* A value at the limit, one byte over, and raw text over the raw limit. */
	for (int k = 0; k < 3; k++) {
		size_t n = k == 0 ? SP_PARAM_VALUE_MAX : k == 1 ? SP_PARAM_VALUE_MAX + 1 :
		    SP_PROFILE_RAW_VALUE_MAX + 1;
		sp_buf_reset(&doc);
		assert_true(sp_ok(sp_buf_append_str(&doc, "<flat-profile><V>")));
		for (size_t i = 0; i < n; i++)
			assert_true(sp_ok(sp_buf_append_byte(&doc, k == 2 ? ' ' : 'v')));
		assert_true(sp_ok(sp_buf_append_str(&doc, "</V></flat-profile>")));
		sp_code want = k == 0 ? SP_E_OK : SP_E_LIMIT;
		assert_int_equal(sp_profile_parse(sp_slice_mk(doc.p, doc.len), &ps).code, want);
	}
	/* Whole document size. */
	sp_buf_reset(&doc);
	assert_true(sp_ok(sp_buf_append_str(&doc, "<flat-profile>")));
	while (doc.len <= SP_PROFILE_MAX)
		assert_true(sp_ok(sp_buf_append_str(&doc, "<!-- padding padding -->")));
	assert_true(sp_ok(sp_buf_append_str(&doc, "</flat-profile>")));
	assert_int_equal(sp_profile_parse(sp_slice_mk(doc.p, doc.len), &ps).code, SP_E_LIMIT);
	sp_buf_free(&doc);
	sp_params_free(&ps);
}

static void
test_parse_too_many_params(void **state)
{
	sp_params ps;
	sp_buf doc;

	sp_params_init(&ps);
	sp_buf_init(&doc, SP_PROFILE_MAX);
	assert_true(sp_ok(sp_buf_append_str(&doc, "<flat-profile>")));
	for (int i = 0; i <= SP_PARAMS_MAX; i++)
		assert_true(sp_ok(sp_buf_printf(&doc, "<P%06d>x</P%06d>", i, i)));
	assert_true(sp_ok(sp_buf_append_str(&doc, "</flat-profile>")));
	assert_int_equal(sp_profile_parse(sp_slice_mk(doc.p, doc.len), &ps).code, SP_E_LIMIT);
	assert_non_null(strstr(sp_errmsg(), "more than"));
	assert_int_equal(ps.n, 0);
	sp_buf_free(&doc);
	sp_params_free(&ps);
}

static const char sample[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<flat-profile>\n"
    "  <Proxy_1_ ua=\"rw\">sip.example.com</Proxy_1_>\n"
    "  <Password_1_ ua=\"na\">s&amp;cr&#x65;t</Password_1_>\n"
    "  <Station_Name>caf\xc3\xa9 \xf0\x9f\x93\x9e</Station_Name>\n"
    "  <Empty></Empty><Skip/>\n"
    "  <Note><![CDATA[a]]>b</Note>\n"
    "</flat-profile>\n";

static void
check_sample(const sp_params *ps)
{
	assert_int_equal(ps->n, 5);
	assert_param(ps, "Proxy_1_", "sip.example.com", SP_ACCESS_RW);
	assert_param(ps, "Password_1_", "s&cret", SP_ACCESS_NA);
	assert_param(ps, "Station_Name", "caf\xc3\xa9 \xf0\x9f\x93\x9e", SP_ACCESS_UNSET);
	assert_param(ps, "Empty", "", SP_ACCESS_UNSET);
	assert_param(ps, "Note", "ab", SP_ACCESS_UNSET);
}

static void
test_byte_at_a_time(void **state)
{
	sp_profile_parser *p = NULL;
	sp_params ps;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_profile_parser_new(&p)));
	for (size_t i = 0; i < sizeof(sample) - 1; i++)
		assert_true(sp_ok(sp_profile_parser_feed(p, sp_slice_mk(sample + i, 1))));
	assert_true(sp_ok(sp_profile_parser_finish(p, &ps)));
	sp_profile_parser_free(p);
	check_sample(&ps);
	sp_params_free(&ps);

	/* Every split point in two chunks. */
	for (size_t cut = 0; cut < sizeof(sample); cut++) {
		sp_params_init(&ps);
		assert_true(sp_ok(sp_profile_parser_new(&p)));
		assert_true(sp_ok(sp_profile_parser_feed(p, sp_slice_mk(sample, cut))));
		assert_true(sp_ok(sp_profile_parser_feed(p,
		    sp_slice_mk(sample + cut, sizeof(sample) - 1 - cut))));
		assert_true(sp_ok(sp_profile_parser_finish(p, &ps)));
		sp_profile_parser_free(p);
		check_sample(&ps);
		sp_params_free(&ps);
	}
}

static void
test_prefixes(void **state)
{
	/* Every proper prefix that cuts the document before </flat-profile> fails. */
	const char *end = strstr(sample, "</flat-profile>");
	size_t complete = (size_t)(end - sample) + strlen("</flat-profile>");

	for (size_t n = 0; n < sizeof(sample); n++) {
		sp_params ps;
		sp_params_init(&ps);
		sp_result r = sp_profile_parse(sp_slice_mk(sample, n), &ps);
		if (n < complete) {
			if (r.code != SP_E_PARSE)
				fail_msg("prefix %zu parsed", n);
			assert_int_equal(ps.n, 0);
		} else {
			assert_true(sp_ok(r));
			check_sample(&ps);
		}
		sp_params_free(&ps);
	}
}

static void
test_parser_error_sticks(void **state)
{
	sp_profile_parser *p = NULL;
	sp_params ps;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_profile_parser_new(&p)));
	assert_int_equal(sp_profile_parser_feed(p, SP_SLICE_LIT("<flat-profile><A ua=\"zz\">")).code,
	    SP_E_PARSE);
	assert_int_equal(sp_profile_parser_feed(p, SP_SLICE_LIT("1</A></flat-profile>")).code,
	    SP_E_PARSE);
	assert_int_equal(sp_profile_parser_finish(p, &ps).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "parameter A"));
	assert_int_equal(ps.n, 0);
	sp_profile_parser_free(p);
	sp_params_free(&ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_exact),
		cmocka_unit_test(test_render_deterministic),
		cmocka_unit_test(test_render_refuses),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_rules),
		cmocka_unit_test(test_parse_self_closing_leaves_unchanged),
		cmocka_unit_test(test_parse_several_flat_profiles),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_parse_too_many_params),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_parser_error_sticks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
