/* sp_ca_issue end to end: bundle files, modes, hard-linked CA files, no leftovers. */
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

#include "ca/ca.h"
#include "common/util.h"

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
				assert_int_equal(sb.st_nlink, links);
			} else {
				assert_int_equal(sb.st_nlink, 1);
			}
		}
	}
}

static void
test_issue_bundles(void **state)
{
	char tmpl[] = "/tmp/sprov-test-issue.XXXXXX", ca[256], out[256], csv[256];
	const char *const domains[] = { "prov.example.com" };
	char *dir = mkdtemp(tmpl);
	sp_issue_opts o = { .style = SP_DEVSTYLE_SPROV, .key_type = SP_KEY_EC_P256 };
	sp_issue_stats st;
	FILE *f, *rep;
	mode_t old;
	struct stat sb;
	char p[512];
	(void)state;

	assert_non_null(dir);
	path(ca, sizeof(ca), dir, "ca", NULL);
	path(out, sizeof(out), dir, "out", NULL);
	path(csv, sizeof(csv), dir, "devs.csv", NULL);
	assert_true(sp_ok(sp_ca_init(ca, "Acme", domains, 1, NULL, NULL)));
	rep = fopen("/dev/null", "w");
	assert_non_null(rep);
	path(p, sizeof(p), ca, "firmware-ca.crt", NULL);
	if (stat(p, &sb) != 0)
		assert_true(sp_ok(sp_ca_add_firmware_key(ca, NULL, rep)));
	f = fopen(csv, "w");
	assert_non_null(f);
	fprintf(f, "mac,serial,product\n");
	for (size_t i = 0; i < 3; i++)
		fprintf(f, "%s,SN%zu,P-1\n", macs[i], i);
	fclose(f);
	o.dir = ca;
	o.outdir = out;
	o.csv = csv;

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
	fclose(rep);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	assert_int_equal(system(p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_bundles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
