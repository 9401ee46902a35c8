#include "fleet/plan.h"

#include <math.h>
#include <string.h>

void
sp_rng_seed(sp_rng *r, uint64_t seed)
{
	r->s = seed;
}

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
sp_rng_next(sp_rng *r)
{
	/* splitmix64 (Vigna): tiny state, good enough for arrival times. */
	return mix64(r->s += 0x9e3779b97f4a7c15ULL);
}

double
sp_rng_unit(sp_rng *r)
{
	return (double)(sp_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t
sp_poisson_gap_us(sp_rng *r, double rate)
{
	double gap;

	if (!(rate > 0))
		return UINT64_MAX;
	/* 1 - u is in (0, 1]: the logarithm is finite. */
	gap = -log(1.0 - sp_rng_unit(r)) / rate * 1e6;
	if (gap >= (double)SP_FLEET_DELAY_MAX_MS * 1000.0)
		return (uint64_t)SP_FLEET_DELAY_MAX_MS * 1000u;
	return (uint64_t)gap;
}

int64_t
sp_retry_delay_ms(long retry_after_s, int64_t error_retry_s, double scale)
{
	double s = retry_after_s >= 0 ? (double)retry_after_s : (double)error_retry_s;
	double ms;

	if (s < 0)
		s = 0;
	ms = s * 1000.0 * scale;
	if (ms < 1.0)
		return 1;
	if (ms > (double)SP_FLEET_DELAY_MAX_MS)
		return SP_FLEET_DELAY_MAX_MS;
	return (int64_t)ms;
}

void
sp_outage_init(sp_outage *o)
{
	o->failing = false;
	o->since_us = 0;
	o->n = 0;
	o->longest_us = -1;
	o->from_us = o->to_us = 0;
	o->longest_n = 0;
	o->longest_open = false;
	o->first_fail_us = o->last_fail_us = -1;
}

void
sp_outage_fail(sp_outage *o, int64_t t)
{
	if (o->first_fail_us < 0)
		o->first_fail_us = t;
	o->last_fail_us = t;
	if (!o->failing) {
		o->failing = true;
		o->since_us = t;
		o->n = 0;
	}
	o->n++;
}

static void
outage_close(sp_outage *o, int64_t t, bool open)
{
	int64_t len = t > o->since_us ? t - o->since_us : 0;

	/* A tie keeps the earlier stretch. */
	if (len > o->longest_us) {
		o->longest_us = len;
		o->from_us = o->since_us;
		o->to_us = t > o->since_us ? t : o->since_us;
		o->longest_n = o->n;
		o->longest_open = open;
	}
	o->failing = false;
	o->n = 0;
}

void
sp_outage_ok(sp_outage *o, int64_t t)
{
	if (o->failing)
		outage_close(o, t, false);
}

void
sp_outage_end(sp_outage *o, int64_t t)
{
	if (o->failing)
		outage_close(o, t, true);
}


sp_upg_fate
sp_upgrade_fate(uint64_t seed, const uint8_t mac[6], const char *version, double rate,
    sp_upg_fail mode)
{
	uint64_t h = mix64(seed ^ 0x5350524f56465755ULL), m = 0;
	double u;

	for (size_t i = 0; i < 6; i++)
		m = m << 8 | mac[i];
	h = mix64(h ^ m);
	for (size_t i = 0, n = strlen(version); i < n; i++)
		h = mix64(h ^ (unsigned char)version[i]);
	u = (double)(h >> 11) * 0x1.0p-53;
	if (!(u < rate))
		return SP_UPG_FLASHED;
	if (mode == SP_UPG_FAIL_BRICK)
		return SP_UPG_BRICKED;
	if (mode == SP_UPG_FAIL_OLD)
		return SP_UPG_REVERTED;
	/* The mix: a bit the threshold did not use. */
	return (h & 1) ? SP_UPG_BRICKED : SP_UPG_REVERTED;
}
