#include "device/fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "device/dns.h"

#define SP_CHECK_MSG_MAX 512

/* One connection attempt: what the handshake callbacks need and record. */
typedef struct attempt {
	const sp_fetch_opts *o;
	const char *host;             /* URL host, IPv6 without brackets */
	bool host_is_ip;
	const sp_addrlist *answers;   /* the URL host's answers (names only) */
	sp_ipaddr pinned;             /* the address curl must connect to */
	curl_socket_t fd;
	bool checks_passed;
	sp_srvcheck failed;
	char msg[SP_CHECK_MSG_MAX];
	char fqdn[SP_FQDN_MAX + 1];
	char peer[SP_ADDRSTR_MAX];
	char local[SP_ADDRSTR_MAX];
	bool send_auth;               /* credentials go to the first host only */
	sp_buf *body;
	bool body_too_big;
	bool sink_failed;             /* o->sink refused the bytes */
	uint64_t sunk;                /* bytes given to o->sink */
	char etag[SP_ETAG_MAX + 1];
	bool framed;                  /* Content-Length or chunked: an end we can see */
	bool close_notify;            /* the server's TLS close_notify arrived */
	long retry_after;             /* Retry-After in seconds, -1: none */
	bool resumed;                 /* the TLS session was resumed */
	bool reused;                  /* the request went on an earlier connection */
	CURL *curl;                   /* for the pre-request check */
} attempt;

/*
 * One transfer on an easy handle the caller may drive itself (a multi
 * handle: `sprov fleet`).  With keep, the easy handle survives from one
 * transfer to the next, and with it libcurl's connection and TLS session.
 */
struct sp_fetch_xfer {
	CURL *c;
	attempt at;
	sp_url u;
	char url[SP_URL_MAX + 1];     /* u as given to libcurl */
	char addr[SP_ADDRSTR_MAX];
	struct curl_slist *resolve, *hdrs;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static int ctx_ex_idx = -1;
static int ssl_ok_idx = -1;  /* on an SSL whose server passed every check */
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
fetch_global(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	ctx_ex_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ssl_ok_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

sp_result
sp_fetch_global_init(void)
{
	const curl_version_info_data *vi;

	pthread_once(&fetch_once, fetch_global);
	if (curl_init_rc != CURLE_OK || ctx_ex_idx < 0 || ssl_ok_idx < 0)
		return sp_error(SP_E_INTERNAL, "libcurl initialisation failed");
	vi = curl_version_info(CURLVERSION_NOW);
	/* The server checks run in an OpenSSL verify callback: nothing else will do. */
	if (vi == NULL || vi->ssl_version == NULL ||
	    strncmp(vi->ssl_version, "OpenSSL/", 8) != 0)
		return sp_error(SP_E_INTERNAL,
		    "libcurl is built with %s, the device needs libcurl's OpenSSL build (libcurl4-openssl-dev)",
		    vi && vi->ssl_version ? vi->ssl_version : "no TLS");
	return SP_OK;
}

void
sp_fetch_result_init(sp_fetch_result *r)
{
	memset(r, 0, sizeof(*r));
	sp_buf_init(&r->body, 0);
}

void
sp_fetch_result_free(sp_fetch_result *r)
{
	/* The body is a profile: it holds SIP passwords. */
	sp_buf_free_secret(&r->body);
}

static void
record(attempt *at, sp_srvcheck which)
{
	if (at->failed != SP_CHECK_NONE)
		return; /* keep the first failure */
	at->failed = which;
	snprintf(at->msg, sizeof(at->msg), "%s", sp_errmsg());
}

/* Checks 1b, 2 (with the Provision_Domain pin) and 3 on the leaf. */
static sp_result
leaf_checks(attempt *at, X509 *leaf, sp_srvcheck *failed)
{
	sp_result res = SP_OK;

	/* sp_srvcheck_leaf's order, with the pin where check 2 ends. */
	*failed = SP_CHECK_CHAIN;
	TRY(sp_srvcheck_purpose(leaf));
	*failed = SP_CHECK_CN;
	TRY(sp_srvcheck_cn(leaf, at->fqdn));
	TRY(sp_pin_check(at->o->pin, at->fqdn));
	*failed = SP_CHECK_HOST;
	TRY(sp_srvcheck_host(sp_slice_of(at->host), at->fqdn));
	*failed = SP_CHECK_NONE;
out:
	return res;
}

/*
 * The heart of the device: called by OpenSSL for each certificate of the
 * chain, deepest first.  Returning 0 aborts the handshake, so a refused
 * server never sees a request.
 */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	attempt *at = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_ex_idx) : NULL;
	X509 *leaf;
	sp_srvcheck failed = SP_CHECK_CHAIN;
	sp_addrlist dnsans;
	const sp_addrlist *ans;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	sp_ipaddr peer, local;

	if (at == NULL)
		return 0;
	if (!ok) {
		int e = X509_STORE_CTX_get_error(xs);
		(void)sp_error(SP_E_VERIFY, "server check 1 (chain): %s (at depth %d)",
		    X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(xs));
		record(at, SP_CHECK_CHAIN);
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(xs) != 0)
		return 1;
	if (sp_failed(sp_srvcheck_strict(X509_STORE_CTX_get0_chain(xs)))) {
		record(at, SP_CHECK_CHAIN);
		return 0;
	}
	leaf = X509_STORE_CTX_get_current_cert(xs);
	if (leaf == NULL || sp_failed(leaf_checks(at, leaf, &failed))) {
		record(at, leaf ? failed : SP_CHECK_CHAIN);
		return 0;
	}
	/* Check 4: the peer we are talking to, as the kernel sees it. */
	if (getpeername(at->fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    !sp_ipaddr_from_sockaddr((struct sockaddr *)&ss, &peer)) {
		(void)sp_error(SP_E_VERIFY, "server check 4 (address): cannot read the peer address: %s",
		    strerror(errno));
		record(at, SP_CHECK_ADDR);
		return 0;
	}
	sp_ipaddr_format(&peer, at->peer);
	sl = sizeof(ss);
	if (getsockname(at->fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    sp_ipaddr_from_sockaddr((struct sockaddr *)&ss, &local))
		sp_ipaddr_format(&local, at->local);
	if (at->host_is_ip) {
		/* The URL named no host: ask DNS about the certificate's FQDN. */
		sp_result r = sp_dns_resolve(at->o->dns_servers, at->fqdn, &dnsans);
		if (sp_failed(r)) {
			(void)sp_error_wrap(r, "server check 4 (address): server address %s cannot be matched",
			    at->peer);
			record(at, SP_CHECK_ADDR);
			return 0;
		}
		ans = &dnsans;
	} else {
		/* Check 3 made the FQDN the URL host: reuse this round's answers. */
		ans = at->answers;
	}
	if (sp_failed(sp_srvcheck_addr(&peer, ans, at->fqdn))) {
		record(at, SP_CHECK_ADDR);
		return 0;
	}
	at->checks_passed = true;
	/* The connection is marked, so a later request on it (keep-alive) knows. */
	(void)SSL_set_ex_data(ssl, ssl_ok_idx, at);
	return 1;
}

/*
 * Watches for the server's close_notify alert: it ends a body that has no
 * Content-Length or chunking cleanly (HTTP/1.0 style, `openssl s_server
 * -WWW`).  Without it, the end of such a body is only a TCP close, which
 * anyone on the path can forge: a truncation.
 */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	attempt *at;

	/* SSL_CB_READ_ALERT is two bits: ALERT and READ (our own close_notify is WRITE). */
	if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT || (ret & 0xff) != SSL_AD_CLOSE_NOTIFY)
		return;
	at = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_ex_idx);
	if (at)
		at->close_notify = true;
}

static CURLcode
ssl_ctx_cb(CURL *curl, void *sslctx, void *userp)
{
	SSL_CTX *ctx = sslctx;
	attempt *at = userp;
	const sp_fetch_creds *cr = at->o->creds;
	X509_STORE *roots = NULL;

	/*
	 * Our own store holding server-ca.crt only: whatever curl or the
	 * system configuration would add never becomes a trust anchor.
	 */
	if (cr != NULL) {
		/* Loaded once by the caller; libcurl loaded no store of its own. */
		SSL_CTX_set1_cert_store(ctx, cr->roots);
		/* The key must match the certificate, as libcurl checks for files. */
		if (SSL_CTX_use_certificate(ctx, cr->cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, cr->key) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			(void)sp_error_ossl(SP_E_VERIFY, "%s, %s: the client certificate or key "
			    "cannot be used", at->o->certfile, at->o->keyfile);
			return CURLE_SSL_CERTPROBLEM;
		}
	} else if (sp_failed(sp_srvcheck_load_roots(at->o->cafile, &roots))) {
		record(at, SP_CHECK_CHAIN);
		return CURLE_SSL_CACERT_BADFILE;
	} else {
		SSL_CTX_set_cert_store(ctx, roots);
	}
	if (SSL_CTX_set_ex_data(ctx, ctx_ex_idx, at) != 1)
		return CURLE_SSL_CONNECT_ERROR;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	/* A TCP close without close_notify is a truncated profile, not an end. */
	SSL_CTX_clear_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_info_callback(ctx, info_cb);
	if (!at->o->resume) {
		/*
		 * Never resume: a resumed session skips verify_cb.  (With
		 * o->resume, prereq_cb runs checks 2-4 on the resumed session.)
		 */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	return CURLE_OK;
}

static curl_socket_t
open_cb(void *userp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	attempt *at = userp;
	sp_ipaddr ip;
	curl_socket_t fd;

	if (purpose != CURLSOCKTYPE_IPCXN || !sp_ipaddr_from_sockaddr(&addr->addr, &ip) ||
	    !sp_ipaddr_eq(&ip, &at->pinned))
		return CURL_SOCKET_BAD; /* only ever the address c-ares gave */
	fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
	at->fd = fd;
	return fd;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *userp)
{
	attempt *at = userp;

	if (at->o->sink) {
		long status = 0;
		if (curl_easy_getinfo(at->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
		    status != 200)
			return n;  /* not the body we stream */
		if (n > at->o->body_max - at->sunk) {
			at->body_too_big = true;
			return 0;
		}
		if (!at->o->sink(at->o->sink_arg, p, n)) {
			at->sink_failed = true;
			return 0;
		}
		at->sunk += n;
		return n;
	}
	if (sp_failed(sp_buf_append(at->body, p, n))) {
		at->body_too_big = true;
		return 0;
	}
	return n;
}

static size_t
header_cb(char *p, size_t size, size_t n, void *userp)
{
	attempt *at = userp;
	sp_slice line = sp_slice_trim(sp_slice_mk(p, n));

	if (line.len > 5 && strncasecmp(line.p, "etag:", 5) == 0) {
		sp_slice v = sp_slice_trim(sp_slice_mk(line.p + 5, line.len - 5));
		if (v.len <= SP_ETAG_MAX && !sp_has_ctl(v)) {
			memcpy(at->etag, v.p, v.len);
			at->etag[v.len] = '\0';
		}
	} else if (line.len > 15 && strncasecmp(line.p, "content-length:", 15) == 0) {
		at->framed = true;
	} else if (line.len > 18 && strncasecmp(line.p, "transfer-encoding:", 18) == 0 &&
	    memmem(line.p, line.len, "chunked", 7) != NULL) {
		at->framed = true;
	} else if (line.len > 12 && strncasecmp(line.p, "retry-after:", 12) == 0) {
		sp_slice v = sp_slice_trim(sp_slice_mk(line.p + 12, line.len - 12));
		int64_t secs;
		char num[16];
		/* Seconds only; an HTTP-date is ignored (the caller's own delay applies). */
		if (v.len > 0 && v.len < sizeof(num)) {
			memcpy(num, v.p, v.len);
			num[v.len] = '\0';
			if (sp_ok(sp_parse_i64(num, 0, SP_FETCH_RETRY_AFTER_MAX, "Retry-After", &secs)))
				at->retry_after = (long)secs;
			else
				sp_error_clear();
		}
	} else if (line.len > 5 && strncmp(line.p, "HTTP/", 5) == 0) {
		at->etag[0] = '\0'; /* a new response (redirect hop) */
		at->framed = false;
		at->close_notify = false;
		at->retry_after = -1;
	}
	return n;
}

static int
xfer_cb(void *userp, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	attempt *at = userp;

	return at->o->cancel && *at->o->cancel ? 1 : 0;
}

/*
 * Called by libcurl once the connection is ready, before the request is
 * sent (also for a request on a kept-alive connection).  A handshake that
 * ran verify_cb has marked the SSL; a resumed one has not, because OpenSSL
 * does not verify again: the session was made with this device's own full
 * handshake (sessions are never shared between devices), so the chain
 * stands, and checks 2-4 are run again here on the session's certificate
 * and the address now connected.  Anything else aborts before a byte of the
 * request is written.
 */
static int
prereq_cb(void *userp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	attempt *at = userp;
	struct curl_tlssessioninfo *ti = NULL;
	SSL *ssl;
	X509 *leaf;
	sp_srvcheck failed = SP_CHECK_CHAIN;
	sp_addrlist dnsans;
	const sp_addrlist *ans = at->answers;
	sp_ipaddr peer;
	long nconn = 0;

	if (curl_easy_getinfo(at->curl, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || ti == NULL ||
	    ti->backend != CURLSSLBACKEND_OPENSSL || ti->internals == NULL) {
		(void)sp_error(SP_E_VERIFY, "server check 1 (chain): no TLS session to check");
		record(at, SP_CHECK_CHAIN);
		return CURL_PREREQFUNC_ABORT;
	}
	ssl = ti->internals;
	at->resumed = SSL_session_reused(ssl) == 1;
	at->reused = curl_easy_getinfo(at->curl, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK &&
	    nconn == 0;
	if (at->checks_passed)
		return CURL_PREREQFUNC_OK; /* verify_cb ran on this very transfer */
	if (SSL_get_ex_data(ssl, ssl_ok_idx) == NULL && !at->resumed) {
		(void)sp_error(SP_E_VERIFY, "server check 1 (chain): the checks did not run");
		record(at, SP_CHECK_CHAIN);
		return CURL_PREREQFUNC_ABORT;
	}
	leaf = SSL_get0_peer_certificate(ssl);
	if (leaf == NULL || sp_failed(leaf_checks(at, leaf, &failed))) {
		if (leaf == NULL)
			(void)sp_error(SP_E_VERIFY, "server check 1 (chain): no server certificate");
		record(at, leaf ? failed : SP_CHECK_CHAIN);
		return CURL_PREREQFUNC_ABORT;
	}
	if (primary_ip == NULL || !sp_ipaddr_parse(sp_slice_of(primary_ip), &peer)) {
		(void)sp_error(SP_E_VERIFY, "server check 4 (address): cannot read the peer address");
		record(at, SP_CHECK_ADDR);
		return CURL_PREREQFUNC_ABORT;
	}
	sp_ipaddr_format(&peer, at->peer);
	if (local_ip != NULL)
		snprintf(at->local, sizeof(at->local), "%s", local_ip);
	if (at->host_is_ip) {
		if (sp_failed(sp_dns_resolve(at->o->dns_servers, at->fqdn, &dnsans))) {
			(void)sp_error_wrap((sp_result){ SP_E_VERIFY },
			    "server check 4 (address): server address %s cannot be matched", at->peer);
			record(at, SP_CHECK_ADDR);
			return CURL_PREREQFUNC_ABORT;
		}
		ans = &dnsans;
	}
	if (sp_failed(sp_srvcheck_addr(&peer, ans, at->fqdn))) {
		record(at, SP_CHECK_ADDR);
		return CURL_PREREQFUNC_ABORT;
	}
	(void)SSL_set_ex_data(ssl, ssl_ok_idx, at);
	at->checks_passed = true;
	return CURL_PREREQFUNC_OK;
}

sp_result
sp_fetch_xfer_new(sp_fetch_xfer **out)
{
	sp_result res = SP_OK;
	sp_fetch_xfer *x = NULL;

	*out = NULL;
	TRY(sp_fetch_global_init());
	TRY_ALLOC(x, calloc(1, sizeof(*x)));
	TRY_ALLOC(x->c, curl_easy_init());
	*out = x;
	x = NULL;
out:
	sp_fetch_xfer_free(x);
	return res;
}

void
sp_fetch_xfer_free(sp_fetch_xfer *x)
{
	if (x == NULL)
		return;
	if (x->c != NULL)
		curl_easy_cleanup(x->c);
	curl_slist_free_all(x->resolve);
	curl_slist_free_all(x->hdrs);
	free(x);
}

CURL *
sp_fetch_xfer_easy(sp_fetch_xfer *x)
{
	return x->c;
}

static sp_result
xfer_setup(sp_fetch_xfer *x, const sp_url *u, const sp_fetch_opts *o,
    const sp_addrlist *answers, size_t idx, bool send_auth, sp_buf *body)
{
	sp_result res = SP_OK;
	char buf[SP_URL_HOST_MAX + SP_ADDRSTR_MAX + 64];
	attempt *at = &x->at;
	CURL *c = x->c;
	sp_ipaddr lit;

	ENSURE(idx < answers->n, SP_E_INTERNAL, "no address %zu to connect to", idx);
	TRY(sp_url_https(u, x->url));
	x->u = *u;
	/*
	 * curl_easy_reset keeps the live connection and the session cache of
	 * the handle: what a device that keeps them (sprov fleet) wants.
	 */
	curl_easy_reset(c);
	curl_slist_free_all(x->resolve);
	curl_slist_free_all(x->hdrs);
	x->resolve = x->hdrs = NULL;
	x->errbuf[0] = '\0';
	memset(at, 0, sizeof(*at));
	at->o = o;
	at->host = x->u.host;
	at->host_is_ip = sp_ipaddr_parse(sp_slice_of(x->u.host), &lit);
	at->answers = answers;
	at->pinned = answers->v[idx];
	at->fd = CURL_SOCKET_BAD;
	at->body = body;
	at->send_auth = send_auth;
	at->retry_after = -1;
	at->curl = c;
	sp_ipaddr_format(&at->pinned, x->addr);
	ENSURE(o->sink == NULL || o->sink(o->sink_arg, NULL, 0), SP_E_IO,
	    "cannot start the download over");
#define SETOPT(opt, val)                                                        \
	ENSURE(curl_easy_setopt(c, opt, val) == CURLE_OK, SP_E_INTERNAL,        \
	    "libcurl refused option " #opt)
	SETOPT(CURLOPT_URL, x->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);   /* we follow, with every check */
	SETOPT(CURLOPT_PROXY, "");            /* never a proxy from the environment */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/*
	 * With o->creds libcurl never reads this file (it does not verify,
	 * below), but it still tells the devices apart: libcurl reuses a kept
	 * connection, or a pool's, only for the same TLS settings, CAINFO
	 * included, and the path is the device's own.
	 */
	SETOPT(CURLOPT_CAINFO, o->cafile);
	SETOPT(CURLOPT_CAPATH, NULL);         /* never the system store */
	SETOPT(CURLOPT_CA_CACHE_TIMEOUT, 0L);
	SETOPT(CURLOPT_SSL_OPTIONS, (long)CURLSSLOPT_NO_PARTIALCHAIN);
	/*
	 * The session cache of an easy handle is its own (never shared between
	 * handles without a share object), so with o->resume a device resumes
	 * only its own sessions.
	 */
	SETOPT(CURLOPT_SSL_SESSIONID_CACHE, o->resume ? 1L : 0L);
	SETOPT(CURLOPT_FORBID_REUSE, o->keepalive ? 0L : 1L);
	if (o->creds == NULL) {
		SETOPT(CURLOPT_SSLCERT, o->certfile);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		SETOPT(CURLOPT_SSLKEY, o->keyfile);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
	/*
	 * Check 1 (the chain) stays OpenSSL's, through our own store:
	 * ssl_ctx_cb sets SSL_VERIFY_PEER with verify_cb whatever libcurl set,
	 * and a handshake verify_cb refuses fails.  With o->creds libcurl is
	 * told not to verify only so that it loads no CA file of its own (its
	 * store would be replaced by ours anyway): libcurl 7.88 reads its
	 * CAINFO, or its default bundle, at every connection it verifies.
	 */
	SETOPT(CURLOPT_SSL_VERIFYPEER, o->creds ? 0L : 1L);
	/*
	 * Host name verification is off ONLY because verify_cb replaces it with
	 * the seed's stricter checks 2-4 (the FQDN/extra CN rule, which
	 * OpenSSL's X509_check_host does not understand, and the DNS check).
	 */
	SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	SETOPT(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SETOPT(CURLOPT_SSL_CTX_DATA, at);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_cb);
	SETOPT(CURLOPT_OPENSOCKETDATA, at);
	SETOPT(CURLOPT_PREREQFUNCTION, prereq_cb);
	SETOPT(CURLOPT_PREREQDATA, at);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, at);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, at);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, xfer_cb);
	SETOPT(CURLOPT_XFERINFODATA, at);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->body_max);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
	    o->connect_timeout_ms > 0 ? o->connect_timeout_ms : (long)SP_FETCH_CONNECT_TIMEOUT_MS);
	SETOPT(CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : (long)SP_FETCH_TIMEOUT_MS);
	if (o->user_agent)
		SETOPT(CURLOPT_USERAGENT, o->user_agent);
	if (!at->host_is_ip) {
		/* Pin curl to the c-ares answer: curl's own resolver never runs. */
		ENSURE((size_t)snprintf(buf, sizeof(buf), at->pinned.family == AF_INET6 ?
		    "%s:%u:[%s]" : "%s:%u:%s", x->u.host, x->u.port, x->addr) < sizeof(buf),
		    SP_E_LIMIT, "host too long");
		TRY_ALLOC(x->resolve, curl_slist_append(NULL, buf));
		SETOPT(CURLOPT_RESOLVE, x->resolve);
	}
	if (o->if_none_match && *o->if_none_match) {
		struct curl_slist *t;
		ENSURE((size_t)snprintf(buf, sizeof(buf), "If-None-Match: %s", o->if_none_match) <
		    sizeof(buf), SP_E_LIMIT, "ETag too long");
		TRY_ALLOC(t, curl_slist_append(x->hdrs, buf));
		x->hdrs = t;
	}
	if (o->is_post) {
		struct curl_slist *t;
		snprintf(buf, sizeof(buf), "Content-Type: %s",
		    o->content_type ? o->content_type : "application/octet-stream");
		TRY_ALLOC(t, curl_slist_append(x->hdrs, buf));
		x->hdrs = t;
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->post_len);
		SETOPT(CURLOPT_POSTFIELDS, o->post_len ? o->post : "");
	}
	{
		/* No "Expect: 100-continue" dance: the body is small. */
		struct curl_slist *t;
		TRY_ALLOC(t, curl_slist_append(x->hdrs, "Expect:"));
		x->hdrs = t;
	}
	SETOPT(CURLOPT_HTTPHEADER, x->hdrs);
	if (at->send_auth && (o->uid || o->pwd)) {
		/* Basic or Digest as the server asks: curl retries the 401 once. */
		SETOPT(CURLOPT_HTTPAUTH, (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST));
		SETOPT(CURLOPT_USERNAME, o->uid ? o->uid : "");
		SETOPT(CURLOPT_PASSWORD, o->pwd ? o->pwd : "");
	}
#undef SETOPT
out:
	return res;
}

sp_result
sp_fetch_xfer_setup(sp_fetch_xfer *x, const sp_url *url, const sp_fetch_opts *o,
    const sp_addrlist *answers, size_t idx, sp_buf *body)
{
	return xfer_setup(x, url, o, answers, idx, true, body);
}

/* After the transfer: the same judgement for sp_fetch and for the fleet. */
static sp_result
xfer_judge(sp_fetch_xfer *x, CURLcode cc, long *status, char *location, bool *retry)
{
	sp_result res = SP_OK;
	attempt *at = &x->at;
	const sp_fetch_opts *o = at->o;
	const sp_url *u = &x->u;
	const char *errbuf = x->errbuf;
	char *loc = NULL;

	*retry = false;
	*status = 0;
	location[0] = '\0';
	if (at->failed != SP_CHECK_NONE) {
		res = sp_error(SP_E_VERIFY, "%s", at->msg);
		goto out;
	}
	if (cc == CURLE_COULDNT_CONNECT) {
		*retry = true;
		ENSURE(0, SP_E_NET, "cannot connect to %s port %u (%s): %s", x->addr, u->port,
		    u->host, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	ENSURE(!at->body_too_big && cc != CURLE_FILESIZE_EXCEEDED, SP_E_LIMIT,
	    "the %s is larger than %zu bytes", o->sink ? "download" : "profile", o->body_max);
	ENSURE(!at->sink_failed, SP_E_IO, "writing the download failed: %s", sp_errmsg());
	ENSURE(!(o->cancel && *o->cancel), SP_E_NET, "cancelled");
	ENSURE(cc == CURLE_OK, SP_E_NET, "%s (%s port %u): %s", curl_easy_strerror(cc), x->addr,
	    u->port, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	/* Belt and braces: a response without our checks never counts. */
	ENSURE(at->checks_passed, SP_E_VERIFY, "server check 1 (chain): the checks did not run");
	ENSURE(curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, status) == CURLE_OK, SP_E_NET,
	    "no HTTP status");
	/*
	 * A body that ends only where the connection ends is whole when TLS
	 * saw close_notify (HTTP/1.0 style); after a bare TCP close it cannot
	 * be told from a truncated one (curl accepts that close).
	 */
	ENSURE(*status != 200 || at->framed || at->close_notify, SP_E_NET,
	    "HTTP 200 without Content-Length or chunked encoding, and the connection "
	    "ended without TLS close_notify: cannot tell a whole body from a truncated one");
	if ((*status == 301 || *status == 302) &&
	    curl_easy_getinfo(x->c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL) {
		ENSURE(strlen(loc) <= SP_URL_MAX, SP_E_LIMIT, "redirect URL too long");
		snprintf(location, SP_URL_MAX + 1, "%s", loc);
	}
out:
	return res;
}

static void
xfer_report(const sp_fetch_xfer *x, sp_fetch_result *r)
{
	snprintf(r->fqdn, sizeof(r->fqdn), "%s", x->at.fqdn);
	snprintf(r->etag, sizeof(r->etag), "%s", x->at.etag);
	snprintf(r->local, sizeof(r->local), "%s", x->at.local);
	r->failed_check = x->at.failed;
	r->retry_after = x->at.retry_after;
	r->resumed = x->at.resumed;
	r->reused = x->at.reused;
}

sp_result
sp_fetch_xfer_finish(sp_fetch_xfer *x, CURLcode cc, sp_fetch_result *r, bool *retry)
{
	sp_result res;

	r->url = x->u;
	snprintf(r->address, sizeof(r->address), "%s", x->addr);
	res = xfer_judge(x, cc, &r->status, r->location, retry);
	xfer_report(x, r);
	return res;
}

sp_result
sp_fetch_resolve(const sp_url *u, const char *dns_servers, sp_addrlist *answers)
{
	sp_ipaddr lit;

	memset(answers, 0, sizeof(*answers));
	if (sp_ipaddr_parse(sp_slice_of(u->host), &lit)) {
		sp_addrlist_add(answers, &lit);
		return SP_OK;
	}
	return sp_dns_resolve(dns_servers, u->host, answers);
}

sp_result
sp_fetch_redirect(const char *location, unsigned hops, sp_url *next)
{
	sp_result res = SP_OK;

	ENSURE(hops < SP_FETCH_REDIRECTS_MAX, SP_E_NET,
	    "more than %d redirects (last to %.200s)", SP_FETCH_REDIRECTS_MAX, location);
	res = sp_url_parse(sp_slice_of(location), next);
	if (sp_ok(res))
		res = sp_url_https(next, NULL);
	if (sp_failed(res))
		res = sp_error_wrap(res, "redirect to '%.200s'", location);
out:
	return res;
}

/* One connection to one address.  *retry: the connect failed, try the next. */
static sp_result
attempt_one(const sp_url *u, const sp_fetch_opts *o, const sp_addrlist *answers, size_t idx,
    bool send_auth, sp_fetch_result *r, char *location, bool *retry)
{
	sp_result res = SP_OK;
	sp_fetch_xfer *x = NULL;
	CURLcode cc;

	*retry = false;
	r->status = 0;
	location[0] = '\0';
	TRY(sp_fetch_xfer_new(&x));
	TRY(xfer_setup(x, u, o, answers, idx, send_auth, &r->body));
	cc = curl_easy_perform(x->c);
	res = xfer_judge(x, cc, &r->status, location, retry);
	xfer_report(x, r);
out:
	sp_fetch_xfer_free(x);
	return res;
}

sp_result
sp_fetch(const sp_url *url, const sp_fetch_opts *o, sp_fetch_result *r)
{
	sp_result res = SP_OK;
	char location[SP_URL_MAX + 1];
	sp_url u = *url;
	sp_addrlist answers;

	TRY(sp_fetch_global_init());
	sp_buf_free_secret(&r->body);
	sp_buf_init(&r->body, o->body_max);
	TRY(sp_url_https(&u, NULL));
	for (r->redirects = 0;; r->redirects++) {
		bool retry = false;
		/* A redirect elsewhere never receives the credentials. */
		bool send_auth = strcasecmp(u.host, url->host) == 0 && u.port == url->port;

		r->url = u;
		r->status = 0;
		r->address[0] = r->fqdn[0] = r->etag[0] = r->local[0] = '\0';
		TRY(sp_fetch_resolve(&u, o->dns_servers, &answers));
		for (size_t i = 0; i < answers.n; i++) {
			sp_buf_free_secret(&r->body);
			sp_buf_init(&r->body, o->body_max);
			sp_ipaddr_format(&answers.v[i], r->address);
			if (o->on_connect)
				o->on_connect(o->on_connect_arg, r);
			res = attempt_one(&u, o, &answers, i, send_auth, r, location, &retry);
			if (sp_ok(res) || !retry)
				break;
		}
		if (sp_failed(res))
			goto out;
		if (location[0] == '\0')
			break;
		TRY(sp_fetch_redirect(location, r->redirects, &u));
	}
out:
	if (sp_failed(res))
		sp_buf_free_secret(&r->body);
	return res;
}
