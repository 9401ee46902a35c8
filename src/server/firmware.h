/*
 * Firmware images for `sprov serve` (firmware.c): the firmware-path
 * template, byte ranges, and the route that streams an image from the
 * store to an authenticated device of the image's product.
 *
 * The template and range parsing are pure (no I/O, no global state) and
 * unit-tested; the route runs on a worker and reaches the store only
 * through store-thread jobs (storethread.c), one chunk at a time.
 */
#ifndef SPROV_SERVER_FIRMWARE_H
#define SPROV_SERVER_FIRMWARE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "firmware/image.h"

#define SP_FWPATH_DEFAULT "/firmware/$PN/$VERSION.sfw"
#define SP_FWPATH_LEN_MAX 256

/*
 * A firmware-path: '/' then literal text with $PN and $VERSION once each
 * ("$(PN)", "$(VERSION)" too; "$$" is a '$'), some text between them, no
 * other macro, no '?', '%' or control byte.
 */
typedef struct sp_fwpath {
	char src[SP_FWPATH_LEN_MAX + 1];
	char lit[3][SP_FWPATH_LEN_MAX + 1]; /* before, between, after the macros */
	size_t litlen[3];
	bool pn_first;                      /* $PN comes before $VERSION */
} sp_fwpath;

SP_MUST_CHECK sp_result sp_fwpath_parse(sp_slice src, sp_fwpath *out);

/*
 * Does path name an image under t?  Then pn and ver get the product and
 * version (each of its own syntax, firmware/image.h).  When several
 * splits would do, the first (shortest first macro) wins.
 */
bool sp_fwpath_match(const sp_fwpath *t, sp_slice path, char pn[SP_FW_PRODUCT_MAX + 1],
    char ver[SP_FW_VERSION_MAX + 1]);

typedef enum sp_range_kind {
	SP_RANGE_WHOLE,          /* no Range, one we ignore (multi, other unit, bad): 200 */
	SP_RANGE_PART,           /* one satisfiable byte range: 206 */
	SP_RANGE_UNSATISFIABLE,  /* 416 */
} sp_range_kind;

/*
 * A Range header (NULL: none) against a body of len bytes (RFC 9110 14.2):
 * "bytes=a-b", "bytes=a-", "bytes=-n".  PART sets [*from, *to] (inclusive).
 * A syntactically invalid header, another unit or a list of ranges is
 * ignored (WHOLE): a multipart answer is optional, the whole body is right.
 */
sp_range_kind sp_range_parse(const char *hdr, uint64_t len, uint64_t *from, uint64_t *to);

/* The strong ETag of an image: its container's SHA-256, quoted. */
#define SP_FW_ETAG_LEN (2 + 2 * 32)
void sp_fw_etag(const uint8_t sha256[32], char out[SP_FW_ETAG_LEN + 1]);

#endif
