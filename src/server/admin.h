/*
 * The admin listener of `sprov serve` (plain HTTP on loopback; TLS with the
 * server certificate, no client certificate, on any other address):
 * GET /healthz ("ok", or 503 "draining") and GET /metrics (Prometheus
 * text); every other path goes to the extension registered with
 * srv_admin_set_ext (the console).  Runs on the main thread's event base.
 */
#ifndef SPROV_SERVER_ADMIN_H
#define SPROV_SERVER_ADMIN_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/result.h"
#include "server/srv.h"

/* Count an answer with this status for /metrics.  Thread-safe. */
void srv_count_status(server *s, int code);

/*
 * Serve the admin paths from s->base on fd (bound by the supervising
 * parent), or with fd -1 on a socket bound to addr now (sets s->admin).
 * Off loopback, over TLS (s->admin_tls) with the certificate and key of
 * tls (the device listener's; its client certificate settings unused).
 */
SP_MUST_CHECK sp_result srv_admin_start(server *s, const char *addr, int fd,
    const sp_tls_config *tls);
/* A reload (SIGHUP): the admin listener's TLS takes tls's certificate too. */
SP_MUST_CHECK sp_result srv_admin_tls_load(server *s, const sp_tls_config *tls);
void srv_admin_free(server *s); /* NULL-safe */

/*
 * Is addr (host:port, [v6]:port, or a bare host) a loopback address:
 * 127.0.0.0/8, ::1 or "localhost"?  Elsewhere the admin listener speaks
 * TLS (docs/CONSOLE.md "Access").
 */
bool srv_admin_addr_loopback(const char *addr);

/* The /metrics text, appended to b. */
SP_MUST_CHECK sp_result srv_metrics_text(server *s, sp_buf *b);

#endif
