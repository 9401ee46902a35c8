/*
 * The device's certificate checks (src/device/check.c) on an arbitrary DER
 * certificate: chain verification with the device's store parameters (the
 * input is its own trust anchor, so a well-formed self-signed input gets
 * through the signature and on to every rule), the strict per-certificate
 * rules, the purpose/EKU rules and the CN rule.  Invariants: a refusal is always SP_E_VERIFY with a message that
 * names the check; an accepted CN has a FQDN that passes the shared rule.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "device/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A time inside any sane validity period of the seeds: 2030-01-01. */
#define AT INT64_C(1893456000)

static void
refusal_ok(sp_result r)
{
	if (sp_ok(r))
		return;
	if (r.code != SP_E_VERIFY || strncmp(sp_errmsg(), "server check ", 13) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)size);
	X509_STORE *st = NULL;
	char fqdn[SP_FQDN_MAX + 1];
	sp_result r;

	if (x == NULL)
		return 0;
	st = X509_STORE_new();
	if (st == NULL || sp_failed(sp_srvcheck_store_params(st)))
		abort();
	if (X509_STORE_add_cert(st, x) == 1)
		refusal_ok(sp_srvcheck_chain(st, x, NULL, AT));
	refusal_ok(sp_srvcheck_purpose(x));
	refusal_ok(sp_srvcheck_strict_cert(x, 0));
	refusal_ok(sp_srvcheck_strict_cert(x, 1));
	r = sp_srvcheck_cn(x, fqdn);
	refusal_ok(r);
	if (sp_ok(r) && sp_failed(sp_fqdn_check(sp_slice_of(fqdn))))
		abort();
	X509_STORE_free(st);
	X509_free(x);
	return 0;
}
