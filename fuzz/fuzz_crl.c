/*
 * CRL files, PEM or DER, through sp_tls_crls_load: the very function both
 * TLS backends of `sprov serve` load --crl with.  The input is handed over as
 * a file (a memfd, so nothing touches the disk).  Invariants: a load that
 * succeeds holds at least one CRL, and asking whether a certificate of the
 * seeds' issuer is revoked by them neither crashes nor leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "tls/tls_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];
static X509 *probe;

/* A certificate to look up: the seeds' issuer, serial 1, not expired. */
static X509 *
make_probe(void)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (x == NULL || n == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Example Phones Device CA", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, n) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 36500, 0, NULL) == NULL)
		abort();
	X509_NAME_free(n);
	return x;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509_CRL) *crls = NULL;
	const char *why = NULL;

	if (fd < 0) {
		fd = memfd_create("fuzz_crl", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		probe = make_probe();
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (sp_failed(sp_tls_crls_load(path, &crls)))
		return 0;
	if (crls == NULL || sk_X509_CRL_num(crls) < 1)
		abort();
	(void)sp_tls_crls_refuse(crls, probe, &why);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return 0;
}
