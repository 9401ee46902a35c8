/*
 * Metrics, health and the admin listener (server/admin.h).
 */
#include "server/admin.h"

#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#define ADMIN_MAX_HEADERS 8192
#define ADMIN_TIMEOUT_S 10
#define ADMIN_BODY_MAX (1024 * 1024)

/* Status codes counted for /metrics; anything else is "other". */
static const int counted_status[] = { 200, 304, 400, 403, 404, 405, 413, 414,
	431, 500, 503 };
_Static_assert(sizeof(counted_status) / sizeof(counted_status[0]) == SRV_N_STATUS,
    "SRV_N_STATUS counts counted_status");

void
srv_count_status(server *s, int code)
{
	size_t i;

	for (i = 0; i < SRV_N_STATUS; i++)
		if (counted_status[i] == code)
			break;
	atomic_fetch_add(&s->st[i], 1);
}

sp_result
srv_metrics_text(server *s, sp_buf *b)
{
	sp_result res = SP_OK;
	sp_cache_stats cs;
	sp_contacts_stats qs;

	TRY(sp_buf_append_str(b,
	    "# HELP sprov_requests_total HTTP requests by status.\n"
	    "# TYPE sprov_requests_total counter\n"));
	for (size_t i = 0; i <= SRV_N_STATUS; i++) {
		if (i < SRV_N_STATUS)
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"%d\"} %llu\n",
			    counted_status[i], (unsigned long long)atomic_load(&s->st[i])));
		else
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"other\"} %llu\n",
			    (unsigned long long)atomic_load(&s->st[i])));
	}
	sp_cache_stats_get(s->cache, &cs);
	sp_contacts_stats_get(s->contacts, &qs);
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
	    (unsigned long long)atomic_load(&s->timeouts[2]), qs.queued,
	    (unsigned long long)qs.written,
	    (unsigned long long)qs.dropped,
	    (unsigned long long)qs.failed,
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

	sp_buf_init(&b, ADMIN_BODY_MAX);
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
	} else if (strcmp(path, "/metrics") == 0 && sp_ok(srv_metrics_text(s, &b))) {
		evhttp_add_header(oh, "Content-Type", "text/plain; version=0.0.4");
		evbuffer_add(out, b.p, b.len);
		evhttp_send_reply(req, 200, "OK", out);
	} else {
		evhttp_send_reply(req, 404, "Not Found", NULL);
	}
	evbuffer_free(out);
	sp_buf_free(&b);
}

sp_result
srv_admin_start(server *s, const char *addr)
{
	sp_result res = SP_OK;
	int fd = srv_listen("admin", addr, false, &res);

	if (fd < 0)
		goto out;
	TRY_ALLOC(s->admin, evhttp_new(s->base));
	evhttp_set_gencb(s->admin, on_admin, s);
	evhttp_set_max_headers_size(s->admin, ADMIN_MAX_HEADERS);
	evhttp_set_timeout(s->admin, ADMIN_TIMEOUT_S);
	ENSURE(evhttp_accept_socket_with_handle(s->admin, fd) != NULL, SP_E_IO,
	    "admin listener on %s", addr);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return res;
}

void
srv_admin_free(server *s)
{
	if (s->admin != NULL)
		evhttp_free(s->admin);
	s->admin = NULL;
}
