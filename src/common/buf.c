#include "common/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

bool
sp_slice_eq(sp_slice a, sp_slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
sp_slice_eq_nocase(sp_slice a, sp_slice b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (tolower((unsigned char)a.p[i]) != tolower((unsigned char)b.p[i]))
			return false;
	return true;
}

bool
sp_slice_eq_cstr(sp_slice a, const char *s)
{
	return sp_slice_eq(a, sp_slice_of(s));
}

size_t
sp_slice_find(sp_slice s, char c)
{
	const char *q = s.len ? memchr(s.p, c, s.len) : NULL;

	return q ? (size_t)(q - s.p) : s.len;
}

sp_slice
sp_slice_trim(sp_slice s)
{
	while (s.len && isspace((unsigned char)s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && isspace((unsigned char)s.p[s.len - 1]))
		s.len--;
	return s;
}

void
sp_buf_init(sp_buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
	b->secret = false;
}

void
sp_buf_init_secret(sp_buf *b, size_t max)
{
	sp_buf_init(b, max);
	b->secret = true;
}

void
sp_buf_mark_secret(sp_buf *b)
{
	b->secret = true;
}

void
sp_buf_free(sp_buf *b)
{
	if (b->p && b->secret)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
sp_buf_free_secret(sp_buf *b)
{
	b->secret = true;
	sp_buf_free(b);
}

void
sp_buf_reset(sp_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static sp_result
grow(sp_buf *b, size_t need)
{
	size_t ncap;
	char *np;

	if (need > b->max)
		return sp_error(SP_E_LIMIT, "buffer limit of %zu bytes exceeded", b->max);
	if (need + 1 <= b->cap)
		return SP_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need + 1)
		ncap = ncap > SIZE_MAX / 2 ? need + 1 : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if (b->secret) {
		/* realloc could leave the old bytes in freed memory: copy, wipe */
		if ((np = malloc(ncap)) == NULL)
			return sp_error(SP_E_NOMEM, "out of memory");
		if (b->p) {
			memcpy(np, b->p, b->len + 1);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
	} else if ((np = realloc(b->p, ncap)) == NULL) {
		return sp_error(SP_E_NOMEM, "out of memory");
	}
	b->p = np;
	b->cap = ncap;
	return SP_OK;
}

sp_result
sp_buf_append(sp_buf *b, const void *p, size_t n)
{
	sp_result res = SP_OK;

	if (n > b->max - b->len && b->len <= b->max)
		return sp_error(SP_E_LIMIT, "buffer limit of %zu bytes exceeded", b->max);
	TRY(grow(b, b->len + n));
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
out:
	return res;
}

sp_result
sp_buf_append_str(sp_buf *b, const char *s)
{
	return sp_buf_append(b, s, strlen(s));
}

sp_result
sp_buf_append_byte(sp_buf *b, char c)
{
	return sp_buf_append(b, &c, 1);
}

sp_result
sp_buf_printf(sp_buf *b, const char *fmt, ...)
{
	sp_result res = SP_OK;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ENSURE(n >= 0, SP_E_INTERNAL, "bad format");
	TRY(grow(b, b->len + (size_t)n));
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
out:
	return res;
}

const char *
sp_buf_cstr(const sp_buf *b)
{
	return b->p ? b->p : "";
}

char *
sp_buf_steal(sp_buf *b, size_t *len)
{
	char *p = b->p;

	if (len)
		*len = b->len;
	if (p == NULL)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}
