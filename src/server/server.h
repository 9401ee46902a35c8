/*
 * `sprov serve`: the provisioning server.
 *
 * Threads, not processes: every worker thread runs its own event_base and
 * evhttp on its own SO_REUSEPORT listening socket (the kernel spreads
 * connections), while the TLS configuration, ticket keys, render cache and
 * counters are shared in memory.  A reload is a pointer swap; a process
 * model would need the ticket keys and cache in shared memory.  The main
 * thread runs signals, timers (CRL poll, ticket rotation, contact flush)
 * and the admin listener.  See docs/SERVER.md.
 */
#ifndef SPROV_SERVER_SERVER_H
#define SPROV_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "server/config.h"

#define SP_CLI_OVERRIDES_MAX 64

/* Settings given on the command line: re-applied over the file on SIGHUP. */
typedef struct sp_serve_overrides {
	const char *key[SP_CLI_OVERRIDES_MAX];
	const char *value[SP_CLI_OVERRIDES_MAX];
	size_t n;
} sp_serve_overrides;

/*
 * Build the full configuration: defaults, then the file (if any), then the
 * overrides, then sp_serve_config_finish.
 */
SP_MUST_CHECK sp_result sp_serve_config_load(const char *config_path,
    const sp_serve_overrides *ov, sp_serve_config *out);

/* Everything --check-config checks: settings, TLS files, addresses, user, store. */
SP_MUST_CHECK sp_result sp_serve_check(const sp_serve_config *cfg);

/*
 * An extension of the serving process: the operator console (src/console),
 * wired in by cmd_serve.c, since the server includes no console header.
 * init runs once in each serving process, on the main thread, after the
 * store thread has started and before the workers, the sandbox and the
 * first request; it may call sp_serve_admin_route (below) and keep s.  Its
 * failure stops the server with that message.  fini (may be NULL) runs on
 * the main thread when the server stops, before s is freed.
 */
struct server;
typedef struct sp_serve_ext {
	sp_result (*init)(void *arg, struct server *s);
	void (*fini)(void *arg, struct server *s);
	void *arg;
} sp_serve_ext;

/* Register the extension (copied) before sp_serve_run; NULL: none. */
void sp_serve_set_ext(const sp_serve_ext *ext);

/*
 * What an extension may ask of the serving process s it was given
 * (ext.c); the server's internals stay in srv.h.  Main thread only,
 * except sp_serve_profile_etag (any thread with its own store handle).
 */
struct evhttp_request;
struct sp_store;
struct sp_mac;
struct sp_tls_crl_info;

/*
 * The admin listener hands every path it does not serve itself (/healthz,
 * /metrics) to fn(arg, req), which answers it.  fn NULL: 404 again.
 */
typedef void (*sp_serve_admin_fn)(void *arg, struct evhttp_request *req);
void sp_serve_admin_route(struct server *s, sp_serve_admin_fn fn, void *arg);
/* The admin listener speaks TLS (it is off loopback: server/admin.c). */
bool sp_serve_admin_tls(const struct server *s);
/* The store the server was started with (a URI: store/store.h). */
const char *sp_serve_store_uri(const struct server *s);
/* node-name in force, into out (SP_NODE_NAME_MAX + 1 bytes). */
void sp_serve_node_name(struct server *s, char out[SP_NODE_NAME_MAX + 1]);
/* Expiry of the server certificate in force (unix time); 0: not known. */
int64_t sp_serve_cert_not_after(struct server *s);
/* The device CRLs in force, at most max of them; their count. */
size_t sp_serve_crls(struct server *s, struct sp_tls_crl_info *v, size_t max);
/*
 * The ETag mac would be served now (server/render.h srv_profile_etag);
 * *found false when the device would get a 404.  etag: SP_ETAG_MAX + 1.
 */
SP_MUST_CHECK sp_result sp_serve_profile_etag(struct server *s, struct sp_store *st,
    const struct sp_mac *mac, char *etag, bool *found);

/* Run until SIGTERM/SIGINT (then drain and return SP_OK). */
SP_MUST_CHECK sp_result sp_serve_run(const char *config_path,
    const sp_serve_overrides *ov);

#endif
