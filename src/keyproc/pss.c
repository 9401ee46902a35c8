/*
 * What the key process requires of a raw RSA block before it signs it.
 * See sp_kp_raw_is_pss in keyproc_internal.h.
 */
#include "keyproc/keyproc_internal.h"

#include <string.h>

#include <openssl/evp.h>

/* MGF1 (RFC 8017 B.2.1): len bytes of mask from seed. */
static bool
mgf1(const EVP_MD *md, const uint8_t *seed, size_t slen, uint8_t *mask, size_t len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t out[EVP_MAX_MD_SIZE], ctr[4];
	unsigned int n = 0;
	bool ok = c != NULL;

	for (uint32_t i = 0, done = 0; ok && done < len; i++, done += n) {
		ctr[0] = (uint8_t)(i >> 24), ctr[1] = (uint8_t)(i >> 16);
		ctr[2] = (uint8_t)(i >> 8), ctr[3] = (uint8_t)i;
		ok = EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, seed, slen) == 1 &&
		    EVP_DigestUpdate(c, ctr, sizeof(ctr)) == 1 &&
		    EVP_DigestFinal_ex(c, out, &n) == 1 && n > 0;
		if (ok)
			memcpy(mask + done, out, len - done < n ? len - done : n);
	}
	EVP_MD_CTX_free(c);
	return ok;
}

/*
 * A raw RSA operation is what OpenSSL's RSA_METHOD hands over for PSS once
 * it has padded the digest itself (ossl_key.c).  On any other block it is a
 * decryption: c^d of a ciphertext the serving process chose, which would
 * make the key process an oracle for anything ever encrypted to the key.
 * So the block must be an EMSA-PSS encoding (RFC 8017 9.1.1) as TLS makes
 * it: MGF1 and salt of SHA-256, -384 or -512, the salt the digest's size
 * (RFC 8446 4.2.3; libssl's RSA_PSS_SALTLEN_DIGEST).  H cannot be checked
 * without the message, the rest can: a ciphertext, blinded or not, passes
 * with a probability of about 2^-8(emLen - 2 hLen - 2), 2^-1520 for a
 * 2048-bit key.
 */
bool
sp_kp_raw_is_pss(const uint8_t *in, size_t k, int bits)
{
	const EVP_MD *mds[] = { EVP_sha256(), EVP_sha384(), EVP_sha512() };
	size_t embits = bits > 1 ? (size_t)bits - 1 : 0, emlen = (embits + 7) / 8;
	unsigned int pad = (unsigned int)(8 * emlen - embits);
	uint8_t db[SP_KP_IN_MAX];
	const uint8_t *em;

	if (emlen == 0 || emlen > sizeof(db) || k < emlen || k - emlen > 1 ||
	    (k > emlen && in[0] != 0))
		return false;
	em = in + (k - emlen);
	if (em[emlen - 1] != 0xbc || (em[0] >> (8 - pad)) != 0)
		return false;
	for (size_t m = 0; m < sizeof(mds) / sizeof(mds[0]); m++) {
		const EVP_MD *md = mds[m];
		size_t h = (size_t)EVP_MD_get_size(md), dblen = emlen - h - 1, j = 0;

		if (emlen < 2 * h + 2 || !mgf1(md, em + dblen, h, db, dblen))
			continue;
		for (j = 0; j < dblen; j++)
			db[j] ^= em[j];
		db[0] &= (uint8_t)(0xff >> pad);
		for (j = 0; j < dblen - h - 1 && db[j] == 0; j++)
			;
		if (j == dblen - h - 1 && db[j] == 0x01)
			return true;
	}
	return false;
}
