/* The issuance database: serial and MAC uniqueness, revocation, CRL numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/db.h"

static char dir[64], path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sprov-dbtest.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/ca.db", dir);
	return sp_ok(sp_cadb_create(path, "Acme")) ? 0 : -1;
}

static int
teardown(void **state)
{
	char p[160];
	(void)state;
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	unlink(path);
	rmdir(dir);
	return 0;
}

static sp_certrow
row(const char *serial, const char *mac)
{
	sp_certrow r;
	memset(&r, 0, sizeof(r));
	snprintf(r.serial, sizeof(r.serial), "%s", serial);
	snprintf(r.ca, sizeof(r.ca), "%s", mac ? "device" : "server");
	snprintf(r.subject, sizeof(r.subject), "CN=%s", mac ? mac : "x.example.com");
	if (mac)
		snprintf(r.mac, sizeof(r.mac), "%s", mac);
	r.not_before = 1;
	r.not_after = 2;
	r.issued_at = 1;
	r.delivered = true;
	return r;
}

static void
test_meta_and_create_twice(void **state)
{
	sp_cadb *db = NULL;
	char org[64];
	(void)state;
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	assert_true(sp_ok(sp_cadb_meta_get(db, "org", org, sizeof(org))));
	assert_string_equal(org, "Acme");
	sp_cadb_close(db);
	/* Creating over an existing database is refused (init never clobbers). */
	assert_int_equal(sp_cadb_create(path, "Other").code, SP_E_DB);
	assert_int_equal(sp_cadb_open("/nonexistent/ca.db", &db).code, SP_E_DB);
}

static void
test_serial_unique(void **state)
{
	sp_cadb *db = NULL;
	sp_certrow r = row("4000000000000000000000000000000a", NULL);
	sp_certrow got;
	bool found;
	int64_t n;
	(void)state;
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	assert_true(sp_ok(sp_cadb_insert(db, &r, "d", 1)));
	assert_int_equal(sp_cadb_insert(db, &r, "d", 1).code, SP_E_EXISTS);
	assert_string_equal(sp_errmsg(),
	    "serial 4000000000000000000000000000000a is already in the database");
	/* Revoked serials stay: a serial is never reused. */
	assert_true(sp_ok(sp_cadb_revoke(db, r.serial, 1, 5, &found)));
	assert_true(found);
	assert_int_equal(sp_cadb_insert(db, &r, "d", 1).code, SP_E_EXISTS);
	assert_true(sp_ok(sp_cadb_find_serial(db, r.serial, &got, &found)));
	assert_true(found);
	assert_true(got.revoked);
	assert_int_equal(got.reason, 1);
	assert_int_equal(got.revoked_at, 5);
	/* Revoking twice changes nothing. */
	assert_true(sp_ok(sp_cadb_revoke(db, r.serial, 4, 6, &found)));
	assert_false(found);
	assert_true(sp_ok(sp_cadb_count(db, &n)));
	assert_int_equal(n, 1);
	sp_cadb_close(db);
}

static void
test_mac_unique_among_valid(void **state)
{
	sp_cadb *db = NULL;
	sp_certrow a = row("40000000000000000000000000000001", "000e08aabbcc");
	sp_certrow b = row("40000000000000000000000000000002", "000e08aabbcc");
	sp_certrow c = row("40000000000000000000000000000003", "000e08aabbcc");
	sp_certrow got;
	bool found, changed;
	(void)state;
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	assert_true(sp_ok(sp_cadb_insert(db, &a, "d", 1)));
	assert_int_equal(sp_cadb_insert(db, &b, "d", 1).code, SP_E_EXISTS);
	assert_string_equal(sp_errmsg(), "MAC 000e08aabbcc already has a valid certificate");
	/* After revocation, a new valid certificate for the MAC is allowed. */
	assert_true(sp_ok(sp_cadb_revoke(db, a.serial, 4, 7, &changed)));
	assert_true(sp_ok(sp_cadb_insert(db, &b, "d", 1)));
	assert_int_equal(sp_cadb_insert(db, &c, "d", 1).code, SP_E_EXISTS);
	assert_true(sp_ok(sp_cadb_find_valid_mac(db, "000e08aabbcc", &got, &found)));
	assert_true(found);
	assert_string_equal(got.serial, b.serial);
	assert_true(sp_ok(sp_cadb_find_valid_mac(db, "000e08000000", &got, &found)));
	assert_false(found);
	/* A rolled-back insert leaves nothing. */
	assert_true(sp_ok(sp_cadb_begin(db)));
	assert_true(sp_ok(sp_cadb_revoke(db, b.serial, 4, 8, &changed)));
	assert_true(sp_ok(sp_cadb_insert(db, &c, "d", 1)));
	sp_cadb_rollback(db);
	assert_true(sp_ok(sp_cadb_find_valid_mac(db, "000e08aabbcc", &got, &found)));
	assert_string_equal(got.serial, b.serial);
	assert_true(sp_ok(sp_cadb_find_serial(db, c.serial, &got, &found)));
	assert_false(found);
	/* Delivery marks. */
	b.delivered = false;
	assert_true(sp_ok(sp_cadb_mark_delivered(db, b.serial)));
	assert_true(sp_ok(sp_cadb_find_serial(db, b.serial, &got, &found)));
	assert_true(got.delivered);
	sp_cadb_close(db);
}

static void
test_crl_numbers(void **state)
{
	sp_cadb *db = NULL;
	int64_t n = 0, prev = 0;
	(void)state;
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	/* Only inside a write transaction. */
	assert_int_equal(sp_cadb_next_crl_number(db, "device", &n).code, SP_E_INTERNAL);
	for (int i = 0; i < 3; i++) {
		assert_true(sp_ok(sp_cadb_begin(db)));
		assert_true(sp_ok(sp_cadb_next_crl_number(db, "device", &n)));
		assert_true(sp_ok(sp_cadb_commit(db)));
		assert_true(n > prev);
		prev = n;
	}
	assert_int_equal(n, 3);
	/* A rolled-back number is reused, but it was never published. */
	assert_true(sp_ok(sp_cadb_begin(db)));
	assert_true(sp_ok(sp_cadb_next_crl_number(db, "device", &n)));
	sp_cadb_rollback(db);
	assert_true(sp_ok(sp_cadb_begin(db)));
	assert_true(sp_ok(sp_cadb_next_crl_number(db, "server", &n)));
	assert_true(sp_ok(sp_cadb_commit(db)));
	assert_int_equal(n, 1);
	sp_cadb_close(db);
	/* Survives reopening. */
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	assert_true(sp_ok(sp_cadb_begin(db)));
	assert_true(sp_ok(sp_cadb_next_crl_number(db, "device", &n)));
	assert_true(sp_ok(sp_cadb_commit(db)));
	assert_int_equal(n, 4);
	assert_int_equal(sp_cadb_begin(db).code, SP_E_OK);
	assert_int_equal(sp_cadb_next_crl_number(db, "nosuch", &n).code, SP_E_DB);
	sp_cadb_rollback(db);
	sp_cadb_close(db);
}

static void
test_domains(void **state)
{
	sp_cadb *db = NULL;
	char **d = NULL;
	size_t n = 0;
	bool found;
	(void)state;
	assert_true(sp_ok(sp_cadb_open(path, &db)));
	assert_true(sp_ok(sp_cadb_domain_add(db, "Telco.NET")));
	assert_true(sp_ok(sp_cadb_domain_add(db, "telco.net")));
	assert_true(sp_ok(sp_cadb_domain_add(db, "callme.com")));
	assert_true(sp_ok(sp_cadb_domains(db, &d, &n)));
	assert_int_equal(n, 2);
	assert_string_equal(d[0], "callme.com");
	assert_string_equal(d[1], "telco.net");
	sp_cadb_domains_free(d, n);
	assert_true(sp_ok(sp_cadb_domain_remove(db, "callme.com", &found)));
	assert_true(found);
	assert_true(sp_ok(sp_cadb_domain_remove(db, "callme.com", &found)));
	assert_false(found);
	assert_true(sp_ok(sp_cadb_domain_clear(db)));
	assert_true(sp_ok(sp_cadb_domains(db, &d, &n)));
	assert_int_equal(n, 0);
	sp_cadb_domains_free(d, n);
	sp_cadb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_meta_and_create_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mac_unique_among_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
