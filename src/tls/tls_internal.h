/*
 * Between the shared layer (tls.c, tls_policy.c, tls_cache.c) and the
 * backends (tls_openssl.c, tls_gnutls.c).  Nothing outside src/tls includes
 * this.
 *
 * As curl's vtls.c does for its backends, the shared layer owns all the
 * policy: file paths, CRL loading, stat polling and warnings, load logging,
 * configuration checks, the current configuration and its swap, the
 * per-connection peer check and its cache, the verified-chain cache, the
 * resumption policy and the counters.  A backend builds its half of a
 * configuration (sp_tls_conf.b), runs connections, and answers what only
 * it can answer (the peer's certificate, whether a session was resumed).
 *
 * The shared layer keeps certificates and CRLs as OpenSSL objects on both
 * backends, so each check is one piece of code.
 */
#ifndef SPROV_TLS_INTERNAL_H
#define SPROV_TLS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "tls/tls.h"

enum {
	SP_TLS_VF_NO_CERT, SP_TLS_VF_UNKNOWN_CA, SP_TLS_VF_EXPIRED, SP_TLS_VF_REVOKED,
	SP_TLS_VF_CRL_MISSING, SP_TLS_VF_CRL_EXPIRED, SP_TLS_VF_CHAIN_TOO_LONG,
	SP_TLS_VF_BAD_SIGNATURE, SP_TLS_VF_OTHER, SP_TLS_VF_N
};

enum { SP_TLS_HS_FULL, SP_TLS_HS_RESUMED, SP_TLS_HS_FAILED, SP_TLS_HS_ABORTED, SP_TLS_HS_N };

#define SP_TLS_MD_LEN 32 /* SHA-256 */

typedef struct sp_tls_stats {
	atomic_uint_fast64_t hs[SP_TLS_HS_N];
	atomic_uint_fast64_t vf[SP_TLS_VF_N];
	atomic_uint_fast64_t resume_refused, reload_ok, reload_failed;
	atomic_uint_fast64_t src_refused; /* over handshakes-per-source */
} sp_tls_stats;

typedef struct sp_tls_cache sp_tls_cache; /* tls_cache.c */
typedef struct sp_tls_srcmap sp_tls_srcmap; /* tls_source.c */

/* A source address for handshakes-per-source: an IPv4 /32 or an IPv6 /64. */
typedef struct sp_tls_srckey {
	uint64_t v;
	uint8_t fam; /* 4 or 6 */
} sp_tls_srckey;

/*
 * One configuration: built whole from the files, then immutable.  Reference
 * counted; every connection holds the one it started with.
 */
typedef struct sp_tls_conf {
	atomic_int refs;
	uint64_t gen;                    /* unique per configuration built */
	struct sp_tls_server *srv;
	STACK_OF(X509_CRL) *crls;        /* NULL: no CRL configured */
	int64_t crl_last, crl_next;      /* latest lastUpdate, earliest nextUpdate */
	int64_t crl_grace;
	int64_t ca_until;                /* earliest notAfter of the device CAs; 0: none */
	int depth;
	sp_idstyle idstyle;              /* names a refused leaf (sp_tls_refusal) */
	bool no_client_auth;             /* sp_tls_config.no_client_auth */
	int64_t rotate;                  /* ticket rotation period, s */
	X509_STORE *trust;               /* the device CAs, to re-verify a resumed leaf */
	unsigned char trust_md[SP_TLS_MD_LEN]; /* the device CA file and the depth */
	STACK_OF(X509_NAME) *server_cas; /* issuers of the server's own chain */
	void *b;                         /* the backend's half */
} sp_tls_conf;

typedef struct sp_tls_ops sp_tls_ops;

struct sp_tls_server {
	const sp_tls_ops *ops;
	void *impl;
	sp_tls_hooks hooks;
	sp_tls_stats st;
	pthread_mutex_t mu;              /* cur, cfg, crl_stat */
	sp_tls_conf *cur;
	atomic_uint_fast64_t cur_gen;    /* cur->gen, readable without mu */
	atomic_uint_fast64_t next_gen;
	struct {
		char *cert, *key, *ca, *crl;
		int depth;
		sp_idstyle idstyle;
		int64_t grace, rotate;
		struct sp_keyproc *keyproc;
	} cfg;
	struct stat crl_stat;
	bool crl_stat_ok;
	/* A CRL file that failed to load: polled again only once it changes. */
	struct stat crl_bad_stat;
	bool crl_bad_ok;
	atomic_uint src_cap;             /* handshakes-per-source; 0: off */
	sp_tls_srcmap *srcmap;
	int64_t crl_warned_at;
	/*
	 * A configuration with other device CAs than the one before it was
	 * installed: from then on a resumed session may have been verified
	 * under CAs that are no longer trusted (sp_tls_resume_refused).
	 */
	atomic_bool trust_changed;
	/* Ticket keys come from outside (cluster): no rotation of our own. */
	atomic_bool external_tickets;
	sp_tls_cache *cache;
};

/*
 * The shared half of a connection, embedded in each backend's own.  The
 * backend fills it at the end of the handshake (sp_tls_hs_done).
 */
typedef struct sp_tls_pconn {
	sp_tls_server *srv;
	sp_tls_conf *conf;          /* referenced: the one the connection started with */
	void *conn;
	struct bufferevent *bev;    /* set when handshakes-per-source is on */
	struct event *admit_ev;     /* the per-source check, once the fd is set */
	sp_tls_srckey src;
	bool src_held;              /* counted in srv->srcmap under src */
	X509 *leaf;                 /* the peer's verified certificate, referenced */
	bool done, counted, resumed;
	bool fail_noted;            /* the refused hook was called */
	const char *version;        /* "TLSv1.3", static */
	/*
	 * What sp_tls_peer_get found: the identity (for peer_style) and the
	 * serial do not change on a connection.  "Not revoked, not expired"
	 * holds while the current configuration is still peer_ok_gen (CRLs
	 * never change inside one) and the clock is before the notAfter.
	 */
	bool peer_known;
	sp_idstyle peer_style;
	sp_tls_peer peer;
	uint64_t peer_ok_gen;       /* 0: not checked */
	int64_t peer_not_after;
} sp_tls_pconn;

struct sp_tls_ops {
	const char *name;
	SP_MUST_CHECK sp_result (*server_new)(sp_tls_server *srv, void **out);
	void (*server_free)(void *impl);
	/* Build the backend's half of c (c's shared half is complete). */
	SP_MUST_CHECK sp_result (*conf_build)(void *impl, const sp_tls_config *cfg,
	    sp_tls_conf *c, void **out);
	void (*conf_free)(void *b);
	void (*rotate_tickets)(void *impl, bool force);
	/* Install keys supplied from outside (see sp_tls_server_set_ticket_keys). */
	void (*set_tickets)(void *impl, const uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN],
	    size_t n);
	struct bufferevent *(*bev_new)(void *impl, struct event_base *base, void *conn);
	/* The next two return false / NULL when bev is not one of this backend's. */
	bool (*bev_close)(struct bufferevent *bev);
	sp_tls_pconn *(*bev_pconn)(struct bufferevent *bev);
};

extern const sp_tls_ops sp_tls_openssl_ops;
extern const sp_tls_ops sp_tls_gnutls_ops;

/*
 * GnuTLS (tls_gnutls_key.c): the server chain from cfg->cert_file and a key
 * that signs through cfg->keyproc, into cred.
 */
struct gnutls_certificate_credentials_st;
SP_MUST_CHECK sp_result sp_tls_gnutls_keyproc_key(
    struct gnutls_certificate_credentials_st *cred, const sp_tls_config *cfg);
/*
 * GnuTLS (tls_gnutls_key.c): the device CAs of cfg->client_ca_file as the
 * trust list, the chain length limit and cfg->crl_file, into cred.
 */
SP_MUST_CHECK sp_result sp_tls_gnutls_trust(
    struct gnutls_certificate_credentials_st *cred, const sp_tls_config *cfg);
/*
 * GnuTLS (tls_gnutls_p11.c): the server chain from cfg->cert_file and the
 * key in a PKCS#11 token that cfg->key_file names (GnuTLS's own PKCS#11
 * layer; the module stays loaded until sp_tls_gnutls_p11_deinit).
 */
SP_MUST_CHECK sp_result sp_tls_gnutls_p11_key(
    struct gnutls_certificate_credentials_st *cred, const sp_tls_config *cfg);
void sp_tls_gnutls_p11_deinit(void);

/* --- configurations and connections (tls.c) --- */

void sp_tls_conf_unref(sp_tls_conf *c);
/* The current configuration, referenced (sp_tls_conf_unref it), or NULL. */
sp_tls_conf *sp_tls_cur_conf(sp_tls_server *srv);
/* Start a connection on the current configuration; false: none loaded. */
bool sp_tls_pconn_init(sp_tls_pconn *pc, sp_tls_server *srv, void *conn);
/* The connection is gone: count an unfinished handshake, call conn_free. */
void sp_tls_pconn_fini(sp_tls_pconn *pc);
/*
 * The handshake completed; leaf is the peer's verified certificate (a
 * reference the connection takes over) or NULL.  With check_resume, a
 * resumed session is held to the CURRENT policy (sp_tls_resume_refused)
 * for a backend that could not do so before resuming it.  False: refused
 * (logged and counted); the backend closes the connection.
 */
bool sp_tls_hs_done(sp_tls_pconn *pc, bool resumed, const char *version, X509 *leaf,
    bool check_resume);
/*
 * The handshake failed; counted once per connection.  Unless a refusal was
 * noted already, the refused hook hears "no-certificate" or, with why (the
 * alert or error, for the record), "handshake".  why NULL: the peer went away
 * (a TCP probe, a client giving up): counted, not recorded.
 */
void sp_tls_hs_failed(sp_tls_pconn *pc, bool no_cert, const char *why);
/*
 * A client certificate refused in the handshake: count and log it, and
 * tell the refused hook (pc may be NULL: counted and logged only).  cert:
 * the one at fault (NULL: unknown); leaf: the device's (names it in the
 * record; NULL: unknown); depth: cert's place in the chain (-1: not known).
 */
void sp_tls_vf_refused(sp_tls_server *srv, sp_tls_pconn *pc, int bucket, X509 *cert,
    X509 *leaf, int depth, const char *reason);
/* Call the refused hook once for pc (a no-op the second time). */
void sp_tls_fail_note(sp_tls_pconn *pc, sp_tls_fail why, X509 *leaf, const char *detail);

/* --- policy (tls_policy.c) --- */

int64_t sp_tls_asn1_unix(const ASN1_TIME *t);
SP_MUST_CHECK sp_result sp_tls_crls_load(const char *path, STACK_OF(X509_CRL) **out);
SP_MUST_CHECK sp_result sp_tls_crls_check_signed(const char *ca_file,
    STACK_OF(X509_CRL) *crls);
/*
 * May next replace cur (NULL: none in force)?  Not when a CRL of next has a
 * lower crlNumber than cur's CRL of the same issuer, or none where cur's
 * has one: an older, still valid CRL must not un-revoke a device.
 */
SP_MUST_CHECK sp_result sp_tls_crls_check_newer(const char *path,
    STACK_OF(X509_CRL) *cur, STACK_OF(X509_CRL) *next);
/*
 * Is cert expired, or revoked by one of crls (may be NULL)?  -1: no; else
 * SP_TLS_VF_EXPIRED or SP_TLS_VF_REVOKED, with *why.
 */
int sp_tls_crls_refuse(STACK_OF(X509_CRL) *crls, X509 *cert, const char **why);
/*
 * The configuration's revocation verdict on cert: sp_tls_crls_refuse, or
 * its CRL expired past crl-grace (SP_TLS_VF_CRL_EXPIRED, *why "CRL
 * expired").  c may be NULL.  -1: not refused.
 */
int sp_tls_crl_refuses(const sp_tls_conf *c, X509 *cert, const char **why);
/*
 * The one classification of a refusal (sp_tls_fail, tls.h) from its
 * SP_TLS_VF_ bucket and the certificates: cert at fault (NULL: unknown)
 * and the leaf (NULL: unknown).  c may be NULL.
 */
sp_tls_fail sp_tls_fail_of(const sp_tls_conf *c, int bucket, X509 *cert, X509 *leaf);
/* Build a whole configuration, shared half then the backend's. */
SP_MUST_CHECK sp_result sp_tls_conf_build(sp_tls_server *srv, const sp_tls_config *cfg,
    sp_tls_conf **out);
/*
 * verify-depth, exact and alike on both backends: the verified chain, leaf
 * and trust anchor included, as OpenSSL builds it from the leaf to a root
 * in client-ca, holds at most c->depth certificates.  sp_tls_chain_len
 * builds that chain for a backend that has none (GnuTLS): its length,
 * INT_MAX if longer than the store allows, -1 if it does not verify.
 * sigs_verified: the backend has checked every signature and validity
 * period of this chain already, so OpenSSL builds the chain and runs its
 * other checks (purpose, constraints) but verifies no signature again
 * (an ECDSA verify per certificate, for a length).
 * sp_tls_chain_depth_check: -1 passes; else the bucket, with a reason.
 */
int sp_tls_chain_len(const sp_tls_conf *c, X509 *leaf, STACK_OF(X509) *untrusted,
    bool sigs_verified);
int sp_tls_chain_depth_check(const sp_tls_conf *c, int len, char *reason, size_t n);
/* Is the CRL expired and out of its grace? */
bool sp_tls_crl_expired(const sp_tls_conf *c, int64_t now);
/*
 * The revocation checks OpenSSL's X509_V_FLAG_CRL_CHECK does on the leaf,
 * for a chain verified without them (GnuTLS, or a remembered chain): CRL
 * expired beyond grace, no CRL from the issuer, revoked.  -1: passes; else
 * the SP_TLS_VF_ bucket, with a reason.
 */
int sp_tls_leaf_crl_check(const sp_tls_conf *c, X509 *leaf, int64_t now, char *reason,
    size_t n);
/*
 * What we require of a device certificate whatever the chain: see the
 * comment in tls_policy.c.  -1: passes; else the bucket, with a reason.
 */
int sp_tls_leaf_policy(const sp_tls_conf *c, X509 *leaf, char *reason, size_t n);
/*
 * Must a certificate verified under an earlier configuration (a resumed
 * session's, an open connection's) be refused under c: expired, revoked,
 * its CRL expired past grace, no CRL from its issuer while CRLs are in
 * force, issued by the server CA, or its CA no longer among the device
 * CAs?  -1: no; else the SP_TLS_VF_ bucket, with *why.  The checks of a
 * full handshake that concern the leaf and its trust, in one place.
 */
int sp_tls_held_refused(sp_tls_server *srv, const sp_tls_conf *c, X509 *leaf,
    const char **why);
/* sp_tls_held_refused under the CURRENT configuration. */
int sp_tls_resume_refused(sp_tls_server *srv, X509 *leaf, const char **why);
/* A full handshake under c verified this leaf: remember it for resumption. */
void sp_tls_trust_note(sp_tls_server *srv, const sp_tls_conf *c, X509 *leaf);

/* --- handshakes per source address (tls_source.c) --- */

#define SP_TLS_SRC_SLOTS 8192 /* distinct sources tracked at once (power of 2) */
#define SP_TLS_SRC_PROBES 64  /* slots looked at per lookup */

typedef enum {
	SP_TLS_SRC_COUNTED,   /* under the cap: counted, sp_tls_srcmap_leave later */
	SP_TLS_SRC_UNTRACKED, /* table full around its slot: admitted, not counted */
	SP_TLS_SRC_REFUSED,   /* at the cap: close it without a handshake */
} sp_tls_src_verdict;

typedef struct sp_tls_src_refusal {
	bool log;              /* the first refusal in a second for this source */
	uint32_t in_handshake; /* its connections in the handshake */
	uint64_t refused;      /* refused since the last line, this one included */
} sp_tls_src_refusal;

/* The key of a peer address; false: not IPv4 or IPv6. */
bool sp_tls_srckey_of(const struct sockaddr *sa, socklen_t len, sp_tls_srckey *k);
/* "192.0.2.7" or "2001:db8:1:2::/64". */
void sp_tls_srckey_str(const sp_tls_srckey *k, char *buf, size_t n);
SP_MUST_CHECK sp_result sp_tls_srcmap_new(sp_tls_srcmap **out);
void sp_tls_srcmap_free(sp_tls_srcmap *m);
/* One more connection from k in the handshake, unless k has cap already. */
sp_tls_src_verdict sp_tls_srcmap_enter(sp_tls_srcmap *m, const sp_tls_srckey *k,
    uint32_t cap, uint64_t now_ns, sp_tls_src_refusal *r);
/* A counted connection finished its handshake or closed. */
void sp_tls_srcmap_leave(sp_tls_srcmap *m, const sp_tls_srckey *k);
/* k's count, and how many sources the table holds (tests, metrics). */
uint32_t sp_tls_srcmap_count(sp_tls_srcmap *m, const sp_tls_srckey *k, size_t *sources);

/* --- caches (tls_cache.c) --- */

SP_MUST_CHECK sp_result sp_tls_cache_new(sp_tls_cache **out);
void sp_tls_cache_free(sp_tls_cache *cc);
/* A referenced X509 for these DER bytes (X509_free it), or NULL. */
X509 *sp_tls_leaf_parse(sp_tls_cache *cc, const unsigned char *der, size_t len);

/* SHA-256 over the certificates of a chain, each length-prefixed. */
typedef struct sp_tls_md {
	void *ctx;
} sp_tls_md;
bool sp_tls_md_init(sp_tls_md *m);
void sp_tls_md_add(sp_tls_md *m, const unsigned char *der, size_t len);
bool sp_tls_md_final(sp_tls_md *m, unsigned char md[SP_TLS_MD_LEN]);
/* Did the chain with this digest verify under configuration gen before? */
bool sp_tls_vcache_hit(sp_tls_cache *cc, uint64_t gen, const unsigned char *md, int64_t now);
/*
 * Remember a chain that verified just now under c.  chain_until: the
 * earliest notAfter of its certificates (0: unknown, not remembered).
 */
void sp_tls_vcache_put(sp_tls_cache *cc, const sp_tls_conf *c, const unsigned char *md,
    int64_t now, int64_t chain_until);
/* Is this leaf known to verify under the device CAs with digest trust_md? */
bool sp_tls_tcache_hit(sp_tls_cache *cc, const unsigned char *leaf_md,
    const unsigned char *trust_md);
void sp_tls_tcache_put(sp_tls_cache *cc, const unsigned char *leaf_md,
    const unsigned char *trust_md);

/* Session-ID cache (TLS 1.2), bounded and direct-mapped. */
int sp_tls_scache_store(sp_tls_cache *cc, const unsigned char *id, size_t idlen,
    const unsigned char *data, size_t len, int64_t expires);
/* A malloc'd copy of the session (free it), or NULL. */
unsigned char *sp_tls_scache_fetch(sp_tls_cache *cc, const unsigned char *id,
    size_t idlen, void *(*alloc)(size_t), size_t *len);
int sp_tls_scache_remove(sp_tls_cache *cc, const unsigned char *id, size_t idlen);

#endif
