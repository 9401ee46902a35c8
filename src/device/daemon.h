/*
 * `sprov device run`: the device as a long-running process.  The timing
 * policy is sched.h's (pure); this file only keeps the clock and the signals:
 *   SIGHUP          resync now ($PRVST -1)
 *   SIGTERM/SIGINT  stop cleanly (an ongoing transfer is cancelled; the
 *                   store is only ever replaced whole, so it stays intact)
 * Upgrades (upgrade.h) run on their own timer: after each successful
 * resync (a profile may have set Upgrade_Rule), and Upgrade_Error_Retry_Delay
 * after a failed one.  A flashed image restarts the resync timers as a
 * reboot would (Resync_On_Reset, $PRVST 0).
 * time_scale > 1 runs the device's clock faster than the wall clock (tests:
 * 3600 turns an hour into a second).  Timer parameters are read again after
 * each round, so what a profile sets takes effect for the next round.
 */
#ifndef SPROV_DEVICE_DAEMON_H
#define SPROV_DEVICE_DAEMON_H

#include "common/result.h"

#define SP_TIME_SCALE_MAX 1000000

typedef struct sp_daemon_opts {
	const char *dns_servers;  /* c-ares CSV or NULL */
	double time_scale;        /* >= 1 */
	long max_rounds;          /* 0: unlimited (tests may bound it) */
} sp_daemon_opts;

SP_MUST_CHECK sp_result sp_device_run(const char *dir, const sp_daemon_opts *o);

#endif
