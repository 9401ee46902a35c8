/*
 * The fleet's runner (engine.h): worker threads, each a timer heap of its
 * devices and a libcurl multi loop; the bundle listing; the whole run and
 * its figures.  One device's attempt is attempt.c.
 */
#include "fleet/fleet.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fleet/engine.h"
#include "identity/mac.h"

#define FL_POLL_MAX_MS 100       /* longest sleep: stop and deadlines are seen this fast */
#define FL_NOFILE_SPARE 64       /* descriptors beyond the transfers (DNS, files, logs) */
#define FL_JOIN_POLL_US 10000    /* the main thread looks for finished workers this often */
static int64_t
min_i64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

void
fl_live_add(worker *w, fl_xfer *xf)
{
	xf->prev = NULL;
	xf->next = w->live;
	if (w->live != NULL)
		w->live->prev = xf;
	w->live = xf;
}

void
fl_live_del(worker *w, fl_xfer *xf)
{
	if (xf->prev != NULL)
		xf->prev->next = xf->next;
	else
		w->live = xf->next;
	if (xf->next != NULL)
		xf->next->prev = xf->prev;
	xf->prev = xf->next = NULL;
}

int64_t
fl_now_us(void)
{
	return (int64_t)(sp_mono_ns() / 1000u);
}

void
sp_fleet_opts_init(sp_fleet_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->concurrency = 100;
	o->rounds = 1;
	o->retries = 100;
	o->time_scale = 1.0;
	o->error_retry_s = 3600;
	o->seed = 1;
	o->swver = "1.0.0";
	o->fail_upgrade_mode = SP_UPG_FAIL_BRICK;
}

/* ---- the timer heap: devices by due time ----------------------------------- */

void
fl_heap_push(worker *w, uint32_t dev, int64_t due)
{
	size_t i = w->heap_n++;

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (w->heap[p].due_us <= due)
			break;
		w->heap[i] = w->heap[p];
		i = p;
	}
	w->heap[i].due_us = due;
	w->heap[i].dev = dev;
	w->f->dev[dev].state = DEV_QUEUED;
}

static fl_heap_ent
heap_pop(worker *w)
{
	fl_heap_ent top = w->heap[0], last = w->heap[--w->heap_n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->heap_n)
			break;
		if (c + 1 < w->heap_n && w->heap[c + 1].due_us < w->heap[c].due_us)
			c++;
		if (last.due_us <= w->heap[c].due_us)
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->heap_n > 0)
		w->heap[i] = last;
	return top;
}

/* ---- the worker loop ------------------------------------------------------- */

static bool
worker_finished(const worker *w)
{
	const sp_fleet_opts *o = w->f->o;

	if (w->active > 0 || w->heap_n > 0)
		return false;
	if (o->rate > 0)
		return w->arrivals_left == 0 || w->done == w->n;
	return w->done == w->n;
}

/* --rate: the arrival picks the next idle device of this worker. */
static void
arrive(worker *w, int64_t now)
{
	fleet *f = w->f;

	for (uint32_t k = 0; k < w->n; k++) {
		uint32_t di = w->first + (w->rr + k) % w->n;
		if (f->dev[di].state == DEV_IDLE) {
			w->rr = (w->rr + k + 1) % w->n;
			fl_heap_push(w, di, now);
			return;
		}
	}
	w->st.arrivals_dropped++;
}

static void
abort_all(worker *w)
{
	fleet *f = w->f;

	/* Everything still running when the run ends: counted, not judged. */
	while (w->live != NULL) {
		fl_xfer *xf = w->live;
		fl_live_del(w, xf);
		curl_multi_remove_handle(w->multi, sp_fetch_xfer_easy(xf->x));
		w->st.unfinished++;
		fl_xfer_free(xf, &f->dev[xf->dev]);
	}
	atomic_fetch_sub_explicit(&f->in_flight, w->active, memory_order_relaxed);
	w->active = 0;
}

static void *
worker_main(void *arg)
{
	worker *w = arg;
	fleet *f = w->f;
	const sp_fleet_opts *o = f->o;
	int running = 0;

	for (;;) {
		int64_t now = fl_now_us(), wait_ms = FL_POLL_MAX_MS;
		long curl_ms = -1;
		CURLMsg *msg;
		int left;

		if ((o->stop && *o->stop) || (f->deadline_us > 0 && now >= f->deadline_us))
			break;
		if (o->rate > 0) {
			while (w->arrivals_left > 0 && w->next_arrival_us <= now) {
				arrive(w, now);
				if (w->arrivals_left != UINT64_MAX)
					w->arrivals_left--;
				w->next_arrival_us += (int64_t)sp_poisson_gap_us(&w->rng,
				    o->rate / (double)f->o->workers);
			}
		}
		while (w->active < w->cap && w->heap_n > 0 && w->heap[0].due_us <= now)
			fl_start(w, heap_pop(w).dev);
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
			fl_xfer *xf = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&xf);
			fl_finished(w, xf, msg->data.result);
		}
		if (worker_finished(w))
			break;
		now = fl_now_us();
		if (w->active < w->cap && w->heap_n > 0)
			wait_ms = min_i64(wait_ms, (w->heap[0].due_us - now + 999) / 1000);
		if (o->rate > 0 && w->arrivals_left > 0)
			wait_ms = min_i64(wait_ms, (w->next_arrival_us - now + 999) / 1000);
		if (curl_multi_timeout(w->multi, &curl_ms) == CURLM_OK && curl_ms >= 0)
			wait_ms = min_i64(wait_ms, curl_ms);
		if (wait_ms < 0)
			wait_ms = 0;
		if (wait_ms > 0)
			curl_multi_poll(w->multi, NULL, 0, (int)wait_ms, NULL);
	}
	abort_all(w);
	w->end_us = fl_now_us();
	return NULL;
}

/* ---- the bundle listing ---------------------------------------------------- */

static int
mac_cmp(const void *a, const void *b)
{
	return memcmp(((const fl_dev *)a)->mac.b, ((const fl_dev *)b)->mac.b, 6);
}

static sp_result
list_bundles(const char *dir, size_t want, fl_dev **out, size_t *n)
{
	sp_result res = SP_OK;
	DIR *dh = NULL;
	struct dirent *e;
	fl_dev *v = NULL, *t;
	size_t cap = 0, k = 0;

	*out = NULL;
	*n = 0;
	dh = opendir(dir);
	ENSURE(dh != NULL, SP_E_IO, "--bundles %s: %s", dir, strerror(errno));
	while ((e = readdir(dh)) != NULL) {
		sp_mac mac;
		/* Only OUTDIR/<12 hex digits>, as `sprov ca issue` writes them. */
		if (strlen(e->d_name) != 12 || sp_failed(sp_mac_parse(sp_slice_of(e->d_name), &mac))) {
			sp_error_clear();
			continue;
		}
		ENSURE(k < SP_FLEET_DEVICES_MAX, SP_E_LIMIT, "more than %u bundles in %s",
		    SP_FLEET_DEVICES_MAX, dir);
		if (k == cap) {
			cap = cap ? cap * 2 : 1024;
			TRY_ALLOC(t, realloc(v, cap * sizeof(*v)));
			v = t;
		}
		memset(&v[k], 0, sizeof(v[k]));
		v[k++].mac = mac;
	}
	ENSURE(k > 0, SP_E_NOTFOUND, "--bundles %s holds no device bundle (<mac>/ directories)",
	    dir);
	ENSURE(want <= k, SP_E_USAGE, "--devices %zu: %s holds only %zu bundles", want, dir, k);
	/* Sorted: the same devices in the same order on every run. */
	qsort(v, k, sizeof(*v), mac_cmp);
	*n = want ? want : k;
	*out = v;
	v = NULL;
out:
	if (dh != NULL)
		closedir(dh);
	free(v);
	return res;
}

/* ---- the run ---------------------------------------------------------------- */

static uint64_t
peak_rss_kb(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

static void
progress(fleet *f, bool final)
{
	const sp_fleet_opts *o = f->o;
	double el = (double)(fl_now_us() - f->t0_us) / 1e6;
	uint64_t a = atomic_load(&f->attempts), s = atomic_load(&f->successes),
	    fl = atomic_load(&f->failures), inf = atomic_load(&f->in_flight),
	    dn = atomic_load(&f->done);
	uint64_t goal = o->rounds ? (uint64_t)f->ndev : 0;

	if (o->progress == 2) {
		char bar[31];
		size_t fill = goal ? (size_t)(30.0 * (double)dn / (double)goal) : 0;
		for (size_t i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %6.1fs %llu/%llu done, %llu ok, %llu failed, %llu in flight, %.0f ok/s%s",
		    bar, el, (unsigned long long)dn, (unsigned long long)goal, (unsigned long long)s,
		    (unsigned long long)fl, (unsigned long long)inf, el > 0 ? (double)s / el : 0.0,
		    final ? "\n" : "");
	} else {
		fprintf(stderr, "fleet: %.1fs attempts %llu ok %llu failed %llu in-flight %llu devices-done %llu rate %.0f ok/s\n",
		    el, (unsigned long long)a, (unsigned long long)s, (unsigned long long)fl,
		    (unsigned long long)inf, (unsigned long long)dn, el > 0 ? (double)s / el : 0.0);
	}
	fflush(stderr);
}

static void
merge(sp_fleet_stats *to, const sp_fleet_stats *w)
{
	to->attempts += w->attempts;
	to->successes += w->successes;
	to->failures += w->failures;
	to->gave_up += w->gave_up;
	to->unfinished += w->unfinished;
	to->retries += w->retries;
	to->retry_after_honoured += w->retry_after_honoured;
	for (size_t i = 0; i < SP_ARRAY_LEN(w->check); i++)
		to->check[i] += w->check[i];
	for (size_t i = 0; i < SP_ARRAY_LEN(w->http); i++)
		to->http[i] += w->http[i];
	for (size_t i = 0; i < SP_ARRAY_LEN(w->curl); i++)
		to->curl[i] += w->curl[i];
	to->dns += w->dns;
	to->profile += w->profile;
	to->apply += w->apply;
	to->setup += w->setup;
	to->redirect += w->redirect;
	to->redirects += w->redirects;
	to->full += w->full;
	to->resumed += w->resumed;
	to->reused += w->reused;
	to->arrivals_dropped += w->arrivals_dropped;
	to->upg_started += w->upg_started;
	to->upg_flashed += w->upg_flashed;
	to->upg_bricked += w->upg_bricked;
	to->upg_reverted += w->upg_reverted;
	to->upg_refused += w->upg_refused;
	to->upg_fetch_failed += w->upg_fetch_failed;
	to->upg_sig_checks += w->upg_sig_checks;
	to->max_in_flight += w->max_in_flight;
	sp_hist_merge(&to->latency, &w->latency);
	sp_hist_merge(&to->completion, &w->completion);
}

sp_result
sp_fleet_run(const sp_fleet_opts *o0, sp_fleet_stats *st)
{
	sp_result res = SP_OK;
	sp_fleet_opts o = *o0;
	fleet f;
	worker *ws = NULL;
	struct rlimit rl;
	struct rusage ru;
	unsigned nw = 0;
	int64_t t_end;

	memset(&f, 0, sizeof(f));
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&f.outage_mu, NULL);
	pthread_mutex_init(&f.fw_mu, NULL);
	sp_outage_init(&f.outage);
	sp_hist_init(&st->latency);
	sp_hist_init(&st->completion);
	f.o = &o;
	ENSURE(o.concurrency >= 1 && o.concurrency <= SP_FLEET_CONCURRENCY_MAX, SP_E_USAGE,
	    "--concurrency must be 1..%u", SP_FLEET_CONCURRENCY_MAX);
	ENSURE(o.time_scale > 0, SP_E_USAGE, "--time-scale must be above 0");
	ENSURE(o.rounds > 0 || o.duration_s > 0, SP_E_USAGE,
	    "--rounds 0 (unlimited) needs --duration");
	ENSURE(o.fail_upgrade_rate >= 0 && o.fail_upgrade_rate <= 1, SP_E_USAGE,
	    "--fail-upgrade-rate must be 0..1");
	ENSURE(o.swver != NULL && sp_fw_version_ok(sp_slice_of(o.swver)), SP_E_USAGE,
	    "--swver: not a software version (digits, letters, '.', '-', '(', ')', at most %d)",
	    SP_FW_VERSION_MAX);
	TRY_ALLOC(f.vers, calloc(FL_VERSIONS_MAX, sizeof(*f.vers)));
	TRY_ALLOC(f.digests, calloc(FL_DIGESTS_MAX, sizeof(*f.digests)));
	TRY(sp_fetch_global_init());
	res = sp_rule_parse(sp_slice_of(o.rule), &f.rule);
	if (sp_failed(res)) {
		res = sp_error_wrap((sp_result){ SP_E_USAGE }, "--rule");
		goto out;
	}
	/* Any SN or PN in the text ($SN, $(PN:2), $PSN): a false alarm only costs reads. */
	f.rule_ident = strcasestr(o.rule, "SN") != NULL || strcasestr(o.rule, "PN") != NULL;
	TRY(list_bundles(o.bundles, o.devices, &f.dev, &f.ndev));
	/* Index 0, every device's version until the --apply state says otherwise. */
	{
		uint16_t v0;
		TRY(fl_version_intern(&f, o.swver, &v0));
	}
	TRY(fl_state_load(&f));
	/*
	 * Every transfer holds a socket: take the hard limit, and say so when
	 * even that is below the concurrency asked for.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		st->nofile_limit = (uint64_t)rl.rlim_cur;
		if (rl.rlim_cur < (rlim_t)o.concurrency + FL_NOFILE_SPARE)
			sp_warn("fleet: the open-file limit (%llu) is below --concurrency %u + %d: "
			    "transfers will fail to open sockets; raise the hard limit (ulimit -Hn)",
			    (unsigned long long)rl.rlim_cur, o.concurrency, FL_NOFILE_SPARE);
	}
	nw = o.workers;
	if (nw == 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		nw = nc > 0 ? (unsigned)nc : 1;
	}
	if (nw > SP_FLEET_WORKERS_MAX)
		nw = SP_FLEET_WORKERS_MAX;
	if (nw > o.concurrency)
		nw = o.concurrency;
	if (nw > f.ndev)
		nw = (unsigned)f.ndev;
	o.workers = nw;
	TRY_ALLOC(ws, calloc(nw, sizeof(*ws)));
	for (unsigned i = 0; i < nw; i++) {
		worker *w = &ws[i];
		w->f = &f;
		w->id = i;
		w->first = (uint32_t)(f.ndev * i / nw);
		w->n = (uint32_t)(f.ndev * (i + 1) / nw) - w->first;
		w->cap = o.concurrency / nw + (i < o.concurrency % nw ? 1 : 0);
		sp_hist_init(&w->st.latency);
		sp_hist_init(&w->st.completion);
		sp_rng_seed(&w->rng, o.seed * 1000003u + i);
		TRY_ALLOC(w->heap, calloc(w->n ? w->n : 1, sizeof(*w->heap)));
		TRY_ALLOC(w->multi, curl_multi_init());
		/* Keep every device's connection when asked: one per device. */
		if (o.keepalive)
			curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)w->n + 16);
		if (o.keepalive && w->n > 0) {
			w->npools = (w->n + FL_POOL_DEVICES - 1) / FL_POOL_DEVICES;
			TRY_ALLOC(w->pools, calloc(w->npools, sizeof(*w->pools)));
			for (size_t k = 0; k < w->npools; k++) {
				TRY_ALLOC(w->pools[k], curl_share_init());
				ENSURE(curl_share_setopt(w->pools[k], CURLSHOPT_SHARE,
				    CURL_LOCK_DATA_CONNECT) == CURLSHE_OK, SP_E_INTERNAL,
				    "libcurl cannot share a connection cache");
			}
		}
	}
	f.t0_us = fl_now_us();
	if (o.duration_s > 0)
		f.deadline_us = f.t0_us + (int64_t)(o.duration_s * 1e6);
	for (unsigned i = 0; i < nw; i++) {
		worker *w = &ws[i];
		if (o.rate > 0) {
			w->arrivals_left = o.rounds ? (uint64_t)o.rounds * w->n : UINT64_MAX;
			w->next_arrival_us = f.t0_us +
			    (int64_t)sp_poisson_gap_us(&w->rng, o.rate / (double)nw);
		}
		for (uint32_t k = 0; k < w->n; k++) {
			fl_dev *d = &f.dev[w->first + k];
			if (d->bricked) {
				/* Bricked in an earlier run (--apply): it never comes back. */
				d->state = DEV_DONE;
				w->done++;
				w->done_ok++;
				st->bricked_before++;
			} else if (o.rate > 0) {
				d->state = DEV_IDLE;
			} else {
				/* The storm: every device due at once, the cap holds them back. */
				fl_heap_push(w, w->first + k, f.t0_us);
			}
		}
	}
	for (unsigned i = 0; i < nw; i++) {
		int rc = pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
		ENSURE(rc == 0, SP_E_INTERNAL, "pthread_create: %s", strerror(rc));
		ws[i].started = true;
	}
	/*
	 * The main thread reports progress (every 250 ms on a terminal, every
	 * second otherwise) until every worker is done.  It looks every
	 * FL_JOIN_POLL_US: sleeping a whole report period made every run last
	 * a whole number of periods.
	 */
	for (int64_t next_report = fl_now_us() + (o.progress == 2 ? 250000 : 1000000);;) {
		bool all = true;
		for (unsigned i = 0; i < nw; i++) {
			if (ws[i].started && pthread_tryjoin_np(ws[i].th, NULL) == 0)
				ws[i].started = false;
			all = all && !ws[i].started;
		}
		if (all)
			break;
		if (o.progress && fl_now_us() >= next_report) {
			progress(&f, false);
			next_report += o.progress == 2 ? 250000 : 1000000;
		}
		usleep(FL_JOIN_POLL_US);
	}
	if (o.progress)
		progress(&f, true);
out:
	if (ws != NULL) {
		if (o.stop != NULL)
			*o.stop = 1; /* a failed start: stop the workers that run */
		for (unsigned i = 0; i < nw; i++) {
			if (ws[i].started)
				pthread_join(ws[i].th, NULL);
		}
	}
	/* The run ended with its last worker, not when the main thread noticed. */
	t_end = 0;
	for (unsigned i = 0; ws != NULL && i < nw; i++)
		if (ws[i].end_us > t_end)
			t_end = ws[i].end_us; /* written before the thread ended, read after the join */
	if (t_end == 0)
		t_end = fl_now_us();
	st->elapsed_s = (double)(t_end - f.t0_us) / 1e6;
	sp_outage_end(&f.outage, t_end - f.t0_us);
	st->outage_s = f.outage.longest_us >= 0 ? (double)f.outage.longest_us / 1e6 : -1;
	st->outage_from_s = (double)f.outage.from_us / 1e6;
	st->outage_to_s = (double)f.outage.to_us / 1e6;
	st->outage_failures = f.outage.longest_n;
	st->outage_open = f.outage.longest_open;
	st->first_failure_s = f.outage.first_fail_us >= 0 ?
	    (double)f.outage.first_fail_us / 1e6 : -1;
	st->last_failure_s = f.outage.last_fail_us >= 0 ?
	    (double)f.outage.last_fail_us / 1e6 : -1;
	st->devices = f.ndev;
	st->workers = nw;
	st->concurrency = o.concurrency;
	for (unsigned i = 0; ws != NULL && i < nw; i++) {
		merge(st, &ws[i].st);
		st->devices_ok += ws[i].done_ok;
		if (ws[i].err[0] && o.progress)
			sp_info("fleet: worker %u, first error: %s", i, ws[i].err);
	}
	if (o.rounds == 0 && ws != NULL) {
		/*
		 * --rounds 0 (until --duration): no device ever finishes, so
		 * none counted as ok and a clean soak exited 1.  A device is
		 * fine when it gave up no round and does not end waiting to
		 * retry a failed attempt (a transfer cut by the end is not one).
		 */
		st->devices_ok = 0;
		for (size_t i = 0; i < f.ndev; i++) {
			const fl_dev *d = &f.dev[i];
			bool retrying = d->tries > 1 || (d->tries == 1 && d->state == DEV_QUEUED);
			if (!d->gave_up && !retrying)
				st->devices_ok++;
		}
	}
	if (ws != NULL) {
		/* Easy handles first, then the multis that own their connections. */
		for (size_t i = 0; i < f.ndev; i++) {
			sp_fetch_xfer_free(f.dev[i].keep);
			fl_creds_free(f.dev[i].creds);
		}
		for (unsigned i = 0; i < nw; i++) {
			if (ws[i].multi != NULL)
				curl_multi_cleanup(ws[i].multi);
			/* The pools close their connections; every handle is gone. */
			for (size_t k = 0; k < ws[i].npools; k++)
				if (ws[i].pools[k] != NULL)
					curl_share_cleanup(ws[i].pools[k]);
			free(ws[i].pools);
			free(ws[i].heap);
			fl_loader_free(&ws[i].ld);
		}
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		st->cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		st->cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	}
	st->peak_rss_kb = peak_rss_kb();
	free(ws);
	free(f.dev);
	free(f.vers);
	free(f.digests);
	sp_rule_free(f.rule);
	pthread_mutex_destroy(&f.outage_mu);
	pthread_mutex_destroy(&f.fw_mu);
	return res;
}
