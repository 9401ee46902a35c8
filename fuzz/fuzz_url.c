/*
 * One parsed URL (profile/url.h).  Input: the URL text, any bytes.
 * Invariants:
 *  - no crash; an error is PARSE or LIMIT and leaves *u zeroed;
 *  - a parsed URL: path starts with '/', host and path within their limits,
 *    a port of 1..65535 (the scheme's default unless explicit), a host of
 *    host characters or an IPv6 literal's;
 *  - round trip: a URL that sp_url_https accepts, built and parsed again,
 *    gives the same scheme, host, port and path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t
default_port(sp_scheme s)
{
	return s == SP_SCHEME_HTTPS ? 443 : s == SP_SCHEME_HTTP ? 80 : 69;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const sp_url zero;
	sp_url u, v;
	char out[SP_URL_MAX + 1];
	sp_result r = sp_url_parse(sp_slice_mk((const char *)data, size), &u);

	if (sp_failed(r)) {
		if ((r.code != SP_E_PARSE && r.code != SP_E_LIMIT) || memcmp(&u, &zero, sizeof(u)))
			abort();
		return 0;
	}
	if (size > SP_URL_MAX || u.path[0] != '/' || strlen(u.host) > SP_URL_HOST_MAX ||
	    strlen(u.path) > SP_URL_PATH_MAX || u.port == 0)
		abort();
	if (!u.port_explicit && u.port != default_port(u.scheme))
		abort();
	for (const char *p = u.host; *p; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:", *p) == NULL)
			abort();
	for (const char *p = u.path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			abort();
	r = sp_url_https(&u, out);
	if (sp_failed(r)) {
		if (r.code != SP_E_POLICY && r.code != SP_E_PARSE && r.code != SP_E_LIMIT)
			abort();
		if (out[0] != '\0' || (r.code == SP_E_POLICY) != (u.scheme != SP_SCHEME_HTTPS))
			abort();
		return 0;
	}
	if (sp_failed(sp_url_parse(sp_slice_of(out), &v)) || v.scheme != SP_SCHEME_HTTPS ||
	    strcmp(v.host, u.host) != 0 || v.port != u.port || strcmp(v.path, u.path) != 0 ||
	    !v.port_explicit)
		abort();
	return 0;
}
