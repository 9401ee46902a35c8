/*
 * The contact spill file parser (server/spill.h).  Invariants: the good
 * prefix is within the input; re-encoding the records it accepted gives
 * exactly that prefix when they are all of the current version (the format
 * has one encoding per record; an "SPC1" record re-encodes as "SPC2"); the
 * re-encoding parses back whole, to the same records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "server/spill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does the good prefix hold only records of the current version? */
static int
all_current(const uint8_t *p, size_t used)
{
	size_t off = 0;

	while (off < used) {
		size_t len = (size_t)p[off + 4] | (size_t)p[off + 5] << 8 |
		    (size_t)p[off + 6] << 16 | (size_t)p[off + 7] << 24;
		if (memcmp(p + off, SP_SPILL_MAGIC, 4) != 0)
			return 0;
		off += SP_SPILL_HEAD + len + SP_SPILL_TAIL;
	}
	return 1;
}

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

	sp_buf_init(&again, 2 * size + 64); /* SPC1 records grow by 18 bytes */
	if (sp_failed(sp_spill_parse(sp_slice_mk((const char *)data, size), keep, &again,
	    &n, &used)))
		abort();
	if (used > size || (all_current(data, used) && (again.len != used ||
	    (used > 0 && memcmp(again.p, data, used) != 0))))
		abort();
	if (sp_failed(sp_spill_parse(sp_slice_mk(again.p ? again.p : "", again.len), NULL,
	    NULL, &n2, &used2)) || n2 != n || used2 != again.len)
		abort();
	sp_buf_free(&again);
	return 0;
}
