/*
 * The whole-dump check of `sprov db restore` (store/dump.c, sp_dump_check),
 * no store involved.  Invariants: checking the same input twice gives the
 * same verdict and message; an accepted dump ends in LF, holds no NUL, and
 * has exactly one line per counted record plus the header and the end line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/dump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_dump_counts a, b;
	char msg[512];
	bool ok1, ok2;
	size_t lines = 0;

	ok1 = sp_ok(sp_dump_check("fuzz", in, &a));
	snprintf(msg, sizeof(msg), "%s", ok1 ? "" : sp_errmsg());
	ok2 = sp_ok(sp_dump_check("fuzz", in, &b));
	if (ok1 != ok2 || (!ok1 && strcmp(msg, sp_errmsg()) != 0))
		abort();
	if (!ok1)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (memcmp(&a, &b, sizeof(a)) != 0 || size == 0 || data[size - 1] != '\n' ||
	    memchr(data, 0, size) || lines != a.devices + a.params + a.contacts + 2)
		abort();
	return 0;
}
