#include "device/check.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/text.h"
#include "pki/pki.h"

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
	/* No EKU means "any use" to OpenSSL; a device wants serverAuth said. */
	if (!(flags & EXFLAG_XKUSAGE))
		return CHECK_ERR(1, "chain",
		    "EKU rule: the server certificate has no extended key usage (serverAuth is required)");
	/* anyExtendedKeyUsage sets XKU_ANYEKU, never XKU_SSL_SERVER. */
	if (!(X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER))
		return CHECK_ERR(1, "chain",
		    "EKU rule: the server certificate is not for TLS server use (its extended key usage lacks serverAuth)");
	if (flags & EXFLAG_CA)
		return CHECK_ERR(1, "chain",
		    "CA rule: the server certificate is a CA (basicConstraints CA:TRUE)");
	return SP_OK;
}

#define SERIAL_MAX_OCTETS 20 /* RFC 5280 4.1.2.2 */

static sp_result
strict_serial(X509 *x, int depth)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s), i;

	for (i = 0; i < n && d[i] == 0; i++)
		;
	if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER || i == n)
		return CHECK_ERR(1, "chain", "serial rule: the certificate at depth %d has a "
		    "serial number that is not positive", depth);
	/* DER content octets: the magnitude, plus a 0x00 when its top bit is set. */
	if (n - i + (d[i] & 0x80 ? 1 : 0) > SERIAL_MAX_OCTETS)
		return CHECK_ERR(1, "chain", "serial rule: the certificate at depth %d has a "
		    "serial number longer than %d octets", depth, SERIAL_MAX_OCTETS);
	return SP_OK;
}

static sp_result
strict_critical(X509 *x, int depth)
{
	char oid[80];

	for (int i = 0; i < X509_get_ext_count(x); i++) {
		X509_EXTENSION *e = X509_get_ext(x, i);
		if (!X509_EXTENSION_get_critical(e) || X509_supported_extension(e))
			continue;
		OBJ_obj2txt(oid, sizeof(oid), X509_EXTENSION_get_object(e), 1);
		return CHECK_ERR(1, "chain", "critical extension rule: the certificate at depth "
		    "%d has an unknown critical extension %s", depth, oid);
	}
	return SP_OK;
}

static sp_result
strict_algorithms(X509 *x, int depth)
{
	int mdnid = NID_undef, pknid = NID_undef, bits;
	EVP_PKEY *key = X509_get0_pubkey(x);
	char group[64] = "";
	size_t glen = 0;

	ERR_clear_error();
	if (X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL) != 1)
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d has an "
		    "unknown signature algorithm", depth);
	if (sp_digest_weak(mdnid))
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d is "
		    "signed with %s (SHA-1 and MD5 are refused)", depth, OBJ_nid2sn(mdnid));
	if (pknid == NID_dsa)
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d is "
		    "signed with DSA (refused)", depth);
	if (key == NULL) {
		ERR_clear_error();
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d has a "
		    "public key that cannot be decoded", depth);
	}
	bits = EVP_PKEY_get_bits(key);
	if (EVP_PKEY_is_a(key, "DSA"))
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d has a "
		    "DSA key (refused)", depth);
	if ((EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) && bits < 2048)
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d has an "
		    "RSA key of %d bits (at least 2048)", depth, bits);
	if (EVP_PKEY_is_a(key, "EC") && bits < 256) {
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1)
			snprintf(group, sizeof(group), "of %d bits", bits);
		ERR_clear_error();
		return CHECK_ERR(1, "chain", "algorithm rule: the certificate at depth %d has an "
		    "EC key on curve %s (at least P-256)", depth, group);
	}
	return SP_OK;
}

sp_result
sp_srvcheck_strict_cert(X509 *x, int depth)
{
	sp_result res = SP_OK;

	ENSURE(X509_get_version(x) == X509_VERSION_3, SP_E_VERIFY,
	    "server check 1 (chain): version rule: the certificate at depth %d is X.509 v%ld, "
	    "not v3", depth, X509_get_version(x) + 1);
	TRY(strict_serial(x, depth));
	TRY(strict_critical(x, depth));
	TRY(strict_algorithms(x, depth));
out:
	return res;
}

/* The leaf CN's FQDN, or "" when check 2 will refuse the CN anyway. */
static void
leaf_cn_fqdn(X509 *leaf, char fqdn[SP_FQDN_MAX + 1])
{
	const X509_NAME *subj = X509_get_subject_name(leaf);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int len;
	sp_cn cn;

	fqdn[0] = '\0';
	if (idx < 0)
		return;
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
	if (len >= 0 && sp_ok(sp_cn_parse(sp_slice_mk((const char *)utf8, (size_t)len), &cn)) &&
	    cn.fqdn.len <= SP_FQDN_MAX) {
		memcpy(fqdn, cn.fqdn.p, cn.fqdn.len);
		fqdn[cn.fqdn.len] = '\0';
	}
	OPENSSL_free(utf8);
	ERR_clear_error();
}

/*
 * OpenSSL applies name constraints to the SAN, and to the CN only when it
 * is a bare host name; the device trusts the FQDN before a CN's '/', so that
 * name is put to every constraint in a stand-in certificate of its own.
 */
static sp_result
strict_name_constraints(STACK_OF(X509) *chain)
{
	sp_result res = SP_OK;
	char fqdn[SP_FQDN_MAX + 1];
	X509 *probe = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	NAME_CONSTRAINTS *nc = NULL;

	leaf_cn_fqdn(sk_X509_value(chain, 0), fqdn);
	if (fqdn[0] == '\0')
		goto out;
	for (int i = 1; i < sk_X509_num(chain); i++) {
		int rc;
		nc = X509_get_ext_d2i(sk_X509_value(chain, i), NID_name_constraints, NULL, NULL);
		if (nc == NULL)
			continue;
		if (probe == NULL) {
			TRY_OSSL_PTR(probe, X509_new(), "name constraints");
			TRY_OSSL_PTR(gens, GENERAL_NAMES_new(), "name constraints");
			TRY_OSSL_PTR(ia5, ASN1_IA5STRING_new(), "name constraints");
			TRY_OSSL(ASN1_STRING_set(ia5, fqdn, (int)strlen(fqdn)), "name constraints");
			TRY_OSSL_PTR(g, GENERAL_NAME_new(), "name constraints");
			GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
			ia5 = NULL;
			ENSURE(sk_GENERAL_NAME_push(gens, g) > 0, SP_E_NOMEM, "out of memory");
			g = NULL;
			TRY_OSSL(X509_add1_ext_i2d(probe, NID_subject_alt_name, gens, 0, 0),
			    "name constraints");
			/* NAME_CONSTRAINTS_check reads the cached SAN: fill the cache. */
			(void)X509_get_extension_flags(probe);
		}
		rc = NAME_CONSTRAINTS_check(probe, nc);
		NAME_CONSTRAINTS_free(nc);
		nc = NULL;
		ENSURE(rc == X509_V_OK, SP_E_VERIFY, "server check 1 (chain): name constraints "
		    "rule: the FQDN '%s' is outside the name constraints of the certificate at "
		    "depth %d", fqdn, i);
	}
out:
	NAME_CONSTRAINTS_free(nc);
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	X509_free(probe);
	ERR_clear_error();
	return res;
}

sp_result
sp_srvcheck_strict(STACK_OF(X509) *chain)
{
	sp_result res = SP_OK;

	ENSURE(chain != NULL && sk_X509_num(chain) > 0, SP_E_VERIFY,
	    "server check 1 (chain): no certificate chain");
	for (int i = 0; i < sk_X509_num(chain); i++)
		TRY(sp_srvcheck_strict_cert(sk_X509_value(chain, i), i));
	TRY(strict_name_constraints(chain));
out:
	return res;
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

	/*
	 * `openssl verify -purpose sslserver -x509_strict`, no partial chains;
	 * sp_srvcheck_strict adds the device's own rules on top.  OpenSSL's
	 * unknown-critical-extension refusal is left to that rule, which names
	 * the extension (it runs wherever this store verifies: check-cert and
	 * the TLS verify callback).
	 */
	TRY_OSSL(X509_STORE_set_purpose(store, X509_PURPOSE_SSL_SERVER),
	    "setting the verification purpose");
	TRY_OSSL(X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT |
	    X509_V_FLAG_IGNORE_CRITICAL), "setting the verification flags");
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
	TRY(sp_srvcheck_strict(X509_STORE_CTX_get0_chain(xs)));
out:
	X509_STORE_CTX_free(xs);
	return res;
}
