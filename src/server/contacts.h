/*
 * The write-behind contact queue: the server answers a device, queues its
 * contact record here, and a timer on the main thread flushes the queue to
 * the store in batches (one transaction each), never on the request path.
 *
 * Bounded: at most `max` records (the caller's contact-queue setting, which
 * a reload may change); past it a record is dropped and counted.  One
 * record per MAC: the store keeps only the last contact of a device.
 *
 * A flush hands each batch to a sink.  sp_contacts_store_sink writes to an
 * sp_store (SQLite today, PostgreSQL behind the same interface); a spill
 * file for an unreachable database would be another sink, or one that
 * wraps the store sink and takes the batches it fails.
 */
#ifndef SPROV_SERVER_CONTACTS_H
#define SPROV_SERVER_CONTACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "store/store.h"

typedef struct sp_contacts sp_contacts;

typedef struct sp_contacts_stats {
	size_t queued;     /* records waiting for the next flush */
	uint64_t written;  /* records a sink accepted */
	uint64_t dropped;  /* records refused: queue full or out of memory */
	uint64_t failed;   /* records in batches a sink refused */
} sp_contacts_stats;

/*
 * Write n records (1 <= n <= SP_CONTACT_BATCH_MAX), all or nothing.  On
 * failure the records are lost and counted as failed.
 */
typedef sp_result (*sp_contact_sink)(void *arg, const sp_contact *v, size_t n);

SP_MUST_CHECK sp_result sp_contacts_new(sp_contacts **out);
void sp_contacts_free(sp_contacts *q); /* NULL-safe; queued records are lost */

/*
 * Queue a copy of c, or overwrite the queued record of the same MAC (a
 * pending mark, with its serial and product, is kept once set).  false:
 * dropped, because max records are queued or memory ran out.  Thread-safe.
 */
bool sp_contacts_put(sp_contacts *q, const sp_contact *c, size_t max);

/*
 * Take every queued record (the queue is empty and usable at once) and
 * hand them to sink in queue order, in batches of SP_CONTACT_BATCH_MAX.
 * A failed batch is logged and counted; later batches are still tried.
 * sink NULL: discard.  Call from one thread at a time.
 */
void sp_contacts_flush(sp_contacts *q, sp_contact_sink sink, void *arg);

/* The sink for an sp_store (arg); sp_store_contact_batch. */
SP_MUST_CHECK sp_result sp_contacts_store_sink(void *arg, const sp_contact *v,
    size_t n);

void sp_contacts_stats_get(sp_contacts *q, sp_contacts_stats *out);

#endif
