/*
 * Secrets, tokens, CSRF tokens and the failure limiter (console/auth.h).
 */
#include "console/auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/util.h"

#define CSRF_LABEL "sprov csrf"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 32 bytes -> 43 characters, no padding. */
static void
b64url_32(const uint8_t in[32], char out[SP_SECRET_B64_LEN + 1])
{
	size_t o = 0;
	uint32_t v;

	for (size_t i = 0; i < 30; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	v = (uint32_t)in[30] << 16 | (uint32_t)in[31] << 8;
	out[o++] = b64url[v >> 18 & 63];
	out[o++] = b64url[v >> 12 & 63];
	out[o++] = b64url[v >> 6 & 63];
	out[o] = '\0';
}

bool
sp_console_secret_valid(sp_slice s)
{
	if (s.len != SP_SECRET_B64_LEN)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] == '\0' || strchr(b64url, s.p[i]) == NULL)
			return false;
	return true;
}

sp_result
sp_console_hash(sp_slice secret, uint8_t out[SP_SECRET_HASH_LEN])
{
	sp_result res = SP_OK;
	unsigned int n = 0;

	TRY_OSSL(EVP_Digest(secret.p, secret.len, out, &n, EVP_sha256(), NULL),
	    "hashing a secret");
out:
	return res;
}

bool
sp_console_hash_eq(const uint8_t a[SP_SECRET_HASH_LEN],
    const uint8_t b[SP_SECRET_HASH_LEN])
{
	return CRYPTO_memcmp(a, b, SP_SECRET_HASH_LEN) == 0;
}

sp_result
sp_console_secret_new(char out[SP_SECRET_B64_LEN + 1],
    uint8_t hash[SP_SECRET_HASH_LEN])
{
	sp_result res = SP_OK;
	uint8_t r[32];

	TRY_OSSL(RAND_bytes(r, sizeof(r)), "random bytes for a secret");
	b64url_32(r, out);
	TRY(sp_console_hash(sp_slice_mk(out, SP_SECRET_B64_LEN), hash));
out:
	OPENSSL_cleanse(r, sizeof(r));
	return res;
}

sp_result
sp_console_token_new(const char *name, sp_role role, int64_t now,
    sp_token_info *out, char token[SP_TOKEN_STR_LEN + 1])
{
	sp_result res = SP_OK;
	uint8_t id[SP_TOKEN_ID_LEN / 2];
	char secret[SP_SECRET_B64_LEN + 1];

	memset(out, 0, sizeof(*out));
	TRY(sp_token_name_check(name));
	snprintf(out->name, sizeof(out->name), "%s", name);
	TRY_OSSL(RAND_bytes(id, sizeof(id)), "random bytes for a token id");
	sp_hex(id, sizeof(id), out->id);
	out->role = role;
	out->created = now;
	TRY(sp_console_secret_new(secret, out->hash));
	snprintf(token, SP_TOKEN_STR_LEN + 1, SP_TOKEN_PREFIX "%s_%s", out->id,
	    secret);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return res;
}

sp_result
sp_console_token_parse(sp_slice tok, char id[SP_TOKEN_ID_LEN + 1],
    char secret[SP_SECRET_B64_LEN + 1])
{
	const size_t pl = strlen(SP_TOKEN_PREFIX);

	if (tok.len != SP_TOKEN_STR_LEN || memcmp(tok.p, SP_TOKEN_PREFIX, pl) != 0 ||
	    tok.p[pl + SP_TOKEN_ID_LEN] != '_')
		return sp_error(SP_E_PARSE, "not a token of the form "
		    "spv_<8 hex digits>_<43 characters>");
	for (size_t i = 0; i < SP_TOKEN_ID_LEN; i++) {
		char c = tok.p[pl + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return sp_error(SP_E_PARSE, "a token's id is 8 lowercase "
			    "hex digits");
	}
	if (!sp_console_secret_valid(sp_slice_mk(tok.p + pl + SP_TOKEN_ID_LEN + 1,
	    SP_SECRET_B64_LEN)))
		return sp_error(SP_E_PARSE, "a token's secret is 43 base64url "
		    "characters");
	memcpy(id, tok.p + pl, SP_TOKEN_ID_LEN);
	id[SP_TOKEN_ID_LEN] = '\0';
	memcpy(secret, tok.p + pl + SP_TOKEN_ID_LEN + 1, SP_SECRET_B64_LEN);
	secret[SP_SECRET_B64_LEN] = '\0';
	return SP_OK;
}

sp_result
sp_console_csrf(sp_slice session, char out[SP_SECRET_B64_LEN + 1])
{
	sp_result res = SP_OK;
	uint8_t mac[32];
	unsigned int n = 0;
	unsigned char *r;

	TRY_OSSL_PTR(r, HMAC(EVP_sha256(), session.p, (int)session.len,
	    (const unsigned char *)CSRF_LABEL, strlen(CSRF_LABEL), mac, &n),
	    "the CSRF token");
	b64url_32(mac, out);
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return res;
}

/* The slot of src, or -1. */
static int
rl_find(const sp_ratelimit *rl, const char *src)
{
	for (int i = 0; i < SP_RL_SLOTS; i++)
		if (rl->slot[i].fails > 0 && strcmp(rl->slot[i].src, src) == 0)
			return i;
	return -1;
}

bool
sp_ratelimit_blocked(sp_ratelimit *rl, const char *src, int64_t now,
    int64_t *retry_after)
{
	int i = rl_find(rl, src);

	*retry_after = 0;
	if (i < 0)
		return false;
	if (now >= rl->slot[i].start + SP_RL_WINDOW) {
		rl->slot[i].fails = 0;
		return false;
	}
	if (rl->slot[i].fails < SP_RL_FAILS_MAX)
		return false;
	*retry_after = rl->slot[i].start + SP_RL_WINDOW - now;
	return true;
}

void
sp_ratelimit_fail(sp_ratelimit *rl, const char *src, int64_t now)
{
	int i = rl_find(rl, src), oldest = 0;

	if (i >= 0 && now >= rl->slot[i].start + SP_RL_WINDOW)
		rl->slot[i].fails = 0;
	if (i < 0 || rl->slot[i].fails == 0) {
		if (i < 0) {
			/* A free slot, or the one whose window started first. */
			for (i = 0; i < SP_RL_SLOTS; i++) {
				if (rl->slot[i].fails == 0 ||
				    now >= rl->slot[i].start + SP_RL_WINDOW)
					break;
				if (rl->slot[i].start < rl->slot[oldest].start)
					oldest = i;
			}
			if (i == SP_RL_SLOTS)
				i = oldest;
		}
		snprintf(rl->slot[i].src, sizeof(rl->slot[i].src), "%s", src);
		rl->slot[i].start = now;
		rl->slot[i].fails = 0;
	}
	if (rl->slot[i].fails < UINT32_MAX)
		rl->slot[i].fails++;
}
