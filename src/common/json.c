/*
 * The strict flat-object reader (common/json.h).  Pure: no I/O, no global
 * state; one pass over the line, decoded text appended to o->text.
 */
#include "common/json.h"

#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"

typedef struct jp {
	sp_slice in;
	size_t i;
	sp_json_obj *o;
} jp;

/* Offsets into o->text while it may still grow; slices at the end. */
typedef struct pending {
	size_t name, str, str_len;
} pending;

static sp_result
fail(const jp *p, const char *why)
{
	return sp_error(SP_E_PARSE, "column %zu: %s", p->i + 1, why);
}

static void
blanks(jp *p)
{
	while (p->i < p->in.len && (p->in.p[p->i] == ' ' || p->in.p[p->i] == '\t' ||
	    p->in.p[p->i] == '\r'))
		p->i++;
}

static bool
at(const jp *p, char c)
{
	return p->i < p->in.len && p->in.p[p->i] == c;
}

/* Four hex digits after "\u" at p->i. */
static bool
hex4(jp *p, unsigned *out)
{
	char h[5];

	if (p->in.len - p->i < 4)
		return false;
	memcpy(h, p->in.p + p->i, 4);
	h[4] = '\0';
	if (strspn(h, "0123456789abcdefABCDEF") != 4)
		return false;
	*out = (unsigned)strtoul(h, NULL, 16);
	p->i += 4;
	return true;
}

static sp_result
put_cp(sp_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sp_buf_append(b, u, n);
}

/* "\uXXXX" (p->i after the 'u'), a surrogate pair as one code point. */
static sp_result
escape_u(jp *p, sp_buf *b)
{
	sp_result res = SP_OK;
	unsigned cp, lo;

	ENSURE(hex4(p, &cp), SP_E_PARSE, "column %zu: \\u needs four hex digits",
	    p->i + 1);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		ENSURE(p->in.len - p->i >= 2 && p->in.p[p->i] == '\\' &&
		    p->in.p[p->i + 1] == 'u', SP_E_PARSE,
		    "column %zu: a high surrogate without its low half", p->i + 1);
		p->i += 2;
		ENSURE(hex4(p, &lo) && lo >= 0xdc00 && lo <= 0xdfff, SP_E_PARSE,
		    "column %zu: a high surrogate without its low half", p->i + 1);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else {
		ENSURE(cp < 0xdc00 || cp > 0xdfff, SP_E_PARSE,
		    "column %zu: a lone low surrogate", p->i + 1);
	}
	ENSURE(cp != 0, SP_E_PARSE, "column %zu: \\u0000 (NUL) is not allowed",
	    p->i + 1);
	TRY(put_cp(b, cp));
out:
	return res;
}

/* A string at p->i (on the quote): decoded onto o->text, then a NUL. */
static sp_result
string(jp *p, size_t *off, size_t *len)
{
	sp_result res = SP_OK;
	sp_buf *b = &p->o->text;
	size_t start = b->len, run;

	p->i++;
	for (;;) {
		ENSURE(p->i < p->in.len, SP_E_PARSE,
		    "column %zu: the string is not closed", p->i + 1);
		unsigned char c = (unsigned char)p->in.p[p->i];
		if (c == '"') {
			p->i++;
			break;
		}
		if (c < 0x20)
			TRY(fail(p, "a control byte in a string (escape it)"));
		if (c != '\\') {
			/* a run of plain bytes, checked as UTF-8 at once */
			for (run = p->i; run < p->in.len && p->in.p[run] != '"' &&
			    p->in.p[run] != '\\' && (unsigned char)p->in.p[run] >= 0x20;
			    run++)
				;
			if (!sp_utf8_valid(sp_slice_mk(p->in.p + p->i, run - p->i)))
				TRY(fail(p, "invalid UTF-8 in a string"));
			TRY(sp_buf_append(b, p->in.p + p->i, run - p->i));
			p->i = run;
			continue;
		}
		p->i++;
		ENSURE(p->i < p->in.len, SP_E_PARSE,
		    "column %zu: the string is not closed", p->i + 1);
		c = (unsigned char)p->in.p[p->i++];
		switch (c) {
		case '"': case '\\': case '/':
			TRY(sp_buf_append_byte(b, (char)c));
			break;
		case 'b': TRY(sp_buf_append_byte(b, '\b')); break;
		case 'f': TRY(sp_buf_append_byte(b, '\f')); break;
		case 'n': TRY(sp_buf_append_byte(b, '\n')); break;
		case 'r': TRY(sp_buf_append_byte(b, '\r')); break;
		case 't': TRY(sp_buf_append_byte(b, '\t')); break;
		case 'u':
			TRY(escape_u(p, b));
			break;
		default:
			p->i--;
			TRY(fail(p, "an unknown escape"));
		}
	}
	*off = start;
	*len = b->len - start;
	TRY(sp_buf_append_byte(b, '\0'));
out:
	return res;
}

static bool
word(jp *p, const char *w)
{
	size_t n = strlen(w);

	if (p->in.len - p->i < n || memcmp(p->in.p + p->i, w, n) != 0)
		return false;
	p->i += n;
	return true;
}

static sp_result
integer(jp *p, int64_t *out)
{
	sp_result res = SP_OK;
	size_t start = p->i, digits;

	if (at(p, '-'))
		p->i++;
	digits = p->i;
	while (p->i < p->in.len && p->in.p[p->i] >= '0' && p->in.p[p->i] <= '9')
		p->i++;
	if (p->i == digits)
		TRY(fail(p, "expected a value"));
	if (p->in.p[digits] == '0' && p->i - digits > 1) {
		p->i = digits;
		TRY(fail(p, "a number with a leading zero"));
	}
	if (at(p, '.') || at(p, 'e') || at(p, 'E'))
		TRY(fail(p, "numbers must be integers"));
	res = sp_parse_i64_slice(sp_slice_mk(p->in.p + start, p->i - start),
	    INT64_MIN, INT64_MAX, "number", out);
	if (sp_failed(res)) {
		p->i = start;
		res = fail(p, "a number out of range");
	}
out:
	return res;
}

static sp_result
value(jp *p, sp_json_member *m, pending *pd)
{
	sp_result res = SP_OK;

	if (p->i >= p->in.len)
		TRY(fail(p, "expected a value"));
	switch (p->in.p[p->i]) {
	case '"':
		m->type = SP_JSON_STRING;
		TRY(string(p, &pd->str, &pd->str_len));
		break;
	case '{': case '[':
		TRY(fail(p, "nested objects and arrays are not allowed"));
		break;
	case 't': case 'f': case 'n':
		m->type = p->in.p[p->i] == 'n' ? SP_JSON_NULL : SP_JSON_BOOL;
		m->b = p->in.p[p->i] == 't';
		if (!word(p, m->type == SP_JSON_NULL ? "null" : m->b ? "true" : "false"))
			TRY(fail(p, "expected a value"));
		break;
	default:
		m->type = SP_JSON_INT;
		TRY(integer(p, &m->i));
		break;
	}
out:
	return res;
}

void
sp_json_obj_init(sp_json_obj *o)
{
	memset(o, 0, sizeof(*o));
	sp_buf_init_secret(&o->text, 2 * SP_JSON_LINE_MAX);
}

void
sp_json_obj_free(sp_json_obj *o)
{
	sp_buf_free_secret(&o->text);
	o->n = 0;
}

sp_result
sp_json_obj_parse(sp_json_obj *o, sp_slice line)
{
	sp_result res = SP_OK;
	pending pd[SP_JSON_MEMBERS_MAX];
	jp p = { line, 0, o };
	size_t n = 0;
	bool closed = false;

	o->n = 0;
	sp_buf_reset(&o->text);
	o->text.secret = true;
	ENSURE(line.len <= SP_JSON_LINE_MAX, SP_E_LIMIT,
	    "a line longer than %u bytes", SP_JSON_LINE_MAX);
	blanks(&p);
	if (!at(&p, '{'))
		TRY(fail(&p, "expected '{'"));
	p.i++;
	blanks(&p);
	if (at(&p, '}')) {
		p.i++;
		closed = true;
	}
	while (!closed) {
		sp_json_member *m = &o->m[n];
		size_t len;

		ENSURE(n < SP_JSON_MEMBERS_MAX, SP_E_PARSE,
		    "column %zu: more than %d members", p.i + 1, SP_JSON_MEMBERS_MAX);
		memset(m, 0, sizeof(*m));
		if (!at(&p, '"'))
			TRY(fail(&p, "expected a member name in double quotes"));
		TRY(string(&p, &pd[n].name, &len));
		blanks(&p);
		if (!at(&p, ':'))
			TRY(fail(&p, "expected ':'"));
		p.i++;
		blanks(&p);
		TRY(value(&p, m, &pd[n]));
		n++;
		blanks(&p);
		if (at(&p, ',')) {
			p.i++;
			blanks(&p);
		} else if (at(&p, '}')) {
			p.i++;
			closed = true;
		} else {
			TRY(fail(&p, "expected ',' or '}'"));
		}
	}
	blanks(&p);
	if (p.i != line.len)
		TRY(fail(&p, "text after the object"));
	/* The buffer no longer grows: offsets become pointers. */
	for (size_t k = 0; k < n; k++) {
		o->m[k].name = o->text.p + pd[k].name;
		if (o->m[k].type == SP_JSON_STRING)
			o->m[k].str = sp_slice_mk(o->text.p + pd[k].str, pd[k].str_len);
		for (size_t j = 0; j < k; j++)
			if (strcmp(o->m[j].name, o->m[k].name) == 0) {
				char q[64];
				sp_quote(sp_slice_of(o->m[k].name), q, sizeof(q));
				res = sp_error(SP_E_PARSE, "member \"%s\" appears twice", q);
				goto out;
			}
	}
	o->n = n;
out:
	return res;
}

const sp_json_member *
sp_json_obj_get(const sp_json_obj *o, const char *name)
{
	for (size_t k = 0; k < o->n; k++)
		if (strcmp(o->m[k].name, name) == 0)
			return &o->m[k];
	return NULL;
}

const char *
sp_json_type_name(sp_json_type t)
{
	switch (t) {
	case SP_JSON_STRING: return "a string";
	case SP_JSON_INT: return "an integer";
	case SP_JSON_BOOL: return "true or false";
	case SP_JSON_NULL: return "null";
	}
	return "?";
}
