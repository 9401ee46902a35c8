#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

/* The pure parts of rollouts: parsers and the bucket of a MAC. */

static void
waves_bad(const char *in, const char *msg)
{
	sp_rollout_spec sp;

	memset(&sp, 0, sizeof(sp));
	assert_int_equal(sp_rollout_waves_parse(sp_slice_of(in), &sp).code,
	    SP_E_USAGE);
	assert_string_equal(sp_errmsg(), msg);
	assert_int_equal(sp.nwaves, 0);
}

static void
test_waves(void **state)
{
	sp_rollout_spec sp;

	(void)state;
	memset(&sp, 0, sizeof(sp));
	assert_true(sp_ok(sp_rollout_waves_parse(sp_slice_of("1,10,50,100"), &sp)));
	assert_int_equal(sp.nwaves, 4);
	assert_int_equal(sp.waves[0], 1);
	assert_int_equal(sp.waves[3], 100);
	assert_true(sp_ok(sp_rollout_waves_parse(sp_slice_of("100"), &sp)));
	assert_int_equal(sp.nwaves, 1);
	waves_bad("", "--waves is empty: give percentages such as 1,10,50,100");
	waves_bad("1,,100", "--waves '1,,100': each wave is a percentage from 1 to 100");
	waves_bad("1,10,", "--waves '1,10,': each wave is a percentage from 1 to 100");
	waves_bad("0,100", "--waves '0,100': each wave is a percentage from 1 to 100");
	waves_bad("1,101", "--waves '1,101': each wave is a percentage from 1 to 100");
	waves_bad("10,5", "--waves '10,5': percentages must increase (waves are cumulative)");
	waves_bad("10,10", "--waves '10,10': percentages must increase (waves are cumulative)");
	waves_bad("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
	    "--waves '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17': more than 16 waves");
}

static void
test_halt(void **state)
{
	static const char msg[] = "expected failure-rate>N% (N from 0 to 100, "
	    "at most two decimals)";
	static const char *const bad[] = { "failure-rate>2", "failure-rate<2%",
		"failure-rate>%", "failure-rate>101%", "failure-rate>-1%",
		"failure-rate>1.234%", "failure-rate>1.%", "failure-rate>1.-5%",
		"failure-rate>100.5%", "rate>2%", "" };
	char want[160];
	int bp = -7;

	(void)state;
	assert_true(sp_ok(sp_rollout_halt_parse(sp_slice_of("failure-rate>2%"), &bp)));
	assert_int_equal(bp, 200);
	assert_true(sp_ok(sp_rollout_halt_parse(sp_slice_of("failure-rate>0.5%"), &bp)));
	assert_int_equal(bp, 50);
	assert_true(sp_ok(sp_rollout_halt_parse(sp_slice_of("failure-rate>12.25%"), &bp)));
	assert_int_equal(bp, 1225);
	assert_true(sp_ok(sp_rollout_halt_parse(sp_slice_of("failure-rate>100%"), &bp)));
	assert_int_equal(bp, 10000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bp = -7;
		assert_int_equal(sp_rollout_halt_parse(sp_slice_of(bad[i]), &bp).code,
		    SP_E_USAGE);
		snprintf(want, sizeof(want), "--halt-if '%s': %s", bad[i], msg);
		assert_string_equal(sp_errmsg(), want);
		assert_int_equal(bp, -7);
	}
}

static void
test_duration(void **state)
{
	int64_t v = -1;

	(void)state;
	assert_true(sp_ok(sp_rollout_duration_parse(sp_slice_of("90"), &v)));
	assert_int_equal(v, 90);
	assert_true(sp_ok(sp_rollout_duration_parse(sp_slice_of("90s"), &v)));
	assert_int_equal(v, 90);
	assert_true(sp_ok(sp_rollout_duration_parse(sp_slice_of("15m"), &v)));
	assert_int_equal(v, 900);
	assert_true(sp_ok(sp_rollout_duration_parse(sp_slice_of("2h"), &v)));
	assert_int_equal(v, 7200);
	assert_true(sp_ok(sp_rollout_duration_parse(sp_slice_of("365d"), &v)));
	assert_int_equal(v, 365 * 86400);
	v = -1;
	assert_int_equal(sp_rollout_duration_parse(sp_slice_of("366d"), &v).code,
	    SP_E_USAGE);
	assert_string_equal(sp_errmsg(), "duration '366d': expected seconds, or a "
	    "number with s, m, h or d, up to 365 days");
	assert_int_equal(sp_rollout_duration_parse(sp_slice_of("h"), &v).code,
	    SP_E_USAGE);
	assert_int_equal(sp_rollout_duration_parse(sp_slice_of("1w"), &v).code,
	    SP_E_USAGE);
	assert_int_equal(sp_rollout_duration_parse(sp_slice_of("-5m"), &v).code,
	    SP_E_USAGE);
	assert_int_equal(v, -1);
}

static void
test_name(void **state)
{
	(void)state;
	assert_true(sp_ok(sp_rollout_name_check(sp_slice_of("fw-2.0.1_a"))));
	assert_int_equal(sp_rollout_name_check(sp_slice_of("")).code, SP_E_USAGE);
	assert_int_equal(sp_rollout_name_check(sp_slice_of("-x")).code, SP_E_USAGE);
	assert_int_equal(sp_rollout_name_check(sp_slice_of("a b")).code, SP_E_USAGE);
	assert_string_equal(sp_errmsg(), "rollout name 'a b': only [A-Za-z0-9._-] "
	    "is allowed, not starting with '.' or '-'");
	assert_int_equal(sp_rollout_name_check(sp_slice_of(
	    "a1234567890123456789012345678901234567890123456789012345678901234"))
	    .code, SP_E_USAGE);
}

#define NMAC 20000

/* Stable, proportional within tolerance, monotone, key-dependent. */
static void
test_buckets(void **state)
{
	static const int waves[] = { 1, 10, 50, 100 };
	uint8_t k1[SP_ROLLOUT_KEY_LEN], k2[SP_ROLLOUT_KEY_LEN];
	int in[4] = { 0 }, same = 0;

	(void)state;
	for (int i = 0; i < SP_ROLLOUT_KEY_LEN; i++) {
		k1[i] = (uint8_t)i;
		k2[i] = (uint8_t)(i + 1);
	}
	for (int i = 0; i < NMAC; i++) {
		sp_mac m;
		char s[13];
		int b, b2;

		snprintf(s, sizeof(s), "000e08%06x", i);
		assert_true(sp_ok(sp_mac_parse(sp_slice_of(s), &m)));
		b = sp_rollout_bucket(k1, &m);
		assert_int_equal(b, sp_rollout_bucket(k1, &m));   /* stable */
		assert_in_range(b, 0, SP_ROLLOUT_BUCKETS - 1);
		b2 = sp_rollout_bucket(k2, &m);
		same += b == b2;
		for (int w = 0; w < 4; w++) {
			bool mine = b < waves[w] * (SP_ROLLOUT_BUCKETS / 100);
			/* Monotone: in wave w means in every later wave. */
			if (w > 0 && b < waves[w - 1] * (SP_ROLLOUT_BUCKETS / 100))
				assert_true(mine);
			in[w] += mine;
		}
	}
	/* Proportional: within 1 percentage point of 20 000 MACs (a fixed key: no flakes). */
	for (int w = 0; w < 4; w++)
		assert_in_range(in[w], NMAC * waves[w] / 100 - NMAC / 100,
		    NMAC * waves[w] / 100 + NMAC / 100);
	assert_int_equal(in[3], NMAC);
	/* Another key, another assignment (about 1 in 10 000 equal by chance). */
	assert_true(same < 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waves),
		cmocka_unit_test(test_halt),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_buckets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
