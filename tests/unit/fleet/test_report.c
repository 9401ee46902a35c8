/* The fleet's report: the same figures as text and as one JSON object. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/check.h"
#include "fleet/fleet.h"

static void
fill(sp_fleet_stats *st)
{
	memset(st, 0, sizeof(*st));
	sp_hist_init(&st->latency);
	sp_hist_init(&st->completion);
	st->devices = 10; st->devices_ok = 7; st->gave_up = 2; st->unfinished = 1;
	st->workers = 2; st->concurrency = 4; st->max_in_flight = 4; st->nofile_limit = 1024;
	st->attempts = 20; st->successes = 12; st->failures = 8; st->retries = 6;
	st->retry_after_honoured = 1; st->arrivals_dropped = 3;
	st->check[SP_CHECK_HOST] = 2; st->dns = 1; st->curl[CURLE_COULDNT_CONNECT] = 1;
	st->curl[CURLE_OPERATION_TIMEDOUT] = 1; st->curl[CURLE_SSL_CONNECT_ERROR] = 1;
	st->http[503] = 1; st->redirect = 1;
	st->full = 5; st->resumed = 4; st->reused = 3; st->redirects = 2;
	st->outage_s = 1.5; st->outage_from_s = 0.25; st->outage_to_s = 1.75;
	st->outage_failures = 4; st->outage_open = true;
	st->first_failure_s = 0.25; st->last_failure_s = 1.5;
	st->upg_started = 9; st->upg_flashed = 4; st->upg_bricked = 2; st->upg_reverted = 1;
	st->upg_refused = 1; st->upg_fetch_failed = 1; st->upg_sig_checks = 1;
	st->bricked_before = 3;
	for (uint64_t i = 1; i <= 12; i++)
		sp_hist_add(&st->latency, i * 1000);
	sp_hist_add(&st->completion, 2500);
	st->elapsed_s = 2.0; st->cpu_user_s = 0.5; st->cpu_sys_s = 0.25; st->peak_rss_kb = 4096;
}

/* Byte for byte what the report wrote before it used sp_json_cstr. */
static void
test_json(void **state)
{
	sp_fleet_stats st;
	sp_buf b;

	fill(&st);
	sp_buf_init(&b, SP_FLEET_OUT_MAX);
	assert_true(sp_ok(sp_fleet_report_json(&st, &b)));
	assert_string_equal(sp_buf_cstr(&b),
	    "{\"devices\":10,\"devices_ok\":7,\"gave_up\":2,\"unfinished\":1,\"workers\":2,\"concurrency\":4,\"max_in_flight\":4,\"nofile_limit\":1024,\"attempts\":20,\"successes\":12,\"failures\":8,\"retries\":6,\"retry_after_honoured\":1,\"arrivals_dropped\":3,\"failure_reasons\":{\"check 3 (host)\":2,\"dns\":1,\"connect\":1,\"timeout\":1,\"transport: SSL connect error\":1,\"http 503\":1,\"redirect\":1},\"handshakes\":{\"full\":5,\"resumed\":4,\"reused_connection\":3},\"redirects\":2,\"outage\":{\"longest_s\":1.500,\"from_s\":0.250,\"to_s\":1.750,\"failures\":4,\"open\":true,\"first_failure_s\":0.250,\"last_failure_s\":1.500},\"upgrades\":{\"started\":9,\"flashed\":4,\"bricked\":2,\"reverted\":1,\"refused\":1,\"fetch_failed\":1,\"signature_checks\":1,\"bricked_before\":3},\"latency_ms\":{\"p50\":6.143,\"p90\":11.263,\"p99\":12.000,\"max\":12.000,\"n\":12},\"completion_ms\":{\"p50\":2.500,\"p90\":2.500,\"p99\":2.500,\"max\":2.500,\"n\":1},\"elapsed_s\":2.000,\"throughput_per_s\":6.00,\"cpu_user_s\":0.500,\"cpu_sys_s\":0.250,\"peak_rss_kb\":4096}\n");
	sp_buf_reset(&b);
	st.outage_s = -1;
	assert_true(sp_ok(sp_fleet_report_json(&st, &b)));
	assert_string_equal(sp_buf_cstr(&b),
	    "{\"devices\":10,\"devices_ok\":7,\"gave_up\":2,\"unfinished\":1,\"workers\":2,\"concurrency\":4,\"max_in_flight\":4,\"nofile_limit\":1024,\"attempts\":20,\"successes\":12,\"failures\":8,\"retries\":6,\"retry_after_honoured\":1,\"arrivals_dropped\":3,\"failure_reasons\":{\"check 3 (host)\":2,\"dns\":1,\"connect\":1,\"timeout\":1,\"transport: SSL connect error\":1,\"http 503\":1,\"redirect\":1},\"handshakes\":{\"full\":5,\"resumed\":4,\"reused_connection\":3},\"redirects\":2,\"outage\":null,\"upgrades\":{\"started\":9,\"flashed\":4,\"bricked\":2,\"reverted\":1,\"refused\":1,\"fetch_failed\":1,\"signature_checks\":1,\"bricked_before\":3},\"latency_ms\":{\"p50\":6.143,\"p90\":11.263,\"p99\":12.000,\"max\":12.000,\"n\":12},\"completion_ms\":{\"p50\":2.500,\"p90\":2.500,\"p99\":2.500,\"max\":2.500,\"n\":1},\"elapsed_s\":2.000,\"throughput_per_s\":6.00,\"cpu_user_s\":0.500,\"cpu_sys_s\":0.250,\"peak_rss_kb\":4096}\n");
	sp_buf_free(&b);
}

static void
test_text(void **state)
{
	sp_fleet_stats st;
	sp_buf b;

	fill(&st);
	sp_buf_init(&b, SP_FLEET_OUT_MAX);
	assert_true(sp_ok(sp_fleet_report_text(&st, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "\n  check 3 (host)               2\n"
	    "  dns                          1\n  connect                      1\n"
	    "  timeout                      1\n  transport: SSL connect error 1\n"
	    "  http 503                     1\n  redirect                     1\n"
	    "outage        1.50 s of failures without a success, 0.25 s to 1.75 s, 4 failed "
	    "attempts, still failing at the end of the run; failures from 0.25 s to 1.50 s\n"));
	assert_non_null(strstr(sp_buf_cstr(&b), "\nlatency       p50 6.1 ms, p90 11.3 ms, p99 "
	    "12.0 ms, max 12.0 ms (12 samples)\ncompletion    p50 2.5 ms, p90 2.5 ms, p99 2.5 ms, "
	    "max 2.5 ms (1 samples)\n"));
	sp_buf_reset(&b);
	st.outage_open = false;
	assert_true(sp_ok(sp_fleet_report_text(&st, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "4 failed attempts; failures from"));
	sp_buf_reset(&b);
	st.outage_s = -1;
	assert_true(sp_ok(sp_fleet_report_text(&st, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "\noutage        none (no attempt failed)\n"
	    "upgrades      9 begun: 4 flashed, 2 bricked, 1 back on the old version, 1 images "
	    "refused, 1 fetches failed; 1 signatures checked; 3 devices bricked before this run\n"));
	/* A run without upgrades has no upgrades line. */
	sp_buf_reset(&b);
	st.upg_started = st.upg_flashed = st.upg_bricked = st.upg_reverted = 0;
	st.upg_refused = st.upg_fetch_failed = st.upg_sig_checks = st.bricked_before = 0;
	assert_true(sp_ok(sp_fleet_report_text(&st, &b)));
	assert_null(strstr(sp_buf_cstr(&b), "upgrades"));
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
