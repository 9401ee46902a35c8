/*
 * The public side of src/tls/tls.h and the shared layer's server
 * (tls_internal.h): loading and swapping configurations, polling the CRL
 * file, the per-connection bookkeeping and peer check, and the metrics.
 * The backends only build their half of a configuration and run the
 * connections.
 */
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/bn.h>
#include <openssl/err.h>

#include "common/log.h"
#include "common/util.h"
#include "tls/tls_internal.h"

#define TLS_CRL_WARN_EVERY 60 /* seconds between "CRL expired" log lines */

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
	if (hooks != NULL)
		srv->hooks = *hooks;
	pthread_mutex_init(&srv->mu, NULL);
	srv->cfg.rotate = SP_TLS_TICKET_ROTATE_DEFAULT;
	TRY(sp_tls_cache_new(&srv->cache));
	TRY(sp_tls_srcmap_new(&srv->srcmap));
	TRY(srv->ops->server_new(srv, &srv->impl));
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
	sp_tls_conf_unref(srv->cur);
	if (srv->impl != NULL)
		srv->ops->server_free(srv->impl);
	sp_tls_cache_free(srv->cache);
	sp_tls_srcmap_free(srv->srcmap);
	free(srv->cfg.cert);
	free(srv->cfg.key);
	free(srv->cfg.ca);
	free(srv->cfg.crl);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}

sp_tls_backend
sp_tls_server_backend(const sp_tls_server *srv)
{
	return srv->ops == &sp_tls_gnutls_ops ? SP_TLS_GNUTLS : SP_TLS_OPENSSL;
}

/* --- configurations --- */

void
sp_tls_conf_unref(sp_tls_conf *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->b != NULL)
		c->srv->ops->conf_free(c->b);
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	X509_STORE_free(c->trust);
	sk_X509_NAME_pop_free(c->server_cas, X509_NAME_free);
	free(c);
}

sp_tls_conf *
sp_tls_cur_conf(sp_tls_server *srv)
{
	sp_tls_conf *c;

	pthread_mutex_lock(&srv->mu);
	c = srv->cur;
	if (c != NULL)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&srv->mu);
	return c;
}

static void
crl_state_of(const sp_tls_conf *c, int64_t now, sp_tls_crl_state *out)
{
	memset(out, 0, sizeof(*out));
	if (c != NULL && c->crls != NULL) {
		out->loaded = true;
		out->last_update = c->crl_last;
		out->next_update = c->crl_next;
		out->expired = c->crl_next != 0 && c->crl_next < now;
		out->in_grace = out->expired && now < c->crl_next + c->crl_grace;
	}
}

static const char *
crl_verdict(const sp_tls_crl_state *cs)
{
	return cs->in_grace ? "still in force during crl_grace" :
	    "ALL DEVICES ARE REFUSED until a fresh CRL is installed";
}

sp_result
sp_tls_server_load(sp_tls_server *srv, const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	sp_tls_conf *c = NULL, *old = NULL;
	struct stat st;
	bool st_ok = false;
	char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
	const char *crl_file = cfg->crl_file;
	sp_tls_crl_state cs;
	int64_t now;

	if (cfg->backend != sp_tls_server_backend(srv))
		return sp_error(SP_E_USAGE, "tls-backend cannot change without a restart "
		    "(running %s)", srv->ops->name);
	if (cfg->no_client_auth)
		crl_file = NULL; /* no client certificates: nothing to revoke */
	/* stat first: a CRL replaced while we read it is read again next poll. */
	if (crl_file != NULL && stat(crl_file, &st) == 0)
		st_ok = true;
	res = sp_tls_conf_build(srv, cfg, &c);
	if (!sp_failed(res) && c->crls != NULL) {
		sp_tls_conf *in_force = sp_tls_cur_conf(srv);

		res = sp_tls_crls_check_newer(crl_file, in_force ? in_force->crls : NULL,
		    c->crls);
		sp_tls_conf_unref(in_force);
	}
	if (sp_failed(res)) {
		atomic_fetch_add(&srv->st.reload_failed, 1);
		goto out;
	}
	TRY_ALLOC(cert, strdup(cfg->cert_file));
	TRY_ALLOC(key, strdup(cfg->key_file));
	if (!cfg->no_client_auth)
		TRY_ALLOC(ca, strdup(cfg->client_ca_file));
	if (crl_file != NULL)
		TRY_ALLOC(crl, strdup(crl_file));

	pthread_mutex_lock(&srv->mu);
	old = srv->cur;
	if (old != NULL && memcmp(old->trust_md, c->trust_md, SP_TLS_MD_LEN) != 0)
		atomic_store(&srv->trust_changed, true);
	srv->cur = c;
	atomic_store(&srv->cur_gen, c->gen);
	free(srv->cfg.cert);
	free(srv->cfg.key);
	free(srv->cfg.ca);
	free(srv->cfg.crl);
	srv->cfg.cert = cert;
	srv->cfg.key = key;
	srv->cfg.ca = ca;
	srv->cfg.crl = crl;
	cert = key = ca = crl = NULL;
	srv->cfg.depth = cfg->verify_depth;
	srv->cfg.idstyle = cfg->identity;
	srv->cfg.grace = cfg->crl_grace;
	atomic_store(&srv->src_cap, cfg->handshakes_per_source);
	srv->cfg.rotate = c->rotate;
	srv->cfg.keyproc = cfg->keyproc;
	srv->crl_stat_ok = st_ok;
	if (st_ok)
		srv->crl_stat = st;
	srv->crl_bad_ok = false;
	pthread_mutex_unlock(&srv->mu);
	atomic_fetch_add(&srv->st.reload_ok, 1);

	now = sp_now();
	crl_state_of(c, now, &cs);
	if (crl_file == NULL && !cfg->no_client_auth) {
		sp_warn("tls: no CRL configured: revoked devices are NOT refused");
	} else if (crl_file != NULL) {
		sp_info("tls: CRL %s loaded: %d list(s), nextUpdate in %lld s",
		    crl_file, sk_X509_CRL_num(c->crls),
		    (long long)(c->crl_next ? c->crl_next - now : 0));
		if (cs.expired)
			sp_err("tls: CRL %s EXPIRED %lld s ago: %s", crl_file,
			    (long long)(now - c->crl_next), crl_verdict(&cs));
	}
	c = NULL; /* srv->cur's now */
out:
	sp_tls_conf_unref(old);
	sp_tls_conf_unref(c);
	free(cert);
	free(key);
	free(ca);
	free(crl);
	return res;
}

sp_result
sp_tls_config_check(const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	sp_tls_server *srv = NULL;
	sp_tls_conf *c = NULL;

	TRY(sp_tls_server_new(cfg->backend, NULL, &srv));
	TRY(sp_tls_conf_build(srv, cfg, &c));
out:
	sp_tls_conf_unref(c);
	sp_tls_server_free(srv);
	return res;
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The same file, unchanged (inode, size, mtime)? */
static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

sp_result
sp_tls_server_poll_crl(sp_tls_server *srv, bool *reloaded)
{
	sp_result res = SP_OK;
	struct stat st;
	bool changed = false;
	sp_tls_config cfg = { .backend = sp_tls_server_backend(srv) };
	char *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
	sp_tls_crl_state cs;
	int64_t now = sp_now();

	*reloaded = false;
	pthread_mutex_lock(&srv->mu);
	/*
	 * A file that failed to load is not tried (and logged) again every
	 * poll, only once it changes.
	 */
	if (srv->cfg.crl != NULL && stat(srv->cfg.crl, &st) == 0)
		changed = (!srv->crl_stat_ok || !same_file(&st, &srv->crl_stat)) &&
		    !(srv->crl_bad_ok && same_file(&st, &srv->crl_bad_stat));
	if (changed) {
		cert = dup_or_null(srv->cfg.cert);
		key = dup_or_null(srv->cfg.key);
		ca = dup_or_null(srv->cfg.ca);
		crl = dup_or_null(srv->cfg.crl);
		cfg.verify_depth = srv->cfg.depth;
		cfg.identity = srv->cfg.idstyle;
		cfg.crl_grace = srv->cfg.grace;
		cfg.ticket_rotate = srv->cfg.rotate;
		cfg.handshakes_per_source = atomic_load(&srv->src_cap);
		cfg.keyproc = srv->cfg.keyproc;
	}
	pthread_mutex_unlock(&srv->mu);
	if (changed) {
		ENSURE(cert && key && ca && crl, SP_E_NOMEM, "out of memory");
		cfg.cert_file = cert;
		cfg.key_file = key;
		cfg.client_ca_file = ca;
		cfg.crl_file = crl;
		sp_info("tls: CRL file %s changed, reloading", crl);
		res = sp_tls_server_load(srv, &cfg);
		if (sp_failed(res)) {
			pthread_mutex_lock(&srv->mu);
			srv->crl_bad_stat = st;
			srv->crl_bad_ok = true;
			pthread_mutex_unlock(&srv->mu);
			res = sp_error_wrap(res, "CRL reload (tried again when %s changes)", crl);
			goto out;
		}
		*reloaded = true;
	}
	sp_tls_server_crl_state(srv, &cs);
	if (cs.expired && now - srv->crl_warned_at >= TLS_CRL_WARN_EVERY) {
		srv->crl_warned_at = now;
		sp_err("tls: CRL EXPIRED %lld s ago: %s", (long long)(now - cs.next_update),
		    crl_verdict(&cs));
	}
out:
	free(cert);
	free(key);
	free(ca);
	free(crl);
	return res;
}

void
sp_tls_server_rotate_tickets(sp_tls_server *srv, bool force)
{
	if (!atomic_load(&srv->external_tickets))
		srv->ops->rotate_tickets(srv->impl, force);
}

void
sp_tls_server_set_ticket_keys(sp_tls_server *srv,
    const uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN], size_t n)
{
	if (n == 0)
		return;
	if (n > SP_TLS_TICKET_KEYS_EXT)
		n = SP_TLS_TICKET_KEYS_EXT;
	atomic_store(&srv->external_tickets, true);
	/*
	 * A ticket may now come from another node, whose device CAs may not
	 * be ours: check every resumed leaf against ours (trusted_by, cached
	 * per leaf and CA set).
	 */
	atomic_store(&srv->trust_changed, true);
	srv->ops->set_tickets(srv->impl, keys, n);
}

void
sp_tls_server_crl_state(sp_tls_server *srv, sp_tls_crl_state *out)
{
	sp_tls_conf *c = sp_tls_cur_conf(srv);

	crl_state_of(c, sp_now(), out);
	sp_tls_conf_unref(c);
}

/* --- connections --- */

static sp_tls_pconn *pconn_of(struct bufferevent *bev);

/*
 * handshakes-per-source: count the connection toward source sa, or close
 * it before the handshake starts.
 */
static void
admit(sp_tls_pconn *pc, const struct sockaddr *sa, socklen_t sl)
{
	sp_tls_server *srv = pc->srv;
	evutil_socket_t fd = bufferevent_getfd(pc->bev);
	unsigned cap = atomic_load(&srv->src_cap);
	sp_tls_src_refusal r;
	sp_tls_srckey k;
	char addr[64];

	if (cap == 0 || pc->done || pc->counted || fd < 0 || !sp_tls_srckey_of(sa, sl, &k))
		return;
	switch (sp_tls_srcmap_enter(srv->srcmap, &k, cap, sp_mono_ns(), &r)) {
	case SP_TLS_SRC_COUNTED:
		pc->src = k;
		pc->src_held = true;
		return;
	case SP_TLS_SRC_UNTRACKED:
		return;
	case SP_TLS_SRC_REFUSED:
		break;
	}
	atomic_fetch_add(&srv->st.src_refused, 1);
	pc->counted = true; /* not an aborted handshake: it never began */
	if (r.log) {
		sp_tls_srckey_str(&k, addr, sizeof(addr));
		sp_warn("tls: %s has %u connections in the TLS handshake "
		    "(handshakes-per-source = %u): connection closed without a handshake "
		    "(%llu refused in the last second)", addr, r.in_handshake, cap,
		    (unsigned long long)r.refused);
	}
	/* The backend reads EOF (or fails its first write): evhttp frees it. */
	shutdown(fd, SHUT_RDWR);
}

/* evhttp has set the accepted socket on pc->bev: admit its TCP peer. */
static void
admit_cb(evutil_socket_t unused, short what, void *arg)
{
	sp_tls_pconn *pc = arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(pc->bev);

	event_free(pc->admit_ev); /* runs once; freeing it here is allowed */
	pc->admit_ev = NULL;
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		admit(pc, (struct sockaddr *)&ss, sl);
}

static void
src_release(sp_tls_pconn *pc)
{
	if (pc->src_held) {
		pc->src_held = false;
		sp_tls_srcmap_leave(pc->srv->srcmap, &pc->src);
	}
}

struct bufferevent *
sp_tls_bufferevent_new(sp_tls_server *srv, struct event_base *base, void *conn)
{
	struct bufferevent *bev = srv->ops->bev_new(srv->impl, base, conn);
	sp_tls_pconn *pc;

	if (bev == NULL || atomic_load(&srv->src_cap) == 0 || (pc = pconn_of(bev)) == NULL)
		return bev;
	pc->bev = bev;
	if ((pc->admit_ev = event_new(base, -1, 0, admit_cb, pc)) == NULL) {
		sp_err("tls: out of memory for a new connection; closing it");
		bufferevent_free(bev); /* frees pc and calls conn_free */
		return NULL;
	}
	/* Runs after evhttp's accept callback has set the socket (tls.h). */
	event_active(pc->admit_ev, EV_TIMEOUT, 1);
	return bev;
}

struct bufferevent *
sp_tls_bufferevent_new_proxied(sp_tls_server *srv, struct event_base *base, void *conn)
{
	struct bufferevent *bev = srv->ops->bev_new(srv->impl, base, conn);
	sp_tls_pconn *pc = pconn_of(bev);

	if (pc != NULL)
		pc->bev = bev;
	return bev;
}

void
sp_tls_bufferevent_admit(struct bufferevent *bev, const struct sockaddr *sa, socklen_t len)
{
	sp_tls_pconn *pc = pconn_of(bev);

	if (pc != NULL && pc->bev == bev)
		admit(pc, sa, len);
}

void
sp_tls_bufferevent_refuse(struct bufferevent *bev)
{
	sp_tls_pconn *pc = pconn_of(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (pc != NULL)
		pc->counted = true; /* not an aborted handshake: it never began */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

uint64_t
sp_tls_server_source_refused(sp_tls_server *srv)
{
	return atomic_load(&srv->st.src_refused);
}

void
sp_tls_bufferevent_close(struct bufferevent *bev)
{
	if (bev != NULL && !sp_tls_openssl_ops.bev_close(bev))
		(void)sp_tls_gnutls_ops.bev_close(bev);
}

static sp_tls_pconn *
pconn_of(struct bufferevent *bev)
{
	sp_tls_pconn *pc;

	if (bev == NULL)
		return NULL;
	if ((pc = sp_tls_openssl_ops.bev_pconn(bev)) == NULL)
		pc = sp_tls_gnutls_ops.bev_pconn(bev);
	return pc;
}

void *
sp_tls_bufferevent_conn(struct bufferevent *bev)
{
	sp_tls_pconn *pc = pconn_of(bev);

	return pc ? pc->conn : NULL;
}

bool
sp_tls_pconn_init(sp_tls_pconn *pc, sp_tls_server *srv, void *conn)
{
	memset(pc, 0, sizeof(*pc));
	pc->srv = srv;
	pc->conn = conn;
	pc->version = "";
	pc->conf = sp_tls_cur_conf(srv);
	return pc->conf != NULL;
}

void
sp_tls_pconn_fini(sp_tls_pconn *pc)
{
	if (pc->srv == NULL)
		return;
	if (!pc->done && !pc->counted)
		atomic_fetch_add(&pc->srv->st.hs[SP_TLS_HS_ABORTED], 1);
	if (pc->admit_ev != NULL)
		event_free(pc->admit_ev);
	pc->admit_ev = NULL;
	src_release(pc);
	if (pc->srv->hooks.conn_free != NULL && pc->conn != NULL)
		pc->srv->hooks.conn_free(pc->conn);
	pc->conn = NULL;
	X509_free(pc->leaf);
	pc->leaf = NULL;
	sp_tls_conf_unref(pc->conf);
	pc->conf = NULL;
}

static void
subject_of(X509 *cert, char *buf, size_t n)
{
	buf[0] = '\0';
	if (cert != NULL)
		X509_NAME_oneline(X509_get_subject_name(cert), buf, (int)n);
}

bool
sp_tls_hs_done(sp_tls_pconn *pc, bool resumed, const char *version, X509 *leaf,
    bool check_resume)
{
	sp_tls_server *srv = pc->srv;
	const char *why;
	char subj[256];
	int bucket = SP_TLS_VF_CRL_EXPIRED;

	if (leaf != NULL) {
		if (pc->leaf == NULL)
			pc->leaf = leaf;
		else
			X509_free(leaf);
	}
	pc->done = true;
	pc->resumed = resumed;
	pc->version = version;
	src_release(pc); /* handshakes-per-source counts until here */
	/*
	 * An expired CRL (past crl-grace) refuses a resumption as it refuses a
	 * full handshake, on every backend: no new configuration marks it, so
	 * a session-ID cache does not forget sessions made before it.
	 */
	why = "CRL expired";
	if (resumed && pc->leaf != NULL && (sp_tls_crl_expired(pc->conf, sp_now()) ||
	    (check_resume && (bucket = sp_tls_resume_refused(srv, pc->leaf, &why)) >= 0))) {
		atomic_fetch_add(&srv->st.resume_refused, 1);
		subject_of(pc->leaf, subj, sizeof(subj));
		sp_warn("tls: resumption refused (%s): '%s'; connection closed", why, subj);
		sp_tls_fail_note(pc, sp_tls_fail_of(pc->conf, bucket, pc->leaf, pc->leaf),
		    pc->leaf, why);
		pc->counted = true;
		atomic_fetch_add(&srv->st.hs[SP_TLS_HS_FAILED], 1);
		return false;
	}
	if (!resumed && pc->leaf != NULL)
		sp_tls_trust_note(srv, pc->conf, pc->leaf);
	atomic_fetch_add(&srv->st.hs[resumed ? SP_TLS_HS_RESUMED : SP_TLS_HS_FULL], 1);
	if (srv->hooks.handshake_done != NULL)
		srv->hooks.handshake_done(pc->conn, resumed);
	return true;
}

/* The certificate's serial in hex ("" if it has none that converts). */
static void
serial_hex(X509 *cert, char *buf, size_t n)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(buf, n, "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
}

void
sp_tls_fail_note(sp_tls_pconn *pc, sp_tls_fail why, X509 *leaf, const char *detail)
{
	sp_tls_server *srv = pc->srv;
	sp_tls_refusal r;

	if (pc->fail_noted || srv == NULL)
		return;
	pc->fail_noted = true;
	if (srv->hooks.refused == NULL || pc->conn == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.reason = why;
	snprintf(r.detail, sizeof(r.detail), "%s", detail ? detail : "");
	if (leaf != NULL) {
		serial_hex(leaf, r.cert_serial, sizeof(r.cert_serial));
		/* Not verified: only a label for the record (tls.h). */
		r.named = pc->conf != NULL &&
		    sp_ok(sp_devid_from_x509(leaf, pc->conf->idstyle, &r.id));
	}
	srv->hooks.refused(pc->conn, &r);
}

void
sp_tls_hs_failed(sp_tls_pconn *pc, bool no_cert, const char *why)
{
	char detail[SP_TLS_DETAIL_MAX + 1];

	if (pc->counted)
		return;
	pc->counted = true;
	atomic_fetch_add(&pc->srv->st.hs[SP_TLS_HS_FAILED], 1);
	if (no_cert)
		atomic_fetch_add(&pc->srv->st.vf[SP_TLS_VF_NO_CERT], 1);
	snprintf(detail, sizeof(detail), "handshake failed: %s", why ? why : "");
	if (no_cert || why != NULL)
		sp_tls_fail_note(pc, no_cert ? SP_TLS_FAIL_NO_CERT : SP_TLS_FAIL_HANDSHAKE,
		    NULL, no_cert ? "no certificate" : detail);
}

void
sp_tls_vf_refused(sp_tls_server *srv, sp_tls_pconn *pc, int bucket, X509 *cert,
    X509 *leaf, int depth, const char *reason)
{
	char subj[256];

	if (pc != NULL)
		sp_tls_fail_note(pc, sp_tls_fail_of(pc->conf, bucket, cert, leaf), leaf,
		    bucket == SP_TLS_VF_CRL_EXPIRED ? "CRL expired" : reason);
	subject_of(cert, subj, sizeof(subj));
	atomic_fetch_add(&srv->st.vf[bucket], 1);
	if (bucket == SP_TLS_VF_CRL_EXPIRED)
		sp_err("tls: CRL EXPIRED: refusing device '%s' (set crl_grace to keep "
		    "the last CRL in force; publish a new CRL)", subj);
	else if (depth >= 0)
		sp_info("tls: client certificate refused: %s (depth %d, subject '%s')",
		    reason, depth, subj);
	else
		sp_info("tls: client certificate refused: %s (subject '%s')", reason, subj);
}

/*
 * Must the connection's certificate be refused under the CURRENT
 * configuration, as a resumed session would be (sp_tls_held_refused:
 * revoked, expired, no CRL from its issuer, its CA no longer trusted)?
 * The full check runs once per configuration per connection; a keep-alive
 * request under the same one only compares a generation and the clock
 * (perf: the CRL walk, the configuration lock and the identity parse were
 * ~6 % of the CPU per keep-alive request).
 */
static bool
peer_refused(sp_tls_pconn *pc, X509 *cert, const char **why, sp_tls_fail *fail)
{
	sp_tls_server *srv = pc->srv;
	sp_tls_conf *c;
	int bucket;
	bool bad;

	*why = "";
	if (pc->peer_ok_gen != 0 && pc->peer_ok_gen == atomic_load(&srv->cur_gen) &&
	    sp_now() < pc->peer_not_after)
		return false;
	c = sp_tls_cur_conf(srv);
	bucket = sp_tls_held_refused(srv, c, cert, why);
	bad = bucket >= 0;
	if (bad)
		*fail = sp_tls_fail_of(c, bucket, cert, cert);
	pc->peer_ok_gen = 0;
	if (!bad && c != NULL) {
		pc->peer_ok_gen = c->gen;
		pc->peer_not_after = sp_tls_asn1_unix(X509_get0_notAfter(cert));
		/* Until the CRL expires past its grace, then checked again. */
		if (c->crls != NULL && c->crl_next != 0 &&
		    c->crl_next + (c->crl_grace > 0 ? c->crl_grace : 0) < pc->peer_not_after)
			pc->peer_not_after = c->crl_next + (c->crl_grace > 0 ? c->crl_grace : 0);
	}
	sp_tls_conf_unref(c);
	return bad;
}

sp_result
sp_tls_peer_get(sp_tls_server *srv, struct bufferevent *bev, sp_idstyle style,
    sp_tls_peer *out)
{
	sp_result res = SP_OK;
	sp_tls_pconn *pc = pconn_of(bev);
	X509 *cert;
	const char *why;
	sp_tls_fail fail = SP_TLS_FAIL_HANDSHAKE;

	(void)srv;
	memset(out, 0, sizeof(*out));
	out->version = "";
	ENSURE(pc != NULL && pc->done, SP_E_INTERNAL, "not a TLS connection");
	cert = pc->leaf;
	if (pc->peer_known && pc->peer_style == style) {
		*out = pc->peer;
	} else {
		pc->peer_known = false;
		out->resumed = pc->resumed;
		out->version = pc->version;
		out->fail = SP_TLS_FAIL_NO_CERT;
		ENSURE(cert != NULL, SP_E_VERIFY, "no client certificate");
		serial_hex(cert, out->cert_serial, sizeof(out->cert_serial));
		out->not_after = sp_tls_asn1_unix(X509_get0_notAfter(cert));
	}
	if (peer_refused(pc, cert, &why, &fail)) {
		out->fail = fail;
		out->named = sp_ok(sp_devid_from_x509(cert, style, &out->id));
		res = sp_error(SP_E_VERIFY, "%s since the handshake%s", why,
		    out->resumed ? " (resumed session)" : "");
		goto out;
	}
	if (!pc->peer_known) {
		out->fail = SP_TLS_FAIL_BAD_IDENTITY;
		TRY(sp_devid_from_x509(cert, style, &out->id));
		out->named = true;
		pc->peer = *out;
		pc->peer_style = style;
		pc->peer_known = true;
	}
out:
	ERR_clear_error();
	return res;
}

static void
crl_info(X509_CRL *x, sp_tls_crl_info *o)
{
	const X509_NAME *name = X509_CRL_get_issuer(x);
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	ASN1_INTEGER *num = X509_CRL_get_ext_d2i(x, NID_crl_number, NULL, NULL);
	unsigned char *cn = NULL;
	int len = -1;

	memset(o, 0, sizeof(*o));
	if (idx >= 0)
		len = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(name, idx)));
	if (len >= 0)
		snprintf(o->issuer, sizeof(o->issuer), "%.*s", len, (const char *)cn);
	else
		X509_NAME_oneline(name, o->issuer, sizeof(o->issuer));
	OPENSSL_free(cn);
	o->next_update = sp_tls_asn1_unix(X509_CRL_get0_nextUpdate(x));
	o->has_number = num != NULL && ASN1_INTEGER_get_int64(&o->number, num) == 1;
	ASN1_INTEGER_free(num);
}

size_t
sp_tls_server_crls(sp_tls_server *srv, sp_tls_crl_info *out, size_t max)
{
	sp_tls_conf *c = sp_tls_cur_conf(srv);
	size_t n = 0;

	for (int i = 0; c != NULL && c->crls != NULL && i < sk_X509_CRL_num(c->crls) &&
	    n < max; i++)
		crl_info(sk_X509_CRL_value(c->crls, i), &out[n++]);
	sp_tls_conf_unref(c);
	return n;
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
