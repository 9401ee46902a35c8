/*
 * The serving process' OpenSSL private key: an EVP_PKEY that has the
 * public half only and sends every private operation to the key process.
 *
 * Why EC_KEY_METHOD / RSA_METHOD and not an OpenSSL 3 provider: a key with
 * its own method is a "foreign" legacy key that OpenSSL 3 keeps on the
 * legacy code path (it does not export it to a provider), so libssl's
 * signatures reach our two callbacks: ECDSA_sign for EC keys, and for RSA
 * the private "encrypt" after OpenSSL has done the padding itself (PKCS#1
 * v1.5 for TLS 1.2, PSS for TLS 1.3).  That is ~150 lines; a provider
 * needs a key manager, a signature implementation with its own digest
 * handling and PSS parameters, and a store or import path for the public
 * key - several times the code for the same three operations.  The APIs
 * are deprecated in OpenSSL 3 but supported throughout 3.x; the
 * deprecation is confined to this file.
 */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "keyproc/keyproc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

typedef struct kp_ref {
	sp_keyproc *kp;
	uint32_t id;
} kp_ref;

static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;
static int ec_idx = -1, rsa_idx = -1;
static pthread_once_t meth_once = PTHREAD_ONCE_INIT;

static void
ref_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static int
ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	kp_ref *ref = EC_KEY_get_ex_data(ec, ec_idx);
	size_t n = (size_t)ECDSA_size(ec);

	if (ref == NULL || dlen <= 0 || sp_failed(sp_keyproc_sign(ref->kp, ref->id,
	    SP_KP_ECDSA, SP_KP_MD_NONE, dgst, (size_t)dlen, sig, &n))) {
		ERR_raise_data(ERR_LIB_EC, ERR_R_EC_LIB, "%s", sp_errmsg());
		return 0;
	}
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r,
    EC_KEY *ec)
{
	unsigned char der[256];
	const unsigned char *p = der;
	unsigned int n = 0;

	if ((size_t)ECDSA_size(ec) > sizeof(der) ||
	    ec_sign(0, dgst, dlen, der, &n, kinv, r, ec) != 1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)n);
}

static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
    int padding)
{
	kp_ref *ref = RSA_get_ex_data(rsa, rsa_idx);
	size_t n = (size_t)RSA_size(rsa);
	sp_kp_alg alg = padding == RSA_NO_PADDING ? SP_KP_RSA_RAW :
	    padding == RSA_PKCS1_PADDING ? SP_KP_RSA_PKCS1 : SP_KP_ALG_NONE;

	if (ref == NULL || flen <= 0 || alg == SP_KP_ALG_NONE ||
	    sp_failed(sp_keyproc_sign(ref->kp, ref->id, alg, SP_KP_MD_NONE, from,
	    (size_t)flen, to, &n))) {
		ERR_raise_data(ERR_LIB_RSA, ERR_R_RSA_LIB, "%s",
		    alg == SP_KP_ALG_NONE ? "padding not offered by the key process" :
		    sp_errmsg());
		return -1;
	}
	return (int)n;
}

/* TLS 1.2 and 1.3 with ECDHE never decrypt with the server key. */
static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
    int padding)
{
	ERR_raise_data(ERR_LIB_RSA, ERR_R_RSA_LIB, "the key process only signs");
	return -1;
}

static void
meth_init(void)
{
	ec_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EC_KEY, 0, NULL, NULL, NULL,
	    ref_free);
	rsa_idx = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_RSA, 0, NULL, NULL, NULL,
	    ref_free);
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())) != NULL)
		EC_KEY_METHOD_set_sign(ec_meth, ec_sign, NULL, ec_sign_sig);
	if ((rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) != NULL) {
		(void)RSA_meth_set1_name(rsa_meth, "sprov key process");
		(void)RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc);
		(void)RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec);
	}
}

static sp_result
ec_pkey(kp_ref **ref, const EVP_PKEY *pub, EVP_PKEY *pk)
{
	sp_result res = SP_OK;
	EC_KEY *ec = NULL;

	TRY_OSSL_PTR(ec, EC_KEY_dup(EVP_PKEY_get0_EC_KEY(pub)), "EC public key");
	TRY_OSSL(EC_KEY_set_method(ec, ec_meth), "EC key method");
	TRY_OSSL(EC_KEY_set_ex_data(ec, ec_idx, *ref), "EC key");
	*ref = NULL; /* ec's now: freed with it */
	/* The method before the assignment: OpenSSL marks the key foreign then. */
	TRY_OSSL(EVP_PKEY_assign_EC_KEY(pk, ec), "EC key");
	ec = NULL;
out:
	EC_KEY_free(ec);
	return res;
}

static sp_result
rsa_pkey(kp_ref **ref, const EVP_PKEY *pub, EVP_PKEY *pk)
{
	sp_result res = SP_OK;
	RSA *rsa = NULL;
	const RSA *src = EVP_PKEY_get0_RSA(pub);
	const BIGNUM *n0 = NULL, *e0 = NULL;
	BIGNUM *n = NULL, *e = NULL;

	ENSURE(src != NULL, SP_E_CRYPTO, "RSA public key");
	RSA_get0_key(src, &n0, &e0, NULL);
	TRY_OSSL_PTR(rsa, RSA_new(), "RSA key");
	TRY_OSSL_PTR(n, BN_dup(n0), "RSA key");
	TRY_OSSL_PTR(e, BN_dup(e0), "RSA key");
	TRY_OSSL(RSA_set0_key(rsa, n, e, NULL), "RSA key");
	n = e = NULL;
	TRY_OSSL(RSA_set_method(rsa, rsa_meth), "RSA key method");
	TRY_OSSL(RSA_set_ex_data(rsa, rsa_idx, *ref), "RSA key");
	*ref = NULL; /* rsa's now: freed with it */
	TRY_OSSL(EVP_PKEY_assign_RSA(pk, rsa), "RSA key");
	rsa = NULL;
out:
	BN_free(n);
	BN_free(e);
	RSA_free(rsa);
	return res;
}

sp_result
sp_keyproc_evp_pkey(sp_keyproc *kp, uint32_t id, const EVP_PKEY *pub, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	EVP_PKEY *pk = NULL;
	kp_ref *ref = NULL;
	int type = EVP_PKEY_get_base_id(pub);

	pthread_once(&meth_once, meth_init);
	ENSURE(ec_meth != NULL && rsa_meth != NULL && ec_idx >= 0 && rsa_idx >= 0,
	    SP_E_CRYPTO, "key process: OpenSSL key methods");
	ENSURE(type == EVP_PKEY_EC || type == EVP_PKEY_RSA, SP_E_POLICY,
	    "key process: EC and RSA keys only");
	TRY_ALLOC(ref, calloc(1, sizeof(*ref)));
	ref->kp = kp;
	ref->id = id;
	TRY_OSSL_PTR(pk, EVP_PKEY_new(), "key");
	if (type == EVP_PKEY_EC)
		TRY(ec_pkey(&ref, pub, pk));
	else
		TRY(rsa_pkey(&ref, pub, pk));
	*out = pk;
	pk = NULL;
out:
	free(ref);
	EVP_PKEY_free(pk);
	return res;
}
