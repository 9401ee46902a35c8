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
 * first request; it may call srv_admin_set_ext (srv.h) and keep s.  Its
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

/* Run until SIGTERM/SIGINT (then drain and return SP_OK). */
SP_MUST_CHECK sp_result sp_serve_run(const char *config_path,
    const sp_serve_overrides *ov);

#endif
