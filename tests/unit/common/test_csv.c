/* common/csv: the one CSV reader (device lists). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"

static sp_csv_row row;

/* Parse all of in; the records joined as "a|b|c;..." into out, or the error. */
static sp_result
parse(sp_slice in, char *out, size_t outsz)
{
	sp_result res = SP_OK;
	sp_csv r;
	bool got;
	size_t o = 0;

	out[0] = '\0';
	sp_csv_init(&r, "t.csv", in);
	for (;;) {
		res = sp_csv_next(&r, &row, &got);
		if (sp_failed(res) || !got)
			break;
		for (size_t i = 0; i < row.n; i++) {
			assert_int_equal(strlen(row.f[i].p), row.f[i].len);
			o += (size_t)snprintf(out + o, outsz - o, "%s%.*s",
			    i ? "|" : "", (int)row.f[i].len, row.f[i].p);
			assert_true(o < outsz);
		}
		o += (size_t)snprintf(out + o, outsz - o, "@%zu;", row.line);
		assert_true(o < outsz);
	}
	return res;
}

static void
ok(const char *in, const char *want)
{
	char got[8192];
	assert_true(sp_ok(parse(sp_slice_of(in), got, sizeof(got))));
	assert_string_equal(got, want);
}

static void
bad_n(const char *in, size_t n, sp_code code, const char *msg)
{
	char got[8192];
	sp_result r = parse(sp_slice_mk(in, n), got, sizeof(got));
	assert_int_equal(r.code, code);
	assert_string_equal(sp_errmsg(), msg);
}

static void
bad(const char *in, sp_code code, const char *msg)
{
	bad_n(in, strlen(in), code, msg);
}

static void
test_fields(void **state)
{
	(void)state;
	ok("", "");
	ok("a,b,c\n", "a|b|c@1;");
	ok("a,b,c", "a|b|c@1;");                       /* no final LF */
	ok("a,b\r\nc,d\r\n", "a|b@1;c|d@2;");          /* CRLF */
	ok("a,,\n", "a||@1;");                         /* empty fields */
	ok(",\n", "|@1;");
	ok("  a , b\t,c  \n", "a|b|c@1;");             /* blanks dropped */
	ok("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", "a,b|say \"hi\"|@1;");
	ok(" \"q\" ,x\n", "q|x@1;");
	ok("\" keep \",x\n", " keep |x@1;");          /* quoted blanks stay */
	ok("\n\n# a comment, \"with quotes\n  #too\r\na\n\r\n\t\nb\n", "a@5;b@8;");
	ok("caf\xc3\xa9,x\n", "caf\xc3\xa9|x@1;");     /* bytes >= 0x80 pass */
}

static void
test_errors(void **state)
{
	(void)state;
	bad("a\n\"b\n", SP_E_PARSE, "t.csv:2: unterminated quoted field");
	bad("\"a,b\n\"\n", SP_E_PARSE, "t.csv:1: unterminated quoted field");
	bad("\"a\"b,c\n", SP_E_PARSE, "t.csv:1: text after a quoted field");
	bad("a\"b,c\n", SP_E_PARSE, "t.csv:1: quote inside an unquoted field");
	bad("a,b\n\x01,c\n", SP_E_PARSE, "t.csv:2: control character \\x01");
	bad("a\rb\n", SP_E_PARSE, "t.csv:1: control character \\x0d");
	bad("a\x7f\n", SP_E_PARSE, "t.csv:1: control character \\x7f");
	/* NUL refused anywhere, even in a comment or a quoted field */
	bad_n("a\n#x\0y\n", 7, SP_E_PARSE, "t.csv:2: NUL byte");
	bad_n("\"a\0\"\n", 5, SP_E_PARSE, "t.csv:1: NUL byte");
}

static void
test_limits(void **state)
{
	char in[SP_CSV_LINE_MAX + 64], want[2 * SP_CSV_LINE_MAX];
	size_t n;
	(void)state;

	/* a field of exactly the limit, then one byte more */
	memset(in, 'f', SP_CSV_FIELD_MAX);
	in[SP_CSV_FIELD_MAX] = '\0';
	snprintf(want, sizeof(want), "%s@1;", in);
	ok(in, want);
	in[SP_CSV_FIELD_MAX] = 'f';
	in[SP_CSV_FIELD_MAX + 1] = '\0';
	bad(in, SP_E_LIMIT, "t.csv:1: field longer than 256 bytes");
	/* quoted: counted after unquoting ("" is one byte) */
	n = 0;
	in[n++] = '"';
	for (int i = 0; i < SP_CSV_FIELD_MAX; i++) {
		in[n++] = '"';
		in[n++] = '"';
	}
	in[n++] = '"';
	in[n] = '\0';
	assert_true(sp_ok(parse(sp_slice_of(in), want, sizeof(want))));
	in[n - 1] = '"';
	in[n++] = '"';
	in[n++] = '"';
	in[n] = '\0';
	bad(in, SP_E_LIMIT, "t.csv:1: field longer than 256 bytes");

	/* 16 fields, then 17 */
	ok("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\n",
	    "1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16@1;");
	bad("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n", SP_E_LIMIT,
	    "t.csv:1: more than 16 fields");

	/* a line of exactly the limit (blanks), then one byte more; CR not counted */
	memset(in, ' ', SP_CSV_LINE_MAX);
	in[0] = 'x';
	memcpy(in + SP_CSV_LINE_MAX, "\r\n", 3);
	ok(in, "x@1;");
	memcpy(in + SP_CSV_LINE_MAX, " \n", 3);
	bad(in, SP_E_LIMIT, "t.csv:1: line longer than 4096 bytes");
}

/*
 * Prefixes, after picohttpparser's test: every prefix of a valid file, in a
 * heap block of exactly its length (ASan sees any over-read), parses to the
 * records of the full file that it holds whole, or to a shorter last record.
 */
static void
test_prefixes(void **state)
{
	static const char file[] =
	    "mac,serial,product,group\r\n"
	    "# comment\n"
	    "000e08aabbcc,\"SN,1\",\"SPA \"\"962\"\"\",office\n"
	    "\n"
	    "000e08aabbcd, SN2 ,SPA-962\n";
	char full[1024], got[1024];
	size_t n = sizeof(file) - 1;
	(void)state;

	assert_true(sp_ok(parse(sp_slice_mk(file, n), full, sizeof(full))));
	assert_string_equal(full, "mac|serial|product|group@1;"
	    "000e08aabbcc|SN,1|SPA \"962\"|office@3;000e08aabbcd|SN2|SPA-962@5;");
	for (size_t len = 0; len <= n; len++) {
		char *p = malloc(len ? len : 1);
		sp_result r;

		assert_non_null(p);
		memcpy(p, file, len);
		r = parse(sp_slice_mk(p, len), got, sizeof(got));
		if (sp_ok(r)) {
			/* every complete record equals the full parse's */
			char *last = strrchr(got, ';');
			size_t keep = 0;
			for (char *s = got; last && s < last; s++)
				if (*s == ';')
					keep = (size_t)(s - got) + 1;
			assert_memory_equal(got, full, keep);
		} else {
			/* only a cut inside quotes fails */
			assert_string_equal(sp_errmsg() + strlen(sp_errmsg()) - 25,
			    "unterminated quoted field");
		}
		free(p);
	}
	/* byte at a time: each byte alone is a whole input */
	for (size_t i = 0; i < n; i++) {
		char *p = malloc(1);
		assert_non_null(p);
		*p = file[i];
		(void)parse(sp_slice_mk(p, 1), got, sizeof(got));
		free(p);
	}
}

static sp_result
devices(const char *in, char *out, size_t outsz)
{
	sp_result res = SP_OK;
	sp_csv r;
	sp_csv_device d;
	bool got;
	size_t o = 0;

	out[0] = '\0';
	sp_csv_init(&r, "devices.csv", sp_slice_of(in));
	for (;;) {
		res = sp_csv_next_device(&r, &row, &d, &got);
		if (sp_failed(res) || !got)
			break;
		o += (size_t)snprintf(out + o, outsz - o, "%s/%s/%s/%s@%zu;", d.mac,
		    d.serial, d.product, d.group, d.line);
	}
	return res;
}

static void
test_devices(void **state)
{
	char got[1024];
	(void)state;

	assert_true(sp_ok(devices("# list\nMAC,Serial,Product\na,b,c\nd,e,f,g\n",
	    got, sizeof(got))));
	assert_string_equal(got, "a/b/c/@3;d/e/f/g@4;");
	/* the header is only the first record */
	assert_true(sp_ok(devices("a,b,c\nmac,x,y\n", got, sizeof(got))));
	assert_string_equal(got, "a/b/c/@1;mac/x/y/@2;");
	assert_true(sp_ok(devices("mac,serial,product\n", got, sizeof(got))));
	assert_string_equal(got, "");
	assert_int_equal(devices("a,b,c\nd,e\n", got, sizeof(got)).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(),
	    "devices.csv:2: expected mac,serial,product[,group], got 2 fields");
	assert_int_equal(devices("\"a\"\n", got, sizeof(got)).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(),
	    "devices.csv:1: expected mac,serial,product[,group], got 1 field");
	assert_int_equal(devices("mac\na,b,c,d,e\n", got, sizeof(got)).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(),
	    "devices.csv:2: expected mac,serial,product[,group], got 5 fields");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_devices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
