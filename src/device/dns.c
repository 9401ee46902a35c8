#include "device/dns.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include <ares.h>

#include "common/text.h"
#include "common/util.h"
#include "identity/cn.h"

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_rc;

static void
ares_global(void)
{
	ares_init_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

sp_result
sp_dns_server_add(sp_buf *out, sp_slice server)
{
	sp_result res = SP_OK;
	sp_slice host = server, port = { NULL, 0 };
	sp_ipaddr ip;
	int64_t pn;
	char q[80];

	server = sp_slice_trim(server);
	host = server;
	sp_quote(server, q, sizeof(q));
	if (server.len > 0 && server.p[0] == '[') {
		size_t close = sp_slice_find(server, ']');
		ENSURE(close < server.len, SP_E_PARSE, "DNS server '%s': missing ']'", q);
		host = sp_slice_mk(server.p + 1, close - 1);
		if (close + 1 < server.len) {
			ENSURE(server.p[close + 1] == ':', SP_E_PARSE,
			    "DNS server '%s': expected ':PORT' after ']'", q);
			port = sp_slice_mk(server.p + close + 2, server.len - close - 2);
		}
	} else if (sp_slice_find(server, ':') < server.len) {
		size_t c = sp_slice_find(server, ':');
		/* One colon: IPv4:PORT.  More: a bare IPv6 address. */
		if (memchr(server.p + c + 1, ':', server.len - c - 1) == NULL) {
			host = sp_slice_mk(server.p, c);
			port = sp_slice_mk(server.p + c + 1, server.len - c - 1);
		}
	}
	ENSURE(sp_ipaddr_parse(host, &ip), SP_E_PARSE,
	    "DNS server '%s' is not an IP address (IP[:PORT])", q);
	if (port.p != NULL)
		TRY(sp_parse_i64_slice(port, 1, 65535, "DNS server port", &pn));
	if (out->len > 0)
		TRY(sp_buf_append_byte(out, ','));
	if (ip.family == AF_INET6)
		TRY(sp_buf_printf(out, "[%.*s]", (int)host.len, host.p));
	else
		TRY(sp_buf_append(out, host.p, host.len));
	if (port.p != NULL)
		TRY(sp_buf_printf(out, ":%lld", (long long)pn));
out:
	return res;
}

typedef struct {
	bool done;
	int status;
	sp_addrlist *out;
} lookup;

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	lookup *lk = arg;

	lk->done = true;
	lk->status = status;
	if (status == ARES_SUCCESS && ai != NULL) {
		for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
			sp_ipaddr ip;
			if (n->ai_addr && sp_ipaddr_from_sockaddr(n->ai_addr, &ip))
				sp_addrlist_add(lk->out, &ip);
		}
	}
	if (ai != NULL)
		ares_freeaddrinfo(ai);
}

sp_result
sp_dns_resolve(const char *servers, const char *name, sp_addrlist *out)
{
	sp_result res = SP_OK;
	ares_channel ch = NULL;
	struct ares_options opts;
	int optmask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	struct ares_addrinfo_hints hints;
	lookup lk = { false, ARES_SUCCESS, out };
	int rc;

	memset(out, 0, sizeof(*out));
	TRY(sp_fqdn_check(sp_slice_of(name)));
	pthread_once(&ares_once, ares_global);
	ENSURE(ares_init_rc == ARES_SUCCESS, SP_E_NET, "c-ares: %s", ares_strerror(ares_init_rc));
	memset(&opts, 0, sizeof(opts));
	opts.timeout = SP_DNS_TIMEOUT_MS;
	opts.tries = SP_DNS_TRIES;
	if (servers != NULL && *servers != '\0') {
		/* The device's own servers: DNS only, not /etc/hosts. */
		opts.lookups = (char *)"b";
		optmask |= ARES_OPT_LOOKUPS;
	}
	rc = ares_init_options(&ch, &opts, optmask);
	ENSURE(rc == ARES_SUCCESS, SP_E_NET, "c-ares: %s", ares_strerror(rc));
	if (servers != NULL && *servers != '\0') {
		rc = ares_set_servers_ports_csv(ch, servers);
		ENSURE(rc == ARES_SUCCESS, SP_E_NET, "DNS servers '%s': %s", servers,
		    ares_strerror(rc));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;
	ares_getaddrinfo(ch, name, NULL, &hints, on_addrinfo, &lk);
	while (!lk.done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		nfds_t n = 0;
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/*
			 * Not ARES_GETSOCK_WRITABLE: it shifts a signed 1 by up
			 * to 31 places (undefined behaviour, caught by UBSan).
			 */
			unsigned ubits = (unsigned)bits;
			short ev = 0;
			if ((ubits >> i) & 1u)
				ev |= POLLIN;
			if ((ubits >> (i + ARES_GETSOCK_MAXNUM)) & 1u)
				ev |= POLLOUT;
			if (ev) {
				pfd[n].fd = socks[i];
				pfd[n].events = ev;
				pfd[n].revents = 0;
				n++;
			}
		}
		tvp = ares_timeout(ch, NULL, &tv);
		int ms = tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : 1000;
		if (poll(pfd, n, ms) < 0 && errno != EINTR)
			ENSURE(0, SP_E_NET, "DNS: poll: %s", strerror(errno));
		for (nfds_t i = 0; i < n; i++) {
			ares_socket_t r = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			    pfd[i].fd : ARES_SOCKET_BAD;
			ares_socket_t w = (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(ch, r, w);
		}
		/* Expire timed-out queries (and retry on the next server). */
		if (!lk.done)
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
	ENSURE(lk.status == ARES_SUCCESS, SP_E_NET, "DNS lookup of %s failed: %s", name,
	    ares_strerror(lk.status));
	ENSURE(out->n > 0, SP_E_NET, "DNS lookup of %s: no A or AAAA answer", name);
out:
	if (ch != NULL)
		ares_destroy(ch);
	return res;
}
