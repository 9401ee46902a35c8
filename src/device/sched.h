/*
 * Resync timers, as pure functions of (parameters, event, now, random
 * numbers), so that tests check them without waiting real hours.
 *
 *   Resync_Random_Delay       seconds (the guides disagree between 1 s and
 *                             20 s units; sprov reads seconds), random wait
 *                             before the first resync after start
 *   Resync_Periodic           "3600", "0" (off) or a schedule
 *                             "1800+300,3600+600": the n-th periodic resync
 *                             uses entry n, the last entry repeats, "+N" adds
 *                             up to N random seconds
 *   Resync_Error_Retry_Delay  seconds after a failure (0: fall back to the
 *                             success timers)
 *   Resync_At                 "HHmm" local time (empty: none); overrides
 *                             Resync_Periodic after a success
 *   Resync_At_Random_Delay    up to this many random seconds after Resync_At
 *   Resync_On_Reset           Yes/No: resync at start
 */
#ifndef SPROV_DEVICE_SCHED_H
#define SPROV_DEVICE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "profile/param.h"

#define SP_SCHED_ENTRIES_MAX 16
#define SP_SCHED_SECONDS_MAX (366 * 86400)  /* any one delay */
#define SP_NEVER INT64_MAX

typedef struct sp_sched_entry {
	int64_t base;
	int64_t rand;
} sp_sched_entry;

typedef struct sp_sched {
	sp_sched_entry v[SP_SCHED_ENTRIES_MAX];
	size_t n;  /* 0: off */
} sp_sched;

typedef struct sp_timers {
	int64_t random_delay;
	sp_sched periodic;
	int64_t error_retry;
	int at_minute;       /* minutes after local midnight, -1: none */
	int64_t at_random;
	bool on_reset;
} sp_timers;

typedef enum { SP_EV_START, SP_EV_SUCCESS, SP_EV_FAILURE } sp_timer_event;

/* Uniform random integer in [0, bound]. */
typedef uint64_t (*sp_rng_fn)(void *arg, uint64_t bound);

SP_MUST_CHECK sp_result sp_sched_parse(sp_slice s, sp_sched *out);
/* "HHmm" (or "HH:mm") to minutes; empty gives -1. */
SP_MUST_CHECK sp_result sp_resync_at_parse(sp_slice s, int *minute);
/* The timers from a device's effective parameters (the digest's defaults). */
SP_MUST_CHECK sp_result sp_timers_from_params(const sp_params *ps, sp_timers *out);

/*
 * When the next resync is due after `ev` happened at `now` (UNIX seconds;
 * utc_offset: local time minus UTC, seconds).  *periodic_idx counts periodic
 * resyncs since start (reset by SP_EV_START, advanced by SP_EV_SUCCESS).
 * SP_NEVER when no timer is armed.
 */
int64_t sp_next_resync(const sp_timers *t, sp_timer_event ev, unsigned *periodic_idx,
    int64_t now, int64_t utc_offset, sp_rng_fn rng, void *rng_arg);

#endif
