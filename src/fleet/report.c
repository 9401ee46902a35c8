/* The fleet's figures, as text for a person and as one JSON object. */
#include <stdio.h>

#include "common/text.h"
#include "device/check.h"
#include "fleet/fleet.h"

static double
ms(uint64_t us)
{
	return (double)us / 1000.0;
}

/* Visit every non-zero failure reason: name and count. */
typedef sp_result (*reason_fn)(sp_buf *out, const char *name, uint64_t n, bool *first);

static sp_result
each_reason(const sp_fleet_stats *st, sp_buf *out, reason_fn fn)
{
	sp_result res = SP_OK;
	char name[96];
	bool first = true;

	for (int c = SP_CHECK_CHAIN; c <= SP_CHECK_ADDR; c++) {
		if (st->check[c] == 0)
			continue;
		snprintf(name, sizeof(name), "check %d (%s)", c, sp_srvcheck_name((sp_srvcheck)c));
		TRY(fn(out, name, st->check[c], &first));
	}
	if (st->dns)
		TRY(fn(out, "dns", st->dns, &first));
	for (int i = 0; i < CURL_LAST; i++) {
		if (st->curl[i] == 0)
			continue;
		/* The names an operator looks for first. */
		if (i == CURLE_COULDNT_CONNECT)
			snprintf(name, sizeof(name), "connect");
		else if (i == CURLE_OPERATION_TIMEDOUT)
			snprintf(name, sizeof(name), "timeout");
		else
			snprintf(name, sizeof(name), "transport: %s", curl_easy_strerror((CURLcode)i));
		TRY(fn(out, name, st->curl[i], &first));
	}
	for (int i = 0; i < SP_FLEET_HTTP_STATUS_MAX; i++) {
		if (st->http[i] == 0)
			continue;
		snprintf(name, sizeof(name), "http %d", i);
		TRY(fn(out, name, st->http[i], &first));
	}
	if (st->redirect)
		TRY(fn(out, "redirect", st->redirect, &first));
	if (st->profile)
		TRY(fn(out, "profile", st->profile, &first));
	if (st->apply)
		TRY(fn(out, "apply", st->apply, &first));
	if (st->setup)
		TRY(fn(out, "setup", st->setup, &first));
out:
	return res;
}

static sp_result
reason_text(sp_buf *out, const char *name, uint64_t n, bool *first)
{
	*first = false;
	return sp_buf_printf(out, "  %-28s %llu\n", name, (unsigned long long)n);
}

static sp_result
reason_json(sp_buf *out, const char *name, uint64_t n, bool *first)
{
	sp_result res = SP_OK;

	if (!*first)
		TRY(sp_buf_append_byte(out, ','));
	*first = false;
	TRY(sp_json_cstr(out, name));
	TRY(sp_buf_printf(out, ":%llu", (unsigned long long)n));
out:
	return res;
}

/* A histogram's figures: one line of text, or one JSON member. */
static sp_result
hist(sp_buf *out, const char *what, const sp_hist *h, bool json)
{
	sp_result res = SP_OK;

	if (json)
		TRY(sp_json_cstr(out, what));
	else
		TRY(sp_buf_printf(out, "%-13s", what));
	TRY(sp_buf_printf(out, json ? ":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"n\":%llu}" :
	    " p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%llu samples)\n",
	    ms(sp_hist_quantile(h, 0.50)), ms(sp_hist_quantile(h, 0.90)),
	    ms(sp_hist_quantile(h, 0.99)), ms(h->max), (unsigned long long)h->n));
out:
	return res;
}

/* The longest stretch of failures, and when the failures happened. */
static sp_result
outage(sp_buf *out, const sp_fleet_stats *st, bool json)
{
	const char *open = st->outage_open ? ", still failing at the end of the run" : "";

	if (st->outage_s < 0)
		return sp_buf_append_str(out, json ? "\"outage\":null," :
		    "outage        none (no attempt failed)\n");
	if (json)
		open = st->outage_open ? "true" : "false";
	return sp_buf_printf(out, json ?
	    "\"outage\":{\"longest_s\":%.3f,\"from_s\":%.3f,\"to_s\":%.3f,"
	    "\"failures\":%llu,\"open\":%s,\"first_failure_s\":%.3f,\"last_failure_s\":%.3f}," :
	    "outage        %.2f s of failures without a success, %.2f s to %.2f s, "
	    "%llu failed attempts%s; failures from %.2f s to %.2f s\n",
	    st->outage_s, st->outage_from_s, st->outage_to_s,
	    (unsigned long long)st->outage_failures, open,
	    st->first_failure_s, st->last_failure_s);
}

/* Upgrade_Rule: what the devices did with the images their profiles chose. */
static sp_result
upgrades(sp_buf *out, const sp_fleet_stats *st, bool json)
{
	if (!json && st->upg_started == 0 && st->bricked_before == 0)
		return SP_OK;
	return sp_buf_printf(out, json ?
	    "\"upgrades\":{\"started\":%llu,\"flashed\":%llu,\"bricked\":%llu,\"reverted\":%llu,"
	    "\"refused\":%llu,\"fetch_failed\":%llu,\"signature_checks\":%llu,"
	    "\"bricked_before\":%llu}," :
	    "upgrades      %llu begun: %llu flashed, %llu bricked, %llu back on the old version, "
	    "%llu images refused, %llu fetches failed; %llu signatures checked; "
	    "%llu devices bricked before this run\n",
	    (unsigned long long)st->upg_started, (unsigned long long)st->upg_flashed,
	    (unsigned long long)st->upg_bricked, (unsigned long long)st->upg_reverted,
	    (unsigned long long)st->upg_refused, (unsigned long long)st->upg_fetch_failed,
	    (unsigned long long)st->upg_sig_checks, (unsigned long long)st->bricked_before);
}

sp_result
sp_fleet_report_text(const sp_fleet_stats *st, sp_buf *out)
{
	sp_result res = SP_OK;
	double cpu = st->cpu_user_s + st->cpu_sys_s;

	TRY(sp_buf_printf(out, "devices       %llu (%llu finished every round, %llu rounds given up, %llu transfers cut at the end)\n",
	    (unsigned long long)st->devices, (unsigned long long)st->devices_ok,
	    (unsigned long long)st->gave_up, (unsigned long long)st->unfinished));
	TRY(sp_buf_printf(out, "engine        %llu workers, concurrency %llu (peak in flight %llu), open-file limit %llu\n",
	    (unsigned long long)st->workers, (unsigned long long)st->concurrency,
	    (unsigned long long)st->max_in_flight, (unsigned long long)st->nofile_limit));
	TRY(sp_buf_printf(out, "attempts      %llu\n", (unsigned long long)st->attempts));
	TRY(sp_buf_printf(out, "successes     %llu\n", (unsigned long long)st->successes));
	TRY(sp_buf_printf(out, "failures      %llu (retries %llu, of which %llu after a Retry-After)\n",
	    (unsigned long long)st->failures, (unsigned long long)st->retries,
	    (unsigned long long)st->retry_after_honoured));
	TRY(each_reason(st, out, reason_text));
	TRY(outage(out, st, false));
	TRY(upgrades(out, st, false));
	if (st->arrivals_dropped)
		TRY(sp_buf_printf(out, "arrivals      %llu found no idle device (every one busy)\n",
		    (unsigned long long)st->arrivals_dropped));
	TRY(sp_buf_printf(out, "handshakes    full %llu, resumed %llu; requests on a kept connection %llu; redirects followed %llu\n",
	    (unsigned long long)st->full, (unsigned long long)st->resumed,
	    (unsigned long long)st->reused, (unsigned long long)st->redirects));
	TRY(hist(out, "latency", &st->latency, false));
	TRY(hist(out, "completion", &st->completion, false));
	TRY(sp_buf_printf(out, "throughput    %.1f successes/s over %.2f s\n",
	    st->elapsed_s > 0 ? (double)st->successes / st->elapsed_s : 0.0, st->elapsed_s));
	TRY(sp_buf_printf(out, "cpu           %.2f s (user %.2f, system %.2f), %.0f us per success\n",
	    cpu, st->cpu_user_s, st->cpu_sys_s,
	    st->successes ? cpu * 1e6 / (double)st->successes : 0.0));
	TRY(sp_buf_printf(out, "memory        peak RSS %llu KiB\n", (unsigned long long)st->peak_rss_kb));
out:
	return res;
}

sp_result
sp_fleet_report_json(const sp_fleet_stats *st, sp_buf *out)
{
	sp_result res = SP_OK;

	TRY(sp_buf_printf(out, "{\"devices\":%llu,\"devices_ok\":%llu,\"gave_up\":%llu,\"unfinished\":%llu,"
	    "\"workers\":%llu,\"concurrency\":%llu,\"max_in_flight\":%llu,\"nofile_limit\":%llu,"
	    "\"attempts\":%llu,\"successes\":%llu,\"failures\":%llu,\"retries\":%llu,"
	    "\"retry_after_honoured\":%llu,\"arrivals_dropped\":%llu,\"failure_reasons\":{",
	    (unsigned long long)st->devices, (unsigned long long)st->devices_ok,
	    (unsigned long long)st->gave_up, (unsigned long long)st->unfinished,
	    (unsigned long long)st->workers, (unsigned long long)st->concurrency,
	    (unsigned long long)st->max_in_flight, (unsigned long long)st->nofile_limit,
	    (unsigned long long)st->attempts, (unsigned long long)st->successes,
	    (unsigned long long)st->failures, (unsigned long long)st->retries,
	    (unsigned long long)st->retry_after_honoured,
	    (unsigned long long)st->arrivals_dropped));
	TRY(each_reason(st, out, reason_json));
	TRY(sp_buf_printf(out, "},\"handshakes\":{\"full\":%llu,\"resumed\":%llu,\"reused_connection\":%llu},"
	    "\"redirects\":%llu,",
	    (unsigned long long)st->full, (unsigned long long)st->resumed,
	    (unsigned long long)st->reused, (unsigned long long)st->redirects));
	TRY(outage(out, st, true));
	TRY(upgrades(out, st, true));
	TRY(hist(out, "latency_ms", &st->latency, true));
	TRY(sp_buf_append_byte(out, ','));
	TRY(hist(out, "completion_ms", &st->completion, true));
	TRY(sp_buf_printf(out, ",\"elapsed_s\":%.3f,\"throughput_per_s\":%.2f,\"cpu_user_s\":%.3f,"
	    "\"cpu_sys_s\":%.3f,\"peak_rss_kb\":%llu}\n",
	    st->elapsed_s, st->elapsed_s > 0 ? (double)st->successes / st->elapsed_s : 0.0,
	    st->cpu_user_s, st->cpu_sys_s, (unsigned long long)st->peak_rss_kb));
out:
	return res;
}
