/*
 * Between src/tls/tls.c (the public functions) and the backends
 * (tls_openssl.c, tls_gnutls.c).  Nothing outside src/tls includes this.
 *
 * A backend is a table of functions over its own server object.  The
 * counters for /metrics are shared so both backends report the same names.
 */
#ifndef SPROV_TLS_INTERNAL_H
#define SPROV_TLS_INTERNAL_H

#include <stdatomic.h>

#include "tls/tls.h"

enum {
	SP_TLS_VF_NO_CERT, SP_TLS_VF_UNKNOWN_CA, SP_TLS_VF_EXPIRED, SP_TLS_VF_REVOKED,
	SP_TLS_VF_CRL_MISSING, SP_TLS_VF_CRL_EXPIRED, SP_TLS_VF_CHAIN_TOO_LONG,
	SP_TLS_VF_BAD_SIGNATURE, SP_TLS_VF_OTHER, SP_TLS_VF_N
};

enum { SP_TLS_HS_FULL, SP_TLS_HS_RESUMED, SP_TLS_HS_FAILED, SP_TLS_HS_ABORTED, SP_TLS_HS_N };

typedef struct sp_tls_stats {
	atomic_uint_fast64_t hs[SP_TLS_HS_N];
	atomic_uint_fast64_t vf[SP_TLS_VF_N];
	atomic_uint_fast64_t resume_refused, reload_ok, reload_failed;
} sp_tls_stats;

typedef struct sp_tls_ops {
	const char *name;
	SP_MUST_CHECK sp_result (*server_new)(const sp_tls_hooks *hooks, sp_tls_stats *st,
	    void **out);
	void (*server_free)(void *impl);
	SP_MUST_CHECK sp_result (*load)(void *impl, const sp_tls_config *cfg);
	SP_MUST_CHECK sp_result (*config_check)(const sp_tls_config *cfg);
	SP_MUST_CHECK sp_result (*poll_crl)(void *impl, bool *reloaded);
	void (*rotate_tickets)(void *impl, bool force);
	struct bufferevent *(*bev_new)(void *impl, struct event_base *base, void *conn);
	/* The next two return false when bev is not one of this backend's. */
	bool (*bev_close)(struct bufferevent *bev);
	bool (*bev_conn)(struct bufferevent *bev, void **conn);
	SP_MUST_CHECK sp_result (*peer_get)(void *impl, struct bufferevent *bev,
	    sp_idstyle style, sp_tls_peer *out);
	void (*crl_state)(void *impl, sp_tls_crl_state *out);
} sp_tls_ops;

/*
 * OpenSSL helpers both backends use (tls_openssl.c): the GnuTLS backend
 * keeps the CRLs as OpenSSL objects too, so the per-request revocation
 * re-check is one piece of code.
 */
struct asn1_string_st;
struct stack_st_X509_CRL;
struct x509_st;
SP_MUST_CHECK sp_result sp_tls_crls_load(const char *path,
    struct stack_st_X509_CRL **out);
bool sp_tls_crls_refuse(struct stack_st_X509_CRL *crls, struct x509_st *cert,
    const char **why);
int64_t sp_tls_asn1_unix(const struct asn1_string_st *t);

extern const sp_tls_ops sp_tls_openssl_ops;
extern const sp_tls_ops sp_tls_gnutls_ops;

#endif
