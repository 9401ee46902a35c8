/*
 * bench/contact_batch.c: contact records per second into a store
 * (sp_store_contact_batch, what a node's flush calls), one record per
 * batch (a transaction each: the floor without batching) against batches
 * of B.  Run by bench/cluster.sh on a PostgreSQL database; any store URI
 * works.  Not a test.
 *
 *   contact_batch STORE_URI [RECORDS [BATCH]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/store.h"

static void
fill(sp_contact *c, size_t n, uint32_t base)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t k = base + (uint32_t)i;

		memset(&c[i], 0, sizeof(c[i]));
		c[i].mac.b[0] = 0x00;
		c[i].mac.b[1] = 0x0e;
		c[i].mac.b[2] = 0x08;
		c[i].mac.b[3] = (uint8_t)(k >> 16);
		c[i].mac.b[4] = (uint8_t)(k >> 8);
		c[i].mac.b[5] = (uint8_t)k;
		c[i].time = sp_now();
		snprintf(c[i].ip, sizeof(c[i].ip), "10.%u.%u.%u", (k >> 16) & 255, (k >> 8) & 255,
		    k & 255);
		snprintf(c[i].ua, sizeof(c[i].ua),
		    "Cisco/SPA2102-5.1.6 (%02X%02X%02X%02X%02X%02X)(BENCH%06u)", 0, 0x0e, 8,
		    (k >> 16) & 255, (k >> 8) & 255, k & 255, k);
		snprintf(c[i].etag, sizeof(c[i].etag), "\"%016x\"", k);
		c[i].status = 200;
	}
}

/* Records per second writing n records in batches of b. */
static double
run(sp_store *st, sp_contact *c, size_t n, size_t b, uint32_t base)
{
	uint64_t t0;

	fill(c, n, base);
	t0 = sp_mono_ns();
	for (size_t i = 0; i < n; i += b) {
		size_t k = n - i < b ? n - i : b;

		if (sp_failed(sp_store_contact_batch(st, c + i, k))) {
			fprintf(stderr, "contact_batch: %s\n", sp_errmsg());
			exit(1);
		}
	}
	return (double)n / ((double)(sp_mono_ns() - t0) / 1e9);
}

int
main(int argc, char **argv)
{
	sp_store *st = NULL;
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
	size_t b = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
	size_t n1 = n / 10 ? n / 10 : 1;
	sp_contact *c;
	double one, many;

	if (argc < 2 || n == 0 || b == 0 || b > SP_CONTACT_BATCH_MAX) {
		fprintf(stderr, "usage: contact_batch STORE_URI [RECORDS [BATCH]]\n");
		return 2;
	}
	if ((c = calloc(n, sizeof(*c))) == NULL)
		return 1;
	if (sp_failed(sp_store_open(argv[1], &st))) {
		fprintf(stderr, "contact_batch: %s\n", sp_errmsg());
		return 1;
	}
	one = run(st, c, n1, 1, 0);
	many = run(st, c, n, b, 1u << 20);
	printf("contacts: %.0f records/s one per transaction (%zu records), "
	    "%.0f records/s in batches of %zu (%zu records): %.1fx\n", one, n1, many, b, n,
	    many / one);
	sp_store_close(st);
	free(c);
	return 0;
}
