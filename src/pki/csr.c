#include "pki/pki.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"

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
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, SP_PEM_MAX);
	TRY(sp_read_file(path, SP_PEM_MAX, &b));
	res = sp_csr_parse((const uint8_t *)b.p, b.len, out);
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", path);
out:
	sp_buf_free(&b);
	return res;
}

sp_result
sp_csr_build(EVP_PKEY *key, const char *cn, X509_REQ **out)
{
	sp_result res = SP_OK;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;

	TRY_OSSL_PTR(req, X509_REQ_new(), "CSR");
	TRY_OSSL(X509_REQ_set_version(req, X509_REQ_VERSION_1), "CSR version");
	TRY_OSSL_PTR(name, X509_NAME_new(), "CSR subject");
	/* UTF8String, explicitly: the CN rule has already limited it to ASCII. */
	TRY_OSSL(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
	    (const unsigned char *)cn, (int)strlen(cn), -1, 0), "CSR subject CN");
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
	sp_result res = SP_OK;
	BIO *bio = NULL;
	char *p;
	long n;

	TRY_OSSL_PTR(bio, BIO_new(BIO_s_mem()), "CSR");
	TRY_OSSL(PEM_write_bio_X509_REQ(bio, req), "CSR encoding");
	n = BIO_get_mem_data(bio, &p);
	TRY(sp_buf_append(out, p, (size_t)n));
out:
	BIO_free(bio);
	return res;
}
