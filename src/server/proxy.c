/*
 * PROXY protocol v2 and proxy-from (server/proxy.h).
 *
 * The header (haproxy doc/proxy-protocol.txt, section 2.2):
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version (high nibble, 2) and command (low: 0 LOCAL, 1 PROXY)
 *    1 byte   family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
 *             transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
 *    2 bytes  length of what follows, network order
 *   then the addresses (INET 12 bytes, INET6 36, UNIX 216) and TLVs
 *   (type, 2-byte length, value) up to that length.
 *
 * Only version 2, binary.  PROXY is accepted for TCP over IPv4 or IPv6;
 * LOCAL (what HAProxy sends on a health check) with any family, its
 * addresses ignored.  The TLVs are walked with bounds checks and skipped:
 * a TLV running past the header refuses it.  A header longer than
 * SP_PROXY_HDR_MAX is refused before it is all read, so a peer cannot make
 * us hold 64 KiB per connection.
 */
#include "server/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"

static const uint8_t sig[SP_PROXY_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define FAM_UNSPEC 0x0
#define FAM_INET 0x1
#define FAM_INET6 0x2
#define FAM_UNIX 0x3
#define PROTO_STREAM 0x1
#define CMD_LOCAL 0x0
#define CMD_PROXY 0x1

static sp_proxy_status
refuse(const char **why, const char *reason)
{
	*why = reason;
	return SP_PROXY_REFUSED;
}

/* An address (4 or 16 bytes at a) and a port (2 at p, both network order). */
static void
set_addr(struct sockaddr_storage *ss, socklen_t *len, const uint8_t *a, size_t alen,
    const uint8_t *p)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (alen == 4) {
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
		memcpy(&in->sin_port, p, 2);
		*len = sizeof(*in);
	} else {
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a, 16);
		memcpy(&in6->sin6_port, p, 2);
		*len = sizeof(*in6);
	}
}

sp_proxy_status
sp_proxy_parse(sp_slice in, sp_proxy_hdr *out, const char **why)
{
	const uint8_t *b = (const uint8_t *)in.p;
	size_t n = in.len, total, addr_len, off;
	int cmd, fam, proto;

	memset(out, 0, sizeof(*out));
	*why = "";
	/* Every byte that has arrived must be right: refuse at the first wrong one. */
	if (n > 0 && memcmp(b, sig, n < SP_PROXY_SIG_LEN ? n : SP_PROXY_SIG_LEN) != 0)
		return refuse(why, "no PROXY v2 signature");
	out->len = SP_PROXY_FIXED_LEN;  /* SP_PROXY_MORE: what to have first */
	if (n < SP_PROXY_SIG_LEN + 1)
		return SP_PROXY_MORE;
	if ((b[12] >> 4) != 2)
		return refuse(why, "PROXY protocol version is not 2");
	cmd = b[12] & 0x0f;
	if (cmd != CMD_LOCAL && cmd != CMD_PROXY)
		return refuse(why, "unknown PROXY v2 command");
	if (n < SP_PROXY_SIG_LEN + 2)
		return SP_PROXY_MORE;
	fam = b[13] >> 4;
	proto = b[13] & 0x0f;
	if (cmd == CMD_PROXY && !(fam == FAM_INET || fam == FAM_INET6))
		return refuse(why, "PROXY v2 address family is not IPv4 or IPv6");
	if (cmd == CMD_PROXY && proto != PROTO_STREAM)
		return refuse(why, "PROXY v2 transport is not TCP");
	if (fam > FAM_UNIX || proto > 2)
		return refuse(why, "unknown PROXY v2 address family or transport");
	if (n < SP_PROXY_FIXED_LEN)
		return SP_PROXY_MORE;
	total = SP_PROXY_FIXED_LEN + ((size_t)b[14] << 8 | b[15]);
	if (total > SP_PROXY_HDR_MAX)
		return refuse(why, "PROXY v2 header longer than 512 bytes");
	addr_len = fam == FAM_INET ? 12 : fam == FAM_INET6 ? 36 : fam == FAM_UNIX ? 216 : 0;
	if (total < SP_PROXY_FIXED_LEN + addr_len)
		return refuse(why, "PROXY v2 length shorter than its addresses");
	out->len = total;
	if (n < total)
		return SP_PROXY_MORE;
	/* TLVs: type, length (2 bytes), value; each must end inside the header. */
	for (off = SP_PROXY_FIXED_LEN + addr_len; off < total;) {
		size_t vlen;

		if (total - off < 3)
			return refuse(why, "PROXY v2 TLV truncated");
		vlen = (size_t)b[off + 1] << 8 | b[off + 2];
		if (vlen > total - off - 3)
			return refuse(why, "PROXY v2 TLV runs past the header");
		off += 3 + vlen;
	}
	out->local = cmd == CMD_LOCAL;
	if (out->local)
		return SP_PROXY_OK;
	if (fam == FAM_INET) {
		set_addr(&out->src, &out->src_len, b + 16, 4, b + 24);
		set_addr(&out->dst, &out->dst_len, b + 20, 4, b + 26);
	} else {
		set_addr(&out->src, &out->src_len, b + 16, 16, b + 48);
		set_addr(&out->dst, &out->dst_len, b + 32, 16, b + 50);
	}
	return SP_PROXY_OK;
}

/* ---- proxy-from --------------------------------------------------------- */

static sp_result
net_parse(sp_slice e, sp_proxy_net *net)
{
	sp_result res = SP_OK;
	char addr[INET6_ADDRSTRLEN + 1], q[96];
	size_t slash = sp_slice_find(e, '/');
	int64_t prefix = -1;
	int bits;

	memset(net, 0, sizeof(*net));
	sp_quote(e, q, sizeof(q));
	ENSURE(slash > 0 && slash < sizeof(addr), SP_E_PARSE,
	    "proxy-from: '%s' is not an IP address or CIDR prefix", q);
	memcpy(addr, e.p, slash);
	addr[slash] = '\0';
	if (inet_pton(AF_INET, addr, net->a) == 1)
		net->fam = 4;
	else if (inet_pton(AF_INET6, addr, net->a) == 1)
		net->fam = 6;
	ENSURE(net->fam != 0, SP_E_PARSE,
	    "proxy-from: '%s' is not an IP address or CIDR prefix", q);
	bits = net->fam == 4 ? 32 : 128;
	if (slash < e.len) {
		sp_slice p = sp_slice_mk(e.p + slash + 1, e.len - slash - 1);
		ENSURE(sp_ok(sp_parse_i64_slice(p, 0, bits, "prefix", &prefix)), SP_E_PARSE,
		    "proxy-from: '%s': the prefix length is not 0 to %d", q, bits);
	}
	net->prefix = (uint8_t)(prefix < 0 ? bits : prefix);
	for (int i = net->prefix; i < bits; i++)
		ENSURE(!(net->a[i / 8] & (0x80 >> (i % 8))), SP_E_PARSE,
		    "proxy-from: '%s' has host bits set under its /%d", q, net->prefix);
out:
	return res;
}

sp_result
sp_proxy_acl_parse(sp_slice text, sp_proxy_acl *out)
{
	sp_result res = SP_OK;
	sp_proxy_acl acl;
	size_t i = 0;

	memset(&acl, 0, sizeof(acl));
	ENSURE(text.len <= SP_PROXY_ACL_TEXT_MAX, SP_E_LIMIT,
	    "proxy-from: longer than %d bytes", SP_PROXY_ACL_TEXT_MAX);
	while (i < text.len) {
		size_t j = i;
		sp_slice e;

		while (j < text.len && text.p[j] != ',' && text.p[j] != ' ' && text.p[j] != '\t')
			j++;
		e = sp_slice_mk(text.p + i, j - i);
		if (e.len > 0) {
			ENSURE(acl.n < SP_PROXY_ACL_MAX, SP_E_LIMIT,
			    "proxy-from: more than %d entries", SP_PROXY_ACL_MAX);
			TRY(net_parse(e, &acl.net[acl.n]));
			acl.n++;
		}
		i = j + 1;
	}
	*out = acl;
out:
	return res;
}

static bool
net_has(const sp_proxy_net *net, uint8_t fam, const uint8_t *a)
{
	int whole = net->prefix / 8, rest = net->prefix % 8;

	if (net->fam != fam || memcmp(net->a, a, (size_t)whole) != 0)
		return false;
	return rest == 0 || ((net->a[whole] ^ a[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

bool
sp_proxy_acl_match(const sp_proxy_acl *acl, const struct sockaddr *sa, socklen_t len)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;
	uint8_t fam;

	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		fam = 4;
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		fam = 6;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			a += 12;
			fam = 4;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < acl->n; i++)
		if (net_has(&acl->net[i], fam, a))
			return true;
	return false;
}

void
sp_proxy_addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t n)
{
	const void *a = NULL;

	if (n == 0)
		return;
	buf[0] = '\0';
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)n) == NULL)
		buf[0] = '\0';
}
