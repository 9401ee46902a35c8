#include "server/template.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"

static const struct {
	const char *name;
	sp_macro m;
	bool identity;
} macros[] = {
	/* Longest first: "$MAC" must not parse as "$MA" + "C". */
	{ "MAU", SP_MACRO_MAU, true }, { "MAC", SP_MACRO_MAC, true },
	{ "MA", SP_MACRO_MA, true }, { "SN", SP_MACRO_SN, true },
	{ "PSN", SP_MACRO_PSN, false }, { "PN", SP_MACRO_PN, false },
};

static bool
is_field_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
}

static sp_result
tpl_err(sp_slice src, const char *why)
{
	char q[96];

	sp_quote(src, q, sizeof(q));
	return sp_error(SP_E_PARSE, "path template '%s': %s", q, why);
}

static sp_result
add_lit(sp_tpl *t, size_t *litlen, char c)
{
	sp_tpl_seg *s;

	if (t->nseg == 0 || t->seg[t->nseg - 1].is_macro) {
		if (t->nseg == SP_TPL_SEGS_MAX)
			return sp_error(SP_E_LIMIT, "more than %d segments", SP_TPL_SEGS_MAX);
		s = &t->seg[t->nseg++];
		s->is_macro = false;
		s->off = (unsigned short)*litlen;
		s->len = 0;
	}
	s = &t->seg[t->nseg - 1];
	t->lit[(*litlen)++] = c;
	s->len++;
	return SP_OK;
}

sp_result
sp_tpl_parse(sp_slice src, sp_tpl *out)
{
	size_t i = 0, litlen = 0;
	sp_result r;

	memset(out, 0, sizeof(*out));
	if (src.len == 0 || src.len > SP_TPL_LEN_MAX)
		return tpl_err(src, "must be 1-256 bytes");
	if (src.p[0] != '/')
		return tpl_err(src, "must start with '/'");
	for (size_t k = 0; k < src.len; k++) {
		unsigned char c = (unsigned char)src.p[k];
		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '%' || c == '#')
			return tpl_err(src, "has a space, control, non-ASCII, '?', '#' or '%' byte");
	}
	memcpy(out->src, src.p, src.len);
	while (i < src.len) {
		char c = src.p[i];
		if (c != '$') {
			if (sp_failed(r = add_lit(out, &litlen, c)))
				return sp_error_wrap(r, "path template");
			i++;
			continue;
		}
		if (i + 1 < src.len && src.p[i + 1] == '$') {
			if (sp_failed(r = add_lit(out, &litlen, '$')))
				return sp_error_wrap(r, "path template");
			i += 2;
			continue;
		}
		bool paren = i + 1 < src.len && src.p[i + 1] == '(';
		size_t start = i + 1 + (paren ? 1 : 0), k;
		bool found = false;
		for (k = 0; k < sizeof(macros) / sizeof(macros[0]); k++) {
			size_t nl = strlen(macros[k].name);
			if (start + nl > src.len || memcmp(src.p + start, macros[k].name, nl) != 0)
				continue;
			if (paren && (start + nl >= src.len || src.p[start + nl] != ')'))
				continue;
			/* "$MAX" is not "$MA" + "X": an identifier must end. */
			if (!paren && start + nl < src.len &&
			    ((src.p[start + nl] >= 'A' && src.p[start + nl] <= 'Z') ||
			    (src.p[start + nl] >= 'a' && src.p[start + nl] <= 'z') ||
			    src.p[start + nl] == '_'))
				continue;
			if (out->nseg == SP_TPL_SEGS_MAX)
				return tpl_err(src, "too many segments");
			/* Two macros side by side cannot be told apart. */
			if (out->nseg > 0 && out->seg[out->nseg - 1].is_macro)
				return tpl_err(src, "two macros must be separated by literal text");
			out->seg[out->nseg].is_macro = true;
			out->seg[out->nseg].macro = macros[k].m;
			out->nseg++;
			out->has_identity |= macros[k].identity;
			i = start + nl + (paren ? 1 : 0);
			found = true;
			break;
		}
		if (!found)
			return tpl_err(src, "unknown macro (known: $MA $MAU $MAC $SN $PN $PSN, $$)");
	}
	return SP_OK;
}

static bool
shape_ok(sp_macro m, const char *p, size_t n)
{
	switch (m) {
	case SP_MACRO_MA:
	case SP_MACRO_MAU:
		if (n != 12)
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			bool dig = c >= '0' && c <= '9';
			bool lo = c >= 'a' && c <= 'f', up = c >= 'A' && c <= 'F';
			if (!(dig || (m == SP_MACRO_MA ? lo : up)))
				return false;
		}
		return true;
	case SP_MACRO_MAC:
		if (n != 17)
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			if (i % 3 == 2) {
				if (c != ':')
					return false;
			} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
				return false;
			}
		}
		return true;
	default:
		if (n == 0 || n > SP_MACRO_VALUE_MAX)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!is_field_char(p[i]))
				return false;
		return true;
	}
}

static size_t
shape_max(sp_macro m)
{
	return m == SP_MACRO_MA || m == SP_MACRO_MAU ? 12 : m == SP_MACRO_MAC ? 17 :
	    SP_MACRO_VALUE_MAX;
}

bool
sp_tpl_match(const sp_tpl *t, sp_slice path)
{
	/* reach[j]: the first i segments can consume exactly path[0..j). */
	bool reach[SP_REQ_PATH_MAX + 1], next[SP_REQ_PATH_MAX + 1];

	if (path.len > SP_REQ_PATH_MAX || t->nseg == 0)
		return false;
	memset(reach, 0, (path.len + 1) * sizeof(bool));
	reach[0] = true;
	for (size_t i = 0; i < t->nseg; i++) {
		const sp_tpl_seg *s = &t->seg[i];
		bool any = false;

		memset(next, 0, (path.len + 1) * sizeof(bool));
		for (size_t j = 0; j <= path.len; j++) {
			if (!reach[j])
				continue;
			if (!s->is_macro) {
				if (j + s->len <= path.len &&
				    memcmp(path.p + j, t->lit + s->off, s->len) == 0)
					next[j + s->len] = any = true;
				continue;
			}
			size_t max = shape_max(s->macro);
			if (s->macro == SP_MACRO_SN || s->macro == SP_MACRO_PN ||
			    s->macro == SP_MACRO_PSN) {
				/* Field shape: every prefix of a run of field bytes. */
				for (size_t n = 1; n <= max && j + n <= path.len; n++) {
					if (!is_field_char(path.p[j + n - 1]))
						break;
					next[j + n] = any = true;
				}
			} else if (j + max <= path.len && shape_ok(s->macro, path.p + j, max)) {
				next[j + max] = any = true;
			}
		}
		if (!any)
			return false;
		memcpy(reach, next, (path.len + 1) * sizeof(bool));
	}
	return reach[path.len];
}

void
sp_psn(const char *product, char out[SP_PSN_MAX + 1])
{
	size_t i = 0, n = strnlen(product, SP_PSN_MAX);

	while (i < n && ((product[i] >= 'A' && product[i] <= 'Z') ||
	    (product[i] >= 'a' && product[i] <= 'z')))
		i++;
	if (i < n && product[i] == '-')
		i++;
	if (i == n)
		i = 0; /* letters only: the product is its own series */
	memcpy(out, product + i, n - i);
	out[n - i] = '\0';
}

sp_result
sp_tpl_expand(const sp_tpl *t, const sp_devid *id, sp_buf *out)
{
	sp_result res = SP_OK;
	char v[SP_MAC_STRLEN + SP_DEVID_FIELD_MAX + 1];

	for (size_t i = 0; i < t->nseg; i++) {
		const sp_tpl_seg *s = &t->seg[i];
		if (!s->is_macro) {
			TRY(sp_buf_append(out, t->lit + s->off, s->len));
			continue;
		}
		switch (s->macro) {
		case SP_MACRO_MA:
			sp_mac_format(&id->mac, SP_MAC_MA, v);
			break;
		case SP_MACRO_MAU:
			sp_mac_format(&id->mac, SP_MAC_MAU, v);
			break;
		case SP_MACRO_MAC:
			sp_mac_format(&id->mac, SP_MAC_MAC, v);
			break;
		case SP_MACRO_SN:
			snprintf(v, sizeof(v), "%s", id->serial);
			break;
		case SP_MACRO_PN:
			snprintf(v, sizeof(v), "%s", id->product);
			break;
		case SP_MACRO_PSN:
			sp_psn(id->product, v);
			break;
		}
		/* An absent field never equals a path: the caller sees a mismatch. */
		ENSURE(v[0] != '\0', SP_E_NOTFOUND, "the certificate has no value for a path macro");
		TRY(sp_buf_append_str(out, v));
	}
out:
	return res;
}

sp_route_kind
sp_route(const sp_tpl *tpls, size_t n, sp_slice path, const sp_devid *id,
    size_t *which)
{
	sp_route_kind best = SP_ROUTE_NONE;
	sp_buf b;

	*which = 0;
	sp_buf_init(&b, SP_REQ_PATH_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!sp_tpl_match(&tpls[i], path))
			continue;
		if (!tpls[i].has_identity) {
			best = SP_ROUTE_SELF;
			*which = i;
			break;
		}
		sp_buf_reset(&b);
		if (sp_ok(sp_tpl_expand(&tpls[i], id, &b)) &&
		    sp_slice_eq(sp_slice_mk(b.p ? b.p : "", b.len), path)) {
			best = SP_ROUTE_SELF;
			*which = i;
			break;
		}
		if (best == SP_ROUTE_NONE) {
			best = SP_ROUTE_MISMATCH;
			*which = i;
		}
	}
	sp_buf_free(&b);
	return best;
}
