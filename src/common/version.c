/* Run-time library versions (common/version.h). */
#include "common/version.h"

#include <stdio.h>

#include <event2/event.h>
#include <gnutls/gnutls.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

void
sp_libversions(sp_libversion out[SP_LIBVERSIONS])
{
	/* PQlibVersion() is a number: 150004 is 15.4, 110022 is 11.22. */
	static _Thread_local char pq[32];
	int v = PQlibVersion();

	if (v >= 100000)
		snprintf(pq, sizeof(pq), "%d.%d", v / 10000, v % 10000);
	else
		snprintf(pq, sizeof(pq), "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
	out[0] = (sp_libversion){ "openssl", OpenSSL_version(OPENSSL_VERSION_STRING) };
	out[1] = (sp_libversion){ "gnutls", gnutls_check_version(NULL) };
	out[2] = (sp_libversion){ "libevent", event_get_version() };
	out[3] = (sp_libversion){ "sqlite", sqlite3_libversion() };
	out[4] = (sp_libversion){ "libpq", pq };
}
