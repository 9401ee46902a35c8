/*
 * The fleet's pure timing decisions, unit-tested without a network:
 *  - a small PRNG (splitmix64), one per worker, seeded for repeatable runs;
 *  - Poisson arrivals: exponential gaps of mean 1/rate;
 *  - when a device tries again after a failure: the server's Retry-After
 *    when it sent one (503), else the device's Resync_Error_Retry_Delay,
 *    both multiplied by the time scale (--time-scale), never below 1 ms.
 */
#ifndef SPROV_FLEET_PLAN_H
#define SPROV_FLEET_PLAN_H

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

#endif
