/*
 * The GnuTLS backend's server key when the key process holds it
 * (src/keyproc): a gnutls_privkey_t made with gnutls_privkey_import_ext4
 * whose sign callback is a round-trip to the key process, next to the
 * certificate chain read here.  This process never has the key bytes.
 */
#include "tls/tls_internal.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "common/log.h"
#include "common/util.h"
#include "keyproc/keyproc.h"

#define TLS_CHAIN_MAX 16 /* certificates in the server's chain file */

typedef struct gkey {
	sp_keyproc *kp;
	uint32_t id;
	gnutls_pk_algorithm_t pk;
	unsigned int bits;
} gkey;

/* What the key process does for a GnuTLS signature algorithm; false: not offered. */
static bool
alg_of(const gkey *k, gnutls_sign_algorithm_t algo, sp_kp_alg *alg, sp_kp_md *md)
{
	bool rsa = k->pk == GNUTLS_PK_RSA;

	*md = SP_KP_MD_NONE;
	switch (algo) {
	case GNUTLS_SIGN_RSA_RAW:
		*alg = SP_KP_RSA_PKCS1; /* a DigestInfo */
		return rsa;
	case GNUTLS_SIGN_RSA_SHA256:
	case GNUTLS_SIGN_RSA_SHA384:
	case GNUTLS_SIGN_RSA_SHA512:
		*alg = SP_KP_RSA_PKCS1;
		*md = algo == GNUTLS_SIGN_RSA_SHA256 ? SP_KP_MD_SHA256 :
		    algo == GNUTLS_SIGN_RSA_SHA384 ? SP_KP_MD_SHA384 : SP_KP_MD_SHA512;
		return rsa;
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA256:
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA384:
	case GNUTLS_SIGN_RSA_PSS_RSAE_SHA512:
		*alg = SP_KP_RSA_PSS;
		*md = algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA256 ? SP_KP_MD_SHA256 :
		    algo == GNUTLS_SIGN_RSA_PSS_RSAE_SHA384 ? SP_KP_MD_SHA384 : SP_KP_MD_SHA512;
		return rsa;
	case GNUTLS_SIGN_ECDSA_SHA256:
	case GNUTLS_SIGN_ECDSA_SHA384:
	case GNUTLS_SIGN_ECDSA_SHA512:
		*alg = SP_KP_ECDSA;
		return k->pk == GNUTLS_PK_ECDSA;
	case GNUTLS_SIGN_ECDSA_SECP256R1_SHA256:
	case GNUTLS_SIGN_ECDSA_SECP384R1_SHA384:
		/* TLS 1.3 ties the curve to the algorithm. */
		*alg = SP_KP_ECDSA;
		return k->pk == GNUTLS_PK_ECDSA && k->bits ==
		    (algo == GNUTLS_SIGN_ECDSA_SECP256R1_SHA256 ? 256u : 384u);
	default:
		return false;
	}
}

static int
key_info(gnutls_privkey_t key, unsigned int flags, void *ud)
{
	const gkey *k = ud;
	sp_kp_alg alg;
	sp_kp_md md;

	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)k->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)k->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO)
		return alg_of(k, (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags), &alg,
		    &md) ? 1 : 0;
	return -1;
}

static int
key_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo, void *ud,
    unsigned int flags, const gnutls_datum_t *hash, gnutls_datum_t *sig)
{
	const gkey *k = ud;
	sp_kp_alg alg;
	sp_kp_md md;
	uint8_t out[SP_KP_OUT_MAX];
	size_t n = sizeof(out);

	if (!alg_of(k, algo, &alg, &md))
		return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
	if (sp_failed(sp_keyproc_sign(k->kp, k->id, alg, md, hash->data, hash->size, out,
	    &n))) {
		sp_err("tls: %s", sp_errmsg());
		return GNUTLS_E_PK_SIGN_FAILED;
	}
	if ((sig->data = gnutls_malloc(n)) == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(sig->data, out, n);
	sig->size = (unsigned int)n;
	return 0;
}

static void
key_deinit(gnutls_privkey_t key, void *ud)
{
	free(ud);
}

sp_result
sp_tls_gnutls_keyproc_key(struct gnutls_certificate_credentials_st *cred,
    const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
	unsigned int n = TLS_CHAIN_MAX, bits = 0;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t d, der = { NULL, 0 };
	gkey *k = NULL;
	sp_buf pem, spki;
	uint32_t id;
	int rv, alg;

	sp_buf_init(&pem, SP_TLS_CERT_MAX);
	sp_buf_init(&spki, SP_KP_OUT_MAX);
	TRY(sp_read_file(cfg->cert_file, SP_TLS_CERT_MAX, &pem));
	d.data = (unsigned char *)(pem.p ? pem.p : "");
	d.size = (unsigned int)pem.len;
	if ((rv = gnutls_pcert_list_import_x509_raw(pcerts, &n, &d, GNUTLS_X509_FMT_PEM,
	    0)) < 0) {
		n = 0;
		res = sp_error(SP_E_CRYPTO, "server certificate %s: %s", cfg->cert_file,
		    gnutls_strerror(rv));
		goto out;
	}
	ENSURE(n > 0, SP_E_CRYPTO, "server certificate %s: no certificate", cfg->cert_file);
	TRY(sp_keyproc_load(cfg->keyproc, cfg->key_file, &id, &spki));
	ENSURE(gnutls_pubkey_export2(pcerts[0].pubkey, GNUTLS_X509_FMT_DER, &der) == 0,
	    SP_E_CRYPTO, "server certificate %s: public key", cfg->cert_file);
	ENSURE(der.size == spki.len && memcmp(der.data, spki.p, spki.len) == 0, SP_E_CRYPTO,
	    "server key %s does not match certificate %s (key values mismatch)",
	    cfg->key_file, cfg->cert_file);
	alg = gnutls_pubkey_get_pk_algorithm(pcerts[0].pubkey, &bits);
	ENSURE(alg == GNUTLS_PK_RSA || alg == GNUTLS_PK_ECDSA, SP_E_POLICY,
	    "server certificate %s: the key process holds EC and RSA keys only",
	    cfg->cert_file);
	TRY_ALLOC(k, calloc(1, sizeof(*k)));
	*k = (gkey){ cfg->keyproc, id, (gnutls_pk_algorithm_t)alg, bits };
	ENSURE(gnutls_privkey_init(&pk) == 0, SP_E_NOMEM, "out of memory");
	if ((rv = gnutls_privkey_import_ext4(pk, k, NULL, key_sign_hash, NULL, key_deinit,
	    key_info, 0)) < 0) {
		res = sp_error(SP_E_CRYPTO, "server key %s (key process): %s", cfg->key_file,
		    gnutls_strerror(rv));
		goto out;
	}
	k = NULL; /* pk's now */
	/* The credentials take the chain and the key over, and try a signature. */
	if ((rv = gnutls_certificate_set_key(cred, NULL, 0, pcerts, (int)n, pk)) < 0) {
		res = sp_error(SP_E_CRYPTO, "server certificate %s / key %s (key process): %s",
		    cfg->cert_file, cfg->key_file, gnutls_strerror(rv));
		goto out;
	}
	pk = NULL;
	n = 0;
out:
	for (unsigned int i = 0; i < n; i++)
		gnutls_pcert_deinit(&pcerts[i]);
	gnutls_privkey_deinit(pk);
	free(k);
	gnutls_free(der.data);
	sp_buf_free(&pem);
	sp_buf_free(&spki);
	return res;
}
