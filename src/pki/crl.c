#include "pki/pki.h"

#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
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

/* One whole DER CRL, nothing after it; NULL otherwise. */
static X509_CRL *
crl_of_der(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, len);

	if (crl != NULL && p != der + len) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	return crl;
}

/* Fill info from crl (its DER in der) and call cb. */
static sp_result
crl_visit(X509_CRL *crl, const unsigned char *der, long len, sp_crl_cb cb, void *arg)
{
	sp_result res = SP_OK;
	sp_crl_info info;
	unsigned char *name = NULL, md[32];
	int nlen, crit = -1;
	ASN1_INTEGER *num = NULL;
	sp_buf subj;

	memset(&info, 0, sizeof(info));
	sp_buf_init(&subj, sizeof(info.issuer));
	TRY_OSSL((nlen = i2d_X509_NAME(X509_CRL_get_issuer(crl), &name)) > 0 ? 1 : 0,
	    "CRL issuer");
	TRY_OSSL(EVP_Digest(name, (size_t)nlen, md, NULL, EVP_sha256(), NULL), "SHA-256");
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(info.issuer_id + 2 * i, 3, "%02x", md[i]);
	if (sp_ok(pki_encode(PKI_SUBJECT, X509_CRL_get_issuer(crl), &subj)))
		snprintf(info.issuer, sizeof(info.issuer), "%.*s", (int)subj.len, subj.p);
	else
		sp_error_clear();
	info.number = -1;
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	if (num != NULL && ASN1_INTEGER_get_int64(&info.number, num) != 1)
		info.number = -1;
	ERR_clear_error();
	info.der = (sp_slice){ (const char *)der, (size_t)len };
	res = cb(arg, &info);
out:
	ASN1_INTEGER_free(num);
	OPENSSL_free(name);
	sp_buf_free(&subj);
	return res;
}

sp_result
sp_crls_each(sp_slice data, const char *what, sp_crl_cb cb, void *arg)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	X509_CRL *crl = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long len = 0;

	if (memmem(data.p, data.len, "-----BEGIN", 10) == NULL) {
		crl = crl_of_der((const unsigned char *)data.p, (long)data.len);
		ENSURE(crl != NULL, SP_E_PARSE, "%s: no CRL in PEM, and not one whole DER "
		    "CRL (bad encoding or trailing bytes)", what);
		res = crl_visit(crl, (const unsigned char *)data.p, (long)data.len, cb, arg);
		goto out;
	}
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(data.p, (int)data.len), "CRL buffer");
	for (int i = 1;; i++) {
		ERR_clear_error();
		if (PEM_read_bio(bio, &name, &header, &der, &len) != 1) {
			unsigned long e = ERR_peek_last_error();

			ENSURE(i > 1 && ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE, SP_E_PARSE,
			    "%s: PEM block %d is not a readable PEM block", what, i);
			break;
		}
		ENSURE(strcmp(name, PEM_STRING_X509_CRL) == 0, SP_E_PARSE,
		    "%s: PEM block %d is a %s, not an X509 CRL", what, i, name);
		ENSURE(i <= SP_CRLS_EACH_MAX, SP_E_LIMIT, "%s: more than %d CRLs", what,
		    SP_CRLS_EACH_MAX);
		crl = crl_of_der(der, len);
		ENSURE(crl != NULL, SP_E_PARSE, "%s: PEM block %d is not one whole CRL",
		    what, i);
		TRY(crl_visit(crl, der, len, cb, arg));
		X509_CRL_free(crl);
		crl = NULL;
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		name = header = NULL;
		der = NULL;
	}
out:
	ERR_clear_error();
	X509_CRL_free(crl);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return res;
}

sp_result
sp_crl_der_to_pem(sp_slice der, sp_buf *out)
{
	sp_result res = SP_OK;
	X509_CRL *crl = crl_of_der((const unsigned char *)der.p, (long)der.len);

	ENSURE(crl != NULL, SP_E_PARSE, "not one whole DER CRL");
	TRY(pki_encode(PKI_CRL, crl, out));
out:
	X509_CRL_free(crl);
	return res;
}
