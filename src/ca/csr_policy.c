#include "ca/csr_policy.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "common/text.h"
#include "pki/pki.h"

#define REJ "CSR rejected: "

sp_result
sp_csr_policy_cn(sp_slice cn, const char *const *domains, size_t ndomains,
    sp_csr_info *out)
{
	sp_result res = SP_OK;
	sp_cn parsed;
	char q[160], list[256] = "";
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	res = sp_cn_parse(cn, &parsed);
	if (sp_failed(res))
		return sp_error_wrap(res, "CSR rejected");
	if (ndomains > 0) {
		bool ok = false;
		for (size_t i = 0; i < ndomains && !ok; i++)
			ok = sp_fqdn_within(parsed.fqdn, sp_slice_of(domains[i]));
		if (!ok) {
			for (size_t i = 0; i < ndomains && used + 4 < sizeof(list); i++) {
				int w = snprintf(list + used, sizeof(list) - used, "%s%s",
				    i ? ", " : "", domains[i]);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			if (used >= sizeof(list))
				memcpy(list + sizeof(list) - 4, "...", 4);
			sp_quote(parsed.fqdn, q, sizeof(q));
			return sp_error(SP_E_POLICY, REJ "allowed-domain rule: '%s' is not "
			    "within an allowed domain (%s)", q, list);
		}
	}
	/* sp_cn_parse bounds both lengths; these copies cannot truncate. */
	memcpy(out->cn, cn.p, cn.len);
	memcpy(out->fqdn, parsed.fqdn.p, parsed.fqdn.len);
	return res;
}

/* The signature floor the device applies to certificates, applied to the CSR. */
static sp_result
csr_sig_policy(X509_REQ *req)
{
	const X509_ALGOR *alg = NULL;
	int mdnid = NID_undef, pknid = NID_undef;

	X509_REQ_get0_signature(req, NULL, &alg);
	if (alg == NULL || !OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &mdnid, &pknid))
		mdnid = pknid = NID_undef;
	if (sp_digest_weak(mdnid))
		return sp_error(SP_E_POLICY, REJ "signature rule: the CSR is signed with %s "
		    "(SHA-1 and MD5 are refused)", OBJ_nid2sn(mdnid));
	if (pknid == NID_dsa)
		return sp_error(SP_E_POLICY, REJ "signature rule: the CSR is signed with DSA "
		    "(refused)");
	return SP_OK;
}

sp_result
sp_csr_policy(X509_REQ *req, const char *const *domains, size_t ndomains,
    sp_csr_info *out)
{
	sp_result res = SP_OK;
	EVP_PKEY *pub;
	const X509_NAME *name;
	unsigned char *utf8 = NULL;
	int idx, next, len;

	memset(out, 0, sizeof(*out));
	pub = X509_REQ_get0_pubkey(req);
	ENSURE(pub != NULL, SP_E_POLICY, REJ "its public key cannot be decoded");
	ENSURE(X509_REQ_verify(req, pub) == 1, SP_E_POLICY,
	    REJ "signature rule: the CSR's own signature does not verify");
	ERR_clear_error();
	TRY(csr_sig_policy(req));
	res = sp_key_policy(pub);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "CSR rejected"));
	name = X509_REQ_get_subject_name(req);
	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	ENSURE(idx >= 0, SP_E_POLICY, REJ "CN rule: the subject has no CN");
	next = X509_NAME_get_index_by_NID(name, NID_commonName, idx);
	ENSURE(next < 0, SP_E_POLICY, REJ "CN rule: the subject has more than one CN");
	len = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	ENSURE(len >= 0, SP_E_POLICY, REJ "CN rule: the CN cannot be decoded");
	TRY(sp_csr_policy_cn(sp_slice_mk((const char *)utf8, (size_t)len), domains,
	    ndomains, out));
out:
	OPENSSL_free(utf8);
	ERR_clear_error();
	if (sp_failed(res))
		memset(out, 0, sizeof(*out));
	return res;
}
