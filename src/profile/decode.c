/*
 * Device-side decoding of a fetched profile: openssl-enc decryption, gzip,
 * then XML (profile.c).  Every stage is size-capped; every intermediate
 * buffer is wiped (profiles hold SIP passwords).
 */
#include "profile/profile.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "common/util.h"

#define SALTED "Salted__"
#define SALTED_LEN 8
#define SALT_LEN 8
#define AES_BLOCK 16
#define GZIP_CHUNK 16384

bool
sp_profile_is_encrypted(sp_slice body)
{
	return body.len >= SALTED_LEN && memcmp(body.p, SALTED, SALTED_LEN) == 0;
}

bool
sp_profile_is_gzip(sp_slice body)
{
	return body.len >= 2 && (unsigned char)body.p[0] == 0x1f &&
	    (unsigned char)body.p[1] == 0x8b;
}

static const char *
kdf_name(sp_kdf kdf)
{
	return kdf == SP_KDF_PBKDF2 ? "pbkdf2" : kdf == SP_KDF_SHA256 ? "sha256" : "md5";
}

/*
 * key || iv as `openssl enc -k` derives them: EVP_BytesToKey with one
 * iteration (-md md5 | sha256), or PBKDF2-HMAC-SHA256 over 48 bytes (-pbkdf2).
 */
static sp_result
derive(const char *pass, sp_kdf kdf, const unsigned char *salt,
    unsigned char key[32], unsigned char iv[16])
{
	sp_result res = SP_OK;
	unsigned char kiv[48];
	size_t plen = strlen(pass);

	ENSURE(plen <= 1024, SP_E_LIMIT, "profile key longer than 1024 bytes");
	if (kdf == SP_KDF_PBKDF2) {
		TRY_OSSL(PKCS5_PBKDF2_HMAC(pass, (int)plen, salt, SALT_LEN, SP_KDF_PBKDF2_ITER,
		    EVP_sha256(), (int)sizeof(kiv), kiv),
		    "profile key derivation (%s) failed", kdf_name(kdf));
		memcpy(key, kiv, 32);
		memcpy(iv, kiv + 32, 16);
	} else if (EVP_BytesToKey(EVP_aes_256_cbc(), kdf == SP_KDF_SHA256 ? EVP_sha256() :
	    EVP_md5(), salt, (const unsigned char *)pass, (int)plen, 1, key, iv) != 32) {
		res = sp_error_ossl(SP_E_CRYPTO, "profile key derivation (%s) failed",
		    kdf_name(kdf));
	}
out:
	OPENSSL_cleanse(kiv, sizeof(kiv));
	return res;
}

sp_result
sp_profile_encrypt(sp_slice plain, const char *pass, sp_kdf kdf,
    const unsigned char *salt, sp_buf *out)
{
	sp_result res = SP_OK;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char key[32], iv[16], s[SALT_LEN], *ct = NULL;
	int n1 = 0, n2 = 0;

	ENSURE(plain.len <= SP_PROFILE_MAX, SP_E_LIMIT, "profile larger than %u bytes",
	    SP_PROFILE_MAX);
	if (salt)
		memcpy(s, salt, SALT_LEN);
	else
		TRY_OSSL(RAND_bytes(s, SALT_LEN), "random salt");
	TRY(derive(pass, kdf, s, key, iv));
	TRY_ALLOC(ct, malloc(plain.len + AES_BLOCK));
	TRY_OSSL_PTR(ctx, EVP_CIPHER_CTX_new(), "cipher context");
	TRY_OSSL(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv), "encrypt init");
	TRY_OSSL(EVP_EncryptUpdate(ctx, ct, &n1, (const unsigned char *)plain.p,
	    (int)plain.len), "encrypt");
	TRY_OSSL(EVP_EncryptFinal_ex(ctx, ct + n1, &n2), "encrypt final");
	TRY(sp_buf_append(out, SALTED, SALTED_LEN));
	TRY(sp_buf_append(out, s, SALT_LEN));
	TRY(sp_buf_append(out, ct, (size_t)n1 + (size_t)n2));
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	free(ct);
	EVP_CIPHER_CTX_free(ctx);
	return res;
}

/* Plausible plaintext: gzip, or XML (after an optional BOM and whitespace). */
static bool
plausible(const unsigned char *p, size_t n)
{
	size_t i = 0;

	if (sp_profile_is_gzip(sp_slice_mk((const char *)p, n)))
		return true;
	if (n >= 2 && ((p[0] == 0xfe && p[1] == 0xff) || (p[0] == 0xff && p[1] == 0xfe)))
		return true;  /* UTF-16 XML */
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i < n && p[i] == '<';
}

/*
 * One attempt.  *ok is false when the padding is wrong or the plaintext does
 * not look like a profile: the caller tries the other derivation.
 */
static sp_result
try_decrypt(const unsigned char *salt, const unsigned char *ct, size_t ctlen,
    const char *pass, sp_kdf kdf, unsigned char *pt, size_t *ptlen, bool *ok)
{
	sp_result res = SP_OK;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char key[32], iv[16];
	int n1 = 0, n2 = 0;

	*ok = false;
	TRY(derive(pass, kdf, salt, key, iv));
	TRY_OSSL_PTR(ctx, EVP_CIPHER_CTX_new(), "cipher context");
	TRY_OSSL(EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv), "decrypt init");
	TRY_OSSL(EVP_DecryptUpdate(ctx, pt, &n1, ct, (int)ctlen), "decrypt");
	/* A bad padding is an expected outcome here, not an error to report. */
	if (EVP_DecryptFinal_ex(ctx, pt + n1, &n2) == 1 &&
	    plausible(pt, (size_t)n1 + (size_t)n2)) {
		*ptlen = (size_t)n1 + (size_t)n2;
		*ok = true;
	} else {
		ERR_clear_error();
		OPENSSL_cleanse(pt, ctlen + AES_BLOCK);
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	EVP_CIPHER_CTX_free(ctx);
	return res;
}

sp_result
sp_profile_decrypt(sp_slice body, const char *pass, sp_buf *out, sp_kdf *used)
{
	sp_result res = SP_OK;
	unsigned char *pt = NULL;
	size_t ctlen, ptlen = 0, alloc = 0;
	bool ok = false;
	/* The firmware's own first; PBKDF2, the slowest, last. */
	static const sp_kdf order[] = { SP_KDF_MD5, SP_KDF_SHA256, SP_KDF_PBKDF2 };

	ENSURE(sp_profile_is_encrypted(body), SP_E_PARSE,
	    "profile is not openssl enc output (no Salted__ header)");
	ENSURE(body.len <= SP_PROFILE_MAX + SP_PROFILE_ENC_OVERHEAD, SP_E_LIMIT,
	    "encrypted profile larger than %u bytes", SP_PROFILE_MAX + SP_PROFILE_ENC_OVERHEAD);
	ENSURE(pass != NULL, SP_E_CRYPTO, "profile is encrypted; a --key is needed");
	ctlen = body.len - SALTED_LEN - (body.len >= SALTED_LEN + SALT_LEN ? SALT_LEN : 0);
	ENSURE(body.len >= SALTED_LEN + SALT_LEN && ctlen >= AES_BLOCK &&
	    ctlen % AES_BLOCK == 0, SP_E_CRYPTO,
	    "encrypted profile is truncated (%zu bytes of ciphertext, not a whole "
	    "number of %d-byte blocks)", ctlen, AES_BLOCK);
	alloc = ctlen + AES_BLOCK;
	TRY_ALLOC(pt, malloc(alloc));
	const unsigned char *salt = (const unsigned char *)body.p + SALTED_LEN;
	const unsigned char *ct = salt + SALT_LEN;
	for (size_t i = 0; i < SP_ARRAY_LEN(order) && !ok; i++) {
		TRY(try_decrypt(salt, ct, ctlen, pass, order[i], pt, &ptlen, &ok));
		if (ok && used)
			*used = order[i];
	}
	ENSURE(ok, SP_E_CRYPTO, "profile decryption failed (wrong --key?)");
	ENSURE(ptlen <= SP_PROFILE_MAX, SP_E_LIMIT, "decrypted profile larger than %u bytes",
	    SP_PROFILE_MAX);
	TRY(sp_buf_append(out, pt, ptlen));
out:
	if (pt) {
		OPENSSL_cleanse(pt, alloc);
		free(pt);
	}
	return res;
}

sp_result
sp_profile_gzip(sp_slice plain, sp_buf *out)
{
	sp_result res = SP_OK;
	z_stream zs;
	unsigned char chunk[GZIP_CHUNK];
	bool init = false;
	int zr;

	memset(&zs, 0, sizeof(zs));
	ENSURE(plain.len <= SP_PROFILE_MAX, SP_E_LIMIT, "profile larger than %u bytes",
	    SP_PROFILE_MAX);
	ENSURE(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) == Z_OK, SP_E_INTERNAL, "deflateInit2 failed");
	init = true;
	zs.next_in = (Bytef *)(uintptr_t)plain.p;
	zs.avail_in = (uInt)plain.len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = deflate(&zs, Z_FINISH);
		ENSURE(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR, SP_E_INTERNAL,
		    "deflate failed: %d", zr);
		TRY(sp_buf_append(out, chunk, sizeof(chunk) - zs.avail_out));
	} while (zr != Z_STREAM_END);
out:
	if (init)
		deflateEnd(&zs);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return res;
}

sp_result
sp_profile_gunzip(sp_slice gz, sp_buf *out)
{
	sp_result res = SP_OK;
	z_stream zs;
	unsigned char chunk[GZIP_CHUNK];
	bool init = false;
	size_t start = out->len;
	int zr;

	memset(&zs, 0, sizeof(zs));
	ENSURE(sp_profile_is_gzip(gz), SP_E_PARSE, "profile is not gzip data");
	ENSURE(gz.len <= SP_PROFILE_MAX + SP_PROFILE_ENC_OVERHEAD, SP_E_LIMIT,
	    "compressed profile larger than %u bytes", SP_PROFILE_MAX);
	ENSURE(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, SP_E_INTERNAL,
	    "inflateInit2 failed");
	init = true;
	zs.next_in = (Bytef *)(uintptr_t)gz.p;
	zs.avail_in = (uInt)gz.len;
	for (;;) {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zr = inflate(&zs, Z_NO_FLUSH);
		size_t got = sizeof(chunk) - zs.avail_out;
		ENSURE(got <= SP_PROFILE_MAX - (out->len - start), SP_E_LIMIT,
		    "decompressed profile larger than %u bytes", SP_PROFILE_MAX);
		TRY(sp_buf_append(out, chunk, got));
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			/* Concatenated members are one gzip file; other bytes are not. */
			ENSURE(sp_profile_is_gzip(sp_slice_mk((const char *)zs.next_in,
			    zs.avail_in)), SP_E_PARSE, "gzip: %u bytes of trailing garbage",
			    (unsigned)zs.avail_in);
			ENSURE(inflateReset(&zs) == Z_OK, SP_E_INTERNAL, "inflateReset failed");
			continue;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && got == 0)
			ENSURE(0, SP_E_PARSE, "gzip stream is truncated");
		if (zr == Z_BUF_ERROR)
			continue;
		ENSURE(zr != Z_MEM_ERROR, SP_E_NOMEM, "out of memory");
		ENSURE(0, SP_E_PARSE, "gzip data is corrupt: %s", zs.msg ? zs.msg : "?");
	}
out:
	if (init)
		inflateEnd(&zs);
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return res;
}

sp_result
sp_profile_decode(sp_slice body, const char *key, sp_params *out)
{
	sp_result res = SP_OK;
	sp_buf dec, raw;
	sp_slice cur = body;

	sp_buf_init(&dec, SP_PROFILE_MAX);
	sp_buf_init(&raw, SP_PROFILE_MAX);
	ENSURE(body.len <= SP_PROFILE_MAX + SP_PROFILE_ENC_OVERHEAD, SP_E_LIMIT,
	    "profile larger than %u bytes", SP_PROFILE_MAX);
	if (sp_profile_is_encrypted(body)) {
		TRY(sp_profile_decrypt(body, key, &dec, NULL));
		cur = sp_slice_mk(dec.p, dec.len);
	} else {
		/* The rule asked for encryption: a plain answer is not what it wanted. */
		ENSURE(key == NULL, SP_E_CRYPTO,
		    "profile is not encrypted but the rule gives a --key");
	}
	if (sp_profile_is_gzip(cur)) {
		TRY(sp_profile_gunzip(cur, &raw));
		cur = sp_slice_mk(raw.p ? raw.p : "", raw.len);
	}
	TRY(sp_profile_parse(cur, out));
out:
	sp_buf_free_secret(&dec);
	sp_buf_free_secret(&raw);
	return res;
}
