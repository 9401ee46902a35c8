/*
 * The server's in-memory caches, shared by both backends (tls_internal.h).
 * Each is a bounded direct-mapped table under its own lock: a collision
 * replaces the older entry, which only costs the work the entry saved.
 *
 * Parsed leaves.  perf put OpenSSL 3's d2i_X509 at 15 % of the server's
 * CPU per full handshake on the GnuTLS backend (which parses the leaf for
 * the identity rule): a device that comes back (every resync, every retry
 * after a 503) is parsed once.  Only the parse is kept.
 *
 * Verified chains.  perf put GnuTLS's chain verification (~170 us here, 3x
 * OpenSSL's) at 14-18 % of the server's CPU per full handshake.  A device
 * that comes back with the very same chain (the SHA-256 of exactly the
 * certificates it sent) under the very same configuration (CA, CRL, depth:
 * a reload makes a new one, with a new generation) gets the earlier
 * answer.  Only a clean success is remembered, for at most TLS_VCACHE_TTL
 * and never past a notAfter of the chain or the device CAs or the CRL's
 * nextUpdate.  The handshake's proof of possession (CertificateVerify) is
 * checked by the TLS library every time, and so are the CRL checks.
 *
 * Trusted leaves.  Which leaf certificates verified under which device CA
 * set (tls_policy.c, resumption): by the SHA-256 of the leaf and of the
 * device CA file.
 *
 * Session IDs.  TLS 1.2 session IDs for the GnuTLS backend (OpenSSL keeps
 * its own, per configuration).
 */
#include "tls/tls_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/util.h"

#define TLS_LEAF_CACHE 4096           /* parsed device certificates kept */
#define TLS_LEAF_DER_MAX 4096         /* bigger ones are not kept */
#define TLS_VCACHE 4096               /* verified chains remembered */
#define TLS_VCACHE_TTL 3600           /* s a remembered verification lasts, at most */
#define TLS_TCACHE 16384              /* trusted leaves remembered */
#define TLS_SESSION_CACHE_SLOTS 20000 /* TLS 1.2 session IDs kept */
#define TLS_SESSION_DATA_MAX 16384    /* bytes of one packed session */
#define TLS_SESSION_ID_MAX 32

typedef struct leaf_slot {
	uint64_t h;
	size_t len;
	unsigned char *der;
	X509 *x;
} leaf_slot;

typedef struct vslot {
	unsigned char md[SP_TLS_MD_LEN];
	uint64_t gen;
	int64_t from, until;
} vslot;

typedef struct tslot {
	unsigned char leaf[SP_TLS_MD_LEN];
	unsigned char trust[SP_TLS_MD_LEN];
	bool set;
} tslot;

typedef struct sess_slot {
	unsigned char id[TLS_SESSION_ID_MAX];
	size_t idlen;
	unsigned char *data;
	size_t len;
	int64_t expires;
} sess_slot;

struct sp_tls_cache {
	pthread_mutex_t leaf_mu, v_mu, t_mu, sess_mu;
	leaf_slot *leaves;
	vslot *v;
	tslot *t;
	sess_slot *sess;
};

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_init(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

sp_result
sp_tls_cache_new(sp_tls_cache **out)
{
	sp_result res = SP_OK;
	sp_tls_cache *cc = NULL;

	pthread_once(&sha256_once, sha256_init);
	ENSURE(sha256 != NULL, SP_E_CRYPTO, "SHA-256 is not available");
	TRY_ALLOC(cc, calloc(1, sizeof(*cc)));
	pthread_mutex_init(&cc->leaf_mu, NULL);
	pthread_mutex_init(&cc->v_mu, NULL);
	pthread_mutex_init(&cc->t_mu, NULL);
	pthread_mutex_init(&cc->sess_mu, NULL);
	TRY_ALLOC(cc->leaves, calloc(TLS_LEAF_CACHE, sizeof(leaf_slot)));
	TRY_ALLOC(cc->v, calloc(TLS_VCACHE, sizeof(vslot)));
	TRY_ALLOC(cc->t, calloc(TLS_TCACHE, sizeof(tslot)));
	TRY_ALLOC(cc->sess, calloc(TLS_SESSION_CACHE_SLOTS, sizeof(sess_slot)));
	*out = cc;
	cc = NULL;
out:
	sp_tls_cache_free(cc);
	return res;
}

void
sp_tls_cache_free(sp_tls_cache *cc)
{
	if (cc == NULL)
		return;
	for (size_t i = 0; cc->leaves != NULL && i < TLS_LEAF_CACHE; i++) {
		free(cc->leaves[i].der);
		X509_free(cc->leaves[i].x);
	}
	for (size_t i = 0; cc->sess != NULL && i < TLS_SESSION_CACHE_SLOTS; i++)
		if (cc->sess[i].data != NULL) {
			OPENSSL_cleanse(cc->sess[i].data, cc->sess[i].len);
			free(cc->sess[i].data);
		}
	free(cc->leaves);
	free(cc->v);
	free(cc->t);
	free(cc->sess);
	pthread_mutex_destroy(&cc->leaf_mu);
	pthread_mutex_destroy(&cc->v_mu);
	pthread_mutex_destroy(&cc->t_mu);
	pthread_mutex_destroy(&cc->sess_mu);
	free(cc);
}

/* --- parsed leaves --- */

X509 *
sp_tls_leaf_parse(sp_tls_cache *cc, const unsigned char *der, size_t len)
{
	uint64_t h = sp_fnv1a(der, len);
	leaf_slot *sl = &cc->leaves[h % TLS_LEAF_CACHE];
	X509 *x = NULL;
	unsigned char *copy = NULL;
	const unsigned char *p = der;

	pthread_mutex_lock(&cc->leaf_mu);
	if (sl->x != NULL && sl->h == h && sl->len == len &&
	    memcmp(sl->der, der, len) == 0 && X509_up_ref(sl->x) == 1)
		x = sl->x;
	pthread_mutex_unlock(&cc->leaf_mu);
	if (x != NULL)
		return x;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	if (len > TLS_LEAF_DER_MAX || (copy = malloc(len)) == NULL || X509_up_ref(x) != 1) {
		free(copy);
		return x;
	}
	memcpy(copy, der, len);
	pthread_mutex_lock(&cc->leaf_mu);
	free(sl->der);
	X509_free(sl->x);
	sl->h = h;
	sl->len = len;
	sl->der = copy;
	sl->x = x; /* the cache's reference */
	pthread_mutex_unlock(&cc->leaf_mu);
	return x;
}

/* --- chain digests --- */

bool
sp_tls_md_init(sp_tls_md *m)
{
	EVP_MD_CTX *ctx;

	pthread_once(&sha256_once, sha256_init);
	m->ctx = NULL;
	if (sha256 == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		ERR_clear_error();
		return false;
	}
	m->ctx = ctx;
	return true;
}

void
sp_tls_md_add(sp_tls_md *m, const unsigned char *der, size_t len)
{
	unsigned char n[4] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len,
	};

	if (m->ctx == NULL)
		return;
	if (EVP_DigestUpdate(m->ctx, n, sizeof(n)) != 1 ||
	    EVP_DigestUpdate(m->ctx, der, len) != 1) {
		EVP_MD_CTX_free(m->ctx);
		m->ctx = NULL;
		ERR_clear_error();
	}
}

bool
sp_tls_md_final(sp_tls_md *m, unsigned char md[SP_TLS_MD_LEN])
{
	unsigned int n = 0;
	bool ok = m->ctx != NULL && EVP_DigestFinal_ex(m->ctx, md, &n) == 1 &&
	    n == SP_TLS_MD_LEN;

	EVP_MD_CTX_free(m->ctx);
	m->ctx = NULL;
	ERR_clear_error();
	return ok;
}

static size_t
md_slot(const unsigned char *md, size_t n)
{
	uint64_t k;

	memcpy(&k, md, sizeof(k));
	return (size_t)(k % n);
}

/* --- verified chains --- */

bool
sp_tls_vcache_hit(sp_tls_cache *cc, uint64_t gen, const unsigned char *md, int64_t now)
{
	vslot *sl = &cc->v[md_slot(md, TLS_VCACHE)];
	bool hit;

	pthread_mutex_lock(&cc->v_mu);
	hit = sl->gen == gen && memcmp(sl->md, md, SP_TLS_MD_LEN) == 0 &&
	    now >= sl->from && now < sl->until;
	pthread_mutex_unlock(&cc->v_mu);
	return hit;
}

void
sp_tls_vcache_put(sp_tls_cache *cc, const sp_tls_conf *c, const unsigned char *md,
    int64_t now, int64_t chain_until)
{
	int64_t until = now + TLS_VCACHE_TTL;
	vslot *sl;

	if (c->ca_until == 0 || chain_until == 0)
		return;
	if (c->ca_until < until)
		until = c->ca_until;
	if (c->crls != NULL && c->crl_next != 0 && c->crl_next < until)
		until = c->crl_next;
	if (chain_until < until)
		until = chain_until;
	if (until <= now)
		return;
	sl = &cc->v[md_slot(md, TLS_VCACHE)];
	pthread_mutex_lock(&cc->v_mu);
	memcpy(sl->md, md, SP_TLS_MD_LEN);
	sl->gen = c->gen;
	sl->from = now;
	sl->until = until;
	pthread_mutex_unlock(&cc->v_mu);
}

/* --- trusted leaves --- */

bool
sp_tls_tcache_hit(sp_tls_cache *cc, const unsigned char *leaf_md,
    const unsigned char *trust_md)
{
	tslot *sl = &cc->t[md_slot(leaf_md, TLS_TCACHE)];
	bool hit;

	pthread_mutex_lock(&cc->t_mu);
	hit = sl->set && memcmp(sl->leaf, leaf_md, SP_TLS_MD_LEN) == 0 &&
	    memcmp(sl->trust, trust_md, SP_TLS_MD_LEN) == 0;
	pthread_mutex_unlock(&cc->t_mu);
	return hit;
}

void
sp_tls_tcache_put(sp_tls_cache *cc, const unsigned char *leaf_md,
    const unsigned char *trust_md)
{
	tslot *sl = &cc->t[md_slot(leaf_md, TLS_TCACHE)];

	pthread_mutex_lock(&cc->t_mu);
	memcpy(sl->leaf, leaf_md, SP_TLS_MD_LEN);
	memcpy(sl->trust, trust_md, SP_TLS_MD_LEN);
	sl->set = true;
	pthread_mutex_unlock(&cc->t_mu);
}

/* --- TLS 1.2 session IDs --- */

static sess_slot *
sess_slot_of(sp_tls_cache *cc, const unsigned char *id, size_t idlen)
{
	return &cc->sess[sp_fnv1a(id, idlen) % TLS_SESSION_CACHE_SLOTS];
}

int
sp_tls_scache_store(sp_tls_cache *cc, const unsigned char *id, size_t idlen,
    const unsigned char *data, size_t len, int64_t expires)
{
	sess_slot *sl;
	unsigned char *copy;

	if (idlen == 0 || idlen > TLS_SESSION_ID_MAX || len > TLS_SESSION_DATA_MAX)
		return -1;
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		return -1;
	memcpy(copy, data, len);
	pthread_mutex_lock(&cc->sess_mu);
	sl = sess_slot_of(cc, id, idlen);
	if (sl->data != NULL) {
		OPENSSL_cleanse(sl->data, sl->len);
		free(sl->data);
	}
	memcpy(sl->id, id, idlen);
	sl->idlen = idlen;
	sl->data = copy;
	sl->len = len;
	sl->expires = expires;
	pthread_mutex_unlock(&cc->sess_mu);
	return 0;
}

unsigned char *
sp_tls_scache_fetch(sp_tls_cache *cc, const unsigned char *id, size_t idlen,
    void *(*alloc)(size_t), size_t *len)
{
	unsigned char *out = NULL;
	sess_slot *sl;

	*len = 0;
	if (idlen == 0 || idlen > TLS_SESSION_ID_MAX)
		return NULL;
	pthread_mutex_lock(&cc->sess_mu);
	sl = sess_slot_of(cc, id, idlen);
	if (sl->data != NULL && sl->idlen == idlen && memcmp(sl->id, id, idlen) == 0 &&
	    sp_now() < sl->expires && (out = alloc(sl->len)) != NULL) {
		memcpy(out, sl->data, sl->len);
		*len = sl->len;
	}
	pthread_mutex_unlock(&cc->sess_mu);
	return out;
}

int
sp_tls_scache_remove(sp_tls_cache *cc, const unsigned char *id, size_t idlen)
{
	sess_slot *sl;
	int rv = -1;

	if (idlen == 0 || idlen > TLS_SESSION_ID_MAX)
		return -1;
	pthread_mutex_lock(&cc->sess_mu);
	sl = sess_slot_of(cc, id, idlen);
	if (sl->data != NULL && sl->idlen == idlen && memcmp(sl->id, id, idlen) == 0) {
		OPENSSL_cleanse(sl->data, sl->len);
		free(sl->data);
		memset(sl, 0, sizeof(*sl));
		rv = 0;
	}
	pthread_mutex_unlock(&cc->sess_mu);
	return rv;
}
