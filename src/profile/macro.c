/*
 * Macro context and single-pass macro expansion (see rule.h, PROFILE.md).
 */
#include "profile/rule.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Longest accepted digit string for $(NAME:p:q) offsets. */
#define SP_MACRO_OFFSET_DIGITS 6
/* Longest $( ... ) form we look for a ')' in. */
#define SP_MACRO_PAREN_MAX 32

static const char *const macro_names[SP_MACRO_COUNT] = {
	[SP_M_MA] = "MA", [SP_M_MAU] = "MAU", [SP_M_MAC] = "MAC",
	[SP_M_PN] = "PN", [SP_M_PSN] = "PSN", [SP_M_SN] = "SN",
	[SP_M_CCERT] = "CCERT", [SP_M_IP] = "IP", [SP_M_EXTIP] = "EXTIP",
	[SP_M_SWVER] = "SWVER", [SP_M_HWVER] = "HWVER", [SP_M_PRVST] = "PRVST",
	[SP_M_UPGST] = "UPGST", [SP_M_UPGERR] = "UPGERR", [SP_M_PRVTMR] = "PRVTMR",
	[SP_M_UPGTMR] = "UPGTMR", [SP_M_REGTMR1] = "REGTMR1",
	[SP_M_REGTMR2] = "REGTMR2", [SP_M_SCHEME] = "SCHEME", [SP_M_SERV] = "SERV",
	[SP_M_SERVIP] = "SERVIP", [SP_M_PORT] = "PORT", [SP_M_PATH] = "PATH",
	[SP_M_ERR] = "ERR", [SP_M_UID1] = "UID1", [SP_M_UID2] = "UID2",
	[SP_M_A] = "A", [SP_M_B] = "B", [SP_M_C] = "C", [SP_M_D] = "D",
	[SP_M_E] = "E", [SP_M_F] = "F", [SP_M_G] = "G", [SP_M_H] = "H",
	[SP_M_I] = "I", [SP_M_J] = "J", [SP_M_K] = "K", [SP_M_L] = "L",
	[SP_M_M] = "M", [SP_M_N] = "N", [SP_M_O] = "O", [SP_M_P] = "P",
	[SP_M_SA] = "SA", [SP_M_SB] = "SB", [SP_M_SC] = "SC", [SP_M_SD] = "SD",
};

void
sp_macros_init(sp_macros *m)
{
	for (size_t i = 0; i < SP_MACRO_COUNT; i++) {
		m->v[i] = NULL;
		m->len[i] = 0;
	}
}

void
sp_macros_free(sp_macros *m)
{
	for (size_t i = 0; i < SP_MACRO_COUNT; i++) {
		if (m->v[i]) {
			OPENSSL_cleanse(m->v[i], m->len[i]);
			free(m->v[i]);
		}
	}
	sp_macros_init(m);
}

int
sp_macro_lookup(sp_slice name)
{
	for (size_t i = 0; i < SP_MACRO_COUNT; i++)
		if (sp_slice_eq_cstr(name, macro_names[i]))
			return (int)i;
	return -1;
}

const char *
sp_macro_name(sp_macro_id id)
{
	return (unsigned)id < SP_MACRO_COUNT ? macro_names[id] : "?";
}

bool
sp_macro_is_secret(sp_macro_id id)
{
	return id >= SP_M_SA && id <= SP_M_SD;
}

sp_result
sp_macros_set(sp_macros *m, sp_macro_id id, sp_slice value)
{
	sp_result res = SP_OK;
	char *nv = NULL;

	ENSURE((unsigned)id < SP_MACRO_COUNT, SP_E_INTERNAL, "bad macro id %d", (int)id);
	ENSURE(value.len <= SP_MACRO_VALUE_MAX, SP_E_LIMIT,
	    "macro %s: value longer than %d bytes", macro_names[id], SP_MACRO_VALUE_MAX);
	TRY_ALLOC(nv, malloc(value.len + 1));
	if (value.len)
		memcpy(nv, value.p, value.len);
	nv[value.len] = '\0';
	if (m->v[id]) {
		OPENSSL_cleanse(m->v[id], m->len[id]);
		free(m->v[id]);
	}
	m->v[id] = nv;
	m->len[id] = value.len;
out:
	return res;
}

sp_result
sp_macros_set_cstr(sp_macros *m, const char *name, const char *value)
{
	int id = sp_macro_lookup(sp_slice_of(name));

	if (id < 0)
		return sp_error(SP_E_NOTFOUND, "no macro named '%.32s'", name);
	return sp_macros_set(m, (sp_macro_id)id, sp_slice_of(value));
}

sp_slice
sp_macros_get(const sp_macros *m, sp_macro_id id)
{
	if ((unsigned)id >= SP_MACRO_COUNT || m->v[id] == NULL)
		return sp_slice_mk("", 0);
	return sp_slice_mk(m->v[id], m->len[id]);
}

sp_result
sp_macros_load_gpp(sp_macros *m, const sp_params *ps)
{
	sp_result res = SP_OK;
	char name[16];

	for (int id = SP_M_A; id <= SP_M_SD; id++) {
		memcpy(name, "GPP_", 4);
		size_t n = strlen(macro_names[id]);
		memcpy(name + 4, macro_names[id], n + 1);
		const sp_param *p = sp_params_get(ps, name);
		if (p)
			TRY(sp_macros_set(m, (sp_macro_id)id,
			    sp_slice_mk(p->value, p->value_len)));
	}
out:
	return res;
}

static bool
is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Append with the expansion's own ceiling (start = out->len at entry). */
static sp_result
put(sp_buf *out, size_t start, const char *p, size_t n)
{
	if (n > SP_MACRO_OUT_MAX || out->len - start > SP_MACRO_OUT_MAX - n)
		return sp_error(SP_E_LIMIT, "macro expansion longer than %d bytes",
		    SP_MACRO_OUT_MAX);
	return sp_buf_append(out, p, n);
}

/* Digits only, at most SP_MACRO_OFFSET_DIGITS of them. */
static bool
parse_offset(sp_slice s, size_t *out)
{
	size_t v = 0;

	if (s.len == 0 || s.len > SP_MACRO_OFFSET_DIGITS)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (size_t)(s.p[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Inside "$( ... )": NAME[:p[:q]].  Returns false if the form is malformed
 * (the caller then copies it unchanged).
 */
static bool
parse_paren(sp_slice body, sp_slice *name, bool *has_p, size_t *p, bool *has_q,
    size_t *q)
{
	size_t i = 0;

	while (i < body.len && is_name_char(body.p[i]))
		i++;
	if (i == 0)
		return false;
	*name = sp_slice_mk(body.p, i);
	*has_p = *has_q = false;
	if (i == body.len)
		return true;
	if (body.p[i] != ':')
		return false;
	sp_slice rest = sp_slice_mk(body.p + i + 1, body.len - i - 1);
	size_t c = sp_slice_find(rest, ':');
	if (!parse_offset(sp_slice_mk(rest.p, c), p))
		return false;
	*has_p = true;
	if (c == rest.len)
		return true;
	if (!parse_offset(sp_slice_mk(rest.p + c + 1, rest.len - c - 1), q))
		return false;
	*has_q = true;
	return true;
}

sp_result
sp_macro_expand(sp_slice in, const sp_macros *m, int flags, sp_buf *out)
{
	sp_result res = SP_OK;
	size_t start = out->len, i = 0;

	while (i < in.len) {
		/* Copy the run up to the next '$' in one go. */
		size_t run = sp_slice_find(sp_slice_mk(in.p + i, in.len - i), '$');
		if (run) {
			TRY(put(out, start, in.p + i, run));
			i += run;
			continue;
		}
		if (i + 1 == in.len) {
			TRY(put(out, start, "$", 1));
			i++;
			continue;
		}
		char n = in.p[i + 1];
		if (n == '$') {
			TRY(put(out, start, "$", 1));
			i += 2;
			continue;
		}
		if (n == '(') {
			size_t lim = in.len - (i + 2);
			if (lim > SP_MACRO_PAREN_MAX)
				lim = SP_MACRO_PAREN_MAX;
			sp_slice win = sp_slice_mk(in.p + i + 2, lim);
			size_t close = sp_slice_find(win, ')');
			sp_slice name;
			bool has_p, has_q;
			size_t p = 0, q = 0;
			if (close == win.len ||
			    !parse_paren(sp_slice_mk(win.p, close), &name, &has_p, &p,
			    &has_q, &q)) {
				/* Not a macro form: a literal '$'. */
				TRY(put(out, start, "$", 1));
				i++;
				continue;
			}
			size_t whole = 2 + close + 1;
			int id = sp_macro_lookup(name);
			if (id < 0 || (sp_macro_is_secret((sp_macro_id)id) &&
			    !(flags & SP_MACRO_SECRET))) {
				TRY(put(out, start, in.p + i, whole));
				i += whole;
				continue;
			}
			sp_slice v = sp_macros_get(m, (sp_macro_id)id);
			if (has_p) {
				if (p > v.len)
					p = v.len;
				v.p += p;
				v.len -= p;
			}
			if (has_q && q < v.len)
				v.len = q;
			TRY(put(out, start, v.p, v.len));
			i += whole;
			continue;
		}
		if (is_name_char(n)) {
			size_t j = i + 1;
			while (j < in.len && is_name_char(in.p[j]))
				j++;
			int id = sp_macro_lookup(sp_slice_mk(in.p + i + 1, j - i - 1));
			if (id < 0 || (sp_macro_is_secret((sp_macro_id)id) &&
			    !(flags & SP_MACRO_SECRET))) {
				TRY(put(out, start, in.p + i, j - i));
			} else {
				sp_slice v = sp_macros_get(m, (sp_macro_id)id);
				TRY(put(out, start, v.p, v.len));
			}
			i = j;
			continue;
		}
		TRY(put(out, start, "$", 1));
		i++;
	}
	/* Keep the buffer usable as a string even when nothing was appended. */
	if (out->p == NULL)
		TRY(sp_buf_append(out, "", 0));
out:
	return res;
}
