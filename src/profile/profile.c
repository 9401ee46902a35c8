/*
 * Flat-profile XML: rendering and parsing (expat).  docs/PROFILE.md has
 * every rule and why.
 */
#include "profile/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "identity/cn.h"

#define FLAT_PROFILE "flat-profile"

/* ---- rendering ---- */

/* Length of the UTF-8 sequence at s[i] that XML 1.0 can carry, 0 if none. */
static size_t
utf8_char(sp_slice s, size_t i)
{
	const unsigned char *p = (const unsigned char *)s.p + i;
	size_t left = s.len - i, n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;  /* overlong or out of range */
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;  /* surrogates */
	if (cp == 0xfffe || cp == 0xffff)
		return 0;  /* not XML characters */
	return n;
}

sp_result
sp_profile_value_check(sp_slice name, sp_slice value)
{
	int nl = (int)(name.len > SP_PARAM_NAME_MAX ? SP_PARAM_NAME_MAX : name.len);

	for (size_t i = 0; i < value.len;) {
		unsigned char c = (unsigned char)value.p[i];
		if (c < 0x20 && c != '\t')
			return sp_error(SP_E_POLICY, "parameter %.*s: value contains control "
			    "byte 0x%02x at offset %zu; a flat profile cannot carry it "
			    "(newlines become spaces on the device)", nl, name.p, c, i);
		size_t n = utf8_char(value, i);
		if (n == 0)
			return sp_error(SP_E_POLICY, "parameter %.*s: value is not valid "
			    "UTF-8 (or holds a character XML 1.0 cannot carry) at offset %zu",
			    nl, name.p, i);
		i += n;
	}
	if (value.len && (value.p[0] == ' ' || value.p[0] == '\t' ||
	    value.p[value.len - 1] == ' ' || value.p[value.len - 1] == '\t'))
		return sp_error(SP_E_POLICY, "parameter %.*s: value has leading or trailing "
		    "whitespace, which a device trims", nl, name.p);
	return SP_OK;
}

static sp_result
escape(sp_buf *out, const char *p, size_t n)
{
	sp_result res = SP_OK;
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e;
		switch (p[i]) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '"': e = "&quot;"; break;
		case '\'': e = "&apos;"; break;
		default: run++; continue;
		}
		TRY(sp_buf_append(out, p + i - run, run));
		run = 0;
		TRY(sp_buf_append_str(out, e));
	}
	TRY(sp_buf_append(out, p + n - run, run));
out:
	return res;
}

sp_result
sp_profile_render(const sp_params *ps, sp_buf *out)
{
	sp_result res = SP_OK;

	sp_buf_mark_secret(out); /* passwords: wiped on grow and free */
	TRY(sp_buf_append_str(out, "<" FLAT_PROFILE ">\n"));
	for (size_t i = 0; i < ps->n; i++) {
		const sp_param *p = &ps->v[i];
		sp_slice name = sp_slice_of(p->name);
		TRY(sp_param_name_check(name));
		TRY(sp_profile_value_check(name, sp_slice_mk(p->value, p->value_len)));
		TRY(sp_buf_printf(out, "  <%s", p->name));
		if (p->access != SP_ACCESS_UNSET)
			TRY(sp_buf_printf(out, " ua=\"%s\"", sp_access_name(p->access)));
		TRY(sp_buf_append_byte(out, '>'));
		TRY(escape(out, p->value, p->value_len));
		TRY(sp_buf_printf(out, "</%s>\n", p->name));
	}
	TRY(sp_buf_append_str(out, "</" FLAT_PROFILE ">\n"));
out:
	return res;
}

/* ---- parsing ---- */

struct sp_profile_parser {
	XML_Parser xp;
	sp_params got;          /* collected, merged into the caller's on success */
	sp_result err;          /* first error raised from a handler */
	bool failed;
	bool seen_fp;           /* a <flat-profile> element was opened */
	size_t total;           /* bytes fed */
	unsigned depth;         /* current element depth */
	unsigned fp_depth;      /* depth of the open <flat-profile>, 0 if none */
	unsigned skip_depth;    /* depth of an ignored subtree, 0 if none */
	unsigned param_depth;   /* depth of the open parameter, 0 if none */
	char name[SP_PARAM_NAME_MAX + 1];
	sp_access access;
	sp_buf value;
};

static void
stop(sp_profile_parser *p, sp_result r)
{
	if (!p->failed) {
		p->failed = true;
		p->err = r;
	}
	XML_StopParser(p->xp, XML_FALSE);
}

static unsigned long
line_of(const sp_profile_parser *p)
{
	return (unsigned long)XML_GetCurrentLineNumber(p->xp);
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	sp_profile_parser *p = ud;
	sp_slice n = sp_slice_of(name);

	if (p->failed)
		return;
	if (++p->depth > SP_PROFILE_DEPTH_MAX) {
		stop(p, sp_error(SP_E_LIMIT, "profile: elements nested deeper than %d "
		    "(line %lu)", SP_PROFILE_DEPTH_MAX, line_of(p)));
		return;
	}
	if (p->param_depth) {
		stop(p, sp_error(SP_E_PARSE, "profile: parameter %s contains an element "
		    "<%.64s> (line %lu); values are text only", p->name, name, line_of(p)));
		return;
	}
	if (p->skip_depth)
		return;
	if (p->fp_depth == 0) {
		if (strcmp(name, FLAT_PROFILE) == 0) {
			p->fp_depth = p->depth;
			p->seen_fp = true;
		}
		return;
	}
	if (p->depth != p->fp_depth + 1)
		return;  /* unreachable: a child is a parameter or skipped */
	if (n.len > SP_PARAM_NAME_MAX || sp_failed(sp_param_name_check(n))) {
		/* Not a parameter name of this dialect: an unknown element. */
		sp_error_clear();
		p->skip_depth = p->depth;
		return;
	}
	memcpy(p->name, n.p, n.len + 1);
	p->access = SP_ACCESS_UNSET;
	for (size_t i = 0; atts[i] && atts[i + 1]; i += 2) {
		if (strcmp(atts[i], "ua") != 0)
			continue;
		sp_result r = sp_access_parse(sp_slice_of(atts[i + 1]), &p->access);
		if (sp_failed(r)) {
			stop(p, sp_error_wrap(r, "profile: parameter %s (line %lu)", p->name,
			    line_of(p)));
			return;
		}
	}
	sp_buf_reset(&p->value);
	p->param_depth = p->depth;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	sp_profile_parser *p = ud;
	sp_result r;

	(void)name;
	if (p->failed)
		return;
	if (p->param_depth && p->param_depth == p->depth) {
		p->param_depth = 0;
		/* <X/>: expat reports 0 bytes for its end event.  Leave X unchanged. */
		if (XML_GetCurrentByteCount(p->xp) == 0)
			goto done;
		/* Newlines become spaces, then trim. */
		for (size_t i = 0; i < p->value.len; i++)
			if (p->value.p[i] == '\n' || p->value.p[i] == '\r')
				p->value.p[i] = ' ';
		sp_slice v = sp_slice_mk(p->value.p ? p->value.p : "", p->value.len);
		while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) {
			v.p++;
			v.len--;
		}
		while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
			v.len--;
		r = sp_params_set(&p->got, sp_slice_of(p->name), v, p->access);
		if (sp_failed(r)) {
			stop(p, sp_error_wrap(r, "profile (line %lu)", line_of(p)));
			return;
		}
	}
done:
	if (p->skip_depth == p->depth)
		p->skip_depth = 0;
	if (p->fp_depth == p->depth)
		p->fp_depth = 0;
	p->depth--;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	sp_profile_parser *p = ud;

	if (p->failed || !p->param_depth || len <= 0)
		return;
	sp_result r = sp_buf_append(&p->value, s, (size_t)len);
	if (sp_failed(r))
		stop(p, sp_error(SP_E_LIMIT, "profile: parameter %s: value longer than %d "
		    "bytes (line %lu)", p->name, SP_PROFILE_RAW_VALUE_MAX, line_of(p)));
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	sp_profile_parser *p = ud;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	stop(p, sp_error(SP_E_PARSE, "profile: DOCTYPE and entity declarations are not "
	    "allowed (line %lu)", line_of(p)));
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
    int value_len, const XML_Char *base, const XML_Char *sysid,
    const XML_Char *pubid, const XML_Char *notation)
{
	sp_profile_parser *p = ud;

	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	stop(p, sp_error(SP_E_PARSE, "profile: entity declarations are not allowed "
	    "(line %lu)", line_of(p)));
}

sp_result
sp_profile_parser_new(sp_profile_parser **out)
{
	sp_result res = SP_OK;
	sp_profile_parser *p = NULL;

	*out = NULL;
	TRY_ALLOC(p, calloc(1, sizeof(*p)));
	sp_params_init(&p->got);
	sp_buf_init(&p->value, SP_PROFILE_RAW_VALUE_MAX);
	TRY_ALLOC(p->xp, XML_ParserCreate(NULL));
	XML_SetUserData(p->xp, p);
	XML_SetElementHandler(p->xp, on_start, on_end);
	XML_SetCharacterDataHandler(p->xp, on_text);
	XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
	XML_SetEntityDeclHandler(p->xp, on_entity);
	*out = p;
	p = NULL;
out:
	sp_profile_parser_free(p);
	return res;
}

void
sp_profile_parser_free(sp_profile_parser *p)
{
	if (p == NULL)
		return;
	if (p->xp)
		XML_ParserFree(p->xp);
	sp_params_free(&p->got);
	sp_buf_free_secret(&p->value);
	free(p);
}

static sp_result
feed(sp_profile_parser *p, sp_slice chunk, bool final)
{
	if (p->failed)
		return p->err;
	if (chunk.len > SP_PROFILE_MAX - p->total)
		return sp_error(SP_E_LIMIT, "profile larger than %u bytes", SP_PROFILE_MAX);
	p->total += chunk.len;
	if (XML_Parse(p->xp, chunk.len ? chunk.p : "", (int)chunk.len,
	    final ? XML_TRUE : XML_FALSE) != XML_STATUS_OK) {
		if (!p->failed) {
			p->failed = true;
			p->err = sp_error(SP_E_PARSE, "profile: malformed XML at line %lu, "
			    "column %lu: %s",
			    (unsigned long)XML_GetCurrentLineNumber(p->xp),
			    (unsigned long)XML_GetCurrentColumnNumber(p->xp) + 1,
			    XML_ErrorString(XML_GetErrorCode(p->xp)));
		}
		return p->err;
	}
	return SP_OK;
}

sp_result
sp_profile_parser_feed(sp_profile_parser *p, sp_slice chunk)
{
	return feed(p, chunk, false);
}

sp_result
sp_profile_parser_finish(sp_profile_parser *p, sp_params *out)
{
	sp_result res = SP_OK;

	TRY(feed(p, sp_slice_mk("", 0), true));
	ENSURE(p->seen_fp, SP_E_PARSE, "profile: no <" FLAT_PROFILE "> element");
	TRY(sp_params_merge(out, &p->got));
out:
	return res;
}

sp_result
sp_profile_parse(sp_slice xml, sp_params *out)
{
	sp_result res = SP_OK;
	sp_profile_parser *p = NULL;
	sp_params tmp;

	/* Merge through a copy so `out` is all-or-nothing even if merge fails. */
	sp_params_init(&tmp);
	ENSURE(xml.len <= SP_PROFILE_MAX, SP_E_LIMIT, "profile larger than %u bytes",
	    SP_PROFILE_MAX);
	TRY(sp_profile_parser_new(&p));
	TRY(sp_profile_parser_feed(p, xml));
	TRY(sp_params_copy(&tmp, out));
	TRY(sp_profile_parser_finish(p, &tmp));
	sp_params_free(out);
	*out = tmp;
	sp_params_init(&tmp);
out:
	sp_params_free(&tmp);
	sp_profile_parser_free(p);
	return res;
}
