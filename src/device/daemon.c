#include "device/daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/util.h"
#include "device/device.h"
#include "device/resync.h"
#include "device/sched.h"
#include "device/upgrade.h"

static volatile sig_atomic_t got_hup, got_stop;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
}

static uint64_t
rng(void *arg, uint64_t bound)
{
	uint64_t v = 0;

	if (bound == 0)
		return 0;
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = (uint64_t)sp_mono_ns(); /* never fatal: it only spreads load */
	return v % (bound + 1);
}

typedef struct vclock {
	int64_t base;        /* wall clock at start */
	uint64_t mono0;
	double scale;
} vclock;

static int64_t
vnow(const vclock *c)
{
	return c->base + (int64_t)((double)(sp_mono_ns() - c->mono0) / 1e9 * c->scale);
}

static int64_t
utc_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	return localtime_r(&tt, &tm) ? (int64_t)tm.tm_gmtoff : 0;
}

static void
load_timers(const char *dir, sp_timers *t)
{
	sp_device d;
	sp_params eff;
	sp_params empty;

	sp_device_init_empty(&d);
	sp_params_init(&eff);
	sp_params_init(&empty);
	if (sp_failed(sp_device_load(dir, &d)) || sp_failed(sp_device_effective(&d, &eff)) ||
	    sp_failed(sp_timers_from_params(&eff, t))) {
		sp_warn("timer parameters: %s; using the defaults", sp_errmsg());
		if (sp_failed(sp_timers_from_params(&empty, t)))
			memset(t, 0, sizeof(*t));
	}
	sp_device_free(&d);
	sp_params_free(&eff);
	sp_params_free(&empty);
}

static bool
one_round(const char *dir, const sp_daemon_opts *o, int prvst, int64_t now)
{
	sp_resync_opts ro;
	sp_resync_outcome out;
	bool ok;

	memset(&ro, 0, sizeof(ro));
	ro.dns_servers = o->dns_servers;
	ro.prvst = prvst;
	ro.report = true;
	ro.cancel = &got_stop;
	ro.now = now;
	sp_resync_outcome_init(&out);
	ok = sp_ok(sp_resync(dir, &ro, &out));
	sp_resync_outcome_free(&out);
	return ok;
}

/*
 * One upgrade attempt.  Returns when the next one is due: after a failure,
 * Upgrade_Error_Retry_Delay later; otherwise never (the next successful
 * resync arms it again).  *flashed: a new image runs ("reboot").
 */
static int64_t
one_upgrade(const char *dir, const sp_daemon_opts *o, int64_t now, bool *flashed)
{
	sp_upgrade_opts uo;
	sp_upgrade_outcome out;
	int64_t next = SP_NEVER;

	memset(&uo, 0, sizeof(uo));
	uo.dns_servers = o->dns_servers;
	uo.cancel = &got_stop;
	uo.now = now;
	sp_upgrade_outcome_init(&out);
	if (sp_failed(sp_upgrade(dir, &uo, &out)) && out.retry_delay > 0) {
		next = now + out.retry_delay;
		sp_info("next upgrade attempt in %lld s", (long long)out.retry_delay);
	}
	sp_error_clear();
	*flashed = out.upgraded;
	return next;
}

sp_result
sp_device_run(const char *dir, const sp_daemon_opts *o)
{
	sp_result res = SP_OK;
	struct sigaction sa;
	sigset_t block, old;
	vclock clk;
	sp_timers t;
	unsigned idx = 0;
	int64_t next, next_upg = SP_NEVER;
	long rounds = 0;
	int prvst = SP_PRVST_POWERUP;
	bool blocked = false;

	ENSURE(o->time_scale >= 1 && o->time_scale <= SP_TIME_SCALE_MAX, SP_E_USAGE,
	    "--time-scale must be between 1 and %d", SP_TIME_SCALE_MAX);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a signal interrupts the wait */
	ENSURE(sigaction(SIGHUP, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 &&
	    sigaction(SIGINT, &sa, NULL) == 0, SP_E_INTERNAL, "sigaction: %s", strerror(errno));
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	/* Blocked except inside ppoll and a resync: no lost wake-up. */
	ENSURE(sigprocmask(SIG_BLOCK, &block, &old) == 0, SP_E_INTERNAL, "sigprocmask");
	blocked = true;
	clk.base = sp_now();
	clk.mono0 = sp_mono_ns();
	clk.scale = o->time_scale;

	load_timers(dir, &t);
	{
		int64_t now = vnow(&clk);
		next = sp_next_resync(&t, SP_EV_START, &idx, now, utc_offset(now), rng, NULL);
		if (next == SP_NEVER)
			sp_info("device started; no resync timer armed (waiting for SIGHUP)");
		else
			sp_info("device started; first resync in %lld s", (long long)(next - now));
	}
	while (!got_stop) {
		int64_t now = vnow(&clk);
		bool due = got_hup || (next != SP_NEVER && now >= next);

		if (!due && next_upg != SP_NEVER && now >= next_upg) {
			/* Upgrades run on their own timer, between resyncs. */
			bool flashed = false;
			sigprocmask(SIG_SETMASK, &old, NULL);
			next_upg = one_upgrade(dir, o, now, &flashed);
			sigprocmask(SIG_BLOCK, &block, NULL);
			if (flashed) {
				/* The unit reboots into the new image: the start timers. */
				load_timers(dir, &t);
				now = vnow(&clk);
				idx = 0;
				prvst = SP_PRVST_POWERUP;
				next = sp_next_resync(&t, SP_EV_START, &idx, now, utc_offset(now),
				    rng, NULL);
			}
			continue;
		}
		if (due) {
			bool ok;
			if (got_hup)
				prvst = SP_PRVST_REQUESTED;
			got_hup = 0;
			sigprocmask(SIG_SETMASK, &old, NULL);
			ok = one_round(dir, o, prvst, now);
			sigprocmask(SIG_BLOCK, &block, NULL);
			rounds++;
			if (got_stop || (o->max_rounds > 0 && rounds >= o->max_rounds))
				break;
			load_timers(dir, &t); /* the new parameters count from now */
			now = vnow(&clk);
			next = sp_next_resync(&t, ok ? SP_EV_SUCCESS : SP_EV_FAILURE, &idx, now,
			    utc_offset(now), rng, NULL);
			prvst = ok ? SP_PRVST_PERIODIC : SP_PRVST_RETRY;
			/* A profile may have set Upgrade_Rule: look after each success. */
			if (ok && next_upg == SP_NEVER && sp_upgrade_enabled(dir))
				next_upg = now;
			if (next == SP_NEVER)
				sp_info("no resync timer armed (waiting for SIGHUP)");
			else
				sp_info("next resync in %lld s", (long long)(next - now));
			continue;
		}
		/* Sleep until due (real time is device time / scale), or a signal. */
		int64_t wake = next_upg < next ? next_upg : next;
		double wait_s = wake == SP_NEVER ? 3600.0 : (double)(wake - now) / clk.scale;
		if (wait_s > 3600.0)
			wait_s = 3600.0;
		if (wait_s < 0.001)
			wait_s = 0.001;
		struct timespec ts = { (time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9) };
		if (ppoll(NULL, 0, &ts, &old) < 0 && errno != EINTR)
			ENSURE(0, SP_E_INTERNAL, "ppoll: %s", strerror(errno));
	}
	sp_info("device stopped");
out:
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return res;
}
