/*
 * A simulated device's files in memory (engine.h): client.crt, client.key
 * and server-ca.crt parsed once per round of the device (once per resync in
 * a storm), not by libcurl and again by the attempt at every connection.
 *
 * OpenSSL 3.0 is slow at the generic paths here: PEM_read_bio_PrivateKey
 * builds a decoder chain for every call (~750 us on the bench box), and a
 * store loaded from a file costs ~250 us.  So a worker keeps one decoder
 * context for PKCS#8 keys (~20 us a key) and one X509_STORE per distinct
 * server-ca.crt content: a fleet of one vendor has one.  The store is built
 * by sp_srvcheck_load_roots, exactly as for the device, and only shared
 * between SSL_CTXs (X509_STORE is reference counted and locked).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "device/check.h"
#include "fleet/engine.h"

#define FL_PEM_MAX (64u * 1024) /* one bundle file */

void
fl_creds_free(sp_fetch_creds *c)
{
	if (c == NULL)
		return;
	X509_STORE_free(c->roots);
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	free(c);
}

void
fl_loader_free(fl_loader *ld)
{
	for (size_t i = 0; i < ld->nroots; i++) {
		free(ld->roots[i].pem);
		X509_STORE_free(ld->roots[i].st);
	}
	ld->nroots = 0;
	OSSL_DECODER_CTX_free(ld->dec);
	ld->dec = NULL;
	EVP_PKEY_free(ld->dec_out);
	ld->dec_out = NULL;
}

/* The store for the trust roots in path (its bytes pem): a kept one, or built. */
static sp_result
load_roots(fl_loader *ld, const char *path, const sp_buf *pem, X509_STORE **out)
{
	sp_result res = SP_OK;
	X509_STORE *st = NULL;
	char *copy = NULL;

	*out = NULL;
	for (size_t i = 0; i < ld->nroots; i++) {
		if (ld->roots[i].len == pem->len && memcmp(ld->roots[i].pem, pem->p, pem->len) == 0) {
			TRY_OSSL(X509_STORE_up_ref(ld->roots[i].st), "X509_STORE_up_ref");
			*out = ld->roots[i].st;
			goto out;
		}
	}
	TRY(sp_srvcheck_load_roots(path, &st));
	if (ld->nroots < FL_ROOTS_MAX && (copy = malloc(pem->len ? pem->len : 1)) != NULL &&
	    X509_STORE_up_ref(st) == 1) {
		memcpy(copy, pem->p, pem->len);
		ld->roots[ld->nroots].pem = copy;
		ld->roots[ld->nroots].len = pem->len;
		ld->roots[ld->nroots].st = st;
		ld->nroots++;
		copy = NULL;
	}
	*out = st;
	st = NULL;
out:
	free(copy);
	X509_STORE_free(st);
	return res;
}

/*
 * The DER of the first PEM block of pem named want (or want2, if not NULL)
 * and without headers (an encrypted key has some): false if there is none.
 * Free *der with OPENSSL_clear_free(*der, *len).
 */
static bool
pem_der(const sp_buf *pem, const char *want, const char *want2, unsigned char **der, long *len)
{
	BIO *bio = BIO_new_mem_buf(pem->p, (int)pem->len);
	char *name = NULL, *header = NULL;
	bool found = false;

	*der = NULL;
	while (bio != NULL && !found && PEM_read_bio(bio, &name, &header, der, len) == 1) {
		found = header[0] == '\0' &&
		    (strcmp(name, want) == 0 || (want2 != NULL && strcmp(name, want2) == 0));
		if (!found) {
			OPENSSL_clear_free(*der, (size_t)*len);
			*der = NULL;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		name = header = NULL;
	}
	BIO_free(bio);
	ERR_clear_error(); /* the end of the blocks */
	return found;
}

/* A PKCS#8 PEM key through the worker's decoder; any other PEM key the slow way. */
static sp_result
load_key(fl_loader *ld, const char *path, const sp_buf *pem, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	unsigned char *der = NULL;
	long derlen = 0;

	*out = NULL;
	if (pem_der(pem, PEM_STRING_PKCS8INF, NULL, &der, &derlen)) {
		const unsigned char *p = der;
		size_t left = (size_t)derlen;
		if (ld->dec == NULL)
			TRY_OSSL_PTR(ld->dec, OSSL_DECODER_CTX_new_for_pkey(&ld->dec_out, "DER",
			    "PrivateKeyInfo", NULL, EVP_PKEY_KEYPAIR, NULL, NULL),
			    "OSSL_DECODER_CTX_new_for_pkey");
		if (OSSL_DECODER_from_data(ld->dec, &p, &left) == 1 && ld->dec_out != NULL) {
			*out = ld->dec_out;
			ld->dec_out = NULL;
			goto out;
		}
		EVP_PKEY_free(ld->dec_out);
		ld->dec_out = NULL;
		ERR_clear_error();
	}
	/* Not PKCS#8 (or not decoded so): as libcurl reads it. */
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(pem->p, (int)pem->len), "BIO_new_mem_buf");
	*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (*out == NULL)
		res = sp_error_ossl(SP_E_PARSE, "%s: not a PEM private key", path);
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)derlen);
	BIO_free(bio);
	return res;
}

/*
 * The first certificate, as libcurl and PEM_read_bio_X509 take it; the
 * base64 is undone here and the DER given to d2i_X509 (PEM_read_bio_X509
 * costs twice as much on OpenSSL 3.0).
 */
static sp_result
load_cert(const char *path, const sp_buf *pem, X509 **out)
{
	unsigned char *der = NULL;
	long derlen = 0;

	*out = NULL;
	if (pem_der(pem, PEM_STRING_X509, PEM_STRING_X509_OLD, &der, &derlen)) {
		const unsigned char *p = der;
		*out = d2i_X509(NULL, &p, derlen);
		OPENSSL_clear_free(der, (size_t)derlen);
	}
	if (*out == NULL)
		return sp_error_ossl(SP_E_PARSE, "%s: not a PEM certificate", path);
	return SP_OK;
}

sp_result
fl_creds_load(fl_loader *ld, const char *ca, const char *crt, const char *key,
    sp_fetch_creds **out)
{
	sp_result res = SP_OK;
	sp_fetch_creds *c = NULL;
	sp_buf b;

	*out = NULL;
	sp_buf_init_secret(&b, FL_PEM_MAX);
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	TRY(sp_read_file(ca, FL_PEM_MAX, &b));
	TRY(load_roots(ld, ca, &b, &c->roots));
	sp_buf_free(&b); /* sp_read_file starts its buffer afresh */
	TRY(sp_read_file(crt, FL_PEM_MAX, &b));
	TRY(load_cert(crt, &b, &c->cert));
	sp_buf_free_secret(&b);
	TRY(sp_read_file_secret(key, FL_PEM_MAX, &b));
	TRY(load_key(ld, key, &b, &c->key));
	/* A key that does not match the certificate fails here, not in each handshake. */
	ENSURE(X509_check_private_key(c->cert, c->key) == 1, SP_E_PARSE,
	    "%s does not match the certificate of %s", key, crt);
	*out = c;
	c = NULL;
out:
	ERR_clear_error();
	sp_buf_free_secret(&b);
	fl_creds_free(c);
	return res;
}
