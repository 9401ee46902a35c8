/*
 * Inside `sprov serve`: the server and worker structures its files share
 * (request.c: one request; server.c: workers, main thread; conn.c:
 * connections; admin.c: metrics and the admin listener).  Not for other modules.
 *
 * One server per process: the TLS hooks reach it through conn->w->s.
 */
#ifndef SPROV_SERVER_SRV_H
#define SPROV_SERVER_SRV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>

#include "server/accesslog.h"
#include "server/cache.h"
#include "server/cluster.h"
#include "server/contacts.h"
#include "server/server.h"
#include "store/store.h"
#include "tls/tls.h"

#define SRV_N_STATUS 11 /* status codes counted for /metrics (admin.c) */

#define SRV_HIST_BUCKETS 12 /* latency histograms (admin.c) */

/* A Prometheus histogram: per-bucket counts (the last: +Inf) and the sum. */
typedef struct srv_hist {
	atomic_uint_fast64_t n[SRV_HIST_BUCKETS + 1];
	atomic_uint_fast64_t sum_ns;
} srv_hist;
void srv_hist_observe(srv_hist *h, uint64_t ns);

typedef struct server server;
typedef struct worker worker;
struct conn;
struct srv_job;
struct srv_store_thread;
STAILQ_HEAD(srv_jobq, srv_job);

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
	struct event *done_ev;           /* the store thread finished jobs */
	pthread_mutex_t done_mu;
	struct srv_jobq done;            /* those jobs, under done_mu */
	int64_t open, max_open;
	int64_t established, overload; /* past the handshake; 503 above overload */
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
	struct sp_keyproc *keyproc;      /* NULL: key-process = off */
	sp_cache *cache;
	sp_cluster *cluster;             /* cluster secrets, store CRLs (cluster.h) */
	struct srv_store_thread *storeth; /* the only caller of sp_store_* */
	/* Published by the store thread (storethread.c), read by the workers. */
	atomic_uint_fast64_t gen;        /* store generation last read */
	atomic_bool gen_known;           /* gen was read at least once */
	atomic_bool store_up;            /* the store answered its last call */
	atomic_uint_fast64_t unavailable; /* cache misses answered 503: store down */
	worker *w;
	int nworkers;
	struct event_base *base;
	struct evhttp *admin;
	sp_tls_server *admin_tls;        /* NULL: admin listener on loopback, plain HTTP */
	struct event *ev_hup, *ev_term, *ev_int, *ev_crl, *ev_tick;
	struct event *ev_usr1, *ev_watchdog;
	struct event *ev_keylost;       /* the key process' channels are all gone */
	bool keylost;
	sp_accesslog *access;
	sp_contacts *contacts;
	struct srv_failures *failures;   /* why devices are refused (failures.h) */
	atomic_bool draining;

	atomic_uint_fast64_t st[SRV_N_STATUS + 1]; /* the last: any other status */
	atomic_uint_fast64_t renders, render_errors, render_ns, db_errors;
	atomic_uint_fast64_t timeouts[4], rewritten_413; /* CS_DEADLINES */
	atomic_uint_fast64_t identity_refused, mismatches, overloaded;
	atomic_uint_fast64_t reload_ok, reload_failed;
	atomic_uint_fast64_t proxy_refused;  /* proxy-from peers without a valid header */
	atomic_uint_fast64_t proxy_log_ns, proxy_unlogged; /* one line a second (conn.c) */
	atomic_int_fast64_t open_total;
	srv_hist req_hist, hs_hist;          /* request, TLS handshake latency */
	atomic_int_fast64_t cert_not_after;  /* server certificate in force; 0 unknown */
	/* The admin listener's extension (sp_serve_admin_route, ext.c); main thread only. */
	void (*admin_ext)(void *arg, struct evhttp_request *req);
	void *admin_ext_arg;
	uint64_t restarts;                   /* serving processes started before this one */
	int64_t started;                     /* unix time this serving process started */
};

/*
 * What the supervising parent (supervise.c) hands a serving process it
 * forked: the key process' channels, the sockets it bound while
 * privileged, the restart count.  The serving process owns them from then.
 */
typedef struct srv_handoff {
	struct sp_keyproc *keyproc;  /* NULL: key-process = off, or a token key */
	const int *listen_fds;       /* nlisten listening sockets */
	int nlisten;
	int admin_fd;                /* -1: admin = off */
	uint64_t restarts;
	int ready_fd;                /* one byte once it listens; -1: none */
} srv_handoff;

/* server.c: each TLS file opens (named if not); tokens are the TLS layer's. */
SP_MUST_CHECK sp_result srv_check_tls_files(const sp_serve_config *cfg);
/* server.c: the serving process, until SIGTERM/SIGINT (then drain, SP_OK). */
SP_MUST_CHECK sp_result srv_serve(const char *config_path, const sp_serve_overrides *ov,
    const srv_handoff *h);

/* request.c: evhttp's callback for every request on a worker (arg: worker). */
void srv_on_request(struct evhttp_request *req, void *arg);
/* request.c: connection c is going away; its waiting request is never answered. */
void srv_request_orphan(struct conn *c);

/* The configuration in force, read-locked until srv_cfg_release (server.c). */
const sp_serve_config *srv_cfg_hold(server *s);
void srv_cfg_release(server *s);

/*
 * listen.c.  HOST:PORT, [V6]:PORT or NAME:PORT (resolved now, first
 * address) into *ss; messages start with "<what> address '<addr>'".
 */
SP_MUST_CHECK sp_result srv_addr_resolve(const char *what, const char *addr,
    struct sockaddr_storage *ss, socklen_t *len);
/* Refused when another socket already listens on addr (no SO_REUSEPORT). */
SP_MUST_CHECK sp_result srv_listen_probe(const char *addr);
/* notify.c: one sd_notify message (no-op outside systemd). */
void srv_notify(const char *fmt, ...) SP_PRINTF(1, 2);
/* notify.c: WATCHDOG_USEC if the watchdog is on for us, else 0. */
uint64_t srv_watchdog_usec(void);

/* sandbox.c: the serving process' seccomp allow-list, on every thread. */
SP_MUST_CHECK sp_result srv_sandbox(void);
/*
 * sandbox.c: no way into the key process' memory whatever the uid (no
 * CAP_SYS_PTRACE, for good), and not dumpable itself.  Before any thread.
 */
SP_MUST_CHECK sp_result srv_harden(void);
#ifdef SPROV_TEST_TRIGGERS
/* sandbox.c, test builds only: true if path was the trigger (and it fired). */
bool srv_test_trigger(const char *path);
#endif

/* A listening socket on addr, or -1 with *res set. */
int srv_listen(const char *what, const char *addr, bool reuseport, sp_result *res);

#endif
