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

static const char *const cs_names[] = { "handshake", "idle", "header" };

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
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
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
	if ((bev = sp_tls_bufferevent_new(s->tls, base, c)) == NULL)
		return NULL;
	c->bev = bev;
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
