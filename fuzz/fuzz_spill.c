/*
 * The contact spill file parser (server/spill.h).  Invariants: the good
 * prefix is within the input; re-encoding the records it accepted gives
 * exactly that prefix (the format has one encoding per record); the
 * re-encoding parses back whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "server/spill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp_result
keep(void *arg, const sp_contact *c)
{
	return sp_spill_encode(c, 1, arg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_buf again;
	size_t n = 0, used = 0, n2 = 0, used2 = 0;

	sp_buf_init(&again, size + 1);
	if (sp_failed(sp_spill_parse(sp_slice_mk((const char *)data, size), keep, &again,
	    &n, &used)))
		abort();
	if (used > size || again.len != used ||
	    (used > 0 && memcmp(again.p, data, used) != 0))
		abort();
	if (sp_failed(sp_spill_parse(sp_slice_mk(again.p ? again.p : "", again.len), NULL,
	    NULL, &n2, &used2)) || n2 != n || used2 != again.len)
		abort();
	sp_buf_free(&again);
	return 0;
}
