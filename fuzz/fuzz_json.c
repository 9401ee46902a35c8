/*
 * The flat-object JSON reader (common/json.c), the reader of `sprov db
 * restore`.  Invariants: on success at most SP_JSON_MEMBERS_MAX members with
 * unique names, every decoded string valid UTF-8 without NUL and
 * NUL-terminated; writing the members back with sp_json_str and parsing
 * again gives the same members; parsing the same input twice gives the same
 * result; an input with a raw NUL or LF byte is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(sp_slice s)
{
	if (s.p[s.len] != '\0' || memchr(s.p, '\0', s.len) || !sp_utf8_valid(s))
		abort();
}

static void
rewrite(const sp_json_obj *o, sp_buf *b)
{
	if (sp_failed(sp_buf_append_byte(b, '{')))
		abort();
	for (size_t k = 0; k < o->n; k++) {
		const sp_json_member *m = &o->m[k];
		sp_result r = SP_OK;

		if (k)
			r = sp_buf_append_byte(b, ',');
		if (sp_ok(r))
			r = sp_json_cstr(b, m->name);
		if (sp_ok(r))
			r = sp_buf_append_byte(b, ':');
		if (sp_ok(r)) {
			switch (m->type) {
			case SP_JSON_STRING: r = sp_json_str(b, m->str); break;
			case SP_JSON_INT: r = sp_buf_printf(b, "%lld", (long long)m->i); break;
			case SP_JSON_BOOL: r = sp_buf_append_str(b, m->b ? "true" : "false"); break;
			case SP_JSON_NULL: r = sp_buf_append_str(b, "null"); break;
			}
		}
		if (sp_failed(r))
			abort();
	}
	if (sp_failed(sp_buf_append_byte(b, '}')))
		abort();
}

static bool
same(const sp_json_obj *a, const sp_json_obj *b)
{
	if (a->n != b->n)
		return false;
	for (size_t k = 0; k < a->n; k++) {
		const sp_json_member *x = &a->m[k], *y = &b->m[k];
		if (strcmp(x->name, y->name) != 0 || x->type != y->type)
			return false;
		if (x->type == SP_JSON_STRING && !sp_slice_eq(x->str, y->str))
			return false;
		if ((x->type == SP_JSON_INT && x->i != y->i) ||
		    (x->type == SP_JSON_BOOL && x->b != y->b))
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_json_obj a, b;
	sp_buf w;
	bool ok1, ok2;

	sp_json_obj_init(&a);
	sp_json_obj_init(&b);
	sp_buf_init(&w, 8 * SP_JSON_LINE_MAX);
	ok1 = sp_ok(sp_json_obj_parse(&a, in));
	ok2 = sp_ok(sp_json_obj_parse(&b, in));
	if (ok1 != ok2 || (ok1 && !same(&a, &b)))
		abort();
	if (ok1 && (memchr(data, 0, size) || memchr(data, '\n', size)))
		abort();
	if (ok1) {
		if (a.n > SP_JSON_MEMBERS_MAX)
			abort();
		for (size_t k = 0; k < a.n; k++) {
			check_str(sp_slice_of(a.m[k].name));
			for (size_t j = 0; j < k; j++)
				if (strcmp(a.m[j].name, a.m[k].name) == 0)
					abort();
			if (a.m[k].type == SP_JSON_STRING)
				check_str(a.m[k].str);
		}
		rewrite(&a, &w);
		if (w.len <= SP_JSON_LINE_MAX) {
			if (sp_failed(sp_json_obj_parse(&b, sp_slice_mk(w.p, w.len))) ||
			    !same(&a, &b))
				abort();
		}
	}
	sp_buf_free(&w);
	sp_json_obj_free(&a);
	sp_json_obj_free(&b);
	return 0;
}
