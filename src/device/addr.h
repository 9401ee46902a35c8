/*
 * IP addresses as the server checks compare them: a family and the raw
 * bytes, with IPv4-mapped IPv6 (::ffff:a.b.c.d) always folded to IPv4 so
 * that a peer seen through a dual-stack socket compares equal to its A
 * record.  Pure code.
 */
#ifndef SPROV_DEVICE_ADDR_H
#define SPROV_DEVICE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct sockaddr;

#define SP_ADDRSTR_MAX 46        /* INET6_ADDRSTRLEN */
#define SP_DNS_ANSWERS_MAX 16    /* A + AAAA answers kept per name */

typedef struct sp_ipaddr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t a[16];    /* 4 or 16 bytes used */
} sp_ipaddr;

typedef struct sp_addrlist {
	sp_ipaddr v[SP_DNS_ANSWERS_MAX];
	size_t n;
} sp_addrlist;

/* An IP literal, IPv6 optionally in brackets; false if s is not one. */
bool sp_ipaddr_parse(sp_slice s, sp_ipaddr *out);
bool sp_ipaddr_from_sockaddr(const struct sockaddr *sa, sp_ipaddr *out);
void sp_ipaddr_format(const sp_ipaddr *ip, char out[SP_ADDRSTR_MAX]);
bool sp_ipaddr_eq(const sp_ipaddr *x, const sp_ipaddr *y);
/* Adds ip unless already present; silently stops at SP_DNS_ANSWERS_MAX. */
void sp_addrlist_add(sp_addrlist *l, const sp_ipaddr *ip);
bool sp_addrlist_has(const sp_addrlist *l, const sp_ipaddr *ip);

#endif
