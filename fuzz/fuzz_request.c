/*
 * The server's request path without the network: identity from subject
 * attributes (sp_devid_from_attrs), path templates and routing
 * (src/server/template.c), User-Agent parsing (sp_ua_parse).
 *
 * Input: [mode byte] then '\n'-separated lines: template lines up to an
 * empty line, the request path, the User-Agent, and the rest as subject
 * attribute records [type byte][len byte][value].
 *
 * Invariants: a template expanded with an accepted identity matches its own
 * template and routes to SELF; a path routed to SELF through an identity
 * template is byte-for-byte that template's expansion (no other device's
 * path is ever served); UA slices lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/devid.h"
#include "server/template.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
next_line(const char **p, const char *end, sp_slice *out)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL)
		nl = end;
	*out = sp_slice_mk(*p, (size_t)(nl - *p));
	*p = nl < end ? nl + 1 : end;
	return true;
}

static bool
inside(sp_slice s, const char *lo, const char *hi)
{
	return s.len == 0 || (s.p >= lo && s.p + s.len <= hi);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	static sp_tpl tpls[4];
	size_t ntpl = 0, which;
	sp_slice line, path = { "", 0 }, ua = { "", 0 };
	sp_name_attr attrs[16];
	size_t n = 0;
	sp_devid id;
	sp_ua u;
	sp_buf b;
	sp_idstyle mode;

	if (size < 1)
		return 0;
	mode = (sp_idstyle)(data[0] % 3);
	p++;
	while (next_line(&p, end, &line) && line.len > 0)
		if (ntpl < 4 && sp_ok(sp_tpl_parse(line, &tpls[ntpl])))
			ntpl++;
	next_line(&p, end, &path);
	next_line(&p, end, &ua);
	while (p + 2 <= end && n < 16) {
		size_t len = (uint8_t)p[1];
		if (p + 2 + len > end)
			len = (size_t)(end - p - 2);
		attrs[n].type = (sp_attr_type)((uint8_t)p[0] % 7);
		attrs[n].value = sp_slice_mk(p + 2, len);
		n++;
		p += 2 + len;
	}

	if (sp_ok(sp_ua_parse(ua, &u))) {
		const char *lo = ua.p, *hi = ua.p + ua.len;
		if (!inside(u.vendor, lo, hi) || !inside(u.product, lo, hi) ||
		    !inside(u.swver, lo, hi) || !inside(u.mac, lo, hi) ||
		    !inside(u.serial, lo, hi))
			abort();
	}
	if (sp_failed(sp_devid_from_attrs(attrs, n, mode, &id)))
		return 0;

	sp_buf_init(&b, SP_REQ_PATH_MAX);
	for (size_t i = 0; i < ntpl; i++) {
		sp_buf_reset(&b);
		if (sp_failed(sp_tpl_expand(&tpls[i], &id, &b)))
			continue;
		sp_slice own = sp_slice_mk(b.p ? b.p : "", b.len);
		if (!sp_tpl_match(&tpls[i], own))
			abort();
		if (sp_route(tpls, ntpl, own, &id, &which) != SP_ROUTE_SELF)
			abort();
	}
	if (sp_route(tpls, ntpl, path, &id, &which) == SP_ROUTE_SELF &&
	    tpls[which].has_identity) {
		sp_buf_reset(&b);
		if (sp_failed(sp_tpl_expand(&tpls[which], &id, &b)) ||
		    !sp_slice_eq(sp_slice_mk(b.p ? b.p : "", b.len), path))
			abort();
	}
	sp_buf_free(&b);
	return 0;
}
