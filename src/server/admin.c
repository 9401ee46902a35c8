/*
 * Metrics, health and the admin listener (server/admin.h).
 */
#include "server/admin.h"
#include "server/failures.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "common/version.h"

#define ADMIN_MAX_HEADERS 8192
#define ADMIN_TIMEOUT_S 10
#define ADMIN_BODY_MAX (1024 * 1024)      /* /metrics text */
#define ADMIN_REQ_BODY_MAX (128 * 1024)   /* request bodies (the console: 64 KiB) */
#define ADMIN_CRLS_MAX 64

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

/*
 * Every family the server itself exports (the TLS module adds its own,
 * sprov_tls_* and sprov_crl_*), with its HELP and TYPE: the one list, which
 * docs/SERVER.md's table must match (tests/integration/serve_metrics.sh).
 */
typedef enum {
	F_BUILD, F_CERT_NOT_AFTER, F_CRL_NEXT_UPDATE, F_CRL_NUMBER, F_REQUESTS, F_REQUEST_SECONDS, F_HANDSHAKE_SECONDS,
	F_OPEN, F_CACHE_HITS, F_CACHE_MISSES, F_CACHE_ENTRIES, F_CACHE_BYTES,
	F_CACHE_FLUSHES, F_RENDERS, F_RENDER_ERRORS, F_RENDER_SECONDS, F_ID_REFUSED,
	F_ID_MISMATCH, F_OVERLOAD, F_HS_PER_SOURCE, F_PROXY_REFUSED, F_REWRITTEN, F_TIMEOUTS, F_CONTACT_QUEUE,
	F_CONTACTS_WRITTEN, F_CONTACTS_DROPPED, F_CONTACTS_FAILED, F_NOTIFY_RECONNECTS,
	F_STORE_UP, F_UNAVAILABLE,
	F_RELOADS, F_RESTARTS, F_N
} family_id;

static const struct family {
	const char *name, *type, *help;
} families[F_N] = {
	[F_BUILD] = { "sprov_build_info", "gauge",
	    "Version of sprov and of the libraries in use (value 1)." },
	[F_CERT_NOT_AFTER] = { "sprov_server_cert_not_after_seconds", "gauge",
	    "notAfter of the server certificate in force (Unix time)." },
	[F_CRL_NEXT_UPDATE] = { "sprov_crl_next_update_timestamp_seconds", "gauge",
	    "nextUpdate of each CRL in force, by issuer CN (Unix time)." },
	[F_CRL_NUMBER] = { "sprov_crl_number", "gauge",
	    "crlNumber of each CRL in force, by issuer CN." },
	[F_REQUESTS] = { "sprov_requests_total", "counter", "HTTP requests by status." },
	[F_REQUEST_SECONDS] = { "sprov_request_duration_seconds", "histogram",
	    "Request arrival to answer queued." },
	[F_HANDSHAKE_SECONDS] = { "sprov_tls_handshake_duration_seconds", "histogram",
	    "Connection accepted to TLS handshake done." },
	[F_OPEN] = { "sprov_open_connections", "gauge", "Open device connections." },
	[F_CACHE_HITS] = { "sprov_cache_hits_total", "counter", "Profiles served from the cache." },
	[F_CACHE_MISSES] = { "sprov_cache_misses_total", "counter", "Profile cache misses." },
	[F_CACHE_ENTRIES] = { "sprov_cache_entries", "gauge", "Profiles in the cache." },
	[F_CACHE_BYTES] = { "sprov_cache_bytes", "gauge", "Bytes of profiles in the cache." },
	[F_CACHE_FLUSHES] = { "sprov_cache_flushes_total", "counter",
	    "Times the cache was emptied at its size limit." },
	[F_RENDERS] = { "sprov_renders_total", "counter", "Profiles rendered from the store." },
	[F_RENDER_ERRORS] = { "sprov_render_errors_total", "counter",
	    "Profile renders that failed (500)." },
	[F_RENDER_SECONDS] = { "sprov_render_seconds_total", "counter",
	    "Time spent rendering profiles." },
	[F_ID_REFUSED] = { "sprov_identity_refused_total", "counter",
	    "Certificates that name no single device (403)." },
	[F_ID_MISMATCH] = { "sprov_identity_mismatch_total", "counter",
	    "Requests for another device's path (403, audited)." },
	[F_OVERLOAD] = { "sprov_overload_total", "counter", "Requests answered 503 (overload)." },
	[F_HS_PER_SOURCE] = { "sprov_handshakes_refused_per_source_total", "counter",
	    "Connections closed before the TLS handshake (handshakes-per-source)." },
	[F_PROXY_REFUSED] = { "sprov_proxy_refused_total", "counter",
	    "Connections from proxy-from peers closed without a valid PROXY v2 header." },
	[F_REWRITTEN] = { "sprov_status_rewritten_total", "counter",
	    "Oversized requests answered 414/431 instead of 413." },
	[F_TIMEOUTS] = { "sprov_timeouts_total", "counter", "Connections cut by a deadline, by phase." },
	[F_CONTACT_QUEUE] = { "sprov_contact_queue", "gauge", "Contact records waiting." },
	[F_CONTACTS_WRITTEN] = { "sprov_contacts_written_total", "counter",
	    "Contact records written to the store." },
	[F_CONTACTS_DROPPED] = { "sprov_contacts_dropped_total", "counter",
	    "Contact records dropped (queue and headroom full, or the spill file failed)." },
	[F_CONTACTS_FAILED] = { "sprov_contacts_failed_total", "counter",
	    "Contact records the store refused for good." },
	[F_NOTIFY_RECONNECTS] = { "sprov_store_notify_reconnects_total", "counter",
	    "Store change-notification connections lost and re-established." },
	[F_STORE_UP] = { "sprov_store_up", "gauge",
	    "1 if the store answered its last call, 0 while it is unreachable." },
	[F_UNAVAILABLE] = { "sprov_store_unavailable_total", "counter",
	    "Cache misses answered 503 because the store was unreachable or busy." },
	[F_RELOADS] = { "sprov_config_reloads_total", "counter",
	    "SIGHUP reloads by result." },
	[F_RESTARTS] = { "sprov_serve_restarts_total", "counter",
	    "Serving processes the supervising parent started after one died." },
};

static sp_result
fam(sp_buf *b, family_id f)
{
	return sp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", families[f].name,
	    families[f].help, families[f].name, families[f].type);
}

/* A family with one unlabelled sample. */
static sp_result
one(sp_buf *b, family_id f, const char *fmt, ...) SP_PRINTF(3, 4);
static sp_result
one(sp_buf *b, family_id f, const char *fmt, ...)
{
	sp_result res = SP_OK;
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	TRY(fam(b, f));
	TRY(sp_buf_printf(b, "%s %s\n", families[f].name, v));
out:
	return res;
}

/* Upper bounds of the latency buckets, seconds. */
static const double hist_le[SRV_HIST_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

void
srv_hist_observe(srv_hist *h, uint64_t ns)
{
	size_t i;

	for (i = 0; i < SRV_HIST_BUCKETS; i++)
		if ((double)ns <= hist_le[i] * 1e9)
			break;
	atomic_fetch_add(&h->n[i], 1);
	atomic_fetch_add(&h->sum_ns, ns);
}

static sp_result
hist(sp_buf *b, family_id f, srv_hist *h)
{
	sp_result res = SP_OK;
	uint64_t cum = 0;
	const char *n = families[f].name;

	TRY(fam(b, f));
	for (size_t i = 0; i <= SRV_HIST_BUCKETS; i++) {
		cum += atomic_load(&h->n[i]);
		if (i < SRV_HIST_BUCKETS)
			TRY(sp_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", n, hist_le[i],
			    (unsigned long long)cum));
		else
			TRY(sp_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", n,
			    (unsigned long long)cum));
	}
	TRY(sp_buf_printf(b, "%s_sum %.9f\n%s_count %llu\n", n,
	    (double)atomic_load(&h->sum_ns) / 1e9, n, (unsigned long long)cum));
out:
	return res;
}

static sp_result
build_info(sp_buf *b)
{
	sp_result res = SP_OK;
	sp_libversion v[SP_LIBVERSIONS];

	sp_libversions(v);
	TRY(fam(b, F_BUILD));
	TRY(sp_buf_printf(b, "sprov_build_info{version=\"%s\"", SPROV_VERSION));
	for (size_t i = 0; i < SP_LIBVERSIONS; i++) {
		/* Library strings are not ours: escaped as a label value. */
		TRY(sp_buf_printf(b, ",%s=\"", v[i].name));
		TRY(sp_prom_label(b, sp_slice_of(v[i].version)));
		TRY(sp_buf_append_str(b, "\""));
	}
	TRY(sp_buf_append_str(b, "} 1\n"));
out:
	return res;
}

/*
 * One series per issuer: a CRL file may hold several CRLs of one issuer
 * (same CN), and a label set must not repeat.  The earliest nextUpdate is
 * the one to alert on; the highest number the newest CRL.
 */
static size_t
crls_by_issuer(sp_tls_crl_info *v, size_t n)
{
	size_t m = 0, j;

	for (size_t i = 0; i < n; i++) {
		for (j = 0; j < m && strcmp(v[j].issuer, v[i].issuer) != 0; j++)
			;
		if (j == m) {
			v[m++] = v[i];
			continue;
		}
		if (v[i].next_update != 0 && (v[j].next_update == 0 ||
		    v[i].next_update < v[j].next_update))
			v[j].next_update = v[i].next_update;
		if (v[i].has_number && (!v[j].has_number || v[i].number > v[j].number)) {
			v[j].has_number = true;
			v[j].number = v[i].number;
		}
	}
	return m;
}

/* name{issuer="CN"} value, the CN escaped as the exposition format wants. */
static sp_result
issuer_row(sp_buf *b, family_id f, const char *issuer, long long v)
{
	sp_result res = SP_OK;

	TRY(sp_buf_printf(b, "%s{issuer=\"", families[f].name));
	TRY(sp_prom_label(b, sp_slice_of(issuer)));
	TRY(sp_buf_printf(b, "\"} %lld\n", v));
out:
	return res;
}

static sp_result
crl_rows(sp_buf *b, sp_tls_server *tls)
{
	sp_result res = SP_OK;
	sp_tls_crl_info *v = NULL;
	size_t n;

	TRY_ALLOC(v, calloc(ADMIN_CRLS_MAX, sizeof(*v)));
	n = crls_by_issuer(v, sp_tls_server_crls(tls, v, ADMIN_CRLS_MAX));
	if (n == 0)
		goto out;
	TRY(fam(b, F_CRL_NEXT_UPDATE));
	for (size_t i = 0; i < n; i++)
		if (v[i].next_update != 0)
			TRY(issuer_row(b, F_CRL_NEXT_UPDATE, v[i].issuer,
			    (long long)v[i].next_update));
	TRY(fam(b, F_CRL_NUMBER));
	for (size_t i = 0; i < n; i++)
		if (v[i].has_number)
			TRY(issuer_row(b, F_CRL_NUMBER, v[i].issuer, (long long)v[i].number));
out:
	free(v);
	return res;
}

sp_result
srv_metrics_text(server *s, sp_buf *b)
{
	sp_result res = SP_OK;
	sp_cache_stats cs;
	sp_contacts_stats qs;
	static const char *const phase[] = { "handshake", "idle", "header", "send" };

	TRY(build_info(b));
	if (atomic_load(&s->cert_not_after) != 0)
		TRY(one(b, F_CERT_NOT_AFTER, "%lld",
		    (long long)atomic_load(&s->cert_not_after)));
	TRY(crl_rows(b, s->tls));
	TRY(fam(b, F_REQUESTS));
	for (size_t i = 0; i <= SRV_N_STATUS; i++) {
		if (i < SRV_N_STATUS)
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"%d\"} %llu\n",
			    counted_status[i], (unsigned long long)atomic_load(&s->st[i])));
		else
			TRY(sp_buf_printf(b, "sprov_requests_total{status=\"other\"} %llu\n",
			    (unsigned long long)atomic_load(&s->st[i])));
	}
	TRY(hist(b, F_REQUEST_SECONDS, &s->req_hist));
	TRY(hist(b, F_HANDSHAKE_SECONDS, &s->hs_hist));
	sp_cache_stats_get(s->cache, &cs);
	sp_contacts_stats_get(s->contacts, &qs);
	TRY(one(b, F_OPEN, "%lld", (long long)atomic_load(&s->open_total)));
	TRY(one(b, F_CACHE_HITS, "%llu", (unsigned long long)cs.hits));
	TRY(one(b, F_CACHE_MISSES, "%llu", (unsigned long long)cs.misses));
	TRY(one(b, F_CACHE_ENTRIES, "%zu", cs.entries));
	TRY(one(b, F_CACHE_BYTES, "%zu", cs.bytes));
	TRY(one(b, F_CACHE_FLUSHES, "%llu", (unsigned long long)cs.flushes));
	TRY(one(b, F_RENDERS, "%llu", (unsigned long long)atomic_load(&s->renders)));
	TRY(one(b, F_RENDER_ERRORS, "%llu",
	    (unsigned long long)atomic_load(&s->render_errors)));
	TRY(one(b, F_RENDER_SECONDS, "%.6f", (double)atomic_load(&s->render_ns) / 1e9));
	TRY(one(b, F_ID_REFUSED, "%llu",
	    (unsigned long long)atomic_load(&s->identity_refused)));
	TRY(one(b, F_ID_MISMATCH, "%llu", (unsigned long long)atomic_load(&s->mismatches)));
	TRY(one(b, F_OVERLOAD, "%llu", (unsigned long long)atomic_load(&s->overloaded)));
	TRY(one(b, F_HS_PER_SOURCE, "%llu",
	    (unsigned long long)sp_tls_server_source_refused(s->tls)));
	TRY(one(b, F_PROXY_REFUSED, "%llu",
	    (unsigned long long)atomic_load(&s->proxy_refused)));
	TRY(one(b, F_REWRITTEN, "%llu", (unsigned long long)atomic_load(&s->rewritten_413)));
	TRY(fam(b, F_TIMEOUTS));
	for (size_t i = 0; i < SP_ARRAY_LEN(phase); i++)
		TRY(sp_buf_printf(b, "sprov_timeouts_total{phase=\"%s\"} %llu\n", phase[i],
		    (unsigned long long)atomic_load(&s->timeouts[i])));
	TRY(one(b, F_CONTACT_QUEUE, "%zu", qs.queued));
	TRY(one(b, F_CONTACTS_WRITTEN, "%llu", (unsigned long long)qs.written));
	TRY(one(b, F_CONTACTS_DROPPED, "%llu", (unsigned long long)qs.dropped));
	TRY(one(b, F_CONTACTS_FAILED, "%llu", (unsigned long long)qs.failed));
	TRY(one(b, F_NOTIFY_RECONNECTS, "%llu",
	    (unsigned long long)sp_store_notify_reconnects()));
	TRY(one(b, F_STORE_UP, "%d", atomic_load(&s->store_up) ? 1 : 0));
	TRY(one(b, F_UNAVAILABLE, "%llu", (unsigned long long)atomic_load(&s->unavailable)));
	TRY(fam(b, F_RELOADS));
	TRY(sp_buf_printf(b, "sprov_config_reloads_total{result=\"ok\"} %llu\n"
	    "sprov_config_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)atomic_load(&s->reload_ok),
	    (unsigned long long)atomic_load(&s->reload_failed)));
	TRY(one(b, F_RESTARTS, "%llu", (unsigned long long)s->restarts));
	TRY(srv_failures_metrics(s->failures, b));
	TRY(sp_tls_server_metrics(s->tls, b));
out:
	return res;
}

/* evhttp's bevcb: every admin connection speaks TLS (no per-connection hooks). */
static struct bufferevent *
admin_bev(struct event_base *base, void *arg)
{
	server *s = arg;

	/* s marks the connection as ours (the server has no hooks to call). */
	return sp_tls_bufferevent_new(s->admin_tls, base, s);
}

/*
 * Given NULL (out of memory), evhttp 2.1 falls back to a plain socket
 * bufferevent: such a connection must get nothing off loopback.
 */
static bool
admin_conn_ok(server *s, struct evhttp_request *req)
{
	struct evhttp_connection *ec = evhttp_request_get_connection(req);

	return s->admin_tls == NULL || (ec != NULL &&
	    sp_tls_bufferevent_conn(evhttp_connection_get_bufferevent(ec)) == s);
}

static void
on_admin(struct evhttp_request *req, void *arg)
{
	server *s = arg;
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	sp_buf b;
	bool own;

	sp_buf_init(&b, ADMIN_BODY_MAX);
	if (out == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (!admin_conn_ok(s, req)) {
		sp_err("admin: a request without TLS off loopback (no memory for TLS "
		    "at accept): refused");
		evhttp_send_error(req, 500, NULL);
		evbuffer_free(out);
		return;
	}
	own = strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0;
	if (!own && s->admin_ext != NULL) {
		s->admin_ext(s->admin_ext_arg, req);
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(oh, "Allow", "GET");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
	} else if (strcmp(path, "/healthz") == 0) {
		/*
		 * "degraded" (store unreachable) is still 200: cached devices are
		 * served, and a balancer that drops every node of a cluster at
		 * once for a database outage would serve nobody.  Only draining
		 * asks to be taken out (503).
		 */
		bool draining = atomic_load(&s->draining);
		evhttp_add_header(oh, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "%s\n", draining ? "draining" :
		    atomic_load(&s->store_up) ? "ok" : "degraded");
		evhttp_send_reply(req, draining ? 503 : 200, NULL, out);
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

bool
srv_admin_addr_loopback(const char *addr)
{
	char host[256];
	const char *p = addr, *e;
	struct in_addr a4;
	struct in6_addr a6;
	size_t n;

	if (*p == '[') {
		p++;
		e = strchr(p, ']');
	} else {
		e = strrchr(p, ':');
		/* A bare IPv6 address has several colons and no port. */
		if (e != NULL && strchr(p, ':') != e)
			e = NULL;
	}
	n = e ? (size_t)(e - p) : strlen(p);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

sp_result
srv_admin_tls_load(server *s, const sp_tls_config *tls)
{
	sp_tls_config t = *tls;

	if (s->admin_tls == NULL)
		return SP_OK;
	t.no_client_auth = true;
	return sp_error_wrap(sp_tls_server_load(s->admin_tls, &t), "admin listener TLS");
}

sp_result
srv_admin_start(server *s, const char *addr, int fd, const sp_tls_config *tls)
{
	sp_result res = SP_OK;

	if (fd < 0)
		fd = srv_listen("admin", addr, false, &res);

	if (fd < 0)
		goto out;
	if (!srv_admin_addr_loopback(addr)) {
		/* No hooks: no device connection state, deadlines or failure records. */
		TRY(sp_tls_server_new(tls->backend, NULL, &s->admin_tls));
		TRY(srv_admin_tls_load(s, tls));
	}
	TRY_ALLOC(s->admin, evhttp_new(s->base));
	if (s->admin_tls != NULL)
		evhttp_set_bevcb(s->admin, admin_bev, s);
	evhttp_set_gencb(s->admin, on_admin, s);
	evhttp_set_max_headers_size(s->admin, ADMIN_MAX_HEADERS);
	/* The console reads bodies of at most 64 KiB; libevent stops larger
	 * ones at this bound instead of buffering them whole. */
	evhttp_set_max_body_size(s->admin, ADMIN_REQ_BODY_MAX);
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
	sp_tls_server_free(s->admin_tls); /* after its connections, freed above */
	s->admin_tls = NULL;
}
