#include "server/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/util.h"

struct sp_cache {
	pthread_mutex_t mu;
	sp_cache_entry *b[SP_CACHE_BUCKETS];
	size_t max, n, bytes;
	uint64_t hits, misses, inserts, flushes;
};

static size_t
bucket(const sp_mac *m)
{
	/* FNV-1a over the 6 bytes: MACs share vendor prefixes. */
	uint32_t h = 2166136261u;
	for (int i = 0; i < 6; i++)
		h = (h ^ m->b[i]) * 16777619u;
	return h % SP_CACHE_BUCKETS;
}

void
sp_cache_release(sp_cache_entry *e)
{
	if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	OPENSSL_cleanse(e->body, e->len);
	free(e);
}

sp_result
sp_cache_new(size_t max_entries, sp_cache **out)
{
	sp_result res = SP_OK;
	sp_cache *c = NULL;

	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	pthread_mutex_init(&c->mu, NULL);
	c->max = max_entries ? max_entries : SP_CACHE_MAX_DEFAULT;
	*out = c;
out:
	return res;
}

static void
clear_locked(sp_cache *c)
{
	for (size_t i = 0; i < SP_CACHE_BUCKETS; i++) {
		sp_cache_entry *e = c->b[i], *nx;
		for (; e != NULL; e = nx) {
			nx = e->next;
			sp_cache_release(e);
		}
		c->b[i] = NULL;
	}
	c->n = c->bytes = 0;
}

void
sp_cache_free(sp_cache *c)
{
	if (c == NULL)
		return;
	clear_locked(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

sp_cache_entry *
sp_cache_get(sp_cache *c, const sp_mac *mac, uint64_t gen)
{
	sp_cache_entry *e;

	pthread_mutex_lock(&c->mu);
	for (e = c->b[bucket(mac)]; e != NULL; e = e->next)
		if (sp_mac_eq(&e->mac, mac))
			break;
	if (e != NULL && e->gen == gen) {
		atomic_fetch_add(&e->refs, 1);
		c->hits++;
	} else {
		e = NULL;
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

sp_result
sp_cache_entry_new(const sp_mac *mac, uint64_t gen, bool defaults_only,
    const char *body, size_t len, sp_cache_entry **out)
{
	sp_result res = SP_OK;
	sp_cache_entry *e = NULL;
	unsigned char md[32];
	char hex[65];

	TRY_ALLOC(e, calloc(1, sizeof(*e) + len + 1));
	atomic_init(&e->refs, 1);
	e->mac = *mac;
	e->gen = gen;
	e->defaults_only = defaults_only;
	e->len = len;
	memcpy(e->body, body, len);
	/* The ETag is a digest of the exact bytes: same parameters, same tag. */
	TRY_OSSL(EVP_Digest(body, len, md, NULL, EVP_sha256(), NULL), "ETag digest");
	sp_hex(md, 16, hex);
	memcpy(e->etag, "\"", 1);
	memcpy(e->etag + 1, hex, 32);
	memcpy(e->etag + 33, "\"", 2);
	*out = e;
	e = NULL;
out:
	sp_cache_release(e);
	return res;
}

void
sp_cache_put(sp_cache *c, sp_cache_entry *e)
{
	sp_cache_entry **pp;
	size_t bk = bucket(&e->mac);

	atomic_fetch_add(&e->refs, 1);
	pthread_mutex_lock(&c->mu);
	for (pp = &c->b[bk]; *pp != NULL; pp = &(*pp)->next) {
		if (sp_mac_eq(&(*pp)->mac, &e->mac)) {
			sp_cache_entry *old = *pp;
			*pp = old->next;
			c->n--;
			c->bytes -= old->len;
			sp_cache_release(old);
			break;
		}
	}
	if (c->n >= c->max || c->bytes + e->len > SP_CACHE_BYTES_MAX) {
		/* XXX: crude but bounded: a full cache starts over. */
		clear_locked(c);
		c->flushes++;
	}
	e->next = c->b[bk];
	c->b[bk] = e;
	c->n++;
	c->bytes += e->len;
	c->inserts++;
	pthread_mutex_unlock(&c->mu);
}

void
sp_cache_stats_get(sp_cache *c, sp_cache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	out->hits = c->hits;
	out->misses = c->misses;
	out->inserts = c->inserts;
	out->flushes = c->flushes;
	out->entries = c->n;
	out->bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}
