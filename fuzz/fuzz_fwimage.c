/*
 * The firmware container parser (firmware/image.h).  Invariants: a header
 * that parses lies within the input, its fields pass their own syntax
 * checks, the signed part ends before the signature; sp_fw_check never
 * accepts an input whose length is not header + payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_fw_header h;
	sp_slice in = { (const char *)data, size };

	if (sp_ok(sp_fw_header_parse(in, &h))) {
		if (h.header_len > size || h.signed_len + 2 + h.sig_len != h.header_len ||
		    !sp_fw_product_ok(sp_slice_of(h.product)) ||
		    !sp_fw_version_ok(sp_slice_of(h.version)) || h.payload_len == 0 ||
		    h.payload_len > SP_FW_PAYLOAD_MAX)
			abort();
	}
	if (sp_ok(sp_fw_check(in, &h)) && h.header_len + h.payload_len != size)
		abort();
	return 0;
}
