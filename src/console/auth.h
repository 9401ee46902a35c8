/*
 * Who is asking the console (docs/CONSOLE.md "Access"): API tokens, login
 * links, sessions and their CSRF tokens, and the per-source limit on failed
 * attempts.  The pure parts (parsing, hashing, the limiter) do no I/O, so
 * unit tests link them; the store keeps only SHA-256 of each secret
 * (store/tokens.h).
 *
 * A secret is 32 random bytes written as 43 characters of base64url
 * without padding; its hash is SHA-256 over those 43 characters.
 *   token:      spv_<8 hex id>_<secret>   (Authorization: Bearer ...)
 *   login link: /login?t=<secret>         (60 s, one use)
 *   session:    cookie sprov_session=<secret>; its CSRF token is
 *               base64url(HMAC-SHA256(session secret, "sprov csrf")), so
 *               the console can hand it out again without storing it.
 */
#ifndef SPROV_CONSOLE_AUTH_H
#define SPROV_CONSOLE_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "store/tokens.h"

#define SP_SECRET_B64_LEN 43          /* 32 bytes, base64url, no padding */
#define SP_TOKEN_PREFIX "spv_"
#define SP_TOKEN_STR_LEN (4 + SP_TOKEN_ID_LEN + 1 + SP_SECRET_B64_LEN)
#define SP_LOGIN_TTL 60               /* seconds a login link is valid */
#define SP_SESSION_TTL (8 * 3600)     /* seconds a browser session lasts */
#define SP_SESSION_COOKIE "sprov_session"

/* Failed attempts per source address before 429, and the window. */
#define SP_RL_FAILS_MAX 10
#define SP_RL_WINDOW 60
#define SP_RL_SLOTS 512               /* sources tracked at once */

/* 32 random bytes as base64url (out NUL-terminated) and their hash. */
SP_MUST_CHECK sp_result sp_console_secret_new(char out[SP_SECRET_B64_LEN + 1],
    uint8_t hash[SP_SECRET_HASH_LEN]);
/* SHA-256 of a secret's text. */
SP_MUST_CHECK sp_result sp_console_hash(sp_slice secret,
    uint8_t out[SP_SECRET_HASH_LEN]);
/* Constant time (CRYPTO_memcmp). */
bool sp_console_hash_eq(const uint8_t a[SP_SECRET_HASH_LEN],
    const uint8_t b[SP_SECRET_HASH_LEN]);
/* Is s 43 characters of the base64url alphabet? */
bool sp_console_secret_valid(sp_slice s);

/*
 * A new token for name and role: out filled (id, hash, created = now) for
 * sp_store_token_add, token the text shown once.
 */
SP_MUST_CHECK sp_result sp_console_token_new(const char *name, sp_role role,
    int64_t now, sp_token_info *out, char token[SP_TOKEN_STR_LEN + 1]);
/* Split spv_<id>_<secret>; SP_E_PARSE if it is not that form. */
SP_MUST_CHECK sp_result sp_console_token_parse(sp_slice tok,
    char id[SP_TOKEN_ID_LEN + 1], char secret[SP_SECRET_B64_LEN + 1]);

/* A session's CSRF token (see above). */
SP_MUST_CHECK sp_result sp_console_csrf(sp_slice session,
    char out[SP_SECRET_B64_LEN + 1]);

/*
 * Failed attempts per source: a fixed window of SP_RL_WINDOW seconds from
 * a source's first failure; SP_RL_FAILS_MAX failures in it block the
 * source until the window ends.  A bounded table: when it is full, the
 * entry whose window started first gives way.
 */
typedef struct sp_ratelimit {
	struct {
		char src[48];
		int64_t start;
		uint32_t fails;
	} slot[SP_RL_SLOTS];
} sp_ratelimit;

/* Blocked now?  *retry_after: seconds until it is not. */
bool sp_ratelimit_blocked(sp_ratelimit *rl, const char *src, int64_t now,
    int64_t *retry_after);
void sp_ratelimit_fail(sp_ratelimit *rl, const char *src, int64_t now);

#endif
