/*
 * The store thread of `sprov serve` (server/storethread.h).
 *
 * One thread owns the serving process' store handle.  Its loop waits in
 * poll() on an eventfd (jobs queued, contact queue past contact-queue,
 * stop) and, for PostgreSQL, on the LISTEN connection's socket, with a
 * timeout of at most SRV_GEN_POLL_MS:
 *
 *   - generation: re-read on every wake (PostgreSQL: pending NOTIFYs, no
 *     round trip; SQLite: PRAGMA data_version) and published in s->gen,
 *     so a change made anywhere is served within SRV_GEN_POLL_MS plus
 *     the notification delay, and the cache-hit path reads one atomic;
 *   - jobs: cache misses, rendered in arrival order and posted back to
 *     their worker's done list (event_active on its done event);
 *   - contacts: every contact-flush ms the spill file (if it holds
 *     records) then the queue are written; a refused batch stays queued
 *     and the oldest records past contact-queue go to the spill file.
 *
 * Outage: a call that fails is followed by a generation read; if that
 * fails too the store is down (s->store_up false): queued and new jobs get
 * SRV_JOB_UNAVAILABLE (503) at once, cached profiles are still served with
 * the last generation read (it cannot be confirmed), and the thread
 * retries every SRV_RECONNECT_MIN_MS doubling to SRV_RECONNECT_MAX_MS,
 * jittered.  On reconnect the generation is read again, so entries older
 * than any change missed meanwhile miss and are rendered afresh.
 *
 * XXX: one thread renders every miss in turn, so a storm of uncached
 * devices renders at one store round trip at a time; more threads each
 * with a handle could share the job queue if a benchmark asks for it.
 */
#include "server/storethread.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/text.h"
#include "common/version.h"
#include "common/util.h"
#include "profile/profile.h"
#include "server/failures.h"
#include "server/render.h"
#include "server/spill.h"
#include "store/console.h"
#include "store/store.h"

struct srv_store_thread {
	server *s;
	pthread_t th;
	bool started;
	int wake_fd;                  /* eventfd */
	pthread_mutex_t mu;           /* jobs, njobs, stop */
	struct srv_jobq jobs;
	size_t njobs;
	bool stop;
	atomic_bool kicked;           /* contact queue past contact-queue */
	sp_store *store;              /* NULL until the first open succeeds */
	char safe_uri[SP_STORE_URI_MAX + 1];
	char spill[SP_CFG_STR_MAX + 32]; /* "" = no spill file */
	bool spill_pending;           /* the spill file may hold records */
	uint64_t backoff_ms, retry_at, flush_at;
	uint64_t cluster_at;          /* next sp_cluster_sync (ms, monotonic) */
	uint64_t rollout_at;          /* next sp_store_rollout_tick (ms, monotonic) */
	uint64_t node_at;             /* next node state publication (ms, monotonic) */
};

static void
st_wake(struct srv_store_thread *t)
{
	uint64_t one = 1;

	(void)!write(t->wake_fd, &one, sizeof(one));
}

static void
st_kick(void *arg)
{
	struct srv_store_thread *t = arg;

	atomic_store(&t->kicked, true);
	st_wake(t);
}

/* ---- up, down, reconnect ------------------------------------------------ */

static void
st_publish_gen(struct srv_store_thread *t, uint64_t g)
{
	atomic_store(&t->s->gen, g);
	atomic_store(&t->s->gen_known, true);
}

static void
st_down(struct srv_store_thread *t, const char *what)
{
	uint64_t now = sp_mono_ns() / 1000000u;

	if (atomic_exchange(&t->s->store_up, false) || t->backoff_ms == 0) {
		sp_err("serve: store %s unreachable (%s: %s); serving cached profiles, 503 "
		    "for others, contact records kept; retrying", t->safe_uri, what,
		    sp_errmsg());
		t->backoff_ms = SRV_RECONNECT_MIN_MS;
	} else if (t->backoff_ms < SRV_RECONNECT_MAX_MS) {
		t->backoff_ms *= 2;
		if (t->backoff_ms > SRV_RECONNECT_MAX_MS)
			t->backoff_ms = SRV_RECONNECT_MAX_MS;
	}
	{
		uint32_t j = 0;
		(void)RAND_bytes((unsigned char *)&j, sizeof(j));
		/* +-25 %: nodes that lost the database together do not return together. */
		t->retry_at = now + t->backoff_ms * 3 / 4 + j % (t->backoff_ms / 2 + 1);
	}
}

/* Read the generation; false (and the store marked down): unreachable. */
static bool
st_gen(struct srv_store_thread *t)
{
	uint64_t g = 0;

	if (t->store == NULL || sp_failed(sp_store_generation(t->store, &g))) {
		st_down(t, "reading the generation");
		return false;
	}
	st_publish_gen(t, g);
	return true;
}

/*
 * Whether the store answers a round trip on our own connection now (and
 * the store marked down if not).  After a failed write this, not st_gen,
 * tells "refused" from "unreachable": outside a transaction the PostgreSQL
 * backend answers the generation from its cache for as long as its LISTEN
 * connection looks up, and a stopping server ends its connections one by
 * one (tests/integration/cluster_contact_loss.sh).
 */
static bool
st_probe(struct srv_store_thread *t)
{
	uint64_t g = 0;
	bool ok;

	if (t->store == NULL || sp_failed(sp_store_begin_read(t->store))) {
		st_down(t, "starting a read");
		return false;
	}
	ok = sp_ok(sp_store_generation(t->store, &g));
	sp_store_rollback(t->store);
	if (!ok) {
		st_down(t, "reading the generation");
		return false;
	}
	st_publish_gen(t, g);
	return true;
}

static void
st_reconnect(struct srv_store_thread *t)
{
	if (t->store == NULL && sp_failed(sp_store_open(t->s->store_uri, &t->store))) {
		t->store = NULL;
		st_down(t, "opening");
		return;
	}
	if (!st_probe(t))
		return;
	if (t->backoff_ms != 0)
		sp_info("serve: store %s reachable again; generation re-read, older cache "
		    "entries dropped", t->safe_uri);
	t->backoff_ms = 0;
	atomic_store(&t->s->store_up, true);
}

/* ---- jobs --------------------------------------------------------------- */

/* Render a device's profile (cache miss).  *out NULL with SP_OK: 404. */
static sp_result
render(struct srv_store_thread *t, srv_job *j)
{
	return srv_render(t->s, t->store, &j->id.mac, j->unknown, &j->e, &j->pending,
	    &j->disabled);
}

static void
st_post(srv_job *j)
{
	worker *w = j->w;

	pthread_mutex_lock(&w->done_mu);
	STAILQ_INSERT_TAIL(&w->done, j, link);
	pthread_mutex_unlock(&w->done_mu);
	event_active(w->done_ev, 0, 0);
}

/* An image's metadata or one chunk of it (firmware.c streams it). */
static void
st_firmware(struct srv_store_thread *t, srv_job *j)
{
	bool found = true;
	sp_result r;

	if (j->kind == SRV_JOB_FW_GET)
		r = sp_store_fw_get(t->store, j->fw_product, j->fw_version, &j->fw, &found);
	else
		r = sp_store_fw_read(t->store, &j->fw, j->off, j->buf, j->len, &j->got);
	if (sp_ok(r)) {
		j->outcome = found ? SRV_JOB_OK : SRV_JOB_NOTFOUND;
	} else if (r.code == SP_E_NOTFOUND) {
		/* Removed or replaced since the headers went: never mix two images. */
		sp_warn("serve: firmware %s %s: %s", j->fw_product, j->fw_version, sp_errmsg());
		j->outcome = SRV_JOB_NOTFOUND;
	} else {
		sp_err("serve: firmware %s %s: %s", j->fw_product, j->fw_version, sp_errmsg());
		if (st_probe(t))
			j->outcome = SRV_JOB_ERROR;
	}
}

static void
st_run_job(struct srv_store_thread *t, srv_job *j)
{
	char mac[SP_MAC_STRLEN];

	j->outcome = SRV_JOB_UNAVAILABLE;
	if (j->kind != SRV_JOB_PROFILE) {
		if (atomic_load(&t->s->store_up) && !atomic_load(&j->cancelled))
			st_firmware(t, j);
		st_post(j);
		return;
	}
	if (atomic_load(&t->s->store_up) && !atomic_load(&j->cancelled)) {
		if (sp_ok(render(t, j))) {
			j->outcome = j->e != NULL ? SRV_JOB_OK : SRV_JOB_NOTFOUND;
		} else {
			sp_mac_format(&j->id.mac, SP_MAC_MA, mac);
			sp_err("serve: profile for %s failed: %s", mac, sp_errmsg());
			/* The store is reachable: the failure is the render's (500). */
			if (st_probe(t))
				j->outcome = SRV_JOB_ERROR;
		}
	}
	st_post(j);
}

static srv_job *
st_next_job(struct srv_store_thread *t)
{
	srv_job *j;

	pthread_mutex_lock(&t->mu);
	if ((j = STAILQ_FIRST(&t->jobs)) != NULL) {
		STAILQ_REMOVE_HEAD(&t->jobs, link);
		t->njobs--;
	}
	pthread_mutex_unlock(&t->mu);
	return j;
}

bool
srv_store_submit(server *s, srv_job *j)
{
	struct srv_store_thread *t = s->storeth;
	bool queued = false;

	if (t == NULL || !atomic_load(&s->store_up))
		return false;
	pthread_mutex_lock(&t->mu);
	if (!t->stop && t->njobs < SRV_STORE_JOBS_MAX) {
		STAILQ_INSERT_TAIL(&t->jobs, j, link);
		t->njobs++;
		queued = true;
	}
	pthread_mutex_unlock(&t->mu);
	if (queued)
		st_wake(t);
	return queued;
}

void
srv_jobs_take(worker *w, struct srv_jobq *out)
{
	pthread_mutex_lock(&w->done_mu);
	STAILQ_CONCAT(out, &w->done);
	pthread_mutex_unlock(&w->done_mu);
}

/* ---- contacts ----------------------------------------------------------- */

/*
 * The store sink, told apart: a batch refused while the store answers
 * (bad data) is dropped as before (SP_E_POLICY); one refused because the
 * store is unreachable stays queued.
 */
static sp_result
st_sink(void *arg, const sp_contact *v, size_t n)
{
	struct srv_store_thread *t = arg;
	sp_result r = sp_store_contact_batch(t->store, v, n);

	if (sp_ok(r) || !st_probe(t))
		return r;
	sp_err("serve: the store refused %zu contact records: %s", n, sp_errmsg());
	return sp_error(SP_E_POLICY, "contact batch refused");
}

/* The spill file's records to the store; truncated once all are committed. */
static void
st_replay(struct srv_store_thread *t)
{
	sp_contact *v = NULL;
	size_t n = 0, dropped = 0, off = 0;

	if (sp_failed(sp_spill_load(t->spill, &v, &n, &dropped))) {
		sp_err("serve: %s; the spill file is kept for the next attempt", sp_errmsg());
		return;
	}
	while (off < n) {
		size_t k = n - off > SP_CONTACT_BATCH_MAX ? SP_CONTACT_BATCH_MAX : n - off;
		if (sp_failed(sp_store_contact_batch(t->store, v + off, k))) {
			if (st_probe(t))
				sp_err("serve: contact-spill %s: the store refused a batch (%s); "
				    "kept for the next attempt", t->spill, sp_errmsg());
			goto out;
		}
		off += k;
	}
	if (sp_failed(sp_spill_truncate(t->spill))) {
		sp_err("serve: %s; its records are in the store and will be written again",
		    sp_errmsg());
		goto out;
	}
	if (n > 0)
		sp_info("serve: contact-spill %s: %zu records written to the store", t->spill,
		    n);
	t->spill_pending = false;
out:
	free(v);
}

/* Move the oldest records past keep to the spill file (none: kept queued). */
static void
st_spill(struct srv_store_thread *t, sp_contacts *q, size_t keep)
{
	sp_contact *v = NULL;
	size_t n = 0;

	if (t->spill[0] == '\0' || sp_failed(sp_contacts_take_oldest(q, keep, &v, &n)) ||
	    n == 0)
		goto out;
	if (sp_failed(sp_spill_append(t->spill, v, n))) {
		sp_err("serve: %s; %zu contact records lost", sp_errmsg(), n);
		sp_contacts_count_dropped(q, n);
		goto out;
	}
	t->spill_pending = true;
out:
	free(v);
}

/*
 * The failure queue (failures.h), one batch per flush (it holds at most
 * SRV_FAIL_KEYS_MAX <= SP_FAIL_BATCH_MAX entries).  Refused while the store
 * is away: folded back in, the queue stays bounded.  Refused while it
 * answers (bad data): dropped, logged.  Not spilled: a record of why a
 * device failed is worth less than its contact.
 */
static void
st_failures(struct srv_store_thread *t)
{
	sp_failure *v = NULL;
	size_t n = 0;

	if (t->store == NULL || !atomic_load(&t->s->store_up) ||
	    sp_failed(srv_failures_take(t->s->failures, &v, &n)) || n == 0)
		goto out;
	if (sp_ok(sp_store_failure_batch(t->store, v, n))) {
		srv_failures_count_written(t->s->failures, n);
	} else if (!st_probe(t)) {
		srv_failures_putback(t->s->failures, v, n);
	} else {
		sp_err("serve: the store refused %zu failure records: %s", n, sp_errmsg());
	}
out:
	free(v);
}

static void
st_contacts(struct srv_store_thread *t, bool final)
{
	const sp_serve_config *cfg = srv_cfg_hold(t->s);
	size_t max = (size_t)cfg->contact_queue;
	int64_t flush = cfg->contact_flush;

	srv_cfg_release(t->s);
	sp_contacts_set_kick(t->s->contacts, max, st_kick, t);
	t->flush_at = sp_mono_ns() / 1000000u + (uint64_t)flush;
	atomic_store(&t->kicked, false);
	if (atomic_load(&t->s->store_up) && t->spill_pending)
		st_replay(t);
	if (atomic_load(&t->s->store_up) && !t->spill_pending)
		(void)sp_contacts_flush(t->s->contacts, st_sink, t);
	st_spill(t, t->s->contacts, final ? 0 : max);
	st_failures(t);
}

/*
 * Cluster secrets and published CRLs (cluster.c), every crl-poll seconds
 * while the store answers: its store calls are made here like every other.
 */
static void
st_cluster(struct srv_store_thread *t, uint64_t now)
{
	const sp_serve_config *cfg = srv_cfg_hold(t->s);
	int64_t poll_s = cfg->crl_poll > 0 ? cfg->crl_poll : 1;

	srv_cfg_release(t->s);
	if (t->store != NULL && atomic_load(&t->s->store_up))
		sp_cluster_sync(t->s->cluster, t->store, t->s->tls, sp_now());
	t->cluster_at = now + (uint64_t)poll_s * 1000u;
}

/*
 * Rollouts (docs/ROLLOUTS.md), every rollout-tick while the store answers:
 * halt a wave past its threshold, release the next one when it is due.
 * Every node ticks; the tick is idempotent (conditional updates), so two
 * nodes at once do each change once.
 */
static void
st_rollouts(struct srv_store_thread *t, uint64_t now)
{
	const sp_serve_config *cfg = srv_cfg_hold(t->s);
	uint64_t every = (uint64_t)cfg->rollout_tick;
	sp_rollout_tick_report rep = { 0 };

	srv_cfg_release(t->s);
	t->rollout_at = now + every;
	if (t->store == NULL || !atomic_load(&t->s->store_up))
		return;
	if (sp_failed(sp_store_rollout_tick(t->store, sp_now(), &rep))) {
		sp_err("serve: rollout tick: %s", sp_errmsg());
		(void)st_gen(t);   /* a store gone away is marked down */
		return;
	}
	if (rep.released || rep.halted || rep.done)
		sp_info("serve: rollouts: %d waves released, %d rollouts halted, %d done",
		    rep.released, rep.halted, rep.done);
}

/* ---- this node's state (console overview) --------------------------------- */

sp_result
srv_node_state(server *s, sp_buf *b)
{
	sp_result res = SP_OK;
	const sp_serve_config *cfg = srv_cfg_hold(s);
	uint64_t requests = 0;

	for (size_t i = 0; i <= SRV_N_STATUS; i++)
		requests += atomic_load(&s->st[i]);
	TRY(sp_buf_append_str(b, "{\"name\":"));
	TRY(sp_json_cstr(b, cfg->node_name));
	TRY(sp_buf_printf(b, ",\"started\":%lld,\"backend\":", (long long)s->started));
	TRY(sp_json_cstr(b, sp_tls_backend_name(cfg->tls_backend)));
	TRY(sp_buf_append_str(b, ",\"version\":"));
	TRY(sp_json_cstr(b, SPROV_VERSION));
	TRY(sp_buf_printf(b, ",\"open\":%lld,\"requests\":%llu,\"store_up\":%s}",
	    (long long)atomic_load(&s->open_total), (unsigned long long)requests,
	    atomic_load(&s->store_up) ? "true" : "false"));
out:
	srv_cfg_release(s);
	return res;
}

/*
 * Every SRV_NODE_PUBLISH_MS while the store answers.  The version is the
 * time in seconds: a second publication within one second (a restart) is
 * refused SP_E_EXISTS and skipped, the state is 10 s fresh at worst.
 */
static void
st_node(struct srv_store_thread *t, uint64_t now)
{
	char name[SP_NODE_NAME_MAX + 8];
	const sp_serve_config *cfg;
	sp_buf b;
	sp_result r;
	int64_t secs = sp_now();

	t->node_at = now + SRV_NODE_PUBLISH_MS;
	if (t->store == NULL || !atomic_load(&t->s->store_up))
		return;
	sp_buf_init(&b, 4096);
	cfg = srv_cfg_hold(t->s);
	snprintf(name, sizeof(name), "node:%.*s", SP_NODE_NAME_MAX, cfg->node_name);
	srv_cfg_release(t->s);
	if (sp_ok(r = srv_node_state(t->s, &b)))
		r = sp_store_cluster_put(t->store, name, secs, secs,
		    sp_slice_mk(b.p, b.len), SRV_NODE_KEEP);
	if (sp_failed(r) && r.code != SP_E_EXISTS) {
		sp_err("serve: publishing %s: %s", name, sp_errmsg());
		(void)st_gen(t);   /* a store gone away is marked down */
	}
	sp_buf_free(&b);
}

/* ---- the thread ----------------------------------------------------------- */

static int
st_timeout(struct srv_store_thread *t)
{
	uint64_t now = sp_mono_ns() / 1000000u, until = now + SRV_GEN_POLL_MS;

	if (t->flush_at < until)
		until = t->flush_at;
	if (t->cluster_at < until)
		until = t->cluster_at;
	if (t->rollout_at < until)
		until = t->rollout_at;
	if (t->node_at < until)
		until = t->node_at;
	if (!atomic_load(&t->s->store_up) && t->retry_at < until)
		until = t->retry_at;
	return until > now ? (int)(until - now) : 0;
}

static void *
st_main(void *arg)
{
	struct srv_store_thread *t = arg;
	bool stop = false;
	srv_job *j;

	if (!atomic_load(&t->s->store_up))
		st_reconnect(t);
	t->flush_at = sp_mono_ns() / 1000000u;
	while (!stop) {
		struct pollfd pf[2] = { { t->wake_fd, POLLIN, 0 }, { -1, POLLIN, 0 } };
		uint64_t v, now;

		if (t->store != NULL && atomic_load(&t->s->store_up))
			pf[1].fd = sp_store_notify_fd(t->store);
		if (poll(pf, pf[1].fd >= 0 ? 2 : 1, st_timeout(t)) < 0 && errno != EINTR)
			sp_err("serve: store thread: poll: %s", strerror(errno));
		if (pf[0].revents & POLLIN)
			(void)!read(t->wake_fd, &v, sizeof(v));
		now = sp_mono_ns() / 1000000u;
		if (atomic_load(&t->s->store_up))
			(void)st_gen(t);
		else if (now >= t->retry_at)
			st_reconnect(t);
		while ((j = st_next_job(t)) != NULL)
			st_run_job(t, j);
		if (now >= t->cluster_at)
			st_cluster(t, now);
		if (now >= t->rollout_at)
			st_rollouts(t, now);
		if (now >= t->node_at)
			st_node(t, now);
		pthread_mutex_lock(&t->mu);
		stop = t->stop;
		pthread_mutex_unlock(&t->mu);
		if (!stop && (now >= t->flush_at || atomic_load(&t->kicked)))
			st_contacts(t, false);
	}
	/* Stopping: one more try if the store is away, then write or spill all. */
	if (!atomic_load(&t->s->store_up))
		st_reconnect(t);
	st_contacts(t, true);
	while ((j = st_next_job(t)) != NULL) {
		j->outcome = SRV_JOB_UNAVAILABLE;
		st_post(j);
	}
	return NULL;
}

/* contact-spill: the configured file, the default one if usable, or none. */
static sp_result
st_spill_path(struct srv_store_thread *t, const sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	const char *uri = t->s->store_uri;

	if (strcmp(cfg->contact_spill, "off") == 0)
		goto out;
	if (cfg->contact_spill[0] != '\0') {
		snprintf(t->spill, sizeof(t->spill), "%s", cfg->contact_spill);
		TRY(sp_spill_check(t->spill));
		goto out;
	}
	if (strncmp(uri, "sqlite:", 7) == 0) {
		const char *path = uri + 7, *slash = strrchr(path, '/');
		snprintf(t->spill, sizeof(t->spill), "%.*scontacts.spill",
		    slash ? (int)(slash - path + 1) : 0, path);
	} else {
		snprintf(t->spill, sizeof(t->spill), "%s", SP_SPILL_DEFAULT_PATH);
	}
	if (sp_failed(sp_spill_check(t->spill))) {
		sp_warn("serve: %s; no spill file: contact records past contact-queue are "
		    "dropped while the store is unreachable (set contact-spill)", sp_errmsg());
		t->spill[0] = '\0';
	}
out:
	return res;
}

sp_result
srv_store_start(server *s, sp_store **store)
{
	sp_result res = SP_OK;
	struct srv_store_thread *t = NULL;
	const sp_serve_config *cfg = srv_cfg_hold(s);
	uint64_t gen = 0;

	TRY_ALLOC(t, calloc(1, sizeof(*t)));
	t->s = s;
	t->wake_fd = -1;
	t->store = *store;
	*store = NULL;
	STAILQ_INIT(&t->jobs);
	ENSURE(pthread_mutex_init(&t->mu, NULL) == 0, SP_E_INTERNAL, "store thread lock");
	ENSURE((t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) >= 0, SP_E_IO,
	    "eventfd: %s", strerror(errno));
	sp_store_uri_safe(s->store_uri, t->safe_uri, sizeof(t->safe_uri));
	TRY(st_spill_path(t, cfg));
	t->spill_pending = t->spill[0] != '\0';   /* a previous run's records: replay */
	sp_contacts_set_kick(s->contacts, (size_t)cfg->contact_queue, st_kick, t);
	/* Up before the first request, so it is not a 503 for a thread hop. */
	if (t->store != NULL && sp_ok(sp_store_generation(t->store, &gen))) {
		st_publish_gen(t, gen);
		atomic_store(&s->store_up, true);
	}
	ENSURE(pthread_create(&t->th, NULL, st_main, t) == 0, SP_E_INTERNAL,
	    "cannot start the store thread");
	t->started = true;
	s->storeth = t;
	t = NULL;
out:
	srv_cfg_release(s);
	if (t != NULL) {
		sp_store_close(t->store);
		if (t->wake_fd >= 0)
			close(t->wake_fd);
		free(t);
	}
	return res;
}

void
srv_store_stop(server *s)
{
	struct srv_store_thread *t = s->storeth;

	if (t == NULL)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->mu);
		t->stop = true;
		pthread_mutex_unlock(&t->mu);
		st_wake(t);
		pthread_join(t->th, NULL);
	}
	sp_contacts_set_kick(s->contacts, 0, NULL, NULL);
	sp_store_close(t->store);
	close(t->wake_fd);
	pthread_mutex_destroy(&t->mu);
	free(t);
	s->storeth = NULL;
}
