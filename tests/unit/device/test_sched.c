#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/sched.h"

/* A "random" source that always answers its bound (the worst case) or 0. */
static uint64_t
rng_max(void *arg, uint64_t bound)
{
	(void)arg;
	return bound;
}

static uint64_t
rng_zero(void *arg, uint64_t bound)
{
	(void)arg;
	(void)bound;
	return 0;
}

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		int ok;
		size_t n;
		int64_t b0, r0, blast, rlast;
	} t[] = {
		{ "3600", 1, 1, 3600, 0, 3600, 0 },
		{ "0", 1, 0, 0, 0, 0, 0 },
		{ "1800+300,3600+600", 1, 2, 1800, 300, 3600, 600 },
		{ " 60 + 5 , 120 ", 1, 2, 60, 5, 120, 0 },
		{ "10,20,30,40", 1, 4, 10, 0, 40, 0 },
		{ "", 0, 0, 0, 0, 0, 0 },
		{ "abc", 0, 0, 0, 0, 0, 0 },
		{ "60,", 0, 0, 0, 0, 0, 0 },
		{ "-5", 0, 0, 0, 0, 0, 0 },
		{ "60+", 0, 0, 0, 0, 0, 0 },
		{ "60+-1", 0, 0, 0, 0, 0, 0 },
		{ "0,60", 0, 0, 0, 0, 0, 0 },
		{ "99999999999", 0, 0, 0, 0, 0, 0 },
		{ "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", 0, 0, 0, 0, 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_sched s;
		sp_result r = sp_sched_parse(sp_slice_of(t[i].in), &s);
		if (!t[i].ok) {
			assert_false(sp_ok(r));
			assert_int_equal(s.n, 0);
			continue;
		}
		assert_true(sp_ok(r));
		assert_int_equal(s.n, t[i].n);
		if (s.n) {
			assert_int_equal(s.v[0].base, t[i].b0);
			assert_int_equal(s.v[0].rand, t[i].r0);
			assert_int_equal(s.v[s.n - 1].base, t[i].blast);
			assert_int_equal(s.v[s.n - 1].rand, t[i].rlast);
		}
	}
}

static void
test_resync_at_parse(void **state)
{
	int m;
	(void)state;
	assert_true(sp_ok(sp_resync_at_parse(sp_slice_of("0230"), &m)));
	assert_int_equal(m, 150);
	assert_true(sp_ok(sp_resync_at_parse(sp_slice_of("23:59"), &m)));
	assert_int_equal(m, 23 * 60 + 59);
	assert_true(sp_ok(sp_resync_at_parse(sp_slice_of(""), &m)));
	assert_int_equal(m, -1);
	assert_false(sp_ok(sp_resync_at_parse(sp_slice_of("2400"), &m)));
	assert_false(sp_ok(sp_resync_at_parse(sp_slice_of("1260"), &m)));
	assert_false(sp_ok(sp_resync_at_parse(sp_slice_of("123"), &m)));
	assert_false(sp_ok(sp_resync_at_parse(sp_slice_of("12345"), &m)));
	assert_false(sp_ok(sp_resync_at_parse(sp_slice_of("ab12"), &m)));
}

static sp_timers
timers(const char *const *kv, size_t n)
{
	sp_params ps;
	sp_timers t;

	sp_params_init(&ps);
	for (size_t i = 0; i + 1 < n; i += 2)
		assert_true(sp_ok(sp_params_set_cstr(&ps, kv[i], kv[i + 1], SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_timers_from_params(&ps, &t)));
	sp_params_free(&ps);
	return t;
}

static void
test_defaults(void **state)
{
	sp_timers t = timers(NULL, 0);
	unsigned idx = 7;
	(void)state;
	/* The digest's defaults. */
	assert_int_equal(t.random_delay, 2);
	assert_int_equal(t.periodic.n, 1);
	assert_int_equal(t.periodic.v[0].base, 3600);
	assert_int_equal(t.error_retry, 3600);
	assert_int_equal(t.at_minute, -1);
	assert_int_equal(t.at_random, 600);
	assert_true(t.on_reset);
	/* Start: within Resync_Random_Delay; index reset. */
	assert_int_equal(sp_next_resync(&t, SP_EV_START, &idx, 1000, 0, rng_max, NULL), 1002);
	assert_int_equal(idx, 0);
	assert_int_equal(sp_next_resync(&t, SP_EV_START, &idx, 1000, 0, rng_zero, NULL), 1000);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 1000, 0, rng_max, NULL), 4600);
	assert_int_equal(sp_next_resync(&t, SP_EV_FAILURE, &idx, 1000, 0, rng_max, NULL), 4600);
}

static void
test_schedule_list(void **state)
{
	static const char *const kv[] = { "Resync_Periodic", "1800+300,3600+600",
		"Resync_Error_Retry_Delay", "30" };
	sp_timers t = timers(kv, 4);
	unsigned idx = 0;
	(void)state;
	/* First periodic uses entry 1, then entry 2, which repeats. */
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 0, 0, rng_zero, NULL), 1800);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 0, 0, rng_max, NULL), 4200);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 0, 0, rng_max, NULL), 4200);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 100, 0, rng_zero, NULL), 3700);
	/* A failure retries after Resync_Error_Retry_Delay, no randomness. */
	assert_int_equal(sp_next_resync(&t, SP_EV_FAILURE, &idx, 100, 0, rng_max, NULL), 130);
	/* A restart begins the list again. */
	(void)sp_next_resync(&t, SP_EV_START, &idx, 0, 0, rng_zero, NULL);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 0, 0, rng_zero, NULL), 1800);
}

static void
test_off_and_no_retry(void **state)
{
	static const char *const kv[] = { "Resync_Periodic", "0", "Resync_Error_Retry_Delay", "0",
		"Resync_On_Reset", "No" };
	sp_timers t = timers(kv, 6);
	unsigned idx = 0;
	(void)state;
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, 0, 0, rng_max, NULL), SP_NEVER);
	assert_int_equal(sp_next_resync(&t, SP_EV_FAILURE, &idx, 0, 0, rng_max, NULL), SP_NEVER);
	assert_int_equal(sp_next_resync(&t, SP_EV_START, &idx, 0, 0, rng_max, NULL), SP_NEVER);
}

static void
test_resync_at(void **state)
{
	static const char *const kv[] = { "Resync_At", "0230", "Resync_At_Random_Delay", "60",
		"Resync_Periodic", "10" };
	sp_timers t = timers(kv, 6);
	unsigned idx = 0;
	int64_t day = 86400 * 20000; /* a midnight UTC */
	(void)state;
	/* Overrides periodic: today 02:30 if still ahead, else tomorrow. */
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, day, 0, rng_zero, NULL),
	    day + 9000);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, day + 9000, 0, rng_zero, NULL),
	    day + 86400 + 9000);
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, day + 10000, 0, rng_max, NULL),
	    day + 86400 + 9000 + 60);
	/* Local time two hours ahead of UTC: 02:30 local is 00:30 UTC. */
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, day, 7200, rng_zero, NULL),
	    day + 1800);
	/* Local time behind UTC (negative offset). */
	assert_int_equal(sp_next_resync(&t, SP_EV_SUCCESS, &idx, day, -3600, rng_zero, NULL),
	    day + 9000 + 3600);
}

static void
test_bad_params(void **state)
{
	sp_params ps;
	sp_timers t;
	(void)state;
	sp_params_init(&ps);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Resync_Periodic", "soon", SP_ACCESS_UNSET)));
	assert_int_equal(sp_timers_from_params(&ps, &t).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "Resync_Periodic"));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Resync_Periodic", "60", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "Resync_On_Reset", "maybe", SP_ACCESS_UNSET)));
	assert_int_equal(sp_timers_from_params(&ps, &t).code, SP_E_PARSE);
	sp_params_free(&ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_resync_at_parse),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_schedule_list),
		cmocka_unit_test(test_off_and_no_retry),
		cmocka_unit_test(test_resync_at),
		cmocka_unit_test(test_bad_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
