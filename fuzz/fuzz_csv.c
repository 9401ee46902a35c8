/*
 * The CSV reader (common/csv.c).  Invariants: every record has 1 to
 * SP_CSV_FIELDS_MAX fields, each at most SP_CSV_FIELD_MAX bytes, without
 * NUL, NUL-terminated inside the row, without LF; record lines increase
 * and never pass the number of LFs + 1; a NUL in the input means an error;
 * the device reader returns 3 or 4 fields or an error; reading the same
 * input twice gives the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp_csv_row row;

static size_t
records(sp_slice in, bool *failed)
{
	sp_csv r;
	bool got;
	size_t n = 0, last = 0, lfs = 0;

	for (size_t i = 0; i < in.len; i++)
		lfs += in.p[i] == '\n';
	sp_csv_init(&r, "fuzz.csv", in);
	*failed = false;
	for (;;) {
		if (sp_failed(sp_csv_next(&r, &row, &got))) {
			*failed = true;
			break;
		}
		if (!got)
			break;
		if (row.n == 0 || row.n > SP_CSV_FIELDS_MAX || row.line <= last ||
		    row.line > lfs + 1)
			abort();
		last = row.line;
		for (size_t i = 0; i < row.n; i++) {
			sp_slice f = row.f[i];
			if (f.len > SP_CSV_FIELD_MAX || f.p[f.len] != '\0' ||
			    memchr(f.p, '\0', f.len) || memchr(f.p, '\n', f.len) ||
			    f.p < row.buf || f.p + f.len >= row.buf + sizeof(row.buf))
				abort();
		}
		n++;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_csv r;
	sp_csv_device d;
	bool f1, f2, got;
	size_t n1 = records(in, &f1), n2 = records(in, &f2);

	if (n1 != n2 || f1 != f2)
		abort();
	if (memchr(data, 0, size) && !f1)
		abort();
	sp_csv_init(&r, "fuzz.csv", in);
	while (sp_ok(sp_csv_next_device(&r, &row, &d, &got)) && got)
		if (row.n < 3 || row.n > 4 || !d.mac || !d.serial || !d.product ||
		    !d.group || (row.n == 3 && *d.group))
			abort();
	return 0;
}
