/*
 * PROXY protocol version 2 (HAProxy's `send-proxy-v2`), and the list of
 * sources allowed to send it (`proxy-from`).  See proxy.c.
 *
 * Both are pure: no I/O, no global state, so unit tests and
 * fuzz/fuzz_proxy.c link them directly.
 */
#ifndef SPROV_SERVER_PROXY_H
#define SPROV_SERVER_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_PROXY_SIG_LEN 12
#define SP_PROXY_FIXED_LEN 16      /* signature, ver/cmd, fam/proto, length */
#define SP_PROXY_HDR_MAX 512       /* 16 + 216 (AF_UNIX) + TLVs; above: refused */
#define SP_PROXY_ACL_MAX 64        /* entries of proxy-from */
#define SP_PROXY_ACL_TEXT_MAX 1024 /* the list as written */

typedef enum {
	SP_PROXY_MORE = 0, /* a valid prefix: read more, then parse again */
	SP_PROXY_REFUSED,  /* not a PROXY v2 header we accept: *why says what */
	SP_PROXY_OK,       /* a header of out->len bytes */
} sp_proxy_status;

typedef struct sp_proxy_hdr {
	/*
	 * SP_PROXY_OK: bytes of the header, TLVs included: consume exactly
	 * these.  SP_PROXY_MORE: bytes to have before parsing again (the
	 * fixed part, then the whole header), so a reader never takes a
	 * byte past the header from the socket.
	 */
	size_t len;
	bool local;     /* LOCAL (a health check): keep the connection's own addresses */
	/* PROXY over TCP: the client (src) and the address it connected to (dst). */
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len;
} sp_proxy_hdr;

/*
 * Parse the start of a connection.  SP_PROXY_MORE only while in is a
 * prefix of a header that can still be accepted (a wrong signature byte
 * refuses at once); *why is a static string when refused.
 */
sp_proxy_status sp_proxy_parse(sp_slice in, sp_proxy_hdr *out, const char **why);

/* proxy-from: IPv4 and IPv6 addresses and CIDR prefixes. */
typedef struct sp_proxy_net {
	uint8_t fam;       /* 4 or 6 */
	uint8_t prefix;    /* bits */
	uint8_t a[16];     /* network address, host bits zero */
} sp_proxy_net;

typedef struct sp_proxy_acl {
	size_t n;          /* 0: PROXY is accepted from nobody */
	sp_proxy_net net[SP_PROXY_ACL_MAX];
} sp_proxy_acl;

/*
 * "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8": comma- (and space-) separated.
 * "" is the empty list.  Host bits set under the prefix are refused (a
 * typo more often than an intent).  Messages name the entry.
 */
SP_MUST_CHECK sp_result sp_proxy_acl_parse(sp_slice text, sp_proxy_acl *out);

/* Is sa in the list?  An IPv4-mapped IPv6 address matches IPv4 entries. */
bool sp_proxy_acl_match(const sp_proxy_acl *acl, const struct sockaddr *sa, socklen_t len);

/* The address of sa without the port ("127.0.0.7", "2001:db8::1"), or "". */
void sp_proxy_addr_str(const struct sockaddr *sa, socklen_t len, char *buf, size_t n);

#endif
