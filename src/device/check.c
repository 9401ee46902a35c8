#include "device/check.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/text.h"

#define CHECK_ERR(n, name, ...) \
	sp_error(SP_E_VERIFY, "server check " #n " (" name "): " __VA_ARGS__)

const char *
sp_srvcheck_name(sp_srvcheck c)
{
	switch (c) {
	case SP_CHECK_CHAIN: return "chain";
	case SP_CHECK_CN: return "cn";
	case SP_CHECK_HOST: return "host";
	case SP_CHECK_ADDR: return "address";
	default: return "";
	}
}

sp_result
sp_srvcheck_purpose(X509 *leaf)
{
	uint32_t flags = X509_get_extension_flags(leaf);

	if (flags & EXFLAG_INVALID)
		return CHECK_ERR(1, "chain", "the server certificate has invalid extensions");
	if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
		return CHECK_ERR(1, "chain",
		    "the server certificate is not for TLS server use (its extended key usage lacks serverAuth)");
	return SP_OK;
}

static bool
dns_eq(sp_slice a, sp_slice b)
{
	if (a.len > 0 && a.p[a.len - 1] == '.')
		a.len--;
	if (b.len > 0 && b.p[b.len - 1] == '.')
		b.len--;
	return a.len > 0 && sp_slice_eq_nocase(a, b);
}

sp_result
sp_srvcheck_cn(X509 *leaf, char fqdn[SP_FQDN_MAX + 1])
{
	sp_result res = SP_OK;
	const X509_NAME *subj = X509_get_subject_name(leaf);
	unsigned char *utf8 = NULL;
	GENERAL_NAMES *san = NULL;
	int idx, n = 0, len;
	sp_cn cn;

	fqdn[0] = '\0';
	idx = -1;
	while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0)
		n++;
	ENSURE(n == 1, SP_E_VERIFY, "server check 2 (cn): the server certificate has %d CNs, it must have exactly one", n);
	idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	len = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
	ENSURE(len >= 0, SP_E_VERIFY, "server check 2 (cn): the CN is not a valid string");
	res = sp_cn_parse(sp_slice_mk((const char *)utf8, (size_t)len), &cn);
	if (sp_failed(res)) {
		char why[400];
		snprintf(why, sizeof(why), "%s", sp_errmsg());
		res = sp_error(SP_E_VERIFY, "server check 2 (cn): %s", why);
		goto out;
	}
	ENSURE(cn.fqdn.len <= SP_FQDN_MAX, SP_E_VERIFY, "server check 2 (cn): FQDN too long");
	memcpy(fqdn, cn.fqdn.p, cn.fqdn.len);
	fqdn[cn.fqdn.len] = '\0';

	san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	if (san != NULL) {
		int ndns = 0;
		bool found = false;
		for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);
			if (g->type != GEN_DNS)
				continue;
			ndns++;
			sp_slice d = sp_slice_mk((const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
			/* Exact names only: the device never matches wildcards. */
			if (dns_eq(d, sp_slice_of(fqdn)))
				found = true;
		}
		ENSURE(ndns == 0 || found, SP_E_VERIFY,
		    "server check 2 (cn): the CN's FQDN '%s' is not among the certificate's %d SAN DNS names",
		    fqdn, ndns);
	}
out:
	OPENSSL_free(utf8);
	GENERAL_NAMES_free(san);
	if (sp_failed(res))
		fqdn[0] = '\0';
	return res;
}

sp_result
sp_srvcheck_host(sp_slice url_host, const char *fqdn)
{
	sp_ipaddr ip;
	char q[300];

	if (sp_ipaddr_parse(url_host, &ip))
		return SP_OK; /* an IP literal: check 4 decides */
	if (dns_eq(url_host, sp_slice_of(fqdn)))
		return SP_OK;
	sp_quote(url_host, q, sizeof(q));
	return CHECK_ERR(3, "host", "the URL host '%s' is not the certificate's FQDN '%s'", q, fqdn);
}

sp_result
sp_srvcheck_addr(const sp_ipaddr *peer, const sp_addrlist *answers, const char *fqdn)
{
	char a[SP_ADDRSTR_MAX];

	if (sp_addrlist_has(answers, peer))
		return SP_OK;
	sp_ipaddr_format(peer, a);
	return CHECK_ERR(4, "address", "server address %s is not among the DNS answers for %s",
	    a, fqdn);
}

sp_result
sp_srvcheck_leaf(X509 *leaf, sp_slice url_host, char fqdn[SP_FQDN_MAX + 1],
    sp_srvcheck *failed)
{
	sp_result res = SP_OK;

	*failed = SP_CHECK_CHAIN;
	TRY(sp_srvcheck_purpose(leaf));
	*failed = SP_CHECK_CN;
	TRY(sp_srvcheck_cn(leaf, fqdn));
	*failed = SP_CHECK_HOST;
	TRY(sp_srvcheck_host(url_host, fqdn));
	*failed = SP_CHECK_NONE;
out:
	return res;
}

sp_result
sp_srvcheck_store_params(X509_STORE *store)
{
	sp_result res = SP_OK;

	/* Exactly what `openssl verify -purpose sslserver` does, and no partial chains. */
	TRY_OSSL(X509_STORE_set_purpose(store, X509_PURPOSE_SSL_SERVER),
	    "setting the verification purpose");
	/*
	 * XXX: X509_V_FLAG_X509_STRICT would be stricter still, but it refuses
	 * certificates that real CAs issue; the device follows TLS defaults.
	 */
out:
	return res;
}

sp_result
sp_srvcheck_load_roots(const char *path, X509_STORE **out)
{
	sp_result res = SP_OK;
	X509_STORE *st = NULL;
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio = NULL;
	int nroots = 0;

	*out = NULL;
	TRY_OSSL_PTR(st, X509_STORE_new(), "X509_STORE_new");
	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		res = sp_error_ossl(SP_E_IO, "%s: cannot read", path);
		goto out;
	}
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	if (infos == NULL) {
		res = sp_error_ossl(SP_E_PARSE, "%s: not a PEM certificate file", path);
		goto out;
	}
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);
		if (xi->x509 == NULL)
			continue;
		TRY_OSSL(X509_STORE_add_cert(st, xi->x509), "%s: adding a root", path);
		nroots++;
	}
	ENSURE(nroots > 0, SP_E_PARSE, "%s: holds no certificate", path);
	TRY(sp_srvcheck_store_params(st));
	*out = st;
	st = NULL;
out:
	X509_STORE_free(st);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	return res;
}

sp_result
sp_srvcheck_chain(X509_STORE *roots, X509 *leaf, STACK_OF(X509) *untrusted, int64_t at)
{
	sp_result res = SP_OK;
	X509_STORE_CTX *xs = NULL;
	int rc;

	TRY_OSSL_PTR(xs, X509_STORE_CTX_new(), "X509_STORE_CTX_new");
	TRY_OSSL(X509_STORE_CTX_init(xs, roots, leaf, untrusted), "X509_STORE_CTX_init");
	X509_STORE_CTX_set_time(xs, 0, (time_t)at);
	rc = X509_verify_cert(xs);
	if (rc != 1) {
		int e = X509_STORE_CTX_get_error(xs);
		ERR_clear_error();
		ENSURE(0, SP_E_VERIFY, "server check 1 (chain): %s (at depth %d)",
		    X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(xs));
	}
out:
	X509_STORE_CTX_free(xs);
	return res;
}
