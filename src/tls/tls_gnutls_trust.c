/*
 * The GnuTLS backend's client-certificate trust: the device CAs as the
 * credentials' trust list and the CRL, for a device listener.  The admin
 * listener's configuration (sp_tls_config.no_client_auth) has neither.
 */
#include "tls/tls_internal.h"

#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/util.h"

sp_result
sp_tls_gnutls_trust(struct gnutls_certificate_credentials_st *cred,
    const sp_tls_config *cfg)
{
	sp_result res = SP_OK;
	gnutls_datum_t d;
	sp_buf crl;
	int rv;

	sp_buf_init(&crl, SP_TLS_CERT_MAX);
	rv = gnutls_certificate_set_x509_trust_file(cred, cfg->client_ca_file,
	    GNUTLS_X509_FMT_PEM);
	ENSURE(rv != 0, SP_E_CRYPTO, "device CA %s: no certificate", cfg->client_ca_file);
	ENSURE(rv > 0, SP_E_CRYPTO, "device CA %s: %s", cfg->client_ca_file,
	    gnutls_strerror(rv));
	if (cfg->crl_file != NULL) {
		/*
		 * GnuTLS checks revocation during the chain verification too.
		 * It drops CRLs that do not verify (an expired one among them):
		 * the shared check in the backend's verify function covers those.
		 */
		TRY(sp_read_file(cfg->crl_file, SP_TLS_CERT_MAX, &crl));
		d.data = (unsigned char *)crl.p;
		d.size = (unsigned int)crl.len;
		rv = gnutls_certificate_set_x509_crl_mem(cred, &d,
		    crl.len > 0 && memmem(crl.p, crl.len, "-----BEGIN", 10) != NULL ?
		    GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
		ENSURE(rv >= 0, SP_E_CRYPTO, "CRL %s: %s", cfg->crl_file, gnutls_strerror(rv));
	}
out:
	sp_buf_free(&crl);
	return res;
}
