/*
 * The program's version and the versions of the libraries in use (read at
 * run time, so a library upgraded under the binary shows its new version).
 */
#ifndef SPROV_COMMON_VERSION_H
#define SPROV_COMMON_VERSION_H

#include <stddef.h>

#define SPROV_VERSION "0.1.0"

typedef struct sp_libversion {
	const char *name;    /* "openssl", "gnutls", ... (a metrics label name) */
	const char *version; /* as the library reports it */
} sp_libversion;

#define SP_LIBVERSIONS 5

/* The run-time versions of OpenSSL, GnuTLS, libevent, SQLite and libpq. */
void sp_libversions(sp_libversion out[SP_LIBVERSIONS]);

#endif
