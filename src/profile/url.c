#include "profile/url.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"

const char *
sp_scheme_name(sp_scheme s)
{
	switch (s) {
	case SP_SCHEME_HTTP: return "http";
	case SP_SCHEME_HTTPS: return "https";
	default: return "tftp";
	}
}

static bool
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool
v6_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == ':' || c == '.';
}

/* The authority (host[:port]) into u; auth is not empty. */
static sp_result
parse_authority(sp_slice auth, sp_url *u)
{
	sp_result res = SP_OK;
	sp_slice host, port = { "", 0 };
	bool has_port = false;
	char q[80];
	size_t i;

	if (sp_slice_find(auth, '@') < auth.len) {
		sp_quote(auth, q, sizeof(q));
		ENSURE(0, SP_E_PARSE, "URL '%s': user information (user@) is refused", q);
	}
	if (auth.p[0] == '[') {
		size_t e = sp_slice_find(auth, ']');
		ENSURE(e < auth.len, SP_E_PARSE, "URL: unterminated '[' in the host");
		host = sp_slice_mk(auth.p + 1, e - 1);
		for (i = 0; i < host.len; i++)
			ENSURE(v6_char(host.p[i]), SP_E_PARSE, "URL: bad IPv6 literal");
		ENSURE(host.len > 0, SP_E_PARSE, "URL: empty IPv6 literal");
		if (e + 1 < auth.len) {
			ENSURE(auth.p[e + 1] == ':', SP_E_PARSE, "URL: unexpected text after ']'");
			port = sp_slice_mk(auth.p + e + 2, auth.len - e - 2);
			has_port = true;
		}
	} else {
		size_t colon = sp_slice_find(auth, ':');
		host = sp_slice_mk(auth.p, colon);
		if (colon < auth.len) {
			port = sp_slice_mk(auth.p + colon + 1, auth.len - colon - 1);
			has_port = true;
		}
		for (i = 0; i < host.len; i++) {
			if (!host_char(host.p[i])) {
				sp_quote(host, q, sizeof(q));
				ENSURE(0, SP_E_PARSE, "URL host '%s' is not a host name or address", q);
			}
		}
	}
	ENSURE(host.len <= SP_URL_HOST_MAX, SP_E_LIMIT, "URL host longer than %d bytes",
	    SP_URL_HOST_MAX);
	if (has_port) {
		/* Digits only, no sign: sp_parse_i64 would take "+1". */
		int64_t pv = 0;
		bool ok = port.len > 0 && port.len <= 5;
		for (i = 0; ok && i < port.len; i++) {
			ok = port.p[i] >= '0' && port.p[i] <= '9';
			pv = pv * 10 + (port.p[i] - '0');
		}
		sp_quote(port, q, 16);
		ENSURE(ok && pv >= 1 && pv <= 65535, SP_E_PARSE, "URL port '%s' is not 1..65535", q);
		u->port = (uint16_t)pv;
		u->port_explicit = true;
	}
	memcpy(u->host, host.p, host.len);
	u->host[host.len] = '\0';
out:
	return res;
}

sp_result
sp_url_parse(sp_slice text, sp_url *u)
{
	sp_result res = SP_OK;
	sp_slice s = text, rest;
	char q[80];
	size_t i;

	memset(u, 0, sizeof(*u));
	u->scheme = SP_SCHEME_TFTP;
	ENSURE(s.len <= SP_URL_MAX, SP_E_LIMIT, "URL longer than %d bytes", SP_URL_MAX);
	for (i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch <= 0x20 || ch == 0x7f) {
			sp_quote(s, q, sizeof(q));
			ENSURE(0, SP_E_PARSE, "URL '%s' contains a space or control byte", q);
		}
	}
	for (i = 0; i + 2 < s.len; i++)
		if (s.p[i] == ':' && s.p[i + 1] == '/' && s.p[i + 2] == '/')
			break;
	if (i + 2 < s.len && sp_slice_find(sp_slice_mk(s.p, i), '/') == i) {
		sp_slice name = sp_slice_mk(s.p, i);
		if (sp_slice_eq_nocase(name, SP_SLICE_LIT("tftp")))
			u->scheme = SP_SCHEME_TFTP;
		else if (sp_slice_eq_nocase(name, SP_SLICE_LIT("http")))
			u->scheme = SP_SCHEME_HTTP;
		else if (sp_slice_eq_nocase(name, SP_SLICE_LIT("https")))
			u->scheme = SP_SCHEME_HTTPS;
		else {
			sp_quote(name, q, sizeof(q));
			ENSURE(0, SP_E_PARSE, "URL scheme '%s' is not tftp, http or https", q);
		}
		s = sp_slice_mk(s.p + i + 3, s.len - i - 3);
	}
	u->port = u->scheme == SP_SCHEME_HTTPS ? 443 : u->scheme == SP_SCHEME_HTTP ? 80 : 69;
	for (i = 0; i < s.len && s.p[i] != '/' && s.p[i] != '?'; i++)
		;
	rest = sp_slice_mk(s.p + i, s.len - i);
	if (i > 0)
		TRY(parse_authority(sp_slice_mk(s.p, i), u));
	/* Fits: rest.len <= SP_URL_MAX, plus the '/' a bare query gets. */
	i = 0;
	if (rest.len == 0 || rest.p[0] == '?')
		u->path[i++] = '/';
	memcpy(u->path + i, rest.p, rest.len);
	u->path[i + rest.len] = '\0';
out:
	if (sp_failed(res))
		memset(u, 0, sizeof(*u));
	return res;
}

sp_result
sp_url_https(const sp_url *u, char out[SP_URL_MAX + 1])
{
	sp_result res = SP_OK;
	bool v6 = strchr(u->host, ':') != NULL;
	char tmp[SP_URL_MAX + 1];

	ENSURE(u->scheme == SP_SCHEME_HTTPS, SP_E_POLICY,
	    "scheme %s refused: the device fetches profiles over https only (the server checks need TLS)",
	    sp_scheme_name(u->scheme));
	ENSURE(u->host[0] != '\0', SP_E_PARSE, "the URL 'https://%.200s' names no server",
	    u->path);
	ENSURE((size_t)snprintf(out ? out : tmp, SP_URL_MAX + 1, "https://%s%s%s:%u%s",
	    v6 ? "[" : "", u->host, v6 ? "]" : "", (unsigned)u->port, u->path) <= SP_URL_MAX,
	    SP_E_LIMIT, "URL longer than %d bytes", SP_URL_MAX);
out:
	if (sp_failed(res) && out != NULL)
		out[0] = '\0';
	return res;
}
