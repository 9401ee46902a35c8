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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_repeatable),
		cmocka_unit_test(test_poisson),
		cmocka_unit_test(test_retry_delay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
