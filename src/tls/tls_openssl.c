/*
 * OpenSSL 3 backend of src/tls/tls.h (sp_tls_openssl_ops, see tls_internal.h).
 *
 * One configuration is one SSL_CTX.  Its X509_STORE carries the device CA
 * and the CRLs; our own state for it (the CRLs again, for the per-request
 * revocation check, and their dates) hangs off the SSL_CTX as ex_data and is
 * freed with it.  Every SSL holds a reference to its SSL_CTX, so swapping in
 * a new configuration never disturbs a connection that is already open.
 *
 * Resumption and revocation.  OpenSSL does not re-verify the client chain
 * when it resumes a session, so a device revoked after its last full
 * handshake could come back with an old ticket.  Three things close this:
 *   1. every new configuration has a fresh session-ID cache, and a CRL
 *      change always builds a new configuration, so no cached session
 *      outlives the CRL it was verified against;
 *   2. the ticket decrypt callback looks up the session's peer certificate
 *      in the CURRENT CRLs and, if revoked or expired, ignores the ticket,
 *      which forces a full handshake (that then fails verification);
 *   3. sp_tls_peer_get() repeats the check before every request, which also
 *      covers keep-alive connections opened before the revocation.
 */
#include "tls/tls.h"
#include "tls/tls_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/log.h"
#include "common/util.h"

#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
#define TLS_CIPHERS_13 \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_SESSION_CACHE_MAX 20000
#define TLS_SID_CTX "sprov-serve"
#define TLS_CRLS_MAX 64
#define TLS_CRL_WARN_EVERY 60 /* seconds between "CRL expired" log lines */

typedef struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	bool set;
} ticket_key;

typedef struct ossl_server ossl_server;

/* Our state for one configuration; owned by its SSL_CTX (ex_data). */
typedef struct tls_conf {
	ossl_server *srv;
	STACK_OF(X509_CRL) *crls;
	int64_t crl_last, crl_next; /* earliest nextUpdate among the CRLs */
	int64_t crl_grace;
} tls_conf;

/* Per connection; owned by its SSL (ex_data). */
typedef struct tls_conn {
	ossl_server *srv;
	void *conn;
	bool done;     /* handshake completed */
	bool counted;  /* failure already counted */
} tls_conn;

struct ossl_server {
	sp_tls_hooks hooks;
	pthread_mutex_t mu; /* cur, cfg, crl_stat */
	SSL_CTX *cur;
	struct {
		char *cert, *key, *ca, *crl;
		int depth;
		int64_t grace, rotate;
	} cfg;
	struct stat crl_stat;
	bool crl_stat_ok;
	int64_t crl_warned_at;

	pthread_rwlock_t keys_mu;
	ticket_key keys[SP_TLS_TICKET_KEYS]; /* [0] is current */
	int64_t keys_at;

	sp_tls_stats *st; /* owned by tls.c */
};

static int ctx_idx = -1, ssl_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void
conf_free(tls_conf *c)
{
	if (c == NULL)
		return;
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	free(c);
}

static void
ctx_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	conf_free(ptr);
}

static void
ssl_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	tls_conn *tc = ptr;

	if (tc == NULL)
		return;
	if (!tc->done && !tc->counted)
		atomic_fetch_add(&tc->srv->st->hs[SP_TLS_HS_ABORTED], 1);
	if (tc->srv->hooks.conn_free != NULL && tc->conn != NULL)
		tc->srv->hooks.conn_free(tc->conn);
	free(tc);
}

static void
idx_init(void)
{
	ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_ex_free);
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ex_free);
}

int64_t
sp_tls_asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static tls_conf *
conf_of_ctx(const SSL_CTX *ctx)
{
	return ctx == NULL ? NULL : SSL_CTX_get_ex_data(ctx, ctx_idx);
}

/* The current configuration, referenced: SSL_CTX_free() it. */
static SSL_CTX *
cur_ctx(ossl_server *srv)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->mu);
	ctx = srv->cur;
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&srv->mu);
	return ctx;
}

/* Is cert expired, or revoked by one of crls (may be NULL)? */
bool
sp_tls_crls_refuse(STACK_OF(X509_CRL) *crls, X509 *cert, const char **why)
{
	*why = "";
	if (X509_cmp_time(X509_get0_notAfter(cert), NULL) < 0) {
		*why = "certificate expired";
		return true;
	}
	for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		X509_REVOKED *rev = NULL;

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1) {
			*why = "certificate revoked";
			return true;
		}
	}
	return false;
}

/* Is cert revoked or expired according to the CURRENT configuration? */
static bool
refused_now(ossl_server *srv, X509 *cert, const char **why)
{
	SSL_CTX *ctx = cur_ctx(srv);
	tls_conf *c = conf_of_ctx(ctx);
	bool bad = sp_tls_crls_refuse(c ? c->crls : NULL, cert, why);

	SSL_CTX_free(ctx);
	return bad;
}

static int
vf_bucket(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return SP_TLS_VF_UNKNOWN_CA;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return SP_TLS_VF_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return SP_TLS_VF_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		return SP_TLS_VF_CRL_MISSING;
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return SP_TLS_VF_CRL_EXPIRED;
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
		return SP_TLS_VF_CHAIN_TOO_LONG;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
		return SP_TLS_VF_BAD_SIGNATURE;
	default:
		return SP_TLS_VF_OTHER;
	}
}

static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl;
	tls_conf *c;
	int err, depth;
	char subj[256] = "";
	X509 *cert;

	if (ok)
		return 1;
	err = X509_STORE_CTX_get_error(xs);
	depth = X509_STORE_CTX_get_error_depth(xs);
	ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	c = ssl ? conf_of_ctx(SSL_get_SSL_CTX(ssl)) : NULL;
	if (err == X509_V_ERR_CRL_HAS_EXPIRED && c != NULL && c->crl_grace > 0 &&
	    sp_now() < c->crl_next + c->crl_grace) {
		/* The documented grace: the last CRL stays in force. */
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	cert = X509_STORE_CTX_get_current_cert(xs);
	if (cert != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	if (c != NULL)
		atomic_fetch_add(&c->srv->st->vf[vf_bucket(err)], 1);
	if (err == X509_V_ERR_CRL_HAS_EXPIRED)
		sp_err("tls: CRL EXPIRED: refusing device '%s' (set crl_grace to keep "
		    "the last CRL in force; publish a new CRL)", subj);
	else
		sp_info("tls: client certificate refused: %s (depth %d, subject '%s')",
		    X509_verify_cert_error_string(err), depth, subj);
	return 0;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	tls_conn *tc = SSL_get_ex_data(ssl, ssl_idx);

	if (tc == NULL)
		return;
	if ((where & SSL_CB_HANDSHAKE_DONE) && !tc->done) {
		/* TLS 1.3 calls this again after sending tickets: count once. */
		bool resumed = SSL_session_reused((SSL *)ssl) == 1;
		int fd = SSL_get_fd(ssl), one = 1;

		tc->done = true;
		/*
		 * evhttp writes an answer's headers and body separately and
		 * bufferevent_openssl sends each as its own record: with Nagle
		 * the body waits for the client's delayed ACK (40 ms) on a
		 * kept-alive connection.
		 */
		if (fd >= 0)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_fetch_add(&tc->srv->st->hs[resumed ? SP_TLS_HS_RESUMED : SP_TLS_HS_FULL], 1);
		if (tc->srv->hooks.handshake_done != NULL)
			tc->srv->hooks.handshake_done(tc->conn, resumed);
	} else if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && !tc->done &&
	    !tc->counted && strcmp(SSL_alert_type_string(ret), "F") == 0) {
		unsigned long e = ERR_peek_last_error();

		tc->counted = true;
		atomic_fetch_add(&tc->srv->st->hs[SP_TLS_HS_FAILED], 1);
		/* No certificate: TLS 1.3 says so in the alert, 1.2 in the error. */
		if ((ret & 0xff) == SSL_AD_CERTIFICATE_REQUIRED ||
		    (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE))
			atomic_fetch_add(&tc->srv->st->vf[SP_TLS_VF_NO_CERT], 1);
	}
}

static int
ticket_key_cb(SSL *s, unsigned char *key_name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	tls_conf *c = conf_of_ctx(SSL_get_SSL_CTX(s));
	ossl_server *srv;
	ticket_key k;
	int rv = 0, which = -1;
	OSSL_PARAM params[3];

	if (c == NULL)
		return -1;
	srv = c->srv;
	pthread_rwlock_rdlock(&srv->keys_mu);
	if (enc) {
		which = 0;
	} else {
		for (int i = 0; i < SP_TLS_TICKET_KEYS; i++)
			if (srv->keys[i].set &&
			    memcmp(key_name, srv->keys[i].name, 16) == 0) {
				which = i;
				break;
			}
	}
	if (which >= 0)
		k = srv->keys[which];
	pthread_rwlock_unlock(&srv->keys_mu);
	if (which < 0)
		return 0; /* unknown key: full handshake */

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac,
	    sizeof(k.hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(key_name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1 ||
		    EVP_MAC_CTX_set_params(hctx, params) != 1)
			rv = -1;
		else
			rv = 1;
	} else {
		if (EVP_MAC_CTX_set_params(hctx, params) != 1 ||
		    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			rv = -1;
		else
			rv = which == 0 ? 1 : 2; /* 2: renew with the current key */
	}
	OPENSSL_cleanse(&k, sizeof(k));
	return rv;
}

static int
ticket_gen_cb(SSL *s, void *arg)
{
	return 1;
}

static SSL_TICKET_RETURN
ticket_dec_cb(SSL *s, SSL_SESSION *ss, const unsigned char *keyname,
    size_t keyname_len, SSL_TICKET_STATUS status, void *arg)
{
	ossl_server *srv = arg;
	X509 *peer;
	const char *why;
	char subj[256] = "";

	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		peer = ss ? SSL_SESSION_get0_peer(ss) : NULL;
		if (peer == NULL)
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		if (refused_now(srv, peer, &why)) {
			atomic_fetch_add(&srv->st->resume_refused, 1);
			X509_NAME_oneline(X509_get_subject_name(peer), subj, sizeof(subj));
			sp_warn("tls: resumption refused (%s): '%s'; full handshake required",
			    why, subj);
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		}
		return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE :
		    SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER:
		return SSL_TICKET_RETURN_ABORT;
	default:
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
}

sp_result
sp_tls_crls_load(const char *path, STACK_OF(X509_CRL) **out)
{
	sp_result res = SP_OK;
	sp_buf data;
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	STACK_OF(X509_CRL) *crls = NULL;

	sp_buf_init(&data, SP_TLS_CERT_MAX);
	TRY(sp_read_file(path, SP_TLS_CERT_MAX, &data));
	TRY_OSSL_PTR(crls, sk_X509_CRL_new_null(), "CRL list");
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(data.p, (int)data.len), "CRL buffer");
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
		ENSURE(sk_X509_CRL_num(crls) < TLS_CRLS_MAX, SP_E_LIMIT,
		    "%s: more than %d CRLs", path, TLS_CRLS_MAX);
		ENSURE(sk_X509_CRL_push(crls, crl) > 0, SP_E_NOMEM, "out of memory");
		crl = NULL;
	}
	ERR_clear_error();
	if (sk_X509_CRL_num(crls) == 0) {
		/* Not PEM: one DER CRL. */
		const unsigned char *p = (const unsigned char *)data.p;
		crl = d2i_X509_CRL(NULL, &p, (long)data.len);
		ENSURE(crl != NULL, SP_E_PARSE, "%s: no CRL in PEM or DER", path);
		ENSURE(sk_X509_CRL_push(crls, crl) > 0, SP_E_NOMEM, "out of memory");
		crl = NULL;
	}
	*out = crls;
	crls = NULL;
out:
	X509_CRL_free(crl);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	BIO_free(bio);
	sp_buf_free(&data);
	ERR_clear_error();
	return res;
}

static sp_result
build_ctx(ossl_server *srv, const sp_tls_config *cfg, SSL_CTX **out)
{
	sp_result res = SP_OK;
	SSL_CTX *ctx = NULL;
	tls_conf *c = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	X509_STORE *store;

	pthread_once(&idx_once, idx_init);
	ENSURE(cfg->cert_file && cfg->key_file && cfg->client_ca_file, SP_E_USAGE,
	    "the server certificate, key and device CA files are all required");
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	c->srv = srv;
	c->crl_grace = cfg->crl_grace;
	TRY_OSSL_PTR(ctx, SSL_CTX_new(TLS_server_method()), "SSL_CTX_new");
	TRY_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "TLS version");
	TRY_OSSL(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION), "TLS version");
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	TRY_OSSL(SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12), "TLS 1.2 ciphers");
	TRY_OSSL(SSL_CTX_set_ciphersuites(ctx, TLS_CIPHERS_13), "TLS 1.3 ciphers");
	TRY_OSSL(SSL_CTX_set1_groups_list(ctx, TLS_GROUPS), "ECDHE groups");

	TRY_OSSL(SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file),
	    "server certificate %s", cfg->cert_file);
	TRY_OSSL(SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM),
	    "server key %s", cfg->key_file);
	TRY_OSSL(SSL_CTX_check_private_key(ctx),
	    "server key %s does not match certificate %s", cfg->key_file, cfg->cert_file);

	TRY_OSSL(SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL),
	    "device CA %s", cfg->client_ca_file);
	TRY_OSSL_PTR(names, SSL_load_client_CA_file(cfg->client_ca_file),
	    "device CA %s: no certificate", cfg->client_ca_file);
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    verify_cb);
	ENSURE(cfg->verify_depth >= 1 && cfg->verify_depth <= SP_TLS_VERIFY_DEPTH_MAX,
	    SP_E_USAGE, "verify depth %d is not in 1..%d", cfg->verify_depth,
	    SP_TLS_VERIFY_DEPTH_MAX);
	SSL_CTX_set_verify_depth(ctx, cfg->verify_depth);

	if (cfg->crl_file != NULL) {
		store = SSL_CTX_get_cert_store(ctx);
		TRY(sp_error_wrap(sp_tls_crls_load(cfg->crl_file, &c->crls), "CRL"));
		for (int i = 0; i < sk_X509_CRL_num(c->crls); i++) {
			X509_CRL *crl = sk_X509_CRL_value(c->crls, i);
			int64_t lu = sp_tls_asn1_unix(X509_CRL_get0_lastUpdate(crl));
			int64_t nu = sp_tls_asn1_unix(X509_CRL_get0_nextUpdate(crl));

			TRY_OSSL(X509_STORE_add_crl(store, crl), "CRL %s", cfg->crl_file);
			if (lu > c->crl_last)
				c->crl_last = lu;
			if (nu != 0 && (c->crl_next == 0 || nu < c->crl_next))
				c->crl_next = nu;
		}
		TRY_OSSL(X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK), "CRL flags");
	}

	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SID_CTX,
	    sizeof(TLS_SID_CTX) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, TLS_SESSION_CACHE_MAX);
	/* A session lives no longer than its ticket key can decrypt it. */
	SSL_CTX_set_timeout(ctx, (long)(cfg->ticket_rotate * (SP_TLS_TICKET_KEYS - 1)));
	TRY_OSSL(SSL_CTX_set_num_tickets(ctx, 1), "tickets");
	TRY_OSSL(SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb), "ticket keys");
	TRY_OSSL(SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb, srv),
	    "ticket callback");
	SSL_CTX_set_info_callback(ctx, info_cb);
	TRY_OSSL(SSL_CTX_set_ex_data(ctx, ctx_idx, c), "ex_data");
	c = NULL;
	*out = ctx;
	ctx = NULL;
out:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	conf_free(c);
	SSL_CTX_free(ctx);
	return res;
}

static void
rotate_locked(ossl_server *srv)
{
	ticket_key k = { .set = true };

	if (RAND_bytes(k.name, sizeof(k.name)) != 1 ||
	    RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1) {
		sp_err("tls: no randomness for a new ticket key; keeping the old one");
		return;
	}
	OPENSSL_cleanse(&srv->keys[SP_TLS_TICKET_KEYS - 1], sizeof(ticket_key));
	memmove(&srv->keys[1], &srv->keys[0], sizeof(ticket_key) * (SP_TLS_TICKET_KEYS - 1));
	srv->keys[0] = k;
	srv->keys_at = sp_now();
	OPENSSL_cleanse(&k, sizeof(k));
}

static void ossl_server_free(void *impl);
static void ossl_crl_state(void *impl, sp_tls_crl_state *out);

static sp_result
ossl_server_new(const sp_tls_hooks *hooks, sp_tls_stats *st, void **out)
{
	sp_result res = SP_OK;
	ossl_server *srv = NULL;

	pthread_once(&idx_once, idx_init);
	ENSURE(ctx_idx >= 0 && ssl_idx >= 0, SP_E_CRYPTO, "OpenSSL ex_data indices");
	TRY_ALLOC(srv, calloc(1, sizeof(*srv)));
	if (hooks != NULL)
		srv->hooks = *hooks;
	srv->st = st;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_rwlock_init(&srv->keys_mu, NULL);
	srv->cfg.rotate = SP_TLS_TICKET_ROTATE_DEFAULT;
	rotate_locked(srv);
	ENSURE(srv->keys[0].set, SP_E_CRYPTO, "no randomness for the ticket key");
	*out = srv;
	srv = NULL;
out:
	ossl_server_free(srv);
	return res;
}

static void
ossl_server_free(void *impl)
{
	ossl_server *srv = impl;

	if (srv == NULL)
		return;
	SSL_CTX_free(srv->cur);
	free(srv->cfg.cert);
	free(srv->cfg.key);
	free(srv->cfg.ca);
	free(srv->cfg.crl);
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	pthread_mutex_destroy(&srv->mu);
	pthread_rwlock_destroy(&srv->keys_mu);
	free(srv);
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static sp_result
ossl_config_check(const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	void *srv = NULL;
	SSL_CTX *ctx = NULL;
	sp_tls_stats st;

	memset(&st, 0, sizeof(st));
	TRY(ossl_server_new(NULL, &st, &srv));
	TRY(build_ctx(srv, cfg, &ctx));
out:
	SSL_CTX_free(ctx);
	ossl_server_free(srv);
	return res;
}

static sp_result
ossl_load(void *impl, const sp_tls_config *cfg)
{
	ossl_server *srv = impl;
	sp_result res = SP_OK;
	SSL_CTX *ctx = NULL, *old = NULL;
	struct stat st;
	bool st_ok = false;
	char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
	tls_conf *c;

	/* stat first: a CRL replaced while we read it is read again next poll. */
	if (cfg->crl_file != NULL && stat(cfg->crl_file, &st) == 0)
		st_ok = true;
	res = build_ctx(srv, cfg, &ctx);
	if (sp_failed(res)) {
		atomic_fetch_add(&srv->st->reload_failed, 1);
		goto out;
	}
	TRY_ALLOC(cert, strdup(cfg->cert_file));
	TRY_ALLOC(key, strdup(cfg->key_file));
	TRY_ALLOC(ca, strdup(cfg->client_ca_file));
	if (cfg->crl_file != NULL)
		TRY_ALLOC(crl, strdup(cfg->crl_file));

	pthread_mutex_lock(&srv->mu);
	old = srv->cur;
	srv->cur = ctx;
	ctx = NULL;
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
	c = conf_of_ctx(srv->cur);
	pthread_mutex_unlock(&srv->mu);
	atomic_fetch_add(&srv->st->reload_ok, 1);

	if (cfg->crl_file == NULL) {
		sp_warn("tls: no CRL configured: revoked devices are NOT refused");
	} else if (c != NULL) {
		int64_t now = sp_now();
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
out:
	SSL_CTX_free(old);
	SSL_CTX_free(ctx);
	free(cert);
	free(key);
	free(ca);
	free(crl);
	return res;
}

static sp_result
ossl_poll_crl(void *impl, bool *reloaded)
{
	ossl_server *srv = impl;
	sp_result res = SP_OK;
	struct stat st;
	bool changed = false;
	sp_tls_config cfg = { 0 };
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
		TRY(sp_error_wrap(ossl_load(srv, &cfg), "CRL reload"));
		*reloaded = true;
	}
	ossl_crl_state(srv, &cs);
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
ossl_rotate_tickets(void *impl, bool force)
{
	ossl_server *srv = impl;
	int64_t rotate;

	pthread_mutex_lock(&srv->mu);
	rotate = srv->cfg.rotate;
	pthread_mutex_unlock(&srv->mu);
	pthread_rwlock_wrlock(&srv->keys_mu);
	if (force || sp_now() - srv->keys_at >= rotate)
		rotate_locked(srv);
	pthread_rwlock_unlock(&srv->keys_mu);
}

static struct bufferevent *
ossl_bev_new(void *impl, struct event_base *base, void *conn)
{
	ossl_server *srv = impl;
	SSL_CTX *ctx = cur_ctx(srv);
	SSL *ssl = NULL;
	tls_conn *tc = NULL;
	struct bufferevent *bev = NULL;

	if (ctx == NULL)
		goto out;
	if ((tc = calloc(1, sizeof(*tc))) == NULL || (ssl = SSL_new(ctx)) == NULL)
		goto out;
	tc->srv = srv;
	tc->conn = conn;
	if (SSL_set_ex_data(ssl, ssl_idx, tc) != 1)
		goto out;
	tc = NULL; /* the SSL owns it now; freeing the SSL calls conn_free */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto out;
	ssl = NULL;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
out:
	if (tc != NULL && conn != NULL && srv->hooks.conn_free != NULL)
		srv->hooks.conn_free(conn);
	free(tc);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return bev;
}

static bool
ossl_bev_close(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	tls_conn *tc = ssl ? SSL_get_ex_data(ssl, ssl_idx) : NULL;

	if (ssl == NULL)
		return false;
	if (tc == NULL || !tc->done || SSL_in_init(ssl))
		return true;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	return true;
}

static bool
ossl_bev_conn(struct bufferevent *bev, void **conn)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	tls_conn *tc = ssl ? SSL_get_ex_data(ssl, ssl_idx) : NULL;

	if (ssl == NULL)
		return false;
	*conn = tc ? tc->conn : NULL;
	return true;
}

static sp_result
ossl_peer_get(void *impl, struct bufferevent *bev, sp_idstyle style,
    sp_tls_peer *out)
{
	ossl_server *srv = impl;
	sp_result res = SP_OK;
	SSL *ssl;
	X509 *cert;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	const char *why;

	memset(out, 0, sizeof(*out));
	out->version = "";
	ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	ENSURE(ssl != NULL, SP_E_INTERNAL, "not a TLS connection");
	out->resumed = SSL_session_reused(ssl) == 1;
	out->version = SSL_get_version(ssl);
	cert = SSL_get0_peer_certificate(ssl);
	ENSURE(cert != NULL, SP_E_VERIFY, "no client certificate");
	TRY_OSSL_PTR(bn, ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL),
	    "certificate serial");
	TRY_OSSL_PTR(hex, BN_bn2hex(bn), "certificate serial");
	snprintf(out->cert_serial, sizeof(out->cert_serial), "%s", hex);
	ENSURE(SSL_get_verify_result(ssl) == X509_V_OK, SP_E_VERIFY,
	    "client certificate not verified");
	ENSURE(!refused_now(srv, cert, &why), SP_E_VERIFY, "%s since the handshake%s",
	    why, out->resumed ? " (resumed session)" : "");
	TRY(sp_devid_from_x509(cert, style, &out->id));
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return res;
}

static void
ossl_crl_state(void *impl, sp_tls_crl_state *out)
{
	ossl_server *srv = impl;
	SSL_CTX *ctx = cur_ctx(srv);
	tls_conf *c = conf_of_ctx(ctx);
	int64_t now = sp_now();

	memset(out, 0, sizeof(*out));
	if (c != NULL && c->crls != NULL) {
		out->loaded = true;
		out->last_update = c->crl_last;
		out->next_update = c->crl_next;
		out->expired = c->crl_next != 0 && c->crl_next < now;
		out->in_grace = out->expired && now < c->crl_next + c->crl_grace;
	}
	SSL_CTX_free(ctx);
}

const sp_tls_ops sp_tls_openssl_ops = {
	.name = "openssl",
	.server_new = ossl_server_new,
	.server_free = ossl_server_free,
	.load = ossl_load,
	.config_check = ossl_config_check,
	.poll_crl = ossl_poll_crl,
	.rotate_tickets = ossl_rotate_tickets,
	.bev_new = ossl_bev_new,
	.bev_close = ossl_bev_close,
	.bev_conn = ossl_bev_conn,
	.peer_get = ossl_peer_get,
	.crl_state = ossl_crl_state,
};
