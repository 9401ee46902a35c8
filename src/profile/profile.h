/*
 * The flat-profile format (see docs/PROFILE.md).
 *
 * Rendering (server):  <flat-profile><Name ua="na">value</Name>...</flat-profile>
 * Parsing (device, `sprov db import`): expat, the digest's rules: parameters
 * are the children of <flat-profile> (which may sit inside other elements),
 * unknown elements and attributes are ignored, names are case-sensitive,
 * values trimmed with newlines turned to spaces, the last occurrence wins,
 * ua="na|ro|rw" sets access.
 *
 * Decoding (device): "Salted__" -> openssl enc -aes-256-cbc (MD5 or SHA-256
 * EVP_BytesToKey), then gzip -> inflate, then XML.  Every stage is size-capped.
 */
#ifndef SPROV_PROFILE_PROFILE_H
#define SPROV_PROFILE_PROFILE_H

#include "common/buf.h"
#include "common/result.h"
#include "profile/param.h"

#define SP_PROFILE_MAX (4u * 1024 * 1024)   /* decoded profile size cap */
#define SP_PROFILE_DEPTH_MAX 32              /* XML element nesting */
/* Raw character data of one parameter before trimming. */
#define SP_PROFILE_RAW_VALUE_MAX (2 * SP_PARAM_VALUE_MAX)
/* An encrypted body: "Salted__", 8 bytes of salt, at most two padding blocks. */
#define SP_PROFILE_ENC_OVERHEAD 48

/* Render params as flat-profile XML into out (deterministic bytes). */
SP_MUST_CHECK sp_result sp_profile_render(const sp_params *ps, sp_buf *out);

/* Parse flat-profile XML; entries are merged into out (last wins). */
SP_MUST_CHECK sp_result sp_profile_parse(sp_slice xml, sp_params *out);

/*
 * Full device-side decode: optional decryption with `key` (NULL: none; an
 * encrypted profile without a key is an error), optional gunzip, then parse.
 */
SP_MUST_CHECK sp_result sp_profile_decode(sp_slice body, const char *key,
    sp_params *out);

/*
 * Added to the contract (docs/PROFILE.md has the rules):
 *
 * sp_profile_value_check: can this value be rendered so that a device reads
 * it back unchanged?  Refuses C0 control bytes other than TAB (newlines too:
 * a device would turn them into spaces), leading or trailing whitespace
 * (trimmed by the device) and invalid UTF-8 or non-characters that XML 1.0
 * cannot carry.  sp_profile_render applies it to every value; the store can
 * call it when a value is set, so bad values are refused at the source.
 */
SP_MUST_CHECK sp_result sp_profile_value_check(sp_slice name, sp_slice value);

/*
 * Incremental parsing (the device can parse while it downloads).  Entries
 * are collected privately and merged into `out` only when sp_profile_parser_
 * finish succeeds, so `out` is untouched by a failed or truncated profile.
 * sp_profile_parse(xml, out) is new + feed(xml) + finish.
 */
typedef struct sp_profile_parser sp_profile_parser;
SP_MUST_CHECK sp_result sp_profile_parser_new(sp_profile_parser **out);
SP_MUST_CHECK sp_result sp_profile_parser_feed(sp_profile_parser *p, sp_slice chunk);
SP_MUST_CHECK sp_result sp_profile_parser_finish(sp_profile_parser *p, sp_params *out);
void sp_profile_parser_free(sp_profile_parser *p);

/*
 * Key derivation of `openssl enc -md md5|sha256 -k` (EVP_BytesToKey, 1 round),
 * and of today's `openssl enc -pbkdf2 -k` (PBKDF2-HMAC-SHA256, 10 000
 * iterations, openssl's default; another -iter is not recognised).
 */
typedef enum { SP_KDF_MD5, SP_KDF_SHA256, SP_KDF_PBKDF2 } sp_kdf;
#define SP_KDF_PBKDF2_ITER 10000

/*
 * The inverse of the decoding stages, for tests and tooling:
 * sp_profile_encrypt writes exactly what `openssl enc -e -aes-256-cbc -md
 * <kdf> -k <pass>` (or `-pbkdf2 -k <pass>`) writes ("Salted__" + salt + ciphertext); salt NULL means
 * 8 random bytes.  sp_profile_gzip writes one gzip member.
 * sp_profile_decrypt / sp_profile_gunzip are single stages of
 * sp_profile_decode (output capped at SP_PROFILE_MAX; decrypt's output is
 * secret: free it with sp_buf_free_secret).
 */
SP_MUST_CHECK sp_result sp_profile_encrypt(sp_slice plain, const char *pass, sp_kdf kdf,
    const unsigned char *salt, sp_buf *out);
SP_MUST_CHECK sp_result sp_profile_gzip(sp_slice plain, sp_buf *out);
SP_MUST_CHECK sp_result sp_profile_decrypt(sp_slice body, const char *pass, sp_buf *out,
    sp_kdf *used);
SP_MUST_CHECK sp_result sp_profile_gunzip(sp_slice gz, sp_buf *out);
/* True if body starts like openssl enc output / a gzip member. */
bool sp_profile_is_encrypted(sp_slice body);
bool sp_profile_is_gzip(sp_slice body);

#endif
