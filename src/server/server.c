/*
 * `sprov serve`: requests, workers, the main thread (signals, timers,
 * reload, privilege drop).
 *
 * The other parts live beside it: conn.c (connection states, deadlines
 * and the 414/431 rewrite), contacts.c (the write-behind contact queue),
 * accesslog.c, and admin.c (/metrics, /healthz).  srv.h holds the
 * structures they share.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
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
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "keyproc/keyproc.h"
#include "pki/pki.h"
#include "pki/token.h"
#include "profile/profile.h"
#include "server/admin.h"
#include "server/cache.h"
#include "server/conn.h"
#include "server/srv.h"
#include "server/template.h"
#include "store/store.h"
#include "tls/tls.h"

#define SRV_DRAIN_TICK_MS 100
#define SRV_TICKET_CHECK_S 60
#define SRV_BODY_MAX 4096 /* read so other methods get 405; larger: 413 */

const sp_serve_config *
srv_cfg_hold(server *s)
{
	pthread_rwlock_rdlock(&s->cfg_mu);
	return s->cfg;
}

void
srv_cfg_release(server *s)
{
	pthread_rwlock_unlock(&s->cfg_mu);
}

/* ---- requests ----------------------------------------------------------- */

/*
 * One request on its way through the steps of on_request.  Each step
 * either answers (and returns false: stop) or fills in what the next one
 * needs (and returns true).
 */
typedef struct request {
	worker *w;
	server *s;
	struct evhttp_request *req;
	struct evkeyvalq *ih, *oh;
	enum evhttp_cmd_type cmd;
	const sp_serve_config *cfg;   /* held for the whole request */
	struct bufferevent *bev;
	conn *c;
	bool close;                   /* answer with Connection: close */
	sp_tls_peer peer;
	sp_reqlog l;
} request;

static void
reply(request *rq, int code, const char *reason, const char *text, bool close)
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
	TRY(sp_cache_entry_new(s->cache, &id->mac, gen, defaults_only, body.p ? body.p : "",
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
	if (evcon != NULL) {
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
		reply(rq, 403, "Forbidden", "TLS required", true);
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
	char retry[32];
	uint32_t j = 0;

	if (uri != NULL && strlen(uri) > (size_t)rq->cfg->max_request_line) {
		reply(rq, 414, "URI Too Long", "request line too long", true);
		return false;
	}
	if (rq->cmd != EVHTTP_REQ_GET && rq->cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(rq->oh, "Allow", "GET, HEAD");
		reply(rq, 405, "Method Not Allowed", "only GET and HEAD", rq->close);
		return false;
	}
	if (rq->w->established <= rq->w->overload)
		return true;
	(void)RAND_bytes((unsigned char *)&j, sizeof(j));
	snprintf(retry, sizeof(retry), "%lld", (long long)(rq->cfg->retry_after +
	    (int64_t)(j % (uint32_t)rq->cfg->retry_after + 1)));
	evhttp_add_header(rq->oh, "Retry-After", retry);
	atomic_fetch_add(&rq->s->overloaded, 1);
	reply(rq, 503, "Service Unavailable", "overloaded, retry later", true);
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
		reply(rq, 403, "Forbidden", "certificate does not identify one device", true);
		return false;
	}
	sp_mac_format(&rq->peer.id.mac, SP_MAC_MA, rq->l.mac);
	snprintf(rq->l.serial, sizeof(rq->l.serial), "%s", rq->peer.id.serial);
	return true;
}

/* The path must be one of the configured templates, for this device. */
static bool
req_route(request *rq)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(rq->req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char q[600];
	size_t which;

	if (path == NULL || path[0] != '/') {
		reply(rq, 400, "Bad Request", "bad request target", true);
		return false;
	}
	rq->l.path = path;
#ifdef SPROV_TEST_TRIGGERS
	if (srv_test_trigger(path)) {
		reply(rq, 500, "Internal Server Error", "test trigger", true);
		return false;
	}
#endif
	switch (sp_route(rq->cfg->paths, rq->cfg->npaths, sp_slice_of(path), &rq->peer.id,
	    &which)) {
	case SP_ROUTE_NONE:
		reply(rq, 404, "Not Found", "not found", rq->close);
		return false;
	case SP_ROUTE_MISMATCH:
		sp_quote_field(sp_slice_mk(path, strnlen(path, 512)), q, sizeof(q));
		atomic_fetch_add(&rq->s->mismatches, 1);
		sp_warn("AUDIT identity mismatch: device mac=%s serial=%s cert=%s ip=%s "
		    "asked for \"%s\" (template %s)", rq->l.mac,
		    rq->l.serial[0] ? rq->l.serial : "-", rq->l.cert_serial, rq->l.ip, q,
		    rq->cfg->paths[which].src);
		rq->l.note = "identity-mismatch";
		reply(rq, 403, "Forbidden", "this path names another device", rq->close);
		return false;
	case SP_ROUTE_SELF:
		break;
	}
	return true;
}

/* The device's profile, from the cache or rendered; *e is then held. */
static bool
req_profile(request *rq, sp_cache_entry **e, bool *pending)
{
	uint64_t gen = 0;
	sp_result r = sp_store_generation(rq->w->store, &gen);

	if (sp_ok(r))
		*e = sp_cache_get(rq->s->cache, &rq->peer.id.mac, gen);
	if (sp_ok(r) && *e == NULL)
		r = render(rq->w, rq->cfg, &rq->peer.id, gen, e, pending);
	if (sp_failed(r)) {
		atomic_fetch_add(&rq->s->render_errors, 1);
		sp_err("serve: profile for %s failed: %s", rq->l.mac, sp_errmsg());
		reply(rq, 500, "Internal Server Error", "internal error", true);
		return false;
	}
	if (*e == NULL) {
		rq->l.note = "unknown-or-disabled";
		reply(rq, 404, "Not Found", "unknown device", rq->close);
		return false;
	}
	*pending = *pending || (*e)->defaults_only;
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
	if (inm != NULL && etag_matches(inm, e->etag)) {
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
	(void)sp_contacts_put(rq->s->contacts, &ct, (size_t)rq->cfg->contact_queue);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	request rq;
	sp_cache_entry *e = NULL;
	bool pending = false;

	req_begin(&rq, arg, req);
	if (req_tls_conn(&rq) && req_within_limits(&rq) && req_identify(&rq) &&
	    req_route(&rq) && req_profile(&rq, &e, &pending)) {
		send_profile(&rq, e);
		queue_contact(&rq, e, pending);
	}
	sp_accesslog_write(rq.s->access, &rq.l);
	srv_hist_observe(&rq.s->req_hist, sp_mono_ns() - rq.l.t0);
	if (rq.c != NULL && rq.c->state == CS_BUSY)
		conn_next_request(rq.c, rq.cfg);
	srv_cfg_release(rq.s);
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
	const sp_serve_config *cfg = srv_cfg_hold(w->s);
	int64_t ms = cfg->drain_timeout;

	srv_cfg_release(w->s);
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
	evhttp_set_bevcb(w->http, conn_bev_cb, w);
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
		/* sp_read_file's message names the file already. */
		TRY(sp_error_wrap(sp_read_file(config_path, SP_CFG_FILE_MAX, &text),
		    "config file"));
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
	t->handshakes_per_source = (unsigned)cfg->handshakes_per_source;
	t->backend = cfg->tls_backend;
}

/*
 * The TLS libraries say "Error while reading file" without naming it: open
 * each file here first so a missing or unreadable one is named.
 */
sp_result
srv_check_tls_files(const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	const char *what[] = { "server certificate", "server key", "client CA" };
	const char *file[] = { cfg->cert, cfg->key, cfg->client_ca };

	for (size_t i = 0; i < sizeof(file) / sizeof(file[0]); i++) {
		int fd;

		if (sp_token_is_uri(file[i]))
			continue; /* a key in a PKCS#11 token: the TLS layer names it */
		fd = open(file[i], O_RDONLY | O_CLOEXEC);
		ENSURE(fd >= 0, SP_E_IO, "%s %s: %s", what[i], file[i], strerror(errno));
		close(fd);
	}
out:
	return res;
}

sp_result
sp_serve_check(const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	char safe[SP_STORE_URI_MAX + 1];
	sp_tls_config t;
	struct sockaddr_storage ss;
	socklen_t len;
	sp_store *st = NULL;
	const char *uri;
	uint8_t etag_key[SP_ETAG_KEY_LEN];

	TRY(srv_check_tls_files(cfg));
	tls_cfg_of(cfg, &t);
	TRY(sp_error_wrap(sp_tls_config_check(&t), "TLS"));
	TRY(sp_etag_key_load(cfg->etag_key_file, etag_key));
	TRY(srv_addr_resolve("listen", cfg->listen, &ss, &len));
	if (cfg->admin[0] != '\0' && strcmp(cfg->admin, "off") != 0)
		TRY(srv_addr_resolve("admin", cfg->admin, &ss, &len));
	if (cfg->user[0] != '\0')
		ENSURE(getpwnam(cfg->user) != NULL, SP_E_USAGE, "no such user '%s'", cfg->user);
	uri = sp_store_uri_default(cfg->store[0] ? cfg->store : NULL);
	sp_store_uri_safe(uri, safe, sizeof(safe));   /* no password in messages */
	TRY(sp_error_wrap(sp_store_open(uri, &st), "store %s", safe));
out:
	OPENSSL_cleanse(etag_key, sizeof(etag_key));
	sp_store_close(st);
	return res;
}

/* For /metrics: the notAfter of the certificate just loaded. */
static void
note_cert(server *s, const char *path)
{
	X509 *c = NULL;
	int64_t nb = 0, na = 0;

	if (sp_ok(sp_cert_load(path, &c)) && sp_ok(sp_cert_dates(c, &nb, &na)))
		atomic_store(&s->cert_not_after, na);
	else
		sp_warn("serve: %s; sprov_server_cert_not_after_seconds not updated",
		    sp_errmsg());
	X509_free(c);
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
	t.keyproc = s->keyproc;
	r = sp_tls_server_load(s->tls, &t);
	if (sp_failed(r)) {
		sp_err("serve: reload refused, old configuration keeps serving: TLS: %s",
		    sp_errmsg());
		goto fail;
	}
	note_cert(s, nc->cert);
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
	srv_notify("READY=1\nSTATUS=configuration reloaded; serving");
	return;
fail:
	free(nc);
	atomic_fetch_add(&s->reload_failed, 1);
	srv_notify("READY=1\nSTATUS=reload refused, the old configuration keeps serving");
}

/* ---- main thread -------------------------------------------------------- */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	server *s = arg;

	if (sig == SIGHUP) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		srv_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		    (unsigned long long)ts.tv_sec * 1000000ull +
		    (unsigned long long)ts.tv_nsec / 1000u);
		sp_info("serve: SIGHUP: reloading certificate, key, CRL and configuration");
		reload(s);
		return;
	}
	if (sig == SIGUSR1) {
		if (sp_failed(sp_accesslog_reopen(s->access)))
			sp_err("serve: SIGUSR1: %s; logging on to the old file", sp_errmsg());
		else
			sp_info("serve: SIGUSR1: access log reopened");
		return;
	}
	if (atomic_exchange(&s->draining, true))
		return;
	srv_notify("STOPPING=1\nSTATUS=draining connections");
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
contacts_flush(server *s)
{
	sp_contacts_flush(s->contacts, s->store != NULL ? sp_contacts_store_sink : NULL,
	    s->store);
}

static void
on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
	contacts_flush(arg);
}

/* From the main loop: a stuck loop stops the pings and systemd notices. */
static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	srv_notify("WATCHDOG=1");
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
srv_serve(const char *config_path, const sp_serve_overrides *ov, const srv_handoff *h)
{
	sp_result res = SP_OK;
	server *s = NULL;
	sp_tls_config t;
	sp_tls_hooks hooks = { conn_hook_handshake_done, conn_hook_free };
	sigset_t block, old;
	const sp_serve_config *cfg;
	bool sigs_blocked = false;
	uint64_t wd_usec;
	uint8_t etag_key[SP_ETAG_KEY_LEN];
	char safe[SP_STORE_URI_MAX + 1];

	TRY_ALLOC(s, calloc(1, sizeof(*s)));
	pthread_rwlock_init(&s->cfg_mu, NULL);
	s->config_path = config_path;
	s->ov = ov;
	TRY(sp_contacts_new(&s->contacts));
	TRY_ALLOC(s->cfg, malloc(sizeof(*s->cfg)));
	TRY(sp_serve_config_load(config_path, ov, s->cfg));
	cfg = s->cfg;
	s->keyproc = h->keyproc;
	s->restarts = h->restarts;
	snprintf(s->store_uri, sizeof(s->store_uri), "%s",
	    sp_store_uri_default(cfg->store[0] ? cfg->store : NULL));
	if (cfg->log == SP_LOGTO_SYSLOG)
		sp_log_set_syslog(true, "sprov-serve");
	else if (cfg->log == SP_LOGTO_JOURNAL)
		sp_log_set_journal(true, "sprov-serve");
	ENSURE(evthread_use_pthreads() == 0, SP_E_INTERNAL, "libevent threads");
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	/* The parent's count: its sockets and key channels were made for that many. */
	s->nworkers = h->nlisten;
	TRY(sp_tls_server_new(cfg->tls_backend, &hooks, &s->tls));
	tls_cfg_of(cfg, &t);
	t.keyproc = s->keyproc;
	TRY(sp_error_wrap(sp_tls_server_load(s->tls, &t), "TLS"));
	note_cert(s, cfg->cert);
	TRY(sp_etag_key_load(cfg->etag_key_file, etag_key));
	TRY(sp_cache_new(SP_CACHE_MAX_DEFAULT, etag_key, &s->cache));

	TRY_ALLOC(s->w, calloc((size_t)s->nworkers, sizeof(*s->w)));
	for (int i = 0; i < s->nworkers; i++)
		s->w[i].fd = -1;
	for (int i = 0; i < s->nworkers; i++) {
		s->w[i].s = s;
		s->w[i].id = i;
		s->w[i].fd = h->listen_fds[i];
	}
	TRY_ALLOC(s->base, event_base_new());
	if (h->admin_fd >= 0)
		TRY(srv_admin_start(s, cfg->admin, h->admin_fd));
	TRY(sp_accesslog_open(cfg->access_log, cfg->access_log_format == SP_ALOG_JSON,
	    &s->access));
	if (cfg->user[0] != '\0')
		TRY(drop_privileges(cfg->user));

	sp_store_uri_safe(s->store_uri, safe, sizeof(safe));   /* no password */
	TRY(sp_error_wrap(sp_store_open(s->store_uri, &s->store), "store %s", safe));
	for (int i = 0; i < s->nworkers; i++)
		TRY(worker_setup(s, &s->w[i], cfg));

	TRY_ALLOC(s->ev_hup, evsignal_new(s->base, SIGHUP, on_signal, s));
	TRY_ALLOC(s->ev_term, evsignal_new(s->base, SIGTERM, on_signal, s));
	TRY_ALLOC(s->ev_int, evsignal_new(s->base, SIGINT, on_signal, s));
	TRY_ALLOC(s->ev_usr1, evsignal_new(s->base, SIGUSR1, on_signal, s));
	event_add(s->ev_hup, NULL);
	event_add(s->ev_term, NULL);
	event_add(s->ev_int, NULL);
	event_add(s->ev_usr1, NULL);
	if ((wd_usec = srv_watchdog_usec()) > 0)
		TRY_ALLOC(s->ev_watchdog, add_timer(s, on_watchdog,
		    wd_usec / 2000 > 0 ? (int64_t)(wd_usec / 2000) : 1));
	TRY_ALLOC(s->ev_crl, add_timer(s, on_crl_timer, cfg->crl_poll * 1000));
	TRY_ALLOC(s->ev_flush, add_timer(s, on_flush_timer, cfg->contact_flush));
	TRY_ALLOC(s->ev_tick, add_timer(s, on_tick, SRV_TICKET_CHECK_S * 1000));

	/* Workers never take the process signals: the main loop does. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigs_blocked = true;
	for (int i = 0; i < s->nworkers; i++) {
		ENSURE(pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) == 0,
		    SP_E_INTERNAL, "cannot start worker thread");
		s->w[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigs_blocked = false;
	/* Every thread runs: from here on, only what serving needs (sandbox.c). */
	if (cfg->sandbox)
		TRY(srv_sandbox());
	sp_info("serve: listening on %s with %d worker thread(s), admin %s, store %s",
	    cfg->listen, s->nworkers, s->admin ? cfg->admin : "off", safe);
	/* READY=1 once per service: a restarted serving process only says so. */
	if (h->restarts == 0)
		srv_notify("READY=1\nSTATUS=listening on %s with %d worker thread(s)",
		    cfg->listen, s->nworkers);
	else
		srv_notify("STATUS=listening on %s again (restart %llu)", cfg->listen,
		    (unsigned long long)h->restarts);
	if (h->ready_fd >= 0)
		(void)!write(h->ready_fd, "r", 1);

	event_base_dispatch(s->base);
	/* Drain: wait for the workers to finish their connections. */
	for (int i = 0; i < s->nworkers; i++) {
		if (s->w[i].started) {
			pthread_join(s->w[i].th, NULL);
			s->w[i].started = false;
		}
	}
	contacts_flush(s);
	sp_info("serve: stopped");
out:
	OPENSSL_cleanse(etag_key, sizeof(etag_key));
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
		srv_admin_free(s);
		if (s->ev_hup)
			event_free(s->ev_hup);
		if (s->ev_term)
			event_free(s->ev_term);
		if (s->ev_int)
			event_free(s->ev_int);
		if (s->ev_usr1)
			event_free(s->ev_usr1);
		if (s->ev_watchdog)
			event_free(s->ev_watchdog);
		if (s->ev_crl)
			event_free(s->ev_crl);
		if (s->ev_flush)
			event_free(s->ev_flush);
		if (s->ev_tick)
			event_free(s->ev_tick);
		if (s->base)
			event_base_free(s->base);
		sp_accesslog_close(s->access);
		sp_store_close(s->store);
		sp_cache_free(s->cache);
		sp_tls_server_free(s->tls);
		sp_keyproc_free(s->keyproc);
		sp_contacts_free(s->contacts);
		free(s->cfg);
		pthread_rwlock_destroy(&s->cfg_mu);
		free(s);
	}
	return res;
}
