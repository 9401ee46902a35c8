#include "pki/pki.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "pki/pki_internal.h"

sp_result
sp_csr_parse(const uint8_t *p, size_t n, X509_REQ **out)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	const unsigned char *q = p;

	*out = NULL;
	ENSURE(n > 0 && n <= SP_PEM_MAX, SP_E_PARSE, "empty or oversized CSR");
	if (n >= 11 && memcmp(p, "-----BEGIN ", 11) == 0) {
		TRY_OSSL_PTR(bio, BIO_new_mem_buf(p, (int)n), "CSR");
		/* Accepts both "CERTIFICATE REQUEST" and "NEW CERTIFICATE REQUEST". */
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		/* OpenSSL's reason ("too long", "wrong tag") helps nobody here. */
		ENSURE(req != NULL, SP_E_PARSE, "not a PEM certificate request");
	} else {
		req = d2i_X509_REQ(NULL, &q, (long)n);
		ENSURE(req != NULL, SP_E_PARSE, "not a DER or PEM certificate request");
		ENSURE((size_t)(q - p) == n, SP_E_PARSE,
		    "trailing bytes after the DER certificate request");
	}
	*out = req;
	req = NULL;
out:
	ERR_clear_error();
	BIO_free(bio);
	X509_REQ_free(req);
	return res;
}

sp_result
sp_csr_load(const char *path, X509_REQ **out)
{
	return pki_load(path, PKI_CSR, out);
}

sp_result
sp_csr_build(EVP_PKEY *key, const char *cn, X509_REQ **out)
{
	sp_result res = SP_OK;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;

	TRY_OSSL_PTR(req, X509_REQ_new(), "CSR");
	TRY_OSSL(X509_REQ_set_version(req, X509_REQ_VERSION_1), "CSR version");
	TRY(pki_name_cn(cn, &name));
	TRY_OSSL(X509_REQ_set_subject_name(req, name), "CSR subject");
	TRY_OSSL(X509_REQ_set_pubkey(req, key), "CSR public key");
	TRY_OSSL(X509_REQ_sign(req, key, EVP_sha256()) > 0 ? 1 : 0, "signing the CSR");
	*out = req;
	req = NULL;
out:
	X509_NAME_free(name);
	X509_REQ_free(req);
	return res;
}

sp_result
sp_csr_pem(X509_REQ *req, sp_buf *out)
{
	return pki_encode(PKI_CSR, req, out);
}
