/*
 * The GnuTLS backend's server key when it is not a plain file, next to the
 * certificate chain read here:
 * - the key process holds it (src/keyproc): a gnutls_privkey_t made with
 *   gnutls_privkey_import_ext4 whose sign callback is a round-trip to the key
 *   process.  This process never has the key bytes.
 * - a PKCS#11 token holds it (--key 'pkcs11:...'): GnuTLS's own PKCS#11
 *   layer signs in the token.  The module and the PIN follow the rules of
 *   src/pki/token.h, as the OpenSSL backend's libp11 path does.
 */
#include "tls/tls_internal.h"

#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "keyproc/keyproc.h"
#include "pki/token.h"

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

/* The server's chain from cfg->cert_file into pcerts[TLS_CHAIN_MAX]; *n: how many. */
static sp_result
chain_read(const sp_tls_config *cfg, gnutls_pcert_st *pcerts, unsigned int *n)
{
	sp_result res = SP_OK;
	gnutls_datum_t d;
	sp_buf pem;
	int rv;

	*n = 0;
	sp_buf_init(&pem, SP_TLS_CERT_MAX);
	TRY(sp_read_file(cfg->cert_file, SP_TLS_CERT_MAX, &pem));
	d.data = (unsigned char *)(pem.p ? pem.p : "");
	d.size = (unsigned int)pem.len;
	*n = TLS_CHAIN_MAX;
	if ((rv = gnutls_pcert_list_import_x509_raw(pcerts, n, &d, GNUTLS_X509_FMT_PEM,
	    0)) < 0) {
		*n = 0;
		res = sp_error(SP_E_CRYPTO, "server certificate %s: %s", cfg->cert_file,
		    gnutls_strerror(rv));
		goto out;
	}
	if (*n == 0)
		res = sp_error(SP_E_CRYPTO, "server certificate %s: no certificate",
		    cfg->cert_file);
out:
	sp_buf_free(&pem);
	return res;
}

sp_result
sp_tls_gnutls_keyproc_key(struct gnutls_certificate_credentials_st *cred,
    const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
	unsigned int n = 0, bits = 0;
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t der = { NULL, 0 };
	gkey *k = NULL;
	sp_buf spki;
	uint32_t id;
	int rv, alg;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	TRY(chain_read(cfg, pcerts, &n));
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
	sp_buf_free(&spki);
	return res;
}

/* ---- a key in a PKCS#11 token ---- */

/*
 * GnuTLS's PKCS#11 layer is process-wide: one module, loaded on first use
 * and kept (with the PIN, for a login GnuTLS redoes after a fork or a token
 * reset) until sp_tls_gnutls_p11_deinit; another module is refused, as in
 * src/pki/token.c.
 */
static struct {
	pthread_mutex_t mu;
	bool init;
	char *module;
	sp_buf pin;    /* secret */
	bool refused;  /* the token refused the PIN */
} p11 = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* GnuTLS asks for the PIN; a second attempt means the first was wrong: stop. */
static int
p11_pin(void *ud, int attempt, const char *token_url, const char *token_label,
    unsigned int flags, char *pin, size_t pin_max)
{
	(void)ud;
	(void)token_url;
	(void)token_label;
	if (attempt > 0 || (flags & (GNUTLS_PIN_WRONG | GNUTLS_PIN_SO))) {
		p11.refused = true;
		return GNUTLS_E_PKCS11_PIN_ERROR;
	}
	if (p11.pin.len == 0 || p11.pin.len >= pin_max)
		return GNUTLS_E_PKCS11_PIN_ERROR;
	memcpy(pin, p11.pin.p, p11.pin.len);
	pin[p11.pin.len] = '\0';
	return 0;
}

static sp_result
p11_module_locked(const char *module)
{
	sp_result res = SP_OK;
	int rv;

	if (p11.init) {
		ENSURE(strcmp(p11.module, module) == 0, SP_E_STATE, "PKCS#11 module %s: %s "
		    "is already in use in this process", module, p11.module);
		goto out;
	}
	TRY(sp_token_module_check(module));
	TRY_ALLOC(p11.module, strdup(module));
	if ((rv = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL)) < 0) {
		res = sp_error(SP_E_CRYPTO, "PKCS#11: %s", gnutls_strerror(rv));
		goto out;
	}
	if ((rv = gnutls_pkcs11_add_provider(module, NULL)) < 0) {
		gnutls_pkcs11_deinit();
		res = sp_error(SP_E_IO, "PKCS#11 module %s: cannot load it: %s", module,
		    gnutls_strerror(rv));
		goto out;
	}
	p11.init = true;
out:
	if (!p11.init) {
		free(p11.module);
		p11.module = NULL;
	}
	return res;
}

sp_result
sp_tls_gnutls_p11_key(struct gnutls_certificate_credentials_st *cred,
    const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	gnutls_pcert_st pcerts[TLS_CHAIN_MAX];
	unsigned int n = 0;
	gnutls_privkey_t pk = NULL;
	sp_token_ref ref = { 0 };
	char label[128], q[SP_TOKEN_URI_MAX + 1];
	size_t len = sizeof(label) - 1;
	bool locked = false;
	int rv;

	sp_quote(sp_slice_of(cfg->key_file), q, sizeof(q));
	res = sp_token_ref_get(cfg->key_file, &ref);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "server key"));
	TRY(chain_read(cfg, pcerts, &n));
	pthread_mutex_lock(&p11.mu);
	locked = true;
	res = p11_module_locked(ref.module);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "server key"));
	/* The URI's token= (GnuTLS reads it from the URI), for messages. */
	memset(label, 0, sizeof(label));
	if (gnutls_pkcs11_token_get_info(ref.uri, GNUTLS_PKCS11_TOKEN_LABEL, label,
	    &len) < 0)
		label[0] = '\0';
	/* This load's PIN replaces the last one. */
	sp_buf_free_secret(&p11.pin);
	p11.pin = ref.pin;
	sp_buf_init_secret(&ref.pin, SP_TOKEN_PIN_MAX + 2);
	p11.refused = false;
	ENSURE(gnutls_privkey_init(&pk) == 0, SP_E_NOMEM, "out of memory");
	gnutls_privkey_set_pin_function(pk, p11_pin, NULL);
	rv = gnutls_privkey_import_url(pk, ref.uri, 0);
	ENSURE(!p11.refused && rv != GNUTLS_E_PKCS11_PIN_ERROR &&
	    rv != GNUTLS_E_PKCS11_PIN_LOCKED, SP_E_VERIFY, "server key: token '%s': %s",
	    label, SP_TOKEN_LOGIN_REFUSED);
	ENSURE(rv != GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE, SP_E_NOTFOUND,
	    "server key: " SP_TOKEN_NO_TOKEN, q, ref.module);
	ENSURE(rv != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE, SP_E_NOTFOUND,
	    "server key: " SP_TOKEN_NO_KEY, label, q);
	ENSURE(rv >= 0, SP_E_CRYPTO, "server key: token '%s': key '%s': %s", label, q,
	    gnutls_strerror(rv));
	/* The credentials take the chain and the key over, and try a signature. */
	if ((rv = gnutls_certificate_set_key(cred, NULL, 0, pcerts, (int)n, pk)) < 0) {
		res = rv == GNUTLS_E_CERTIFICATE_KEY_MISMATCH ? sp_error(SP_E_CRYPTO,
		    "server key %s does not match certificate %s (key values mismatch)", q,
		    cfg->cert_file) : sp_error(SP_E_CRYPTO, "server certificate %s / key %s: "
		    "%s", cfg->cert_file, q, gnutls_strerror(rv));
		goto out;
	}
	pk = NULL;
	n = 0;
out:
	if (locked)
		pthread_mutex_unlock(&p11.mu);
	for (unsigned int i = 0; i < n; i++)
		gnutls_pcert_deinit(&pcerts[i]);
	gnutls_privkey_deinit(pk);
	sp_token_ref_free(&ref);
	return res;
}

void
sp_tls_gnutls_p11_deinit(void)
{
	pthread_mutex_lock(&p11.mu);
	if (p11.init)
		gnutls_pkcs11_deinit();
	p11.init = false;
	free(p11.module);
	p11.module = NULL;
	sp_buf_free_secret(&p11.pin);
	pthread_mutex_unlock(&p11.mu);
}
