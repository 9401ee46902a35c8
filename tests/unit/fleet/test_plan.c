#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>

#include "fleet/plan.h"

static void
test_rng_repeatable(void **state)
{
	sp_rng a, b;

	sp_rng_seed(&a, 42);
	sp_rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++) {
		double u = sp_rng_unit(&a);
		assert_true(u >= 0.0 && u < 1.0);
		assert_true(u == sp_rng_unit(&b));
	}
}

/*
 * The failing fraction is the rate (within a few percent over 20 000
 * devices), the same device fails the same way every time, a new version
 * draws again, and the modes give bricks, reverts or both.
 */
static void
test_upgrade_fate(void **state)
{
	unsigned counts[3][3] = { { 0 } }, changed = 0;
	const sp_upg_fail modes[3] = { SP_UPG_FAIL_BRICK, SP_UPG_FAIL_OLD, SP_UPG_FAIL_MIX };

	(void)state;
	for (unsigned i = 0; i < 20000; i++) {
		uint8_t mac[6] = { 0x02, 0, (uint8_t)(i >> 24), (uint8_t)(i >> 16),
			(uint8_t)(i >> 8), (uint8_t)i };
		for (int k = 0; k < 3; k++) {
			sp_upg_fate f = sp_upgrade_fate(7, mac, "2.0.1", 0.2, modes[k]);
			assert_int_equal(f, sp_upgrade_fate(7, mac, "2.0.1", 0.2, modes[k]));
			counts[k][f]++;
		}
		if (sp_upgrade_fate(7, mac, "2.0.1", 0.2, SP_UPG_FAIL_BRICK) !=
		    sp_upgrade_fate(7, mac, "2.0.2", 0.2, SP_UPG_FAIL_BRICK))
			changed++;
		assert_int_equal(sp_upgrade_fate(7, mac, "2.0.1", 0, SP_UPG_FAIL_MIX), SP_UPG_FLASHED);
		assert_int_equal(sp_upgrade_fate(7, mac, "2.0.1", 1, SP_UPG_FAIL_BRICK), SP_UPG_BRICKED);
	}
	assert_true(counts[0][SP_UPG_BRICKED] > 3800 && counts[0][SP_UPG_BRICKED] < 4200);
	assert_int_equal(counts[0][SP_UPG_REVERTED], 0);
	assert_int_equal(counts[1][SP_UPG_BRICKED], 0);
	assert_true(counts[1][SP_UPG_REVERTED] > 3800 && counts[1][SP_UPG_REVERTED] < 4200);
	/* The same devices fail in every mode; the mix splits them. */
	assert_int_equal(counts[2][SP_UPG_FLASHED], counts[0][SP_UPG_FLASHED]);
	assert_true(counts[2][SP_UPG_BRICKED] > 1800 && counts[2][SP_UPG_REVERTED] > 1800);
	/* Another version is another draw: about 2 * 0.2 * 0.8 of the devices change. */
	assert_true(changed > 5800 && changed < 7000);
}

/*
 * Exponential gaps: mean 1/rate, and the count in fixed windows has the
 * Poisson variance (equal to its mean), both within a few percent over a
 * large sample.
 */
static void
test_poisson(void **state)
{
	sp_rng r;
	const double rate = 500.0;
	const int n = 200000;
	double sum = 0, t = 0;
	uint64_t windows[200] = { 0 };

	sp_rng_seed(&r, 7);
	for (int i = 0; i < n; i++) {
		uint64_t g = sp_poisson_gap_us(&r, rate);
		sum += (double)g;
		t += (double)g;
		if (t < 200e6)
			windows[(size_t)(t / 1e6)]++;
	}
	assert_true(fabs(sum / n - 1e6 / rate) < 0.02 * 1e6 / rate);
	{
		double m = 0, v = 0;
		for (int i = 0; i < 200; i++)
			m += (double)windows[i];
		m /= 200;
		for (int i = 0; i < 200; i++)
			v += ((double)windows[i] - m) * ((double)windows[i] - m);
		v /= 199;
		assert_true(fabs(m - rate) < 0.03 * rate);
		assert_true(v > 0.7 * m && v < 1.3 * m);
	}
	/* No rate: never. */
	assert_true(sp_poisson_gap_us(&r, 0) == UINT64_MAX);
	assert_true(sp_poisson_gap_us(&r, -1) == UINT64_MAX);
}

static void
test_retry_delay(void **state)
{
	/* Retry-After wins over the device's own delay, both scaled. */
	assert_int_equal(sp_retry_delay_ms(30, 3600, 1.0), 30000);
	assert_int_equal(sp_retry_delay_ms(30, 3600, 0.01), 300);
	assert_int_equal(sp_retry_delay_ms(-1, 3600, 0.001), 3600);
	assert_int_equal(sp_retry_delay_ms(-1, 3600, 1.0), 3600000);
	/* Retry-After: 0 means now, but never a busy loop: at least 1 ms. */
	assert_int_equal(sp_retry_delay_ms(0, 3600, 1.0), 1);
	assert_int_equal(sp_retry_delay_ms(-1, 0, 1.0), 1);
	assert_int_equal(sp_retry_delay_ms(-1, -5, 1.0), 1);
	/* Bounded. */
	assert_int_equal(sp_retry_delay_ms(-1, INT64_MAX / 1000, 1e9), SP_FLEET_DELAY_MAX_MS);
}

/* No failure: no outage. */
static void
test_outage_none(void **state)
{
	sp_outage o;

	sp_outage_init(&o);
	sp_outage_ok(&o, 10);
	sp_outage_ok(&o, 20);
	sp_outage_end(&o, 30);
	assert_true(o.longest_us == -1);
	assert_true(o.first_fail_us == -1 && o.last_fail_us == -1);
}

/*
 * A stretch runs from its first failure to the next success; the longest
 * one is kept with its bounds and failure count, and successes alone never
 * make one.
 */
static void
test_outage_longest(void **state)
{
	sp_outage o;

	sp_outage_init(&o);
	sp_outage_ok(&o, 100);
	sp_outage_fail(&o, 200);        /* a short stretch: 200..250, 1 failure */
	sp_outage_ok(&o, 250);
	sp_outage_ok(&o, 300);
	sp_outage_fail(&o, 1000);       /* the outage: 1000..4000, 3 failures */
	sp_outage_fail(&o, 2000);
	sp_outage_fail(&o, 3000);
	sp_outage_ok(&o, 4000);
	sp_outage_ok(&o, 4100);
	sp_outage_fail(&o, 5000);       /* shorter: 5000..5500 */
	sp_outage_ok(&o, 5500);
	sp_outage_end(&o, 6000);
	assert_true(o.longest_us == 3000);
	assert_true(o.from_us == 1000 && o.to_us == 4000);
	assert_true(o.longest_n == 3);
	assert_false(o.longest_open);
	assert_true(o.first_fail_us == 200 && o.last_fail_us == 5000);
}

/* Still failing when the run ends: the stretch ends with the run, open. */
static void
test_outage_open(void **state)
{
	sp_outage o;

	sp_outage_init(&o);
	sp_outage_fail(&o, 0);          /* the server was never up at first */
	sp_outage_ok(&o, 500);
	sp_outage_fail(&o, 1000);
	sp_outage_fail(&o, 1200);
	sp_outage_end(&o, 9000);
	assert_true(o.longest_us == 8000);
	assert_true(o.from_us == 1000 && o.to_us == 9000);
	assert_true(o.longest_n == 2);
	assert_true(o.longest_open);
	/* A single failure at the very end is a stretch of length 0. */
	sp_outage_init(&o);
	sp_outage_fail(&o, 70);
	sp_outage_end(&o, 70);
	assert_true(o.longest_us == 0 && o.longest_n == 1 && o.longest_open);
	/* A clock read out of order never makes a negative length. */
	sp_outage_init(&o);
	sp_outage_fail(&o, 100);
	sp_outage_ok(&o, 90);
	assert_true(o.longest_us == 0 && o.from_us == 100 && o.to_us == 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_repeatable),
		cmocka_unit_test(test_upgrade_fate),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_retry_delay),
		cmocka_unit_test(test_outage_none),
		cmocka_unit_test(test_outage_longest),
		cmocka_unit_test(test_outage_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
