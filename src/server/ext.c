/*
 * What an extension of the serving process (the console) may ask of it:
 * server.h's sp_serve_* calls, so that src/console needs none of the
 * server's internals (srv.h, render.h).
 */
#include "server/server.h"

#include <stdatomic.h>
#include <stdio.h>

#include "identity/mac.h"
#include "server/render.h"
#include "server/srv.h"
#include "store/store.h"
#include "tls/tls.h"

void
sp_serve_admin_route(server *s, sp_serve_admin_fn fn, void *arg)
{
	s->admin_ext = fn;
	s->admin_ext_arg = arg;
}

bool
sp_serve_admin_tls(const server *s)
{
	return s->admin_tls != NULL;
}

const char *
sp_serve_store_uri(const server *s)
{
	return s->store_uri;
}

void
sp_serve_node_name(server *s, char out[SP_NODE_NAME_MAX + 1])
{
	const sp_serve_config *cfg = srv_cfg_hold(s);

	snprintf(out, SP_NODE_NAME_MAX + 1, "%.*s", SP_NODE_NAME_MAX, cfg->node_name);
	srv_cfg_release(s);
}

int64_t
sp_serve_cert_not_after(server *s)
{
	return (int64_t)atomic_load(&s->cert_not_after);
}

size_t
sp_serve_crls(server *s, sp_tls_crl_info *v, size_t max)
{
	return sp_tls_server_crls(s->tls, v, max);
}

sp_result
sp_serve_profile_etag(server *s, sp_store *st, const sp_mac *mac, char *etag, bool *found)
{
	return srv_profile_etag(s, st, mac, etag, found);
}
