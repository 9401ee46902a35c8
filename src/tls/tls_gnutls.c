/*
 * GnuTLS backend of src/tls/tls.h (sp_tls_gnutls_ops, see tls_internal.h).
 *
 * Transport.  libevent has no bufferevent for GnuTLS, so a connection is a
 * bufferevent_filter over a socket bufferevent.  GnuTLS's push and pull
 * functions work on the socket bufferevent's evbuffers; the input filter
 * drives the handshake and then decrypts records into the filter's input
 * (what evhttp reads); the output filter encrypts what evhttp writes.
 * libevent 2.1.12 forwards bufferevent_setfd/getfd through a filter, so
 * evhttp sets the accepted socket on it as on any bufferevent.  A fatal
 * TLS error raises BEV_EVENT_ERROR on the filter (deferred), and evhttp
 * frees the connection; the filter's free_context frees the session.
 *
 * Configuration.  One configuration is one `gconf`: GnuTLS certificate
 * credentials (server chain and key, device CA as trust list, the CRL),
 * the priority cache, and the CRLs again as OpenSSL objects.  It is
 * reference counted; a connection holds the one it started with, so a
 * reload (a new gconf swapped in) never disturbs an open connection.
 *
 * Protocol: TLS 1.2 and 1.3 only, ECDHE with AEAD only (TLS_PRIORITY).
 *
 * Client certificates.  Required; GnuTLS verifies the chain against the
 * device CA (intermediates sent by the device, depth limited as
 * configured) and the CRL.  Our verify function adds what OpenSSL's
 * X509_V_FLAG_CRL_CHECK does and GnuTLS does not: the leaf's issuer must
 * have a CRL when one is configured, and an expired CRL refuses every
 * device unless crl-grace keeps it in force.  The revocation test itself
 * is repeated on the OpenSSL copy of the CRLs, so a CRL GnuTLS dropped at
 * load (it ignores expired ones) still counts.
 *
 * Identity.  The leaf is parsed once per connection with OpenSSL's d2i and
 * given to sp_devid_from_x509(), the very function the OpenSSL backend
 * uses: one implementation of the identity rule (multi-valued RDNs,
 * string types, duplicate attributes) rather than a second one built on
 * GnuTLS's DN parser that could drift from it.
 *
 * Resumption and revocation.  GnuTLS does not call the verify function on
 * resumption.  When a resumed handshake completes, the session's peer
 * certificate (GnuTLS keeps it in tickets and cached sessions) is checked
 * against the CURRENT CRLs; a revoked or expired one is logged, counted and
 * the connection closed before any request is read.  GnuTLS has no hook to
 * turn the resumption into a full handshake as the OpenSSL backend does.
 * sp_tls_peer_get() repeats the check before every request; its result is
 * kept per connection for as long as the configuration (and so the CRL
 * set) stays the same and the certificate has not expired.
 *
 * Session cache.  TLS 1.2 session IDs go to a bounded direct-mapped cache
 * (gnutls_db_*), shared by all configurations: the check above makes that
 * safe across CRL reloads.  Tickets (1.2 and 1.3) use one master key;
 * GnuTLS derives time-based ticket keys from it and rotates them itself
 * every cache-expiration period (accepting the previous one), so the
 * periodic rotate is a no-op and a forced rotate replaces the master key.
 */
#include "tls/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/util.h"
#include "tls/tls_internal.h"

/*
 * NONE, then exactly: TLS 1.3 and 1.2; ECDHE key exchange (1.2 suites
 * with ECDSA or RSA server keys; 1.3 always uses (EC)DHE groups); AEAD
 * ciphers only (AES-GCM, ChaCha20-Poly1305), so no CBC, no DHE, no RSA key
 * transport; the same groups as the OpenSSL backend; the server's order.
 */
#define TLS_PRIORITY                                                         \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:"           \
	"+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:+SIGN-ALL:"     \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+COMP-NULL:"       \
	"+CTYPE-X509:%SERVER_PRECEDENCE"
#define TLS_MAX_KEY_BITS 16384
#define TLS_SESSION_CACHE_SLOTS 20000 /* TLS 1.2 session IDs kept */
#define TLS_SESSION_DATA_MAX 16384    /* bytes of one packed session */
#define TLS_SESSION_ID_MAX 32
#define TLS_CONN_INDEX 8192           /* buckets of the bev -> conn index */
#define TLS_RECORD_CHUNK 16384
#define TLS_CRL_WARN_EVERY 60
#define TLS_EXPIRATION_MAX 604800     /* GnuTLS's cap on cache expiration */
#define TLS_NONDATA_MAX 64            /* records without data per read */
#define TLS_LEAF_CACHE 4096           /* parsed device certificates kept */
#define TLS_LEAF_DER_MAX 4096         /* bigger ones are not kept */
#define TLS_VCACHE 4096               /* verified chains remembered */
#define TLS_VCACHE_TTL 3600           /* s a remembered verification lasts, at most */

typedef struct gtls_server gtls_server;

typedef struct gconf {
	atomic_int refs;
	uint64_t gen;               /* unique per configuration built */
	gtls_server *srv;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	STACK_OF(X509_CRL) *crls;   /* NULL: no CRL configured */
	int64_t crl_last, crl_next; /* earliest nextUpdate */
	int64_t crl_grace;
	int expiration;             /* session/ticket lifetime, s */
	int64_t ca_until;           /* earliest notAfter of the device CAs; 0: none */
} gconf;

typedef struct gconn {
	gtls_server *srv;
	gconf *conf;                /* referenced */
	gnutls_session_t s;
	void *conn;
	struct bufferevent *bev;    /* the filter */
	struct bufferevent *under;  /* the socket bufferevent */
	struct event *wev;          /* socket writable / output to process */
	evutil_socket_t fd;         /* -1 until evhttp sets it */
	X509 *leaf;                 /* the peer's certificate, once known */
	bool done, counted, failed, resumed;
	/*
	 * What sp_tls_peer_get found for this connection's certificate: the
	 * identity (for peer_style) and the serial do not change on a
	 * connection.  "Not revoked, not expired" holds while the current
	 * configuration is still peer_ok_gen (CRLs never change inside one)
	 * and the clock is before the certificate's notAfter.
	 */
	bool peer_known;
	sp_idstyle peer_style;
	sp_tls_peer peer;
	uint64_t peer_ok_gen;       /* 0: not checked */
	int64_t peer_not_after;
	struct gconn *next;         /* bucket chain of the index */
} gconn;

typedef struct leaf_slot {
	uint64_t h;
	unsigned int len;
	unsigned char *der;
	X509 *x;
} leaf_slot;

/*
 * A chain GnuTLS verified (status 0) under configuration `gen`: the
 * SHA-256 of exactly the certificates the device sent.  Valid for
 * now in [from, until): until is the earliest of the chain's notAfters,
 * the device CAs' notAfters, the CRL's nextUpdate and from + TTL.
 */
typedef struct vslot {
	unsigned char md[32];
	uint64_t gen;
	int64_t from, until;
} vslot;

typedef struct sess_slot {
	unsigned char id[TLS_SESSION_ID_MAX];
	size_t idlen;
	unsigned char *data;
	size_t len;
	int64_t expires;
} sess_slot;

struct gtls_server {
	sp_tls_hooks hooks;
	sp_tls_stats *st;
	pthread_mutex_t mu; /* cur, cfg, crl_stat */
	gconf *cur;
	atomic_uint_fast64_t cur_gen; /* cur->gen, readable without mu */
	atomic_uint_fast64_t next_gen;
	struct {
		char *cert, *key, *ca, *crl;
		int depth;
		int64_t grace, rotate;
	} cfg;
	struct stat crl_stat;
	bool crl_stat_ok;
	int64_t crl_warned_at;

	pthread_rwlock_t key_mu;
	gnutls_datum_t ticket_key;

	pthread_mutex_t sess_mu;
	sess_slot *sess;
	atomic_int expiration; /* of the current configuration, s */

	pthread_mutex_t leaf_mu;
	leaf_slot *leaves;

	pthread_mutex_t v_mu;
	vslot *vcache;
};

/*
 * bev -> connection, for sp_tls_bufferevent_conn/peer_get (a filter has no
 * public accessor for its context).  Global, not per thread: a bufferevent
 * may be freed on another thread than the one that made it.
 */
static pthread_mutex_t index_mu = PTHREAD_MUTEX_INITIALIZER;
static gconn *conn_index[TLS_CONN_INDEX];

static size_t
index_hash(const struct bufferevent *bev)
{
	uint64_t x = (uint64_t)(uintptr_t)bev;

	x ^= x >> 17;
	x *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(x >> 40) % TLS_CONN_INDEX;
}

static void
index_add(gconn *g)
{
	size_t h = index_hash(g->bev);

	pthread_mutex_lock(&index_mu);
	g->next = conn_index[h];
	conn_index[h] = g;
	pthread_mutex_unlock(&index_mu);
}

static void
index_del(gconn *g)
{
	size_t h = index_hash(g->bev);

	pthread_mutex_lock(&index_mu);
	for (gconn **p = &conn_index[h]; *p != NULL; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	pthread_mutex_unlock(&index_mu);
}

/* The connection of bev; only its own thread uses the result. */
static gconn *
index_find(const struct bufferevent *bev)
{
	gconn *g;

	pthread_mutex_lock(&index_mu);
	for (g = conn_index[index_hash(bev)]; g != NULL && g->bev != bev; g = g->next)
		;
	pthread_mutex_unlock(&index_mu);
	return g;
}

static void
conf_unref(gconf *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->cred != NULL)
		gnutls_certificate_free_credentials(c->cred);
	if (c->prio != NULL)
		gnutls_priority_deinit(c->prio);
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	free(c);
}

/* The current configuration, referenced: conf_unref() it. */
static gconf *
cur_conf(gtls_server *srv)
{
	gconf *c;

	pthread_mutex_lock(&srv->mu);
	c = srv->cur;
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&srv->mu);
	return c;
}

static bool
refused_now(gtls_server *srv, X509 *cert, const char **why)
{
	gconf *c = cur_conf(srv);
	bool bad = sp_tls_crls_refuse(c ? c->crls : NULL, cert, why);

	conf_unref(c);
	return bad;
}

/*
 * Parsed leaves by their DER bytes.  perf put OpenSSL 3's d2i_X509 at 15 %
 * of the server's CPU per full handshake: a device that comes back (every
 * resync, every retry after a 503) is parsed once.  Only the parse is kept;
 * GnuTLS verifies the chain and we check the CRL on every handshake.
 */
static uint64_t
der_hash(const gnutls_datum_t *d)
{
	return sp_fnv1a(d->data, d->size);
}

/* A referenced X509 for DER d (X509_free it), or NULL. */
static X509 *
leaf_parse(gtls_server *srv, const gnutls_datum_t *d)
{
	uint64_t h = der_hash(d);
	leaf_slot *sl = &srv->leaves[h % TLS_LEAF_CACHE];
	X509 *x = NULL;
	unsigned char *copy = NULL;
	const unsigned char *p = d->data;

	pthread_mutex_lock(&srv->leaf_mu);
	if (sl->x != NULL && sl->h == h && sl->len == d->size &&
	    memcmp(sl->der, d->data, d->size) == 0 && X509_up_ref(sl->x) == 1)
		x = sl->x;
	pthread_mutex_unlock(&srv->leaf_mu);
	if (x != NULL)
		return x;
	x = d2i_X509(NULL, &p, (long)d->size);
	if (x == NULL || p != d->data + d->size) {
		X509_free(x);
		ERR_clear_error();
		return NULL;
	}
	if (d->size > TLS_LEAF_DER_MAX || (copy = malloc(d->size)) == NULL ||
	    X509_up_ref(x) != 1) {
		free(copy);
		return x;
	}
	memcpy(copy, d->data, d->size);
	pthread_mutex_lock(&srv->leaf_mu);
	free(sl->der);
	X509_free(sl->x);
	sl->h = h;
	sl->len = d->size;
	sl->der = copy;
	sl->x = x; /* the cache's reference */
	pthread_mutex_unlock(&srv->leaf_mu);
	return x;
}

/* The peer's leaf as an OpenSSL X509 (owned by g), or NULL. */
static X509 *
peer_leaf(gconn *g)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;

	if (g->leaf != NULL)
		return g->leaf;
	certs = gnutls_certificate_get_peers(g->s, &n);
	if (certs == NULL || n == 0 || certs[0].size > SP_TLS_CERT_MAX)
		return NULL;
	g->leaf = leaf_parse(g->srv, &certs[0]);
	return g->leaf;
}

static void
leaf_subject(X509 *leaf, char *buf, size_t n)
{
	buf[0] = '\0';
	if (leaf != NULL)
		X509_NAME_oneline(X509_get_subject_name(leaf), buf, (int)n);
}

static int
status_bucket(unsigned int st)
{
	if (st & GNUTLS_CERT_REVOKED)
		return SP_TLS_VF_REVOKED;
	if (st & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		return SP_TLS_VF_EXPIRED;
	if (st & (GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
	    GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE))
		return SP_TLS_VF_CRL_EXPIRED;
	if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return SP_TLS_VF_UNKNOWN_CA;
	if (st & GNUTLS_CERT_SIGNATURE_FAILURE)
		return SP_TLS_VF_BAD_SIGNATURE;
	if (st & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
		return SP_TLS_VF_CHAIN_TOO_LONG;
	return SP_TLS_VF_OTHER;
}

/* Does one of the CRLs come from the leaf's issuer? */
static bool
has_issuer_crl(const gconf *c, X509 *leaf)
{
	for (int i = 0; i < sk_X509_CRL_num(c->crls); i++)
		if (X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(c->crls, i)),
		    X509_get_issuer_name(leaf)) == 0)
			return true;
	return false;
}

/*
 * Verified chains.  perf put GnuTLS's chain verification (a re-import of
 * the chain, issuer lookup, one P-256 verification in nettle, ~170 us
 * here, 3x OpenSSL's) at 14-18 % of the server's CPU per full handshake.
 * A device that comes back with the very same chain under the very same
 * configuration (CA, CRL, depth: a reload makes a new one) gets GnuTLS's
 * earlier answer.  Only a clean success is remembered; the handshake's own
 * proof of possession (CertificateVerify) is checked by GnuTLS every time,
 * and so are our CRL checks below (issuer's CRL present, revoked, CRL
 * expired).
 */
static bool
chain_digest(const gnutls_datum_t *certs, unsigned int n, unsigned char md[32])
{
	gnutls_hash_hd_t h;
	unsigned char len[4];

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return false;
	for (unsigned int i = 0; i < n; i++) {
		len[0] = (unsigned char)(certs[i].size >> 24);
		len[1] = (unsigned char)(certs[i].size >> 16);
		len[2] = (unsigned char)(certs[i].size >> 8);
		len[3] = (unsigned char)certs[i].size;
		(void)gnutls_hash(h, len, sizeof(len));
		(void)gnutls_hash(h, certs[i].data, certs[i].size);
	}
	gnutls_hash_deinit(h, md);
	return true;
}

static vslot *
vcache_slot(gtls_server *srv, const unsigned char md[32])
{
	uint64_t k;

	memcpy(&k, md, sizeof(k));
	return &srv->vcache[k % TLS_VCACHE];
}

static bool
vcache_hit(gtls_server *srv, uint64_t gen, const unsigned char md[32], int64_t now)
{
	vslot *sl = vcache_slot(srv, md);
	bool hit;

	pthread_mutex_lock(&srv->v_mu);
	hit = sl->gen == gen && memcmp(sl->md, md, 32) == 0 && now >= sl->from &&
	    now < sl->until;
	pthread_mutex_unlock(&srv->v_mu);
	return hit;
}

/* Remember a chain GnuTLS verified with status 0 just now. */
static void
vcache_put(gtls_server *srv, const gconf *c, const gnutls_datum_t *certs,
    unsigned int n, X509 *leaf, const unsigned char md[32], int64_t now)
{
	int64_t until = now + TLS_VCACHE_TTL, t;
	vslot *sl;

	if (c->ca_until == 0 || leaf == NULL)
		return;
	if (c->ca_until < until)
		until = c->ca_until;
	if (c->crls != NULL && c->crl_next != 0 && c->crl_next < until)
		until = c->crl_next;
	if ((t = sp_tls_asn1_unix(X509_get0_notAfter(leaf))) == 0)
		return;
	if (t < until)
		until = t;
	for (unsigned int i = 1; i < n; i++) {
		const unsigned char *p = certs[i].data;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].size);

		t = x != NULL ? sp_tls_asn1_unix(X509_get0_notAfter(x)) : 0;
		X509_free(x);
		if (t == 0) {
			ERR_clear_error();
			return;
		}
		if (t < until)
			until = t;
	}
	if (until <= now)
		return;
	sl = vcache_slot(srv, md);
	pthread_mutex_lock(&srv->v_mu);
	memcpy(sl->md, md, 32);
	sl->gen = c->gen;
	sl->from = now;
	sl->until = until;
	pthread_mutex_unlock(&srv->v_mu);
}

/* GnuTLS calls this with the device's chain; nonzero fails the handshake. */
static int
verify_cb(gnutls_session_t s)
{
	gconn *g = gnutls_session_get_ptr(s);
	gconf *c = g->conf;
	unsigned int st = 0;
	int rv, bucket = -1;
	char subj[256] = "", reason[256] = "";
	const char *why = "";
	X509 *leaf;
	const gnutls_datum_t *certs;
	unsigned int ncerts = 0;
	unsigned char md[32];
	bool have_md, remember = false;
	int64_t now = sp_now();
	bool in_grace = c->crls != NULL && c->crl_next != 0 && now >= c->crl_next &&
	    now < c->crl_next + c->crl_grace;

	leaf = peer_leaf(g);
	certs = gnutls_certificate_get_peers(s, &ncerts);
	have_md = leaf != NULL && certs != NULL && ncerts > 0 &&
	    chain_digest(certs, ncerts, md);
	if (have_md && vcache_hit(g->srv, c->gen, md, now)) {
		rv = 0; /* this chain verified under this configuration before */
	} else {
		rv = gnutls_certificate_verify_peers2(s, &st);
		remember = have_md && rv == 0 && st == 0;
	}
	if (rv == GNUTLS_E_NO_CERTIFICATE_FOUND) {
		bucket = SP_TLS_VF_NO_CERT;
		snprintf(reason, sizeof(reason), "no certificate");
		goto out;
	}
	if (rv < 0) {
		bucket = rv == GNUTLS_E_CONSTRAINT_ERROR ? SP_TLS_VF_CHAIN_TOO_LONG :
		    SP_TLS_VF_OTHER;
		snprintf(reason, sizeof(reason), "%s", gnutls_strerror(rv));
		goto out;
	}
	if (leaf == NULL) {
		bucket = SP_TLS_VF_OTHER;
		snprintf(reason, sizeof(reason), "certificate does not parse");
		goto out;
	}
	/* During crl-grace the expired CRL stays in force (checked below). */
	if (in_grace)
		st &= ~(unsigned int)GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED;
	if ((st & ~(unsigned int)GNUTLS_CERT_INVALID) != 0 ||
	    (st == GNUTLS_CERT_INVALID && !in_grace)) {
		gnutls_datum_t txt = { NULL, 0 };

		bucket = status_bucket(st);
		if (gnutls_certificate_verification_status_print(st, GNUTLS_CRT_X509,
		    &txt, 0) == 0)
			snprintf(reason, sizeof(reason), "%s", (const char *)txt.data);
		gnutls_free(txt.data);
		goto out;
	}
	if (c->crls == NULL)
		goto out;
	if (c->crl_next != 0 && sp_now() >= c->crl_next && !in_grace) {
		bucket = SP_TLS_VF_CRL_EXPIRED;
		goto out;
	}
	if (!has_issuer_crl(c, leaf)) {
		bucket = SP_TLS_VF_CRL_MISSING;
		snprintf(reason, sizeof(reason), "no CRL from the certificate's issuer");
		goto out;
	}
	if (sp_tls_crls_refuse(c->crls, leaf, &why)) {
		bucket = strcmp(why, "certificate revoked") == 0 ? SP_TLS_VF_REVOKED :
		    SP_TLS_VF_EXPIRED;
		snprintf(reason, sizeof(reason), "%s", why);
	}
out:
	if (bucket < 0) {
		if (remember)
			vcache_put(g->srv, c, certs, ncerts, leaf, md, now);
		return 0;
	}
	leaf_subject(leaf, subj, sizeof(subj));
	atomic_fetch_add(&g->srv->st->vf[bucket], 1);
	if (bucket == SP_TLS_VF_CRL_EXPIRED)
		sp_err("tls: CRL EXPIRED: refusing device '%s' (set crl_grace to keep "
		    "the last CRL in force; publish a new CRL)", subj);
	else
		sp_info("tls: client certificate refused: %s (subject '%s')", reason, subj);
	g->counted = true; /* the handshake failure is counted once, here */
	atomic_fetch_add(&g->srv->st->hs[SP_TLS_HS_FAILED], 1);
	return -1;
}

/* --- TLS 1.2 session-ID cache --- */

static size_t
sess_hash(const gnutls_datum_t *key)
{
	return (size_t)(sp_fnv1a(key->data, key->size) % TLS_SESSION_CACHE_SLOTS);
}

static int
sess_store(void *arg, gnutls_datum_t key, gnutls_datum_t data)
{
	gtls_server *srv = arg;
	sess_slot *sl;
	unsigned char *copy;

	if (key.size == 0 || key.size > TLS_SESSION_ID_MAX || data.size > TLS_SESSION_DATA_MAX)
		return -1;
	if ((copy = malloc(data.size)) == NULL)
		return -1;
	memcpy(copy, data.data, data.size);
	pthread_mutex_lock(&srv->sess_mu);
	sl = &srv->sess[sess_hash(&key)];
	if (sl->data != NULL) {
		OPENSSL_cleanse(sl->data, sl->len);
		free(sl->data);
	}
	memcpy(sl->id, key.data, key.size);
	sl->idlen = key.size;
	sl->data = copy;
	sl->len = data.size;
	sl->expires = sp_now() + atomic_load(&srv->expiration);
	pthread_mutex_unlock(&srv->sess_mu);
	return 0;
}

static gnutls_datum_t
sess_fetch(void *arg, gnutls_datum_t key)
{
	gtls_server *srv = arg;
	gnutls_datum_t out = { NULL, 0 };
	sess_slot *sl;

	if (key.size == 0 || key.size > TLS_SESSION_ID_MAX)
		return out;
	pthread_mutex_lock(&srv->sess_mu);
	sl = &srv->sess[sess_hash(&key)];
	if (sl->data != NULL && sl->idlen == key.size &&
	    memcmp(sl->id, key.data, key.size) == 0 && sp_now() < sl->expires &&
	    (out.data = gnutls_malloc(sl->len)) != NULL) {
		memcpy(out.data, sl->data, sl->len);
		out.size = (unsigned int)sl->len;
	}
	pthread_mutex_unlock(&srv->sess_mu);
	return out;
}

static int
sess_remove(void *arg, gnutls_datum_t key)
{
	gtls_server *srv = arg;
	sess_slot *sl;
	int rv = -1;

	if (key.size == 0 || key.size > TLS_SESSION_ID_MAX)
		return -1;
	pthread_mutex_lock(&srv->sess_mu);
	sl = &srv->sess[sess_hash(&key)];
	if (sl->data != NULL && sl->idlen == key.size &&
	    memcmp(sl->id, key.data, key.size) == 0) {
		OPENSSL_cleanse(sl->data, sl->len);
		free(sl->data);
		memset(sl, 0, sizeof(*sl));
		rv = 0;
	}
	pthread_mutex_unlock(&srv->sess_mu);
	return rv;
}

/* --- configuration --- */

/* Every CRL must be signed by a CA of the device CA file. */
static sp_result
crls_check_signed(const char *ca_file, STACK_OF(X509_CRL) *crls)
{
	sp_result res = SP_OK;
	sp_buf data;
	BIO *bio = NULL;
	X509 *ca = NULL;
	STACK_OF(X509) *cas = NULL;

	sp_buf_init(&data, SP_TLS_CERT_MAX);
	TRY(sp_read_file(ca_file, SP_TLS_CERT_MAX, &data));
	TRY_OSSL_PTR(cas, sk_X509_new_null(), "CA list");
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(data.p, (int)data.len), "CA buffer");
	while ((ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		ENSURE(sk_X509_push(cas, ca) > 0, SP_E_NOMEM, "out of memory");
		ca = NULL;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		bool ok = false;

		for (int j = 0; j < sk_X509_num(cas) && !ok; j++) {
			X509 *x = sk_X509_value(cas, j);
			ok = X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) == 0 &&
			    X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1;
		}
		ENSURE(ok, SP_E_VERIFY, "CRL %d is not signed by a CA of %s", i + 1, ca_file);
	}
out:
	X509_free(ca);
	sk_X509_pop_free(cas, X509_free);
	BIO_free(bio);
	sp_buf_free(&data);
	ERR_clear_error();
	return res;
}

static sp_result
gnutls_fail(int rv, const char *what, const char *file)
{
	return sp_error(SP_E_CRYPTO, "%s %s: %s", what, file ? file : "", gnutls_strerror(rv));
}

/* The earliest notAfter of the trust list's CAs (0: none, or unreadable). */
static int64_t
ca_until(gnutls_certificate_credentials_t cred)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_trust_list_iter_t it = NULL;
	gnutls_x509_crt_t ca;
	int64_t until = 0;
	bool ok = true;

	gnutls_certificate_get_trust_list(cred, &tl);
	if (tl == NULL)
		return 0;
	while (gnutls_x509_trust_list_iter_get_ca(tl, &it, &ca) == 0) {
		time_t t = gnutls_x509_crt_get_expiration_time(ca);

		if (t == (time_t)-1)
			ok = false;
		else if (until == 0 || (int64_t)t < until)
			until = (int64_t)t;
		gnutls_x509_crt_deinit(ca);
	}
	gnutls_x509_trust_list_iter_deinit(it);
	return ok ? until : 0;
}

static sp_result
build_conf(gtls_server *srv, const sp_tls_config *cfg, gconf **out)
{
	sp_result res = SP_OK;
	gconf *c = NULL;
	const char *err_pos = NULL;
	int rv;
	sp_buf crl;

	sp_buf_init(&crl, SP_TLS_CERT_MAX);
	ENSURE(cfg->cert_file && cfg->key_file && cfg->client_ca_file, SP_E_USAGE,
	    "the server certificate, key and device CA files are all required");
	ENSURE(cfg->verify_depth >= 1 && cfg->verify_depth <= SP_TLS_VERIFY_DEPTH_MAX,
	    SP_E_USAGE, "verify depth %d is not in 1..%d", cfg->verify_depth,
	    SP_TLS_VERIFY_DEPTH_MAX);
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	atomic_init(&c->refs, 1);
	c->gen = atomic_fetch_add(&srv->next_gen, 1) + 1;
	c->srv = srv;
	c->crl_grace = cfg->crl_grace;
	c->expiration = (int)((cfg->ticket_rotate > 0 ? cfg->ticket_rotate :
	    SP_TLS_TICKET_ROTATE_DEFAULT) * (SP_TLS_TICKET_KEYS - 1));
	if (c->expiration > TLS_EXPIRATION_MAX)
		c->expiration = TLS_EXPIRATION_MAX;

	if ((rv = gnutls_priority_init(&c->prio, TLS_PRIORITY, &err_pos)) < 0) {
		res = sp_error(SP_E_CRYPTO, "TLS priority string at '%s': %s",
		    err_pos ? err_pos : "?", gnutls_strerror(rv));
		goto out;
	}
	if ((rv = gnutls_certificate_allocate_credentials(&c->cred)) < 0) {
		res = gnutls_fail(rv, "credentials", NULL);
		goto out;
	}
	if ((rv = gnutls_certificate_set_x509_key_file2(c->cred, cfg->cert_file,
	    cfg->key_file, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		if (rv == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			res = sp_error(SP_E_CRYPTO, "server key %s does not match certificate "
			    "%s (key values mismatch)", cfg->key_file, cfg->cert_file);
		else
			res = sp_error(SP_E_CRYPTO, "server certificate %s / key %s: %s",
			    cfg->cert_file, cfg->key_file, gnutls_strerror(rv));
		goto out;
	}
	rv = gnutls_certificate_set_x509_trust_file(c->cred, cfg->client_ca_file,
	    GNUTLS_X509_FMT_PEM);
	if (rv <= 0) {
		res = rv == 0 ? sp_error(SP_E_CRYPTO, "device CA %s: no certificate",
		    cfg->client_ca_file) : gnutls_fail(rv, "device CA", cfg->client_ca_file);
		goto out;
	}
	c->ca_until = ca_until(c->cred);
	/* GnuTLS counts the whole chain; our depth counts the CAs above the leaf. */
	gnutls_certificate_set_verify_limits(c->cred, TLS_MAX_KEY_BITS,
	    (unsigned int)cfg->verify_depth + 1);
	gnutls_certificate_set_verify_function(c->cred, verify_cb);

	if (cfg->crl_file != NULL) {
		gnutls_datum_t d;

		TRY(sp_error_wrap(sp_tls_crls_load(cfg->crl_file, &c->crls), "CRL"));
		TRY(sp_error_wrap(crls_check_signed(cfg->client_ca_file, c->crls), "CRL %s",
		    cfg->crl_file));
		for (int i = 0; i < sk_X509_CRL_num(c->crls); i++) {
			X509_CRL *x = sk_X509_CRL_value(c->crls, i);
			int64_t lu = sp_tls_asn1_unix(X509_CRL_get0_lastUpdate(x));
			int64_t nu = sp_tls_asn1_unix(X509_CRL_get0_nextUpdate(x));

			if (lu > c->crl_last)
				c->crl_last = lu;
			if (nu != 0 && (c->crl_next == 0 || nu < c->crl_next))
				c->crl_next = nu;
		}
		/*
		 * GnuTLS checks revocation during the chain verification too.
		 * It drops CRLs that do not verify (an expired one among them):
		 * our own check in verify_cb covers those.
		 */
		TRY(sp_read_file(cfg->crl_file, SP_TLS_CERT_MAX, &crl));
		d.data = (unsigned char *)crl.p;
		d.size = (unsigned int)crl.len;
		rv = gnutls_certificate_set_x509_crl_mem(c->cred, &d,
		    crl.len > 0 && memmem(crl.p, crl.len, "-----BEGIN", 10) != NULL ?
		    GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
		if (rv < 0) {
			res = gnutls_fail(rv, "CRL", cfg->crl_file);
			goto out;
		}
	}
	*out = c;
	c = NULL;
out:
	sp_buf_free(&crl);
	conf_unref(c);
	ERR_clear_error();
	return res;
}

static void gtls_server_free(void *impl);

static sp_result
gtls_server_new(const sp_tls_hooks *hooks, sp_tls_stats *st, void **out)
{
	sp_result res = SP_OK;
	gtls_server *srv = NULL;
	int rv;

	TRY_ALLOC(srv, calloc(1, sizeof(*srv)));
	if (hooks != NULL)
		srv->hooks = *hooks;
	srv->st = st;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->sess_mu, NULL);
	pthread_rwlock_init(&srv->key_mu, NULL);
	srv->cfg.rotate = SP_TLS_TICKET_ROTATE_DEFAULT;
	atomic_init(&srv->expiration, SP_TLS_TICKET_ROTATE_DEFAULT);
	pthread_mutex_init(&srv->leaf_mu, NULL);
	TRY_ALLOC(srv->sess, calloc(TLS_SESSION_CACHE_SLOTS, sizeof(sess_slot)));
	TRY_ALLOC(srv->leaves, calloc(TLS_LEAF_CACHE, sizeof(leaf_slot)));
	pthread_mutex_init(&srv->v_mu, NULL);
	TRY_ALLOC(srv->vcache, calloc(TLS_VCACHE, sizeof(vslot)));
	if ((rv = gnutls_session_ticket_key_generate(&srv->ticket_key)) < 0) {
		res = gnutls_fail(rv, "session ticket key", NULL);
		goto out;
	}
	*out = srv;
	srv = NULL;
out:
	gtls_server_free(srv);
	return res;
}

static void
gtls_server_free(void *impl)
{
	gtls_server *srv = impl;

	if (srv == NULL)
		return;
	conf_unref(srv->cur);
	free(srv->cfg.cert);
	free(srv->cfg.key);
	free(srv->cfg.ca);
	free(srv->cfg.crl);
	for (size_t i = 0; srv->sess != NULL && i < TLS_SESSION_CACHE_SLOTS; i++)
		if (srv->sess[i].data != NULL) {
			OPENSSL_cleanse(srv->sess[i].data, srv->sess[i].len);
			free(srv->sess[i].data);
		}
	free(srv->sess);
	for (size_t i = 0; srv->leaves != NULL && i < TLS_LEAF_CACHE; i++) {
		free(srv->leaves[i].der);
		X509_free(srv->leaves[i].x);
	}
	free(srv->leaves);
	pthread_mutex_destroy(&srv->leaf_mu);
	free(srv->vcache);
	pthread_mutex_destroy(&srv->v_mu);
	if (srv->ticket_key.data != NULL) {
		gnutls_memset(srv->ticket_key.data, 0, srv->ticket_key.size);
		gnutls_free(srv->ticket_key.data);
	}
	pthread_mutex_destroy(&srv->mu);
	pthread_mutex_destroy(&srv->sess_mu);
	pthread_rwlock_destroy(&srv->key_mu);
	free(srv);
}

static sp_result
gtls_config_check(const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	void *srv = NULL;
	gconf *c = NULL;
	sp_tls_stats st;

	memset(&st, 0, sizeof(st));
	TRY(gtls_server_new(NULL, &st, &srv));
	TRY(build_conf(srv, cfg, &c));
out:
	conf_unref(c);
	gtls_server_free(srv);
	return res;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static sp_result
gtls_load(void *impl, const sp_tls_config *cfg)
{
	gtls_server *srv = impl;
	sp_result res = SP_OK;
	gconf *c = NULL, *old = NULL;
	struct stat st;
	bool st_ok = false;
	char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
	int64_t now = sp_now();

	if (cfg->crl_file != NULL && stat(cfg->crl_file, &st) == 0)
		st_ok = true;
	res = build_conf(srv, cfg, &c);
	if (sp_failed(res)) {
		atomic_fetch_add(&srv->st->reload_failed, 1);
		goto out;
	}
	TRY_ALLOC(cert, strdup(cfg->cert_file));
	TRY_ALLOC(key, strdup(cfg->key_file));
	TRY_ALLOC(ca, strdup(cfg->client_ca_file));
	if (cfg->crl_file != NULL)
		TRY_ALLOC(crl, strdup(cfg->crl_file));
	if (cfg->crl_file == NULL) {
		sp_warn("tls: no CRL configured: revoked devices are NOT refused");
	} else {
		sp_info("tls: CRL %s loaded: %d list(s), nextUpdate in %lld s",
		    cfg->crl_file, sk_X509_CRL_num(c->crls),
		    (long long)(c->crl_next ? c->crl_next - now : 0));
		if (c->crl_next != 0 && c->crl_next < now)
			sp_err("tls: CRL %s EXPIRED %lld s ago: %s", cfg->crl_file,
			    (long long)(now - c->crl_next),
			    now < c->crl_next + c->crl_grace ?
			    "still in force during crl_grace" :
			    "ALL DEVICES ARE REFUSED until a fresh CRL is installed");
	}

	pthread_mutex_lock(&srv->mu);
	old = srv->cur;
	srv->cur = c;
	atomic_store(&srv->cur_gen, c->gen);
	c = NULL;
	free(srv->cfg.cert);
	free(srv->cfg.key);
	free(srv->cfg.ca);
	free(srv->cfg.crl);
	srv->cfg.cert = cert;
	srv->cfg.key = key;
	srv->cfg.ca = ca;
	srv->cfg.crl = crl;
	cert = key = ca = crl = NULL;
	srv->cfg.depth = cfg->verify_depth;
	srv->cfg.grace = cfg->crl_grace;
	srv->cfg.rotate = cfg->ticket_rotate > 0 ? cfg->ticket_rotate :
	    SP_TLS_TICKET_ROTATE_DEFAULT;
	srv->crl_stat_ok = st_ok;
	if (st_ok)
		srv->crl_stat = st;
	atomic_store(&srv->expiration, srv->cur->expiration);
	pthread_mutex_unlock(&srv->mu);
	atomic_fetch_add(&srv->st->reload_ok, 1);
out:
	conf_unref(old);
	conf_unref(c);
	free(cert);
	free(key);
	free(ca);
	free(crl);
	return res;
}

static void
gtls_crl_state(void *impl, sp_tls_crl_state *out)
{
	gtls_server *srv = impl;
	gconf *c = cur_conf(srv);
	int64_t now = sp_now();

	memset(out, 0, sizeof(*out));
	if (c != NULL && c->crls != NULL) {
		out->loaded = true;
		out->last_update = c->crl_last;
		out->next_update = c->crl_next;
		out->expired = c->crl_next != 0 && c->crl_next < now;
		out->in_grace = out->expired && now < c->crl_next + c->crl_grace;
	}
	conf_unref(c);
}

/* XXX: the same as the OpenSSL backend's; move both into tls.c. */
static sp_result
gtls_poll_crl(void *impl, bool *reloaded)
{
	gtls_server *srv = impl;
	sp_result res = SP_OK;
	struct stat st;
	bool changed = false;
	sp_tls_config cfg = { .backend = SP_TLS_GNUTLS };
	char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
	sp_tls_crl_state cs;
	int64_t now = sp_now();

	*reloaded = false;
	pthread_mutex_lock(&srv->mu);
	if (srv->cfg.crl != NULL && stat(srv->cfg.crl, &st) == 0) {
		changed = !srv->crl_stat_ok || st.st_ino != srv->crl_stat.st_ino ||
		    st.st_size != srv->crl_stat.st_size ||
		    st.st_mtim.tv_sec != srv->crl_stat.st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != srv->crl_stat.st_mtim.tv_nsec ||
		    st.st_dev != srv->crl_stat.st_dev;
	}
	if (changed) {
		cert = dup_or_null(srv->cfg.cert);
		key = dup_or_null(srv->cfg.key);
		ca = dup_or_null(srv->cfg.ca);
		crl = dup_or_null(srv->cfg.crl);
		cfg.verify_depth = srv->cfg.depth;
		cfg.crl_grace = srv->cfg.grace;
		cfg.ticket_rotate = srv->cfg.rotate;
	}
	pthread_mutex_unlock(&srv->mu);
	if (changed) {
		ENSURE(cert && key && ca && crl, SP_E_NOMEM, "out of memory");
		cfg.cert_file = cert;
		cfg.key_file = key;
		cfg.client_ca_file = ca;
		cfg.crl_file = crl;
		sp_info("tls: CRL file %s changed, reloading", crl);
		TRY(sp_error_wrap(gtls_load(srv, &cfg), "CRL reload"));
		*reloaded = true;
	}
	gtls_crl_state(srv, &cs);
	if (cs.expired && now - srv->crl_warned_at >= TLS_CRL_WARN_EVERY) {
		srv->crl_warned_at = now;
		sp_err("tls: CRL EXPIRED %lld s ago: %s", (long long)(now - cs.next_update),
		    cs.in_grace ? "still in force during crl_grace" :
		    "ALL DEVICES ARE REFUSED until a fresh CRL is installed");
	}
out:
	free(cert);
	free(key);
	free(ca);
	free(crl);
	return res;
}

static void
gtls_rotate_tickets(void *impl, bool force)
{
	gtls_server *srv = impl;
	gnutls_datum_t k = { NULL, 0 }, old;

	/* GnuTLS rotates the derived keys itself; see the top of this file. */
	if (!force)
		return;
	if (gnutls_session_ticket_key_generate(&k) < 0) {
		sp_err("tls: no randomness for a new ticket key; keeping the old one");
		return;
	}
	pthread_rwlock_wrlock(&srv->key_mu);
	old = srv->ticket_key;
	srv->ticket_key = k;
	pthread_rwlock_unlock(&srv->key_mu);
	if (old.data != NULL) {
		gnutls_memset(old.data, 0, old.size);
		gnutls_free(old.data);
	}
}

/* --- connections --- */

static evutil_socket_t
conn_fd(gconn *g)
{
	int one = 1;

	if (g->fd < 0 && (g->fd = bufferevent_getfd(g->under)) >= 0)
		/* Each record goes out at once (see the OpenSSL backend's info_cb). */
		(void)setsockopt(g->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return g->fd;
}

/*
 * Records go straight to the socket, not through the socket bufferevent's
 * output: then "the filter's output is drained" means "in the kernel", as
 * with bufferevent_openssl, and evhttp may free the connection as soon as
 * its write callback runs without losing the end of an answer.
 */
static ssize_t
push_cb(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	gconn *g = p;
	ssize_t n;

	if (conn_fd(g) < 0) {
		gnutls_transport_set_errno(g->s, EBADF);
		return -1;
	}
	do
		n = send(g->fd, data, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		gnutls_transport_set_errno(g->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

/*
 * The same, for all the records GnuTLS has ready at once: its first
 * flight (ServerHello to Finished, 7 records in TLS 1.3) and its tickets
 * went out as one send() each, 11 per full handshake with the answer and
 * close_notify; with TCP_NODELAY each was a segment and a wakeup of the
 * client.  One sendmsg() per flush instead.
 */
static ssize_t
vec_push_cb(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	gconn *g = p;
	struct msghdr mh;
	ssize_t n;

	if (conn_fd(g) < 0) {
		gnutls_transport_set_errno(g->s, EBADF);
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(void *)iov; /* giovec_t is struct iovec */
	mh.msg_iovlen = (size_t)iovcnt;
	do
		n = sendmsg(g->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		gnutls_transport_set_errno(g->s, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

static ssize_t
pull_cb(gnutls_transport_ptr_t p, void *data, size_t len)
{
	gconn *g = p;
	int n = evbuffer_remove(bufferevent_get_input(g->under), data, len);

	if (n <= 0) {
		gnutls_transport_set_errno(g->s, EAGAIN);
		return -1;
	}
	return n;
}

/* The connection is over: alert the peer (best effort) and tell evhttp. */
static void wev_arm(gconn *g, bool now);

static void
conn_fail(gconn *g, int rv)
{
	if (g->failed)
		return;
	g->failed = true;
	if (rv < 0 && gnutls_error_is_fatal(rv))
		(void)gnutls_alert_send_appropriate(g->s, rv);
	bufferevent_trigger_event(g->bev, BEV_EVENT_ERROR | BEV_EVENT_READING,
	    BEV_TRIG_DEFER_CALLBACKS);
}

/* The handshake completed: count it; refuse a revoked resumption. */
static bool
handshake_done(gconn *g)
{
	X509 *leaf;
	const char *why;
	char subj[256];

	g->done = true;
	g->resumed = gnutls_session_is_resumed(g->s) != 0;
	if (g->resumed && (leaf = peer_leaf(g)) != NULL && refused_now(g->srv, leaf, &why)) {
		gnutls_datum_t id;
		unsigned char idbuf[TLS_SESSION_ID_MAX];
		size_t idlen = sizeof(idbuf);

		atomic_fetch_add(&g->srv->st->resume_refused, 1);
		leaf_subject(leaf, subj, sizeof(subj));
		sp_warn("tls: resumption refused (%s): '%s'; connection closed", why, subj);
		if (gnutls_session_get_id(g->s, idbuf, &idlen) == 0 && idlen > 0) {
			id.data = idbuf;
			id.size = (unsigned int)idlen;
			(void)sess_remove(g->srv, id);
		}
		g->counted = true;
		atomic_fetch_add(&g->srv->st->hs[SP_TLS_HS_FAILED], 1);
		return false;
	}
	atomic_fetch_add(&g->srv->st->hs[g->resumed ? SP_TLS_HS_RESUMED : SP_TLS_HS_FULL], 1);
	if (g->srv->hooks.handshake_done != NULL)
		g->srv->hooks.handshake_done(g->conn, g->resumed);
	return true;
}

static void
handshake_failed(gconn *g, int rv)
{
	if (!g->counted) {
		g->counted = true;
		atomic_fetch_add(&g->srv->st->hs[SP_TLS_HS_FAILED], 1);
		if (rv == GNUTLS_E_NO_CERTIFICATE_FOUND || rv == GNUTLS_E_CERTIFICATE_REQUIRED) {
			atomic_fetch_add(&g->srv->st->vf[SP_TLS_VF_NO_CERT], 1);
			sp_info("tls: client certificate refused: no certificate");
		} else {
			sp_debug("tls: handshake failed: %s", gnutls_strerror(rv));
		}
	}
	conn_fail(g, rv);
}

/*
 * The socket is writable again, or evhttp queued output while its write
 * side was disabled (bufferevent_filter processes output only when data is
 * added with EV_WRITE enabled, and enabling it later does not run it).
 */
static void
wev_cb(evutil_socket_t fd, short what, void *arg)
{
	gconn *g = arg;
	struct evbuffer *in = bufferevent_get_input(g->bev);
	size_t before = evbuffer_get_length(in);
	bufferevent_event_cb alive = NULL;

	/*
	 * evhttp has freed the filter (bufferevent_free clears its callbacks;
	 * evhttp always has an event callback on a live one) and libevent
	 * finalizes it later.  Touching it now (a flush takes and drops a
	 * reference) would drop its count to zero a second time and free it
	 * twice: the SIGSEGV of a fleet cutting transfers at its timeout
	 * (ASan: gconn_free twice; libevent: "BEV_OPT_CLOSE_ON_FREE set on an
	 * bufferevent with too few references").
	 */
	bufferevent_getcb(g->bev, NULL, NULL, &alive, NULL);
	if (alive == NULL)
		return;
	if (!g->done) {
		(void)bufferevent_flush(g->bev, EV_READ, BEV_NORMAL);
		if (evbuffer_get_length(in) > before)
			bufferevent_trigger(g->bev, EV_READ, 0);
		return;
	}
	/* Only with output pending: an empty flush would run evhttp's writecb. */
	if (evbuffer_get_length(bufferevent_get_output(g->bev)) > 0)
		(void)bufferevent_flush(g->bev, EV_WRITE, BEV_FLUSH);
}

/* now: run wev_cb in this loop turn; else: when the socket is writable. */
static void
wev_arm(gconn *g, bool now)
{
	if (g->wev == NULL) {
		if (conn_fd(g) < 0)
			return;
		g->wev = event_new(bufferevent_get_base(g->bev), g->fd, EV_WRITE, wev_cb, g);
		if (g->wev == NULL) {
			sp_err("tls: out of memory for a write event; closing");
			conn_fail(g, 0);
			return;
		}
	}
	if (now)
		event_active(g->wev, EV_WRITE, 1);
	else
		(void)event_add(g->wev, NULL);
}

static void
out_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	gconn *g = arg;

	if (info->n_added > 0 && g->done && !(bufferevent_get_enabled(g->bev) & EV_WRITE))
		wev_arm(g, true);
}

static enum bufferevent_filter_result
filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	gconn *g = arg;
	bool got = false;
	int rv, nondata = 0;

	if (g->failed) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return BEV_ERROR;
	}
	if (!g->done) {
		rv = gnutls_handshake(g->s);
		if (rv == GNUTLS_E_AGAIN && gnutls_record_get_direction(g->s) == 1)
			wev_arm(g, false);
		if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED ||
		    (rv < 0 && !gnutls_error_is_fatal(rv)))
			return BEV_NEED_MORE;
		if (rv < 0) {
			handshake_failed(g, rv);
			return BEV_ERROR;
		}
		if (!handshake_done(g)) {
			conn_fail(g, 0);
			return BEV_ERROR;
		}
	}
	for (;;) {
		struct evbuffer_iovec v;
		ssize_t n;

		if (evbuffer_reserve_space(dst, TLS_RECORD_CHUNK, &v, 1) < 1)
			break;
		n = gnutls_record_recv(g->s, v.iov_base, v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			(void)evbuffer_commit_space(dst, &v, 1);
			got = true;
			continue;
		}
		if (n == 0) {
			/* close_notify: the peer is done sending. */
			bufferevent_trigger_event(g->bev, BEV_EVENT_EOF | BEV_EVENT_READING,
			    BEV_TRIG_DEFER_CALLBACKS);
			break;
		}
		if (n == GNUTLS_E_AGAIN)
			break;
		if (gnutls_error_is_fatal((int)n)) {
			sp_debug("tls: read: %s", gnutls_strerror((int)n));
			conn_fail(g, (int)n);
			return BEV_ERROR;
		}
		/* A warning alert, a key update, EINTR: no data; try again, boundedly. */
		if (++nondata > TLS_NONDATA_MAX)
			break;
	}
	return got ? BEV_OK : BEV_NEED_MORE;
}

static enum bufferevent_filter_result
filter_out(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
	gconn *g = arg;

	if (g->failed)
		return BEV_ERROR;
	if (!g->done)
		return BEV_NEED_MORE;
	while (evbuffer_get_length(src) > 0) {
		size_t n = evbuffer_get_length(src);
		unsigned char *p;
		ssize_t w;

		if (n > TLS_RECORD_CHUNK)
			n = TLS_RECORD_CHUNK;
		if ((p = evbuffer_pullup(src, (ev_ssize_t)n)) == NULL)
			return BEV_ERROR;
		w = gnutls_record_send(g->s, p, n);
		if (w > 0) {
			evbuffer_drain(src, (size_t)w);
			continue;
		}
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			/* Kept in src: evhttp's write callback waits for it. */
			wev_arm(g, false);
			break;
		}
		sp_debug("tls: write: %s", gnutls_strerror((int)w));
		conn_fail(g, (int)w);
		return BEV_ERROR;
	}
	return BEV_OK;
}

static void
gconn_free(void *arg)
{
	gconn *g = arg;

	if (g == NULL)
		return;
	if (g->bev != NULL)
		index_del(g);
	if (!g->done && !g->counted)
		atomic_fetch_add(&g->srv->st->hs[SP_TLS_HS_ABORTED], 1);
	if (g->srv->hooks.conn_free != NULL && g->conn != NULL)
		g->srv->hooks.conn_free(g->conn);
	if (g->wev != NULL)
		event_free(g->wev);
	if (g->s != NULL)
		gnutls_deinit(g->s);
	X509_free(g->leaf);
	conf_unref(g->conf);
	free(g);
}

static struct bufferevent *
gtls_bev_new(void *impl, struct event_base *base, void *conn)
{
	gtls_server *srv = impl;
	gconn *g = NULL;
	struct bufferevent *under = NULL, *bev = NULL;
	bool ok = false;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto out;
	g->srv = srv;
	g->conn = conn;
	g->fd = -1;
	if ((g->conf = cur_conf(srv)) == NULL)
		goto out;
	if (gnutls_init(&g->s, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0 ||
	    gnutls_priority_set(g->s, g->conf->prio) < 0 ||
	    gnutls_credentials_set(g->s, GNUTLS_CRD_CERTIFICATE, g->conf->cred) < 0)
		goto out;
	gnutls_certificate_server_set_request(g->s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_ptr(g->s, g);
	gnutls_transport_set_ptr(g->s, g);
	gnutls_transport_set_push_function(g->s, push_cb);
	gnutls_transport_set_vec_push_function(g->s, vec_push_cb);
	gnutls_transport_set_pull_function(g->s, pull_cb);
	gnutls_db_set_retrieve_function(g->s, sess_fetch);
	gnutls_db_set_store_function(g->s, sess_store);
	gnutls_db_set_remove_function(g->s, sess_remove);
	gnutls_db_set_ptr(g->s, srv);
	gnutls_db_set_cache_expiration(g->s, g->conf->expiration);
	pthread_rwlock_rdlock(&srv->key_mu);
	ok = gnutls_session_ticket_enable_server(g->s, &srv->ticket_key) == 0;
	pthread_rwlock_unlock(&srv->key_mu);
	if (!ok)
		goto out;
	if ((under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto out;
	g->under = under;
	bev = bufferevent_filter_new(under, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE,
	    gconn_free, g);
	if (bev == NULL)
		goto out;
	under = NULL; /* the filter owns it */
	g->bev = bev;
	if (evbuffer_add_cb(bufferevent_get_output(bev), out_added, g) == NULL) {
		bufferevent_free(bev); /* frees g */
		bev = NULL;
		g = NULL;
		goto out;
	}
	index_add(g);
	g = NULL; /* the filter owns it; freeing the filter calls conn_free */
out:
	if (g != NULL) {
		g->bev = NULL;
		gconn_free(g); /* calls the conn_free hook, as the OpenSSL backend does */
	}
	if (under != NULL)
		bufferevent_free(under);
	return bev;
}

static bool
gtls_bev_close(struct bufferevent *bev)
{
	gconn *g = index_find(bev);

	if (g == NULL)
		return false;
	/* GnuTLS keeps sessions whatever the close; close_notify is courtesy. */
	if (g->done && !g->failed)
		(void)gnutls_bye(g->s, GNUTLS_SHUT_WR);
	return true;
}

static bool
gtls_bev_conn(struct bufferevent *bev, void **conn)
{
	gconn *g = index_find(bev);

	if (g == NULL)
		return false;
	*conn = g->conn;
	return true;
}

static const char *
version_name(gnutls_protocol_t v)
{
	switch (v) {
	case GNUTLS_TLS1_3:
		return "TLSv1.3";
	case GNUTLS_TLS1_2:
		return "TLSv1.2";
	default:
		return "unknown";
	}
}

/*
 * Is the connection's certificate revoked or expired under the CURRENT
 * configuration?  The full check (sp_tls_crls_refuse) runs once per
 * configuration per connection; a keep-alive request under the same one
 * only compares a generation and the clock (perf: the CRL walk, the
 * configuration lock and the identity parse were ~6 % of the CPU per
 * keep-alive request).
 */
static bool
peer_refused(gconn *g, X509 *cert, const char **why)
{
	gtls_server *srv = g->srv;
	gconf *c;
	bool bad;

	*why = "";
	if (g->peer_ok_gen != 0 && g->peer_ok_gen == atomic_load(&srv->cur_gen) &&
	    sp_now() < g->peer_not_after)
		return false;
	pthread_mutex_lock(&srv->mu);
	c = srv->cur;
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&srv->mu);
	bad = sp_tls_crls_refuse(c ? c->crls : NULL, cert, why);
	g->peer_ok_gen = 0;
	if (!bad && c != NULL) {
		g->peer_ok_gen = c->gen;
		g->peer_not_after = sp_tls_asn1_unix(X509_get0_notAfter(cert));
	}
	conf_unref(c);
	return bad;
}

static sp_result
gtls_peer_get(void *impl, struct bufferevent *bev, sp_idstyle style, sp_tls_peer *out)
{
	sp_result res = SP_OK;
	gconn *g = index_find(bev);
	X509 *cert;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	const char *why;

	(void)impl;
	memset(out, 0, sizeof(*out));
	out->version = "";
	ENSURE(g != NULL && g->done, SP_E_INTERNAL, "not a TLS connection");
	if (g->peer_known && g->peer_style == style) {
		*out = g->peer;
		cert = g->leaf;
	} else {
		g->peer_known = false;
		out->resumed = g->resumed;
		out->version = version_name(gnutls_protocol_get_version(g->s));
		cert = peer_leaf(g);
		ENSURE(cert != NULL, SP_E_VERIFY, "no client certificate");
		TRY_OSSL_PTR(bn, ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL),
		    "certificate serial");
		TRY_OSSL_PTR(hex, BN_bn2hex(bn), "certificate serial");
		snprintf(out->cert_serial, sizeof(out->cert_serial), "%s", hex);
	}
	ENSURE(!peer_refused(g, cert, &why), SP_E_VERIFY, "%s since the handshake%s",
	    why, out->resumed ? " (resumed session)" : "");
	if (!g->peer_known) {
		TRY(sp_devid_from_x509(cert, style, &out->id));
		g->peer = *out;
		g->peer_style = style;
		g->peer_known = true;
	}
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return res;
}

const sp_tls_ops sp_tls_gnutls_ops = {
	.name = "gnutls",
	.server_new = gtls_server_new,
	.server_free = gtls_server_free,
	.load = gtls_load,
	.config_check = gtls_config_check,
	.poll_crl = gtls_poll_crl,
	.rotate_tickets = gtls_rotate_tickets,
	.bev_new = gtls_bev_new,
	.bev_close = gtls_bev_close,
	.bev_conn = gtls_bev_conn,
	.peer_get = gtls_peer_get,
	.crl_state = gtls_crl_state,
};
