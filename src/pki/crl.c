#include "pki/pki.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki/pki_internal.h"

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", CRL_REASON_UNSPECIFIED },
	{ "keyCompromise", CRL_REASON_KEY_COMPROMISE },
	{ "caCompromise", CRL_REASON_CA_COMPROMISE },
	{ "affiliationChanged", CRL_REASON_AFFILIATION_CHANGED },
	{ "superseded", CRL_REASON_SUPERSEDED },
	{ "cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION },
};

sp_result
sp_reason_parse(const char *s, int *out)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].name, s) == 0) {
			*out = reasons[i].code;
			return SP_OK;
		}
	return sp_error(SP_E_USAGE, "reason '%s' is not one of keyCompromise, superseded, "
	    "cessationOfOperation, affiliationChanged, caCompromise, unspecified", s);
}

const char *
sp_reason_name(int reason)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == reason)
			return reasons[i].name;
	return "unspecified";
}

sp_result
sp_crl_make(X509 *ca, EVP_PKEY *ca_key, const sp_crl_entry *e, size_t n, int64_t number,
    int64_t this_update, int64_t next_update, sp_buf *pem_out)
{
	sp_result res = SP_OK;
	X509_CRL *crl = NULL;
	X509_REVOKED *rev = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL, *ser = NULL;
	ASN1_ENUMERATED *reason = NULL;
	X509_EXTENSION *aki = NULL;

	TRY_OSSL_PTR(crl, X509_CRL_new(), "CRL");
	TRY_OSSL(X509_CRL_set_version(crl, X509_CRL_VERSION_2), "CRL version");
	TRY_OSSL(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), "CRL issuer");
	TRY_OSSL_PTR(t, ASN1_TIME_set(NULL, (time_t)this_update), "CRL time");
	TRY_OSSL(X509_CRL_set1_lastUpdate(crl, t), "CRL thisUpdate");
	ASN1_TIME_free(t);
	t = NULL;
	TRY_OSSL_PTR(t, ASN1_TIME_set(NULL, (time_t)next_update), "CRL time");
	TRY_OSSL(X509_CRL_set1_nextUpdate(crl, t), "CRL nextUpdate");
	ASN1_TIME_free(t);
	t = NULL;
	for (size_t i = 0; i < n; i++) {
		TRY_OSSL_PTR(rev, X509_REVOKED_new(), "CRL entry");
		TRY_OSSL_PTR(ser, ASN1_INTEGER_new(), "CRL entry");
		TRY_OSSL(ASN1_STRING_set(ser, e[i].serial, (int)e[i].serial_len), "CRL serial");
		TRY_OSSL(X509_REVOKED_set_serialNumber(rev, ser), "CRL serial");
		ASN1_INTEGER_free(ser);
		ser = NULL;
		TRY_OSSL_PTR(t, ASN1_TIME_set(NULL, (time_t)e[i].revoked_at), "CRL time");
		TRY_OSSL(X509_REVOKED_set_revocationDate(rev, t), "CRL revocation date");
		ASN1_TIME_free(t);
		t = NULL;
		/* RFC 5280 5.3.1: omit the reason code rather than say "unspecified". */
		if (e[i].reason != CRL_REASON_UNSPECIFIED) {
			TRY_OSSL_PTR(reason, ASN1_ENUMERATED_new(), "CRL reason");
			TRY_OSSL(ASN1_ENUMERATED_set(reason, e[i].reason), "CRL reason");
			TRY_OSSL(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0),
			    "CRL reason");
			ASN1_ENUMERATED_free(reason);
			reason = NULL;
		}
		TRY_OSSL(X509_CRL_add0_revoked(crl, rev), "CRL entry");
		rev = NULL;
	}
	TRY_OSSL(X509_CRL_sort(crl), "CRL sort");
	TRY_OSSL_PTR(num, ASN1_INTEGER_new(), "CRL number");
	TRY_OSSL(ASN1_INTEGER_set_int64(num, number), "CRL number");
	TRY_OSSL(X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), "CRL number");
	TRY(pki_make_aki(ca, &aki));
	TRY_OSSL(X509_CRL_add_ext(crl, aki, -1), "AKI");
	TRY_OSSL(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0 ? 1 : 0, "signing the CRL");
	TRY(pki_encode(PKI_CRL, crl, pem_out));
out:
	X509_EXTENSION_free(aki);
	ASN1_ENUMERATED_free(reason);
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(ser);
	ASN1_TIME_free(t);
	X509_REVOKED_free(rev);
	X509_CRL_free(crl);
	return res;
}
