/*
 * What both backends decide alike (tls_internal.h): building the shared
 * half of a configuration (CRLs and their dates, the device CAs' dates),
 * and the checks on a device certificate that are ours rather than the TLS
 * library's.  Certificates and CRLs are OpenSSL objects on both backends.
 */
#include "tls/tls_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "pki/pki.h"

int64_t
sp_tls_asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* One more CRL for the list arg (the encoding is sp_crls_each's business). */
static sp_result
crl_push(void *arg, const sp_crl_info *info)
{
	STACK_OF(X509_CRL) *crls = arg;
	const unsigned char *p = (const unsigned char *)info->der.p;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)info->der.len);

	if (crl == NULL || sk_X509_CRL_push(crls, crl) <= 0) {
		X509_CRL_free(crl);
		return sp_error(SP_E_NOMEM, "out of memory");
	}
	return SP_OK;
}

/* The file's CRLs, as sp_crls_each (pki.h) reads them. */
sp_result
sp_tls_crls_load(const char *path, STACK_OF(X509_CRL) **out)
{
	sp_result res = SP_OK;
	sp_buf data;
	STACK_OF(X509_CRL) *crls = NULL;

	sp_buf_init(&data, SP_TLS_CERT_MAX);
	TRY(sp_read_file(path, SP_TLS_CERT_MAX, &data));
	TRY_OSSL_PTR(crls, sk_X509_CRL_new_null(), "CRL list");
	TRY(sp_crls_each((sp_slice){ data.p, data.len }, path, crl_push, crls));
	*out = crls;
	crls = NULL;
out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sp_buf_free(&data);
	ERR_clear_error();
	return res;
}

/* The certificates of PEM text (an empty list if none parse). */
static sp_result
certs_parse(const sp_buf *data, STACK_OF(X509) **out)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *certs = NULL;

	TRY_OSSL_PTR(certs, sk_X509_new_null(), "certificate list");
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(data->p, (int)data->len), "certificate buffer");
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		ENSURE(sk_X509_push(certs, x) > 0, SP_E_NOMEM, "out of memory");
		x = NULL;
	}
	*out = certs;
	certs = NULL;
out:
	X509_free(x);
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	ERR_clear_error();
	return res;
}

static sp_result
certs_load(const char *path, STACK_OF(X509) **out)
{
	sp_result res = SP_OK;
	sp_buf data;

	sp_buf_init(&data, SP_TLS_CERT_MAX);
	TRY(sp_read_file(path, SP_TLS_CERT_MAX, &data));
	TRY(certs_parse(&data, out));
out:
	sp_buf_free(&data);
	return res;
}

sp_result
sp_tls_crls_check_signed(const char *ca_file, STACK_OF(X509_CRL) *crls)
{
	sp_result res = SP_OK;
	STACK_OF(X509) *cas = NULL;

	TRY(certs_load(ca_file, &cas));
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
	sk_X509_pop_free(cas, X509_free);
	ERR_clear_error();
	return res;
}

/* The CRL's crlNumber as a decimal string (OPENSSL_free it), or NULL. */
static char *
crl_number(X509_CRL *crl, ASN1_INTEGER **num)
{
	*num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	return *num != NULL ? i2s_ASN1_INTEGER(NULL, *num) : NULL;
}

sp_result
sp_tls_crls_check_newer(const char *path, STACK_OF(X509_CRL) *cur,
    STACK_OF(X509_CRL) *next)
{
	sp_result res = SP_OK;
	ASN1_INTEGER *a = NULL, *b = NULL;
	char *sa = NULL, *sb = NULL;
	char issuer[256];

	for (int i = 0; cur != NULL && i < sk_X509_CRL_num(next); i++) {
		X509_CRL *n = sk_X509_CRL_value(next, i);

		for (int j = 0; j < sk_X509_CRL_num(cur); j++) {
			X509_CRL *o = sk_X509_CRL_value(cur, j);

			if (X509_NAME_cmp(X509_CRL_get_issuer(n), X509_CRL_get_issuer(o)) != 0)
				continue;
			sb = crl_number(o, &b);
			sa = crl_number(n, &a);
			X509_NAME_oneline(X509_CRL_get_issuer(n), issuer, sizeof(issuer));
			ENSURE(b == NULL || a != NULL, SP_E_VERIFY, "CRL %s: the CRL of '%s' has "
			    "no crlNumber, the one in force has %s", path, issuer, sb ? sb : "?");
			ENSURE(b == NULL || ASN1_INTEGER_cmp(a, b) >= 0, SP_E_VERIFY,
			    "CRL %s: crlNumber %s of '%s' is lower than %s, the one in force "
			    "(an older CRL replayed?)", path, sa ? sa : "?", issuer,
			    sb ? sb : "?");
			ASN1_INTEGER_free(a);
			ASN1_INTEGER_free(b);
			OPENSSL_free(sa);
			OPENSSL_free(sb);
			a = b = NULL;
			sa = sb = NULL;
		}
	}
out:
	ASN1_INTEGER_free(a);
	ASN1_INTEGER_free(b);
	OPENSSL_free(sa);
	OPENSSL_free(sb);
	ERR_clear_error();
	return res;
}

int
sp_tls_crls_refuse(STACK_OF(X509_CRL) *crls, X509 *cert, const char **why)
{
	*why = "";
	if (X509_cmp_time(X509_get0_notAfter(cert), NULL) < 0) {
		*why = "certificate expired";
		return SP_TLS_VF_EXPIRED;
	}
	for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(crls, i);
		X509_REVOKED *rev = NULL;

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0)
			continue;
		if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1) {
			*why = "certificate revoked";
			return SP_TLS_VF_REVOKED;
		}
	}
	return -1;
}

/*
 * The shared half's device CAs: their dates, a store to re-verify a
 * resumed session's leaf, and the digest of what this store trusts (the
 * file's bytes and the depth) that binds a session to it.
 */
static sp_result
conf_cas(sp_tls_conf *c, const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	sp_buf data;
	STACK_OF(X509) *cas = NULL;
	int64_t until = 0;
	sp_tls_md m;
	unsigned char depth[1] = { (unsigned char)cfg->verify_depth };

	sp_buf_init(&data, SP_TLS_CERT_MAX);
	TRY(sp_read_file(cfg->client_ca_file, SP_TLS_CERT_MAX, &data));
	ENSURE(sp_tls_md_init(&m), SP_E_CRYPTO, "SHA-256");
	sp_tls_md_add(&m, (const unsigned char *)data.p, data.len);
	sp_tls_md_add(&m, depth, sizeof(depth));
	ENSURE(sp_tls_md_final(&m, c->trust_md), SP_E_CRYPTO, "SHA-256");
	TRY(certs_parse(&data, &cas));
	TRY_OSSL_PTR(c->trust, X509_STORE_new(), "device CA store");
	for (int i = 0; i < sk_X509_num(cas); i++) {
		X509 *x = sk_X509_value(cas, i);
		int64_t t = sp_tls_asn1_unix(X509_get0_notAfter(x));

		TRY_OSSL(X509_STORE_add_cert(c->trust, x), "device CA %s", cfg->client_ca_file);
		if (t == 0 || until < 0)
			until = -1;
		else if (until == 0 || t < until)
			until = t;
	}
	/* A coarse bound (depth + 2); sp_tls_chain_depth_check is exact. */
	TRY_OSSL(X509_STORE_set_depth(c->trust, cfg->verify_depth), "verify depth");
	TRY_OSSL(X509_STORE_set_purpose(c->trust, X509_PURPOSE_SSL_CLIENT), "purpose");
	c->ca_until = until > 0 ? until : 0;
out:
	sk_X509_pop_free(cas, X509_free);
	sp_buf_free(&data);
	ERR_clear_error();
	return res;
}

/*
 * The server CA: the issuers in the server's own chain (cert_file), and
 * the CAs in it above the leaf.  No device certificate comes from them,
 * whatever client-ca holds (an operator may put both vendor roots there).
 */
static sp_result
conf_server_cas(sp_tls_conf *c, const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	STACK_OF(X509) *chain = NULL;
	X509_NAME *name = NULL;

	TRY(certs_load(cfg->cert_file, &chain));
	TRY_OSSL_PTR(c->server_cas, sk_X509_NAME_new_null(), "server CA names");
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		for (int k = i == 0 ? 1 : 0; k < 2; k++) {
			TRY_OSSL_PTR(name, X509_NAME_dup(k == 0 ? X509_get_subject_name(x) :
			    X509_get_issuer_name(x)), "server CA name");
			ENSURE(sk_X509_NAME_push(c->server_cas, name) > 0, SP_E_NOMEM,
			    "out of memory");
			name = NULL;
		}
	}
out:
	X509_NAME_free(name);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	return res;
}

/* Was leaf issued by the server CA of c? */
static bool
from_server_ca(const sp_tls_conf *c, X509 *leaf)
{
	for (int i = 0; c->server_cas != NULL && i < sk_X509_NAME_num(c->server_cas); i++)
		if (X509_NAME_cmp(sk_X509_NAME_value(c->server_cas, i),
		    X509_get_issuer_name(leaf)) == 0)
			return true;
	return false;
}

sp_result
sp_tls_conf_build(sp_tls_server *srv, const sp_tls_config *cfg, sp_tls_conf **out)
{
	sp_result res = SP_OK;
	sp_tls_conf *c = NULL;

	ENSURE(cfg->cert_file && cfg->key_file && (cfg->client_ca_file ||
	    cfg->no_client_auth), SP_E_USAGE,
	    "the server certificate, key and device CA files are all required");
	ENSURE(cfg->verify_depth >= 1 && cfg->verify_depth <= SP_TLS_VERIFY_DEPTH_MAX,
	    SP_E_USAGE, "verify depth %d is not in 1..%d", cfg->verify_depth,
	    SP_TLS_VERIFY_DEPTH_MAX);
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	atomic_init(&c->refs, 1);
	c->gen = atomic_fetch_add(&srv->next_gen, 1) + 1;
	c->srv = srv;
	c->crl_grace = cfg->crl_grace;
	c->depth = cfg->verify_depth;
	c->idstyle = cfg->identity;
	c->no_client_auth = cfg->no_client_auth;
	c->rotate = cfg->ticket_rotate > 0 ? cfg->ticket_rotate : SP_TLS_TICKET_ROTATE_DEFAULT;
	if (cfg->crl_file != NULL && !cfg->no_client_auth) {
		TRY(sp_error_wrap(sp_tls_crls_load(cfg->crl_file, &c->crls), "CRL"));
		/* Both backends: a CRL no device CA signed never goes in force. */
		TRY(sp_error_wrap(sp_tls_crls_check_signed(cfg->client_ca_file, c->crls),
		    "CRL %s", cfg->crl_file));
		for (int i = 0; i < sk_X509_CRL_num(c->crls); i++) {
			X509_CRL *x = sk_X509_CRL_value(c->crls, i);
			int64_t lu = sp_tls_asn1_unix(X509_CRL_get0_lastUpdate(x));
			int64_t nu = sp_tls_asn1_unix(X509_CRL_get0_nextUpdate(x));

			if (lu > c->crl_last)
				c->crl_last = lu;
			if (nu != 0 && (c->crl_next == 0 || nu < c->crl_next))
				c->crl_next = nu;
		}
	}
	TRY(srv->ops->conf_build(srv->impl, cfg, c, &c->b));
	if (!cfg->no_client_auth)
		TRY(conf_cas(c, cfg));
	TRY(conf_server_cas(c, cfg));
	*out = c;
	c = NULL;
out:
	sp_tls_conf_unref(c);
	ERR_clear_error();
	return res;
}

/* X509_STORE_CTX's signature and validity step, for a chain already verified. */
static int
verified_already(X509_STORE_CTX *xs)
{
	(void)xs;
	return 1;
}

int
sp_tls_chain_len(const sp_tls_conf *c, X509 *leaf, STACK_OF(X509) *untrusted,
    bool sigs_verified)
{
	X509_STORE_CTX *xs = NULL;
	int len = -1;

	if (c->trust != NULL && (xs = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(xs, c->trust, leaf, untrusted) == 1) {
		if (sigs_verified)
			X509_STORE_CTX_set_verify(xs, verified_already);
		if (X509_verify_cert(xs) == 1)
			len = sk_X509_num(X509_STORE_CTX_get0_chain(xs));
		else if (X509_STORE_CTX_get_error(xs) == X509_V_ERR_CERT_CHAIN_TOO_LONG)
			len = INT_MAX;
	}
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return len;
}

int
sp_tls_chain_depth_check(const sp_tls_conf *c, int len, char *reason, size_t n)
{
	if (len >= 1 && len <= c->depth)
		return -1;
	if (len < 0) {
		snprintf(reason, n, "certificate chain does not verify under the device CAs");
		return SP_TLS_VF_UNKNOWN_CA;
	}
	if (len == INT_MAX)
		snprintf(reason, n, "certificate chain longer than verify-depth %d (leaf and "
		    "root included)", c->depth);
	else
		snprintf(reason, n, "certificate chain of %d longer than verify-depth %d (leaf "
		    "and root included)", len, c->depth);
	return SP_TLS_VF_CHAIN_TOO_LONG;
}

bool
sp_tls_crl_expired(const sp_tls_conf *c, int64_t now)
{
	return c->crls != NULL && c->crl_next != 0 && now >= c->crl_next &&
	    now >= c->crl_next + c->crl_grace;
}

/* Does one of the CRLs come from the leaf's issuer? */
static bool
has_issuer_crl(const sp_tls_conf *c, X509 *leaf)
{
	for (int i = 0; i < sk_X509_CRL_num(c->crls); i++)
		if (X509_NAME_cmp(X509_CRL_get_issuer(sk_X509_CRL_value(c->crls, i)),
		    X509_get_issuer_name(leaf)) == 0)
			return true;
	return false;
}

int
sp_tls_leaf_crl_check(const sp_tls_conf *c, X509 *leaf, int64_t now, char *reason,
    size_t n)
{
	const char *why = "";
	int bucket;

	if (c->crls == NULL)
		return -1;
	if (sp_tls_crl_expired(c, now)) {
		snprintf(reason, n, "CRL expired");
		return SP_TLS_VF_CRL_EXPIRED;
	}
	if (!has_issuer_crl(c, leaf)) {
		snprintf(reason, n, "no CRL from the certificate's issuer");
		return SP_TLS_VF_CRL_MISSING;
	}
	if ((bucket = sp_tls_crls_refuse(c->crls, leaf, &why)) >= 0)
		snprintf(reason, n, "%s", why);
	return bucket;
}

/*
 * What we require of a device certificate, whatever verified its chain:
 * - it allows TLS client authentication: an extended key usage, if it has
 *   one, lists clientAuth (or anyExtendedKeyUsage), as OpenSSL's
 *   ssl_client purpose has it; GnuTLS does not check this for a server;
 * - it was not issued by the server CA (conf_server_cas).
 */
int
sp_tls_leaf_policy(const sp_tls_conf *c, X509 *leaf, char *reason, size_t n)
{
	if (from_server_ca(c, leaf)) {
		snprintf(reason, n, "certificate issued by the server CA");
		return SP_TLS_VF_UNKNOWN_CA;
	}
	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
		ERR_clear_error();
		snprintf(reason, n, "unsupported certificate purpose (not for TLS client "
		    "authentication)");
		return SP_TLS_VF_OTHER;
	}
	return -1;
}

static bool
leaf_md(X509 *leaf, unsigned char md[SP_TLS_MD_LEN])
{
	unsigned char *der = NULL;
	int n = i2d_X509(leaf, &der);
	sp_tls_md m;
	bool ok = n > 0 && sp_tls_md_init(&m);

	if (ok) {
		sp_tls_md_add(&m, der, (size_t)n);
		ok = sp_tls_md_final(&m, md);
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

void
sp_tls_trust_note(sp_tls_server *srv, const sp_tls_conf *c, X509 *leaf)
{
	unsigned char md[SP_TLS_MD_LEN];

	/* A note is read only once the device CAs changed (trusted_by). */
	if (atomic_load(&srv->trust_changed) && leaf_md(leaf, md))
		sp_tls_tcache_put(srv->cache, md, c->trust_md);
}

/*
 * Do the device CAs of c still vouch for this leaf?  Asked only once the
 * device CAs have changed in this process's life (before, every session
 * was verified under the current ones).  A session does not carry its
 * chain, so the leaf is verified against c's CAs and the intermediates
 * among them, once per leaf and device CA set, unless a full handshake
 * under this set proved it already (sp_tls_trust_note).  XXX: a leaf whose
 * intermediates only the device sends, and whose note was evicted, is
 * refused resumption (a full handshake on OpenSSL; closed on GnuTLS).
 */
static bool
trusted_by(sp_tls_server *srv, const sp_tls_conf *c, X509 *leaf)
{
	unsigned char md[SP_TLS_MD_LEN];
	X509_STORE_CTX *xs = NULL;
	bool have_md = leaf_md(leaf, md), ok;

	if (c->trust == NULL)
		return false;
	if (have_md && (c->ca_until == 0 || sp_now() < c->ca_until) &&
	    sp_tls_tcache_hit(srv->cache, md, c->trust_md))
		return true;
	ok = (xs = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(xs, c->trust, leaf, NULL) == 1 &&
	    X509_verify_cert(xs) == 1 &&
	    sk_X509_num(X509_STORE_CTX_get0_chain(xs)) <= c->depth;
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	if (ok && have_md)
		sp_tls_tcache_put(srv->cache, md, c->trust_md);
	return ok;
}

int
sp_tls_crl_refuses(const sp_tls_conf *c, X509 *cert, const char **why)
{
	int bucket = sp_tls_crls_refuse(c ? c->crls : NULL, cert, why);

	if (bucket >= 0)
		return bucket;
	if (c != NULL && sp_tls_crl_expired(c, sp_now())) {
		*why = "CRL expired";
		return SP_TLS_VF_CRL_EXPIRED;
	}
	return -1;
}

int
sp_tls_held_refused(sp_tls_server *srv, const sp_tls_conf *c, X509 *leaf,
    const char **why)
{
	int bucket = sp_tls_crl_refuses(c, leaf, why);

	if (bucket < 0 && c != NULL && c->crls != NULL && !has_issuer_crl(c, leaf)) {
		*why = "no CRL from the certificate's issuer";
		bucket = SP_TLS_VF_CRL_MISSING;
	}
	if (bucket < 0 && c != NULL && from_server_ca(c, leaf)) {
		*why = "certificate issued by the server CA";
		bucket = SP_TLS_VF_UNKNOWN_CA;
	}
	if (bucket < 0 && (c == NULL ||
	    (atomic_load(&srv->trust_changed) && !trusted_by(srv, c, leaf)))) {
		*why = "certificate's CA is no longer trusted";
		bucket = SP_TLS_VF_UNKNOWN_CA;
	}
	return bucket;
}

int
sp_tls_resume_refused(sp_tls_server *srv, X509 *leaf, const char **why)
{
	sp_tls_conf *c = sp_tls_cur_conf(srv);
	int bucket = sp_tls_held_refused(srv, c, leaf, why);

	sp_tls_conf_unref(c);
	return bucket;
}

/*
 * One place for the reason a device sees in the console, whichever backend
 * and whichever check refused it: the bucket says what kind of check, the
 * certificates say which of its reasons.
 */
sp_tls_fail
sp_tls_fail_of(const sp_tls_conf *c, int bucket, X509 *cert, X509 *leaf)
{
	X509 *x = cert != NULL ? cert : leaf;

	if (bucket == SP_TLS_VF_NO_CERT)
		return SP_TLS_FAIL_NO_CERT;
	/*
	 * The server CA's certificates first: OpenSSL may trip on another
	 * check before (no CRL of the server CA), GnuTLS on none.
	 */
	if (leaf != NULL && c != NULL && from_server_ca(c, leaf))
		return SP_TLS_FAIL_WRONG_PURPOSE;
	switch (bucket) {
	case SP_TLS_VF_REVOKED:
		return SP_TLS_FAIL_REVOKED;
	case SP_TLS_VF_EXPIRED:
		/* Both backends put "not yet valid" in this bucket: the dates tell. */
		return x != NULL && X509_cmp_time(X509_get0_notBefore(x), NULL) > 0 ?
		    SP_TLS_FAIL_NOT_YET_VALID : SP_TLS_FAIL_EXPIRED;
	case SP_TLS_VF_CRL_MISSING:
	case SP_TLS_VF_CRL_EXPIRED:
		return SP_TLS_FAIL_NO_CRL;
	case SP_TLS_VF_UNKNOWN_CA:
	case SP_TLS_VF_CHAIN_TOO_LONG:
	case SP_TLS_VF_BAD_SIGNATURE:
	case SP_TLS_VF_OTHER:
	default:
		break;
	}
	/* One not for TLS clients: the wrong kind. */
	if (leaf != NULL && X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1) {
		ERR_clear_error();
		return SP_TLS_FAIL_WRONG_PURPOSE;
	}
	return SP_TLS_FAIL_UNTRUSTED;
}
