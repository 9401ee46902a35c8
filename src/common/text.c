/*
 * The one byte quoter and the one JSON string writer (common/text.h).
 */
#include "common/text.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

static bool
quote_plain(unsigned char c, bool dquote)
{
	return c >= 0x20 && c < 0x7f && c != '\\' && !(dquote && c == '"');
}

static void
quote(sp_slice s, char *out, size_t outsz, bool dquote)
{
	size_t o = 0, total = 0, room;

	if (outsz == 0)
		return;
	for (size_t i = 0; i < s.len; i++)
		total += quote_plain((unsigned char)s.p[i], dquote) ? 1 : 4;
	/* Whole, or cut at a whole character with room left for "...". */
	room = total < outsz ? outsz - 1 : (outsz > 4 ? outsz - 4 : 0);
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (quote_plain(c, dquote)) {
			if (o + 1 > room)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 > room)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hexdig[c >> 4];
			out[o++] = hexdig[c & 15];
		}
	}
	if (total >= outsz && outsz > 4) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

void
sp_quote(sp_slice s, char *out, size_t outsz)
{
	quote(s, out, outsz, false);
}

void
sp_quote_field(sp_slice s, char *out, size_t outsz)
{
	quote(s, out, outsz, true);
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned int cp;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	/* overlong forms, surrogates, past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool
sp_utf8_valid(sp_slice s)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, len;

	while (i < s.len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		len = utf8_len(p + i, s.len - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

sp_result
sp_json_str(sp_buf *out, sp_slice s)
{
	sp_result res = SP_OK;
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0;

	TRY(sp_buf_append_byte(out, '"'));
	while (i < s.len) {
		unsigned char c = p[i];
		size_t run = i;

		/* copy a run of plain ASCII at once */
		while (run < s.len && p[run] >= 0x20 && p[run] < 0x7f &&
		    p[run] != '"' && p[run] != '\\')
			run++;
		if (run > i) {
			TRY(sp_buf_append(out, p + i, run - i));
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			TRY(sp_buf_append(out, e, 2));
			i++;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			char e[2] = { '\\', c == '\n' ? 'n' : c == '\t' ? 't' : 'r' };
			TRY(sp_buf_append(out, e, 2));
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15] };
			TRY(sp_buf_append(out, e, 6));
			i++;
		} else {
			size_t len = utf8_len(p + i, s.len - i);
			if (len == 0) {
				TRY(sp_buf_append(out, "\\ufffd", 6));
				i++;
			} else {
				TRY(sp_buf_append(out, p + i, len));
				i += len;
			}
		}
	}
	TRY(sp_buf_append_byte(out, '"'));
out:
	return res;
}

sp_result
sp_prom_label(sp_buf *out, sp_slice s)
{
	sp_result res = SP_OK;
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, len;

	while (i < s.len) {
		unsigned char c = p[i];

		if (c == '\\' || c == '"') {
			char e[2] = { '\\', (char)c };
			TRY(sp_buf_append(out, e, 2));
			len = 1;
		} else if (c == '\n') {
			TRY(sp_buf_append(out, "\\n", 2));
			len = 1;
		} else if (c >= 0x20 && c < 0x7f) {
			TRY(sp_buf_append_byte(out, (char)c));
			len = 1;
		} else if (c >= 0x80 && (len = utf8_len(p + i, s.len - i)) != 0) {
			TRY(sp_buf_append(out, p + i, len));
		} else {
			TRY(sp_buf_append(out, "\xef\xbf\xbd", 3));
			len = 1;
		}
		i += len;
	}
out:
	return res;
}

sp_result
sp_json_cstr(sp_buf *out, const char *s)
{
	return sp_json_str(out, sp_slice_of(s ? s : ""));
}

sp_result
sp_json_fput(FILE *f, sp_slice s)
{
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, s.len * 6 + 2);
	TRY(sp_json_str(&b, s));
	if (fwrite(b.p, 1, b.len, f) != b.len)
		res = sp_error(SP_E_IO, "write: short write");
out:
	sp_buf_free(&b);
	return res;
}
