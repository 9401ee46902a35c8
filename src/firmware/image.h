/*
 * The signed firmware container (docs/FIRMWARE.md): what the vendor's
 * firmware-signing root signs (`sprov ca sign-firmware`), what the server
 * stores and serves (`sprov db firmware add`), and what the device checks
 * before it flashes.  All integers are unsigned big-endian.
 *
 *   off  len  field
 *     0    8  magic "SPROVFW1"
 *     8    1  P = product length, 1..SP_FW_PRODUCT_MAX
 *     9    P  product: [A-Za-z0-9._-]
 *     .    1  V = version length, 1..SP_FW_VERSION_MAX
 *     .    V  version: [A-Za-z0-9._()-]  (the rules' version syntax, 2.0.3(0412s))
 *     .    8  L = payload length, 1..SP_FW_PAYLOAD_MAX
 *     .   32  SHA-256 of the payload
 *     .    2  S = signature length, 1..SP_FW_SIG_MAX
 *     .    S  signature over every byte before the S field (the "signed
 *             header"), made with the firmware-signing key: ECDSA with
 *             SHA-256 (DER), or RSA PKCS#1 v1.5 with SHA-256
 *     .    L  payload
 *   and nothing after it: trailing bytes make the container invalid.
 *
 * So the signature binds product, version, length and digest, and the
 * digest binds the payload.  A verifier reads the header (at most
 * SP_FW_HEADER_MAX bytes), checks the signature, then hashes the payload
 * as it streams and checks that the file ends exactly where L says.
 *
 * Parsing is pure (no I/O, no global state) and fuzzed (fuzz/fuzz_fwimage.c).
 */
#ifndef SPROV_FIRMWARE_IMAGE_H
#define SPROV_FIRMWARE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_FW_MAGIC "SPROVFW1"
#define SP_FW_MAGIC_LEN 8
#define SP_FW_PRODUCT_MAX 64
#define SP_FW_VERSION_MAX 32
#define SP_FW_PAYLOAD_MAX (512ull * 1024 * 1024)  /* one image, bytes */
#define SP_FW_SIG_MAX 1024
#define SP_FW_DIGEST_LEN 32
/* magic + 1 + P + 1 + V + 8 + 32 + 2 + S */
#define SP_FW_HEADER_MAX (SP_FW_MAGIC_LEN + 1 + SP_FW_PRODUCT_MAX + 1 + \
    SP_FW_VERSION_MAX + 8 + SP_FW_DIGEST_LEN + 2 + SP_FW_SIG_MAX)

typedef struct sp_fw_header {
	char product[SP_FW_PRODUCT_MAX + 1];
	char version[SP_FW_VERSION_MAX + 1];
	uint64_t payload_len;
	uint8_t digest[SP_FW_DIGEST_LEN];
	size_t signed_len;   /* bytes the signature covers: [0, signed_len) */
	size_t header_len;   /* offset of the payload */
	uint8_t sig[SP_FW_SIG_MAX];
	size_t sig_len;
} sp_fw_header;

/* Product and version syntax (also for CLI arguments and store rows). */
bool sp_fw_product_ok(sp_slice s);
bool sp_fw_version_ok(sp_slice s);

/*
 * Parse the header from the first bytes of a container; `in` may hold more
 * (the payload) or exactly the header.  SP_E_PARSE naming the field and
 * its offset; a header cut short is SP_E_PARSE "truncated header".
 */
SP_MUST_CHECK sp_result sp_fw_header_parse(sp_slice in, sp_fw_header *out);

/*
 * A whole container in memory: the header parses, the length is exactly
 * header_len + payload_len ("truncated" / "N trailing bytes" otherwise),
 * and the payload's SHA-256 is the header's.  The signature is not
 * checked here (sp_fw_verify_sig).
 */
SP_MUST_CHECK sp_result sp_fw_check(sp_slice whole, sp_fw_header *out);

/*
 * The signature of a parsed header, against pub (the firmware-signing
 * root's public key).  signed_hdr: the container's first h->signed_len
 * bytes.  SP_E_VERIFY "not signed by the firmware key" when it fails.
 */
SP_MUST_CHECK sp_result sp_fw_verify_sig(const sp_fw_header *h, sp_slice signed_hdr,
    EVP_PKEY *pub);

/*
 * A container file, checked whole without holding the payload in memory:
 * header, signature (pub), streamed digest, exact length.  Errors name the
 * file.  *out is filled on success (and with the header when only the
 * digest or length fails).
 */
SP_MUST_CHECK sp_result sp_fw_verify_file(const char *path, EVP_PKEY *pub,
    sp_fw_header *out);

/*
 * Build a container: product and version (syntax checked), the payload
 * file streamed through SHA-256, signed with key (an EVP_PKEY from a file
 * or a PKCS#11 token: pki/token.h), written to out_path atomically.
 */
SP_MUST_CHECK sp_result sp_fw_build_file(const char *payload_path, const char *product,
    const char *version, EVP_PKEY *key, const char *out_path);

#endif
