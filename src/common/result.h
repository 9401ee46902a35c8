/*
 * sp_result: the one error type of sprov.
 *
 * Every fallible function returns an sp_result and is declared SP_MUST_CHECK.
 * A result is a struct so the compiler will not confuse it with an int.  The
 * human-readable reason lives in a thread-local buffer set by sp_error(); the
 * caller prints it once, at the boundary (the CLI or the server's log).
 *
 * Guard macros assume a local `sp_result res = SP_OK;` and an `out:` label,
 * the single cleanup path of the function (see docs/DEVELOPING.md).
 */
#ifndef SPROV_COMMON_RESULT_H
#define SPROV_COMMON_RESULT_H

#include <stdarg.h>
#include <stdbool.h>

#define SP_MUST_CHECK __attribute__((warn_unused_result))
#define SP_PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef enum sp_code {
	SP_E_OK = 0,
	SP_E_USAGE,     /* bad command line: exit status 2 */
	SP_E_IO,        /* file or socket I/O failed */
	SP_E_NOMEM,     /* allocation failed */
	SP_E_POLICY,    /* input well-formed but refused by a rule */
	SP_E_PARSE,     /* input malformed */
	SP_E_LIMIT,     /* a named limit was exceeded */
	SP_E_EXISTS,    /* refusing to overwrite / duplicate */
	SP_E_NOTFOUND,  /* no such thing */
	SP_E_CRYPTO,    /* OpenSSL or another crypto library failed */
	SP_E_DB,        /* database error */
	SP_E_VERIFY,    /* a certificate / peer check failed */
	SP_E_NET,       /* DNS, connect, HTTP transport */
	SP_E_STATE,     /* wrong state for the operation */
	SP_E_INTERNAL,  /* a bug */
} sp_code;

typedef struct sp_result {
	sp_code code;
} sp_result;

#define SP_OK ((sp_result){ SP_E_OK })

static inline bool sp_ok(sp_result r) { return r.code == SP_E_OK; }
static inline bool sp_failed(sp_result r) { return r.code != SP_E_OK; }

/* Set the thread's error message and return a result carrying `code`. */
sp_result sp_error(sp_code code, const char *fmt, ...) SP_PRINTF(2, 3);
sp_result sp_verror(sp_code code, const char *fmt, va_list ap) SP_PRINTF(2, 0);
/*
 * Like sp_error, but drains OpenSSL's error queue and appends the first
 * (most specific) reason it held, so the message stays actionable.
 */
sp_result sp_error_ossl(sp_code code, const char *fmt, ...) SP_PRINTF(2, 3);
/* Prefix the current message with more context: "ctx: old message". */
sp_result sp_error_wrap(sp_result r, const char *fmt, ...) SP_PRINTF(2, 3);

/* The message of the last error set on this thread ("" if none). */
const char *sp_errmsg(void);
const char *sp_code_name(sp_code code);
/* Clear the message (and OpenSSL's error queue). */
void sp_error_clear(void);

#define TRY(expr)                                        \
	do {                                             \
		sp_result sp_try_r_ = (expr);            \
		if (sp_failed(sp_try_r_)) {              \
			res = sp_try_r_;                 \
			goto out;                        \
		}                                        \
	} while (0)

#define ENSURE(cond, code, ...)                          \
	do {                                             \
		if (!(cond)) {                           \
			res = sp_error((code), __VA_ARGS__); \
			goto out;                        \
		}                                        \
	} while (0)

/* For OpenSSL's "1 means success" convention. */
#define TRY_OSSL(call, ...)                                        \
	do {                                                       \
		if ((call) != 1) {                                 \
			res = sp_error_ossl(SP_E_CRYPTO, __VA_ARGS__); \
			goto out;                                  \
		}                                                  \
	} while (0)

/* For OpenSSL calls that return a pointer, NULL on failure. */
#define TRY_OSSL_PTR(lhs, call, ...)                               \
	do {                                                       \
		if (((lhs) = (call)) == NULL) {                    \
			res = sp_error_ossl(SP_E_CRYPTO, __VA_ARGS__); \
			goto out;                                  \
		}                                                  \
	} while (0)

#define TRY_ALLOC(lhs, call)                                            \
	do {                                                            \
		if (((lhs) = (call)) == NULL) {                         \
			res = sp_error(SP_E_NOMEM, "out of memory");    \
			goto out;                                       \
		}                                                       \
	} while (0)

#endif
