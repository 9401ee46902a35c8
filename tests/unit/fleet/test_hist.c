#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/hist.h"

/* Every value lands in a bucket whose range holds it, and buckets are ordered. */
static void
test_buckets(void **state)
{
	uint64_t prev_top = 0;

	for (uint64_t v = 0; v < 100000; v++) {
		unsigned b = sp_hist_bucket(v);
		assert_true(b < SP_HIST_BUCKETS);
		assert_true(v <= sp_hist_bucket_top(b));
		if (b > 0)
			assert_true(v > sp_hist_bucket_top(b - 1));
	}
	for (unsigned b = 1; b < SP_HIST_BUCKETS - 1; b++) {
		assert_true(sp_hist_bucket_top(b) > prev_top || b == 1);
		prev_top = sp_hist_bucket_top(b);
	}
	/* Huge values go to the last bucket, never past it. */
	assert_int_equal(sp_hist_bucket(UINT64_MAX), SP_HIST_BUCKETS - 1);
	/* Relative width of a bucket is at most 1/SUB. */
	for (unsigned b = SP_HIST_SUB; b < SP_HIST_BUCKETS - 1; b++) {
		uint64_t lo = sp_hist_bucket_top(b - 1) + 1, hi = sp_hist_bucket_top(b);
		assert_true((hi - lo + 1) * SP_HIST_SUB <= lo + SP_HIST_SUB);
	}
}

static void
test_empty(void **state)
{
	sp_hist h;

	sp_hist_init(&h);
	assert_int_equal(sp_hist_quantile(&h, 0.5), 0);
	assert_int_equal(sp_hist_quantile(&h, 1.0), 0);
}

/* Small exact values: below SUB every value is its own bucket. */
static void
test_exact_small(void **state)
{
	sp_hist h;

	sp_hist_init(&h);
	for (uint64_t v = 1; v <= 10; v++)
		sp_hist_add(&h, v);
	assert_int_equal(h.n, 10);
	assert_int_equal(sp_hist_quantile(&h, 0.5), 5);
	assert_int_equal(sp_hist_quantile(&h, 0.9), 9);
	assert_int_equal(sp_hist_quantile(&h, 0.99), 10);
	assert_int_equal(sp_hist_quantile(&h, 1.0), 10);
	assert_int_equal(h.max, 10);
}

/* 1..100000 us uniformly: each percentile within 1/SUB of the truth. */
static void
test_uniform(void **state)
{
	sp_hist *h = malloc(sizeof(*h));
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };

	assert_non_null(h);
	sp_hist_init(h);
	for (uint64_t v = 100000; v >= 1; v--)
		sp_hist_add(h, v);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double want = qs[i] * 100000, got = (double)sp_hist_quantile(h, qs[i]);
		assert_true(got >= want);
		assert_true(got <= want * (1.0 + 1.0 / SP_HIST_SUB) + 1);
	}
	assert_int_equal(sp_hist_quantile(h, 1.0), 100000);
	assert_int_equal(h->max, 100000);
	free(h);
}

/* One outlier: p99 of 1000 samples ignores it, max shows it exactly. */
static void
test_outlier_and_merge(void **state)
{
	sp_hist *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	assert_non_null(a);
	assert_non_null(b);
	sp_hist_init(a);
	sp_hist_init(b);
	for (int i = 0; i < 999; i++)
		sp_hist_add(i % 2 ? a : b, 1000);
	sp_hist_add(b, 5000000);
	sp_hist_merge(a, b);
	assert_int_equal(a->n, 1000);
	assert_int_equal(a->max, 5000000);
	assert_true(sp_hist_quantile(a, 0.99) <= 1000 + 1000 / SP_HIST_SUB);
	assert_int_equal(sp_hist_quantile(a, 1.0), 5000000);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_exact_small),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_outlier_and_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
