/*
 * Keys held in a PKCS#11 token (an HSM; SoftHSM2 in the tests), named by
 * RFC 7512 "pkcs11:" URIs.  All PKCS#11 code of sprov is in token.c; the CA
 * and the TLS server see an EVP_PKEY and nothing else, and sign with it
 * through the same X509_sign / X509_CRL_sign / SSL calls as a file key.
 *
 * The PIN never comes from argv (every user can read it there): it is read
 * from $SPROV_PKCS11_PIN, from a PIN file that only its owner can read, or
 * from a URI's pin-source attribute (a file, the same rule).  A URI with a
 * pin-value is refused.
 */
#ifndef SPROV_PKI_TOKEN_H
#define SPROV_PKI_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/result.h"
#include "pki/pki.h"

#define SP_TOKEN_PIN_ENV "SPROV_PKCS11_PIN"
#ifndef SP_TOKEN_MODULE_DEFAULT
#define SP_TOKEN_MODULE_DEFAULT "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"
#endif
#define SP_TOKEN_PIN_MAX 256     /* bytes of a PIN (file or environment) */
#define SP_TOKEN_URI_MAX 1024    /* a key URI as sprov writes it */
#define SP_TOKEN_KEYGEN_MAX 4    /* key pairs made by one sp_token_keygen */

/* Messages both users of a token key give (libp11 and GnuTLS). */
#define SP_TOKEN_LOGIN_REFUSED "login refused: wrong PIN, or the PIN is locked"
#define SP_TOKEN_NO_TOKEN "no token matches '%s' in PKCS#11 module %s"
#define SP_TOKEN_NO_KEY "token '%s' holds no private key that '%s' names"

/* s starts with "pkcs11:" (case-insensitive, RFC 7512). */
bool sp_token_is_uri(const char *s);

/*
 * The PIN: from pin_file if not NULL (a regular file of mode 0600 or
 * stricter, one line), else from $SPROV_PKCS11_PIN.  *pin is initialised here
 * as a secret buffer; free it with sp_buf_free_secret.
 */
SP_MUST_CHECK sp_result sp_token_pin(const char *pin_file, sp_buf *pin);

typedef struct sp_token_keyspec {
	const char *label;   /* CKA_LABEL of both halves of the pair */
	sp_key_type type;    /* EC only: ec-p256 or ec-p384 */
} sp_token_keyspec;

/*
 * Generate n key pairs inside the token that token_uri names (a URI with
 * token attributes only, no module-path or pin-source): private halves CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN.  Nothing is generated if the
 * module cannot be loaded, no token matches, the PIN is refused or an object
 * with one of the labels exists; if a later pair fails, the earlier ones are
 * destroyed again.  key_uri[i] gets the URI of pair i's private key
 * (malloc'd; free it).  module NULL: the p11-kit proxy.
 */
SP_MUST_CHECK sp_result sp_token_keygen(const char *module, const char *token_uri,
    const char *pin, const sp_token_keyspec *keys, size_t n, char **key_uri);

/*
 * The URI of the token that holds key_uri's key (its token attributes
 * only), as sp_token_keygen takes it: to make one more key next to the
 * others.  *out is malloc'd.
 */
SP_MUST_CHECK sp_result sp_token_uri_of_token(const char *key_uri, char **out);

/*
 * The private key that key_uri names (token attributes and object= or id=),
 * as an EVP_PKEY that signs inside the token.  The module stays loaded and
 * logged in until the process ends (one module per process; another is
 * refused).  module NULL: the URI's module-path, else the p11-kit proxy.
 * pin NULL: the URI's pin-source file, else $SPROV_PKCS11_PIN.
 */
SP_MUST_CHECK sp_result sp_token_key_load(const char *module, const char *key_uri,
    const char *pin, EVP_PKEY **out);

/*
 * For a library other than libp11 that loads key_uri itself (the GnuTLS
 * backend): the URI checked as sp_token_key_load checks it, the module by
 * the same rule (its module-path, else the p11-kit proxy) and the PIN (its
 * pin-source file, else $SPROV_PKCS11_PIN).  uri is key_uri without its
 * pin-source, so that the library asks for the PIN read here.
 */
typedef struct sp_token_ref {
	char *uri;
	char *module;
	sp_buf pin; /* secret */
} sp_token_ref;

SP_MUST_CHECK sp_result sp_token_ref_get(const char *key_uri, sp_token_ref *ref);
void sp_token_ref_free(sp_token_ref *ref);

/* The module file is there and readable: "PKCS#11 module PATH: why" if not. */
SP_MUST_CHECK sp_result sp_token_module_check(const char *module);

#endif
