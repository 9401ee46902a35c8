#include "common/csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FAIL(code, ...) res = csv_error(r, (code), __VA_ARGS__)

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

static sp_result SP_PRINTF(3, 4)
csv_error(const sp_csv *r, sp_code code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sp_error(code, "%s:%zu: %s", r->name, r->line, msg);
}

void
sp_csv_init(sp_csv *r, const char *name, sp_slice in)
{
	memset(r, 0, sizeof(*r));
	r->name = name ? name : "-";
	r->in = in;
}

/* Split one line (no LF, no control bytes but tab) into row. */
static sp_result
split(const sp_csv *r, sp_slice line, sp_csv_row *row)
{
	sp_result res = SP_OK;
	size_t i = 0, k = 0, start;

	row->n = 0;
	for (;;) {
		if (row->n == SP_CSV_FIELDS_MAX) {
			FAIL(SP_E_LIMIT, "more than %d fields", SP_CSV_FIELDS_MAX);
			goto out;
		}
		while (i < line.len && blank(line.p[i]))
			i++;
		start = k;
		if (i < line.len && line.p[i] == '"') {
			for (i++;; i++) {
				if (i == line.len) {
					FAIL(SP_E_PARSE, "unterminated quoted field");
					goto out;
				}
				if (line.p[i] == '"') {
					if (i + 1 < line.len && line.p[i + 1] == '"')
						i++;
					else
						break;
				}
				row->buf[k++] = line.p[i];
			}
			for (i++; i < line.len && blank(line.p[i]); i++)
				;
			if (i < line.len && line.p[i] != ',') {
				FAIL(SP_E_PARSE, "text after a quoted field");
				goto out;
			}
		} else {
			for (; i < line.len && line.p[i] != ','; i++) {
				if (line.p[i] == '"') {
					FAIL(SP_E_PARSE, "quote inside an unquoted field");
					goto out;
				}
				row->buf[k++] = line.p[i];
			}
			while (k > start && blank(row->buf[k - 1]))
				k--;
		}
		if (k - start > SP_CSV_FIELD_MAX) {
			FAIL(SP_E_LIMIT, "field longer than %d bytes", SP_CSV_FIELD_MAX);
			goto out;
		}
		row->f[row->n++] = sp_slice_mk(row->buf + start, k - start);
		row->buf[k++] = '\0';
		if (i == line.len)
			break;
		i++;    /* the comma */
	}
out:
	return res;
}

sp_result
sp_csv_next(sp_csv *r, sp_csv_row *row, bool *got)
{
	sp_result res = SP_OK;

	*got = false;
	while (r->pos < r->in.len) {
		const char *p = r->in.p + r->pos;
		size_t rest = r->in.len - r->pos, len;
		const char *nl = memchr(p, '\n', rest);
		sp_slice t;

		len = nl ? (size_t)(nl - p) : rest;
		r->pos += nl ? len + 1 : len;
		r->line++;
		if (len && p[len - 1] == '\r')
			len--;
		if (len > SP_CSV_LINE_MAX) {
			FAIL(SP_E_LIMIT, "line longer than %d bytes", SP_CSV_LINE_MAX);
			goto out;
		}
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];
			if (c == 0) {
				FAIL(SP_E_PARSE, "NUL byte");
				goto out;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				FAIL(SP_E_PARSE, "control character \\x%02x", c);
				goto out;
			}
		}
		for (t = sp_slice_mk(p, len); t.len && blank(t.p[0]); t.p++, t.len--)
			;
		if (t.len == 0 || t.p[0] == '#')
			continue;
		row->line = r->line;
		TRY(split(r, sp_slice_mk(p, len), row));
		r->records++;
		*got = true;
		break;
	}
out:
	return res;
}

sp_result
sp_csv_next_device(sp_csv *r, sp_csv_row *row, sp_csv_device *d, bool *got)
{
	sp_result res = SP_OK;

	memset(d, 0, sizeof(*d));
	TRY(sp_csv_next(r, row, got));
	if (*got && r->records == 1 && sp_slice_eq_nocase(row->f[0],
	    SP_SLICE_LIT("mac")))
		TRY(sp_csv_next(r, row, got));
	if (!*got)
		goto out;
	if (row->n < 3 || row->n > 4) {
		*got = false;
		FAIL(SP_E_PARSE, "expected mac,serial,product[,group], got %zu field%s",
		    row->n, row->n == 1 ? "" : "s");
		goto out;
	}
	d->line = row->line;
	d->mac = row->f[0].p;
	d->serial = row->f[1].p;
	d->product = row->f[2].p;
	d->group = row->n == 4 ? row->f[3].p : "";
out:
	return res;
}
