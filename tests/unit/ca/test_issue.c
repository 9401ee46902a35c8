/*
 * sp_ca_issue end to end: bundle files, modes, hard-linked CA files, no
 * leftovers; and where hard links fail (linkat wrapped, -Wl,--wrap=linkat):
 * copies on a file system without them, fresh copies when an inode has all
 * the links it may (EMLINK), and a clean failure on any other error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca/ca.h"
#include "pki/pki.h"
#include "common/util.h"

/* linkat as the test wants it: 0 = the real one; else fail with this errno. */
static int link_errno;
static int link_fail_call; /* with link_errno: only this call (1-based), 0 = every one */
static int link_calls;
static int link_delay_ms; /* the writer thread dawdles in its first link */
int __real_linkat(int, const char *, int, const char *, int);
int
__wrap_linkat(int ofd, const char *from, int nfd, const char *to, int flags)
{
	if (link_calls++ == 0 && link_delay_ms > 0)
		usleep((useconds_t)link_delay_ms * 1000);
	if (link_errno != 0 && (link_fail_call == 0 || link_calls == link_fail_call)) {
		errno = link_errno;
		return -1;
	}
	return __real_linkat(ofd, from, nfd, to, flags);
}

/* sp_serial_new, made to fail at one call once armed (serial_fail_at). */
static int serial_fail_at, serial_calls;
sp_result __real_sp_serial_new(uint8_t out[SP_SERIAL_LEN]);
sp_result
__wrap_sp_serial_new(uint8_t out[SP_SERIAL_LEN])
{
	if (serial_fail_at != 0 && ++serial_calls == serial_fail_at)
		return sp_error(SP_E_IO, "injected: no serial");
	return __real_sp_serial_new(out);
}

static const char *const macs[] = { "020000000001", "020000000002", "020000000003" };

static void
path(char *out, size_t n, const char *a, const char *b, const char *c)
{
	snprintf(out, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
}

static bool
same_file(const char *a, const char *b)
{
	sp_buf x, y;
	bool same;

	sp_buf_init(&x, SP_PEM_MAX);
	sp_buf_init(&y, SP_PEM_MAX);
	same = sp_ok(sp_read_file(a, SP_PEM_MAX, &x)) && sp_ok(sp_read_file(b, SP_PEM_MAX, &y)) &&
	    x.len == y.len && x.len > 0 && memcmp(x.p, y.p, x.len) == 0;
	sp_buf_free(&x);
	sp_buf_free(&y);
	return same;
}

/* Every entry of OUTDIR is one of the MAC directories. */
static size_t
only_bundles(const char *outdir)
{
	DIR *d = opendir(outdir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		bool known = false;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (size_t i = 0; i < 3; i++)
			known |= strcmp(e->d_name, macs[i]) == 0;
		if (!known)
			fail_msg("unexpected %s/%s", outdir, e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void
check_bundles(const char *ca, const char *out, nlink_t links)
{
	char p[512], q[512];
	struct stat sb;
	static const struct { const char *name; mode_t mode; } f[] = {
		{ "client.crt", 0644 }, { "client.key", 0600 }, { "server-ca.crt", 0644 },
		{ "firmware-ca.crt", 0644 },
	};

	assert_int_equal(only_bundles(out), 3);
	for (size_t i = 0; i < 3; i++) {
		for (size_t k = 0; k < 4; k++) {
			path(p, sizeof(p), out, macs[i], f[k].name);
			assert_int_equal(stat(p, &sb), 0);
			assert_int_equal(sb.st_mode & 07777, f[k].mode);
			if (k >= 2) {
				/* the same bytes as the CA's, one inode for the run's bundles */
				path(q, sizeof(q), ca, f[k].name, NULL);
				assert_true(same_file(p, q));
				if (links != 0)
					assert_int_equal(sb.st_nlink, links);
			} else {
				assert_int_equal(sb.st_nlink, 1);
			}
		}
	}
}

/* A CA with a firmware key in a fresh temp dir, and a CSV of the three MACs. */
static void
setup_run(char *dir, sp_issue_opts *o, char *ca, char *out, char *csv, FILE **rep)
{
	const char *const domains[] = { "prov.example.com" };
	struct stat sb;
	char p[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	path(ca, 256, dir, "ca", NULL);
	path(out, 256, dir, "out", NULL);
	path(csv, 256, dir, "devs.csv", NULL);
	assert_true(sp_ok(sp_ca_init(ca, "Acme", domains, 1, NULL, NULL)));
	*rep = fopen("/dev/null", "w");
	assert_non_null(*rep);
	path(p, sizeof(p), ca, "firmware-ca.crt", NULL);
	if (stat(p, &sb) != 0)
		assert_true(sp_ok(sp_ca_add_firmware_key(ca, NULL, *rep)));
	f = fopen(csv, "w");
	assert_non_null(f);
	fprintf(f, "mac,serial,product\n");
	for (size_t i = 0; i < 3; i++)
		fprintf(f, "%s,SN%zu,P-1\n", macs[i], i);
	fclose(f);
	*o = (sp_issue_opts){ .style = SP_DEVSTYLE_SPROV, .key_type = SP_KEY_EC_P256,
		.dir = ca, .outdir = out, .csv = csv };
	link_errno = link_fail_call = link_calls = link_delay_ms = 0;
	serial_fail_at = serial_calls = 0;
}

static void
teardown_run(const char *dir, FILE *rep)
{
	char p[512];

	link_errno = link_fail_call = link_delay_ms = serial_fail_at = 0;
	fclose(rep);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	assert_int_equal(system(p), 0);
}

/* No .tmp- entry in OUTDIR: a failed run cleans up what it started. */
static void
no_tmp(const char *out)
{
	DIR *d = opendir(out);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, ".tmp-", 5) == 0)
			fail_msg("left behind: %s/%s", out, e->d_name);
	closedir(d);
}

static nlink_t
links_of(const char *out, const char *mac, const char *name)
{
	char p[512];
	struct stat sb;

	path(p, sizeof(p), out, mac, name);
	assert_int_equal(stat(p, &sb), 0);
	return sb.st_nlink;
}

static void
test_issue_bundles(void **state)
{
	char dir[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256];
	sp_issue_opts o;
	sp_issue_stats st;
	FILE *rep;
	mode_t old;
	(void)state;

	setup_run(dir, &o, ca, out, csv, &rep);
	/* A umask that would strip bits: the modes are still exact. */
	old = umask(077);
	assert_true(sp_ok(sp_ca_issue(&o, rep, &st)));
	umask(old);
	assert_int_equal(st.issued, 3);
	assert_int_equal(st.skipped, 0);
	check_bundles(ca, out, 3);

	/* Again: all skipped, nothing changed, still no leftovers. */
	assert_true(sp_ok(sp_ca_issue(&o, rep, &st)));
	assert_int_equal(st.issued, 0);
	assert_int_equal(st.skipped, 3);
	check_bundles(ca, out, 3);

	/* --reissue replaces all three: the old bundles' links are gone with them. */
	o.reissue = true;
	assert_true(sp_ok(sp_ca_issue(&o, rep, &st)));
	assert_int_equal(st.issued, 3);
	assert_int_equal(st.replaced, 3);
	check_bundles(ca, out, 3);
	teardown_run(dir, rep);
}

/* No hard links at all (vfat, some FUSE file systems: EPERM): copies. */
static void
test_issue_no_links(void **state)
{
	char dir[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256];
	sp_issue_opts o;
	sp_issue_stats st;
	FILE *rep;
	(void)state;

	setup_run(dir, &o, ca, out, csv, &rep);
	link_errno = EPERM;
	assert_true(sp_ok(sp_ca_issue(&o, rep, &st)));
	assert_int_equal(st.issued, 3);
	check_bundles(ca, out, 1); /* every CA file its own copy */
	assert_int_equal(link_calls, 1); /* tried once, then copies only */
	teardown_run(dir, rep);
}

/* The shared inode has all the links it may: fresh copies, linked again. */
static void
test_issue_emlink(void **state)
{
	char dir[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256];
	sp_issue_opts o;
	sp_issue_stats st;
	FILE *rep;
	size_t ones = 0, twos = 0;
	(void)state;

	setup_run(dir, &o, ca, out, csv, &rep);
	/* Calls 1-2: bundle 1's two CA files; call 3: bundle 2's server-ca.crt. */
	link_errno = EMLINK;
	link_fail_call = 3;
	assert_true(sp_ok(sp_ca_issue(&o, rep, &st)));
	assert_int_equal(st.issued, 3);
	check_bundles(ca, out, 0);
	assert_int_equal(link_calls, 7); /* six links and the one retried */
	/* Bundle 1 keeps the first inodes; bundles 2 and 3 share the fresh ones. */
	for (size_t i = 0; i < 3; i++) {
		nlink_t a = links_of(out, macs[i], "server-ca.crt");
		assert_int_equal(links_of(out, macs[i], "firmware-ca.crt"), a);
		ones += a == 1;
		twos += a == 2;
	}
	assert_int_equal(ones, 1);
	assert_int_equal(twos, 2);
	teardown_run(dir, rep);
}

/* Any other link error fails the run, names the file, and leaves no .tmp- entry. */
static void
test_issue_link_error(void **state)
{
	char dir[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256];
	sp_issue_opts o;
	sp_issue_stats st;
	FILE *rep;
	sp_result r;
	(void)state;

	setup_run(dir, &o, ca, out, csv, &rep);
	link_errno = EIO;
	r = sp_ca_issue(&o, rep, &st);
	assert_true(sp_failed(r));
	if (strstr(sp_errmsg(), "/server-ca.crt: link: Input/output error") == NULL)
		fail_msg("message: %s", sp_errmsg());
	no_tmp(out);
	teardown_run(dir, rep);
}

/*
 * The main thread fails (chunk 2's first serial) while the writer thread is
 * still placing chunk 1: the run waits for the writer before it frees what
 * the writer uses, fails with the first error, and leaves no .tmp- entry.
 * Chunk 1's bundles are whole under their final names (a rerun marks them
 * delivered).  Before the fix the run returned with the writer running.
 */
static void
test_issue_error_while_writing(void **state)
{
	char dir[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256], p[512];
	sp_issue_opts o;
	sp_issue_stats st;
	FILE *rep, *f;
	sp_result r;
	size_t n = SP_ISSUE_CHUNK + 10, whole = 0;
	struct stat sb;
	(void)state;

	setup_run(dir, &o, ca, out, csv, &rep);
	f = fopen(csv, "w");
	assert_non_null(f);
	fprintf(f, "mac,serial,product\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "0200000%05zx,SN%zu,P-1\n", i, i);
	fclose(f);
	link_delay_ms = 300;
	serial_fail_at = SP_ISSUE_CHUNK + 1;
	r = sp_ca_issue(&o, rep, &st);
	assert_true(sp_failed(r));
	if (strstr(sp_errmsg(), "injected: no serial") == NULL)
		fail_msg("message: %s", sp_errmsg());
	no_tmp(out);
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/0200000%05zx/client.key", out, i);
		whole += stat(p, &sb) == 0;
	}
	assert_int_equal(whole, SP_ISSUE_CHUNK);
	teardown_run(dir, rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_bundles),
		cmocka_unit_test(test_issue_no_links),
		cmocka_unit_test(test_issue_emlink),
		cmocka_unit_test(test_issue_link_error),
		cmocka_unit_test(test_issue_error_while_writing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
