/*
 * Small shared helpers: strict number parsing, files written atomically with
 * explicit modes, bounded file reads, hex, time.
 */
#ifndef SPROV_COMMON_UTIL_H
#define SPROV_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Strict integer parsing in the spirit of OpenBSD strtonum(3): the whole of
 * `s` must be a decimal integer within [min, max]; no sign for unsigned, no
 * whitespace, no trailing bytes.  `what` names the value in the message.
 */
SP_MUST_CHECK sp_result sp_parse_i64(const char *s, int64_t min, int64_t max,
    const char *what, int64_t *out);
SP_MUST_CHECK sp_result sp_parse_i64_slice(sp_slice s, int64_t min, int64_t max,
    const char *what, int64_t *out);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void sp_hex(const uint8_t *p, size_t n, char *out);

/* Wall-clock seconds and a monotonic clock in nanoseconds. */
int64_t sp_now(void);
/* 64-bit FNV-1a of n bytes: for in-memory hash tables, not against an attacker
 * who picks keys (each table bounds its probes or slots). */
uint64_t sp_fnv1a(const void *p, size_t n);
uint64_t sp_mono_ns(void);

/* True if s contains a byte < 0x20 or 0x7f (NUL included, by length). */
bool sp_has_ctl(sp_slice s);

/*
 * Files.
 * SP_WRITE_EXCL refuses to replace an existing file (atomically: the data is
 * written to a temporary file in the same directory, fsynced, then link()ed
 * into place).  Without it, the file is replaced by rename().  Either way a
 * reader never sees a partial file under the final name.
 */
enum { SP_WRITE_EXCL = 1, SP_WRITE_NOSYNC = 2 };
SP_MUST_CHECK sp_result sp_write_file(const char *path, const void *data,
    size_t len, mode_t mode, int flags);
/* Read a whole file, failing with SP_E_LIMIT past max bytes. */
SP_MUST_CHECK sp_result sp_read_file(const char *path, size_t max, sp_buf *out);
/* The same into a secret buffer (common/buf.h), for key files. */
SP_MUST_CHECK sp_result sp_read_file_secret(const char *path, size_t max, sp_buf *out);
SP_MUST_CHECK sp_result sp_fsync_dir(const char *dir);
bool sp_file_exists(const char *path);
/* mkdir -p with mode for created directories. */
SP_MUST_CHECK sp_result sp_mkdirs(const char *path, mode_t mode);

#endif
