/*
 * The admin listener of `sprov serve` (plain HTTP, meant for localhost or
 * a management network): GET /healthz ("ok", or 503 "draining") and
 * GET /metrics (Prometheus text).  Runs on the main thread's event base.
 */
#ifndef SPROV_SERVER_ADMIN_H
#define SPROV_SERVER_ADMIN_H

#include "common/buf.h"
#include "common/result.h"
#include "server/srv.h"

/* Count an answer with this status for /metrics.  Thread-safe. */
void srv_count_status(server *s, int code);

/*
 * Serve the admin paths from s->base on fd (bound by the supervising
 * parent), or with fd -1 on a socket bound to addr now (sets s->admin).
 */
SP_MUST_CHECK sp_result srv_admin_start(server *s, const char *addr, int fd);
void srv_admin_free(server *s); /* NULL-safe */

/* The /metrics text, appended to b. */
SP_MUST_CHECK sp_result srv_metrics_text(server *s, sp_buf *b);

#endif
