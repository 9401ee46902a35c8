/*
 * The device's server checks 1b-3 on arbitrary DER certificates.
 * Invariants: an accepted leaf's FQDN passes the shared FQDN rule and equals
 * the host it was checked against (case and one trailing dot aside).
 */
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/x509.h>

#include "device/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	X509 *x = d2i_X509(NULL, &p, (long)size);
	char fqdn[SP_FQDN_MAX + 1];
	sp_srvcheck failed;

	if (x == NULL)
		return 0;
	if (sp_ok(sp_srvcheck_leaf(x, SP_SLICE_LIT("prov.example.test"), fqdn, &failed))) {
		if (failed != SP_CHECK_NONE || sp_failed(sp_fqdn_check(sp_slice_of(fqdn))) ||
		    strcasecmp(fqdn, "prov.example.test") != 0)
			abort();
	} else if (failed == SP_CHECK_NONE) {
		abort();
	}
	/* An IP-literal host defers to check 4: only checks 1b and 2 can refuse. */
	if (sp_failed(sp_srvcheck_leaf(x, SP_SLICE_LIT("127.0.0.1"), fqdn, &failed)) &&
	    failed == SP_CHECK_HOST)
		abort();
	X509_free(x);
	return 0;
}
