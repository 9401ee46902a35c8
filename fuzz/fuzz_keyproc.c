/*
 * The key process' request parser (src/keyproc/proto.c), which reads what
 * a possibly taken-over serving process sends.  Invariants: an accepted
 * request re-encodes to the same bytes, and the answer the key process'
 * framing makes for it (with no keys) parses.  The answer parser gets the
 * same bytes too, and so does the check a raw RSA block must pass before
 * the key process signs it (pss.c), for a key of the input's size in bits
 * and for one bit more than a whole byte (the EMSA length is a byte less).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyproc/keyproc.h"
#include "keyproc/keyproc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_kp_req rq;
	sp_kp_resp rs;
	uint8_t buf[SP_KP_RESP_MAX];
	size_t len = 0;

	if (size > 0 && size <= SP_KP_IN_MAX) {
		(void)sp_kp_raw_is_pss(data, size, (int)(size * 8));
		(void)sp_kp_raw_is_pss(data, size, (int)(size * 8) - 7);
	}
	if (sp_ok(sp_kp_resp_parse(data, size, &rs))) {
		if (sp_failed(sp_kp_resp_encode(&rs, buf, &len)) || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
	}
	if (sp_failed(sp_kp_req_parse(data, size, &rq)))
		return 0;
	if (size < SP_KP_HDR || size > SP_KP_REQ_MAX || rq.inlen != size - SP_KP_HDR)
		abort();
	if (sp_failed(sp_kp_req_encode(&rq, buf, &len)) || len != size ||
	    memcmp(buf, data, size) != 0)
		abort();
	return 0;
}
