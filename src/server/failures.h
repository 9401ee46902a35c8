/*
 * The failure queue of `sprov serve` (failures.c): why devices are refused,
 * folded in memory and written behind by the store thread with
 * sp_store_failure_batch (store/console.h), like the contact queue.
 *
 * A refused handshake (the TLS layer's refused hook, conn.c) or request
 * (request.c) is put here; entries fold by (MAC, reason) when the
 * certificate named a device, else by (source address, reason), so a storm
 * of refusals costs one lock and one hash probe each and at most
 * SRV_FAIL_KEYS_MAX entries of memory: past that a new key is dropped and
 * counted (sprov_failure_records_dropped_total).  Successful handshakes
 * and requests never come here.
 */
#ifndef SPROV_SERVER_FAILURES_H
#define SPROV_SERVER_FAILURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "store/console.h"

#define SRV_FAIL_KEYS_MAX 4096   /* distinct (MAC or address, reason) queued */

typedef struct srv_failures srv_failures;

typedef struct srv_failures_stats {
	uint64_t by_reason[SP_FAIL_N]; /* refusals put, folded ones included */
	uint64_t dropped;              /* refusals lost: the queue was full */
	uint64_t written;              /* entries a flush handed on */
	size_t queued;                 /* distinct keys waiting */
} srv_failures_stats;

/* max: distinct keys held (1..SRV_FAIL_KEYS_MAX). */
SP_MUST_CHECK sp_result srv_failures_new(size_t max, srv_failures **out);
void srv_failures_free(srv_failures *q); /* NULL-safe; queued entries are lost */

/*
 * Fold f in: the entry of the same key grows by f->count (its time, address,
 * serial and detail become f's when f is newer), or a new entry is made.
 * false: dropped (max keys queued; counted).  Thread-safe.
 */
bool srv_failures_put(srv_failures *q, const sp_failure *f);

/*
 * Take every queued entry, oldest key first: *v (malloc'd, NULL if none)
 * holds *n <= max of them; the queue is empty and usable at once.  A batch
 * the store refused goes back with srv_failures_putback.
 */
SP_MUST_CHECK sp_result srv_failures_take(srv_failures *q, sp_failure **v, size_t *n);

/* Fold entries taken earlier back in (not counted again by reason). */
void srv_failures_putback(srv_failures *q, const sp_failure *v, size_t n);

/*
 * Put one refusal now: mac NULL for a certificate that named no device;
 * ip, cert_serial and detail may be NULL (""), and are cut to their fields.
 */
bool srv_failures_note(srv_failures *q, sp_fail_reason r, const sp_mac *mac,
    const char *ip, const char *cert_serial, const char *detail);

/* The record's reason for a refused handshake's (tls.h sp_tls_fail). */
sp_fail_reason srv_fail_reason_of_tls(int tls_fail);

/* n entries were written to the store. */
void srv_failures_count_written(srv_failures *q, size_t n);

void srv_failures_stats_get(srv_failures *q, srv_failures_stats *out);

/* Its /metrics families (docs/SERVER.md), appended to b. */
SP_MUST_CHECK sp_result srv_failures_metrics(srv_failures *q, sp_buf *b);

#endif
