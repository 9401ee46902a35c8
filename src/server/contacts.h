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
 * sp_store.  A batch the sink refuses (the database is unreachable) goes
 * back to the front of the queue with every later one: nothing is lost,
 * and the order (older first) is kept.  The store thread (storethread.c)
 * moves the oldest records past contact-queue to the spill file (spill.h)
 * with sp_contacts_take_oldest while the database stays away.
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
	uint64_t failed;   /* records in batches a sink refused for good */
} sp_contacts_stats;

/*
 * Write n records (1 <= n <= SP_CONTACT_BATCH_MAX), all or nothing.  A
 * failure with SP_E_POLICY refuses them for good (the store answered but
 * will not take them: dropped, counted as failed); any other (the store
 * is unreachable) queues them again.
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
 * Once the queue holds more than soft records, call kick(arg) (outside the
 * lock, once per crossing): the store thread spills without waiting for its
 * timer.  soft 0: never.  Thread-safe.
 */
void sp_contacts_set_kick(sp_contacts *q, size_t soft, void (*kick)(void *), void *arg);

/*
 * Take every queued record (the queue is empty and usable at once) and
 * hand them to sink in queue order, in batches of SP_CONTACT_BATCH_MAX.
 * A batch refused with SP_E_POLICY is logged, counted and dropped; at the
 * first batch refused otherwise, that batch and the rest go back to the
 * front of the queue (a MAC queued meanwhile keeps its newer record) and
 * false is returned.  sink NULL: discard.  Call from one thread at a
 * time.
 */
bool sp_contacts_flush(sp_contacts *q, sp_contact_sink sink, void *arg);

/*
 * Detach the oldest records so that at most keep stay queued: *v (malloc'd,
 * NULL if none) holds *n records, oldest first.  For the spill file.
 */
SP_MUST_CHECK sp_result sp_contacts_take_oldest(sp_contacts *q, size_t keep,
    sp_contact **v, size_t *n);

/* Count records lost for good (the spill file failed too) as dropped. */
void sp_contacts_count_dropped(sp_contacts *q, size_t n);

/* The sink for an sp_store (arg); sp_store_contact_batch. */
SP_MUST_CHECK sp_result sp_contacts_store_sink(void *arg, const sp_contact *v,
    size_t n);

void sp_contacts_stats_get(sp_contacts *q, sp_contacts_stats *out);

#endif
