/*
 * `sprov fleet`: many simulated devices in one process (docs/FLEET.md).
 *
 * Each simulated device is a bundle of `sprov ca issue` (OUTDIR/<mac>/)
 * and runs what a device runs for one resync: its profile rule with its own
 * macros, c-ares resolution, the four server checks inside the handshake
 * and the pre-request check (device/fetch.h, the same code as `sprov device
 * resync`), and the profile decode (sp_profile_decode); optionally the
 * apply.  There is no path that skips a check.
 *
 * Engine: a few worker threads (one per core by default), each with its own
 * libcurl multi handle, a timer heap of its devices and a cap on transfers
 * in flight.  An idle device is a small struct (its MAC, counters, its place
 * in the heap); certificates and keys are read when it connects (by libcurl,
 * from the bundle) and freed after, unless --resume/--keepalive keep its
 * easy handle, TLS session and connection.
 */
#ifndef SPROV_FLEET_FLEET_H
#define SPROV_FLEET_FLEET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/result.h"
#include "fleet/hist.h"
#include "fleet/plan.h"

#define SP_FLEET_DEVICES_MAX 10000000u   /* bundles in one run */
#define SP_FLEET_WORKERS_MAX 64
#define SP_FLEET_CONCURRENCY_MAX 1000000u
#define SP_FLEET_PATH_MAX 1024            /* a bundle file's path */
#define SP_FLEET_HTTP_STATUS_MAX 600
#define SP_FLEET_OUT_MAX (64u * 1024)     /* the report */

typedef struct sp_fleet_opts {
	const char *bundles;      /* OUTDIR of `sprov ca issue` */
	const char *rule;         /* a profile rule, e.g. https://prov.example.com/$MA.xml */
	const char *dns_servers;  /* c-ares CSV list; NULL: the system's */
	size_t devices;           /* 0: every bundle */
	unsigned concurrency;     /* transfers in flight, whole fleet */
	unsigned workers;         /* 0: one per core */
	double rate;              /* > 0: Poisson arrivals per second; 0: storm */
	double duration_s;        /* 0: until the rounds are done */
	unsigned rounds;          /* successful resyncs per device (0: unlimited, needs duration) */
	unsigned retries;         /* retries per round before a device gives up */
	double interval_s;        /* pause between a device's rounds (storm mode) */
	bool resume;              /* keep each device's TLS session for its next round */
	bool keepalive;           /* keep each device's connection for its next round */
	const char *apply;        /* NULL, or DIR: write DIR/<mac>/params.xml */
	double time_scale;        /* multiplies the device timers and Retry-After */
	int64_t error_retry_s;    /* Resync_Error_Retry_Delay */
	long timeout_ms;          /* one transfer, 0: the device's */
	uint64_t seed;
	const char *swver;        /* every device's software version at the start */
	double fail_upgrade_rate; /* 0..1: this fraction of upgrades fail (plan.h) */
	sp_upg_fail fail_upgrade_mode;
	int progress;             /* 0: none, 1: plain lines, 2: a bar (terminal) */
	volatile sig_atomic_t *stop;
} sp_fleet_opts;

void sp_fleet_opts_init(sp_fleet_opts *o);

typedef struct sp_fleet_stats {
	uint64_t devices, workers, concurrency;
	uint64_t attempts, successes, failures;
	uint64_t devices_ok;        /* finished every round they were given */
	uint64_t gave_up;           /* rounds given up after --retries */
	uint64_t unfinished;        /* transfers cut at the end (duration, stop) */
	uint64_t retries, retry_after_honoured;
	/* failures by reason */
	uint64_t check[5];          /* by sp_srvcheck */
	uint64_t http[SP_FLEET_HTTP_STATUS_MAX];
	uint64_t curl[CURL_LAST];   /* transport errors by libcurl code */
	uint64_t dns, profile, apply, setup;
	uint64_t redirect;          /* a 301/302 not followed: too many, not https, bad URL */
	uint64_t redirects;         /* 301/302 followed (not failures) */
	uint64_t full, resumed, reused;
	uint64_t arrivals_dropped;  /* --rate: an arrival found no idle device */
	/*
	 * Upgrades (Upgrade_Rule): image fetches begun; flashed; simulated
	 * failures (--fail-upgrade-rate); images refused by a check (container,
	 * product, signature, the no-loop rule); fetches that failed (transport,
	 * HTTP status, a server check); distinct images whose signature was
	 * checked; devices bricked before this run (--apply state).
	 */
	uint64_t upg_started, upg_flashed, upg_bricked, upg_reverted, upg_refused, upg_fetch_failed;
	uint64_t upg_sig_checks, bricked_before;
	/*
	 * The outage: the longest stretch of failed attempts with no success
	 * between them (plan.h, sp_outage), in seconds since the start; -1 when
	 * no attempt failed.  open: no success ended it before the run did.
	 */
	double outage_s, outage_from_s, outage_to_s;
	uint64_t outage_failures;
	bool outage_open;
	double first_failure_s, last_failure_s;
	sp_hist latency;            /* successful attempts */
	sp_hist completion;         /* a round: first attempt to success */
	double elapsed_s, cpu_user_s, cpu_sys_s;
	uint64_t peak_rss_kb;       /* VmHWM */
	uint64_t nofile_limit;
	uint64_t max_in_flight;
} sp_fleet_stats;

SP_MUST_CHECK sp_result sp_fleet_run(const sp_fleet_opts *o, sp_fleet_stats *st);
SP_MUST_CHECK sp_result sp_fleet_report_text(const sp_fleet_stats *st, sp_buf *out);
SP_MUST_CHECK sp_result sp_fleet_report_json(const sp_fleet_stats *st, sp_buf *out);

#endif
