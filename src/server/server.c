/*
 * `sprov serve`: workers, connections, requests, the admin listener.
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
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/util.h"
#include "profile/profile.h"
#include "server/cache.h"
#include "server/template.h"
#include "store/store.h"
#include "tls/tls.h"

#define SRV_LISTEN_BACKLOG 1024
#define SRV_ADMIN_MAX_HEADERS 8192
#define SRV_LOG_LINE_MAX 2048
#define SRV_DRAIN_TICK_MS 100
#define SRV_TICKET_CHECK_S 60
#define SRV_BODY_MAX 4096 /* read so other methods get 405; larger: 413 */

enum conn_state { CS_HANDSHAKE, CS_IDLE, CS_READING, CS_BUSY };
static const char *const cs_names[] = { "handshake", "idle", "header" };

/* Status codes counted for /metrics; anything else is "other". */
static const int counted_status[] = { 200, 304, 400, 403, 404, 405, 413, 414,
	431, 500, 503 };
#define N_STATUS (sizeof(counted_status) / sizeof(counted_status[0]))

typedef struct server server;
typedef struct worker worker;

typedef struct conn {
	worker *w;
	struct bufferevent *bev;
	struct event *timer;
	struct evbuffer_cb_entry *in_cbe, *out_cbe;
	enum conn_state state;
	bool line_done, headers_done; /* of the request being read */
	bool rewriting;
	size_t line_bytes, req_bytes;  /* of the request being read */
	size_t max_hdr;
	uint64_t requests;
	LIST_ENTRY(conn) link;
} conn;

struct worker {
	server *s;
	int id;
	pthread_t th;
	bool started;
	int fd;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev, *drain_ev;
	sp_store *store;
	int64_t open, max_open, overload;
	bool paused, draining;
	uint64_t drain_deadline;
	LIST_HEAD(, conn) conns;
};

struct server {
	pthread_rwlock_t cfg_mu;
	sp_serve_config *cfg;
	const char *config_path;
	const sp_serve_overrides *ov;
	char store_uri[SP_STORE_URI_MAX + 1];
	sp_tls_server *tls;
	sp_cache *cache;
	sp_store *store; /* main thread: contact batches */
	worker *w;
	int nworkers;
	struct event_base *base;
	struct evhttp *admin;
	struct event *ev_hup, *ev_term, *ev_int, *ev_crl, *ev_flush, *ev_tick;
	FILE *access;
	pthread_mutex_t log_mu;
	pthread_mutex_t cq_mu;
	sp_contact *cq;
	size_t cq_n, cq_cap;
	uint32_t *cq_idx;   /* open addressing, MAC -> queue slot + 1; 0: empty */
	size_t cq_idx_cap;  /* a power of two, >= 2 * cq_cap */
	atomic_bool draining;

	atomic_uint_fast64_t st[N_STATUS + 1];
	atomic_uint_fast64_t renders, render_errors, render_ns, db_errors;
	atomic_uint_fast64_t timeouts[3], rewritten_413;
	atomic_uint_fast64_t identity_refused, mismatches, overloaded;
	atomic_uint_fast64_t cq_written, cq_dropped, cq_failed;
	atomic_uint_fast64_t reload_ok, reload_failed;
	atomic_int_fast64_t open_total;
};

/* One server per process: the TLS hooks reach it through conn->w->s. */

static void
count_status(server *s, int code)
{
	size_t i;

	for (i = 0; i < N_STATUS; i++)
		if (counted_status[i] == code)
			break;
	atomic_fetch_add(&s->st[i], 1);
}

/* ---- access log --------------------------------------------------------- */

/* Quote for a log field: printable ASCII except '"' and '\\', else \xNN. */
static void
logq(const char *p, size_t n, char *out, size_t outsz)
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hx[c >> 4];
			out[o++] = hx[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

typedef struct reqlog {
	char mac[SP_MAC_STRLEN];
	char serial[SP_DEVID_FIELD_MAX + 1];
	char cert_serial[SP_TLS_SERIAL_HEX_MAX + 1];
	char ip[SP_CONTACT_IP_MAX + 1];
	const char *ua;
	const char *method;
	const char *path;
	const char *etag;
	const char *note;
	int status;
	size_t bytes;
	uint64_t t0;
	bool resumed;
	const char *tlsver;
} reqlog;

static void
access_log(server *s, const reqlog *l)
{
	char ua[600], path[600], ts[32], line[SRV_LOG_LINE_MAX];
	time_t now = time(NULL);
	struct tm tm;

	if (s->access == NULL)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	logq(l->ua ? l->ua : "", l->ua ? strnlen(l->ua, SP_UA_MAX) : 0, ua, sizeof(ua));
	logq(l->path ? l->path : "", l->path ? strnlen(l->path, 512) : 0, path,
	    sizeof(path));
	snprintf(line, sizeof(line),
	    "%s mac=%s serial=%s cert=%s ip=%s ua=\"%s\" method=%s path=\"%s\" "
	    "status=%d bytes=%zu dur_us=%llu etag=%s tls=%s resumed=%d%s%s\n",
	    ts, l->mac[0] ? l->mac : "-", l->serial[0] ? l->serial : "-",
	    l->cert_serial[0] ? l->cert_serial : "-", l->ip[0] ? l->ip : "-", ua,
	    l->method ? l->method : "-", path, l->status, l->bytes,
	    (unsigned long long)((sp_mono_ns() - l->t0) / 1000),
	    l->etag && l->etag[0] ? l->etag : "-", l->tlsver && l->tlsver[0] ? l->tlsver : "-",
	    l->resumed ? 1 : 0, l->note ? " note=" : "", l->note ? l->note : "");
	pthread_mutex_lock(&s->log_mu);
	fputs(line, s->access);
	fflush(s->access);
	pthread_mutex_unlock(&s->log_mu);
}

/* ---- contact queue ------------------------------------------------------ */

/*
 * The store keeps the LAST contact per MAC, so a queue holds at most one
 * record per MAC: a device asking again before the next flush (keep-alive,
 * retries) overwrites its record in place.  perf on keep-alive requests put
 * the growing queue (page faults of a realloc'd array, one row written per
 * request) at ~10 % of the server's CPU.  A pending mark is kept once set:
 * the store ignores it for a device it knows.
 */
static size_t
cq_hash(const sp_mac *m, size_t cap)
{
	uint64_t h = sp_fnv1a(m->b, sizeof(m->b));

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Slot of mac in the index (empty or holding mac); cq_mu held. */
static uint32_t *
cq_probe(server *s, const sp_mac *mac)
{
	size_t h = cq_hash(mac, s->cq_idx_cap);

	for (;;) {
		uint32_t *e = &s->cq_idx[h];
		if (*e == 0 || memcmp(s->cq[*e - 1].mac.b, mac->b, sizeof(mac->b)) == 0)
			return e;
		h = (h + 1) & (s->cq_idx_cap - 1);
	}
}

/* Room for one more record, and an index for it; false: full or no memory. */
static bool
cq_room(server *s, size_t qmax)
{
	size_t icap;
	uint32_t *ni;

	if (s->cq_n == s->cq_cap) {
		size_t ncap = s->cq_cap ? s->cq_cap * 2 : 256;
		sp_contact *nv;

		if (s->cq_cap >= qmax)
			return false;
		if (ncap > qmax)
			ncap = qmax;
		if ((nv = realloc(s->cq, ncap * sizeof(*nv))) == NULL)
			return false;
		s->cq = nv;
		s->cq_cap = ncap;
	}
	if (s->cq_idx != NULL && s->cq_idx_cap >= 2 * s->cq_cap)
		return true;
	for (icap = 512; icap < 2 * s->cq_cap; icap *= 2)
		;
	if ((ni = calloc(icap, sizeof(*ni))) == NULL)
		return false;
	free(s->cq_idx);
	s->cq_idx = ni;
	s->cq_idx_cap = icap;
	for (size_t k = 0; k < s->cq_n; k++)
		*cq_probe(s, &s->cq[k].mac) = (uint32_t)(k + 1);
	return true;
}

static void
contact_enqueue(server *s, const sp_contact *c, int64_t qmax)
{
	uint32_t *e = NULL;

	pthread_mutex_lock(&s->cq_mu);
	if (s->cq_idx != NULL && s->cq_idx_cap >= 2 * s->cq_cap)
		e = cq_probe(s, &c->mac);
	if (e != NULL && *e != 0) {
		sp_contact *old = &s->cq[*e - 1];
		bool pending = old->record_pending && !c->record_pending;
		char serial[sizeof(old->serial)], product[sizeof(old->product)];

		if (pending) {
			memcpy(serial, old->serial, sizeof(serial));
			memcpy(product, old->product, sizeof(product));
		}
		*old = *c;
		if (pending) {
			old->record_pending = true;
			memcpy(old->serial, serial, sizeof(serial));
			memcpy(old->product, product, sizeof(product));
		}
	} else if (cq_room(s, qmax > 0 ? (size_t)qmax : 1)) {
		s->cq[s->cq_n] = *c;
		*cq_probe(s, &c->mac) = (uint32_t)(++s->cq_n);
	} else {
		atomic_fetch_add(&s->cq_dropped, 1);
	}
	pthread_mutex_unlock(&s->cq_mu);
}

static void
contact_flush(server *s)
{
	sp_contact *v;
	size_t n;

	pthread_mutex_lock(&s->cq_mu);
	v = s->cq;
	n = s->cq_n;
	s->cq = NULL;
	s->cq_n = s->cq_cap = 0;
	if (s->cq_idx != NULL)
		memset(s->cq_idx, 0, s->cq_idx_cap * sizeof(*s->cq_idx));
	pthread_mutex_unlock(&s->cq_mu);
	for (size_t off = 0; off < n && s->store != NULL;) {
		size_t k = n - off > SP_CONTACT_BATCH_MAX ? SP_CONTACT_BATCH_MAX : n - off;
		sp_result r = sp_store_contact_batch(s->store, v + off, k);
		if (sp_failed(r)) {
			atomic_fetch_add(&s->cq_failed, k);
			sp_err("serve: writing %zu contact records failed: %s", k, sp_errmsg());
		} else {
			atomic_fetch_add(&s->cq_written, k);
		}
		off += k;
	}
	free(v);
}

/* ---- connections -------------------------------------------------------- */

static void
conn_arm(conn *c, enum conn_state st, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	c->state = st;
	if (st == CS_BUSY)
		evtimer_del(c->timer);
	else
		evtimer_add(c->timer, &tv);
}

static const sp_serve_config *
cfg_hold(server *s)
{
	pthread_rwlock_rdlock(&s->cfg_mu);
	return s->cfg;
}

static void
cfg_release(server *s)
{
	pthread_rwlock_unlock(&s->cfg_mu);
}

static void
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

static void
hook_handshake_done(void *arg, bool resumed)
{
	conn *c = arg;
	server *s = c->w->s;
	const sp_serve_config *cfg = cfg_hold(s);
	int64_t idle = cfg->header_timeout;

	cfg_release(s);
	/* The first request follows the handshake at once: header deadline. */
	conn_arm(c, CS_IDLE, idle);
	if (c->w->draining)
		conn_kill(c);
}

static void
hook_conn_free(void *arg)
{
	conn *c = arg;
	worker *w = c->w;

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
		const sp_serve_config *cfg = cfg_hold(c->w->s);
		int64_t ms = cfg->header_timeout;
		cfg_release(c->w->s);
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
static void
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
	reqlog l;
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
	count_status(s, code);
	access_log(s, &l);
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

static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
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
	LIST_INSERT_HEAD(&w->conns, c, link);
	w->open++;
	atomic_fetch_add(&s->open_total, 1);
	if ((c->timer = evtimer_new(base, conn_timeout, c)) == NULL) {
		hook_conn_free(c);
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
	cfg = cfg_hold(s);
	hs = cfg->handshake_timeout;
	c->max_hdr = (size_t)cfg->max_header_size;
	cfg_release(s);
	conn_arm(c, CS_HANDSHAKE, hs);
	if (w->open >= w->max_open && w->bound != NULL && !w->paused) {
		/* Full: stop accepting; the kernel's bounded backlog holds the rest. */
		evconnlistener_disable(evhttp_bound_socket_get_listener(w->bound));
		w->paused = true;
	}
	return bev;
}

/* ---- requests ----------------------------------------------------------- */

static void
reply(server *s, struct evhttp_request *req, reqlog *l, int code, const char *reason,
    const char *text, bool close)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(oh, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(oh, "Cache-Control", "no-store");
	if (close)
		evhttp_add_header(oh, "Connection", "close");
	if (b != NULL && text != NULL) {
		evbuffer_add_printf(b, "%s\n", text);
		l->bytes = evbuffer_get_length(b);
	}
	l->status = code;
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
	count_status(s, code);
}

static bool
etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;

	while (*p != '\0') {
		const char *start, *end;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == 1 && *start == '*')
			return true;
		if ((size_t)(end - start) == strlen(etag) &&
		    memcmp(start, etag, (size_t)(end - start)) == 0)
			return true;
	}
	return false;
}

static void
body_release(const void *data, size_t len, void *arg)
{
	sp_cache_release(arg);
}

/* Render a device's profile (cache miss).  *out NULL with SP_OK: 404. */
static sp_result
render(worker *w, const sp_serve_config *cfg, const sp_devid *id, uint64_t gen_now,
    sp_cache_entry **out, bool *pending)
{
	sp_result res = SP_OK;
	server *s = w->s;
	sp_device dev;
	bool found = false, defaults_only = false;
	sp_params ps;
	sp_buf body;
	uint64_t gen = gen_now, t0 = sp_mono_ns();

	*out = NULL;
	*pending = false;
	sp_params_init(&ps);
	sp_buf_init(&body, SP_PROFILE_MAX);
	TRY(sp_store_device_get(w->store, &id->mac, &dev, &found));
	if (!found || !dev.enabled) {
		if (cfg->unknown == SP_UNKNOWN_404)
			goto out;
		defaults_only = true;
		*pending = !found;
		TRY(sp_store_params_defaults(w->store, &ps, &gen));
	} else {
		TRY(sp_store_params_effective(w->store, &dev, &ps, &gen));
	}
	TRY(sp_profile_render(&ps, &body));
	TRY(sp_cache_entry_new(&id->mac, gen, defaults_only, body.p ? body.p : "",
	    body.len, out));
	sp_cache_put(s->cache, *out);
	atomic_fetch_add(&s->renders, 1);
	atomic_fetch_add(&s->render_ns, sp_mono_ns() - t0);
out:
	sp_params_free(&ps);
	sp_buf_free_secret(&body);
	return res;
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	sp_tls_bufferevent_close(evhttp_connection_get_bufferevent(evcon));
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	worker *w = arg;
	server *s = w->s;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	conn *c = sp_tls_bufferevent_conn(bev);
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	const sp_serve_config *cfg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *uri = evhttp_request_get_uri(req), *path, *inm;
	const struct evhttp_uri *u;
	sp_tls_peer peer;
	sp_result r;
	reqlog l;
	size_t which;
	uint64_t gen = 0;
	sp_cache_entry *e = NULL;
	bool pending = false, close;
	char *peer_addr = NULL;
	ev_uint16_t peer_port = 0;
	char retry[32];

	memset(&l, 0, sizeof(l));
	l.t0 = sp_mono_ns();
	l.ua = evhttp_find_header(ih, "User-Agent");
	l.method = cmd == EVHTTP_REQ_GET ? "GET" : cmd == EVHTTP_REQ_HEAD ? "HEAD" : "other";
	l.path = uri;
	cfg = cfg_hold(s);
	close = w->draining;
	if (evcon != NULL) {
		evhttp_connection_get_peer(evcon, &peer_addr, &peer_port);
		if (peer_addr != NULL)
			snprintf(l.ip, sizeof(l.ip), "%s", peer_addr);
	}
	if (c == NULL) {
		/* Not one of our TLS connections: never serve it. */
		reply(s, req, &l, 403, "Forbidden", "TLS required", true);
		goto out;
	}
	if (c->requests++ == 0)
		evhttp_connection_set_closecb(evcon, on_close, c);
	conn_arm(c, CS_BUSY, 0);

	if (uri != NULL && strlen(uri) > (size_t)cfg->max_request_line) {
		reply(s, req, &l, 414, "URI Too Long", "request line too long", true);
		goto out;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(oh, "Allow", "GET, HEAD");
		reply(s, req, &l, 405, "Method Not Allowed", "only GET and HEAD", close);
		goto out;
	}
	if (w->open > w->overload) {
		uint32_t j = 0;
		(void)RAND_bytes((unsigned char *)&j, sizeof(j));
		snprintf(retry, sizeof(retry), "%lld",
		    (long long)(cfg->retry_after + (int64_t)(j % (uint32_t)cfg->retry_after + 1)));
		evhttp_add_header(oh, "Retry-After", retry);
		atomic_fetch_add(&s->overloaded, 1);
		reply(s, req, &l, 503, "Service Unavailable", "overloaded, retry later", true);
		goto out;
	}

	r = sp_tls_peer_get(s->tls, bev, cfg->identity, &peer);
	snprintf(l.cert_serial, sizeof(l.cert_serial), "%s", peer.cert_serial);
	l.resumed = peer.resumed;
	l.tlsver = peer.version;
	if (sp_failed(r)) {
		atomic_fetch_add(&s->identity_refused, 1);
		sp_warn("serve: refused %s (certificate serial %s): %s", l.ip,
		    peer.cert_serial[0] ? peer.cert_serial : "-", sp_errmsg());
		l.note = r.code == SP_E_POLICY ? "no-single-device" : "certificate-refused";
		reply(s, req, &l, 403, "Forbidden", "certificate does not identify one device",
		    true);
		goto out;
	}
	sp_mac_format(&peer.id.mac, SP_MAC_MA, l.mac);
	snprintf(l.serial, sizeof(l.serial), "%s", peer.id.serial);

	u = evhttp_request_get_evhttp_uri(req);
	path = u ? evhttp_uri_get_path(u) : NULL;
	if (path == NULL || path[0] != '/') {
		reply(s, req, &l, 400, "Bad Request", "bad request target", true);
		goto out;
	}
	l.path = path;
	switch (sp_route(cfg->paths, cfg->npaths, sp_slice_of(path), &peer.id, &which)) {
	case SP_ROUTE_NONE:
		reply(s, req, &l, 404, "Not Found", "not found", close);
		goto out;
	case SP_ROUTE_MISMATCH: {
		char q[600];
		logq(path, strnlen(path, 512), q, sizeof(q));
		atomic_fetch_add(&s->mismatches, 1);
		sp_warn("AUDIT identity mismatch: device mac=%s serial=%s cert=%s ip=%s "
		    "asked for \"%s\" (template %s)", l.mac, l.serial[0] ? l.serial : "-",
		    l.cert_serial, l.ip, q, cfg->paths[which].src);
		l.note = "identity-mismatch";
		reply(s, req, &l, 403, "Forbidden", "this path names another device", close);
		goto out;
	}
	case SP_ROUTE_SELF:
		break;
	}

	r = sp_store_generation(w->store, &gen);
	if (sp_ok(r))
		e = sp_cache_get(s->cache, &peer.id.mac, gen);
	if (sp_ok(r) && e == NULL)
		r = render(w, cfg, &peer.id, gen, &e, &pending);
	if (sp_failed(r)) {
		atomic_fetch_add(&s->render_errors, 1);
		sp_err("serve: profile for %s failed: %s", l.mac, sp_errmsg());
		reply(s, req, &l, 500, "Internal Server Error", "internal error", true);
		goto out;
	}
	if (e == NULL) {
		l.note = "unknown-or-disabled";
		reply(s, req, &l, 404, "Not Found", "unknown device", close);
		goto out;
	}
	pending = pending || e->defaults_only;
	l.etag = e->etag;
	evhttp_add_header(oh, "ETag", e->etag);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	if (close)
		evhttp_add_header(oh, "Connection", "close");
	inm = evhttp_find_header(ih, "If-None-Match");
	if (inm != NULL && etag_matches(inm, e->etag)) {
		l.status = 304;
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		count_status(s, 304);
	} else {
		struct evbuffer *b = evbuffer_new();
		evhttp_add_header(oh, "Content-Type", "application/xml");
		if (b != NULL && cmd == EVHTTP_REQ_GET) {
			atomic_fetch_add(&e->refs, 1);
			if (evbuffer_add_reference(b, e->body, e->len, body_release, e) != 0)
				sp_cache_release(e);
			else
				l.bytes = e->len;
		} else if (b != NULL) {
			/* HEAD: evhttp sends no body; say how long it would be. */
			char len[32];
			snprintf(len, sizeof(len), "%zu", e->len);
			evhttp_add_header(oh, "Content-Length", len);
		}
		l.status = 200;
		evhttp_send_reply(req, 200, "OK", b);
		if (b != NULL)
			evbuffer_free(b);
		count_status(s, 200);
	}
	{
		sp_contact ct;
		memset(&ct, 0, sizeof(ct));
		ct.mac = peer.id.mac;
		ct.time = sp_now();
		snprintf(ct.ip, sizeof(ct.ip), "%s", l.ip);
		if (l.ua != NULL)
			snprintf(ct.ua, sizeof(ct.ua), "%.*s", (int)strnlen(l.ua, SP_UA_MAX), l.ua);
		snprintf(ct.etag, sizeof(ct.etag), "%s", e->etag);
		ct.status = l.status;
		ct.record_pending = pending;
		snprintf(ct.serial, sizeof(ct.serial), "%s", peer.id.serial);
		snprintf(ct.product, sizeof(ct.product), "%s", peer.id.product);
		contact_enqueue(s, &ct, cfg->contact_queue);
	}
out:
	access_log(s, &l);
	if (c != NULL && c->state == CS_BUSY)
		conn_next_request(c, cfg);
	cfg_release(s);
	sp_cache_release(e);
}

/* ---- workers ------------------------------------------------------------ */

static void
worker_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	worker *w = arg;
	struct timeval tv = { 0, SRV_DRAIN_TICK_MS * 1000 };
	conn *c;

	LIST_FOREACH(c, &w->conns, link)
		if (c->state == CS_IDLE || c->state == CS_HANDSHAKE)
			conn_kill(c);
	if (w->open == 0 || sp_mono_ns() >= w->drain_deadline) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	evtimer_add(w->drain_ev, &tv);
}

static void
worker_stop(evutil_socket_t fd, short what, void *arg)
{
	worker *w = arg;
	const sp_serve_config *cfg = cfg_hold(w->s);
	int64_t ms = cfg->drain_timeout;

	cfg_release(w->s);
	w->draining = true;
	w->drain_deadline = sp_mono_ns() + (uint64_t)ms * 1000000u;
	if (w->bound != NULL) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
		w->fd = -1;
	}
	worker_drain_tick(-1, 0, w);
}

static void *
worker_main(void *arg)
{
	worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static int
make_listener(const char *addr, bool reuseport, sp_result *res)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), fd = -1, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &len) != 0 ||
	    ((struct sockaddr_in *)&ss)->sin_port == 0) {
		*res = sp_error(SP_E_USAGE, "listen address '%s' is not HOST:PORT", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, (socklen_t)len) != 0 ||
	    listen(fd, SRV_LISTEN_BACKLOG) != 0) {
		*res = sp_error(SP_E_IO, "listen on %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static sp_result
worker_setup(server *s, worker *w, const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	struct timeval tv;
	int64_t backstop;
	struct event_config *ecfg = NULL;

	LIST_INIT(&w->conns);
	w->max_open = cfg->max_connections / s->nworkers;
	if (w->max_open < 1)
		w->max_open = 1;
	w->overload = cfg->overload_connections / s->nworkers;
	if (w->overload < 1)
		w->overload = 1;
	/*
	 * epoll changelist: evhttp disables reading while it answers and
	 * enables it again in the same callback, which without the changelist
	 * is two epoll_ctl calls per request (one with it: a MOD).  Safe here:
	 * no descriptor of a worker's base is dup()ed.
	 */
	TRY_ALLOC(ecfg, event_config_new());
	ENSURE(event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0,
	    SP_E_INTERNAL, "event config");
	TRY_ALLOC(w->base, event_base_new_with_config(ecfg));
	TRY_ALLOC(w->http, evhttp_new(w->base));
	evhttp_set_bevcb(w->http, bev_cb, w);
	evhttp_set_gencb(w->http, on_request, w);
	/* Every method reaches us so we can answer 405 ourselves. */
	evhttp_set_allowed_methods(w->http, 0xffff);
	evhttp_set_max_headers_size(w->http, (ev_ssize_t)cfg->max_header_size);
	evhttp_set_max_body_size(w->http, SRV_BODY_MAX);
	evhttp_set_default_content_type(w->http, "text/plain; charset=utf-8");
	/* Backstop only: the per-state deadlines above do the real work. */
	backstop = cfg->idle_timeout > cfg->header_timeout ? cfg->idle_timeout :
	    cfg->header_timeout;
	if (cfg->handshake_timeout > backstop)
		backstop = cfg->handshake_timeout;
	backstop += 1000;
	tv.tv_sec = (time_t)(backstop / 1000);
	tv.tv_usec = (suseconds_t)((backstop % 1000) * 1000);
	evhttp_set_timeout_tv(w->http, &tv);
	TRY_ALLOC(w->bound, evhttp_accept_socket_with_handle(w->http, w->fd));
	TRY_ALLOC(w->stop_ev, event_new(w->base, -1, 0, worker_stop, w));
	TRY_ALLOC(w->drain_ev, evtimer_new(w->base, worker_drain_tick, w));
	TRY(sp_error_wrap(sp_store_open(s->store_uri, &w->store), "worker store"));
out:
	if (ecfg != NULL)
		event_config_free(ecfg);
	return res;
}

static void
worker_free(worker *w)
{
	if (w->http)
		evhttp_free(w->http);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->bound == NULL && w->fd >= 0)
		close(w->fd);
	sp_store_close(w->store);
}

/* ---- admin -------------------------------------------------------------- */

static sp_result
metrics_text(server *s, sp_buf *b)
{
	sp_result res = SP_OK;
	sp_cache_stats cs;
	size_t qn;

	TRY(sp_buf_append_str(b,
	    "# HELP sprov_requests_total HTTP requests by status.\n"
	    "# TYPE sprov_requests_total counter\n"));
	for (size_t i = 0; i <= N_STATUS; i++) {
		if (i < N_STATUS)
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"%d\"} %llu\n",
			    counted_status[i], (unsigned long long)atomic_load(&s->st[i])));
		else
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"other\"} %llu\n",
			    (unsigned long long)atomic_load(&s->st[i])));
	}
	sp_cache_stats_get(s->cache, &cs);
	pthread_mutex_lock(&s->cq_mu);
	qn = s->cq_n;
	pthread_mutex_unlock(&s->cq_mu);
	TRY(sp_buf_printf(b,
	    "# TYPE sprov_open_connections gauge\n"
	    "sprov_open_connections %lld\n"
	    "# TYPE sprov_cache_hits_total counter\nsprov_cache_hits_total %llu\n"
	    "# TYPE sprov_cache_misses_total counter\nsprov_cache_misses_total %llu\n"
	    "# TYPE sprov_cache_entries gauge\nsprov_cache_entries %zu\n"
	    "# TYPE sprov_cache_bytes gauge\nsprov_cache_bytes %zu\n"
	    "# TYPE sprov_cache_flushes_total counter\nsprov_cache_flushes_total %llu\n"
	    "# TYPE sprov_renders_total counter\nsprov_renders_total %llu\n"
	    "# TYPE sprov_render_errors_total counter\nsprov_render_errors_total %llu\n"
	    "# TYPE sprov_render_seconds_total counter\nsprov_render_seconds_total %.6f\n"
	    "# TYPE sprov_identity_refused_total counter\nsprov_identity_refused_total %llu\n"
	    "# TYPE sprov_identity_mismatch_total counter\nsprov_identity_mismatch_total %llu\n"
	    "# TYPE sprov_overload_total counter\nsprov_overload_total %llu\n"
	    "# TYPE sprov_status_rewritten_total counter\nsprov_status_rewritten_total %llu\n"
	    "# TYPE sprov_timeouts_total counter\n"
	    "sprov_timeouts_total{phase=\"handshake\"} %llu\n"
	    "sprov_timeouts_total{phase=\"idle\"} %llu\n"
	    "sprov_timeouts_total{phase=\"header\"} %llu\n"
	    "# TYPE sprov_contact_queue gauge\nsprov_contact_queue %zu\n"
	    "# TYPE sprov_contacts_written_total counter\nsprov_contacts_written_total %llu\n"
	    "# TYPE sprov_contacts_dropped_total counter\nsprov_contacts_dropped_total %llu\n"
	    "# TYPE sprov_contacts_failed_total counter\nsprov_contacts_failed_total %llu\n"
	    "# TYPE sprov_config_reloads_total counter\n"
	    "sprov_config_reloads_total{result=\"ok\"} %llu\n"
	    "sprov_config_reloads_total{result=\"failed\"} %llu\n",
	    (long long)atomic_load(&s->open_total),
	    (unsigned long long)cs.hits, (unsigned long long)cs.misses, cs.entries,
	    cs.bytes, (unsigned long long)cs.flushes,
	    (unsigned long long)atomic_load(&s->renders),
	    (unsigned long long)atomic_load(&s->render_errors),
	    (double)atomic_load(&s->render_ns) / 1e9,
	    (unsigned long long)atomic_load(&s->identity_refused),
	    (unsigned long long)atomic_load(&s->mismatches),
	    (unsigned long long)atomic_load(&s->overloaded),
	    (unsigned long long)atomic_load(&s->rewritten_413),
	    (unsigned long long)atomic_load(&s->timeouts[0]),
	    (unsigned long long)atomic_load(&s->timeouts[1]),
	    (unsigned long long)atomic_load(&s->timeouts[2]), qn,
	    (unsigned long long)atomic_load(&s->cq_written),
	    (unsigned long long)atomic_load(&s->cq_dropped),
	    (unsigned long long)atomic_load(&s->cq_failed),
	    (unsigned long long)atomic_load(&s->reload_ok),
	    (unsigned long long)atomic_load(&s->reload_failed)));
	TRY(sp_tls_server_metrics(s->tls, b));
out:
	return res;
}

static void
on_admin(struct evhttp_request *req, void *arg)
{
	server *s = arg;
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	sp_buf b;

	sp_buf_init(&b, 1024 * 1024);
	if (out == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(oh, "Allow", "GET");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
	} else if (strcmp(path, "/healthz") == 0) {
		evhttp_add_header(oh, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "%s\n", atomic_load(&s->draining) ? "draining" : "ok");
		evhttp_send_reply(req, atomic_load(&s->draining) ? 503 : 200, NULL, out);
	} else if (strcmp(path, "/metrics") == 0 && sp_ok(metrics_text(s, &b))) {
		evhttp_add_header(oh, "Content-Type", "text/plain; version=0.0.4");
		evbuffer_add(out, b.p, b.len);
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evhttp_send_reply(req, 404, "Not Found", NULL);
	}
	evbuffer_free(out);
	sp_buf_free(&b);
}

/* ---- configuration ------------------------------------------------------ */

sp_result
sp_serve_config_load(const char *config_path, const sp_serve_overrides *ov,
    sp_serve_config *out)
{
	sp_result res = SP_OK;
	sp_buf text;

	sp_buf_init(&text, SP_CFG_FILE_MAX);
	sp_serve_config_init(out);
	/* Like SPROV_STORE: the environment sets a default the file overrides. */
	if (getenv("SPROV_TLS_BACKEND") != NULL && getenv("SPROV_TLS_BACKEND")[0] != '\0')
		TRY(sp_error_wrap(sp_serve_config_set(out, "tls-backend",
		    getenv("SPROV_TLS_BACKEND")), "SPROV_TLS_BACKEND"));
	if (config_path != NULL) {
		TRY(sp_error_wrap(sp_read_file(config_path, SP_CFG_FILE_MAX, &text), "%s",
		    config_path));
		TRY(sp_error_wrap(sp_serve_config_parse(sp_slice_mk(text.p ? text.p : "",
		    text.len), out), "%s", config_path));
	}
	for (size_t i = 0; ov != NULL && i < ov->n; i++)
		TRY(sp_error_wrap(sp_serve_config_set(out, ov->key[i], ov->value[i]),
		    "--%s", ov->key[i]));
	TRY(sp_serve_config_finish(out));
out:
	sp_buf_free(&text);
	return res;
}

static void
tls_cfg_of(const sp_serve_config *cfg, sp_tls_config *t)
{
	memset(t, 0, sizeof(*t));
	t->cert_file = cfg->cert;
	t->key_file = cfg->key;
	t->client_ca_file = cfg->client_ca;
	t->crl_file = cfg->crl[0] ? cfg->crl : NULL;
	t->verify_depth = cfg->verify_depth;
	t->crl_grace = cfg->crl_grace;
	t->ticket_rotate = cfg->ticket_rotate;
	t->backend = cfg->tls_backend;
}

sp_result
sp_serve_check(const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	sp_tls_config t;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	sp_store *st = NULL;
	const char *uri;

	tls_cfg_of(cfg, &t);
	TRY(sp_error_wrap(sp_tls_config_check(&t), "TLS"));
	ENSURE(evutil_parse_sockaddr_port(cfg->listen, (struct sockaddr *)&ss, &len) == 0,
	    SP_E_USAGE, "listen address '%s' is not HOST:PORT", cfg->listen);
	len = sizeof(ss);
	ENSURE(cfg->admin[0] == '\0' || strcmp(cfg->admin, "off") == 0 ||
	    evutil_parse_sockaddr_port(cfg->admin, (struct sockaddr *)&ss, &len) == 0,
	    SP_E_USAGE, "admin address '%s' is not HOST:PORT", cfg->admin);
	if (cfg->user[0] != '\0')
		ENSURE(getpwnam(cfg->user) != NULL, SP_E_USAGE, "no such user '%s'", cfg->user);
	uri = sp_store_uri_default(cfg->store[0] ? cfg->store : NULL);
	TRY(sp_error_wrap(sp_store_open(uri, &st), "store %s", uri));
out:
	sp_store_close(st);
	return res;
}

static void
reload(server *s)
{
	sp_serve_config *nc = NULL, *old;
	sp_tls_config t;
	sp_result r;

	if ((nc = malloc(sizeof(*nc))) == NULL) {
		sp_err("serve: reload refused: out of memory");
		goto fail;
	}
	r = sp_serve_config_load(s->config_path, s->ov, nc);
	if (sp_failed(r)) {
		sp_err("serve: reload refused, old configuration keeps serving: %s", sp_errmsg());
		goto fail;
	}
	tls_cfg_of(nc, &t);
	r = sp_tls_server_load(s->tls, &t);
	if (sp_failed(r)) {
		sp_err("serve: reload refused, old configuration keeps serving: TLS: %s",
		    sp_errmsg());
		goto fail;
	}
	pthread_rwlock_wrlock(&s->cfg_mu);
	old = s->cfg;
	if (strcmp(old->listen, nc->listen) != 0 || strcmp(old->admin, nc->admin) != 0 ||
	    old->workers != nc->workers || strcmp(old->store, nc->store) != 0 ||
	    strcmp(old->user, nc->user) != 0 || strcmp(old->access_log, nc->access_log) != 0)
		sp_warn("serve: listen, admin, workers, store, user and access-log "
		    "changes take effect at restart");
	s->cfg = nc;
	pthread_rwlock_unlock(&s->cfg_mu);
	free(old);
	atomic_fetch_add(&s->reload_ok, 1);
	sp_info("serve: configuration reloaded");
	return;
fail:
	free(nc);
	atomic_fetch_add(&s->reload_failed, 1);
}

/* ---- main thread -------------------------------------------------------- */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	server *s = arg;

	if (sig == SIGHUP) {
		sp_info("serve: SIGHUP: reloading certificate, key, CRL and configuration");
		reload(s);
		return;
	}
	if (atomic_exchange(&s->draining, true))
		return;
	sp_info("serve: %s: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	for (int i = 0; i < s->nworkers; i++)
		if (s->w[i].started)
			event_active(s->w[i].stop_ev, 0, 0);
	/* The main loop ends when the workers are joined (see sp_serve_run). */
	event_base_loopexit(s->base, NULL);
}

static void
on_crl_timer(evutil_socket_t fd, short what, void *arg)
{
	server *s = arg;
	bool reloaded = false;

	if (sp_failed(sp_tls_server_poll_crl(s->tls, &reloaded)))
		sp_err("serve: %s; the previous CRL stays in force", sp_errmsg());
}

static void
on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
	contact_flush(arg);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	server *s = arg;

	sp_tls_server_rotate_tickets(s->tls, false);
}

static sp_result
drop_privileges(const char *user)
{
	sp_result res = SP_OK;
	struct passwd *pw;

	ENSURE((pw = getpwnam(user)) != NULL, SP_E_USAGE, "no such user '%s'", user);
	ENSURE(setgroups(0, NULL) == 0 || getuid() != 0, SP_E_IO, "setgroups: %s",
	    strerror(errno));
	ENSURE(setgid(pw->pw_gid) == 0, SP_E_IO, "setgid(%u): %s", (unsigned)pw->pw_gid,
	    strerror(errno));
	ENSURE(setuid(pw->pw_uid) == 0, SP_E_IO, "setuid(%u): %s", (unsigned)pw->pw_uid,
	    strerror(errno));
	ENSURE(pw->pw_uid == 0 || setuid(0) != 0, SP_E_STATE,
	    "privileges could be regained after dropping them");
	sp_info("serve: running as %s (uid %u)", user, (unsigned)pw->pw_uid);
out:
	return res;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static struct event *
add_timer(server *s, event_callback_fn fn, int64_t ms)
{
	struct event *ev = event_new(s->base, -1, EV_PERSIST, fn, s);
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	if (ev != NULL)
		event_add(ev, &tv);
	return ev;
}

sp_result
sp_serve_run(const char *config_path, const sp_serve_overrides *ov)
{
	sp_result res = SP_OK;
	server *s = NULL;
	sp_tls_config t;
	sp_tls_hooks hooks = { hook_handshake_done, hook_conn_free };
	sigset_t block, old;
	const sp_serve_config *cfg;
	struct sockaddr_storage ss;
	int len;
	bool sigs_blocked = false;

	TRY_ALLOC(s, calloc(1, sizeof(*s)));
	pthread_rwlock_init(&s->cfg_mu, NULL);
	pthread_mutex_init(&s->log_mu, NULL);
	pthread_mutex_init(&s->cq_mu, NULL);
	s->config_path = config_path;
	s->ov = ov;
	TRY_ALLOC(s->cfg, malloc(sizeof(*s->cfg)));
	TRY(sp_serve_config_load(config_path, ov, s->cfg));
	cfg = s->cfg;
	snprintf(s->store_uri, sizeof(s->store_uri), "%s",
	    sp_store_uri_default(cfg->store[0] ? cfg->store : NULL));
	ENSURE(evthread_use_pthreads() == 0, SP_E_INTERNAL, "libevent threads");
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	TRY(sp_tls_server_new(cfg->tls_backend, &hooks, &s->tls));
	tls_cfg_of(cfg, &t);
	TRY(sp_error_wrap(sp_tls_server_load(s->tls, &t), "TLS"));
	TRY(sp_cache_new(SP_CACHE_MAX_DEFAULT, &s->cache));

	s->nworkers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->nworkers < 1)
		s->nworkers = 1;
	TRY_ALLOC(s->w, calloc((size_t)s->nworkers, sizeof(*s->w)));
	for (int i = 0; i < s->nworkers; i++)
		s->w[i].fd = -1;
	/* Bind everything while still privileged. */
	for (int i = 0; i < s->nworkers; i++) {
		s->w[i].s = s;
		s->w[i].id = i;
		s->w[i].fd = make_listener(cfg->listen, true, &res);
		if (s->w[i].fd < 0)
			goto out;
	}
	TRY_ALLOC(s->base, event_base_new());
	if (cfg->admin[0] != '\0' && strcmp(cfg->admin, "off") != 0) {
		int afd = make_listener(cfg->admin, false, &res);
		if (afd < 0)
			goto out;
		TRY_ALLOC(s->admin, evhttp_new(s->base));
		evhttp_set_gencb(s->admin, on_admin, s);
		evhttp_set_max_headers_size(s->admin, SRV_ADMIN_MAX_HEADERS);
		evhttp_set_timeout(s->admin, 10);
		if (evhttp_accept_socket_with_handle(s->admin, afd) == NULL) {
			close(afd);
			ENSURE(false, SP_E_IO, "admin listener on %s", cfg->admin);
		}
	}
	if (strcmp(cfg->access_log, "off") == 0) {
		s->access = NULL;
	} else if (strcmp(cfg->access_log, "-") == 0) {
		s->access = stdout;
	} else {
		ENSURE((s->access = fopen(cfg->access_log, "ae")) != NULL, SP_E_IO,
		    "access log %s: %s", cfg->access_log, strerror(errno));
	}
	if (cfg->user[0] != '\0')
		TRY(drop_privileges(cfg->user));

	TRY(sp_error_wrap(sp_store_open(s->store_uri, &s->store), "store %s", s->store_uri));
	for (int i = 0; i < s->nworkers; i++)
		TRY(worker_setup(s, &s->w[i], cfg));

	TRY_ALLOC(s->ev_hup, evsignal_new(s->base, SIGHUP, on_signal, s));
	TRY_ALLOC(s->ev_term, evsignal_new(s->base, SIGTERM, on_signal, s));
	TRY_ALLOC(s->ev_int, evsignal_new(s->base, SIGINT, on_signal, s));
	event_add(s->ev_hup, NULL);
	event_add(s->ev_term, NULL);
	event_add(s->ev_int, NULL);
	TRY_ALLOC(s->ev_crl, add_timer(s, on_crl_timer, cfg->crl_poll * 1000));
	TRY_ALLOC(s->ev_flush, add_timer(s, on_flush_timer, cfg->contact_flush));
	TRY_ALLOC(s->ev_tick, add_timer(s, on_tick, SRV_TICKET_CHECK_S * 1000));

	/* Workers never take the process signals: the main loop does. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigs_blocked = true;
	for (int i = 0; i < s->nworkers; i++) {
		ENSURE(pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) == 0,
		    SP_E_INTERNAL, "cannot start worker thread");
		s->w[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigs_blocked = false;
	len = sizeof(ss);
	sp_info("serve: listening on %s with %d worker thread(s), admin %s, store %s",
	    cfg->listen, s->nworkers, s->admin ? cfg->admin : "off", s->store_uri);
	(void)len;

	event_base_dispatch(s->base);
	/* Drain: wait for the workers to finish their connections. */
	for (int i = 0; i < s->nworkers; i++) {
		if (s->w[i].started) {
			pthread_join(s->w[i].th, NULL);
			s->w[i].started = false;
		}
	}
	contact_flush(s);
	sp_info("serve: stopped");
out:
	if (sigs_blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (s != NULL) {
		if (s->w != NULL) {
			for (int i = 0; i < s->nworkers; i++) {
				if (s->w[i].started) {
					event_active(s->w[i].stop_ev, 0, 0);
					pthread_join(s->w[i].th, NULL);
				}
				worker_free(&s->w[i]);
			}
			free(s->w);
		}
		if (s->admin)
			evhttp_free(s->admin);
		if (s->ev_hup)
			event_free(s->ev_hup);
		if (s->ev_term)
			event_free(s->ev_term);
		if (s->ev_int)
			event_free(s->ev_int);
		if (s->ev_crl)
			event_free(s->ev_crl);
		if (s->ev_flush)
			event_free(s->ev_flush);
		if (s->ev_tick)
			event_free(s->ev_tick);
		if (s->base)
			event_base_free(s->base);
		if (s->access != NULL && s->access != stdout)
			fclose(s->access);
		sp_store_close(s->store);
		sp_cache_free(s->cache);
		sp_tls_server_free(s->tls);
		free(s->cq);
		free(s->cq_idx);
		free(s->cfg);
		pthread_rwlock_destroy(&s->cfg_mu);
		pthread_mutex_destroy(&s->log_mu);
		pthread_mutex_destroy(&s->cq_mu);
		free(s);
	}
	return res;
}
