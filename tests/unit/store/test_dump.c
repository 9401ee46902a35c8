/* store/dump.c: the dump writer, the whole-file check and restore. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/dump.h"

#define OK(expr)                                                            \
	do {                                                                \
		sp_result r_ = (expr);                                      \
		if (sp_failed(r_))                                          \
			fail_msg("%s: %s", #expr, sp_errmsg());             \
	} while (0)

static const char good[] =
    "{\"sprov-dump\":1,\"sprov\":\"0.1.0\"}\n"
    "{\"device\":\"000e08aabb01\",\"serial\":\"\",\"product\":\"P\",\"group\":\"g\","
    "\"enabled\":true,\"pending\":false,\"created\":1700000001}\n"
    "{\"device\":\"000e08aabb09\",\"serial\":\"S\",\"product\":\"P\",\"group\":\"\","
    "\"enabled\":false,\"pending\":true,\"created\":1700000009}\n"
    "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"\",\"value\":\"1\","
    "\"access\":\"rw\"}\n"
    "{\"param\":\"A\",\"level\":\"product\",\"key\":\"P\",\"value\":\"2\","
    "\"access\":null}\n"
    "{\"param\":\"A\",\"level\":\"group\",\"key\":\"g\",\"value\":\"3\","
    "\"access\":\"na\"}\n"
    "{\"param\":\"A\",\"level\":\"device\",\"key\":\"000e08aabb01\","
    "\"value\":\"x\\ty\",\"access\":\"ro\"}\n"
    "{\"param\":\"B\",\"level\":\"device\",\"key\":\"000e08aabb09\","
    "\"value\":\"\xc3\xa9\",\"access\":null}\n"
    "{\"contact\":\"0000000000ff\",\"time\":1700000200,\"ip\":\"192.0.2.2\","
    "\"ua_hex\":\"41ff42\",\"etag\":\"\",\"status\":404}\n"
    "{\"contact\":\"000e08aabb01\",\"time\":1700000100,\"ip\":\"192.0.2.1\","
    "\"ua\":\"Linksys/SPA-2102-5.2 (S1)\",\"etag\":\"\\\"e\\\"\",\"status\":200}\n"
    "{\"end\":\"sprov-dump\",\"devices\":2,\"params\":5,\"contacts\":2}\n";

typedef struct fx {
	char dir[64], uri[160], path[128];
	sp_store *s;
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sprov-dump.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path);
	if (sp_failed(sp_store_open_ex(f->uri, SP_STORE_CREATE, &f->s)))
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[200];

	sp_store_close(f->s);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
dump_of(sp_store *s, sp_buf *b)
{
	sp_buf_init_secret(b, SP_DUMP_MAX);
	OK(sp_store_dump(s, b, NULL));
}

/* Restoring the canonical dump and dumping again gives the same bytes. */
static void
test_round_trip(void **state)
{
	fx *f = *state;
	sp_dump_counts n;
	sp_buf b;
	sp_contact c;
	bool found;
	sp_mac mac = { { 0, 0, 0, 0, 0, 0xff } };

	OK(sp_dump_check("good", sp_slice_of(good), &n));
	assert_int_equal(n.devices, 2);
	assert_int_equal(n.params, 5);
	assert_int_equal(n.contacts, 2);
	OK(sp_store_restore(f->s, f->uri, "good", sp_slice_of(good), false, &n));
	dump_of(f->s, &b);
	assert_int_equal(b.len, strlen(good));
	assert_memory_equal(b.p, good, b.len);
	assert_true(b.secret);
	sp_buf_free(&b);
	/* The User-Agent's bytes, not U+FFFD. */
	OK(sp_store_contact_get(f->s, &mac, &c, &found));
	assert_true(found);
	assert_string_equal(c.ua, "A\xff" "B");
}

/* A failure in the write pass leaves the store as it was. */
static void
test_restore_refusals(void **state)
{
	fx *f = *state;
	sp_buf before, after;
	sp_device d;

	memset(&d, 0, sizeof(d));
	d.mac.b[5] = 0x42;
	d.enabled = true;
	OK(sp_store_device_add(f->s, &d));
	dump_of(f->s, &before);
	assert_int_equal(sp_store_restore(f->s, "sqlite:x", "good",
	    sp_slice_of(good), false, NULL).code, SP_E_EXISTS);
	assert_string_equal(sp_errmsg(), "store sqlite:x is not empty: restore only "
	    "into an empty store, or use --force to replace its content");
	dump_of(f->s, &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.p, after.p, before.len);
	sp_buf_free(&after);
	/* A second restore of the same dump with force: replaced, not merged. */
	OK(sp_store_restore(f->s, "sqlite:x", "good", sp_slice_of(good), true, NULL));
	dump_of(f->s, &after);
	assert_int_equal(after.len, strlen(good));
	assert_memory_equal(after.p, good, after.len);
	sp_buf_free(&after);
	sp_buf_free(&before);
}

/* check: one line replaced by `line` fails at `at` with `msg`. */
static void
bad_line(size_t which, const char *line, const char *msg)
{
	char buf[4096];
	const char *p = good, *nl;
	size_t o = 0, k = 1;

	while (*p) {
		nl = strchr(p, '\n');
		if (k == which)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\n", line);
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s\n",
			    (int)(nl - p), p);
		p = nl + 1;
		k++;
	}
	if (sp_ok(sp_dump_check("f", sp_slice_mk(buf, o), NULL)))
		fail_msg("line %zu '%s' passed", which, line);
	assert_string_equal(sp_errmsg(), msg);
}

static void
test_check_refusals(void **state)
{
	(void)state;
	bad_line(1, "{\"sprov-dump\":\"1\"}", "f:1: \"sprov-dump\" must be an integer");
	bad_line(1, "{\"sprov-dump\":1,\"x\":1}",
	    "f:1: a sprov-dump record has no member \"x\"");
	bad_line(2, "{\"device\":\"000e08aabb01\"}",
	    "f:2: a device record needs the member \"serial\"");
	bad_line(2, "{\"device\":\"000e08aabb01\",\"serial\":\"\",\"product\":\"P\","
	    "\"group\":\"g\",\"enabled\":1,\"pending\":false,\"created\":1}",
	    "f:2: \"enabled\" must be true or false");
	bad_line(2, "{\"device\":\"000e08aabb01\",\"serial\":\" x\",\"product\":\"P\","
	    "\"group\":\"g\",\"enabled\":true,\"pending\":false,\"created\":1}",
	    "f:2: serial ' x': leading or trailing space");
	bad_line(2, "{\"device\":\"000e08aabb01\",\"serial\":\"\",\"product\":\"P\","
	    "\"group\":\"g\",\"enabled\":true,\"pending\":false,\"created\":0}",
	    "f:2: \"created\" must be a positive Unix time");
	bad_line(3, "{\"device\":\"000e08aabb09\",\"serial\":\"S\",\"product\":\"P\","
	    "\"group\":\"g\",\"enabled\":false,\"pending\":true,\"created\":1}",
	    "f:3: a pending device is disabled and in no group");
	bad_line(4, "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"x\","
	    "\"value\":\"1\",\"access\":null}",
	    "f:4: the defaults level has the key \"\"");
	bad_line(4, "{\"param\":\"A\",\"level\":\"site\",\"key\":\"\","
	    "\"value\":\"1\",\"access\":null}",
	    "f:4: level 'site' is not defaults, product, group or device");
	bad_line(4, "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"\","
	    "\"value\":\"1\",\"access\":\"wr\"}",
	    "f:4: access 'wr' is not one of na, ro, rw");
	bad_line(4, "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"\","
	    "\"value\":\"1\",\"access\":1}", "f:4: \"access\" must be a string or null");
	bad_line(5, "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"\","
	    "\"value\":\"1\",\"access\":null}",
	    "f:5: param A (defaults '') is repeated or out of order (sorted by "
	    "level, key, name)");
	bad_line(10, "{\"contact\":\"000e08aabb01\",\"time\":1,\"ip\":\"\",\"ua\":\"\","
	    "\"ua_hex\":\"41\",\"etag\":\"\",\"status\":200}",
	    "f:10: a contact record has either \"ua\" or \"ua_hex\"");
	bad_line(9, "{\"contact\":\"0000000000ff\",\"time\":1,\"ip\":\"\","
	    "\"ua_hex\":\"41FF\",\"etag\":\"\",\"status\":200}",
	    "f:9: \"ua_hex\" is not lowercase hex of bytes other than NUL");
	bad_line(9, "{\"contact\":\"0000000000ff\",\"time\":1,\"ip\":\"\","
	    "\"ua_hex\":\"4100\",\"etag\":\"\",\"status\":200}",
	    "f:9: \"ua_hex\" is not lowercase hex of bytes other than NUL");
	bad_line(10, "{\"device\":\"0000000000ff\",\"serial\":\"\",\"product\":\"\","
	    "\"group\":\"\",\"enabled\":true,\"pending\":false,\"created\":1}",
	    "f:10: a device record after the contact records (the order is devices, "
	    "params, contacts, end)");
	bad_line(10, "{\"contact\":\"000e08aabb01\",\"param\":\"A\"}",
	    "f:10: a record of two kinds");
	bad_line(11, "{\"sprov-dump\":1}", "f:11: a second header");
	bad_line(11, "{\"end\":\"dump\",\"devices\":2,\"params\":5,\"contacts\":2}",
	    "f:11: the end line reads {\"end\":\"sprov-dump\",...}");
	/* A parameter value the store would refuse: refused before writing. */
	bad_line(4, "{\"param\":\"A\",\"level\":\"defaults\",\"key\":\"\","
	    "\"value\":\" lead\",\"access\":null}", "f:4: parameter A: value has leading or trailing whitespace, which a device trims");
}

/* After the end line, nothing; without one, truncated. */
static void
test_check_ends(void **state)
{
	char buf[4096];

	(void)state;
	snprintf(buf, sizeof(buf), "%s{\"end\":\"sprov-dump\",\"devices\":2,"
	    "\"params\":5,\"contacts\":2}\n", good);
	assert_int_equal(sp_dump_check("f", sp_slice_of(buf), NULL).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "f:12: a record after the end line");
	assert_int_equal(sp_dump_check("f", sp_slice_mk(good, strlen(good) - 1),
	    NULL).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "f:11: truncated: the last line has no end "
	    "of line");
	/* Every cut at a line boundary is caught by the end line. */
	for (size_t i = 0; good[i]; i++)
		if (good[i] == '\n' && good[i + 1])
			assert_true(sp_failed(sp_dump_check("f", sp_slice_mk(good, i + 1),
			    NULL)));
	snprintf(buf, sizeof(buf), "%s\n", good);
	assert_int_equal(sp_dump_check("f", sp_slice_of(buf), NULL).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "f:12: an empty line");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refusals, setup, teardown),
		cmocka_unit_test(test_check_refusals),
		cmocka_unit_test(test_check_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
