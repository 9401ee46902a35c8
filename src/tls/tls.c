/*
 * The public side of src/tls/tls.h: pick a backend and forward to it.
 * The metrics are rendered here, from counters both backends keep alike.
 */
#include "tls/tls.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tls/tls_internal.h"

struct sp_tls_server {
	const sp_tls_ops *ops;
	void *impl;
	sp_tls_stats st;
};

static const char *const vf_names[SP_TLS_VF_N] = {
	"no_certificate", "unknown_ca", "expired", "revoked", "crl_missing", "crl_expired",
	"chain_too_long", "bad_signature", "other",
};
static const char *const hs_names[SP_TLS_HS_N] = { "full", "resumed", "failed", "aborted" };

static const sp_tls_ops *
ops_of(sp_tls_backend b)
{
	return b == SP_TLS_GNUTLS ? &sp_tls_gnutls_ops : &sp_tls_openssl_ops;
}

sp_result
sp_tls_backend_parse(const char *s, sp_tls_backend *out)
{
	if (strcmp(s, "openssl") == 0)
		*out = SP_TLS_OPENSSL;
	else if (strcmp(s, "gnutls") == 0)
		*out = SP_TLS_GNUTLS;
	else
		return sp_error(SP_E_PARSE, "tls-backend: '%s' is not openssl or gnutls", s);
	return SP_OK;
}

const char *
sp_tls_backend_name(sp_tls_backend b)
{
	return ops_of(b)->name;
}

sp_result
sp_tls_server_new(sp_tls_backend backend, const sp_tls_hooks *hooks, sp_tls_server **out)
{
	sp_result res = SP_OK;
	sp_tls_server *srv = NULL;

	TRY_ALLOC(srv, calloc(1, sizeof(*srv)));
	srv->ops = ops_of(backend);
	TRY(srv->ops->server_new(hooks, &srv->st, &srv->impl));
	*out = srv;
	srv = NULL;
out:
	sp_tls_server_free(srv);
	return res;
}

void
sp_tls_server_free(sp_tls_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->impl != NULL)
		srv->ops->server_free(srv->impl);
	free(srv);
}

sp_tls_backend
sp_tls_server_backend(const sp_tls_server *srv)
{
	return srv->ops == &sp_tls_gnutls_ops ? SP_TLS_GNUTLS : SP_TLS_OPENSSL;
}

sp_result
sp_tls_server_load(sp_tls_server *srv, const sp_tls_config *cfg)
{
	if (cfg->backend != sp_tls_server_backend(srv))
		return sp_error(SP_E_USAGE, "tls-backend cannot change without a restart "
		    "(running %s)", srv->ops->name);
	return srv->ops->load(srv->impl, cfg);
}

sp_result
sp_tls_config_check(const sp_tls_config *cfg)
{
	return ops_of(cfg->backend)->config_check(cfg);
}

sp_result
sp_tls_server_poll_crl(sp_tls_server *srv, bool *reloaded)
{
	return srv->ops->poll_crl(srv->impl, reloaded);
}

void
sp_tls_server_rotate_tickets(sp_tls_server *srv, bool force)
{
	srv->ops->rotate_tickets(srv->impl, force);
}

struct bufferevent *
sp_tls_bufferevent_new(sp_tls_server *srv, struct event_base *base, void *conn)
{
	return srv->ops->bev_new(srv->impl, base, conn);
}

void
sp_tls_bufferevent_close(struct bufferevent *bev)
{
	if (bev != NULL && !sp_tls_openssl_ops.bev_close(bev))
		(void)sp_tls_gnutls_ops.bev_close(bev);
}

void *
sp_tls_bufferevent_conn(struct bufferevent *bev)
{
	void *conn = NULL;

	if (bev != NULL && !sp_tls_openssl_ops.bev_conn(bev, &conn))
		(void)sp_tls_gnutls_ops.bev_conn(bev, &conn);
	return conn;
}

sp_result
sp_tls_peer_get(sp_tls_server *srv, struct bufferevent *bev, sp_idstyle style,
    sp_tls_peer *out)
{
	return srv->ops->peer_get(srv->impl, bev, style, out);
}

void
sp_tls_server_crl_state(sp_tls_server *srv, sp_tls_crl_state *out)
{
	srv->ops->crl_state(srv->impl, out);
}

sp_result
sp_tls_server_metrics(sp_tls_server *srv, sp_buf *out)
{
	sp_result res = SP_OK;
	sp_tls_crl_state cs;
	sp_tls_stats *st = &srv->st;
	int64_t now = sp_now();

	TRY(sp_buf_printf(out,
	    "# HELP sprov_tls_backend_info The TLS library serving connections.\n"
	    "# TYPE sprov_tls_backend_info gauge\n"
	    "sprov_tls_backend_info{backend=\"%s\"} 1\n", srv->ops->name));
	TRY(sp_buf_append_str(out,
	    "# HELP sprov_tls_handshakes_total TLS handshakes by result.\n"
	    "# TYPE sprov_tls_handshakes_total counter\n"));
	for (int i = 0; i < SP_TLS_HS_N; i++)
		TRY(sp_buf_printf(out, "sprov_tls_handshakes_total{result=\"%s\"} %llu\n",
		    hs_names[i], (unsigned long long)atomic_load(&st->hs[i])));
	TRY(sp_buf_append_str(out,
	    "# HELP sprov_tls_verify_failures_total Client certificates refused, by reason.\n"
	    "# TYPE sprov_tls_verify_failures_total counter\n"));
	for (int i = 0; i < SP_TLS_VF_N; i++)
		TRY(sp_buf_printf(out, "sprov_tls_verify_failures_total{reason=\"%s\"} %llu\n",
		    vf_names[i], (unsigned long long)atomic_load(&st->vf[i])));
	TRY(sp_buf_printf(out,
	    "# HELP sprov_tls_resumptions_refused_total Session resumptions refused (revoked or expired since).\n"
	    "# TYPE sprov_tls_resumptions_refused_total counter\n"
	    "sprov_tls_resumptions_refused_total %llu\n"
	    "# HELP sprov_tls_reloads_total TLS configuration loads.\n"
	    "# TYPE sprov_tls_reloads_total counter\n"
	    "sprov_tls_reloads_total{result=\"ok\"} %llu\n"
	    "sprov_tls_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)atomic_load(&st->resume_refused),
	    (unsigned long long)atomic_load(&st->reload_ok),
	    (unsigned long long)atomic_load(&st->reload_failed)));
	sp_tls_server_crl_state(srv, &cs);
	TRY(sp_buf_printf(out,
	    "# HELP sprov_crl_loaded 1 if a CRL is in force.\n"
	    "# TYPE sprov_crl_loaded gauge\n"
	    "sprov_crl_loaded %d\n", cs.loaded ? 1 : 0));
	if (cs.loaded) {
		TRY(sp_buf_printf(out,
		    "# HELP sprov_crl_age_seconds Seconds since the CRL's lastUpdate.\n"
		    "# TYPE sprov_crl_age_seconds gauge\n"
		    "sprov_crl_age_seconds %lld\n"
		    "# HELP sprov_crl_next_update_seconds Seconds until the CRL's nextUpdate (negative: expired).\n"
		    "# TYPE sprov_crl_next_update_seconds gauge\n"
		    "sprov_crl_next_update_seconds %lld\n"
		    "# HELP sprov_crl_in_grace 1 if the CRL expired and crl_grace keeps it in force.\n"
		    "# TYPE sprov_crl_in_grace gauge\n"
		    "sprov_crl_in_grace %d\n",
		    (long long)(now - cs.last_update),
		    (long long)(cs.next_update ? cs.next_update - now : 0),
		    cs.in_grace ? 1 : 0));
	}
out:
	return res;
}
