/*
 * OpenSSL 3 backend of src/tls/tls.h (sp_tls_openssl_ops, see tls_internal.h).
 *
 * The backend's half of a configuration (sp_tls_conf.b) is one SSL_CTX.
 * Its X509_STORE carries the device CA and the CRLs; the shared half hangs
 * off it as ex_data (not referenced: every connection holds a reference to
 * its sp_tls_conf, which owns the SSL_CTX).
 *
 * Verification.  OpenSSL verifies the chain (X509_V_FLAG_CRL_CHECK: the
 * leaf's issuer must have a CRL); cert_verify_cb wraps it with the shared
 * verified-chain cache and the shared leaf policy (tls_policy.c).
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
 * The policy of 2 and 3 is the shared layer's (sp_tls_resume_refused).
 */
#include "tls/tls.h"
#include "tls/tls_internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/log.h"
#include "common/util.h"
#include "pki/token.h"
#include "keyproc/keyproc.h"

#define TLS_CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"
#define TLS_CIPHERS_13 \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_SESSION_CACHE_MAX 20000
#define TLS_SID_CTX "sprov-serve"

typedef struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
	bool set;
} ticket_key;

/* Per connection; owned by its SSL (ex_data). */
typedef struct tls_conn {
	sp_tls_pconn pc;
} tls_conn;

typedef struct ossl_server {
	sp_tls_server *srv;
	pthread_rwlock_t keys_mu;
	/* [0] is current; [SP_TLS_TICKET_KEYS] only with keys from outside. */
	ticket_key keys[SP_TLS_TICKET_KEYS_EXT];
	int64_t keys_at;
} ossl_server;

static int ctx_idx = -1, ssl_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void
ssl_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	tls_conn *tc = ptr;

	if (tc == NULL)
		return;
	sp_tls_pconn_fini(&tc->pc);
	free(tc);
}

static void
idx_init(void)
{
	ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ex_free);
}

static sp_tls_conf *
conf_of_ctx(const SSL_CTX *ctx)
{
	return ctx == NULL ? NULL : SSL_CTX_get_ex_data(ctx, ctx_idx);
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

static sp_tls_conf *
conf_of_xs(X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());

	return ssl ? conf_of_ctx(SSL_get_SSL_CTX(ssl)) : NULL;
}

/* The shared half of the connection being verified, or NULL. */
static sp_tls_pconn *
pconn_of_xs(X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	tls_conn *tc = ssl ? SSL_get_ex_data(ssl, ssl_idx) : NULL;

	return tc ? &tc->pc : NULL;
}

static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	sp_tls_conf *c;
	int err;

	if (ok)
		return 1;
	err = X509_STORE_CTX_get_error(xs);
	c = conf_of_xs(xs);
	if (err == X509_V_ERR_CRL_HAS_EXPIRED && c != NULL && c->crl_grace > 0 &&
	    sp_now() < c->crl_next + c->crl_grace) {
		/* The documented grace: the last CRL stays in force. */
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	if (c != NULL)
		sp_tls_vf_refused(c->srv, pconn_of_xs(xs), vf_bucket(err),
		    X509_STORE_CTX_get_current_cert(xs), X509_STORE_CTX_get0_cert(xs),
		    X509_STORE_CTX_get_error_depth(xs), X509_verify_cert_error_string(err));
	return 0;
}

/* The SHA-256 of the chain the device sent, as the GnuTLS backend makes it. */
static bool
sent_md(STACK_OF(X509) *sent, unsigned char md[SP_TLS_MD_LEN])
{
	sp_tls_md m;

	if (sent == NULL || sk_X509_num(sent) == 0 || !sp_tls_md_init(&m))
		return false;
	for (int i = 0; i < sk_X509_num(sent); i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(sent, i), &der);

		if (n <= 0) {
			ERR_clear_error();
			(void)sp_tls_md_final(&m, md);
			return false;
		}
		sp_tls_md_add(&m, der, (size_t)n);
		OPENSSL_free(der);
	}
	return sp_tls_md_final(&m, md);
}

/* The earliest notAfter of the certificates the device sent (0: unknown). */
static int64_t
sent_until(STACK_OF(X509) *sent)
{
	int64_t until = 0;

	for (int i = 0; i < sk_X509_num(sent); i++) {
		int64_t t = sp_tls_asn1_unix(X509_get0_notAfter(sk_X509_value(sent, i)));

		if (t == 0)
			return 0;
		if (until == 0 || t < until)
			until = t;
	}
	return until;
}

/*
 * OpenSSL's chain verification, behind the shared verified-chain cache
 * (tls_cache.c), then the shared leaf policy.  A remembered chain skips
 * X509_verify_cert, so the leaf's CRL checks it would make run here.
 */
static int
cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	sp_tls_conf *c = conf_of_xs(xs);
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(xs);
	unsigned char md[SP_TLS_MD_LEN];
	char reason[256] = "";
	int bucket, ok;
	int64_t now = sp_now();
	bool have_md;

	(void)arg;
	if (c == NULL || leaf == NULL)
		return X509_verify_cert(xs);
	have_md = sent_md(sent, md);
	if (have_md && sp_tls_vcache_hit(c->srv->cache, c->gen, md, now)) {
		bucket = sp_tls_leaf_crl_check(c, leaf, now, reason, sizeof(reason));
		if (bucket >= 0)
			goto refuse;
	} else {
		if ((ok = X509_verify_cert(xs)) <= 0)
			return ok;
		bucket = sp_tls_chain_depth_check(c, sk_X509_num(X509_STORE_CTX_get0_chain(xs)),
		    reason, sizeof(reason));
		if (bucket >= 0)
			goto refuse;
		if (have_md)
			sp_tls_vcache_put(c->srv->cache, c, md, now, sent_until(sent));
	}
	bucket = sp_tls_leaf_policy(c, leaf, reason, sizeof(reason));
	if (bucket < 0)
		return 1;
refuse:
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	sp_tls_vf_refused(c->srv, pconn_of_xs(xs), bucket, leaf, leaf, -1, reason);
	return 0;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	tls_conn *tc = SSL_get_ex_data(ssl, ssl_idx);

	if (tc == NULL)
		return;
	if ((where & SSL_CB_HANDSHAKE_DONE) && !tc->pc.done) {
		/* TLS 1.3 calls this again after sending tickets: count once. */
		bool resumed = SSL_session_reused((SSL *)ssl) == 1;
		int fd = SSL_get_fd(ssl), one = 1;
		X509 *leaf = SSL_get_verify_result(ssl) == X509_V_OK ?
		    SSL_get1_peer_certificate(ssl) : NULL;

		/*
		 * evhttp writes an answer's headers and body separately and
		 * bufferevent_openssl sends each as its own record: with Nagle
		 * the body waits for the client's delayed ACK (40 ms) on a
		 * kept-alive connection.
		 */
		if (fd >= 0)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/*
		 * Tickets were checked by ticket_dec_cb, before resuming; a
		 * session ID on an expired CRL is refused here: shut the socket,
		 * as the log line says and the GnuTLS backend does.  A request
		 * already buffered with the client's Finished may still be read;
		 * no answer can go out.
		 */
		if (!sp_tls_hs_done(&tc->pc, resumed, SSL_get_version(ssl), leaf, false) &&
		    fd >= 0)
			shutdown(fd, SHUT_RDWR);
	} else if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && !tc->pc.done &&
	    strcmp(SSL_alert_type_string(ret), "F") == 0) {
		unsigned long e = ERR_peek_last_error();
		bool ssl_err = ERR_GET_LIB(e) == ERR_LIB_SSL;

		/* No certificate: TLS 1.3 says so in the alert, 1.2 in the error. */
		sp_tls_hs_failed(&tc->pc, (ret & 0xff) == SSL_AD_CERTIFICATE_REQUIRED ||
		    (ssl_err && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE),
		    ssl_err && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING ? NULL :
		    SSL_alert_desc_string_long(ret));
	}
}

static int
ticket_key_cb(SSL *s, unsigned char *key_name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	sp_tls_conf *c = conf_of_ctx(SSL_get_SSL_CTX(s));
	ossl_server *os;
	ticket_key k;
	int rv = 0, which = -1;
	OSSL_PARAM params[3];

	if (c == NULL)
		return -1;
	os = c->srv->impl;
	pthread_rwlock_rdlock(&os->keys_mu);
	if (enc) {
		which = 0;
	} else {
		for (int i = 0; i < SP_TLS_TICKET_KEYS_EXT; i++)
			if (os->keys[i].set &&
			    memcmp(key_name, os->keys[i].name, 16) == 0) {
				which = i;
				break;
			}
	}
	if (which >= 0)
		k = os->keys[which];
	pthread_rwlock_unlock(&os->keys_mu);
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
	sp_tls_server *srv = arg;
	X509 *peer;
	const char *why;
	char subj[256] = "";

	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		peer = ss ? SSL_SESSION_get0_peer(ss) : NULL;
		if (peer == NULL)
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		if (sp_tls_resume_refused(srv, peer, &why) >= 0) {
			atomic_fetch_add(&srv->st.resume_refused, 1);
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

/*
 * The server key: from the file or a PKCS#11 token (RFC 7512 URI, the PIN
 * from its pin-source or $SPROV_PKCS11_PIN), or (key process) a key that signs through
 * the key process, built on the certificate's public key once the key
 * process' public key is shown to be the same.
 */
static sp_result
ossl_use_key(SSL_CTX *ctx, const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	EVP_PKEY *pub, *pk = NULL;
	unsigned char *der = NULL;
	int len;
	uint32_t id;
	sp_buf spki;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	if (cfg->keyproc == NULL) {
		if (sp_token_is_uri(cfg->key_file)) {
			/* In a PKCS#11 token: it signs there (src/pki/token.h). */
			res = sp_token_key_load(NULL, cfg->key_file, NULL, &pk);
			if (sp_failed(res))
				TRY(sp_error_wrap(res, "server key"));
			TRY_OSSL(SSL_CTX_use_PrivateKey(ctx, pk), "server key %s",
			    cfg->key_file);
		} else
			TRY_OSSL(SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file,
			    SSL_FILETYPE_PEM), "server key %s", cfg->key_file);
		TRY_OSSL(SSL_CTX_check_private_key(ctx),
		    "server key %s does not match certificate %s", cfg->key_file,
		    cfg->cert_file);
		goto out;
	}
	TRY(sp_keyproc_load(cfg->keyproc, cfg->key_file, &id, &spki));
	pub = X509_get0_pubkey(SSL_CTX_get0_certificate(ctx));
	ENSURE(pub != NULL, SP_E_CRYPTO, "server certificate %s: no public key",
	    cfg->cert_file);
	TRY_OSSL((len = i2d_PUBKEY(pub, &der)) > 0, "server certificate %s", cfg->cert_file);
	ENSURE((size_t)len == spki.len && memcmp(der, spki.p, spki.len) == 0, SP_E_CRYPTO,
	    "server key %s does not match certificate %s (key values mismatch)",
	    cfg->key_file, cfg->cert_file);
	TRY(sp_keyproc_evp_pkey(cfg->keyproc, id, pub, &pk));
	TRY_OSSL(SSL_CTX_use_PrivateKey(ctx, pk), "server key %s (key process)",
	    cfg->key_file);
out:
	EVP_PKEY_free(pk);
	OPENSSL_free(der);
	sp_buf_free(&spki);
	return res;
}

/*
 * Client certificates (device CA, CRLs, the verify callbacks) and
 * resumption (session-ID cache, tickets) of a device listener's ctx.
 */
static sp_result
ossl_devices(ossl_server *os, SSL_CTX *ctx, const sp_tls_config *cfg, sp_tls_conf *c)
{
	sp_result res = SP_OK;
	STACK_OF(X509_NAME) *names = NULL;
	X509_STORE *store;

	TRY_OSSL(SSL_CTX_load_verify_locations(ctx, cfg->client_ca_file, NULL),
	    "device CA %s", cfg->client_ca_file);
	TRY_OSSL_PTR(names, SSL_load_client_CA_file(cfg->client_ca_file),
	    "device CA %s: no certificate", cfg->client_ca_file);
	SSL_CTX_set_client_CA_list(ctx, names);
	names = NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
	    verify_cb);
	SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, NULL);
	SSL_CTX_set_verify_depth(ctx, cfg->verify_depth);

	if (c->crls != NULL) {
		store = SSL_CTX_get_cert_store(ctx);
		for (int i = 0; i < sk_X509_CRL_num(c->crls); i++)
			TRY_OSSL(X509_STORE_add_crl(store, sk_X509_CRL_value(c->crls, i)),
			    "CRL %s", cfg->crl_file);
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
	TRY_OSSL(SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb, os->srv),
	    "ticket callback");
out:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	return res;
}

static sp_result
ossl_conf_build(void *impl, const sp_tls_config *cfg, sp_tls_conf *c, void **out)
{
	sp_result res = SP_OK;
	SSL_CTX *ctx = NULL;

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
	TRY(ossl_use_key(ctx, cfg));
	if (cfg->no_client_auth) {
		/* The admin listener: no client certificate asked for, no tickets. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		TRY_OSSL(SSL_CTX_set_num_tickets(ctx, 0), "tickets");
	} else {
		TRY(ossl_devices(impl, ctx, cfg, c));
	}
	SSL_CTX_set_info_callback(ctx, info_cb);
	TRY_OSSL(SSL_CTX_set_ex_data(ctx, ctx_idx, c), "ex_data");
	*out = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	return res;
}

static void
ossl_conf_free(void *b)
{
	SSL_CTX_free(b);
}

static void
rotate_locked(ossl_server *os)
{
	ticket_key k = { .set = true };

	if (RAND_bytes(k.name, sizeof(k.name)) != 1 ||
	    RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1) {
		sp_err("tls: no randomness for a new ticket key; keeping the old one");
		return;
	}
	OPENSSL_cleanse(&os->keys[SP_TLS_TICKET_KEYS - 1], sizeof(ticket_key));
	memmove(&os->keys[1], &os->keys[0], sizeof(ticket_key) * (SP_TLS_TICKET_KEYS - 1));
	os->keys[0] = k;
	os->keys_at = sp_now();
	OPENSSL_cleanse(&k, sizeof(k));
}

static void ossl_server_free(void *impl);

static sp_result
ossl_server_new(sp_tls_server *srv, void **out)
{
	sp_result res = SP_OK;
	ossl_server *os = NULL;

	pthread_once(&idx_once, idx_init);
	ENSURE(ctx_idx >= 0 && ssl_idx >= 0, SP_E_CRYPTO, "OpenSSL ex_data indices");
	TRY_ALLOC(os, calloc(1, sizeof(*os)));
	os->srv = srv;
	pthread_rwlock_init(&os->keys_mu, NULL);
	rotate_locked(os);
	ENSURE(os->keys[0].set, SP_E_CRYPTO, "no randomness for the ticket key");
	*out = os;
	os = NULL;
out:
	ossl_server_free(os);
	return res;
}

static void
ossl_server_free(void *impl)
{
	ossl_server *os = impl;

	if (os == NULL)
		return;
	OPENSSL_cleanse(os->keys, sizeof(os->keys));
	pthread_rwlock_destroy(&os->keys_mu);
	free(os);
}

static void
ossl_set_tickets(void *impl, const uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN], size_t n)
{
	ossl_server *os = impl;

	pthread_rwlock_wrlock(&os->keys_mu);
	OPENSSL_cleanse(os->keys, sizeof(os->keys));
	for (size_t i = 0; i < n && i < SP_TLS_TICKET_KEYS_EXT; i++) {
		memcpy(os->keys[i].name, keys[i], 16);
		memcpy(os->keys[i].aes, keys[i] + 16, 32);
		memcpy(os->keys[i].hmac, keys[i] + 48, 32);
		os->keys[i].set = true;
	}
	os->keys_at = sp_now();
	pthread_rwlock_unlock(&os->keys_mu);
}

static void
ossl_rotate_tickets(void *impl, bool force)
{
	ossl_server *os = impl;
	int64_t rotate;

	pthread_mutex_lock(&os->srv->mu);
	rotate = os->srv->cfg.rotate;
	pthread_mutex_unlock(&os->srv->mu);
	pthread_rwlock_wrlock(&os->keys_mu);
	if (force || sp_now() - os->keys_at >= rotate)
		rotate_locked(os);
	pthread_rwlock_unlock(&os->keys_mu);
}

static struct bufferevent *
ossl_bev_new(void *impl, struct event_base *base, void *conn)
{
	ossl_server *os = impl;
	SSL *ssl = NULL;
	tls_conn *tc = NULL;
	struct bufferevent *bev = NULL;

	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		if (conn != NULL && os->srv->hooks.conn_free != NULL)
			os->srv->hooks.conn_free(conn);
		return NULL;
	}
	if (!sp_tls_pconn_init(&tc->pc, os->srv, conn) ||
	    (ssl = SSL_new(tc->pc.conf->b)) == NULL ||
	    SSL_set_ex_data(ssl, ssl_idx, tc) != 1)
		goto out;
	tc = NULL; /* the SSL owns it now; freeing the SSL calls conn_free */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto out;
	ssl = NULL;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
out:
	if (tc != NULL) {
		tc->pc.done = true; /* not a handshake: nothing to count */
		sp_tls_pconn_fini(&tc->pc);
		free(tc);
	}
	SSL_free(ssl);
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
	if (tc == NULL || !tc->pc.done || SSL_in_init(ssl))
		return true;
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	return true;
}

static sp_tls_pconn *
ossl_bev_pconn(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	tls_conn *tc = ssl ? SSL_get_ex_data(ssl, ssl_idx) : NULL;

	return tc ? &tc->pc : NULL;
}

const sp_tls_ops sp_tls_openssl_ops = {
	.name = "openssl",
	.server_new = ossl_server_new,
	.server_free = ossl_server_free,
	.conf_build = ossl_conf_build,
	.conf_free = ossl_conf_free,
	.rotate_tickets = ossl_rotate_tickets,
	.set_tickets = ossl_set_tickets,
	.bev_new = ossl_bev_new,
	.bev_close = ossl_bev_close,
	.bev_pconn = ossl_bev_pconn,
};
