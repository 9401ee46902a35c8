/*
 * The serving process' seccomp allow-list (common/sandbox.h), loaded before
 * the worker threads start (they inherit it; TSYNC puts it on the threads
 * already running), so no connection is ever served unfiltered.  What remains is
 * what serving needs: the event loops (epoll, accept4, the socket calls on
 * connections already made), files opened again on a reload (config,
 * certificate, CRL, access log) and SQLite's, the key process' channels,
 * memory, time, threads' futexes, and logging (stderr, syslog or the
 * journal: AF_UNIX sockets).  New sockets are AF_UNIX or IP (a PostgreSQL
 * store reconnects); no execve, fork, ptrace, mount, raw or packet sockets.
 * Anything else kills the process with SIGSYS, and the kernel logs it.
 * The list was collected with strace -f -c over the serve_* tests.
 */
#include "server/srv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sandbox.h"

static const sp_sandbox_rule serve_rules[] = {
	/* descriptors and files */
	SP_ALLOW(read), SP_ALLOW(write), SP_ALLOW(readv), SP_ALLOW(writev), SP_ALLOW(pread64),
	SP_ALLOW(pwrite64), SP_ALLOW(close), SP_ALLOW(openat), SP_ALLOW(fstat),
	SP_ALLOW(newfstatat), SP_ALLOW(statx), SP_ALLOW(stat), SP_ALLOW(lstat),
	SP_ALLOW(access), SP_ALLOW(faccessat), SP_ALLOW(faccessat2), SP_ALLOW(lseek),
	SP_ALLOW(fcntl), SP_ALLOW(dup), SP_ALLOW(dup3), SP_ALLOW(fsync), SP_ALLOW(fdatasync),
	SP_ALLOW(ftruncate), SP_ALLOW(unlink), SP_ALLOW(unlinkat), SP_ALLOW(rename),
	SP_ALLOW(renameat), SP_ALLOW(getdents64), SP_ALLOW(readlink), SP_ALLOW(getcwd),
	SP_ALLOW(flock), SP_ALLOW(fallocate), SP_ALLOW(pipe2), SP_ALLOW(eventfd2),
	SP_ALLOW(fchown), SP_ALLOW(fchmod), SP_ALLOW(umask), SP_ALLOW(memfd_create),
	SP_ALLOW_IF(ioctl, 1, 0xffffffff, FIONREAD), SP_ALLOW_IF(ioctl, 1, 0xffffffff, FIONBIO),
	SP_ALLOW_IF(ioctl, 1, 0xffffffff, TCGETS),
	/* sockets: the connections, the key process, logging, the store */
	SP_ALLOW_IF(socket, 0, 0xffffffff, AF_UNIX), SP_ALLOW_IF(socket, 0, 0xffffffff, AF_INET),
	SP_ALLOW_IF(socket, 0, 0xffffffff, AF_INET6), SP_ALLOW(socketpair), SP_ALLOW(connect),
	/*
	 * glibc's getaddrinfo asks the kernel over netlink which address
	 * families are configured once a name has several answers (localhost
	 * with ::1 and 127.0.0.1, a database host with A and AAAA records): a
	 * PostgreSQL store reconnecting was killed here.  Refused, glibc
	 * assumes both families and goes on.
	 */
	SP_ERRNO_IF(socket, 0, 0xffffffff, AF_NETLINK, EAFNOSUPPORT),
	SP_ALLOW(accept), SP_ALLOW(accept4), SP_ALLOW(shutdown), SP_ALLOW(sendto),
	SP_ALLOW(recvfrom), SP_ALLOW(sendmsg), SP_ALLOW(recvmsg), SP_ALLOW(sendmmsg),
	SP_ALLOW(setsockopt), SP_ALLOW(getsockopt), SP_ALLOW(getsockname),
	SP_ALLOW(getpeername),
	/* event loops */
	SP_ALLOW(epoll_create1), SP_ALLOW(epoll_ctl), SP_ALLOW(epoll_wait),
	SP_ALLOW(epoll_pwait), SP_ALLOW(poll), SP_ALLOW(ppoll), SP_ALLOW(select),
	SP_ALLOW(pselect6),
	/* memory, time, threads, signals */
	SP_ALLOW(mmap), SP_ALLOW(munmap), SP_ALLOW(mremap), SP_ALLOW(mprotect), SP_ALLOW(brk),
	SP_ALLOW(madvise), SP_ALLOW(futex), SP_ALLOW(getrandom), SP_ALLOW(clock_gettime),
	SP_ALLOW(clock_getres), SP_ALLOW(gettimeofday), SP_ALLOW(time), SP_ALLOW(nanosleep),
	SP_ALLOW(clock_nanosleep), SP_ALLOW(sched_yield), SP_ALLOW(sched_getaffinity),
	SP_ALLOW(getpid), SP_ALLOW(gettid), SP_ALLOW(getuid), SP_ALLOW(geteuid),
	SP_ALLOW(getgid), SP_ALLOW(getegid), SP_ALLOW(uname), SP_ALLOW(sysinfo),
	SP_ALLOW(getrusage), SP_ALLOW(prlimit64), SP_ALLOW(getrlimit), SP_ALLOW(rseq),
	SP_ALLOW(set_robust_list), SP_ALLOW(rt_sigaction), SP_ALLOW(rt_sigprocmask),
	SP_ALLOW(rt_sigreturn), SP_ALLOW(sigaltstack), SP_ALLOW(restart_syscall),
	SP_ALLOW(tgkill), SP_ALLOW(exit), SP_ALLOW(exit_group), SP_ALLOW(wait4),
	/* a thread, never a new process; clone3: glibc falls back to clone */
	SP_ALLOW_IF(clone, 0, CLONE_THREAD, CLONE_THREAD), SP_ERRNO(clone3, ENOSYS),
#ifdef SPROV_SANITIZE_BUILD
	/*
	 * LeakSanitizer stops the world at exit from a helper task that
	 * ptraces every thread and watches its parent (getppid, kill).
	 */
	SP_ALLOW(ptrace), SP_ALLOW(clone), SP_ALLOW(prctl), SP_ALLOW(open),
	SP_ALLOW(process_vm_readv), SP_ALLOW(getppid), SP_ALLOW(kill), SP_ALLOW(waitid),
	SP_ALLOW(arch_prctl), SP_ALLOW(set_tid_address), SP_ALLOW(sched_setaffinity),
	SP_ALLOW(getdents), SP_ALLOW(rt_sigtimedwait), SP_ALLOW(rt_sigqueueinfo),
#endif
};

/*
 * The key process is not dumpable, so only CAP_SYS_PTRACE opens its
 * /proc/PID/mem or attaches to it, and a serving process left running as
 * root (no `user`) had that: a parser bug taken over there could read the
 * key.  CAP_SYS_PTRACE goes from the bounding set (while CAP_SETPCAP
 * allows it) and from the effective, permitted and inheritable sets, for
 * good.  The serving process is made non-dumpable too: no core file with
 * the profiles and secrets it holds, no same-uid ptrace.  Raw capget and
 * capset: libcap is not worth a dependency for one bit.
 */
sp_result
srv_harden(void)
{
	sp_result res = SP_OK;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	const uint32_t bit = 1u << (CAP_SYS_PTRACE % 32);
	const int w = CAP_SYS_PTRACE / 32;

	ENSURE(prctl(PR_SET_DUMPABLE, 0) == 0, SP_E_IO, "PR_SET_DUMPABLE: %s", strerror(errno));
	if (prctl(PR_CAPBSET_READ, CAP_SYS_PTRACE) == 1 &&
	    prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE) != 0 && errno != EPERM)
		goto fail;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) != 0)
		goto fail;
	if ((d[w].effective | d[w].permitted | d[w].inheritable) & bit) {
		d[w].effective &= ~bit;
		d[w].permitted &= ~bit;
		d[w].inheritable &= ~bit;
		if (syscall(SYS_capset, &h, d) != 0)
			goto fail;
	}
	return SP_OK;
fail:
	res = sp_error(SP_E_IO, "dropping CAP_SYS_PTRACE: %s", strerror(errno));
out:
	return res;
}

sp_result
srv_sandbox(void)
{
	sp_result res = sp_sandbox_load("serve", serve_rules,
	    sizeof(serve_rules) / sizeof(serve_rules[0]));

	if (sp_ok(res))
		sp_info("serve: sandbox on: seccomp allow-list, any other system call kills "
		    "the process (sandbox = off to debug)");
	return res;
}

#ifdef SPROV_TEST_TRIGGERS
/*
 * Test-only (tests/integration/serve_sandbox.sh, serve_keyproc.sh), from
 * the serving process: a forbidden system call, a packet socket; the
 * netlink socket glibc's getaddrinfo opens, which must fail and not kill;
 * and opening another process' memory (/__sprov_test/mem/PID).  Armed only with
 * SPROV_TEST_TRIGGERS=1 in the environment as well.
 */
bool
srv_test_trigger(const char *path)
{
	const char *armed = getenv("SPROV_TEST_TRIGGERS");
	int fd;

	if (armed == NULL || strcmp(armed, "1") != 0)
		return false;
	if (strcmp(path, "/__sprov_test/forbidden-syscall") == 0) {
		sp_warn("serve: test trigger: socket(AF_PACKET) from the serving process");
		(void)socket(AF_PACKET, SOCK_RAW, 0);
		return true;
	}
	if (strncmp(path, "/__sprov_test/mem/", 18) == 0) {
		char p[64];

		snprintf(p, sizeof(p), "/proc/%ld/mem", strtol(path + 18, NULL, 10));
		fd = open(p, O_RDONLY | O_CLOEXEC);
		sp_warn("serve: test trigger: open %s: %s", p, fd >= 0 ? "opened" :
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return true;
	}
	if (strcmp(path, "/__sprov_test/netlink") == 0) {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
		sp_warn("serve: test trigger: socket(AF_NETLINK): %s",
		    fd >= 0 ? "opened" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return true;
	}
	return false;
}
#endif
