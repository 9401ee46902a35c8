/*
 * The device's HTTPS transport: one GET or POST, with the four server checks
 * of check.h enforced inside the TLS handshake, so that no request byte
 * leaves the device unless every check passed.
 *
 *  - libcurl (OpenSSL build); the only trust anchors are the device's
 *    server-ca.crt (a store of our own, never the system store);
 *  - the host is resolved through c-ares (dns.h) and curl is pinned to the
 *    answers with CURLOPT_RESOLVE, tried in turn when a connect fails;
 *  - 301/302 are followed here, at most SP_FETCH_REDIRECTS_MAX times, each
 *    hop a new connection with every check run again against the new host;
 *  - the body is read whole, at most body_max bytes, and a connection that
 *    ends early (short Content-Length, or a body without Content-Length or
 *    chunking that ends without TLS close_notify) is an error; the same
 *    body ended by close_notify is whole (HTTP/1.0, openssl s_server -WWW).
 *
 * Only https is accepted: the checks that the seed's security rests on need
 * TLS, so a plain-http or tftp URL (or a redirect to one) is refused, by
 * sp_url_https (profile/url.h), the one place that rule lives.
 */
#ifndef SPROV_DEVICE_FETCH_H
#define SPROV_DEVICE_FETCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <openssl/types.h>

#include "common/buf.h"
#include "common/result.h"
#include "device/addr.h"
#include "device/check.h"
#include "device/pin.h"
#include "profile/url.h"

#define SP_ETAG_MAX 256
#define SP_FETCH_REDIRECTS_MAX 5
#define SP_FETCH_CONNECT_TIMEOUT_MS 10000
#define SP_FETCH_TIMEOUT_MS 60000
#define SP_FETCH_RETRY_AFTER_MAX 86400  /* a Retry-After above this is ignored */

struct sp_fetch_result;

/*
 * A device's files already in memory (`sprov fleet`: parsed once per device,
 * not at each connection).  roots: server-ca.crt as sp_srvcheck_load_roots
 * builds it (the only trust anchors); cert, key: client.crt, client.key.
 * Each connection's SSL_CTX takes a reference; the caller keeps them alive
 * until the transfer ends.
 */
typedef struct sp_fetch_creds {
	X509_STORE *roots;
	X509 *cert;
	EVP_PKEY *key;
} sp_fetch_creds;

typedef struct sp_fetch_opts {
	const char *cafile;        /* server-ca.crt: the only trust anchors */
	const char *certfile;      /* client.crt */
	const char *keyfile;       /* client.key */
	/*
	 * Non-NULL: the three files above as already loaded, and libcurl reads
	 * nothing (the device leaves it NULL: it reads its files at each
	 * connection).  The checks are the same either way.
	 */
	const sp_fetch_creds *creds;
	const char *dns_servers;   /* c-ares CSV list, NULL: system */
	const char *user_agent;
	const char *if_none_match; /* ETag to send, NULL: none */
	bool is_post;
	const void *post;
	size_t post_len;
	const char *content_type;  /* for POST */
	size_t body_max;
	const char *uid, *pwd;     /* HTTP auth (--uid/--pwd), first host only */
	const sp_pin *pin;         /* Provision_Domain, part of check 2; NULL: none */
	long connect_timeout_ms;   /* 0: SP_FETCH_CONNECT_TIMEOUT_MS */
	long timeout_ms;           /* 0: SP_FETCH_TIMEOUT_MS */
	volatile sig_atomic_t *cancel; /* set non-zero to abort (daemon stop) */
	/*
	 * For sp_fetch_xfer with a kept easy handle (sprov fleet); the device
	 * leaves both false.  resume: keep the TLS session in the handle's own
	 * cache and resume it (checks 2-4 run again on the resumed session);
	 * keepalive: leave the connection open for the handle's next request.
	 */
	bool resume;
	bool keepalive;
	/*
	 * Stream the body instead of buffering it (firmware images, up to
	 * body_max bytes): sink receives the bytes of a 200 response only
	 * (a redirect's or a 401's body is dropped), and is called with
	 * (NULL, 0) before each connection: start over.  false from it stops
	 * the transfer (SP_E_IO).  r->body stays empty.
	 */
	bool (*sink)(void *arg, const void *p, size_t n);
	void *sink_arg;
	/* Called before each connection with url and address set. */
	void (*on_connect)(void *arg, const struct sp_fetch_result *r);
	void *on_connect_arg;
} sp_fetch_opts;

typedef struct sp_fetch_result {
	long status;                  /* final HTTP status, 0 if none */
	sp_srvcheck failed_check;     /* which server check refused, or NONE */
	sp_url url;                   /* the last URL contacted (a redirect's) */
	char address[SP_ADDRSTR_MAX]; /* the address connected to, "" if none */
	char local[SP_ADDRSTR_MAX];   /* our own address on that connection ($IP) */
	char fqdn[SP_FQDN_MAX + 1];   /* the server certificate's FQDN */
	char etag[SP_ETAG_MAX + 1];   /* "" if none */
	unsigned redirects;
	long retry_after;             /* Retry-After seconds, -1: none */
	bool resumed;                 /* the TLS session was resumed */
	bool reused;                  /* sent on an earlier connection (keep-alive) */
	/*
	 * sp_fetch_xfer_finish: a 301/302's Location, for the caller to
	 * follow; "" otherwise.  sp_fetch follows it itself.
	 */
	char location[SP_URL_MAX + 1];
	sp_buf body;
} sp_fetch_result;

/* curl_global_init, and refuse a libcurl that is not the OpenSSL build. */
SP_MUST_CHECK sp_result sp_fetch_global_init(void);

void sp_fetch_result_init(sp_fetch_result *r);
void sp_fetch_result_free(sp_fetch_result *r);

/*
 * Fetch url.  Returns SP_OK once an HTTP response was read whole, whatever
 * its status (the caller decides what 404 means); 301/302 are followed.
 * Errors: SP_E_VERIFY (a server check, r->failed_check says which),
 * SP_E_NET (DNS, connect, TLS, truncated body), SP_E_LIMIT (body too big),
 * SP_E_POLICY (scheme), SP_E_PARSE (URL).
 */
SP_MUST_CHECK sp_result sp_fetch(const sp_url *url, const sp_fetch_opts *o,
    sp_fetch_result *r);

/*
 * The addresses to try for u: its IP literal, or its host's c-ares answers
 * (dns_servers: CSV, NULL: the system's).  Fails only when DNS does.
 */
SP_MUST_CHECK sp_result sp_fetch_resolve(const sp_url *u, const char *dns_servers,
    sp_addrlist *answers);

/*
 * A 301/302 to location, after `hops` redirects already followed: the next
 * URL, parsed and checked (https only) as the first one was.  SP_E_NET
 * past SP_FETCH_REDIRECTS_MAX hops.
 */
SP_MUST_CHECK sp_result sp_fetch_redirect(const char *location, unsigned hops, sp_url *next);

/*
 * One transfer to one pinned address on an easy handle that the caller
 * drives (curl_easy_perform, or a multi handle as `sprov fleet` does), with
 * exactly sp_fetch's options, callbacks and checks.  Redirects are not
 * followed here: the caller sees the 301/302.
 *
 *   sp_fetch_xfer_new        a handle; reuse it for the next transfer to
 *                            keep its connection and TLS session
 *   sp_fetch_xfer_setup      prepare url (https only) to answers->v[idx];
 *                            o, answers and body must stay valid until the
 *                            transfer ends
 *   sp_fetch_xfer_finish     judge the transfer libcurl ended with cc, as
 *                            sp_fetch does; *retry: the connect failed, the
 *                            next address may be tried; a 301/302 leaves
 *                            its Location in r->location, for
 *                            sp_fetch_redirect
 */
typedef struct sp_fetch_xfer sp_fetch_xfer;

SP_MUST_CHECK sp_result sp_fetch_xfer_new(sp_fetch_xfer **out);
void sp_fetch_xfer_free(sp_fetch_xfer *x);
CURL *sp_fetch_xfer_easy(sp_fetch_xfer *x);
SP_MUST_CHECK sp_result sp_fetch_xfer_setup(sp_fetch_xfer *x, const sp_url *url,
    const sp_fetch_opts *o, const sp_addrlist *answers, size_t idx, sp_buf *body);
SP_MUST_CHECK sp_result sp_fetch_xfer_finish(sp_fetch_xfer *x, CURLcode cc,
    sp_fetch_result *r, bool *retry);

#endif
