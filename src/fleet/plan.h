/*
 * The fleet's pure timing decisions, unit-tested without a network:
 *  - a small PRNG (splitmix64), one per worker, seeded for repeatable runs;
 *  - Poisson arrivals: exponential gaps of mean 1/rate;
 *  - when a device tries again after a failure: the server's Retry-After
 *    when it sent one (503), else the device's Resync_Error_Retry_Delay,
 *    both multiplied by the time scale (--time-scale), never below 1 ms;
 *  - the outage figure: the longest stretch of failed attempts with no
 *    success between them, from its first failure to the next success;
 *  - which simulated upgrades fail (--fail-upgrade-rate) and how.
 */
#ifndef SPROV_FLEET_PLAN_H
#define SPROV_FLEET_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#define SP_FLEET_DELAY_MAX_MS (366LL * 86400 * 1000)  /* any one computed delay */

typedef struct sp_rng {
	uint64_t s;
} sp_rng;

void sp_rng_seed(sp_rng *r, uint64_t seed);
uint64_t sp_rng_next(sp_rng *r);
/* Uniform in [0, 1). */
double sp_rng_unit(sp_rng *r);

/* The gap to the next arrival of a Poisson process of `rate` per second, in us. */
uint64_t sp_poisson_gap_us(sp_rng *r, double rate);

/*
 * Delay before a retry, in ms.  retry_after_s: the server's Retry-After
 * (-1: none); error_retry_s: Resync_Error_Retry_Delay; scale > 0.
 */
int64_t sp_retry_delay_ms(long retry_after_s, int64_t error_retry_s, double scale);

/*
 * The longest stretch of failures: it begins with the first failed attempt
 * after a success (or the start) and ends with the next success, or with
 * the run when no success came (open).  A run without failures has none.
 * Times are microseconds since the start of the run, in the order the
 * outcomes were judged; the caller serialises the calls.
 */
typedef struct sp_outage {
	bool failing;             /* a stretch is under way */
	int64_t since_us;         /* its first failure */
	uint64_t n;               /* its failures so far */
	int64_t longest_us;       /* the longest stretch: length, -1: none */
	int64_t from_us, to_us;   /* ... its first failure and its end */
	uint64_t longest_n;       /* ... its failed attempts */
	bool longest_open;        /* ... it ended with the run, not a success */
	int64_t first_fail_us;    /* every failure: the first and last, -1: none */
	int64_t last_fail_us;
} sp_outage;

void sp_outage_init(sp_outage *o);
void sp_outage_fail(sp_outage *o, int64_t t_us);
void sp_outage_ok(sp_outage *o, int64_t t_us);
/* The run ends at t_us: a stretch still under way ends here, open. */
void sp_outage_end(sp_outage *o, int64_t t_us);

/* --fail-upgrade-mode: how a failing upgrade fails. */
typedef enum sp_upg_fail {
	SP_UPG_FAIL_BRICK,        /* the device never comes back */
	SP_UPG_FAIL_OLD,          /* it comes back on the old version */
	SP_UPG_FAIL_MIX,          /* half of each, chosen per device */
} sp_upg_fail;

typedef enum sp_upg_fate {
	SP_UPG_FLASHED,           /* the new version runs */
	SP_UPG_BRICKED,
	SP_UPG_REVERTED,          /* back on the old version */
} sp_upg_fate;

/*
 * The fate of one device's upgrade to `version`: a keyed hash of (seed,
 * MAC, version), so the same devices fail on every run and every retry,
 * and a fraction `rate` (0..1) of the devices that upgrade fail.
 */
sp_upg_fate sp_upgrade_fate(uint64_t seed, const uint8_t mac[6], const char *version,
    double rate, sp_upg_fail mode);

#endif
