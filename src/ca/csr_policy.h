/*
 * The signing policy for provisioning server CSRs, shared by `sprov ca sign`
 * and `sprov req` so both refuse the same names with the same words.
 * Pure code: no I/O, no global state (the fuzzer links it directly).
 */
#ifndef SPROV_CA_CSR_POLICY_H
#define SPROV_CA_CSR_POLICY_H

#include <stddef.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/result.h"
#include "identity/cn.h"

typedef struct sp_csr_info {
	char cn[SP_CN_MAX + 1];     /* the CN exactly as requested */
	char fqdn[SP_FQDN_MAX + 1]; /* its host part, for the SAN */
} sp_csr_info;

/*
 * Check a parsed CSR: its own signature, the key rule, exactly one CN without
 * NUL, the CN rule (sp_cn_parse) and, if ndomains > 0, that the FQDN is one of
 * the allowed domains or below one.  Messages start "CSR rejected: " and name
 * the rule.
 */
SP_MUST_CHECK sp_result sp_csr_policy(X509_REQ *req, const char *const *domains,
    size_t ndomains, sp_csr_info *out);

/* The CN part of the policy alone (what `sprov req` checks before making a key). */
SP_MUST_CHECK sp_result sp_csr_policy_cn(sp_slice cn, const char *const *domains,
    size_t ndomains, sp_csr_info *out);

#endif
