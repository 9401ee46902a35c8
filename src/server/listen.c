/*
 * Listening sockets of `sprov serve` (srv.h): HOST:PORT parsing with host
 * names resolved once at start-up, [V6]:PORT, and the check that no other
 * server already listens on the address.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/text.h"
#include "common/util.h"
#include "server/srv.h"

#define SRV_LISTEN_BACKLOG 1024
#define SRV_HOST_MAX 256

sp_result
srv_addr_resolve(const char *what, const char *addr, struct sockaddr_storage *ss,
    socklen_t *len)
{
	sp_result res = SP_OK;
	char host[SRV_HOST_MAX], q[SRV_HOST_MAX * 4];
	const char *colon, *port, *h = addr;
	size_t hlen;
	int64_t p;
	struct addrinfo hints, *ai = NULL;
	int rc;

	sp_quote(sp_slice_of(addr), q, sizeof(q));
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		ENSURE(end != NULL, SP_E_USAGE, "%s address '%s': '[' without ']' (write "
		    "[::1]:PORT)", what, q);
		h = addr + 1;
		hlen = (size_t)(end - h);
		ENSURE(end[1] == ':' && end[2] != '\0', SP_E_USAGE, "%s address '%s': missing "
		    ":PORT after ']'", what, q);
		port = end + 2;
	} else {
		colon = strrchr(addr, ':');
		ENSURE(colon != NULL && colon[1] != '\0', SP_E_USAGE,
		    "%s address '%s': missing :PORT (write HOST:PORT)", what, q);
		ENSURE(memchr(addr, ':', (size_t)(colon - addr)) == NULL, SP_E_USAGE,
		    "%s address '%s': an IPv6 address goes in brackets ([::1]:PORT)", what, q);
		hlen = (size_t)(colon - addr);
		port = colon + 1;
	}
	ENSURE(hlen > 0, SP_E_USAGE, "%s address '%s': missing host before :PORT", what, q);
	ENSURE(hlen < sizeof(host), SP_E_LIMIT, "%s address '%s': host longer than %d bytes",
	    what, q, SRV_HOST_MAX - 1);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (sp_failed(sp_parse_i64(port, 1, 65535, "port", &p))) {
		char qp[64];
		sp_quote(sp_slice_of(port), qp, sizeof(qp));
		res = sp_error(SP_E_USAGE, "%s address '%s': port '%s' is not a number from 1 "
		    "to 65535", what, q, qp);
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV; /* loopback-only hosts: no ADDRCONFIG */
		rc = getaddrinfo(host, port, &hints, &ai);
	}
	ENSURE(rc == 0 && ai != NULL, SP_E_USAGE, "%s address '%s': unknown host '%s' (%s)",
	    what, q, host, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	ENSURE(ai->ai_addrlen <= sizeof(*ss), SP_E_INTERNAL, "address too long");
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return res;
}

static int
bind_one(const struct sockaddr_storage *ss, socklen_t len, bool reuseport, bool do_listen)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0 ||
	    (do_listen && listen(fd, SRV_LISTEN_BACKLOG) != 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

sp_result
srv_listen_probe(const char *addr)
{
	sp_result res = SP_OK;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	TRY(srv_addr_resolve("listen", addr, &ss, &len));
	/* Without SO_REUSEPORT the bind fails if anyone listens there. */
	fd = bind_one(&ss, len, false, false);
	ENSURE(fd >= 0 || errno != EADDRINUSE, SP_E_IO, "listen on %s: address already in "
	    "use: another server listens there (reuse-port = yes shares the port with it)",
	    addr);
	ENSURE(fd >= 0, SP_E_IO, "listen on %s: %s", addr, strerror(errno));
	close(fd);
out:
	return res;
}

int
srv_listen(const char *what, const char *addr, bool reuseport, sp_result *res)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	*res = srv_addr_resolve(what, addr, &ss, &len);
	if (sp_failed(*res))
		return -1;
	fd = bind_one(&ss, len, reuseport, true);
	if (fd < 0)
		*res = sp_error(SP_E_IO, "listen on %s: %s", addr, strerror(errno));
	return fd;
}
