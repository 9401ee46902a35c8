#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "server/spill.h"

static void
must(sp_result r)
{
	if (sp_failed(r))
		fail_msg("unexpected failure: %s", sp_errmsg());
}

static sp_contact
contact(unsigned int i, bool full)
{
	sp_contact c;

	memset(&c, 0, sizeof(c));
	c.mac.b[0] = 0x00;
	c.mac.b[1] = 0x0e;
	c.mac.b[2] = 0x08;
	c.mac.b[5] = (uint8_t)i;
	c.time = -5 + (int64_t)i * 1000000007;
	c.status = i % 2 ? 304 : 200;
	c.record_pending = i % 3 == 0;
	snprintf(c.ip, sizeof(c.ip), "10.0.0.%u", i);
	snprintf(c.etag, sizeof(c.etag), "\"e%u\"", i);
	c.gen = 1000u + i;
	c.cert_not_after = 1900000000 + (int64_t)i;
	snprintf(c.cert_serial, sizeof(c.cert_serial), "0A%02X", i);
	if (full) {
		memset(c.cert_serial, 'F', SP_CERT_SERIAL_HEX_MAX);
		memset(c.ip, '1', SP_CONTACT_IP_MAX);
		memset(c.ua, 'u', SP_UA_MAX);
		memset(c.etag, 'e', SP_ETAG_MAX);
		memset(c.serial, 's', SP_STORE_FIELD_MAX);
		memset(c.product, 'p', SP_STORE_FIELD_MAX);
	}
	return c;
}

static void
same(const sp_contact *a, const sp_contact *b)
{
	assert_memory_equal(a->mac.b, b->mac.b, 6);
	assert_int_equal(a->time, b->time);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->record_pending, b->record_pending);
	assert_string_equal(a->ip, b->ip);
	assert_string_equal(a->ua, b->ua);
	assert_string_equal(a->etag, b->etag);
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->product, b->product);
	assert_int_equal(a->gen, b->gen);
	assert_int_equal(a->cert_not_after, b->cert_not_after);
	assert_string_equal(a->cert_serial, b->cert_serial);
}

typedef struct got {
	sp_contact v[8];
	size_t n;
} got;

static sp_result
keep(void *arg, const sp_contact *c)
{
	got *g = arg;

	assert_true(g->n < 8);
	g->v[g->n++] = *c;
	return SP_OK;
}

static void
encode3(sp_buf *b, sp_contact *v)
{
	v[0] = contact(1, false);
	v[1] = contact(2, true);
	v[2] = contact(3, false);
	sp_buf_init(b, 1 << 20);
	must(sp_spill_encode(v, 3, b));
}

/* Round trip, the longest record, and every prefix (a torn tail). */
static void
test_round_trip_and_prefixes(void **state)
{
	sp_contact v[3];
	sp_buf b;
	got g;
	size_t n, used, ends[3], off = 0;

	encode3(&b, v);
	memset(&g, 0, sizeof(g));
	must(sp_spill_parse(sp_slice_mk(b.p, b.len), keep, &g, &n, &used));
	assert_int_equal(n, 3);
	assert_int_equal(used, b.len);
	for (size_t i = 0; i < 3; i++)
		same(&g.v[i], &v[i]);
	/* Record ends: each prefix keeps exactly the whole records in it. */
	for (size_t i = 0; i < 3; i++) {
		off += SP_SPILL_HEAD + (size_t)(uint8_t)b.p[off + 4] +
		    ((size_t)(uint8_t)b.p[off + 5] << 8) + SP_SPILL_TAIL;
		ends[i] = off;
	}
	assert_int_equal(ends[2], b.len);
	assert_true(ends[1] - ends[0] > SP_UA_MAX);
	for (size_t k = 0; k <= b.len; k++) {
		size_t want = k >= ends[2] ? 3 : k >= ends[1] ? 2 : k >= ends[0] ? 1 : 0;
		must(sp_spill_parse(sp_slice_mk(b.p, k), NULL, NULL, &n, &used));
		assert_int_equal(n, want);
		assert_int_equal(used, want ? ends[want - 1] : 0);
	}
	sp_buf_free(&b);
}

/* A flipped bit anywhere in a record stops the parse before it. */
static void
test_bit_flips(void **state)
{
	sp_contact v[3];
	sp_buf b;
	size_t n, used, first_end;

	encode3(&b, v);
	must(sp_spill_parse(sp_slice_mk(b.p, b.len), NULL, NULL, &n, &used));
	first_end = SP_SPILL_HEAD + (size_t)(uint8_t)b.p[4] + SP_SPILL_TAIL;
	for (size_t i = first_end; i < b.len && i < first_end + 200; i++) {
		b.p[i] ^= 0x10;
		must(sp_spill_parse(sp_slice_mk(b.p, b.len), NULL, NULL, &n, &used));
		assert_int_equal(n, 1);
		assert_int_equal(used, first_end);
		b.p[i] ^= 0x10;
	}
	sp_buf_free(&b);
}

/* Files: append twice, load, torn tail dropped, truncate; 0600. */
static void
test_file(void **state)
{
	char dir[64], path[128];
	sp_contact v[3], *got_v = NULL;
	size_t n = 0, dropped = 0;
	struct stat st;
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/sprov-spill.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/contacts.spill", dir);
	/* The start-up check: a new file in a writable directory is fine, made later. */
	must(sp_spill_check(path));
	assert_false(sp_file_exists(path));
	{
		char bad[200];
		sp_result r;
		snprintf(bad, sizeof(bad), "%s/missing/x.spill", dir);
		r = sp_spill_check(bad);
		assert_int_equal(r.code, SP_E_IO);
		assert_non_null(strstr(sp_errmsg(), "No such file or directory"));
		assert_non_null(strstr(sp_errmsg(), bad));
	}
	/* No file: no records, nothing created. */
	must(sp_spill_load(path, &got_v, &n, &dropped));
	assert_int_equal(n, 0);
	must(sp_spill_truncate(path));
	assert_false(sp_file_exists(path));
	v[0] = contact(1, false);
	v[1] = contact(2, true);
	v[2] = contact(3, false);
	must(sp_spill_append(path, v, 2));
	must(sp_spill_append(path, v + 2, 1));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* A torn tail: half a record. */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "SPC1\x10\x00\x00\x00garbage", 15), 15);
	close(fd);
	must(sp_spill_load(path, &got_v, &n, &dropped));
	assert_int_equal(n, 3);
	assert_int_equal(dropped, 15);
	for (size_t i = 0; i < 3; i++)
		same(&got_v[i], &v[i]);
	free(got_v);
	must(sp_spill_truncate(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	must(sp_spill_load(path, &got_v, &n, &dropped));
	assert_int_equal(n, 0);
	assert_int_equal(dropped, 0);
	free(got_v);
	unlink(path);
	/* Unwritable: named in the message, nothing created. */
	assert_int_equal(chmod(dir, 0500), 0);
	if (geteuid() != 0) {
		sp_result r = sp_spill_check(path);
		assert_int_equal(r.code, SP_E_IO);
		assert_non_null(strstr(sp_errmsg(), path));
		assert_non_null(strstr(sp_errmsg(), "Permission denied"));
		assert_false(sp_file_exists(path));
		r = sp_spill_append(path, v, 1);
		assert_int_equal(r.code, SP_E_IO);
		assert_false(sp_file_exists(path));
	}
	assert_int_equal(chmod(dir, 0700), 0);
	rmdir(dir);
}

/*
 * A record the version before schema 7 wrote ("SPC1": no generation or
 * certificate) is still read, those fields 0 and "": a spill file left by
 * the old version is replayed after an upgrade.  Built by hand, not with
 * the encoder, so it pins the old format.
 */
static void
test_v1_record(void **state)
{
	uint8_t rec[128], *p = rec + SP_SPILL_HEAD;
	const char *strs[5] = { "10.0.0.9", "", "\"e9\"", "SN9", "SPA504G" };
	uint64_t h, t = 1700000000;
	size_t len, n = 0, used = 0;
	got g = { .n = 0 };

	(void)state;
	memcpy(p, "\x00\x0e\x08\x00\x00\x09", 6);
	for (int i = 0; i < 8; i++)
		p[6 + i] = (uint8_t)(t >> (8 * i));
	p[14] = 200;
	p[15] = p[16] = p[17] = 0;
	p[18] = 0;
	p += 19;
	for (int k = 0; k < 5; k++) {
		size_t sl = strlen(strs[k]);
		p[0] = (uint8_t)sl;
		p[1] = 0;
		memcpy(p + 2, strs[k], sl);
		p += 2 + sl;
	}
	len = (size_t)(p - (rec + SP_SPILL_HEAD));
	memcpy(rec, "SPC1", 4);
	for (int i = 0; i < 4; i++)
		rec[4 + i] = (uint8_t)(len >> (8 * i));
	h = sp_fnv1a(rec + 4, 4 + len);
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(h >> (8 * i));
	must(sp_spill_parse(sp_slice_mk((const char *)rec, SP_SPILL_HEAD + len +
	    SP_SPILL_TAIL), keep, &g, &n, &used));
	assert_int_equal(n, 1);
	assert_int_equal(used, SP_SPILL_HEAD + len + SP_SPILL_TAIL);
	assert_int_equal(g.v[0].time, (int64_t)t);
	assert_int_equal(g.v[0].status, 200);
	assert_string_equal(g.v[0].product, "SPA504G");
	assert_int_equal(g.v[0].gen, 0);
	assert_int_equal(g.v[0].cert_not_after, 0);
	assert_string_equal(g.v[0].cert_serial, "");
	/* The same bytes under the new magic are short of its fields: refused. */
	memcpy(rec, "SPC2", 4);
	n = used = 0;
	must(sp_spill_parse(sp_slice_mk((const char *)rec, SP_SPILL_HEAD + len +
	    SP_SPILL_TAIL), NULL, NULL, &n, &used));
	assert_int_equal(n, 0);
	assert_int_equal(used, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_prefixes),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_v1_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
