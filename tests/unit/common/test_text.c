/* common/text: the byte quoter and the JSON string writer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/text.h"

static void
test_quote_escapes(void **state)
{
	char q[64];
	(void)state;
	sp_quote(sp_slice_mk("a\nb\\", 4), q, sizeof(q));
	assert_string_equal(q, "a\\x0ab\\x5c");
	sp_quote(sp_slice_mk("say \"hi\"\x7f\xff", 10), q, sizeof(q));
	assert_string_equal(q, "say \"hi\"\\x7f\\xff");
	sp_quote_field(sp_slice_mk("say \"hi\"\x7f\xff", 10), q, sizeof(q));
	assert_string_equal(q, "say \\x22hi\\x22\\x7f\\xff");
	sp_quote(sp_slice_mk("nul\0x", 5), q, sizeof(q));
	assert_string_equal(q, "nul\\x00x");
	sp_quote(sp_slice_mk("", 0), q, sizeof(q));
	assert_string_equal(q, "");
}

static void
test_quote_cut(void **state)
{
	char q[16];
	(void)state;
	/* exactly fits: no marker */
	sp_quote(sp_slice_of("0123456789abcde"), q, sizeof(q));
	assert_string_equal(q, "0123456789abcde");
	sp_quote(sp_slice_of("0123456789abcdefghij"), q, sizeof(q));
	assert_int_equal(strlen(q), 15);
	assert_string_equal(q + 12, "...");
	/* an escape is never split by the cut */
	sp_quote(sp_slice_mk("0123456789\x01\x02\x03", 13), q, sizeof(q));
	assert_string_equal(q, "0123456789...");
	sp_quote(sp_slice_of("abc"), q, 1);
	assert_string_equal(q, "");
	sp_quote(sp_slice_of("abc"), q, 0); /* writes nothing, no crash */
}

static void
json_is(sp_slice in, const char *want)
{
	sp_buf b;
	sp_buf_init(&b, 4096);
	assert_true(sp_ok(sp_json_str(&b, in)));
	assert_string_equal(sp_buf_cstr(&b), want);
	sp_buf_free(&b);
}

static void
test_json_escapes(void **state)
{
	(void)state;
	json_is(SP_SLICE_LIT("a\"b\\c\n\x01/\x7f\t\r"),
	    "\"a\\\"b\\\\c\\n\\u0001/\\u007f\\t\\r\"");
	json_is(sp_slice_mk("\0", 1), "\"\\u0000\"");
	json_is(SP_SLICE_LIT(""), "\"\"");
}

static void
test_json_utf8(void **state)
{
	(void)state;
	/* valid UTF-8 passes: e-acute, euro sign, U+1F600 */
	json_is(SP_SLICE_LIT("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* lone continuation, truncated sequence, overlong '/', surrogate, > U+10FFFF */
	json_is(SP_SLICE_LIT("\x80"), "\"\\ufffd\"");
	json_is(SP_SLICE_LIT("a\xe2\x82"), "\"a\\ufffd\\ufffd\"");
	json_is(SP_SLICE_LIT("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
	json_is(SP_SLICE_LIT("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");
	json_is(SP_SLICE_LIT("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
	json_is(SP_SLICE_LIT("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
}

static void
test_json_cstr_and_limit(void **state)
{
	sp_buf b;
	(void)state;
	sp_buf_init(&b, 4);
	assert_true(sp_ok(sp_json_cstr(&b, NULL)));
	assert_string_equal(sp_buf_cstr(&b), "\"\"");
	/* the buffer's ceiling is honoured */
	assert_int_equal(sp_json_cstr(&b, "abcdef").code, SP_E_LIMIT);
	sp_buf_free(&b);
}

static void
test_json_fput(void **state)
{
	char *mem = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&mem, &n);
	(void)state;
	assert_non_null(f);
	assert_true(sp_ok(sp_json_fput(f, SP_SLICE_LIT("x\"y"))));
	fclose(f);
	assert_string_equal(mem, "\"x\\\"y\"");
	free(mem);
}

/* Prometheus label values: \\ \" \n escaped, nothing else but U+FFFD. */
static void
test_prom_label(void **state)
{
	sp_buf b;

	(void)state;
	sp_buf_init(&b, 256);
	assert_true(sp_ok(sp_prom_label(&b, sp_slice_of("Example Device CA"))));
	assert_string_equal(sp_buf_cstr(&b), "Example Device CA");
	sp_buf_reset(&b);
	assert_true(sp_ok(sp_prom_label(&b, sp_slice_mk("a\\b\"c\nd\te\x7f\xc3\xa9\xff",
	    13))));
	assert_string_equal(sp_buf_cstr(&b),
	    "a\\\\b\\\"c\\nd\xef\xbf\xbd" "e\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd");
	sp_buf_reset(&b);
	assert_true(sp_ok(sp_prom_label(&b, sp_slice_mk("", 0))));
	assert_string_equal(sp_buf_cstr(&b), "");
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_label),
		cmocka_unit_test(test_quote_escapes),
		cmocka_unit_test(test_quote_cut),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_json_cstr_and_limit),
		cmocka_unit_test(test_json_fput),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
