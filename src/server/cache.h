/*
 * The render cache: MAC -> rendered profile, tagged with the store
 * generation it was read at.  A lookup with another generation misses, so
 * a change in the database reaches the next request without the hot path
 * reading any table.  Entries are immutable and reference-counted: the
 * body is handed to evbuffer_add_reference() without a copy and released
 * when the bytes have been written.  Bodies hold SIP passwords: wiped on
 * free.  Thread-safe (one mutex; the critical sections are a few loads).
 *
 * The ETag is HMAC-SHA256 of the body under the cache's key, cut to 128
 * bits: an unkeyed digest is logged and sent, and profiles hold passwords
 * from small sets, so a plain SHA-256 would let anyone who reads an access
 * log test guesses offline.  Nodes of a cluster share the key through
 * etag-key-file so a device sees the same ETag from each.
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
#define SP_ETAG_KEY_LEN 32 /* bytes of the ETag HMAC key */

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

/* key: SP_ETAG_KEY_LEN bytes, copied (and wiped on free). */
SP_MUST_CHECK sp_result sp_cache_new(size_t max_entries, const uint8_t *key,
    sp_cache **out);
void sp_cache_free(sp_cache *c);

/* A referenced entry for mac at generation gen, or NULL (a miss). */
sp_cache_entry *sp_cache_get(sp_cache *c, const sp_mac *mac, uint64_t gen);

/* New entry with a copy of body and its ETag (refs = 1, the caller's). */
SP_MUST_CHECK sp_result sp_cache_entry_new(sp_cache *c, const sp_mac *mac, uint64_t gen,
    bool defaults_only, const char *body, size_t len, sp_cache_entry **out);

/* Insert (replacing any entry for the MAC); the cache takes its own ref. */
void sp_cache_put(sp_cache *c, sp_cache_entry *e);

void sp_cache_release(sp_cache_entry *e); /* NULL-safe */

void sp_cache_stats_get(sp_cache *c, sp_cache_stats *out);

/*
 * The ETag key: path "" or NULL gives a random key; otherwise the file
 * holds 64 hex digits (`openssl rand -hex 32`), an end of line allowed.
 */
SP_MUST_CHECK sp_result sp_etag_key_load(const char *path, uint8_t key[SP_ETAG_KEY_LEN]);

#endif
