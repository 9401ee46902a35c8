/*
 * The render cache: MAC -> rendered profile, tagged with the store
 * generation it was read at.  A lookup with another generation misses, so
 * a change in the database reaches the next request without the hot path
 * reading any table.  Entries are immutable and reference-counted: the
 * body is handed to evbuffer_add_reference() without a copy and released
 * when the bytes have been written.  Bodies hold SIP passwords: wiped on
 * free.  Thread-safe (one mutex; the critical sections are a few loads).
 */
#ifndef SPROV_SERVER_CACHE_H
#define SPROV_SERVER_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "identity/mac.h"
#include "store/store.h"

#define SP_CACHE_BUCKETS 4096
#define SP_CACHE_MAX_DEFAULT 100000
#define SP_CACHE_BYTES_MAX (256u * 1024 * 1024) /* rendered bytes held */

typedef struct sp_cache_entry {
	atomic_int refs;
	struct sp_cache_entry *next; /* bucket chain (owned by the cache) */
	sp_mac mac;
	uint64_t gen;
	bool defaults_only;          /* unknown device served the defaults */
	char etag[SP_ETAG_MAX + 1];  /* quoted */
	size_t len;
	char body[];
} sp_cache_entry;

typedef struct sp_cache sp_cache;

typedef struct sp_cache_stats {
	uint64_t hits, misses, inserts, flushes;
	size_t entries, bytes;
} sp_cache_stats;

SP_MUST_CHECK sp_result sp_cache_new(size_t max_entries, sp_cache **out);
void sp_cache_free(sp_cache *c);

/* A referenced entry for mac at generation gen, or NULL (a miss). */
sp_cache_entry *sp_cache_get(sp_cache *c, const sp_mac *mac, uint64_t gen);

/* New entry with a copy of body and etag (refs = 1, the caller's). */
SP_MUST_CHECK sp_result sp_cache_entry_new(const sp_mac *mac, uint64_t gen,
    bool defaults_only, const char *body, size_t len, sp_cache_entry **out);

/* Insert (replacing any entry for the MAC); the cache takes its own ref. */
void sp_cache_put(sp_cache *c, sp_cache_entry *e);

void sp_cache_release(sp_cache_entry *e); /* NULL-safe */

void sp_cache_stats_get(sp_cache *c, sp_cache_stats *out);

#endif
