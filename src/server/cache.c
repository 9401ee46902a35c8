#include "server/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/util.h"

#define ETAG_HEX 32 /* hex digits of the ETag: 128 bits of the HMAC */
#define ETAG_KEY_FILE_MAX 256

struct sp_cache {
	pthread_mutex_t mu;
	EVP_MAC *hmac;
	uint8_t key[SP_ETAG_KEY_LEN];
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
sp_cache_new(size_t max_entries, const uint8_t *key, sp_cache **out)
{
	sp_result res = SP_OK;
	sp_cache *c = NULL;

	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	pthread_mutex_init(&c->mu, NULL);
	c->max = max_entries ? max_entries : SP_CACHE_MAX_DEFAULT;
	memcpy(c->key, key, sizeof(c->key));
	TRY_OSSL_PTR(c->hmac, EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL), "HMAC");
	*out = c;
	c = NULL;
out:
	sp_cache_free(c);
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
	EVP_MAC_free(c->hmac);
	OPENSSL_cleanse(c->key, sizeof(c->key));
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

/* The quoted ETag of body: HMAC-SHA256 under c's key (cache.h). */
static sp_result
etag_of(sp_cache *c, const char *body, size_t len, char etag[SP_ETAG_MAX + 1])
{
	sp_result res = SP_OK;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];

	TRY_OSSL_PTR(ctx, EVP_MAC_CTX_new(c->hmac), "ETag HMAC");
	TRY_OSSL(EVP_MAC_init(ctx, c->key, sizeof(c->key), params), "ETag HMAC");
	TRY_OSSL(EVP_MAC_update(ctx, (const unsigned char *)body, len), "ETag HMAC");
	TRY_OSSL(EVP_MAC_final(ctx, md, &mdlen, sizeof(md)), "ETag HMAC");
	ENSURE(mdlen * 2 >= ETAG_HEX, SP_E_INTERNAL, "ETag HMAC too short");
	sp_hex(md, ETAG_HEX / 2, hex);
	etag[0] = '"';
	memcpy(etag + 1, hex, ETAG_HEX);
	memcpy(etag + 1 + ETAG_HEX, "\"", 2);
out:
	EVP_MAC_CTX_free(ctx);
	OPENSSL_cleanse(md, sizeof(md));
	return res;
}

sp_result
sp_cache_entry_new(sp_cache *c, const sp_mac *mac, uint64_t gen, bool defaults_only,
    const char *body, size_t len, sp_cache_entry **out)
{
	sp_result res = SP_OK;
	sp_cache_entry *e = NULL;

	TRY_ALLOC(e, calloc(1, sizeof(*e) + len + 1));
	atomic_init(&e->refs, 1);
	e->mac = *mac;
	e->gen = gen;
	e->defaults_only = defaults_only;
	e->len = len;
	memcpy(e->body, body, len);
	/* A MAC of the exact bytes: same parameters, same tag. */
	TRY(etag_of(c, body, len, e->etag));
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

sp_result
sp_etag_key_load(const char *path, uint8_t key[SP_ETAG_KEY_LEN])
{
	sp_result res = SP_OK;
	sp_buf text;
	size_t n;

	sp_buf_init(&text, ETAG_KEY_FILE_MAX);
	if (path == NULL || path[0] == '\0') {
		TRY_OSSL(RAND_bytes(key, SP_ETAG_KEY_LEN), "ETag key");
		goto out;
	}
	TRY(sp_error_wrap(sp_read_file(path, ETAG_KEY_FILE_MAX, &text), "etag-key-file %s",
	    path));
	n = text.len;
	if (n > 0 && text.p[n - 1] == '\n')
		n--;
	if (n > 0 && text.p[n - 1] == '\r')
		n--;
	ENSURE(n == 2 * SP_ETAG_KEY_LEN, SP_E_PARSE,
	    "etag-key-file %s: expected %d hex digits, found %zu bytes", path,
	    2 * SP_ETAG_KEY_LEN, n);
	for (size_t i = 0; i < SP_ETAG_KEY_LEN; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)text.p[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)text.p[2 * i + 1]);
		ENSURE(hi >= 0 && lo >= 0, SP_E_PARSE,
		    "etag-key-file %s: not a hex digit at byte %zu", path,
		    hi < 0 ? 2 * i : 2 * i + 1);
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	sp_buf_free_secret(&text);
	return res;
}
