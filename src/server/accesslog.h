/*
 * The access log: one line per answer, written whole under a lock so lines
 * of different worker threads never interleave.  Untrusted fields
 * (User-Agent, path) are quoted with sp_quote_field (text) or written as
 * JSON strings with sp_json_* (json).
 */
#ifndef SPROV_SERVER_ACCESSLOG_H
#define SPROV_SERVER_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"
#include "identity/mac.h"
#include "store/store.h"
#include "tls/tls.h"

#define SP_ACCESSLOG_LINE_MAX 2048

/* What one answer logs; pointers are borrowed for the call. */
typedef struct sp_reqlog {
	char mac[SP_MAC_STRLEN];
	char serial[SP_DEVID_FIELD_MAX + 1];
	char cert_serial[SP_TLS_SERIAL_HEX_MAX + 1];
	char ip[SP_CONTACT_IP_MAX + 1];
	const char *ua;
	const char *method;
	const char *path;
	const char *etag;
	const char *note;
	int status;
	size_t bytes;
	uint64_t t0;    /* sp_mono_ns() when the request arrived */
	bool resumed;
	const char *tlsver;
} sp_reqlog;

typedef struct sp_accesslog sp_accesslog;

/*
 * where: "off" (*out NULL), "-" (stdout) or a file, appended to (created
 * 0640).  json: one JSON object per line with the text format's fields.
 */
SP_MUST_CHECK sp_result sp_accesslog_open(const char *where, bool json,
    sp_accesslog **out);
/*
 * Open the file again under its name (after logrotate moved it); the old
 * one stays in use if that fails.  NULL or stdout: nothing to do.
 */
SP_MUST_CHECK sp_result sp_accesslog_reopen(sp_accesslog *a);
void sp_accesslog_close(sp_accesslog *a); /* NULL-safe */

/* Write l's line; a NULL log writes nothing.  Thread-safe. */
void sp_accesslog_write(sp_accesslog *a, const sp_reqlog *l);

#endif
