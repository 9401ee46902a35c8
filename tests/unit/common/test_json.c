/* The strict flat-object JSON reader (common/json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"

static sp_json_obj o;

static void
parse_ok(const char *line)
{
	if (sp_failed(sp_json_obj_parse(&o, sp_slice_of(line))))
		fail_msg("'%s': %s", line, sp_errmsg());
}

static void
parse_fails(const char *line, sp_code code, const char *msg)
{
	sp_result r = sp_json_obj_parse(&o, sp_slice_of(line));

	if (r.code != code)
		fail_msg("'%s': code %d, expected %d (%s)", line, r.code, code,
		    sp_errmsg());
	assert_string_equal(sp_errmsg(), msg);
	assert_int_equal(o.n, 0);
}

static void
test_values(void **state)
{
	const sp_json_member *m;

	(void)state;
	sp_json_obj_init(&o);
	parse_ok("{\"s\":\"a\\\"b\\\\c\\/\\n\\t\\r\\b\\f\\u00e9\\ud83d\\ude00\","
	    " \"i\" : -42 ,\"z\":0,\"big\":9223372036854775807,\"t\":true,"
	    "\"f\":false,\"n\":null,\"u\":\"h\xc3\xa9\"}\r");
	assert_int_equal(o.n, 8);
	m = sp_json_obj_get(&o, "s");
	assert_non_null(m);
	assert_int_equal(m->type, SP_JSON_STRING);
	assert_int_equal(m->str.len, 17);
	assert_memory_equal(m->str.p, "a\"b\\c/\n\t\r\b\f\xc3\xa9\xf0\x9f\x98\x80", 17);
	assert_int_equal(m->str.p[m->str.len], '\0');
	m = sp_json_obj_get(&o, "i");
	assert_int_equal(m->type, SP_JSON_INT);
	assert_int_equal(m->i, -42);
	assert_int_equal(sp_json_obj_get(&o, "z")->i, 0);
	assert_true(sp_json_obj_get(&o, "big")->i == INT64_MAX);
	m = sp_json_obj_get(&o, "t");
	assert_true(m->type == SP_JSON_BOOL && m->b);
	m = sp_json_obj_get(&o, "f");
	assert_true(m->type == SP_JSON_BOOL && !m->b);
	assert_int_equal(sp_json_obj_get(&o, "n")->type, SP_JSON_NULL);
	assert_string_equal(sp_json_obj_get(&o, "u")->str.p, "h\xc3\xa9");
	assert_null(sp_json_obj_get(&o, "missing"));
	parse_ok("{}");
	assert_int_equal(o.n, 0);
	parse_ok(" { } ");
	sp_json_obj_free(&o);
}

static void
test_refusals(void **state)
{
	(void)state;
	sp_json_obj_init(&o);
	parse_fails("", SP_E_PARSE, "column 1: expected '{'");
	parse_fails("[1]", SP_E_PARSE, "column 1: expected '{'");
	parse_fails("{\"a\":1", SP_E_PARSE, "column 7: expected ',' or '}'");
	parse_fails("{\"a\":1,}", SP_E_PARSE,
	    "column 8: expected a member name in double quotes");
	parse_fails("{a:1}", SP_E_PARSE,
	    "column 2: expected a member name in double quotes");
	parse_fails("{\"a\" 1}", SP_E_PARSE, "column 6: expected ':'");
	parse_fails("{\"a\":}", SP_E_PARSE, "column 6: expected a value");
	parse_fails("{\"a\":{}}", SP_E_PARSE,
	    "column 6: nested objects and arrays are not allowed");
	parse_fails("{\"a\":[]}", SP_E_PARSE,
	    "column 6: nested objects and arrays are not allowed");
	parse_fails("{\"a\":1.5}", SP_E_PARSE, "column 7: numbers must be integers");
	parse_fails("{\"a\":1e3}", SP_E_PARSE, "column 7: numbers must be integers");
	parse_fails("{\"a\":01}", SP_E_PARSE, "column 6: a number with a leading zero");
	parse_fails("{\"a\":-}", SP_E_PARSE, "column 7: expected a value");
	parse_fails("{\"a\":+1}", SP_E_PARSE, "column 6: expected a value");
	parse_fails("{\"a\":9223372036854775808}", SP_E_PARSE,
	    "column 6: a number out of range");
	parse_fails("{\"a\":tru}", SP_E_PARSE, "column 6: expected a value");
	parse_fails("{\"a\":nul}", SP_E_PARSE, "column 6: expected a value");
	parse_fails("{\"a\":1}x", SP_E_PARSE, "column 8: text after the object");
	parse_fails("{\"a\":1}\n", SP_E_PARSE, "column 8: text after the object");
	parse_fails("{\"a\":1,\"a\":2}", SP_E_PARSE, "member \"a\" appears twice");
	parse_fails("{\"a\":\"x", SP_E_PARSE, "column 8: the string is not closed");
	parse_fails("{\"a\":\"x\\", SP_E_PARSE, "column 9: the string is not closed");
	parse_fails("{\"a\":\"\t\"}", SP_E_PARSE,
	    "column 7: a control byte in a string (escape it)");
	parse_fails("{\"a\":\"\\x41\"}", SP_E_PARSE, "column 8: an unknown escape");
	parse_fails("{\"a\":\"\\u12\"}", SP_E_PARSE,
	    "column 9: \\u needs four hex digits");
	parse_fails("{\"a\":\"\\u0000\"}", SP_E_PARSE,
	    "column 13: \\u0000 (NUL) is not allowed");
	parse_fails("{\"a\":\"\\ud83d\"}", SP_E_PARSE,
	    "column 13: a high surrogate without its low half");
	parse_fails("{\"a\":\"\\ud83d\\u0041\"}", SP_E_PARSE,
	    "column 19: a high surrogate without its low half");
	parse_fails("{\"a\":\"\\ude00\"}", SP_E_PARSE, "column 13: a lone low surrogate");
	parse_fails("{\"a\":\"\xc3\"}", SP_E_PARSE, "column 7: invalid UTF-8 in a string");
	parse_fails("{\"a\":\"\xed\xa0\x80\"}", SP_E_PARSE,
	    "column 7: invalid UTF-8 in a string");
	parse_fails("{\"a\":\"\xc0\xaf\"}", SP_E_PARSE,
	    "column 7: invalid UTF-8 in a string");
	parse_fails("{\"1\":1,\"2\":1,\"3\":1,\"4\":1,\"5\":1,\"6\":1,\"7\":1,\"8\":1,"
	    "\"9\":1,\"10\":1,\"11\":1,\"12\":1,\"13\":1,\"14\":1,\"15\":1,\"16\":1,"
	    "\"17\":1}", SP_E_PARSE, "column 105: more than 16 members");
	/* A NUL byte, seen by length. */
	assert_int_equal(sp_json_obj_parse(&o, sp_slice_mk("{\"a\":\"\0\"}", 9)).code,
	    SP_E_PARSE);
	sp_json_obj_free(&o);
}

/* Every strict prefix of a valid line is refused, and never crashes. */
static void
test_prefixes(void **state)
{
	static const char line[] = "{\"device\":\"000e08aabbcc\",\"n\":-12,"
	    "\"ok\":true,\"x\":null,\"v\":\"\\ud83d\\ude00 \\u00e9\"}";

	(void)state;
	sp_json_obj_init(&o);
	for (size_t k = 0; k < sizeof(line) - 1; k++)
		assert_true(sp_failed(sp_json_obj_parse(&o, sp_slice_mk(line, k))));
	parse_ok(line);
	assert_int_equal(o.n, 5);
	sp_json_obj_free(&o);
}

/* What sp_json_str writes, the reader gives back byte for byte. */
static void
test_round_trip(void **state)
{
	char raw[200];
	sp_buf b;
	size_t n = 0;

	(void)state;
	for (int c = 1; c < 0x80; c++)
		raw[n++] = (char)c;
	memcpy(raw + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
	n += 9;
	sp_buf_init(&b, 4096);
	sp_json_obj_init(&o);
	assert_true(sp_ok(sp_buf_append_str(&b, "{\"v\":")));
	assert_true(sp_ok(sp_json_str(&b, sp_slice_mk(raw, n))));
	assert_true(sp_ok(sp_buf_append_str(&b, "}")));
	parse_ok(sp_buf_cstr(&b));
	assert_int_equal(o.m[0].str.len, n);
	assert_memory_equal(o.m[0].str.p, raw, n);
	assert_true(sp_utf8_valid(sp_slice_mk(raw, n)));
	assert_false(sp_utf8_valid(sp_slice_of("\xff")));
	assert_false(sp_utf8_valid(sp_slice_of("a\xe2\x82")));
	sp_json_obj_free(&o);
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
