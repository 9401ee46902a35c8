/*
 * The state directory: load, and apply all or nothing (a refused apply
 * leaves params.xml byte-for-byte what it was, with no temporary file).
 */
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
#include "device/device.h"

static char dir[256];

static int
setup(void **state)
{
	static const char conf[] = "MAC = 000e08aabbcc\nProduct_Name = SPA2102\n"
	    "Resync_Periodic = 60\nGPP_A = conf\n";
	char path[300];
	(void)state;
	snprintf(dir, sizeof(dir), "%s/sprov-devtest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/device.conf", dir);
	return sp_ok(sp_write_file(path, conf, sizeof(conf) - 1, 0600, 0)) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[400];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t
count_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
read_store(sp_buf *b)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/params.xml", dir);
	assert_true(sp_ok(sp_read_file(path, 1 << 20, b)));
}

static void
test_load_apply(void **state)
{
	sp_device d;
	sp_params ps, eff;
	sp_buf before, after;
	struct stat st;
	char path[300];
	(void)state;

	sp_device_init_empty(&d);
	sp_params_init(&ps);
	sp_params_init(&eff);
	sp_buf_init(&before, 0);
	sp_buf_init(&after, 0);
	assert_true(sp_ok(sp_device_load(dir, &d)));
	assert_int_equal(d.store.n, 0); /* nothing applied yet */
	assert_int_equal(count_entries(), 1);

	assert_true(sp_ok(sp_params_set_cstr(&ps, "GPP_A", "store", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "SIP_Password_1_", "pw & <x>", SP_ACCESS_NA)));
	assert_true(sp_ok(sp_device_apply(&d, &ps)));
	snprintf(path, sizeof(path), "%s/params.xml", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_entries(), 2);

	/* The store overrides device.conf; both are seen through effective. */
	assert_true(sp_ok(sp_device_load(dir, &d)));
	assert_true(sp_params_equal(&d.store, &ps));
	assert_true(sp_ok(sp_device_effective(&d, &eff)));
	assert_string_equal(sp_params_value(&eff, "GPP_A", ""), "store");
	assert_string_equal(sp_params_value(&eff, "Resync_Periodic", ""), "60");

	/* A refused apply changes nothing, byte for byte, and leaves no file. */
	read_store(&before);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Bad", "a\001b", SP_ACCESS_UNSET)));
	assert_false(sp_ok(sp_device_apply(&d, &ps)));
	read_store(&after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.p, after.p, before.len);
	assert_int_equal(count_entries(), 2);
	assert_null(sp_params_get(&d.store, "Bad"));

	sp_device_free(&d);
	sp_params_free(&ps);
	sp_params_free(&eff);
	sp_buf_free(&before);
	sp_buf_free(&after);
}

static void
test_state_roundtrip(void **state)
{
	sp_device d;
	(void)state;
	sp_device_init_empty(&d);
	assert_true(sp_ok(sp_device_load(dir, &d)));
	assert_true(sp_ok(sp_params_set_cstr(&d.state, "ETag_1", "W/\"abc def\"", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_device_save_state(&d)));
	assert_true(sp_ok(sp_device_load(dir, &d)));
	assert_string_equal(sp_params_value(&d.state, "ETag_1", ""), "W/\"abc def\"");
	sp_device_free(&d);
}

static void
test_not_a_device(void **state)
{
	sp_device d;
	(void)state;
	sp_device_init_empty(&d);
	assert_int_equal(sp_device_load("/nonexistent/sprov", &d).code, SP_E_NOTFOUND);
	assert_non_null(strstr(sp_errmsg(), "sprov device init"));
	sp_device_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_apply),
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_not_a_device),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
