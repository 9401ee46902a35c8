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
 * Configuration.  The backend's half of a configuration (sp_tls_conf.b)
 * is one `gconf`: GnuTLS certificate credentials (server chain and key,
 * device CA as trust list, the CRL) and the priority cache.  The shared
 * half (tls_internal.h) keeps the CRLs as OpenSSL objects; a connection
 * holds the configuration it started with, so a reload never disturbs an
 * open connection.
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
 * Identity.  The leaf is parsed once per connection with OpenSSL's d2i
 * (through the shared parsed-leaf cache) and given to the shared layer,
 * which applies sp_devid_from_x509(), as for the OpenSSL backend: one implementation of the identity rule (multi-valued RDNs,
 * string types, duplicate attributes) rather than a second one built on
 * GnuTLS's DN parser that could drift from it.
 *
 * Resumption and revocation.  GnuTLS does not call the verify function on
 * resumption.  When a resumed handshake completes, the session's peer
 * certificate (GnuTLS keeps it in tickets and cached sessions) is checked
 * against the CURRENT CRLs; a revoked or expired one is logged, counted and
 * the connection closed before any request is read (sp_tls_hs_done).
 * GnuTLS has no hook to turn the resumption into a full handshake as the
 * OpenSSL backend does.  sp_tls_peer_get() repeats the check before every
 * request.
 *
 * Session cache.  TLS 1.2 session IDs go to a bounded direct-mapped cache
 * (gnutls_db_*, tls_cache.c), shared by all configurations: the check above makes that
 * safe across CRL reloads.  Tickets (1.2 and 1.3) use one master key (a
 * cluster's: keys[0] of set_tickets); GnuTLS derives time-based keys from it
 * alike on every node and rotates them every cache-expiration period (accepting
 * the previous one): a periodic rotate is a no-op, a forced one replaces it. */
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/util.h"
#include "pki/token.h"
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
#define TLS_SESSION_ID_MAX 32
#define TLS_CONN_INDEX 8192           /* buckets of the bev -> conn index */
#define TLS_RECORD_CHUNK 16384
#define TLS_EXPIRATION_MAX 604800     /* GnuTLS's cap on cache expiration */
#define TLS_NONDATA_MAX 64            /* records without data per read */

typedef struct gtls_server {
	sp_tls_server *srv;
	pthread_rwlock_t key_mu;
	gnutls_datum_t ticket_key;
} gtls_server;

typedef struct gconf {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	int expiration;             /* session/ticket lifetime, s */
} gconf;

typedef struct gconn {
	sp_tls_pconn pc;            /* pc.conf->b is our gconf */
	gtls_server *gs;
	gnutls_session_t s;
	struct bufferevent *bev;    /* the filter */
	struct bufferevent *under;  /* the socket bufferevent */
	struct event *wev;          /* socket writable / output to process */
	evutil_socket_t fd;         /* -1 until evhttp sets it */
	bool failed;
	struct gconn *next;         /* bucket chain of the index */
} gconn;

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

static gconf *
gconf_of(const gconn *g)
{
	return g->pc.conf->b;
}

/* The peer's leaf as an OpenSSL X509 (owned by g), or NULL. */
static X509 *
peer_leaf(gconn *g)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;

	if (g->pc.leaf != NULL)
		return g->pc.leaf;
	certs = gnutls_certificate_get_peers(g->s, &n);
	if (certs == NULL || n == 0 || certs[0].size > SP_TLS_CERT_MAX)
		return NULL;
	g->pc.leaf = sp_tls_leaf_parse(g->pc.srv->cache, certs[0].data, certs[0].size);
	return g->pc.leaf;
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

/* The SHA-256 of exactly the certificates the device sent. */
static bool
chain_md(const gnutls_datum_t *certs, unsigned int n, unsigned char md[SP_TLS_MD_LEN])
{
	sp_tls_md m;

	if (!sp_tls_md_init(&m))
		return false;
	for (unsigned int i = 0; i < n; i++)
		sp_tls_md_add(&m, certs[i].data, certs[i].size);
	return sp_tls_md_final(&m, md);
}

/* The earliest notAfter of the chain the device sent (0: unknown). */
static int64_t
chain_until(X509 *leaf, const gnutls_datum_t *certs, unsigned int n)
{
	int64_t until = sp_tls_asn1_unix(X509_get0_notAfter(leaf)), t;

	for (unsigned int i = 1; i < n && until != 0; i++) {
		const unsigned char *p = certs[i].data;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].size);

		t = x != NULL ? sp_tls_asn1_unix(X509_get0_notAfter(x)) : 0;
		X509_free(x);
		if (t == 0) {
			ERR_clear_error();
			return 0;
		}
		if (t < until)
			until = t;
	}
	return until;
}

/*
 * verify-depth as the OpenSSL backend counts it (sp_tls_chain_len): GnuTLS
 * itself only bounds how many certificates the device sends.  OpenSSL
 * builds the chain again, once per chain (the verified-chain cache
 * remembers the result), but GnuTLS has verified its signatures and dates
 * (only called when it passed), so OpenSSL does not verify them again.
 */
static int
depth_check(sp_tls_conf *c, X509 *leaf, const gnutls_datum_t *certs, unsigned int n,
    char *reason, size_t rn)
{
	STACK_OF(X509) *sent = sk_X509_new_null();
	int len = -1;

	for (unsigned int i = 1; sent != NULL && i < n; i++) {
		const unsigned char *p = certs[i].data;
		X509 *x = d2i_X509(NULL, &p, (long)certs[i].size);

		if (x == NULL || sk_X509_push(sent, x) <= 0) {
			X509_free(x);
			sk_X509_pop_free(sent, X509_free);
			sent = NULL;
		}
	}
	if (sent != NULL)
		len = sp_tls_chain_len(c, leaf, sent, true);
	sk_X509_pop_free(sent, X509_free);
	ERR_clear_error();
	return sp_tls_chain_depth_check(c, len, reason, rn);
}

/*
 * GnuTLS calls this with the device's chain; nonzero fails the handshake.
 * GnuTLS's verification sits behind the shared verified-chain cache
 * (tls_cache.c); the shared CRL checks and leaf policy run every time.
 */
static int
verify_cb(gnutls_session_t s)
{
	gconn *g = gnutls_session_get_ptr(s);
	sp_tls_conf *c = g->pc.conf;
	sp_tls_server *srv = g->pc.srv;
	unsigned int st = 0;
	int rv, bucket = -1;
	char reason[256] = "";
	X509 *leaf;
	const gnutls_datum_t *certs;
	unsigned int ncerts = 0;
	unsigned char md[SP_TLS_MD_LEN];
	bool have_md = false, remember = false, hit = false;
	int64_t now = sp_now();
	bool in_grace = c->crls != NULL && c->crl_next != 0 && now >= c->crl_next &&
	    now < c->crl_next + c->crl_grace;

	leaf = peer_leaf(g);
	certs = gnutls_certificate_get_peers(s, &ncerts);
	if (leaf != NULL && certs != NULL && ncerts > 0)
		have_md = chain_md(certs, ncerts, md);
	if (have_md && sp_tls_vcache_hit(srv->cache, c->gen, md, now)) {
		rv = 0; /* this chain verified under this configuration before */
		hit = true;
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
	if (!hit && (bucket = depth_check(c, leaf, certs, ncerts, reason,
	    sizeof(reason))) >= 0)
		goto out;
	if ((bucket = sp_tls_leaf_crl_check(c, leaf, now, reason, sizeof(reason))) >= 0)
		goto out;
	bucket = sp_tls_leaf_policy(c, leaf, reason, sizeof(reason));
out:
	if (bucket < 0) {
		if (remember)
			sp_tls_vcache_put(srv->cache, c, md, now, chain_until(leaf, certs, ncerts));
		return 0;
	}
	sp_tls_vf_refused(srv, &g->pc, bucket, leaf, leaf, -1, reason);
	g->pc.counted = true; /* the handshake failure is counted once, here */
	atomic_fetch_add(&srv->st.hs[SP_TLS_HS_FAILED], 1);
	return -1;
}

/* --- TLS 1.2 session-ID cache (tls_cache.c); the db pointer is the gconn --- */

static int
sess_store(void *arg, gnutls_datum_t key, gnutls_datum_t data)
{
	gconn *g = arg;

	return sp_tls_scache_store(g->pc.srv->cache, key.data, key.size, data.data,
	    data.size, sp_now() + gconf_of(g)->expiration);
}

static gnutls_datum_t
sess_fetch(void *arg, gnutls_datum_t key)
{
	gconn *g = arg;
	gnutls_datum_t out = { NULL, 0 };
	size_t len = 0;

	out.data = sp_tls_scache_fetch(g->pc.srv->cache, key.data, key.size,
	    gnutls_malloc, &len);
	out.size = out.data != NULL ? (unsigned int)len : 0;
	return out;
}

static int
sess_remove(void *arg, gnutls_datum_t key)
{
	gconn *g = arg;

	return sp_tls_scache_remove(g->pc.srv->cache, key.data, key.size);
}

/* --- configuration --- */

static sp_result
gnutls_fail(int rv, const char *what, const char *file)
{
	return sp_error(SP_E_CRYPTO, "%s %s: %s", what, file ? file : "", gnutls_strerror(rv));
}

static void
gtls_conf_free(void *b)
{
	gconf *c = b;

	if (c == NULL)
		return;
	if (c->cred != NULL)
		gnutls_certificate_free_credentials(c->cred);
	if (c->prio != NULL)
		gnutls_priority_deinit(c->prio);
	free(c);
}

static sp_result
gtls_conf_build(void *impl, const sp_tls_config *cfg, sp_tls_conf *sc, void **out)
{
	sp_result res = SP_OK;
	gconf *c = NULL;
	const char *err_pos = NULL;
	int rv;

	(void)impl;
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	c->expiration = (int)(sc->rotate * (SP_TLS_TICKET_KEYS - 1));
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
	if (cfg->keyproc != NULL) {
		TRY(sp_tls_gnutls_keyproc_key(c->cred, cfg));
	} else if (sp_token_is_uri(cfg->key_file)) {
		TRY(sp_tls_gnutls_p11_key(c->cred, cfg));
	} else if ((rv = gnutls_certificate_set_x509_key_file2(c->cred, cfg->cert_file,
	    cfg->key_file, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		if (rv == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			res = sp_error(SP_E_CRYPTO, "server key %s does not match certificate "
			    "%s (key values mismatch)", cfg->key_file, cfg->cert_file);
		else
			res = sp_error(SP_E_CRYPTO, "server certificate %s / key %s: %s",
			    cfg->cert_file, cfg->key_file, gnutls_strerror(rv));
		goto out;
	}
	if (!cfg->no_client_auth) { /* else the admin listener: GNUTLS_CERT_IGNORE */
		TRY(sp_tls_gnutls_trust(c->cred, cfg));
		/* GnuTLS counts the whole chain; our depth counts the CAs above the leaf. */
		gnutls_certificate_set_verify_limits(c->cred, TLS_MAX_KEY_BITS,
		    (unsigned int)cfg->verify_depth + 1);
		gnutls_certificate_set_verify_function(c->cred, verify_cb);
	}
	*out = c;
	c = NULL;
out:
	gtls_conf_free(c);
	ERR_clear_error();
	return res;
}

static void gtls_server_free(void *impl);

static sp_result
gtls_server_new(sp_tls_server *srv, void **out)
{
	sp_result res = SP_OK;
	gtls_server *gs = NULL;
	int rv;

	TRY_ALLOC(gs, calloc(1, sizeof(*gs)));
	gs->srv = srv;
	pthread_rwlock_init(&gs->key_mu, NULL);
	if ((rv = gnutls_session_ticket_key_generate(&gs->ticket_key)) < 0) {
		res = gnutls_fail(rv, "session ticket key", NULL);
		goto out;
	}
	*out = gs;
	gs = NULL;
out:
	gtls_server_free(gs);
	return res;
}

static void
gtls_server_free(void *impl)
{
	gtls_server *gs = impl;

	if (gs == NULL)
		return;
	if (gs->ticket_key.data != NULL) {
		gnutls_memset(gs->ticket_key.data, 0, gs->ticket_key.size);
		gnutls_free(gs->ticket_key.data);
	}
	pthread_rwlock_destroy(&gs->key_mu);
	free(gs);
	sp_tls_gnutls_p11_deinit(); /* the token's module, if a key came from one */
}

/* Make k the master key (taken over) and wipe the old one. */
static void
key_swap(gtls_server *gs, gnutls_datum_t k)
{
	gnutls_datum_t old;

	pthread_rwlock_wrlock(&gs->key_mu);
	old = gs->ticket_key;
	gs->ticket_key = k;
	pthread_rwlock_unlock(&gs->key_mu);
	if (old.data != NULL) {
		gnutls_memset(old.data, 0, old.size);
		gnutls_free(old.data);
	}
}

static void
gtls_rotate_tickets(void *impl, bool force)
{
	gnutls_datum_t k = { NULL, 0 };
	/* GnuTLS rotates the derived keys itself; see the top of this file. */
	if (force && gnutls_session_ticket_key_generate(&k) < 0)
		sp_err("tls: no randomness for a new ticket key; keeping the old one");
	else if (force)
		key_swap(impl, k);
}

#define TLS_TICKET_MASTER_LEN 64 /* gnutls_session_ticket_key_generate's */
_Static_assert(TLS_TICKET_MASTER_LEN <= SP_TLS_TICKET_SECRET_LEN, "master key fits");
/* One master key: keys[0] (see sp_tls_server_set_ticket_keys). */
static void
gtls_set_tickets(void *impl, const uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN], size_t n)
{
	gnutls_datum_t k = { gnutls_malloc(TLS_TICKET_MASTER_LEN), TLS_TICKET_MASTER_LEN };

	if (k.data == NULL) {
		sp_err("tls: out of memory for a ticket key; keeping the old one");
		return;
	}
	memcpy(k.data, keys[0], TLS_TICKET_MASTER_LEN);
	key_swap(impl, k);
}

/* --- connections --- */

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

/* The handshake completed: count it; refuse a resumption the policy refuses. */
static bool
handshake_done(gconn *g)
{
	bool resumed = gnutls_session_is_resumed(g->s) != 0;
	unsigned char id[TLS_SESSION_ID_MAX];
	size_t idlen = sizeof(id);

	if (resumed)
		(void)peer_leaf(g);
	if (sp_tls_hs_done(&g->pc, resumed, version_name(gnutls_protocol_get_version(g->s)),
	    NULL, true))
		return true;
	if (gnutls_session_get_id(g->s, id, &idlen) == 0 && idlen > 0)
		(void)sp_tls_scache_remove(g->pc.srv->cache, id, idlen);
	return false;
}

static void
handshake_failed(gconn *g, int rv)
{
	if (!g->pc.counted) {
		bool no_cert = rv == GNUTLS_E_NO_CERTIFICATE_FOUND ||
		    rv == GNUTLS_E_CERTIFICATE_REQUIRED;

		sp_tls_hs_failed(&g->pc, no_cert, rv == GNUTLS_E_PREMATURE_TERMINATION ||
		    rv == GNUTLS_E_PULL_ERROR || rv == GNUTLS_E_PUSH_ERROR ? NULL : gnutls_strerror(rv));
		if (no_cert)
			sp_info("tls: client certificate refused: no certificate");
		else
			sp_debug("tls: handshake failed: %s", gnutls_strerror(rv));
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
	if (!g->pc.done) {
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

	if (info->n_added > 0 && g->pc.done && !(bufferevent_get_enabled(g->bev) & EV_WRITE))
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
	if (!g->pc.done) {
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
	if (!g->pc.done)
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
			/* Wait for writable: BEV_OK here made libevent spin. */
			wev_arm(g, false);
			return BEV_NEED_MORE;
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
	sp_tls_pconn_fini(&g->pc);
	if (g->wev != NULL)
		event_free(g->wev);
	if (g->s != NULL)
		gnutls_deinit(g->s);
	free(g);
}

static struct bufferevent *
gtls_bev_new(void *impl, struct event_base *base, void *conn)
{
	gtls_server *gs = impl;
	gconn *g = NULL;
	struct bufferevent *under = NULL, *bev = NULL;
	bool ok = false;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		if (conn != NULL && gs->srv->hooks.conn_free != NULL)
			gs->srv->hooks.conn_free(conn);
		return NULL;
	}
	g->gs = gs;
	g->fd = -1;
	if (!sp_tls_pconn_init(&g->pc, gs->srv, conn))
		goto out;
	if (gnutls_init(&g->s, GNUTLS_SERVER | GNUTLS_NONBLOCK) < 0 ||
	    gnutls_priority_set(g->s, gconf_of(g)->prio) < 0 ||
	    gnutls_credentials_set(g->s, GNUTLS_CRD_CERTIFICATE, gconf_of(g)->cred) < 0)
		goto out;
	gnutls_certificate_server_set_request(g->s, g->pc.conf->no_client_auth ?
	    GNUTLS_CERT_IGNORE : GNUTLS_CERT_REQUIRE);
	gnutls_session_set_ptr(g->s, g);
	gnutls_transport_set_ptr(g->s, g);
	gnutls_transport_set_push_function(g->s, push_cb);
	gnutls_transport_set_vec_push_function(g->s, vec_push_cb);
	gnutls_transport_set_pull_function(g->s, pull_cb);
	gnutls_db_set_retrieve_function(g->s, sess_fetch);
	gnutls_db_set_store_function(g->s, sess_store);
	gnutls_db_set_remove_function(g->s, sess_remove);
	gnutls_db_set_ptr(g->s, g);
	gnutls_db_set_cache_expiration(g->s, gconf_of(g)->expiration);
	pthread_rwlock_rdlock(&gs->key_mu);
	ok = gnutls_session_ticket_enable_server(g->s, &gs->ticket_key) == 0;
	pthread_rwlock_unlock(&gs->key_mu);
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
	if (g->pc.done && !g->failed)
		(void)gnutls_bye(g->s, GNUTLS_SHUT_WR);
	return true;
}

static sp_tls_pconn *
gtls_bev_pconn(struct bufferevent *bev)
{
	gconn *g = index_find(bev);

	return g ? &g->pc : NULL;
}

const sp_tls_ops sp_tls_gnutls_ops = {
	.name = "gnutls",
	.server_new = gtls_server_new,
	.server_free = gtls_server_free,
	.conf_build = gtls_conf_build,
	.conf_free = gtls_conf_free,
	.rotate_tickets = gtls_rotate_tickets,
	.set_tickets = gtls_set_tickets,
	.bev_new = gtls_bev_new,
	.bev_close = gtls_bev_close,
	.bev_pconn = gtls_bev_pconn,
};
