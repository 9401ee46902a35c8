#include "pki/pki_internal.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"

sp_result
pki_load(const char *path, pki_kind kind, void *out)
{
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, SP_PEM_MAX);
	TRY(sp_read_file(path, SP_PEM_MAX, &b));
	switch (kind) {
	case PKI_CERT:
		res = sp_cert_parse_pem((const uint8_t *)b.p, b.len, out);
		break;
	case PKI_CSR:
		res = sp_csr_parse((const uint8_t *)b.p, b.len, out);
		break;
	default:
		res = sp_error(SP_E_INTERNAL, "pki_load: unsupported kind %d", (int)kind);
		break;
	}
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", path);
out:
	sp_buf_free(&b);
	return res;
}

sp_result
pki_name_cn(const char *cn, X509_NAME **out)
{
	sp_result res = SP_OK;
	X509_NAME *name = NULL;

	TRY_OSSL_PTR(name, X509_NAME_new(), "subject");
	TRY_OSSL(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
	    (const unsigned char *)cn, (int)strlen(cn), -1, 0), "subject CN");
	*out = name;
	name = NULL;
out:
	X509_NAME_free(name);
	return res;
}

static int
write_obj(BIO *bio, pki_kind kind, const void *obj)
{
	unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
	    (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);

	switch (kind) {
	case PKI_CERT:
		return PEM_write_bio_X509(bio, obj);
	case PKI_CSR:
		return PEM_write_bio_X509_REQ(bio, obj);
	case PKI_KEY:
		return PEM_write_bio_PrivateKey(bio, obj, NULL, NULL, 0, NULL, NULL);
	case PKI_CRL:
		return PEM_write_bio_X509_CRL(bio, obj);
	case PKI_SUBJECT:
		return X509_NAME_print_ex(bio, obj, 0, flags) >= 0;
	}
	return 0;
}

sp_result
pki_encode(pki_kind kind, const void *obj, sp_buf *out)
{
	static const char *const what[] = {
		[PKI_CERT] = "certificate", [PKI_CSR] = "CSR", [PKI_KEY] = "private key",
		[PKI_CRL] = "CRL", [PKI_SUBJECT] = "subject",
	};
	sp_result res = SP_OK;
	BIO *bio = NULL;
	char *p;
	long n;

	/* A private key's PEM stays in the secure heap until it reaches out. */
	TRY_OSSL_PTR(bio, BIO_new(kind == PKI_KEY ? BIO_s_secmem() : BIO_s_mem()), "%s",
	    what[kind]);
	TRY_OSSL(write_obj(bio, kind, obj), "%s encoding", what[kind]);
	n = BIO_get_mem_data(bio, &p);
	TRY(sp_buf_append(out, p, (size_t)n));
out:
	BIO_free(bio);
	return res;
}

sp_result
sp_pem_encode(const char *label, const void *der, size_t n, sp_buf *out)
{
	sp_result res = SP_OK;
	const unsigned char *d = der;
	unsigned char line[66];

	TRY(sp_buf_printf(out, "-----BEGIN %s-----\n", label));
	for (size_t i = 0; i < n; i += 48) {
		int k = EVP_EncodeBlock(line, d + i, (int)(n - i < 48 ? n - i : 48));
		line[k] = '\n';
		TRY(sp_buf_append(out, line, (size_t)k + 1));
	}
	TRY(sp_buf_printf(out, "-----END %s-----\n", label));
out:
	OPENSSL_cleanse(line, sizeof(line));
	return res;
}
