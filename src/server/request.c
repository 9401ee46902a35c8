/*
 * `sprov serve`: one request, from the TLS connection to the reply.
 *
 * on_request runs the steps in order (TLS connection, limits, identity,
 * route, profile); each either answers or hands on.  Profiles come from
 * the cache (cache.c), tagged with the generation the store thread last
 * published; a miss becomes a job for the store thread (storethread.c)
 * and the request waits, off the stack, until srv_jobs_done answers it on
 * this worker's event base.  A connection closed meanwhile cancels it
 * (on_close).  The contact record is queued for the write-behind flush
 * (contacts.c).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "profile/profile.h"
#include "server/admin.h"
#include "server/cache.h"
#include "server/conn.h"
#include "server/failures.h"
#include "server/firmware.h"
#include "server/request.h"
#include "server/srv.h"
#include "server/storethread.h"
#include "server/template.h"
#include "store/store.h"
#include "tls/tls.h"

/* ---- requests ----------------------------------------------------------- */


void
srv_reply(request *rq, int code, const char *reason, const char *text, bool close)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(rq->oh, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(rq->oh, "Cache-Control", "no-store");
	if (close)
		evhttp_add_header(rq->oh, "Connection", "close");
	if (b != NULL && text != NULL) {
		evbuffer_add_printf(b, "%s\n", text);
		rq->l.bytes = evbuffer_get_length(b);
	}
	rq->l.status = code;
	evhttp_send_reply(rq->req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
	srv_count_status(rq->s, code);
}

bool
srv_etag_matches(const char *inm, const char *etag)
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

/*
 * A request waiting for the store thread whose connection goes: the job
 * comes back cancelled and srv_jobs_done only frees it.  evhttp detaches
 * a request it has not answered when the peer closes (EOF) and leaves it
 * to us: free it now; one still attached is freed with the connection.
 */
void
srv_request_orphan(conn *c)
{
	request *p = c->waiting;

	if (p == NULL)
		return;
	p->cancelled = true;
	atomic_store(&p->job.cancelled, true);   /* the store thread may skip it */
	c->waiting = NULL;
	if (p->hup_ev != NULL)
		event_free(p->hup_ev);
	p->hup_ev = NULL;
	if (p->req != NULL && evhttp_request_get_connection(p->req) == NULL)
		evhttp_request_free(p->req);
	p->req = NULL;
	/*
	 * An image between two chunks (firmware.c): nobody else holds it, and
	 * evhttp calls no chunk callback on a connection it frees.
	 */
	if (p->fw && !p->in_store) {
		c->drained = NULL;
		if (p->fw_ev != NULL)
			event_free(p->fw_ev);
		free(p->job.buf);
		free(p);
	}
}

static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	srv_request_orphan(arg);
	sp_tls_bufferevent_close(evhttp_connection_get_bufferevent(evcon));
}

/* 503 with a jittered Retry-After: retry-after + 1..retry-after seconds. */
static void
reply_later(request *rq, const char *text)
{
	char retry[32];
	uint32_t j = 0;

	(void)RAND_bytes((unsigned char *)&j, sizeof(j));
	snprintf(retry, sizeof(retry), "%lld", (long long)(rq->cfg->retry_after +
	    (int64_t)(j % (uint32_t)rq->cfg->retry_after + 1)));
	evhttp_add_header(rq->oh, "Retry-After", retry);
	srv_reply(rq, 503, "Service Unavailable", text, true);
}

/* What the access log says before anything is decided. */
static void
req_begin(request *rq, worker *w, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *peer_addr = NULL;
	ev_uint16_t peer_port = 0;

	memset(rq, 0, sizeof(*rq));
	rq->w = w;
	rq->s = w->s;
	rq->req = req;
	rq->ih = evhttp_request_get_input_headers(req);
	rq->oh = evhttp_request_get_output_headers(req);
	rq->cmd = evhttp_request_get_command(req);
	rq->bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	rq->c = sp_tls_bufferevent_conn(rq->bev);
	rq->l.t0 = sp_mono_ns();
	rq->l.ua = evhttp_find_header(rq->ih, "User-Agent");
	rq->l.method = rq->cmd == EVHTTP_REQ_GET ? "GET" :
	    rq->cmd == EVHTTP_REQ_HEAD ? "HEAD" : "other";
	rq->l.path = evhttp_request_get_uri(req);
	rq->cfg = srv_cfg_hold(rq->s);
	rq->close = w->draining;
	/* The connection's source: a PROXY header's, when proxy-from let one in. */
	if (rq->c != NULL && rq->c->src[0] != '\0') {
		snprintf(rq->l.ip, sizeof(rq->l.ip), "%s", rq->c->src);
	} else if (evcon != NULL) {
		evhttp_connection_get_peer(evcon, &peer_addr, &peer_port);
		if (peer_addr != NULL)
			snprintf(rq->l.ip, sizeof(rq->l.ip), "%s", peer_addr);
	}
}

/* Only our TLS connections are served; the connection is now BUSY. */
static bool
req_tls_conn(request *rq)
{
	if (rq->c == NULL) {
		srv_reply(rq, 403, "Forbidden", "TLS required", true);
		return false;
	}
	if (rq->c->requests++ == 0)
		evhttp_connection_set_closecb(evhttp_request_get_connection(rq->req),
		    on_close, rq->c);
	conn_arm(rq->c, CS_BUSY, 0);
	return true;
}

/* Request line length, method, and the overload threshold. */
static bool
req_within_limits(request *rq)
{
	const char *uri = evhttp_request_get_uri(rq->req);

	if (uri != NULL && strlen(uri) > (size_t)rq->cfg->max_request_line) {
		srv_reply(rq, 414, "URI Too Long", "request line too long", true);
		return false;
	}
	if (rq->cmd != EVHTTP_REQ_GET && rq->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(rq->oh, "Allow", "GET, HEAD");
		srv_reply(rq, 405, "Method Not Allowed", "only GET and HEAD", rq->close);
		return false;
	}
	if (rq->w->established <= rq->w->overload)
		return true;
	atomic_fetch_add(&rq->s->overloaded, 1);
	reply_later(rq, "overloaded, retry later");
	return false;
}

/* The client certificate must name exactly one device. */
static bool
req_identify(request *rq)
{
	sp_result r = sp_tls_peer_get(rq->s->tls, rq->bev, rq->cfg->identity, &rq->peer);

	snprintf(rq->l.cert_serial, sizeof(rq->l.cert_serial), "%s", rq->peer.cert_serial);
	rq->l.resumed = rq->peer.resumed;
	rq->l.tlsver = rq->peer.version;
	if (sp_failed(r)) {
		atomic_fetch_add(&rq->s->identity_refused, 1);
		sp_warn("serve: refused %s (certificate serial %s): %s", rq->l.ip,
		    rq->peer.cert_serial[0] ? rq->peer.cert_serial : "-", sp_errmsg());
		rq->l.note = r.code == SP_E_POLICY ? "no-single-device" : "certificate-refused";
		(void)srv_failures_note(rq->s->failures, r.code == SP_E_POLICY ?
		    SP_FAIL_BAD_IDENTITY : srv_fail_reason_of_tls((int)rq->peer.fail),
		    rq->peer.named ? &rq->peer.id.mac : NULL, rq->l.ip, rq->peer.cert_serial,
		    sp_errmsg());
		srv_reply(rq, 403, "Forbidden", "certificate does not identify one device", true);
		return false;
	}
	sp_mac_format(&rq->peer.id.mac, SP_MAC_MA, rq->l.mac);
	snprintf(rq->l.serial, sizeof(rq->l.serial), "%s", rq->peer.id.serial);
	return true;
}

/*
 * The path must be the firmware-path (firmware.c) or one of the
 * configured templates, for this device.
 */
static bool
req_route(request *rq, bool *waiting)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(rq->req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char q[600];
	size_t which;

	if (path == NULL || path[0] != '/') {
		srv_reply(rq, 400, "Bad Request", "bad request target", true);
		return false;
	}
	rq->l.path = path;
#ifdef SPROV_TEST_TRIGGERS
	if (srv_test_trigger(path)) {
		srv_reply(rq, 500, "Internal Server Error", "test trigger", true);
		return false;
	}
#endif
	if (srv_fw_route(rq, path, waiting))
		return false;
	switch (sp_route(rq->cfg->paths, rq->cfg->npaths, sp_slice_of(path), &rq->peer.id,
	    &which)) {
	case SP_ROUTE_NONE:
		srv_reply(rq, 404, "Not Found", "not found", rq->close);
		return false;
	case SP_ROUTE_MISMATCH:
		sp_quote_field(sp_slice_mk(path, strnlen(path, 512)), q, sizeof(q));
		atomic_fetch_add(&rq->s->mismatches, 1);
		sp_warn("AUDIT identity mismatch: device mac=%s serial=%s cert=%s ip=%s "
		    "asked for \"%s\" (template %s)", rq->l.mac,
		    rq->l.serial[0] ? rq->l.serial : "-", rq->l.cert_serial, rq->l.ip, q,
		    rq->cfg->paths[which].src);
		rq->l.note = "identity-mismatch";
		{
			char detail[sizeof(((sp_failure *)0)->detail)];
			snprintf(detail, sizeof(detail), "asked for \"%.80s\"", q);
			(void)srv_failures_note(rq->s->failures, SP_FAIL_MISMATCH,
			    &rq->peer.id.mac, rq->l.ip, rq->l.cert_serial, detail);
		}
		srv_reply(rq, 403, "Forbidden", "this path names another device", rq->close);
		return false;
	case SP_ROUTE_SELF:
		break;
	}
	return true;
}

/* The store cannot render it now (unreachable, or its queue is full). */
void
srv_reply_unavailable(request *rq)
{
	atomic_fetch_add(&rq->s->unavailable, 1);
	rq->l.note = "store-unavailable";
	reply_later(rq, "database unavailable, retry later");
}



/*
 * The socket of a waiting request is readable.  evhttp reads nothing while
 * a request is being answered, so it would only find a device that hung
 * up when the answer is written; we look (without taking bytes): EOF or an
 * error is a device gone, answered 499 (logged, nothing sent that it could
 * read) and its job cancelled.  Bytes (a pipelined request, TLS data) are
 * left for evhttp, and the watch ends.
 */
static void
on_hangup(evutil_socket_t fd, short what, void *arg)
{
	request *p = arg;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	event_free(p->hup_ev);
	p->hup_ev = NULL;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
		return;
	p->cancelled = true;
	atomic_store(&p->job.cancelled, true);
	p->c->waiting = NULL;
	p->cfg = srv_cfg_hold(p->s);
	p->l.note = "client-gone";
	srv_reply(p, 499, "Client Closed Request", NULL, true);
	srv_req_end(p, NULL);
	/* p itself stays the store thread's until its job comes back. */
}

/*
 * Hand a cache miss to the store thread: the request moves off the stack
 * (*rq stays for the caller to finish; it must not answer).  false: not
 * queued, nothing changed.
 */
static bool
req_wait(request *rq)
{
	request *p = malloc(sizeof(*p));

	if (p == NULL)
		return false;
	*p = *rq;
	memset(&p->job, 0, sizeof(p->job));
	p->job.w = rq->w;
	p->job.owner = p;
	p->job.id = rq->peer.id;
	p->job.unknown = rq->cfg->unknown;
	p->hup_ev = event_new(rq->w->base, bufferevent_getfd(rq->bev), EV_READ, on_hangup, p);
	if (p->hup_ev == NULL || !srv_store_submit(rq->s, &p->job)) {
		if (p->hup_ev != NULL)
			event_free(p->hup_ev);
		free(p);
		return false;
	}
	event_add(p->hup_ev, NULL);
	rq->c->waiting = p;
	return true;
}

/*
 * The device's profile from the cache (*e is then held).  false: answered,
 * or (*waiting) handed to the store thread.
 */
static bool
req_profile(request *rq, sp_cache_entry **e, bool *pending, bool *waiting)
{
	server *s = rq->s;

	if (atomic_load(&s->gen_known))
		*e = sp_cache_get(s->cache, &rq->peer.id.mac, atomic_load(&s->gen));
	if (*e == NULL) {
		if (!(*waiting = req_wait(rq)))
			srv_reply_unavailable(rq);
		return false;
	}
	*pending = (*e)->defaults_only;
	return true;
}

/* 304 if the device has this version, else 200 with the profile. */
static void
send_profile(request *rq, sp_cache_entry *e)
{
	const char *inm = evhttp_find_header(rq->ih, "If-None-Match");
	struct evbuffer *b;

	rq->l.etag = e->etag;
	evhttp_add_header(rq->oh, "ETag", e->etag);
	evhttp_add_header(rq->oh, "Cache-Control", "no-store");
	if (rq->close)
		evhttp_add_header(rq->oh, "Connection", "close");
	if (inm != NULL && srv_etag_matches(inm, e->etag)) {
		rq->l.status = 304;
		evhttp_send_reply(rq->req, 304, "Not Modified", NULL);
		srv_count_status(rq->s, 304);
		return;
	}
	b = evbuffer_new();
	evhttp_add_header(rq->oh, "Content-Type", "application/xml");
	if (b != NULL && rq->cmd == EVHTTP_REQ_GET) {
		atomic_fetch_add(&e->refs, 1);
		if (evbuffer_add_reference(b, e->body, e->len, body_release, e) != 0)
			sp_cache_release(e);
		else
			rq->l.bytes = e->len;
	} else if (b != NULL) {
		/* HEAD: evhttp sends no body; say how long it would be. */
		char len[32];
		snprintf(len, sizeof(len), "%zu", e->len);
		evhttp_add_header(rq->oh, "Content-Length", len);
	}
	rq->l.status = 200;
	evhttp_send_reply(rq->req, 200, "OK", b);
	if (b != NULL)
		evbuffer_free(b);
	srv_count_status(rq->s, 200);
}

/* Record the contact, written behind by the flush timer. */
static void
queue_contact(request *rq, const sp_cache_entry *e, bool pending)
{
	sp_contact ct;

	memset(&ct, 0, sizeof(ct));
	ct.mac = rq->peer.id.mac;
	ct.time = sp_now();
	snprintf(ct.ip, sizeof(ct.ip), "%s", rq->l.ip);
	if (rq->l.ua != NULL)
		snprintf(ct.ua, sizeof(ct.ua), "%.*s", (int)strnlen(rq->l.ua, SP_UA_MAX),
		    rq->l.ua);
	snprintf(ct.etag, sizeof(ct.etag), "%s", e->etag);
	ct.status = rq->l.status;
	ct.record_pending = pending;
	snprintf(ct.serial, sizeof(ct.serial), "%s", rq->peer.id.serial);
	snprintf(ct.product, sizeof(ct.product), "%s", rq->peer.id.product);
	ct.gen = e->gen;
	snprintf(ct.cert_serial, sizeof(ct.cert_serial), "%s", rq->peer.cert_serial);
	ct.cert_not_after = rq->peer.not_after;
	(void)sp_contacts_put(rq->s->contacts, &ct,
	    (size_t)rq->cfg->contact_queue + SRV_SPILL_HEADROOM);
}

/* After the answer: log, count, next request; releases cfg and e. */
void
srv_req_end(request *rq, sp_cache_entry *e)
{
	sp_accesslog_write(rq->s->access, &rq->l);
	srv_hist_observe(&rq->s->req_hist, sp_mono_ns() - rq->l.t0);
	if (rq->c != NULL && rq->c->state == CS_BUSY)
		conn_next_request(rq->c, rq->cfg);
	srv_cfg_release(rq->s);
	sp_cache_release(e);
}

void
srv_on_request(struct evhttp_request *req, void *arg)
{
	request rq;
	sp_cache_entry *e = NULL;
	bool pending = false, waiting = false;

	req_begin(&rq, arg, req);
	if (req_tls_conn(&rq) && req_within_limits(&rq) && req_identify(&rq) &&
	    req_route(&rq, &waiting) && req_profile(&rq, &e, &pending, &waiting)) {
		send_profile(&rq, e);
		queue_contact(&rq, e, pending);
	}
	if (waiting) {
		srv_cfg_release(rq.s);   /* held again by srv_jobs_done */
		return;
	}
	srv_req_end(&rq, e);
}

/*
 * A job the store thread finished: answer its request, unless cancelled.
 * true: p lives on (an image being streamed).
 */
static bool
job_answer(request *p)
{
	srv_job *j = &p->job;

	p->in_store = false;
	if (p->cancelled) {
		sp_cache_release(j->e);
		free(j->buf);
		if (p->fw_ev != NULL)
			event_free(p->fw_ev);
		return false;
	}
	if (j->kind != SRV_JOB_PROFILE)
		return srv_fw_answer(p);
	if (p->hup_ev != NULL)
		event_free(p->hup_ev);
	p->hup_ev = NULL;
	p->c->waiting = NULL;
	p->cfg = srv_cfg_hold(p->s);
	switch (j->outcome) {
	case SRV_JOB_OK:
		send_profile(p, j->e);
		queue_contact(p, j->e, j->pending || j->e->defaults_only);
		break;
	case SRV_JOB_NOTFOUND:
		p->l.note = "unknown-or-disabled";
		(void)srv_failures_note(p->s->failures, j->disabled ? SP_FAIL_DISABLED :
		    SP_FAIL_UNKNOWN_DEVICE, &p->peer.id.mac, p->l.ip, p->l.cert_serial,
		    j->disabled ? "device disabled" : "device not in the database");
		srv_reply(p, 404, "Not Found", "unknown device", p->close);
		break;
	case SRV_JOB_ERROR:
		atomic_fetch_add(&p->s->render_errors, 1);
		srv_reply(p, 500, "Internal Server Error", "internal error", true);
		break;
	case SRV_JOB_UNAVAILABLE:
		srv_reply_unavailable(p);
		break;
	}
	srv_req_end(p, j->e);
	return false;
}

static void
jobs_run(worker *w, bool answer)
{
	struct srv_jobq q = STAILQ_HEAD_INITIALIZER(q);
	srv_job *j;

	srv_jobs_take(w, &q);
	while ((j = STAILQ_FIRST(&q)) != NULL) {
		request *p = j->owner;
		STAILQ_REMOVE_HEAD(&q, link);
		/*
		 * The loop has ended: evhttp_free freed the request.  Its conn is
		 * alive if p is not cancelled (conn_hook_free would have): it
		 * must not point at p once p is freed.
		 */
		if (!answer && !p->cancelled) {
			p->c->waiting = NULL;
			p->cancelled = true;
			if (p->hup_ev != NULL)
				event_free(p->hup_ev);
			p->hup_ev = NULL;
		}
		if (!job_answer(p))
			free(p);
	}
}

void
srv_jobs_done(evutil_socket_t fd, short what, void *arg)
{
	jobs_run(arg, true);
}

void
srv_jobs_discard(worker *w)
{
	jobs_run(w, false);
}
