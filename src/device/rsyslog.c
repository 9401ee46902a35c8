#include "device/rsyslog.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "common/util.h"
#include "common/text.h"

sp_result
sp_rsyslog_parse(sp_slice t, sp_rsyslog *out)
{
	sp_result res = SP_OK;
	sp_slice host, port = { NULL, 0 };
	int64_t pn = SP_SYSLOG_PORT;
	char q[80];

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	t = sp_slice_trim(t);
	host = t;
	sp_quote(t, q, sizeof(q));
	if (t.len > 0 && t.p[0] == '[') {
		size_t close = sp_slice_find(t, ']');
		ENSURE(close < t.len, SP_E_PARSE, "Syslog_Server '%s': missing ']'", q);
		host = sp_slice_mk(t.p, close + 1);
		if (close + 1 < t.len) {
			ENSURE(t.p[close + 1] == ':', SP_E_PARSE,
			    "Syslog_Server '%s': expected ':PORT' after ']'", q);
			port = sp_slice_mk(t.p + close + 2, t.len - close - 2);
		}
	} else {
		size_t c = sp_slice_find(t, ':');
		if (c < t.len && memchr(t.p + c + 1, ':', t.len - c - 1) == NULL) {
			host = sp_slice_mk(t.p, c);
			port = sp_slice_mk(t.p + c + 1, t.len - c - 1);
		}
	}
	ENSURE(sp_ipaddr_parse(host, &out->ip), SP_E_PARSE,
	    "Syslog_Server '%s' is not an IP address (IP[:PORT])", q);
	if (port.p != NULL)
		TRY(sp_parse_i64_slice(port, 1, 65535, "Syslog_Server port", &pn));
	out->port = (uint16_t)pn;
out:
	return res;
}

void
sp_rsyslog_send(sp_rsyslog *s, int severity, const char *msg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char dgram[SP_SYSLOG_MSG_MAX];
	int n;

	memset(&ss, 0, sizeof(ss));
	if (s->ip.family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(s->port);
		memcpy(&in->sin_addr, s->ip.a, 4);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(s->port);
		memcpy(&in6->sin6_addr, s->ip.a, 16);
		sl = sizeof(*in6);
	}
	if (s->fd < 0)
		s->fd = socket(s->ip.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return;
	n = snprintf(dgram, sizeof(dgram), "<%d>sprov-device[%ld]: %s",
	    LOG_DAEMON | (severity & LOG_PRIMASK), (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(dgram))
		n = (int)sizeof(dgram) - 1;
	/* Best effort by design: a phone never stalls on its log server. */
	(void)sendto(s->fd, dgram, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
}

void
sp_rsyslog_close(sp_rsyslog *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
