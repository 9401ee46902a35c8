/*
 * Connections of `sprov serve` (server/conn.h).
 *
 * Connection life, per worker thread (evhttp owns the connection; we own
 * a small `conn` tied to the TLS object's lifetime through sp_tls hooks):
 *
 *   HANDSHAKE --handshake done--> IDLE --first byte--> READING --request--> BUSY
 *                                   ^                                        |
 *                                   +------------- response sent ------------+
 *
 * Each state has its own absolute deadline on one timer per connection:
 * handshake-timeout, idle-timeout, header-timeout.  evhttp's own timeout
 * restarts on every byte, so alone it would let a client dribble a byte a
 * second forever; our deadline does not move.  On expiry the socket is
 * shut down, evhttp sees EOF and frees the connection.
 *
 * evhttp and oversized requests.  libevent 2.1.12's evhttp answers a
 * request line or a header block above evhttp_set_max_headers_size with
 * "400 Bad Request" (measured; evhttp_connection_incoming_fail), a body
 * above max_body_size with 413, and gives us no error callback
 * (evhttp_set_errorcb is 2.2).  The issue wants 414 and 431.  So each
 * connection watches its input buffer (an evbuffer callback runs before
 * evhttp parses the bytes) and counts the current request's first-line and
 * header bytes; an output-buffer callback, registered after
 * bufferevent_openssl's own and so run before it (libevent inserts
 * callbacks at the head), replaces the status line evhttp just queued when
 * a limit was crossed: first line longer than max-header-size -> 414,
 * header block longer -> 431; any other 400 (malformed) stands.  evhttp's
 * small HTML body still names its own status.  Request lines under
 * max-header-size but over max-request-line
 * are answered 414 by the request handler itself.
 */
#include "server/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/util.h"
#include "server/admin.h"
#include "server/failures.h"
#include "server/proxy.h"

#define PROXY_LOG_EVERY_NS 1000000000ull /* one "PROXY refused" line a second */

_Static_assert(sizeof(((server *)0)->timeouts) / sizeof(((server *)0)->timeouts[0]) ==
    CS_DEADLINES, "one timeout counter per state with a deadline");

static const char *const cs_names[CS_DEADLINES] = { "handshake", "idle", "header", "send" };

void
conn_arm(conn *c, enum conn_state st, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	c->state = st;
	if (st == CS_BUSY)
		evtimer_del(c->timer);
	else
		evtimer_add(c->timer, &tv);
}

/*
 * proxy-from (see docs/SERVER.md).  A connection from a listed peer must
 * start with a PROXY v2 header.  The TLS bufferevent is made with
 * sp_tls_bufferevent_new_proxied; once evhttp has set its socket, and
 * before the event loop polls (so before the TLS layer reads a byte),
 * proxy_start looks at the peer.  Not listed: served as without
 * proxy-from.  Listed: the bufferevent is disabled (its handshake events
 * deleted) and proxy_read takes the header off the socket itself,
 * non-blocking, never a byte past it (sp_proxy_parse says how many it
 * needs); then the source is known, handshakes-per-source counts it, and
 * the bufferevent is enabled: the TLS layer reads the ClientHello next.
 * The handshake deadline runs from accept, over the header too.
 */
static void
proxy_done(conn *c)
{
	if (c->proxy_ev != NULL)
		event_free(c->proxy_ev);
	c->proxy_ev = NULL;
	free(c->proxy_buf);
	c->proxy_buf = NULL;
}

/* Close a connection still reading its header, before any handshake. */
static void
proxy_close(conn *c)
{
	proxy_done(c);
	sp_tls_bufferevent_refuse(c->bev);
	/* Enabled again so the TLS layer reads the EOF and evhttp frees it. */
	bufferevent_enable(c->bev, EV_READ);
}

static void
proxy_refuse(conn *c, const char *peer, const char *why)
{
	server *s = c->w->s;
	uint64_t now = sp_mono_ns(), last = atomic_load(&s->proxy_log_ns);

	atomic_fetch_add(&s->proxy_refused, 1);
	atomic_fetch_add(&s->proxy_unlogged, 1);
	if ((last == 0 || now - last >= PROXY_LOG_EVERY_NS) &&
	    atomic_compare_exchange_strong(&s->proxy_log_ns, &last, now))
		sp_warn("serve: PROXY v2 header refused from %s: %s; connection closed "
		    "(%llu refused since the previous such line)", peer, why,
		    (unsigned long long)atomic_exchange(&s->proxy_unlogged, 0));
	proxy_close(c);
}

static void
proxy_read(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;
	sp_proxy_hdr h;
	const char *why = "";
	char peer[SP_CONTACT_IP_MAX + 1];
	sp_proxy_status st;

	for (;;) {
		ssize_t r;

		st = sp_proxy_parse(sp_slice_mk((const char *)c->proxy_buf, c->proxy_n), &h, &why);
		if (st != SP_PROXY_MORE)
			break;
		r = recv(fd, c->proxy_buf + c->proxy_n, h.len - c->proxy_n, 0);
		if (r > 0) {
			c->proxy_n += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return; /* the rest when the socket is readable again */
		if (r == 0 && c->proxy_n == 0) {
			/*
			 * Connected and closed without a byte: a load balancer's
			 * health check (HAProxy's `check`).  Nothing to refuse.
			 */
			proxy_close(c);
			return;
		}
		st = SP_PROXY_REFUSED;
		why = r == 0 ? "connection closed inside the header" : "read failed";
		break;
	}
	/* c->src holds the TCP peer's address until the header is accepted. */
	snprintf(peer, sizeof(peer), "%s", c->src);
	if (st == SP_PROXY_REFUSED) {
		proxy_refuse(c, peer, why);
		return;
	}
	proxy_done(c);
	if (!h.local) {
		sp_proxy_addr_str((struct sockaddr *)&h.src, h.src_len, c->src, sizeof(c->src));
		sp_tls_bufferevent_admit(c->bev, (struct sockaddr *)&h.src, h.src_len);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			sp_tls_bufferevent_admit(c->bev, (struct sockaddr *)&ss, sl);
	}
	/*
	 * As evhttp had it before proxy_start: reading, not writing.  With
	 * EV_WRITE on too, an HTTP/1.0 answer was sent and the connection
	 * never closed (cluster_proxy.sh).
	 */
	bufferevent_enable(c->bev, EV_READ);
}

/* evhttp has set the socket; the loop has not polled it yet. */
static void
proxy_start(evutil_socket_t unused, short what, void *arg)
{
	conn *c = arg;
	server *s = c->w->s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	const sp_serve_config *cfg;
	bool listed;

	event_free(c->proxy_ev);  /* runs once; freeing it here is allowed */
	c->proxy_ev = NULL;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	sp_proxy_addr_str((struct sockaddr *)&ss, sl, c->src, sizeof(c->src));
	cfg = srv_cfg_hold(s);
	listed = sp_proxy_acl_match(&cfg->proxy_from, (struct sockaddr *)&ss, sl);
	srv_cfg_release(s);
	if (!listed) {
		sp_tls_bufferevent_admit(c->bev, (struct sockaddr *)&ss, sl);
		return;
	}
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if ((c->proxy_buf = malloc(SP_PROXY_HDR_MAX)) == NULL ||
	    (c->proxy_ev = event_new(c->w->base, fd, EV_READ | EV_PERSIST, proxy_read,
	    c)) == NULL || event_add(c->proxy_ev, NULL) != 0) {
		sp_err("serve: out of memory for a new connection; closing it");
		proxy_close(c);
		return;
	}
	c->proxy_n = 0;
	proxy_read(fd, EV_READ, c); /* HAProxy sends it at once: often there already */
}

void
conn_kill(conn *c)
{
	bufferevent_event_cb alive = NULL;
	evutil_socket_t fd;

	/*
	 * A connection evhttp has freed stays in the list (and its timer
	 * armed) until libevent finalizes its bufferevent: its socket may be
	 * closed and the number reused by then.  bufferevent_free clears the
	 * callbacks; evhttp keeps an event callback on a live connection.
	 */
	if (c->bev == NULL)
		return;
	if (c->proxy_buf != NULL) {
		proxy_close(c);
		return;
	}
	bufferevent_getcb(c->bev, NULL, NULL, &alive, NULL);
	if (alive == NULL)
		return;
	fd = bufferevent_getfd(c->bev);
	/* evhttp reads EOF and frees the connection (and so this conn). */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	if (c->state == CS_BUSY)
		return;
	atomic_fetch_add(&c->w->s->timeouts[c->state], 1);
	sp_debug("serve: %s timeout, closing connection", cs_names[c->state]);
	if (c->proxy_buf != NULL) {
		char peer[SP_CONTACT_IP_MAX + 1];
		snprintf(peer, sizeof(peer), "%s", c->src);
		proxy_refuse(c, peer, "no complete header within handshake-timeout");
		return;
	}
	conn_kill(c);
}

void
conn_hook_handshake_done(void *arg, bool resumed)
{
	conn *c = arg;
	server *s = c->w->s;
	const sp_serve_config *cfg = srv_cfg_hold(s);
	int64_t idle = cfg->header_timeout;

	srv_cfg_release(s);
	/*
	 * Only established connections count toward overload-connections:
	 * idle TCP connections that never finish a handshake cost little and
	 * are cut by the handshake deadline; counting them let them turn good
	 * devices away with 503.
	 */
	if (!c->established) {
		c->established = true;
		c->w->established++;
		srv_hist_observe(&s->hs_hist, sp_mono_ns() - c->t_accept);
	}
	/* The first request follows the handshake at once: header deadline. */
	conn_arm(c, CS_IDLE, idle);
	if (c->w->draining)
		conn_kill(c);
}

/* The device's address: the PROXY header's, else the TCP peer's. */
static void
conn_src(conn *c, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;

	buf[0] = '\0';
	if (c->src[0] != '\0')
		snprintf(buf, n, "%s", c->src);
	else if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, len, buf, (socklen_t)n, NULL, 0,
	    NI_NUMERICHOST) != 0)
		buf[0] = '\0';
}

void
conn_hook_refused(void *arg, const sp_tls_refusal *r)
{
	conn *c = arg;
	char ip[SP_CONTACT_IP_MAX + 1];

	conn_src(c, ip, sizeof(ip));
	(void)srv_failures_note(c->w->s->failures, srv_fail_reason_of_tls((int)r->reason),
	    r->named ? &r->id.mac : NULL, ip, r->cert_serial, r->detail);
}

void
conn_hook_free(void *arg)
{
	conn *c = arg;
	worker *w = c->w;

	if (c->waiting != NULL)
		srv_request_orphan(c);
	if (c->bev != NULL) {
		if (c->in_cbe)
			evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cbe);
		if (c->out_cbe)
			evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cbe);
	}
	if (c->timer)
		event_free(c->timer);
	proxy_done(c);
	LIST_REMOVE(c, link);
	w->open--;
	if (c->established)
		w->established--;
	atomic_fetch_sub(&w->s->open_total, 1);
	if (w->paused && w->open < w->max_open && w->bound != NULL) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(w->bound));
		w->paused = false;
	}
	free(c);
}

/* Offset of `what` in buf at or after `from`, or SIZE_MAX. */
static size_t
buf_find(struct evbuffer *buf, size_t from, const char *what)
{
	struct evbuffer_ptr p;

	if (evbuffer_ptr_set(buf, &p, from, EVBUFFER_PTR_SET) != 0)
		return SIZE_MAX;
	p = evbuffer_search(buf, what, strlen(what), &p);
	return p.pos >= 0 ? (size_t)p.pos : SIZE_MAX;
}

/*
 * Count the first-line and header bytes of the request being read, for the
 * 414/431 decision: n new bytes at offset orig of the input buffer.
 */
static void
conn_scan(conn *c, struct evbuffer *buf, size_t orig, size_t n)
{
	/* Look at the new bytes (and 3 before them: "\r\n\r\n" may straddle). */
	size_t from = orig > 3 ? orig - 3 : 0;

	if (!c->line_done) {
		size_t lf = buf_find(buf, orig, "\n");
		if (lf != SIZE_MAX) {
			c->line_done = true;
			c->line_bytes += lf - orig;
		} else {
			c->line_bytes += n;
		}
	}
	if (!c->headers_done) {
		/* Count header bytes up to the blank line (evhttp drains parsed
		 * lines, so count what arrives, not buffer offsets). */
		size_t e1 = c->line_done ? buf_find(buf, from, "\r\n\r\n") : SIZE_MAX;
		size_t e2 = c->line_done ? buf_find(buf, from, "\n\n") : SIZE_MAX;
		size_t end = e1 != SIZE_MAX ? e1 + 4 : SIZE_MAX;

		if (e2 != SIZE_MAX && (end == SIZE_MAX || e2 + 2 < end))
			end = e2 + 2;
		if (end != SIZE_MAX) {
			c->headers_done = true;
			c->req_bytes += end > orig ? end - orig : 0;
		} else {
			c->req_bytes += n;
		}
	}
}

static void
conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	conn *c = arg;

	if (info->n_added == 0)
		return;
	if (c->state == CS_IDLE) {
		const sp_serve_config *cfg = srv_cfg_hold(c->w->s);
		int64_t ms = cfg->header_timeout;
		srv_cfg_release(c->w->s);
		c->line_done = c->headers_done = false;
		c->line_bytes = c->req_bytes = 0;
		conn_arm(c, CS_READING, ms);
	}
	/* Bytes arriving while BUSY are counted by conn_next_request(). */
	if (c->state == CS_READING)
		conn_scan(c, buf, info->orig_size, info->n_added);
}

/*
 * A response is queued.  Bytes already buffered (pipelining) belong to the
 * next request: it is being read, under the header deadline; otherwise the
 * connection is idle.
 */
void
conn_next_request(conn *c, const sp_serve_config *cfg)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t n = evbuffer_get_length(in);

	c->line_done = c->headers_done = false;
	c->line_bytes = c->req_bytes = 0;
	if (n == 0) {
		conn_arm(c, CS_IDLE, cfg->idle_timeout);
		return;
	}
	conn_arm(c, CS_READING, cfg->header_timeout);
	conn_scan(c, in, 0, n);
}

/* An answer evhttp wrote itself (malformed or oversized request). */
static void
evhttp_answer_log(conn *c, int code)
{
	server *s = c->w->s;
	sp_reqlog l;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	memset(&l, 0, sizeof(l));
	l.t0 = sp_mono_ns();
	l.status = code;
	l.note = "answered-by-evhttp";
	if (c->src[0] != '\0')
		snprintf(l.ip, sizeof(l.ip), "%s", c->src);
	else if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, l.ip,
			    sizeof(l.ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, l.ip,
			    sizeof(l.ip));
	}
	srv_count_status(s, code);
	sp_accesslog_write(s->access, &l);
}

static void
conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	conn *c = arg;
	struct evbuffer_ptr p;
	struct evbuffer_iovec v;
	char line[64];
	const char *b, *nl;
	int code;

	if (c->drained != NULL && info->n_deleted > 0 && evbuffer_get_length(buf) == 0) {
		void (*f)(void *) = c->drained;
		c->drained = NULL;
		f(c->drained_arg);
		return;
	}
	/* Only evhttp's own answers (ours are written in state BUSY). */
	if (c->state == CS_BUSY || c->rewriting || info->n_added < 16 ||
	    info->orig_size != 0)
		return;
	if (evbuffer_ptr_set(buf, &p, 0, EVBUFFER_PTR_SET) != 0 ||
	    evbuffer_peek(buf, 16, &p, &v, 1) < 1 || v.iov_len < 16)
		return;
	b = v.iov_base;
	if (memcmp(b, "HTTP/1.", 7) != 0 ||
	    (memcmp(b + 8, " 400 ", 5) != 0 && memcmp(b + 8, " 413 ", 5) != 0))
		return;
	/* Which limit did this request break?  (See the top of this file.) */
	code = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	nl = memchr(b, '\n', v.iov_len);
	if (nl != NULL && c->line_bytes > c->max_hdr)
		code = 414;
	else if (nl != NULL && c->req_bytes > c->max_hdr)
		code = 431;
	if (nl != NULL && code != 400 && code != 413) {
		snprintf(line, sizeof(line), "HTTP/1.%c %d %s\r\n", b[7], code,
		    code == 414 ? "URI Too Long" : "Request Header Fields Too Large");
		c->rewriting = true;
		evbuffer_drain(buf, (size_t)(nl - b) + 1);
		evbuffer_prepend(buf, line, strlen(line));
		c->rewriting = false;
		atomic_fetch_add(&c->w->s->rewritten_413, 1);
	}
	evhttp_answer_log(c, code);
}

struct bufferevent *
conn_bev_cb(struct event_base *base, void *arg)
{
	worker *w = arg;
	server *s = w->s;
	conn *c;
	struct bufferevent *bev;
	const sp_serve_config *cfg;
	int64_t hs;
	bool proxied;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->w = w;
	c->state = CS_HANDSHAKE;
	c->t_accept = sp_mono_ns();
	LIST_INSERT_HEAD(&w->conns, c, link);
	w->open++;
	atomic_fetch_add(&s->open_total, 1);
	if ((c->timer = evtimer_new(base, conn_timeout, c)) == NULL) {
		conn_hook_free(c);
		return NULL;
	}
	/*
	 * On failure the hook has freed c already.  XXX: given NULL, evhttp
	 * 2.1 falls back to a plain socket bufferevent; on_request refuses
	 * such a connection (no conn, no certificate), so nothing is served.
	 */
	cfg = srv_cfg_hold(s);
	proxied = cfg->proxy_from.n > 0;
	srv_cfg_release(s);
	bev = proxied ? sp_tls_bufferevent_new_proxied(s->tls, base, c) :
	    sp_tls_bufferevent_new(s->tls, base, c);
	if (bev == NULL)
		return NULL;
	c->bev = bev;
	/* After evhttp's accept callback has set the socket (proxy_start). */
	if (proxied) {
		if ((c->proxy_ev = event_new(base, -1, 0, proxy_start, c)) == NULL) {
			sp_err("serve: out of memory for a new connection; closing it");
			bufferevent_free(bev); /* frees c through conn_hook_free */
			return NULL;
		}
		event_active(c->proxy_ev, EV_TIMEOUT, 1);
	}
	c->in_cbe = evbuffer_add_cb(bufferevent_get_input(bev), conn_input, c);
	c->out_cbe = evbuffer_add_cb(bufferevent_get_output(bev), conn_output, c);
	cfg = srv_cfg_hold(s);
	hs = cfg->handshake_timeout;
	c->max_hdr = (size_t)cfg->max_header_size;
	srv_cfg_release(s);
	conn_arm(c, CS_HANDSHAKE, hs);
	if (w->open >= w->max_open && w->bound != NULL && !w->paused) {
		/* Full: stop accepting; the kernel's bounded backlog holds the rest. */
		evconnlistener_disable(evhttp_bound_socket_get_listener(w->bound));
		w->paused = true;
	}
	return bev;
}
