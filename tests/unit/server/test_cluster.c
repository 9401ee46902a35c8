/* Cluster secrets: the key file, sealing, ticket and ETag keys through a store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/util.h"
#include "server/cluster.h"

#define OK(expr)                                                            \
	do {                                                                \
		sp_result r_ = (expr);                                      \
		if (sp_failed(r_))                                          \
			fail_msg("%s: %s", #expr, sp_errmsg());             \
	} while (0)

static const uint8_t key1[SP_CLUSTER_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const uint8_t key2[SP_CLUSTER_KEY_LEN] = { 9 };

typedef struct fx {
	char dir[64];
	char path[160];
} fx;

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sprov-cluster.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
write_key(fx *f, const char *name, const void *data, size_t len, mode_t mode)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	OK(sp_write_file(f->path, data, len, 0600, 0));
	assert_int_equal(chmod(f->path, mode), 0);
}

static void
test_key_file(void **state)
{
	fx *f = *state;
	uint8_t k[SP_CLUSTER_KEY_LEN], k2[SP_CLUSTER_KEY_LEN];
	char hex[2 * SP_CLUSTER_KEY_LEN + 2], want[300];

	for (size_t i = 0; i < SP_CLUSTER_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key1[i]);
	strcat(hex, "\n");

	write_key(f, "raw", key1, sizeof(key1), 0600);
	OK(sp_cluster_key_load(f->path, k));
	assert_memory_equal(k, key1, sizeof(k));
	write_key(f, "hex", hex, strlen(hex), 0400);
	OK(sp_cluster_key_load(f->path, k2));
	assert_memory_equal(k2, key1, sizeof(k2));
	write_key(f, "hexnonl", hex, strlen(hex) - 1, 0600);
	OK(sp_cluster_key_load(f->path, k2));
	assert_memory_equal(k2, key1, sizeof(k2));

	/* Refusals: one line, naming the file. */
	write_key(f, "open", key1, sizeof(key1), 0644);
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_POLICY);
	snprintf(want, sizeof(want), "cluster-key-file %s: mode 0644, must be 0600 or "
	    "0400 (only the nodes may read it)", f->path);
	assert_string_equal(sp_errmsg(), want);
	write_key(f, "group", key1, sizeof(key1), 0640);
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_POLICY);
	write_key(f, "short", key1, 31, 0600);
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_PARSE);
	snprintf(want, sizeof(want), "cluster-key-file %s: 31 bytes; must be exactly "
	    "32 bytes or 64 hex digits", f->path);
	assert_string_equal(sp_errmsg(), want);
	write_key(f, "long", hex, strlen(hex) - 2, 0600);   /* 63 hex digits */
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_PARSE);
	hex[10] = 'x';
	write_key(f, "nothex", hex, strlen(hex), 0600);
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "64 bytes but not hex (byte 10)"));
	assert_null(strchr(sp_errmsg(), '\n'));
	snprintf(f->path, sizeof(f->path), "%s/missing", f->dir);
	assert_int_equal(sp_cluster_key_load(f->path, k).code, SP_E_IO);
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(sp_cluster_key_load(f->dir, k).code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "not a regular file"));
}

static void
test_seal_open(void **state)
{
	sp_buf a, b, out;
	const char *msg = "ticket key bytes";

	(void)state;
	sp_buf_init(&a, SP_CLUSTER_DATA_MAX);
	sp_buf_init(&b, SP_CLUSTER_DATA_MAX);
	sp_buf_init_secret(&out, SP_CLUSTER_DATA_MAX);
	OK(sp_cluster_seal(key1, "tls/ticket-key", 7, sp_slice_of(msg), &a));
	OK(sp_cluster_seal(key1, "tls/ticket-key", 7, sp_slice_of(msg), &b));
	assert_int_equal(a.len, strlen(msg) + SP_CLUSTER_SEAL_OVERHEAD);
	assert_int_equal(a.p[0], SP_CLUSTER_SEAL_FORMAT);
	/* A fresh nonce each time: the same plain text seals differently. */
	assert_true(memcmp(a.p, b.p, a.len) != 0);
	assert_null(memmem(a.p, a.len, msg, strlen(msg)));
	OK(sp_cluster_open(key1, "tls/ticket-key", 7, (sp_slice){ a.p, a.len }, &out));
	assert_int_equal(out.len, strlen(msg));
	assert_memory_equal(out.p, msg, out.len);
	assert_true(out.secret);

	/* Another key, another row (name or version): nothing opens. */
	sp_buf_reset(&out);
	assert_int_equal(sp_cluster_open(key2, "tls/ticket-key", 7,
	    (sp_slice){ a.p, a.len }, &out).code, SP_E_CRYPTO);
	assert_string_equal(sp_errmsg(), "tls/ticket-key version 7 does not open with the "
	    "cluster key (another cluster-key-file, or the row was altered)");
	assert_int_equal(sp_cluster_open(key1, "http/etag-key", 7,
	    (sp_slice){ a.p, a.len }, &out).code, SP_E_CRYPTO);
	assert_int_equal(sp_cluster_open(key1, "tls/ticket-key", 8,
	    (sp_slice){ a.p, a.len }, &out).code, SP_E_CRYPTO);
	/* Any byte changed (format, nonce, cipher text, tag), or cut short. */
	for (size_t i = 0; i < a.len; i++) {
		a.p[i] ^= 0x20;
		assert_int_equal(sp_cluster_open(key1, "tls/ticket-key", 7,
		    (sp_slice){ a.p, a.len }, &out).code, SP_E_CRYPTO);
		a.p[i] ^= 0x20;
	}
	for (size_t n = 0; n < a.len; n++)
		assert_int_equal(sp_cluster_open(key1, "tls/ticket-key", 7,
		    (sp_slice){ a.p, n }, &out).code, SP_E_CRYPTO);
	assert_int_equal(out.len, 0);   /* nothing came out of any of it */
	OK(sp_cluster_open(key1, "tls/ticket-key", 7, (sp_slice){ a.p, a.len }, &out));
	sp_buf_free(&a);
	sp_buf_free(&b);
	sp_buf_free_secret(&out);
}

/* A node: its cluster handle, a TLS server, a store handle. */
typedef struct node {
	sp_cluster *c;
	sp_tls_server *tls;
	sp_store *st;
} node;

static void
node_open(fx *f, node *n, const char *keyname, int64_t rotate)
{
	char uri[200];
	sp_cluster_config cfg = { .ticket_rotate = rotate, .poll = 1 };

	snprintf(uri, sizeof(uri), "sqlite:%s/s.db", f->dir);
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, keyname);
	cfg.key_file = f->path;
	OK(sp_cluster_new(&cfg, &n->c));
	assert_true(sp_cluster_has_key(n->c));
	OK(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &n->tls));
	OK(sp_store_open_ex(uri, SP_STORE_CREATE, &n->st));
}

static void
node_close(node *n)
{
	sp_cluster_free(n->c);
	sp_tls_server_free(n->tls);
	sp_store_close(n->st);
}

static void
raw_exec(fx *f, const char *q)
{
	sqlite3 *db = NULL;
	char p[160];

	snprintf(p, sizeof(p), "%s/s.db", f->dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static sp_result
count_cb(void *arg, const sp_cluster_row *row)
{
	(void)row;
	(*(int *)arg)++;
	return SP_OK;
}

static int
count_rows(sp_store *st, const char *name)
{
	int n = 0;

	OK(sp_store_cluster_get(st, name, 100, count_cb, &n));
	return n;
}

static void
test_tickets_and_etag(void **state)
{
	fx *f = *state;
	node a, b, x;
	bool changed = false;
	uint8_t ea[SP_ETAG_KEY_LEN], eb[SP_ETAG_KEY_LEN];
	const int64_t t0 = 1700000000;

	write_key(f, "k", key1, sizeof(key1), 0600);
	write_key(f, "other", key2, sizeof(key2), 0600);
	node_open(f, &a, "k", 100);
	node_open(f, &b, "k", 100);

	/* The first node makes version 1; the second takes it. */
	OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0, &changed));
	assert_true(changed);
	OK(sp_cluster_sync_tickets(b.c, b.st, b.tls, t0 + 1, &changed));
	assert_true(changed);
	assert_int_equal(count_rows(a.st, SP_CLUSTER_TICKET_NAME), 1);
	/* Nothing new: nothing installed again. */
	OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0 + 2, &changed));
	assert_false(changed);

	/* Due (rotate 100 less the 10 s lead): one node makes version 2. */
	OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0 + 90, &changed));
	assert_true(changed);
	OK(sp_cluster_sync_tickets(b.c, b.st, b.tls, t0 + 91, &changed));
	assert_true(changed);
	assert_int_equal(count_rows(a.st, SP_CLUSTER_TICKET_NAME), 2);
	/* Version 2 starts encrypting once it is `lead` old: installed again. */
	OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0 + 95, &changed));
	assert_false(changed);
	OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0 + 101, &changed));
	assert_true(changed);
	/* Old versions go past SP_TLS_TICKET_KEYS_EXT. */
	for (int i = 2; i <= 7; i++)
		OK(sp_cluster_sync_tickets(a.c, a.st, a.tls, t0 + 90 * i, NULL));
	assert_int_equal(count_rows(a.st, SP_CLUSTER_TICKET_NAME), SP_TLS_TICKET_KEYS_EXT);

	/* The ETag key: made once, the same on both nodes. */
	OK(sp_cluster_etag_key(a.c, a.st, ea));
	OK(sp_cluster_etag_key(b.c, b.st, eb));
	assert_memory_equal(ea, eb, sizeof(ea));
	assert_int_equal(count_rows(a.st, SP_CLUSTER_ETAG_NAME), 1);

	/* Another cluster key opens nothing and stores nothing. */
	node_open(f, &x, "other", 100);
	assert_int_equal(sp_cluster_etag_key(x.c, x.st, eb).code, SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "/other: http/etag-key version 1 does not "
	    "open with the cluster key"));
	assert_int_equal(sp_cluster_sync_tickets(x.c, x.st, x.tls, t0 + 90 * 7, &changed).code,
	    SP_E_CRYPTO);
	assert_false(changed);
	assert_int_equal(count_rows(a.st, SP_CLUSTER_TICKET_NAME), SP_TLS_TICKET_KEYS_EXT);
	assert_int_equal(count_rows(a.st, SP_CLUSTER_ETAG_NAME), 1);
	node_close(&x);

	/* An altered row: refused, nothing installed, nothing stored. */
	raw_exec(f, "UPDATE cluster_data SET data = data || x'00' "
	    "WHERE name = 'tls/ticket-key' AND version = 7");
	assert_int_equal(sp_cluster_sync_tickets(b.c, b.st, b.tls, t0 + 90 * 7 + 1,
	    &changed).code, SP_E_CRYPTO);
	assert_false(changed);
	assert_int_equal(count_rows(a.st, SP_CLUSTER_TICKET_NAME), SP_TLS_TICKET_KEYS_EXT);
	node_close(&a);
	node_close(&b);
}

static void
test_config(void **state)
{
	sp_cluster *c = NULL;
	sp_cluster_config cfg = { .crl_from_store = true };

	(void)state;
	assert_int_equal(sp_cluster_new(&cfg, &c).code, SP_E_USAGE);
	assert_null(c);
	cfg.crl_file = "x.crl";
	OK(sp_cluster_new(&cfg, &c));
	assert_true(sp_cluster_active(c));
	assert_false(sp_cluster_has_key(c));
	sp_cluster_free(c);
	cfg.crl_from_store = false;
	OK(sp_cluster_new(&cfg, &c));
	assert_false(sp_cluster_active(c));
	sp_cluster_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test_setup_teardown(test_tickets_and_etag, setup, teardown),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
