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

/* The server's chain and its key, until the credentials take them over. */
typedef struct gchain {
	gnutls_pcert_st c[TLS_CHAIN_MAX];
	unsigned int n;
	gnutls_privkey_t pk;
} gchain;

static void
chain_free(gchain *ch)
{
	for (unsigned int i = 0; i < ch->n; i++)
		gnutls_pcert_deinit(&ch->c[i]);
	ch->n = 0;
	gnutls_privkey_deinit(ch->pk);
	ch->pk = NULL;
}

/* The server's chain from cfg->cert_file into ch. */
static sp_result
chain_read(const sp_tls_config *cfg, gchain *ch)
{
	sp_result res = SP_OK;
	gnutls_datum_t d;
	sp_buf pem;
	int rv;

	ch->n = 0;
	sp_buf_init(&pem, SP_TLS_CERT_MAX);
	TRY(sp_read_file(cfg->cert_file, SP_TLS_CERT_MAX, &pem));
	d.data = (unsigned char *)(pem.p ? pem.p : "");
	d.size = (unsigned int)pem.len;
	ch->n = TLS_CHAIN_MAX;
	if ((rv = gnutls_pcert_list_import_x509_raw(ch->c, &ch->n, &d, GNUTLS_X509_FMT_PEM,
	    0)) < 0) {
		ch->n = 0;
		res = sp_error(SP_E_CRYPTO, "server certificate %s: %s", cfg->cert_file,
		    gnutls_strerror(rv));
		goto out;
	}
	if (ch->n == 0)
		res = sp_error(SP_E_CRYPTO, "server certificate %s: no certificate",
		    cfg->cert_file);
out:
	sp_buf_free(&pem);
	return res;
}

/*
 * The credentials take the chain and ch->pk over, and try a signature.
 * key names the key in messages, how says where it signs.
 */
static sp_result
chain_set(struct gnutls_certificate_credentials_st *cred, gchain *ch,
    const sp_tls_config *cfg, const char *key, const char *how)
{
	sp_result res = SP_OK;
	int rv;

	rv = gnutls_certificate_set_key(cred, NULL, 0, ch->c, (int)ch->n, ch->pk);
	ENSURE(rv != GNUTLS_E_CERTIFICATE_KEY_MISMATCH, SP_E_CRYPTO, "server key %s does "
	    "not match certificate %s (key values mismatch)", key, cfg->cert_file);
	ENSURE(rv >= 0, SP_E_CRYPTO, "server certificate %s / key %s%s: %s", cfg->cert_file,
	    key, how, gnutls_strerror(rv));
	ch->pk = NULL;
	ch->n = 0;
out:
	return res;
}

sp_result
sp_tls_gnutls_keyproc_key(struct gnutls_certificate_credentials_st *cred,
    const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	gchain ch = { .n = 0 };
	unsigned int bits = 0;
	gnutls_datum_t der = { NULL, 0 };
	gkey *k = NULL;
	sp_buf spki;
	uint32_t id;
	int rv, alg;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	TRY(chain_read(cfg, &ch));
	TRY(sp_keyproc_load(cfg->keyproc, cfg->key_file, &id, &spki));
	ENSURE(gnutls_pubkey_export2(ch.c[0].pubkey, GNUTLS_X509_FMT_DER, &der) == 0,
	    SP_E_CRYPTO, "server certificate %s: public key", cfg->cert_file);
	ENSURE(der.size == spki.len && memcmp(der.data, spki.p, spki.len) == 0, SP_E_CRYPTO,
	    "server key %s does not match certificate %s (key values mismatch)",
	    cfg->key_file, cfg->cert_file);
	alg = gnutls_pubkey_get_pk_algorithm(ch.c[0].pubkey, &bits);
	ENSURE(alg == GNUTLS_PK_RSA || alg == GNUTLS_PK_ECDSA, SP_E_POLICY,
	    "server certificate %s: the key process holds EC and RSA keys only",
	    cfg->cert_file);
	TRY_ALLOC(k, calloc(1, sizeof(*k)));
	*k = (gkey){ cfg->keyproc, id, (gnutls_pk_algorithm_t)alg, bits };
	ENSURE(gnutls_privkey_init(&ch.pk) == 0, SP_E_NOMEM, "out of memory");
	if ((rv = gnutls_privkey_import_ext4(ch.pk, k, NULL, key_sign_hash, NULL, key_deinit,
	    key_info, 0)) < 0) {
		res = sp_error(SP_E_CRYPTO, "server key %s (key process): %s", cfg->key_file,
		    gnutls_strerror(rv));
		goto out;
	}
	k = NULL; /* ch.pk's now */
	TRY(chain_set(cred, &ch, cfg, cfg->key_file, " (key process)"));
out:
	chain_free(&ch);
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
	sp_token_ref ref = { 0 };
	gchain ch = { .n = 0 };
	char label[128], q[SP_TOKEN_URI_MAX + 1];
	size_t len = sizeof(label) - 1;
	bool locked = false;
	int rv;

	sp_quote(sp_slice_of(cfg->key_file), q, sizeof(q));
	res = sp_token_ref_get(cfg->key_file, &ref);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "server key"));
	TRY(chain_read(cfg, &ch));
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
	ENSURE(gnutls_privkey_init(&ch.pk) == 0, SP_E_NOMEM, "out of memory");
	gnutls_privkey_set_pin_function(ch.pk, p11_pin, NULL);
	rv = gnutls_privkey_import_url(ch.pk, ref.uri, 0);
	ENSURE(!p11.refused && rv != GNUTLS_E_PKCS11_PIN_ERROR &&
	    rv != GNUTLS_E_PKCS11_PIN_LOCKED, SP_E_VERIFY, "server key: token '%s': %s",
	    label, SP_TOKEN_LOGIN_REFUSED);
	ENSURE(rv != GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE, SP_E_NOTFOUND,
	    "server key: " SP_TOKEN_NO_TOKEN, q, ref.module);
	ENSURE(rv != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE, SP_E_NOTFOUND,
	    "server key: " SP_TOKEN_NO_KEY, label, q);
	ENSURE(rv >= 0, SP_E_CRYPTO, "server key: token '%s': key '%s': %s", label, q,
	    gnutls_strerror(rv));
	TRY(chain_set(cred, &ch, cfg, q, ""));
out:
	if (locked)
		pthread_mutex_unlock(&p11.mu);
	chain_free(&ch);
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
