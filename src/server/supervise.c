/*
 * The supervising parent of `sprov serve` (docs/SERVER.md, PROCESSES in
 * sprov-serve(8)).  The process systemd starts never parses HTTP and never
 * touches TLS state.  While privileged it starts the key process
 * (src/keyproc) and binds the listening sockets; then it forks the serving
 * process (server.c: srv_serve) and waits.  A serving process that dies by
 * a signal (SIGSYS from its seccomp filter, SIGSEGV) or exits non-zero is
 * logged and replaced after a backoff (1 s doubling to 30 s, back to 1 s
 * after 60 s of good running); the sockets stay bound, so the port is never
 * lost, and the key process lives on with a fresh set of channels for the
 * new serving process.  SIGTERM/SIGINT are forwarded and the parent waits
 * for the drain, then ends the key process; SIGHUP and SIGUSR1 are
 * forwarded.
 *
 * XXX: a serving process is a fork of the parent, not a fresh exec, so every
 * restart has the same address-space layout; an attacker who can crash it
 * at will gets up to one try per backoff period.
 */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "keyproc/keyproc.h"
#include "pki/token.h"
#include "server/srv.h"

#define SUP_BACKOFF_MIN_S 1
#define SUP_BACKOFF_MAX_S 30
#define SUP_GOOD_RUN_S 60      /* running this long resets the backoff */
#define SUP_TICK_MS 1000       /* the parent's wake-up: restarts, watchdog */
#define SUP_START_TICK_MS 50   /* while a serving process starts */

typedef struct sup {
	sp_keyproc *kp;
	int *fds;                  /* listening sockets, one per worker */
	int nfds;
	int admin_fd;
	pid_t parent, child;       /* child -1: none running */
	int ready_rd;              /* the running child's ready pipe */
	bool child_ready;          /* it listens and takes its signals */
	bool pending_hup, pending_usr1; /* for it once it is ready */
	time_t started, restart_at;
	uint64_t restarts;
	int backoff;
	bool ever_ready;
} sup;

/* "SYS" for SIGSYS. */
static const char *
sig_name(int sig)
{
	const char *n = sigabbrev_np(sig);

	return n != NULL ? n : "?";
}

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Everything a serving process needs that takes privileges, made once. */
static sp_result
sup_prepare(sup *sv, const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	const char *key_file = cfg->key;

	/* Before anything is loaded: a second server is a mistake. */
	if (!cfg->reuse_port)
		TRY(srv_listen_probe(cfg->listen));
	TRY(srv_check_tls_files(cfg));
	sv->nfds = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (sv->nfds < 1)
		sv->nfds = 1;
	/*
	 * Before any thread and the privilege drop: src/keyproc,
	 * docs/SECURITY.md.  A key in a PKCS#11 token is already out of reach.
	 */
	if (cfg->key_process && !sp_token_is_uri(cfg->key))
		TRY(sp_keyproc_start(&key_file, 1, sv->nfds + 1, cfg->sandbox, &sv->kp));
	TRY_ALLOC(sv->fds, malloc((size_t)sv->nfds * sizeof(int)));
	for (int i = 0; i < sv->nfds; i++)
		sv->fds[i] = -1;
	/* Bind everything while still privileged; kept across serving processes. */
	for (int i = 0; i < sv->nfds; i++)
		if ((sv->fds[i] = srv_listen("listen", cfg->listen, true, &res)) < 0)
			goto out;
	if (cfg->admin[0] != '\0' && strcmp(cfg->admin, "off") != 0)
		if ((sv->admin_fd = srv_listen("admin", cfg->admin, false, &res)) < 0)
			goto out;
out:
	return res;
}

/*
 * Fork a serving process.  In the child, *is_child is set and the result
 * is srv_serve's: the caller returns it (the CLI prints it and exits).
 */
static sp_result
sup_spawn(sup *sv, const char *config_path, const sp_serve_overrides *ov,
    const sigset_t *oldmask, bool *is_child)
{
	sp_result res = SP_OK;
	int rp[2] = { -1, -1 };
	srv_handoff h = { .keyproc = sv->kp, .listen_fds = sv->fds, .nlisten = sv->nfds,
	    .admin_fd = sv->admin_fd, .restarts = sv->restarts };
	pid_t pid;
	char wd[32];

	if (sv->kp != NULL)
		TRY(sp_keyproc_renew(sv->kp));
	sv->pending_hup = sv->pending_usr1 = false; /* it reads everything afresh */
	ENSURE(pipe2(rp, O_CLOEXEC) == 0, SP_E_IO, "pipe: %s", strerror(errno));
	pid = fork();
	ENSURE(pid >= 0, SP_E_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		*is_child = true;
		close(rp[0]);
		rp[0] = -1;
		h.ready_fd = rp[1];
		/*
		 * A parent killed outright takes the serving process with it, as
		 * when they were one process: nothing is left holding the port.
		 */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		(void)prctl(PR_SET_NAME, "sprov-serve");
		if (getppid() != sv->parent)
			raise(SIGKILL);
		pthread_sigmask(SIG_SETMASK, oldmask, NULL);
		/* systemd's watchdog watches the serving process' main loop. */
		if (getenv("WATCHDOG_PID") != NULL) {
			snprintf(wd, sizeof(wd), "%ld", (long)getpid());
			setenv("WATCHDOG_PID", wd, 1);
		}
		if (sv->kp != NULL)
			sp_keyproc_detach(sv->kp);
		res = srv_serve(config_path, ov, &h);
		/* srv_serve owns what it was handed: the parent's copies are not ours. */
		sv->kp = NULL;
		for (int i = 0; i < sv->nfds; i++)
			sv->fds[i] = -1;
		sv->admin_fd = -1;
		goto out;
	}
	close(rp[1]);
	rp[1] = -1;
	if (sv->kp != NULL)
		sp_keyproc_release(sv->kp);
	(void)fcntl(rp[0], F_SETFL, O_NONBLOCK);
	sv->ready_rd = rp[0];
	rp[0] = -1;
	sv->child = pid;
	sv->started = mono_now();
out:
	if (rp[0] >= 0)
		close(rp[0]);
	if (rp[1] >= 0)
		close(rp[1]);
	return res;
}

/*
 * Has the serving process started listening (its signal handlers set)?
 * Signals that came before are forwarded now: earlier they would kill it.
 */
static void
sup_poll_ready(sup *sv)
{
	char b;

	if (sv->child <= 0 || sv->child_ready || read(sv->ready_rd, &b, 1) != 1)
		return;
	sv->child_ready = true;
	if (sv->pending_hup)
		(void)kill(sv->child, SIGHUP);
	if (sv->pending_usr1)
		(void)kill(sv->child, SIGUSR1);
	sv->pending_hup = sv->pending_usr1 = false;
}

/*
 * The serving process is gone with status st.  Returns true when the
 * parent should stop (exit code in *code), false when a restart is due.
 */
static bool
sup_child_gone(sup *sv, int st, bool stopping, int *code)
{
	char how[64];
	char b;
	bool ready = sv->child_ready || read(sv->ready_rd, &b, 1) == 1;
	time_t ran = mono_now() - sv->started;

	close(sv->ready_rd);
	sv->ready_rd = -1;
	sv->child_ready = false;
	sv->ever_ready = sv->ever_ready || ready;
	if (WIFEXITED(st) && (stopping || WEXITSTATUS(st) == 0)) {
		/* Drained on our SIGTERM, or stopped on purpose: so do we. */
		*code = stopping ? WEXITSTATUS(st) : 0;
		return true;
	}
	if (stopping && WIFSIGNALED(st) && (WTERMSIG(st) == SIGTERM || WTERMSIG(st) == SIGINT)) {
		*code = 0; /* stopped before it could take the signal: nothing to drain */
		return true;
	}
	if (stopping) {
		sp_err("serve: serving process %ld killed by SIG%s while draining",
		    (long)sv->child, sig_name(WTERMSIG(st)));
		*code = 1;
		return true;
	}
	if (!sv->ever_ready) {
		/* Never served: a start-up failure it has already reported. */
		if (WIFSIGNALED(st))
			sp_err("serve: serving process %ld killed by SIG%s at start-up",
			    (long)sv->child, sig_name(WTERMSIG(st)));
		*code = 1;
		return true;
	}
	if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "killed by SIG%s", sig_name(WTERMSIG(st)));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(st));
	if (ran >= SUP_GOOD_RUN_S)
		sv->backoff = SUP_BACKOFF_MIN_S;
	sv->restarts++;
	sp_err("serve: serving process %ld %s; restarting in %d s (restart %llu)",
	    (long)sv->child, how, sv->backoff, (unsigned long long)sv->restarts);
	sv->restart_at = mono_now() + sv->backoff;
	sv->backoff = sv->backoff * 2 > SUP_BACKOFF_MAX_S ? SUP_BACKOFF_MAX_S : sv->backoff * 2;
	return false;
}

sp_result
sp_serve_run(const char *config_path, const sp_serve_overrides *ov)
{
	sp_result res = SP_OK;
	sp_serve_config *cfg = NULL;
	sup sv = { .admin_fd = -1, .child = -1, .ready_rd = -1, .backoff = SUP_BACKOFF_MIN_S };
	sigset_t set, old;
	bool masked = false, is_child = false, stopping = false;
	int code = -1, st;

	sv.parent = getpid();
	TRY_ALLOC(cfg, malloc(sizeof(*cfg)));
	TRY(sp_serve_config_load(config_path, ov, cfg));
	if (cfg->log == SP_LOGTO_SYSLOG)
		sp_log_set_syslog(true, "sprov-serve");
	else if (cfg->log == SP_LOGTO_JOURNAL)
		sp_log_set_journal(true, "sprov-serve");
	signal(SIGPIPE, SIG_IGN);
	/* The parent takes its signals synchronously, between waits. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	masked = true;
	TRY(sup_prepare(&sv, cfg));
	TRY(sup_spawn(&sv, config_path, ov, &old, &is_child));
	if (is_child)
		goto out;
	while (sv.child > 0 || (!stopping && code < 0)) {
		int ms = sv.child > 0 && !sv.child_ready ? SUP_START_TICK_MS : SUP_TICK_MS;
		struct timespec tick = { ms / 1000, (long)(ms % 1000) * 1000000L };
		siginfo_t si;
		int sig = sigtimedwait(&set, &si, &tick);
		pid_t got = 0;

		sup_poll_ready(&sv);
		if (sig == SIGTERM || sig == SIGINT) {
			stopping = true;
			if (sv.child > 0)
				(void)kill(sv.child, sig);
		} else if (sig == SIGHUP || sig == SIGUSR1) {
			if (sv.child > 0 && sv.child_ready)
				(void)kill(sv.child, sig);
			else if (sig == SIGHUP)
				sv.pending_hup = true;
			else
				sv.pending_usr1 = true;
		}
		if (sv.kp != NULL && waitpid(sp_keyproc_pid(sv.kp), &st, WNOHANG) > 0) {
			sp_err("serve: key process %ld is gone; stopping",
			    (long)sp_keyproc_pid(sv.kp));
			code = 1;
			stopping = true;
			if (sv.child > 0)
				(void)kill(sv.child, SIGTERM);
		}
		while (sv.child > 0 && (got = waitpid(sv.child, &st, WNOHANG)) < 0 &&
		    errno == EINTR)
			;
		if (sv.child > 0 && got == sv.child) {
			int c = -1;

			if (sup_child_gone(&sv, st, stopping, &c))
				stopping = true;
			if (code < 0)
				code = c;
			sv.child = -1;
		}
		if (stopping && sv.child < 0)
			break;
		if (sv.child < 0 && mono_now() >= sv.restart_at) {
			sp_result r = sup_spawn(&sv, config_path, ov, &old, &is_child);

			if (is_child) {
				res = r;
				goto out;
			}
			if (sp_failed(r)) {
				sp_err("serve: cannot start a serving process: %s; stopping",
				    sp_errmsg());
				code = 1;
				break;
			}
		} else if (sv.child < 0) {
			srv_notify("WATCHDOG=1");
		}
	}
out:
	if (masked && !is_child)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (sv.ready_rd >= 0)
		close(sv.ready_rd);
	sp_keyproc_free(sv.kp); /* the key process ends with its last channel */
	for (int i = 0; sv.fds != NULL && i < sv.nfds; i++)
		if (sv.fds[i] >= 0)
			close(sv.fds[i]);
	free(sv.fds);
	if (sv.admin_fd >= 0)
		close(sv.admin_fd);
	free(cfg);
	/* The serving process has said why it failed: leave quietly. */
	if (!is_child && sp_ok(res) && code > 0)
		exit(code);
	return res;
}
