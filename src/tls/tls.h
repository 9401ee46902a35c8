/*
 * The server's TLS, behind our own narrow interface.
 *
 * Nothing here names a TLS library's type.  Two backends sit behind the same
 * functions, chosen per server (`tls-backend`): OpenSSL (tls_openssl.c,
 * bufferevent_openssl) and GnuTLS (tls_gnutls.c, a bufferevent_filter).
 * The policy both share (loading, CRLs, caches, the checks on a device
 * certificate, resumption) is in tls.c, tls_policy.c and tls_cache.c; a
 * backend only builds its half of a configuration and runs connections
 * (tls_internal.h).
 *
 * An sp_tls_server lives as long as the process.  It holds the ticket keys
 * (shared by every configuration, so a reload does not end resumption), the
 * counters for /metrics, and the *current* configuration: certificate, key,
 * device CA, CRL.  sp_tls_server_load() builds a complete new configuration
 * and swaps it in; connections already open keep the one they started with,
 * new connections get the new one.  Failing to load leaves the old one in
 * force.
 *
 * Every entry point is safe to call from any worker thread.
 */
#ifndef SPROV_TLS_TLS_H
#define SPROV_TLS_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/result.h"
#include "identity/devid.h"

struct bufferevent;
struct event_base;
struct sp_keyproc;

/*
 * verify-depth bounds the verified chain, leaf and trust anchor included,
 * as OpenSSL builds it up to a root in client-ca; both backends agree.
 */
#define SP_TLS_VERIFY_DEPTH_DEFAULT 4     /* leaf + up to 3 CAs above it */
#define SP_TLS_VERIFY_DEPTH_MAX 10
#define SP_TLS_SERIAL_HEX_MAX 64          /* 20-byte serials: 40 hex digits */
#define SP_TLS_TICKET_KEYS 3              /* current + 2 older, decrypt only */
#define SP_TLS_TICKET_ROTATE_DEFAULT 3600 /* seconds between key rotations */
#define SP_TLS_CERT_MAX (1024 * 1024)     /* PEM file size cap */
#define SP_TLS_HANDSHAKES_PER_SOURCE_DEFAULT 64
#define SP_TLS_HANDSHAKES_PER_SOURCE_MAX 1000000

typedef enum { SP_TLS_OPENSSL = 0, SP_TLS_GNUTLS } sp_tls_backend;
/* GnuTLS: fewer server-CPU microseconds per full handshake (bench/RESULTS.md). */
#define SP_TLS_BACKEND_DEFAULT SP_TLS_GNUTLS

SP_MUST_CHECK sp_result sp_tls_backend_parse(const char *s, sp_tls_backend *out);
const char *sp_tls_backend_name(sp_tls_backend b); /* "openssl", "gnutls" */

typedef struct sp_tls_config {
	const char *cert_file;      /* server chain, PEM (from `sprov ca sign`) */
	const char *key_file;       /* server key, PEM */
	const char *client_ca_file; /* device CA(s), PEM; intermediates allowed */
	const char *crl_file;       /* NULL: no revocation check (logged) */
	int verify_depth;           /* max chain length, leaf and root included */
	int64_t crl_grace;          /* seconds an expired CRL stays in force */
	int64_t ticket_rotate;      /* seconds between ticket key rotations */
	sp_tls_backend backend;     /* fixed for a server's life */
	/*
	 * Connections from one source address (IPv4 /32, IPv6 /64) between
	 * accept and the end of their handshake; one more is closed at once,
	 * without a handshake.  0: no cap.
	 */
	unsigned handshakes_per_source;
	/*
	 * NULL: read key_file here.  Else the key process holds key_file and
	 * this process signs through it (src/keyproc), never seeing the key.
	 */
	struct sp_keyproc *keyproc;
	sp_idstyle identity;        /* names a refused leaf's device (sp_tls_refusal) */
	/*
	 * The admin listener's server (src/server/admin.c): the same
	 * certificate, key and protocol policy, no client certificate asked
	 * for; client_ca_file, crl_file and verify_depth are not used.
	 */
	bool no_client_auth;
} sp_tls_config;

typedef struct sp_tls_server sp_tls_server;

/*
 * Why a device was refused, decided once for both backends
 * (sp_tls_fail_of in tls_policy.c), so the same certificate gets the same
 * reason from either.  The first nine are the store's sp_fail_reason
 * names (store/console.h): "revoked", "expired", "not-yet-valid",
 * "wrong-purpose" (not for TLS clients, or issued by the server CA),
 * "untrusted" (no chain to a device CA: wrong CA, bad signature, chain
 * too long), "no-crl" (none from its issuer, or the CRL expired past
 * crl-grace), "no-certificate", "bad-identity" (names no single device:
 * sp_tls_peer_get only), "handshake" (any other fatal alert we sent).
 */
typedef enum {
	SP_TLS_FAIL_REVOKED = 0, SP_TLS_FAIL_EXPIRED, SP_TLS_FAIL_NOT_YET_VALID,
	SP_TLS_FAIL_WRONG_PURPOSE, SP_TLS_FAIL_UNTRUSTED, SP_TLS_FAIL_NO_CRL,
	SP_TLS_FAIL_NO_CERT, SP_TLS_FAIL_BAD_IDENTITY, SP_TLS_FAIL_HANDSHAKE
} sp_tls_fail;

#define SP_TLS_DETAIL_MAX 95

/*
 * A handshake refused, for the refused hook.  named: the identity rule
 * found a device in the presented leaf's subject, which was NOT verified:
 * a label for the record, never an authorisation.
 */
typedef struct sp_tls_refusal {
	sp_tls_fail reason;
	bool named;
	sp_devid id;                                 /* valid when named */
	char cert_serial[SP_TLS_SERIAL_HEX_MAX + 1]; /* "" if no certificate */
	char detail[SP_TLS_DETAIL_MAX + 1];          /* the refusal as logged */
} sp_tls_refusal;

/*
 * Per-connection hooks, called on the thread that runs the connection.
 * `conn` is the pointer given to sp_tls_bufferevent_new.
 */
typedef struct sp_tls_hooks {
	void (*handshake_done)(void *conn, bool resumed);
	void (*conn_free)(void *conn); /* the TLS connection is gone */
	/*
	 * The handshake was refused (at most once per connection; never on
	 * success, so a good handshake pays nothing).  May be NULL.
	 */
	void (*refused)(void *conn, const sp_tls_refusal *r);
} sp_tls_hooks;

SP_MUST_CHECK sp_result sp_tls_server_new(sp_tls_backend backend,
    const sp_tls_hooks *hooks, sp_tls_server **out);
void sp_tls_server_free(sp_tls_server *srv);
sp_tls_backend sp_tls_server_backend(const sp_tls_server *srv);

/*
 * Build a configuration from files and make it current.  cfg->backend
 * must be the server's (SP_E_USAGE otherwise: changing needs a restart).
 */
SP_MUST_CHECK sp_result sp_tls_server_load(sp_tls_server *srv,
    const sp_tls_config *cfg);
/* Check a configuration loads, without installing it (--check-config). */
SP_MUST_CHECK sp_result sp_tls_config_check(const sp_tls_config *cfg);

/*
 * Reload when the CRL file changed (inode, size or mtime): the caller runs
 * this on a timer.  *reloaded tells whether a new configuration went in.
 */
SP_MUST_CHECK sp_result sp_tls_server_poll_crl(sp_tls_server *srv, bool *reloaded);

/* Make a new ticket key current when the rotation period has passed. */
void sp_tls_server_rotate_tickets(sp_tls_server *srv, bool force);

/*
 * Ticket keys supplied from outside, the same on every node of a cluster
 * (src/server/cluster.c keeps them in the store).  keys[0] encrypts new
 * tickets; every key decrypts (a ticket under another is renewed under
 * keys[0]).  n is 1..SP_TLS_TICKET_KEYS_EXT; each key is
 * SP_TLS_TICKET_SECRET_LEN random bytes.  From the first call on, the
 * server makes no keys of its own (sp_tls_server_rotate_tickets does
 * nothing), and every resumed session is held to the current device CAs
 * (sp_tls_resume_refused), since another node, trusting other CAs, may
 * have issued it.  GnuTLS takes one master key, keys[0] (its first 64
 * bytes), and derives its time-based keys from it alike on every node; a
 * ticket issued before keys[0] changed needs a full handshake there.
 * The keys are copied; the caller wipes its own.
 */
#define SP_TLS_TICKET_SECRET_LEN 80 /* OpenSSL: name 16, AES 32, HMAC 32 */
#define SP_TLS_TICKET_KEYS_EXT (SP_TLS_TICKET_KEYS + 1) /* + one not yet in use */
void sp_tls_server_set_ticket_keys(sp_tls_server *srv,
    const uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN], size_t n);

/*
 * A server-side TLS bufferevent for evhttp's bevcb (the socket is set by
 * evhttp later).  NULL on failure (out of memory).  With
 * handshakes-per-source on, the connection is counted toward its source's
 * cap as soon as evhttp has set the socket (an event made active now runs
 * after evhttp's accept callback, before the next poll and so before any
 * byte of the handshake is read); over the cap the socket is shut down at
 * once, without a handshake, and evhttp frees the connection on EOF.
 */
struct bufferevent *sp_tls_bufferevent_new(sp_tls_server *srv,
    struct event_base *base, void *conn);

/*
 * Like sp_tls_bufferevent_new, for a connection whose source the caller
 * learns from the connection itself (a PROXY protocol header, read before
 * the handshake: the caller keeps the bufferevent disabled until then).
 * Nothing is counted toward handshakes-per-source until the caller names
 * the source with sp_tls_bufferevent_admit (over the cap: shut down at
 * once), or closes the connection before any handshake with
 * sp_tls_bufferevent_refuse (not counted as an aborted handshake).
 */
struct bufferevent *sp_tls_bufferevent_new_proxied(sp_tls_server *srv,
    struct event_base *base, void *conn);
void sp_tls_bufferevent_admit(struct bufferevent *bev, const struct sockaddr *sa,
    socklen_t len);
void sp_tls_bufferevent_refuse(struct bufferevent *bev);

/*
 * The connection is about to be closed after a clean HTTP exchange: send
 * close_notify.  OpenSSL drops a session from the server cache when its
 * connection is freed without one, which would defeat TLS 1.2 session-ID
 * resumption for every HTTP/1.0 device.  Works on either backend's
 * bufferevents.
 */
void sp_tls_bufferevent_close(struct bufferevent *bev);

/* The conn pointer given to sp_tls_bufferevent_new, or NULL. */
void *sp_tls_bufferevent_conn(struct bufferevent *bev);

typedef struct sp_tls_peer {
	sp_devid id;
	char cert_serial[SP_TLS_SERIAL_HEX_MAX + 1]; /* certificate serial, hex */
	int64_t not_after;           /* the certificate's notAfter, 0 if none */
	/* On error: why, and whether id names the (unverified) subject's device. */
	sp_tls_fail fail;
	bool named;
	bool resumed;
	const char *version; /* "TLSv1.3", static */
} sp_tls_peer;

/*
 * Who is on the other end: the verified client certificate (also on a
 * resumed session), re-checked against the CURRENT CRL and expiry, then the
 * identity rule.  Errors: SP_E_VERIFY (no certificate, revoked since the
 * handshake, expired), SP_E_POLICY (the certificate names no single device).
 * cert_serial and not_after are filled whenever a certificate is present,
 * also on error; then fail says why (the refused hook's reasons), and
 * named whether id holds the device the certificate names.
 */
SP_MUST_CHECK sp_result sp_tls_peer_get(sp_tls_server *srv, struct bufferevent *bev,
    sp_idstyle style, sp_tls_peer *out);

/* Connections closed unshaken: their source had handshakes-per-source. */
uint64_t sp_tls_server_source_refused(sp_tls_server *srv);

/* Prometheus text for the TLS counters and the CRL's state. */
SP_MUST_CHECK sp_result sp_tls_server_metrics(sp_tls_server *srv, sp_buf *out);

typedef struct sp_tls_crl_state {
	bool loaded;
	int64_t last_update; /* 0 if none */
	int64_t next_update; /* 0 if none */
	bool expired;        /* next_update has passed */
	bool in_grace;       /* expired but still in force */
} sp_tls_crl_state;
void sp_tls_server_crl_state(sp_tls_server *srv, sp_tls_crl_state *out);

/* One CRL in force, for /metrics (sprov_crl_next_update_timestamp_seconds). */
#define SP_TLS_CRL_ISSUER_MAX 256
typedef struct sp_tls_crl_info {
	char issuer[SP_TLS_CRL_ISSUER_MAX + 1]; /* its issuer's CN, else the DN */
	int64_t next_update;  /* Unix time, 0 if the CRL has none */
	bool has_number;      /* a crlNumber that fits in int64 */
	int64_t number;
} sp_tls_crl_info;
/* Up to max CRLs of the configuration in force, in file order; how many. */
size_t sp_tls_server_crls(sp_tls_server *srv, sp_tls_crl_info *out, size_t max);

#endif
