#include "pki/pki.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/util.h"
#include "pki/pki_internal.h"

static const struct {
	const char *name;
	const char *alg;
	const char *group;
	unsigned bits;
} key_types[] = {
	[SP_KEY_EC_P256] = { "ec-p256", "EC", "P-256", 256 },
	[SP_KEY_EC_P384] = { "ec-p384", "EC", "P-384", 384 },
	[SP_KEY_RSA_2048] = { "rsa-2048", "RSA", NULL, 2048 },
	[SP_KEY_RSA_3072] = { "rsa-3072", "RSA", NULL, 3072 },
	[SP_KEY_RSA_4096] = { "rsa-4096", "RSA", NULL, 4096 },
};

sp_result
sp_key_type_parse(const char *s, sp_key_type *out)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strcmp(s, key_types[i].name) == 0) {
			*out = (sp_key_type)i;
			return SP_OK;
		}
	return sp_error(SP_E_USAGE, "key type '%s' is not one of ec-p256, ec-p384, "
	    "rsa-2048, rsa-3072, rsa-4096", s);
}

const char *
sp_key_type_name(sp_key_type t)
{
	return key_types[t].name;
}

struct sp_keygen {
	EVP_PKEY_CTX *ctx;
};

static sp_result
keygen_ctx(sp_key_type t, EVP_PKEY_CTX **out)
{
	sp_result res = SP_OK;
	EVP_PKEY_CTX *ctx = NULL;

	TRY_OSSL_PTR(ctx, EVP_PKEY_CTX_new_from_name(NULL, key_types[t].alg, NULL),
	    "%s key generation", key_types[t].name);
	TRY_OSSL(EVP_PKEY_keygen_init(ctx), "%s key generation", key_types[t].name);
	if (key_types[t].group)
		TRY_OSSL(EVP_PKEY_CTX_set_group_name(ctx, key_types[t].group),
		    "%s key generation", key_types[t].name);
	else
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)key_types[t].bits),
		    "%s key generation", key_types[t].name);
	*out = ctx;
	ctx = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	return res;
}

sp_result
sp_keygen_new(sp_key_type t, sp_keygen **out)
{
	sp_result res = SP_OK;
	sp_keygen *g = NULL;

	TRY_ALLOC(g, calloc(1, sizeof(*g)));
	TRY(keygen_ctx(t, &g->ctx));
	*out = g;
	g = NULL;
out:
	sp_keygen_free(g);
	return res;
}

sp_result
sp_keygen_next(sp_keygen *g, EVP_PKEY **out)
{
	sp_result res = SP_OK;

	*out = NULL;
	TRY_OSSL(EVP_PKEY_generate(g->ctx, out) > 0 ? 1 : 0, "key generation");
out:
	return res;
}

void
sp_keygen_free(sp_keygen *g)
{
	if (g == NULL)
		return;
	EVP_PKEY_CTX_free(g->ctx);
	free(g);
}

sp_result
sp_key_gen(sp_key_type t, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	sp_keygen *g = NULL;

	TRY(sp_keygen_new(t, &g));
	TRY(sp_keygen_next(g, out));
out:
	sp_keygen_free(g);
	return res;
}

static int
no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

sp_result
sp_key_load(const char *path, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	sp_buf b;
	BIO *bio = NULL;

	sp_buf_init(&b, SP_PEM_MAX);
	TRY(sp_read_file_secret(path, SP_PEM_MAX, &b));
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(b.p, (int)b.len), "%s", path);
	/* A NULL callback would prompt on the terminal; refuse encrypted keys instead. */
	*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
	if (*out == NULL)
		TRY(sp_error_ossl(SP_E_PARSE, "%s: not a PEM private key (or encrypted)", path));
out:
	BIO_free(bio);
	sp_buf_free_secret(&b);
	return res;
}

sp_result
sp_key_pem(EVP_PKEY *key, sp_buf *out)
{
	return pki_encode(PKI_KEY, key, out);
}

/*
 * PKCS#8 PEM of a P-256 key from its raw parts.  The generic encoder
 * (PEM_write_bio_PrivateKey -> OSSL_ENCODER) costs more than the key
 * generation itself; the DER of a P-256 PrivateKeyInfo is a fixed template.
 */
sp_result
sp_key_pem_fast(EVP_PKEY *key, sp_buf *out)
{
	static const uint8_t head[] = {
		0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86,
		0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
		0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02, 0x01, 0x01, 0x04, 0x20,
	};
	static const uint8_t mid[] = { 0xa1, 0x44, 0x03, 0x42, 0x00 };
	sp_result res = SP_OK;
	uint8_t der[sizeof(head) + 32 + sizeof(mid) + 65];
	BIGNUM *priv = NULL;
	size_t plen = 0;
	char group[32];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0) {
		ERR_clear_error();
		res = sp_key_pem(key, out);
		goto out;
	}
	memcpy(der, head, sizeof(head));
	TRY_OSSL(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv), "private key");
	ENSURE(BN_bn2binpad(priv, der + sizeof(head), 32) == 32, SP_E_CRYPTO, "private key");
	memcpy(der + sizeof(head) + 32, mid, sizeof(mid));
	TRY_OSSL(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY,
	    der + sizeof(head) + 32 + sizeof(mid), 65, &plen), "public key");
	ENSURE(plen == 65, SP_E_CRYPTO, "unexpected public key encoding");
	TRY(sp_pem_encode("PRIVATE KEY", der, sizeof(der), out));
out:
	OPENSSL_cleanse(der, sizeof(der));
	BN_clear_free(priv);
	return res;
}

bool
sp_digest_weak(int md_nid)
{
	return md_nid == NID_sha1 || md_nid == NID_md5 || md_nid == NID_md5_sha1 ||
	    md_nid == NID_md4 || md_nid == NID_md2;
}

void
sp_key_describe(EVP_PKEY *key, char *out, size_t outsz)
{
	char group[64] = "";
	size_t glen = 0;

	if (EVP_PKEY_is_a(key, "RSA")) {
		snprintf(out, outsz, "RSA %d", EVP_PKEY_get_bits(key));
	} else if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1)
			snprintf(group, sizeof(group), "unknown curve");
		snprintf(out, outsz, "EC %s", group);
	} else {
		snprintf(out, outsz, "%s", EVP_PKEY_get0_type_name(key) ?
		    EVP_PKEY_get0_type_name(key) : "unknown");
	}
}

sp_result
sp_key_policy(EVP_PKEY *key)
{
	char group[64] = "", desc[96];
	size_t glen = 0;

	if (key == NULL)
		return sp_error(SP_E_POLICY, "key rule: no public key");
	/* EVP_PKEY_RSA only: RSA-PSS-restricted keys are not what devices expect. */
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(key);
		if (bits < SP_RSA_MIN_BITS)
			return sp_error(SP_E_POLICY,
			    "key rule: RSA key of %d bits is too small (at least %d bits)",
			    bits, SP_RSA_MIN_BITS);
		return SP_OK;
	}
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1) {
			ERR_clear_error();
			return sp_error(SP_E_POLICY,
			    "key rule: EC key on an unnamed curve (only P-256 and P-384)");
		}
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0)
			return SP_OK;
		return sp_error(SP_E_POLICY,
		    "key rule: EC curve %s is not allowed (only P-256 and P-384)", group);
	}
	sp_key_describe(key, desc, sizeof(desc));
	return sp_error(SP_E_POLICY,
	    "key rule: %s keys are not allowed (RSA >= 2048 bits, EC P-256 or P-384)", desc);
}
