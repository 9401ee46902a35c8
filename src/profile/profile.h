/*
 * The flat-profile format (see docs/PROFILE.md once written).
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

#endif
