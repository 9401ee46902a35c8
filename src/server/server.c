/*
 * `sprov serve`: workers and the main thread (signals, timers, reload,
 * privilege drop).
 *
 * The other parts live beside it: request.c (one request), conn.c
 * (connection states, deadlines and the 414/431 rewrite), contacts.c (the
 * write-behind contact queue), accesslog.c, and admin.c (/metrics,
 * /healthz).  srv.h holds the
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
#include "server/failures.h"
#include "server/srv.h"
#include "server/storethread.h"
#include "server/template.h"
#include "store/store.h"
#include "tls/tls.h"

/* The extension (sp_serve_set_ext): set before the serving process forks. */
static sp_serve_ext serve_ext;

void
sp_serve_set_ext(const sp_serve_ext *ext)
{
	if (ext != NULL)
		serve_ext = *ext;
	else
		memset(&serve_ext, 0, sizeof(serve_ext));
}

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
	STAILQ_INIT(&w->done);
	ENSURE(pthread_mutex_init(&w->done_mu, NULL) == 0, SP_E_INTERNAL, "worker lock");
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
	evhttp_set_gencb(w->http, srv_on_request, w);
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
	TRY_ALLOC(w->done_ev, event_new(w->base, -1, 0, srv_jobs_done, w));
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
	srv_jobs_discard(w);
	if (w->done_ev)
		event_free(w->done_ev);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->bound == NULL && w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->done_mu);
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
	t->identity = cfg->identity;
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
	sp_cluster *cl = NULL;

	TRY(srv_check_tls_files(cfg));
	tls_cfg_of(cfg, &t);
	TRY(sp_error_wrap(sp_tls_config_check(&t), "TLS"));
	TRY(sp_etag_key_load(cfg->etag_key_file, etag_key));
	TRY(sp_cluster_new(&(sp_cluster_config){ cfg->cluster_key_file, cfg->ticket_rotate,
	    cfg->crl_poll, cfg->crl, cfg->crl_from_store }, &cl));
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
	sp_cluster_free(cl);
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
	/* The device listener's is in force: only the admin listener keeps the old. */
	if (sp_failed(srv_admin_tls_load(s, &t)))
		sp_err("serve: %s; the admin listener keeps its old certificate",
		    sp_errmsg());
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

static void drain(server *s);

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
	drain(s);
}

/* Every worker finishes its connections; then the main loop ends. */
static void
drain(server *s)
{
	for (int i = 0; i < s->nworkers; i++)
		if (s->w[i].started)
			event_active(s->w[i].stop_ev, 0, 0);
	/* The main loop ends when the workers are joined (see sp_serve_run). */
	event_base_loopexit(s->base, NULL);
}

/*
 * No channel to the key process is left (sp_keyproc_on_lost, from a
 * worker): no full handshake can be signed.  Drain, and exit so that the
 * supervisor starts a serving process with fresh channels; the service
 * does not stop.
 */
static void
keylost_hook(void *arg)
{
	server *s = arg;

	event_active(s->ev_keylost, 0, 0);
}

static void
on_keylost(evutil_socket_t fd, short what, void *arg)
{
	server *s = arg;

	if (atomic_exchange(&s->draining, true))
		return;
	s->keylost = true;
	srv_notify("STATUS=no channel to the key process left; restarting the serving process");
	sp_err("serve: no channel to the key process is left; draining, then a new serving "
	    "process takes fresh ones");
	drain(s);
}

static void
on_crl_timer(evutil_socket_t fd, short what, void *arg)
{
	server *s = arg;
	bool reloaded = false;

	/* The store thread keeps the file of a crl-from-store CRL current. */
	if (sp_failed(sp_tls_server_poll_crl(s->tls, &reloaded)))
		sp_err("serve: %s; the previous CRL stays in force", sp_errmsg());
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
	sp_tls_hooks hooks = { conn_hook_handshake_done, conn_hook_free, conn_hook_refused };
	sigset_t block, old;
	const sp_serve_config *cfg;
	bool sigs_blocked = false;
	uint64_t wd_usec;
	uint8_t etag_key[SP_ETAG_KEY_LEN];
	char safe[SP_STORE_URI_MAX + 1];
	bool etag_set = false, ext_started = false;
	sp_store *store = NULL;
	sp_result r;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		sp_keyproc_free(h->keyproc); /* handed to us: ours to free */
		return sp_error(SP_E_NOMEM, "out of memory");
	}
	/* Ours from here on every path, the early failures included. */
	s->keyproc = h->keyproc;
	pthread_rwlock_init(&s->cfg_mu, NULL);
	s->config_path = config_path;
	s->ov = ov;
	TRY(sp_contacts_new(&s->contacts));
	TRY(srv_failures_new(SRV_FAIL_KEYS_MAX, &s->failures));
	TRY_ALLOC(s->cfg, malloc(sizeof(*s->cfg)));
	TRY(sp_serve_config_load(config_path, ov, s->cfg));
	cfg = s->cfg;
	s->restarts = h->restarts;
	s->started = sp_now();
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
	TRY(sp_cluster_new(&(sp_cluster_config){ cfg->cluster_key_file, cfg->ticket_rotate,
	    cfg->crl_poll, cfg->crl, cfg->crl_from_store }, &s->cluster));
	TRY(sp_cluster_start(s->cluster, s->store_uri, s->tls, cfg->etag_key_file[0] == '\0',
	    etag_key, &etag_set));
	tls_cfg_of(cfg, &t);
	t.keyproc = s->keyproc;
	TRY(sp_error_wrap(sp_tls_server_load(s->tls, &t), "TLS"));
	note_cert(s, cfg->cert);
	if (!etag_set)
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
		TRY(srv_admin_start(s, cfg->admin, h->admin_fd, &t));
	TRY(sp_accesslog_open(cfg->access_log, cfg->access_log_format == SP_ALOG_JSON,
	    &s->access));
	if (cfg->user[0] != '\0')
		TRY(drop_privileges(cfg->user));
	TRY(srv_harden());

	sp_store_uri_safe(s->store_uri, safe, sizeof(safe));   /* no password */
	r = sp_store_open(s->store_uri, &store);
	/* A database server may come back: serve (503 until then) and retry. */
	if (sp_failed(r) && r.code == SP_E_DB && strncmp(s->store_uri, "postgres", 8) == 0)
		sp_err("serve: store %s: %s; starting without it, retrying", safe,
		    sp_errmsg());
	else if (sp_failed(r))
		TRY(sp_error_wrap(r, "store %s", safe));
	for (int i = 0; i < s->nworkers; i++)
		TRY(worker_setup(s, &s->w[i], cfg));
	TRY(srv_store_start(s, &store));
	if (serve_ext.init != NULL) {
		TRY(serve_ext.init(serve_ext.arg, s));
		ext_started = true;
	}

	TRY_ALLOC(s->ev_hup, evsignal_new(s->base, SIGHUP, on_signal, s));
	TRY_ALLOC(s->ev_term, evsignal_new(s->base, SIGTERM, on_signal, s));
	TRY_ALLOC(s->ev_int, evsignal_new(s->base, SIGINT, on_signal, s));
	TRY_ALLOC(s->ev_usr1, evsignal_new(s->base, SIGUSR1, on_signal, s));
	TRY_ALLOC(s->ev_keylost, event_new(s->base, -1, 0, on_keylost, s));
	if (s->keyproc != NULL)
		sp_keyproc_on_lost(s->keyproc, keylost_hook, s);
	event_add(s->ev_hup, NULL);
	event_add(s->ev_term, NULL);
	event_add(s->ev_int, NULL);
	event_add(s->ev_usr1, NULL);
	if ((wd_usec = srv_watchdog_usec()) > 0)
		TRY_ALLOC(s->ev_watchdog, add_timer(s, on_watchdog,
		    wd_usec / 2000 > 0 ? (int64_t)(wd_usec / 2000) : 1));
	TRY_ALLOC(s->ev_crl, add_timer(s, on_crl_timer, cfg->crl_poll * 1000));
	TRY_ALLOC(s->ev_tick, add_timer(s, on_tick, SRV_TICKET_CHECK_S * 1000));

	/* Workers never take the process signals: the main loop does. */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigs_blocked = true;
	/*
	 * From here on, only what serving needs (sandbox.c): on the threads
	 * that run (TSYNC), and on the workers, which inherit it, before the
	 * first connection they accept (a restarted serving process finds
	 * connections queued on the listening socket).
	 */
	if (cfg->sandbox)
		TRY(srv_sandbox());
	for (int i = 0; i < s->nworkers; i++) {
		ENSURE(pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) == 0,
		    SP_E_INTERNAL, "cannot start worker thread");
		s->w[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sigs_blocked = false;
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
	srv_store_stop(s);   /* writes the contact queue, or spills it */
	sp_info("serve: stopped");
	ENSURE(!s->keylost, SP_E_IO, "key process: every channel failed; a new serving "
	    "process takes fresh ones");
out:
	OPENSSL_cleanse(etag_key, sizeof(etag_key));
	if (sigs_blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (s != NULL) {
		for (int i = 0; s->w != NULL && i < s->nworkers; i++) {
			if (s->w[i].started) {
				event_active(s->w[i].stop_ev, 0, 0);
				pthread_join(s->w[i].th, NULL);
			}
		}
		srv_store_stop(s);
		if (ext_started && serve_ext.fini != NULL)
			serve_ext.fini(serve_ext.arg, s);
		s->admin_ext = NULL;
		for (int i = 0; s->w != NULL && i < s->nworkers; i++)
			worker_free(&s->w[i]);
		free(s->w);
		srv_admin_free(s);
		if (s->ev_hup)
			event_free(s->ev_hup);
		if (s->ev_term)
			event_free(s->ev_term);
		if (s->ev_int)
			event_free(s->ev_int);
		if (s->ev_usr1)
			event_free(s->ev_usr1);
		if (s->ev_keylost)
			event_free(s->ev_keylost);
		if (s->ev_watchdog)
			event_free(s->ev_watchdog);
		if (s->ev_crl)
			event_free(s->ev_crl);
		if (s->ev_tick)
			event_free(s->ev_tick);
		if (s->base)
			event_base_free(s->base);
		sp_accesslog_close(s->access);
		sp_store_close(store);
		sp_cache_free(s->cache);
		sp_cluster_free(s->cluster);
		sp_tls_server_free(s->tls);
		sp_keyproc_free(s->keyproc);
		sp_contacts_free(s->contacts);
		srv_failures_free(s->failures);
		free(s->cfg);
		pthread_rwlock_destroy(&s->cfg_mu);
		free(s);
	}
	return res;
}
