#include "common/result.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define SP_ERRMSG_MAX 1024

static _Thread_local char errmsg[SP_ERRMSG_MAX];

/*
 * Format through a scratch buffer: callers may pass sp_errmsg() itself as an
 * argument (re-raising a message with a new code), and vsnprintf into the
 * buffer it is reading from is undefined behaviour.
 */
static void set_msg(const char *fmt, va_list ap) SP_PRINTF(1, 0);

static void
set_msg(const char *fmt, va_list ap)
{
	char tmp[SP_ERRMSG_MAX];

	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	memcpy(errmsg, tmp, sizeof(errmsg));
}

sp_result
sp_verror(sp_code code, const char *fmt, va_list ap)
{
	set_msg(fmt, ap);
	return (sp_result){ code };
}

sp_result
sp_error(sp_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sp_result r = sp_verror(code, fmt, ap);
	va_end(ap);
	return r;
}

sp_result
sp_error_ossl(sp_code code, const char *fmt, ...)
{
	va_list ap;
	unsigned long e, first = 0;
	size_t n;

	va_start(ap, fmt);
	set_msg(fmt, ap);
	va_end(ap);
	/* The earliest error in the queue is usually the most specific. */
	while ((e = ERR_get_error()) != 0)
		if (first == 0)
			first = e;
	if (first != 0) {
		n = strlen(errmsg);
		if (n + 3 < sizeof(errmsg)) {
			memcpy(errmsg + n, ": ", 3);
			ERR_error_string_n(first, errmsg + n + 2,
			    sizeof(errmsg) - n - 2);
		}
	}
	return (sp_result){ code };
}

sp_result
sp_error_wrap(sp_result r, const char *fmt, ...)
{
	char prefix[SP_ERRMSG_MAX], old[SP_ERRMSG_MAX];
	va_list ap;

	if (sp_ok(r))
		return r;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, errmsg, sizeof(old));
	/* Compose by hand: snprintf("%s: %s") trips -Wformat-truncation. */
	size_t pl = strnlen(prefix, sizeof(errmsg) - 1), ol = strnlen(old, sizeof(old));
	memcpy(errmsg, prefix, pl);
	if (pl + 2 < sizeof(errmsg)) {
		memcpy(errmsg + pl, ": ", 2);
		pl += 2;
	}
	if (ol > sizeof(errmsg) - 1 - pl)
		ol = sizeof(errmsg) - 1 - pl;
	memcpy(errmsg + pl, old, ol);
	errmsg[pl + ol] = '\0';
	return r;
}

const char *
sp_errmsg(void)
{
	return errmsg;
}

void
sp_error_clear(void)
{
	errmsg[0] = '\0';
	ERR_clear_error();
}

const char *
sp_code_name(sp_code code)
{
	static const char *const names[] = {
		[SP_E_OK] = "ok", [SP_E_USAGE] = "usage", [SP_E_IO] = "io",
		[SP_E_NOMEM] = "nomem", [SP_E_POLICY] = "policy",
		[SP_E_PARSE] = "parse", [SP_E_LIMIT] = "limit",
		[SP_E_EXISTS] = "exists", [SP_E_NOTFOUND] = "notfound",
		[SP_E_CRYPTO] = "crypto", [SP_E_DB] = "db",
		[SP_E_VERIFY] = "verify", [SP_E_NET] = "net",
		[SP_E_STATE] = "state", [SP_E_INTERNAL] = "internal",
	};

	if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown";
}
