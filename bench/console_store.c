/*
 * bench/console_store.c: what the console records cost (issue 14, "Scale").
 * Not a test.
 *
 *   console_store contacts DIR [DEVICES [BATCH [ROUNDS]]]
 *       ms per sp_store_contact_batch of BATCH contacts (default 10 000)
 *       from DEVICES known devices (default 10 000) into a fresh SQLite
 *       store on disk in DIR: the median of ROUNDS (default 5).  Built
 *       with -DNO_CONSOLE it uses store.h only, so the same file measures
 *       a tree before schema 7.
 *   console_store inventory DIR|PGURI DEVICES [ROUNDS]
 *       fills a fresh SQLite store in DIR (or the empty PostgreSQL
 *       database PGURI) with DEVICES devices (4
 *       products, 8 groups, 95 % contacted, 5 % failing), then times the
 *       console's typical filtered page: status ok, q a product prefix,
 *       sort last-seen newest first, the 3rd page of 50 (read through
 *       pages 1 and 2 with their cursors).  Prints the median server time
 *       of the 3rd page over ROUNDS (default 30), in microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"
#ifndef NO_CONSOLE
#include "store/console.h"
#endif

static void
die(const char *what)
{
	fprintf(stderr, "console_store: %s: %s\n", what, sp_errmsg());
	exit(1);
}

static sp_mac
mac_n(uint32_t k)
{
	sp_mac m;

	memset(&m, 0, sizeof(m));
	m.b[1] = 0x0e;
	m.b[2] = 0x08;
	m.b[3] = (uint8_t)(k >> 16);
	m.b[4] = (uint8_t)(k >> 8);
	m.b[5] = (uint8_t)k;
	return m;
}

static sp_store *
open_fresh(const char *dir)
{
	char uri[1024];
	sp_store *s = NULL;

	/* A PostgreSQL URI names an empty database; else a directory. */
	if (strstr(dir, "://"))
		snprintf(uri, sizeof(uri), "%s", dir);
	else
		snprintf(uri, sizeof(uri), "sqlite:%s/console-bench-%d.db", dir,
		    (int)getpid());
	if (sp_failed(sp_store_open_ex(uri, SP_STORE_CREATE, &s)))
		die("open");
	return s;
}

/*
 * In transactions of 1 000: one of 100 000 would update PostgreSQL's
 * generation and audit head rows 100 000 times each in one transaction,
 * a version chain that makes every update slower than the last.
 */
static void
add_devices(sp_store *s, uint32_t n)
{
	if (sp_failed(sp_store_begin(s)))
		die("begin");
	for (uint32_t k = 0; k < n; k++) {
		sp_device d;

		if (k && k % 1000 == 0 && (sp_failed(sp_store_commit(s)) ||
		    sp_failed(sp_store_begin(s))))
			die("commit");

		memset(&d, 0, sizeof(d));
		d.mac = mac_n(k);
		snprintf(d.serial, sizeof(d.serial), "SN%07u", k * 7919u % n);
		snprintf(d.product, sizeof(d.product), "P%u", k % 4);
		snprintf(d.group, sizeof(d.group), "G%u", k % 8);
		d.enabled = true;
		d.created = 1700000000;
		if (sp_failed(sp_store_device_add(s, &d)))
			die("device add");
	}
	if (sp_failed(sp_store_commit(s)))
		die("commit");
}

static void
fill_contacts(sp_contact *c, size_t n, uint32_t ndev, uint32_t first,
    int64_t t, uint64_t gen)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t k = (first + (uint32_t)i) % ndev;

		memset(&c[i], 0, sizeof(c[i]));
		c[i].mac = mac_n(k);
		c[i].time = t + (int64_t)(k % 86400);
		snprintf(c[i].ip, sizeof(c[i].ip), "10.%u.%u.%u",
		    (k >> 16) & 255, (k >> 8) & 255, k & 255);
		snprintf(c[i].ua, sizeof(c[i].ua),
		    "Cisco/SPA504G-7.6.2 (%02X%02X%02X%02X%02X%02X)(SN%07u)", 0,
		    0x0e, 8, (k >> 16) & 255, (k >> 8) & 255, k & 255, k);
		snprintf(c[i].etag, sizeof(c[i].etag), "\"%016x\"", k);
		c[i].status = k % 20 == 7 ? 500 : 200;
		c[i].gen = gen;
		snprintf(c[i].cert_serial, sizeof(c[i].cert_serial), "%08x", k);
		c[i].cert_not_after = t + 86400 * 365;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static int
bench_contacts(const char *dir, uint32_t ndev, size_t b, int rounds)
{
	sp_store *s = open_fresh(dir);
	sp_contact *c = calloc(b, sizeof(*c));
	uint64_t *ns = calloc((size_t)rounds, sizeof(*ns)), g = 0;

	if (!c || !ns)
		return 1;
	add_devices(s, ndev);
	if (sp_failed(sp_store_generation(s, &g)))
		die("generation");
	for (int r = 0; r < rounds; r++) {
		uint64_t t0;

		fill_contacts(c, b, ndev, (uint32_t)(r * b), 1800000000 + r, g);
		t0 = sp_mono_ns();
		if (sp_failed(sp_store_contact_batch(s, c, b)))
			die("contact batch");
		ns[r] = sp_mono_ns() - t0;
	}
	printf("contact batch: %zu contacts of %u known devices, SQLite on "
	    "disk: %.1f ms median of %d\n", b, ndev,
	    (double)median(ns, rounds) / 1e6, rounds);
	sp_store_close(s);
	free(c);
	free(ns);
	return 0;
}

#ifndef NO_CONSOLE
static sp_result
count_cb(void *arg, const sp_inv_row *r)
{
	(void)r;
	(*(int *)arg)++;
	return SP_OK;
}

static int
bench_inventory(const char *dir, uint32_t ndev, int rounds)
{
	sp_store *s = open_fresh(dir);
	size_t b = SP_CONTACT_BATCH_MAX;
	sp_contact *c = calloc(b, sizeof(*c));
	uint64_t *ns = calloc((size_t)rounds, sizeof(*ns)), g = 0;
	uint32_t contacted = ndev - ndev / 20;
	int rows = 0;

	if (!c || !ns)
		return 1;
	add_devices(s, ndev);
	if (sp_failed(sp_store_generation(s, &g)))
		die("generation");
	for (uint32_t i = 0; i < contacted; i += (uint32_t)b) {
		size_t k = contacted - i < b ? contacted - i : b;

		fill_contacts(c, k, ndev, i, 1800000000, g);
		if (sp_failed(sp_store_contact_batch(s, c, k)))
			die("contact batch");
	}
	for (int r = 0; r < rounds; r++) {
		sp_inv_query q = { .q = "P1", .status = SP_DST_OK,
		    .sort = SP_INV_SORT_LAST_SEEN, .desc = true, .limit = 50 };
		char next[SP_INV_CURSOR_MAX + 1] = "", cur[SP_INV_CURSOR_MAX + 1];
		uint64_t t0 = 0;

		for (int page = 0; page < 3; page++) {
			memcpy(cur, next, sizeof(cur));
			q.after = cur;
			rows = 0;
			t0 = sp_mono_ns();
			if (sp_failed(sp_store_inventory(s, &q, count_cb, &rows,
			    next)))
				die("inventory");
		}
		ns[r] = sp_mono_ns() - t0;
	}
	printf("inventory: %s, %u devices: 3rd page (%d rows) of status ok, "
	    "q=P1, last-seen desc: %.0f us median of %d\n",
	    strstr(dir, "://") ? "PostgreSQL" : "SQLite", ndev, rows,
	    (double)median(ns, rounds) / 1e3, rounds);
	sp_store_close(s);
	free(c);
	free(ns);
	return 0;
}
#endif

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "contacts") == 0)
		return bench_contacts(argv[2],
		    argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 10000,
		    argc > 4 ? strtoul(argv[4], NULL, 10) : 10000,
		    argc > 5 ? atoi(argv[5]) : 5);
#ifndef NO_CONSOLE
	if (argc >= 4 && strcmp(argv[1], "inventory") == 0)
		return bench_inventory(argv[2],
		    (uint32_t)strtoul(argv[3], NULL, 10),
		    argc > 4 ? atoi(argv[4]) : 30);
#endif
	fprintf(stderr, "usage: console_store contacts DIR [DEVICES [BATCH "
	    "[ROUNDS]]] | inventory DIR DEVICES [ROUNDS]\n");
	return 2;
}
