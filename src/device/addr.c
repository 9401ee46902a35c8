#include "device/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static void
normalise(sp_ipaddr *ip)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ip->family == AF_INET6 && memcmp(ip->a, mapped, sizeof(mapped)) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->family = AF_INET;
	}
}

bool
sp_ipaddr_parse(sp_slice s, sp_ipaddr *out)
{
	char tmp[SP_ADDRSTR_MAX + 2];

	if (s.len >= 2 && s.p[0] == '[' && s.p[s.len - 1] == ']')
		s = sp_slice_mk(s.p + 1, s.len - 2);
	if (s.len == 0 || s.len >= sizeof(tmp) || memchr(s.p, '\0', s.len))
		return false;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->a) == 1) {
		out->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, out->a) == 1) {
		out->family = AF_INET6;
		normalise(out);
		return true;
	}
	return false;
}

bool
sp_ipaddr_from_sockaddr(const struct sockaddr *sa, sp_ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		out->family = AF_INET;
		memcpy(out->a, &in->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		out->family = AF_INET6;
		memcpy(out->a, &in6->sin6_addr, 16);
		normalise(out);
		return true;
	}
	return false;
}

void
sp_ipaddr_format(const sp_ipaddr *ip, char out[SP_ADDRSTR_MAX])
{
	if (inet_ntop(ip->family, ip->a, out, SP_ADDRSTR_MAX) == NULL)
		strcpy(out, "?");
}

bool
sp_ipaddr_eq(const sp_ipaddr *x, const sp_ipaddr *y)
{
	return x->family == y->family &&
	    memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

void
sp_addrlist_add(sp_addrlist *l, const sp_ipaddr *ip)
{
	if (sp_addrlist_has(l, ip) || l->n >= SP_DNS_ANSWERS_MAX)
		return;
	l->v[l->n++] = *ip;
}

bool
sp_addrlist_has(const sp_addrlist *l, const sp_ipaddr *ip)
{
	for (size_t i = 0; i < l->n; i++)
		if (sp_ipaddr_eq(&l->v[i], ip))
			return true;
	return false;
}
