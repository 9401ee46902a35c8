/*
 * seccomp allow-lists (libseccomp), one loader for both processes that use
 * one: the serving process (src/server/sandbox.c) and the key process
 * (src/keyproc/sandbox.c).  Everything not on the list kills the whole
 * process (SIGSYS) and the kernel logs it (SCMP_FLTATR_CTL_LOG).
 */
#ifndef SPROV_COMMON_SANDBOX_H
#define SPROV_COMMON_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/result.h"

/*
 * One allowed system call (nr from SCMP_SYS), unconditionally (arg < 0) or
 * when (argument arg & mask) == val.  errno_ret != 0: answer that errno
 * instead of allowing (e.g. ENOSYS for clone3, so glibc falls back).
 */
typedef struct sp_sandbox_rule {
	int nr;
	int arg;
	uint64_t mask, val;
	int errno_ret;
} sp_sandbox_rule;

#define SP_ALLOW(name) { SCMP_SYS(name), -1, 0, 0, 0 }
#define SP_ALLOW_IF(name, a, m, v) { SCMP_SYS(name), a, m, v, 0 }
#define SP_ERRNO(name, e) { SCMP_SYS(name), -1, 0, 0, e }
#define SP_ERRNO_IF(name, a, m, v, e) { SCMP_SYS(name), a, m, v, e }

/* Load the filter on every thread of the process (TSYNC).  who: for messages. */
SP_MUST_CHECK sp_result sp_sandbox_load(const char *who, const sp_sandbox_rule *rules,
    size_t n);

#endif
