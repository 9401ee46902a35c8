#include "identity/mac.h"

#include <stdio.h>

#include "common/text.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

sp_result
sp_mac_parse(sp_slice s, sp_mac *out)
{
	char q[64];
	size_t step;

	if (s.len == 12)
		step = 2;
	else if (s.len == 17)
		step = 3;
	else
		goto bad;
	for (size_t i = 0; i < 6; i++) {
		int hi = hexval(s.p[i * step]), lo = hexval(s.p[i * step + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		if (step == 3 && i < 5 && s.p[i * step + 2] != ':')
			goto bad;
		out->b[i] = (uint8_t)(hi << 4 | lo);
	}
	return SP_OK;
bad:
	sp_quote(s, q, sizeof(q));
	return sp_error(SP_E_PARSE,
	    "'%s' is not a MAC address (expected 000e08aabbcc or 00:0e:08:aa:bb:cc)", q);
}

void
sp_mac_format(const sp_mac *m, sp_mac_style style, char out[SP_MAC_STRLEN])
{
	const uint8_t *b = m->b;

	switch (style) {
	case SP_MAC_MAU:
		snprintf(out, SP_MAC_STRLEN, "%02X%02X%02X%02X%02X%02X",
		    b[0], b[1], b[2], b[3], b[4], b[5]);
		break;
	case SP_MAC_MAC:
		snprintf(out, SP_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		    b[0], b[1], b[2], b[3], b[4], b[5]);
		break;
	case SP_MAC_MA:
	default:
		snprintf(out, SP_MAC_STRLEN, "%02x%02x%02x%02x%02x%02x",
		    b[0], b[1], b[2], b[3], b[4], b[5]);
		break;
	}
}

bool
sp_mac_eq(const sp_mac *a, const sp_mac *b)
{
	return memcmp(a->b, b->b, 6) == 0;
}
