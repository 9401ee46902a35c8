/*
 * PROXY protocol v2 (server/proxy.c).  Invariants: a header is never longer
 * than the input nor SP_PROXY_HDR_MAX; every prefix of an accepted header
 * asks for more; PROXY (not LOCAL) yields an IPv4 or IPv6 source; the first
 * bytes of input also parse as a proxy-from list without crashing.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_proxy_hdr h, h2;
	sp_proxy_acl acl;
	const char *why;
	char s[64];

	switch (sp_proxy_parse(in, &h, &why)) {
	case SP_PROXY_MORE:
		if (size >= SP_PROXY_HDR_MAX)
			abort();
		break;
	case SP_PROXY_REFUSED:
		if (why == NULL || why[0] == '\0')
			abort();
		break;
	case SP_PROXY_OK:
		if (h.len > size || h.len > SP_PROXY_HDR_MAX || h.len < SP_PROXY_FIXED_LEN)
			abort();
		if (!h.local && h.src.ss_family != AF_INET && h.src.ss_family != AF_INET6)
			abort();
		if (sp_proxy_parse(sp_slice_mk(in.p, h.len - 1), &h2, &why) != SP_PROXY_MORE)
			abort();
		if (!h.local) {
			sp_proxy_addr_str((const struct sockaddr *)&h.src, h.src_len, s, sizeof(s));
			if (s[0] == '\0')
				abort();
		}
		break;
	}
	if (sp_ok(sp_proxy_acl_parse(in, &acl)) && acl.n > SP_PROXY_ACL_MAX)
		abort();
	return 0;
}
