#include "profile/param.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/text.h"

void
sp_params_init(sp_params *ps)
{
	ps->v = NULL;
	ps->n = ps->cap = 0;
}

static void
param_free(sp_param *p)
{
	if (p->value)
		OPENSSL_cleanse(p->value, p->value_len);
	free(p->name);
	free(p->value);
	p->name = p->value = NULL;
}

void
sp_params_free(sp_params *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		param_free(&ps->v[i]);
	free(ps->v);
	sp_params_init(ps);
}

/* Binary search: index of name, or where it would be inserted. */
static size_t
find(const sp_params *ps, const char *name, size_t nlen, bool *found)
{
	size_t lo = 0, hi = ps->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *m = ps->v[mid].name;
		size_t mlen = strlen(m);
		int c = memcmp(m, name, mlen < nlen ? mlen : nlen);
		if (c == 0)
			c = mlen < nlen ? -1 : mlen > nlen ? 1 : 0;
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static char *
dup_slice(sp_slice s)
{
	char *p = malloc(s.len + 1);

	if (p) {
		if (s.len)
			memcpy(p, s.p, s.len);
		p[s.len] = '\0';
	}
	return p;
}

sp_result
sp_params_set(sp_params *ps, sp_slice name, sp_slice value, sp_access access)
{
	sp_result res = SP_OK;
	char *nv = NULL, *nn = NULL;
	bool found;
	size_t i;

	TRY(sp_param_name_check(name));
	ENSURE(value.len <= SP_PARAM_VALUE_MAX, SP_E_LIMIT,
	    "parameter %.*s: value longer than %d bytes", (int)name.len, name.p,
	    SP_PARAM_VALUE_MAX);
	TRY_ALLOC(nv, dup_slice(value));
	i = find(ps, name.p, name.len, &found);
	if (found) {
		sp_param *p = &ps->v[i];
		OPENSSL_cleanse(p->value, p->value_len);
		free(p->value);
		p->value = nv;
		p->value_len = value.len;
		p->access = access;
		nv = NULL;
		goto out;
	}
	ENSURE(ps->n < SP_PARAMS_MAX, SP_E_LIMIT, "more than %d parameters", SP_PARAMS_MAX);
	if (ps->n == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 32;
		sp_param *nvv = realloc(ps->v, ncap * sizeof(*nvv));
		ENSURE(nvv != NULL, SP_E_NOMEM, "out of memory");
		ps->v = nvv;
		ps->cap = ncap;
	}
	TRY_ALLOC(nn, dup_slice(name));
	memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof(ps->v[0]));
	ps->v[i] = (sp_param){ nn, nv, value.len, access };
	ps->n++;
	nn = nv = NULL;
out:
	free(nn);
	if (nv) {
		OPENSSL_cleanse(nv, value.len);
		free(nv);
	}
	return res;
}

sp_result
sp_params_set_cstr(sp_params *ps, const char *name, const char *value, sp_access access)
{
	return sp_params_set(ps, sp_slice_of(name), sp_slice_of(value), access);
}

bool
sp_params_unset(sp_params *ps, const char *name)
{
	bool found;
	size_t i = find(ps, name, strlen(name), &found);

	if (!found)
		return false;
	param_free(&ps->v[i]);
	memmove(&ps->v[i], &ps->v[i + 1], (ps->n - i - 1) * sizeof(ps->v[0]));
	ps->n--;
	return true;
}

const sp_param *
sp_params_get(const sp_params *ps, const char *name)
{
	bool found;
	size_t i = find(ps, name, strlen(name), &found);

	return found ? &ps->v[i] : NULL;
}

const char *
sp_params_value(const sp_params *ps, const char *name, const char *dflt)
{
	const sp_param *p = ps ? sp_params_get(ps, name) : NULL;

	return p ? p->value : dflt;
}

sp_result
sp_params_merge(sp_params *dst, const sp_params *src)
{
	sp_result res = SP_OK;

	for (size_t i = 0; i < src->n; i++)
		TRY(sp_params_set(dst, sp_slice_of(src->v[i].name),
		    sp_slice_mk(src->v[i].value, src->v[i].value_len), src->v[i].access));
out:
	return res;
}

sp_result
sp_params_copy(sp_params *dst, const sp_params *src)
{
	sp_params_init(dst);
	sp_result r = sp_params_merge(dst, src);
	if (sp_failed(r))
		sp_params_free(dst);
	return r;
}

bool
sp_params_equal(const sp_params *a, const sp_params *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const sp_param *x = &a->v[i], *y = &b->v[i];
		if (strcmp(x->name, y->name) != 0 || x->access != y->access ||
		    x->value_len != y->value_len ||
		    memcmp(x->value, y->value, x->value_len) != 0)
			return false;
	}
	return true;
}

sp_result
sp_access_parse(sp_slice s, sp_access *out)
{
	char q[40];

	if (sp_slice_eq_cstr(s, "na"))
		*out = SP_ACCESS_NA;
	else if (sp_slice_eq_cstr(s, "ro"))
		*out = SP_ACCESS_RO;
	else if (sp_slice_eq_cstr(s, "rw"))
		*out = SP_ACCESS_RW;
	else {
		sp_quote(s, q, sizeof(q));
		return sp_error(SP_E_PARSE, "access '%s' is not one of na, ro, rw", q);
	}
	return SP_OK;
}

const char *
sp_access_name(sp_access a)
{
	switch (a) {
	case SP_ACCESS_NA: return "na";
	case SP_ACCESS_RO: return "ro";
	case SP_ACCESS_RW: return "rw";
	default: return "";
	}
}

sp_result
sp_param_name_check(sp_slice name)
{
	char q[SP_PARAM_NAME_MAX + 16];

	if (name.len == 0 || name.len > SP_PARAM_NAME_MAX)
		goto bad;
	if (name.p[0] >= '0' && name.p[0] <= '9')
		goto bad;
	for (size_t i = 0; i < name.len; i++) {
		char c = name.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			goto bad;
	}
	return SP_OK;
bad:
	sp_quote(name, q, sizeof(q));
	return sp_error(SP_E_PARSE,
	    "parameter name '%s' is not 1-%d of [A-Za-z0-9_] starting with a letter or _",
	    q, SP_PARAM_NAME_MAX);
}

sp_result
sp_param_name_from_field(sp_slice field, sp_buf *out)
{
	sp_result res = SP_OK;

	sp_buf_reset(out);
	for (size_t i = 0; i < field.len; i++) {
		char c = field.p[i];
		if (c == ' ' || c == '[' || c == ']' || c == '(' || c == ')' || c == '/')
			c = '_';
		TRY(sp_buf_append_byte(out, c));
	}
	TRY(sp_param_name_check(sp_slice_mk(out->p ? out->p : "", out->len)));
out:
	return res;
}
