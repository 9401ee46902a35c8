/*
 * The four server checks of a device, in order (issue 4, the seed page):
 *
 *   1. chain: the certificate chains to a carried root, and the leaf is fit
 *      for TLS server use (EKU serverAuth when an EKU is present);
 *   2. cn: exactly one CN; its FQDN (before the first '/') passes the CN rule
 *      of src/identity/cn.h; with SAN dNSNames, the FQDN is among them;
 *   3. host: a URL host name equals that FQDN (case and one trailing dot
 *      ignored); an IP-literal URL host passes to check 4;
 *   4. address: the connected peer address is among the A/AAAA answers for
 *      the FQDN.
 *
 * Check 1 is stricter than `openssl verify -x509_strict` (docs/DEVICE.md
 * lists the rules): the leaf carries EKU serverAuth and is no CA; every
 * certificate of the chain is v3, has a positive serial of at most 20
 * octets, no unknown critical extension, no SHA-1/MD5/DSA signature and no
 * key below RSA 2048 / P-256; AKI/SKI as RFC 5280 requires; name constraints
 * also bind the CN's FQDN.
 *
 * One implementation serves `sprov device resync` (inside the TLS handshake,
 * see fetch.c) and `sprov device check-cert` (offline), so both accept and
 * refuse exactly the same certificates.  Every refusal is an SP_E_VERIFY
 * whose message starts with "server check N (name): ".
 */
#ifndef SPROV_DEVICE_CHECK_H
#define SPROV_DEVICE_CHECK_H

#include <stdint.h>

#include <openssl/x509.h>

#include "common/result.h"
#include "device/addr.h"
#include "identity/cn.h"

typedef enum sp_srvcheck {
	SP_CHECK_NONE = 0,
	SP_CHECK_CHAIN = 1,
	SP_CHECK_CN = 2,
	SP_CHECK_HOST = 3,
	SP_CHECK_ADDR = 4,
} sp_srvcheck;

/* "chain", "cn", "host", "address"; "" for NONE. */
const char *sp_srvcheck_name(sp_srvcheck c);

/* Check 1, leaf rules: EKU serverAuth present and explicit; not a CA. */
SP_MUST_CHECK sp_result sp_srvcheck_purpose(X509 *leaf);

/* Check 2.  On success fqdn holds the CN's FQDN part (NUL-terminated). */
SP_MUST_CHECK sp_result sp_srvcheck_cn(X509 *leaf, char fqdn[SP_FQDN_MAX + 1]);

/* Check 3.  url_host: as in the URL (IPv6 literals with or without []). */
SP_MUST_CHECK sp_result sp_srvcheck_host(sp_slice url_host, const char *fqdn);

/* Check 4. */
SP_MUST_CHECK sp_result sp_srvcheck_addr(const sp_ipaddr *peer,
    const sp_addrlist *answers, const char *fqdn);

/* Checks 1b, 2 and 3 on a leaf whose chain was verified; *failed says which. */
SP_MUST_CHECK sp_result sp_srvcheck_leaf(X509 *leaf, sp_slice url_host,
    char fqdn[SP_FQDN_MAX + 1], sp_srvcheck *failed);

/*
 * Load every certificate of a PEM file into a new store, the only trust
 * anchors of the check (never the system store).
 */
SP_MUST_CHECK sp_result sp_srvcheck_load_roots(const char *path, X509_STORE **out);

/*
 * Check 1, first half, offline: verify leaf against roots with the same
 * parameters the TLS handshake uses (purpose sslserver, no partial chains),
 * at time `at` (UNIX seconds).
 */
SP_MUST_CHECK sp_result sp_srvcheck_chain(X509_STORE *roots, X509 *leaf,
    STACK_OF(X509) *untrusted, int64_t at);

/*
 * Check 1, the per-certificate rules on one certificate of a chain (depth 0
 * is the leaf): version, serial, critical extensions, algorithms.
 */
SP_MUST_CHECK sp_result sp_srvcheck_strict_cert(X509 *x, int depth);

/*
 * Check 1, strict rules over a verified chain (leaf first, as
 * X509_STORE_CTX_get0_chain gives it): sp_srvcheck_strict_cert on each, and
 * the leaf CN's FQDN against every CA's name constraints.  sp_srvcheck_chain
 * runs it; the TLS verify callback runs it at depth 0.
 */
SP_MUST_CHECK sp_result sp_srvcheck_strict(STACK_OF(X509) *chain);

/* Prepare a store's verify parameters the way every device check wants them. */
SP_MUST_CHECK sp_result sp_srvcheck_store_params(X509_STORE *store);

#endif
