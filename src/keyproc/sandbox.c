/*
 * The key process' seccomp filter (common/sandbox.h), tighter than the
 * serving process': its channels (recv/send, poll), memory, the clock and
 * randomness for signatures, and reading its own key files again on a
 * reload (openat only read-only).  No socket, connect, execve, fork or
 * ptrace; anything else kills it.
 */
#include "keyproc/keyproc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>

#include "common/sandbox.h"

static const sp_sandbox_rule kp_rules[] = {
	SP_ALLOW(read), SP_ALLOW(write), SP_ALLOW(close),
	SP_ALLOW(recvfrom), SP_ALLOW(recvmsg), SP_ALLOW(sendto), SP_ALLOW(sendmsg),
	SP_ALLOW(poll), SP_ALLOW(ppoll),
	SP_ALLOW_IF(openat, 2, O_ACCMODE, O_RDONLY),
	SP_ALLOW(fstat), SP_ALLOW(newfstatat), SP_ALLOW(statx), SP_ALLOW(lseek),
	SP_ALLOW(mmap), SP_ALLOW(munmap), SP_ALLOW(mremap), SP_ALLOW(brk), SP_ALLOW(madvise),
	SP_ALLOW(mprotect), SP_ALLOW(futex), SP_ALLOW(getrandom), SP_ALLOW(getpid),
	SP_ALLOW(clock_gettime), SP_ALLOW(gettimeofday), SP_ALLOW(rt_sigreturn),
	SP_ALLOW(rt_sigprocmask), SP_ALLOW(restart_syscall), SP_ALLOW(exit),
	SP_ALLOW(exit_group),
#ifdef SPROV_SANITIZE_BUILD
	/* The sanitizer runtime's own calls (reports, shadow memory). */
	SP_ALLOW(sched_yield), SP_ALLOW(sigaltstack), SP_ALLOW(rt_sigaction),
	SP_ALLOW(readlink), SP_ALLOW(getpid), SP_ALLOW(gettid), SP_ALLOW(tgkill),
	SP_ALLOW(prctl), SP_ALLOW(getrlimit), SP_ALLOW(prlimit64), SP_ALLOW(open),
	SP_ALLOW(uname), SP_ALLOW(sched_getaffinity), SP_ALLOW(writev),
#endif
};

sp_result
sp_kp_sandbox(void)
{
	return sp_sandbox_load("key process", kp_rules, sizeof(kp_rules) / sizeof(kp_rules[0]));
}
