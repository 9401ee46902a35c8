/*
 * One parsed URL, like h2o's h2o_url_t: a profile rule's URL is split here
 * once (after macro expansion), and the parts are passed on to the device's
 * fetch and the fleet; a redirect's Location goes through the same parser.
 * Nobody re-splits a URL string.
 *
 *   URL := [scheme://][host[:port]][/path][?query]
 *   scheme: tftp (the default), http, https, any case
 *   host:   [A-Za-z0-9._-]+, or an IPv6 literal in brackets (hex, ':', '.');
 *           user information (user@) is refused
 *   port:   1..65535; the scheme's default (69, 80, 443) when absent
 *
 * Pure code: no I/O, no global state.
 */
#ifndef SPROV_PROFILE_URL_H
#define SPROV_PROFILE_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_URL_MAX 2048                 /* a URL's text, as written or as built */
#define SP_URL_HOST_MAX 255
#define SP_URL_PATH_MAX (SP_URL_MAX + 1) /* "?q" becomes "/?q" */

typedef enum { SP_SCHEME_TFTP, SP_SCHEME_HTTP, SP_SCHEME_HTTPS } sp_scheme;
const char *sp_scheme_name(sp_scheme s);  /* "tftp", "http", "https" */

typedef struct sp_url {
	sp_scheme scheme;
	uint16_t port;                   /* explicit or the scheme's default */
	bool port_explicit;
	char host[SP_URL_HOST_MAX + 1];  /* "" when none; IPv6 without brackets */
	char path[SP_URL_PATH_MAX + 1];  /* from the first '/', query included */
} sp_url;

/*
 * Split text into *u.  SP_E_PARSE for a space or control byte, an unknown
 * scheme, user information, a bad host, IPv6 literal or port; SP_E_LIMIT
 * for text over SP_URL_MAX or a host over SP_URL_HOST_MAX.
 */
SP_MUST_CHECK sp_result sp_url_parse(sp_slice text, sp_url *u);

/*
 * The one "https only" rule of the device (and of the fleet, which runs the
 * device's code): a URL it fetches is https, because the server checks need
 * TLS (SP_E_POLICY), names a server (SP_E_PARSE) and fits SP_URL_MAX once
 * built (SP_E_LIMIT).  out (may be NULL): the URL as sent,
 * https://host:port/path, with the port always written.
 */
SP_MUST_CHECK sp_result sp_url_https(const sp_url *u, char out[SP_URL_MAX + 1]);

#endif
