/*
 * User-Agent of a resync request (digest, "Device identity"):
 *
 *   Vendor/PN-SWVER (SN)            Linksys/SPA-2102-2.0.5 (88012BA01234)
 *   Vendor/PN-SWVER (MAC)(SN)       Cisco/SPA504G-7.6.2 (000e08aabbcc)(88012BA01234)
 *
 * PN may itself contain '-' (SPA-2102), so PN and SWVER split at the LAST
 * '-' that is followed by a digit.  SWVER may carry a build in parentheses
 * (2.0.3(0412s)); it ends at the first space.  Spaces between the groups
 * are tolerated, nothing may follow the last group.  Pure: no I/O, no
 * allocation, the result points into the input.
 */
#include "store/store.h"

#include "common/text.h"
#include "common/util.h"

#define UA_TOKEN_MAX 64

static bool
is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [A-Za-z0-9._-]{1,UA_TOKEN_MAX} */
static bool
token_ok(sp_slice t)
{
	if (t.len == 0 || t.len > UA_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < t.len; i++)
		if (!is_alnum(t.p[i]) && t.p[i] != '.' && t.p[i] != '_' &&
		    t.p[i] != '-')
			return false;
	return true;
}

/* Printable, no space, no '/'; parentheses allowed (2.0.3(0412s)). */
static bool
swver_ok(sp_slice t)
{
	if (t.len == 0 || t.len > UA_TOKEN_MAX || !is_digit(t.p[0]))
		return false;
	for (size_t i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.p[i];
		if (c <= 0x20 || c >= 0x7f || c == '/')
			return false;
	}
	return true;
}

static sp_result
bad(sp_slice ua, const char *why)
{
	char q[96];

	sp_quote(ua, q, sizeof(q));
	return sp_error(SP_E_PARSE, "User-Agent '%s' is not Vendor/PN-SWVER (SN): %s",
	    q, why);
}

sp_result
sp_ua_parse(sp_slice ua, sp_ua *out)
{
	sp_slice groups[3];
	size_t ng = 0, i, slash, sp, dash;
	sp_slice pnver;
	sp_mac mac;

	*out = (sp_ua){ { NULL, 0 }, { NULL, 0 }, { NULL, 0 }, { NULL, 0 },
		{ NULL, 0 } };
	if (ua.len > SP_UA_MAX)
		return sp_error(SP_E_LIMIT, "User-Agent longer than %d bytes",
		    SP_UA_MAX);
	if (ua.len == 0 || ua.p == NULL)
		return sp_error(SP_E_PARSE, "empty User-Agent");
	if (sp_has_ctl(ua))
		return bad(ua, "control character");

	slash = sp_slice_find(ua, '/');
	if (slash == ua.len)
		return bad(ua, "no '/'");
	out->vendor = sp_slice_mk(ua.p, slash);
	if (!token_ok(out->vendor))
		return bad(ua, "bad vendor");

	i = slash + 1;
	sp = i;
	while (sp < ua.len && ua.p[sp] != ' ')
		sp++;
	pnver = sp_slice_mk(ua.p + i, sp - i);
	dash = pnver.len;
	for (size_t k = pnver.len; k-- > 0;) {
		if (pnver.p[k] == '-' && k + 1 < pnver.len &&
		    is_digit(pnver.p[k + 1])) {
			dash = k;
			break;
		}
	}
	if (dash == pnver.len)
		return bad(ua, "no -SWVER");
	out->product = sp_slice_mk(pnver.p, dash);
	out->swver = sp_slice_mk(pnver.p + dash + 1, pnver.len - dash - 1);
	if (!token_ok(out->product))
		return bad(ua, "bad product");
	if (!swver_ok(out->swver))
		return bad(ua, "bad software version");

	/* " (A)(B)": parenthesised groups, spaces tolerated between them. */
	i = sp;
	for (;;) {
		size_t start;

		while (i < ua.len && ua.p[i] == ' ')
			i++;
		if (i == ua.len)
			break;
		if (ua.p[i] != '(')
			return bad(ua, "junk after the version");
		if (ng == SP_ARRAY_LEN(groups) - 1)
			return bad(ua, "too many groups");
		start = ++i;
		while (i < ua.len && ua.p[i] != ')')
			i++;
		if (i == ua.len)
			return bad(ua, "unterminated '('");
		groups[ng++] = sp_slice_mk(ua.p + start, i - start);
		i++;
	}
	if (i == sp || ng == 0)
		return bad(ua, "no (SN)");
	if (ng == 2) {
		if (sp_failed(sp_mac_parse(groups[0], &mac)))
			return bad(ua, "first group is not a MAC");
		out->mac = groups[0];
	}
	out->serial = groups[ng - 1];
	if (!token_ok(out->serial))
		return bad(ua, "bad serial number");
	return SP_OK;
}
