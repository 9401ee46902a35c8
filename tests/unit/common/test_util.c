#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static void
test_parse_i64(void **state)
{
	int64_t v;
	(void)state;
	assert_true(sp_ok(sp_parse_i64("42", 0, 100, "n", &v)));
	assert_int_equal(v, 42);
	assert_true(sp_ok(sp_parse_i64("-5", -10, 10, "n", &v)));
	assert_int_equal(v, -5);
	assert_true(sp_ok(sp_parse_i64("9223372036854775807", 0, INT64_MAX, "n", &v)));
	assert_true(sp_ok(sp_parse_i64("-9223372036854775808", INT64_MIN, 0, "n", &v)));
	assert_int_equal(v, INT64_MIN);
	static const char *const bad[] = { "", "-", "+1", " 1", "1 ", "1x", "0x10",
		"9223372036854775808", "101", "-11", "1.5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp_result r = sp_parse_i64(bad[i], -10, 100, "--days", &v);
		if (sp_ok(r))
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(r.code, SP_E_PARSE);
		assert_non_null(strstr(sp_errmsg(), "--days"));
	}
	assert_true(sp_failed(sp_parse_i64_slice(sp_slice_mk("1\0", 2), 0, 9, "n", &v)));
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_write_file(void **state)
{
	char dir[] = "/tmp/sprov-util-XXXXXX", path[256];
	struct stat st;
	sp_buf b;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	umask(022);
	assert_true(sp_ok(sp_write_file(path, "secret", 6, 0600, SP_WRITE_EXCL)));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* EXCL refuses to replace and leaves the old content and no temp file. */
	sp_result r = sp_write_file(path, "other", 5, 0600, SP_WRITE_EXCL);
	assert_int_equal(r.code, SP_E_EXISTS);
	assert_non_null(strstr(sp_errmsg(), "file exists"));
	assert_true(sp_ok(sp_read_file(path, 100, &b)));
	assert_string_equal(sp_buf_cstr(&b), "secret");
	sp_buf_free(&b);
	assert_int_equal(count_entries(dir), 1);
	/* Without EXCL it is replaced, mode enforced despite the umask. */
	umask(077);
	assert_true(sp_ok(sp_write_file(path, "new", 3, 0644, 0)));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	umask(022);
	/* Bounded read. */
	assert_int_equal(sp_read_file(path, 2, &b).code, SP_E_LIMIT);
	assert_null(b.p);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(sp_read_file(path, 2, &b).code, SP_E_NOTFOUND);
	snprintf(path, sizeof(path), "%s/no/such/dir/f", dir);
	assert_int_equal(sp_write_file(path, "x", 1, 0600, 0).code, SP_E_IO);
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_true(sp_ok(sp_mkdirs(path, 0700)));
	assert_true(sp_file_exists(path));
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

static void
test_hex_ctl(void **state)
{
	char out[9];
	const uint8_t in[] = { 0x00, 0x0f, 0xa0, 0xff };
	(void)state;
	sp_hex(in, 4, out);
	assert_string_equal(out, "000fa0ff");
	assert_true(sp_has_ctl(sp_slice_mk("a\0b", 3)));
	assert_true(sp_has_ctl(sp_slice_of("a\x7f")));
	assert_false(sp_has_ctl(sp_slice_of("plain text ~")));
}

static void
test_error_reraise(void **state)
{
	(void)state;
	(void)sp_error(SP_E_PARSE, "first %d", 1);
	/* Re-raising the current message must not read a buffer being written. */
	sp_result r = sp_error(SP_E_POLICY, "%s", sp_errmsg());
	assert_int_equal(r.code, SP_E_POLICY);
	assert_string_equal(sp_errmsg(), "first 1");
	r = sp_error_wrap(r, "ctx %s", "x");
	assert_string_equal(sp_errmsg(), "ctx x: first 1");
	assert_string_equal(sp_code_name(SP_E_POLICY), "policy");
}

/* The published FNV-1a 64-bit test vectors. */
static void
test_fnv1a(void **state)
{
	(void)state;
	assert_true(sp_fnv1a("", 0) == 0xcbf29ce484222325ULL);
	assert_true(sp_fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(sp_fnv1a("foobar", 6) == 0x85944171f73967e8ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_write_file),
		cmocka_unit_test(test_hex_ctl),
		cmocka_unit_test(test_error_reraise),
		cmocka_unit_test(test_fnv1a),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
