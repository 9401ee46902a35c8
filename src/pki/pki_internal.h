/*
 * What the pki files share and nobody else needs: reading a file into a
 * parser, and writing an object through a memory BIO into an sp_buf.
 */
#ifndef SPROV_PKI_PKI_INT_H
#define SPROV_PKI_PKI_INT_H

#include "pki/pki.h"

typedef enum {
	PKI_CERT,     /* X509: PEM */
	PKI_CSR,      /* X509_REQ: PEM (load: PEM or DER) */
	PKI_KEY,      /* EVP_PKEY: PKCS#8 PEM, through a secure-heap BIO */
	PKI_CRL,      /* X509_CRL: PEM */
	PKI_SUBJECT,  /* X509_NAME: the one-line "O=sprov, CN=x" form */
} pki_kind;

/*
 * Read path (at most SP_PEM_MAX bytes) and parse it as kind (PKI_CERT or
 * PKI_CSR) into *out (an X509 ** or X509_REQ **); a parse error names the file.
 */
SP_MUST_CHECK sp_result pki_load(const char *path, pki_kind kind, void *out);

/* Append obj, encoded as kind, to out. */
SP_MUST_CHECK sp_result pki_encode(pki_kind kind, const void *obj, sp_buf *out);

/*
 * A subject of one CN (UTF8String, explicitly: the CN rule has already
 * limited it to ASCII): the whole subject of a CSR and of a server certificate.
 */
SP_MUST_CHECK sp_result pki_name_cn(const char *cn, X509_NAME **out);

/* The AKI extension (keyid = the CA's SKI) of whatever ca signs. */
SP_MUST_CHECK sp_result pki_make_aki(X509 *ca, X509_EXTENSION **out);

#endif
