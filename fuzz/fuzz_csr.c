/*
 * The CSR parser and signing policy fed arbitrary DER (or PEM).
 * Invariant: a CSR the policy accepts has a CN that passes the CN rule on its
 * own, and an FQDN that is the CN's host part.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/csr_policy.h"
#include "identity/cn.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = { "callme.com", "telco.net" };
	X509_REQ *req = NULL;
	sp_csr_info info;
	sp_cn cn;

	if (sp_failed(sp_csr_parse(data, size, &req)))
		goto out;
	for (size_t nd = 0; nd <= 2; nd += 2) {
		if (sp_failed(sp_csr_policy(req, domains, nd, &info)))
			continue;
		if (sp_failed(sp_cn_parse(sp_slice_of(info.cn), &cn)) ||
		    cn.fqdn.len != strlen(info.fqdn) ||
		    memcmp(cn.fqdn.p, info.fqdn, cn.fqdn.len) != 0)
			abort();
		if (nd && !sp_fqdn_within(sp_slice_of(info.fqdn), sp_slice_of(domains[0])) &&
		    !sp_fqdn_within(sp_slice_of(info.fqdn), sp_slice_of(domains[1])))
			abort();
	}
out:
	X509_REQ_free(req);
	sp_error_clear();
	ERR_clear_error();
	return 0;
}
