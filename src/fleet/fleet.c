#include "fleet/fleet.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/util.h"
#include "device/check.h"
#include "device/conf.h"
#include "device/device.h"
#include "device/dns.h"
#include "device/fetch.h"
#include "fleet/plan.h"
#include "identity/devid.h"
#include "identity/mac.h"
#include "profile/profile.h"
#include "profile/rule.h"

#define FL_POLL_MAX_MS 100       /* longest sleep: stop and deadlines are seen this fast */
#define FL_NOFILE_SPARE 64       /* descriptors beyond the transfers (DNS, files, logs) */
#define FL_JOIN_POLL_US 10000    /* the main thread looks for finished workers this often */
/*
 * --keepalive: a kept connection waits in a libcurl connection pool, and
 * libcurl (7.88) finds a device's own connection by walking the pool's list
 * for the host and port, testing each idle connection on the way (a
 * recv(MSG_PEEK) for liveness, a compare of the TLS settings).  With one
 * pool per worker a reuse cost O(the worker's devices): the second round of
 * 10 000 kept connections ran at ~60 requests/s, the workers busy in recv and
 * strcmp (perf).  So every FL_POOL_DEVICES devices of a worker get a pool of
 * their own: a share object holding only the connection cache (no TLS
 * sessions), used by that worker's thread alone.
 */
#define FL_POOL_DEVICES 64
#define FL_KEEP_MAXAGE_S (7L * 86400) /* --keepalive: libcurl's idle limit for a kept connection */

enum { DEV_IDLE, DEV_QUEUED, DEV_ACTIVE, DEV_DONE };

/* One simulated device while idle: a few dozen bytes. */
typedef struct fl_dev {
	sp_mac mac;
	uint8_t state;
	uint8_t gave_up;          /* a round was given up: the device did not finish well */
	uint32_t rounds;          /* rounds finished (success or given up) */
	uint32_t tries;           /* attempts in this round */
	int64_t round_start_us;
	sp_fetch_xfer *keep;      /* --resume/--keepalive: the device's easy handle */
} fl_dev;

typedef struct fl_heap_ent {
	int64_t due_us;
	uint32_t dev;
} fl_heap_ent;

/* One transfer in flight: freed when it ends. */
typedef struct fl_xfer {
	struct fl_xfer *prev, *next;  /* the worker's transfers in flight */
	uint32_t dev;
	sp_fetch_xfer *x;
	sp_fetch_opts fo;
	sp_addrlist answers;
	size_t addr_idx;
	unsigned redirects;       /* 301/302 followed in this attempt */
	sp_buf body;
	int64_t start_us;
	char *key;                /* the rule's --key (secret), NULL: none */
	sp_url url;               /* this attempt's: the rule's, then a redirect's */
	char ca[SP_FLEET_PATH_MAX], crt[SP_FLEET_PATH_MAX], keyfile[SP_FLEET_PATH_MAX];
	char ua[96];
} fl_xfer;

typedef struct fleet fleet;

typedef struct worker {
	fleet *f;
	unsigned id;
	pthread_t th;
	bool started;
	uint32_t first, n;        /* its devices: [first, first + n) of f->dev */
	unsigned cap;             /* transfers in flight */
	unsigned active;
	fl_xfer *live;            /* transfers in flight, for the end of the run */
	uint32_t done;            /* devices DEV_DONE */
	uint32_t done_ok;         /* ... with every round a success */
	CURLM *multi;
	CURLSH **pools;           /* --keepalive: connection pools, FL_POOL_DEVICES devices each */
	size_t npools;
	fl_heap_ent *heap;
	size_t heap_n;
	sp_rng rng;
	int64_t next_arrival_us;  /* --rate */
	int64_t end_us;           /* when its loop ended: the run's end is the last one */
	uint64_t arrivals_left;   /* --rate; UINT64_MAX: until the deadline */
	uint32_t rr;              /* --rate: next device to look at */
	sp_fleet_stats st;
	sp_result res;
	char err[256];
} worker;

struct fleet {
	const sp_fleet_opts *o;
	fl_dev *dev;
	size_t ndev;
	sp_rule *rule;
	bool rule_ident;          /* the rule may name $SN/$PN/$PSN: read each certificate */
	int64_t t0_us, deadline_us;
	_Atomic uint64_t attempts, successes, failures, in_flight, done;
	/* The outage figure, fleet-wide: every judged attempt, in order. */
	pthread_mutex_t outage_mu;
	sp_outage outage;
};

static int64_t
min_i64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void
live_add(worker *w, fl_xfer *xf)
{
	xf->prev = NULL;
	xf->next = w->live;
	if (w->live != NULL)
		w->live->prev = xf;
	w->live = xf;
}

static void
live_del(worker *w, fl_xfer *xf)
{
	if (xf->prev != NULL)
		xf->prev->next = xf->next;
	else
		w->live = xf->next;
	if (xf->next != NULL)
		xf->next->prev = xf->prev;
	xf->prev = xf->next = NULL;
}

static int64_t
now_us(void)
{
	return (int64_t)(sp_mono_ns() / 1000u);
}

/*
 * An attempt was judged: feed the fleet-wide outage figure.  The clock is
 * read under the lock so that the workers' outcomes are seen in order.
 */
static void
outcome(fleet *f, bool ok)
{
	int64_t t;

	pthread_mutex_lock(&f->outage_mu);
	t = now_us() - f->t0_us;
	if (ok)
		sp_outage_ok(&f->outage, t);
	else
		sp_outage_fail(&f->outage, t);
	pthread_mutex_unlock(&f->outage_mu);
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
}

/* ---- the timer heap: devices by due time ----------------------------------- */

static void
heap_push(worker *w, uint32_t dev, int64_t due)
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

/* ---- one attempt ------------------------------------------------------------ */

static void
xfer_free(fl_xfer *xf, fl_dev *d)
{
	if (xf == NULL)
		return;
	if (xf->x != NULL && d->keep != xf->x)
		sp_fetch_xfer_free(xf->x);
	sp_buf_free_secret(&xf->body);
	if (xf->key != NULL) {
		OPENSSL_cleanse(xf->key, strlen(xf->key));
		free(xf->key);
	}
	free(xf);
}

/*
 * $SN, $PN and $PSN as the device sets them (sprov device init): from the
 * subject of its client.crt, read when the rule may use them; a subject that
 * names no device leaves them empty.  Read per attempt, not kept: an idle
 * device stays small.
 */
static sp_result
ident_macros(const char *crtfile, sp_macros *m)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	X509 *x = NULL;
	sp_devid id;
	char series[SP_DEVID_FIELD_MAX + 1];

	TRY_OSSL_PTR(bio, BIO_new_file(crtfile, "r"), "cannot read %s", crtfile);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x == NULL) {
		res = sp_error_ossl(SP_E_PARSE, "%s: not a PEM certificate", crtfile);
		goto out;
	}
	if (sp_failed(sp_devid_from_x509(x, SP_IDSTYLE_AUTO, &id))) {
		sp_error_clear();
		goto out;
	}
	sp_identity_series_from_product(id.product, series);
	TRY(sp_macros_set(m, SP_M_SN, sp_slice_of(id.serial)));
	TRY(sp_macros_set(m, SP_M_PN, sp_slice_of(id.product)));
	TRY(sp_macros_set(m, SP_M_PSN, sp_slice_of(series)));
out:
	X509_free(x);
	BIO_free(bio);
	return res;
}

/* The device's macros (identity from its bundle name) and its rule's choice. */
static sp_result
choose(worker *w, fl_dev *d, fl_xfer *xf)
{
	sp_result res = SP_OK;
	sp_macros m;
	sp_rule_choice ch;
	char mac[SP_MAC_STRLEN];

	sp_macros_init(&m);
	sp_rule_choice_init(&ch);
	sp_mac_format(&d->mac, SP_MAC_MA, mac);
	TRY(sp_macros_set(&m, SP_M_MA, sp_slice_of(mac)));
	sp_mac_format(&d->mac, SP_MAC_MAU, mac);
	TRY(sp_macros_set(&m, SP_M_MAU, sp_slice_of(mac)));
	snprintf(xf->ua, sizeof(xf->ua), "Sprov/fleet (%s)", mac);
	sp_mac_format(&d->mac, SP_MAC_MAC, mac);
	TRY(sp_macros_set(&m, SP_M_MAC, sp_slice_of(mac)));
	TRY(sp_macros_set(&m, SP_M_CCERT, SP_SLICE_LIT("Installed")));
	TRY(sp_macros_set(&m, SP_M_PRVST, sp_slice_of(d->rounds ? "1" : "0")));
	if (w->f->rule_ident)
		TRY(ident_macros(xf->crt, &m));
	TRY(sp_rule_select(w->f->rule, &m, &ch));
	ENSURE(ch.alt >= 0 && ch.has_url, SP_E_PARSE, "the rule chooses no URL for this device");
	/* As the device's resync: the one https-only check, before any DNS. */
	TRY(sp_url_https(&ch.target, NULL));
	xf->url = ch.target;
	if (ch.has_key)
		TRY_ALLOC(xf->key, strdup(sp_buf_cstr(&ch.key)));
out:
	sp_macros_free(&m);
	sp_rule_choice_free(&ch);
	return res;
}

static void attempt_over(worker *w, uint32_t di, fl_xfer *xf, bool ok, long retry_after);

/* The worker's first error, for the end of the run (-v). */
static void
first_error(worker *w, const char *what)
{
	if (w->err[0] == '\0')
		snprintf(w->err, sizeof(w->err), "%s%s", what, sp_errmsg());
}

/*
 * --keepalive: the device's connection pool (after each setup, which resets
 * the handle).  libcurl closes a connection idle for more than 118 s
 * (CURLOPT_MAXAGE_CONN) when it next looks in the pool, so a kept connection
 * would not outlive an --interval of two minutes: a device keeps its
 * connection until the server closes it (FL_KEEP_MAXAGE_S).
 */
static void
pool_attach(worker *w, fl_xfer *xf)
{
	if (w->npools > 0) {
		curl_easy_setopt(sp_fetch_xfer_easy(xf->x), CURLOPT_SHARE,
		    w->pools[(xf->dev - w->first) / FL_POOL_DEVICES]);
		curl_easy_setopt(sp_fetch_xfer_easy(xf->x), CURLOPT_MAXAGE_CONN,
		    (long)FL_KEEP_MAXAGE_S);
	}
}

/* Start device di now.  A failure before any transfer is counted and retried. */
static void
start(worker *w, uint32_t di)
{
	fleet *f = w->f;
	const sp_fleet_opts *o = f->o;
	fl_dev *d = &f->dev[di];
	fl_xfer *xf = NULL;
	char mac[SP_MAC_STRLEN];
	sp_result r;
	CURLMcode mc;
	bool dns_failed = false;

	d->state = DEV_ACTIVE;
	if (d->tries == 0)
		d->round_start_us = now_us();
	d->tries++;
	w->st.attempts++;
	atomic_fetch_add_explicit(&f->attempts, 1, memory_order_relaxed);
	xf = calloc(1, sizeof(*xf));
	if (xf == NULL) {
		r = sp_error(SP_E_NOMEM, "out of memory");
		goto fail;
	}
	xf->dev = di;
	xf->start_us = now_us();
	sp_buf_init(&xf->body, SP_PROFILE_MAX);
	sp_mac_format(&d->mac, SP_MAC_MA, mac);
	if ((size_t)snprintf(xf->ca, sizeof(xf->ca), "%s/%s/%s", o->bundles, mac,
	    SP_DEV_SERVER_CA) >= sizeof(xf->ca) ||
	    (size_t)snprintf(xf->crt, sizeof(xf->crt), "%s/%s/%s", o->bundles, mac,
	    SP_DEV_CLIENT_CRT) >= sizeof(xf->crt) ||
	    (size_t)snprintf(xf->keyfile, sizeof(xf->keyfile), "%s/%s/%s", o->bundles, mac,
	    SP_DEV_CLIENT_KEY) >= sizeof(xf->keyfile)) {
		r = sp_error(SP_E_LIMIT, "bundle path longer than %d bytes", SP_FLEET_PATH_MAX);
		goto fail;
	}
	r = choose(w, d, xf);
	if (sp_failed(r))
		goto fail;
	/*
	 * XXX: c-ares is driven synchronously here, as the device does:
	 * against a resolver on the same host it costs tens of
	 * microseconds, but a slow resolver stalls this worker's loop.
	 */
	r = sp_fetch_resolve(&xf->url, o->dns_servers, &xf->answers);
	if (sp_failed(r)) {
		dns_failed = true;
		goto fail;
	}
	xf->fo.cafile = xf->ca;
	xf->fo.certfile = xf->crt;
	xf->fo.keyfile = xf->keyfile;
	xf->fo.dns_servers = o->dns_servers;
	xf->fo.user_agent = xf->ua;
	xf->fo.body_max = SP_PROFILE_MAX;
	xf->fo.timeout_ms = o->timeout_ms;
	xf->fo.connect_timeout_ms = o->timeout_ms;
	xf->fo.resume = o->resume;
	xf->fo.keepalive = o->keepalive;
	if (d->keep != NULL) {
		xf->x = d->keep;
	} else {
		r = sp_fetch_xfer_new(&xf->x);
		if (sp_failed(r))
			goto fail;
		if (o->resume || o->keepalive)
			d->keep = xf->x;
	}
	r = sp_fetch_xfer_setup(xf->x, &xf->url, &xf->fo, &xf->answers, 0, &xf->body);
	if (sp_failed(r))
		goto fail;
	curl_easy_setopt(sp_fetch_xfer_easy(xf->x), CURLOPT_PRIVATE, xf);
	pool_attach(w, xf);
	mc = curl_multi_add_handle(w->multi, sp_fetch_xfer_easy(xf->x));
	if (mc != CURLM_OK) {
		r = sp_error(SP_E_INTERNAL, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		goto fail;
	}
	w->active++;
	live_add(w, xf);
	if (w->active > w->st.max_in_flight)
		w->st.max_in_flight = w->active;
	atomic_fetch_add_explicit(&f->in_flight, 1, memory_order_relaxed);
	return;
fail:
	if (dns_failed)
		w->st.dns++;
	else
		w->st.setup++;
	first_error(w, "");
	attempt_over(w, di, xf, false, -1);
}

/* A round is over for device di (success, or given up): the next, or done. */
static void
round_over(worker *w, uint32_t di)
{
	fleet *f = w->f;
	const sp_fleet_opts *o = f->o;
	fl_dev *d = &f->dev[di];

	d->rounds++;
	d->tries = 0;
	if (o->rounds > 0 && d->rounds >= o->rounds) {
		d->state = DEV_DONE;
		w->done++;
		if (!d->gave_up)
			w->done_ok++;
		atomic_fetch_add_explicit(&f->done, 1, memory_order_relaxed);
		if (d->keep != NULL && !o->keepalive) {
			/* Nothing left to resume: give the memory back. */
			sp_fetch_xfer_free(d->keep);
			d->keep = NULL;
		}
		return;
	}
	if (o->rate > 0)
		d->state = DEV_IDLE; /* the next arrival picks it */
	else
		heap_push(w, di, now_us() + (int64_t)(o->interval_s * 1e6));
}

static void
schedule_after_failure(worker *w, uint32_t di, long retry_after)
{
	const sp_fleet_opts *o = w->f->o;
	fl_dev *d = &w->f->dev[di];

	if (d->tries > o->retries) {
		w->st.gave_up++;
		d->gave_up = 1;
		round_over(w, di);
		return;
	}
	w->st.retries++;
	if (retry_after >= 0)
		w->st.retry_after_honoured++;
	heap_push(w, di, now_us() +
	    1000 * sp_retry_delay_ms(retry_after, o->error_retry_s, o->time_scale));
}

/*
 * An attempt of device di was judged (xf: its transfer, NULL when none
 * began): count it, free it, and plan the device's next attempt or round.
 */
static void
attempt_over(worker *w, uint32_t di, fl_xfer *xf, bool ok, long retry_after)
{
	fleet *f = w->f;
	fl_dev *d = &f->dev[di];
	int64_t t = now_us();

	if (ok) {
		w->st.successes++;
		atomic_fetch_add_explicit(&f->successes, 1, memory_order_relaxed);
		sp_hist_add(&w->st.latency, (uint64_t)(t - xf->start_us));
		sp_hist_add(&w->st.completion, (uint64_t)(t - d->round_start_us));
	} else {
		w->st.failures++;
		atomic_fetch_add_explicit(&f->failures, 1, memory_order_relaxed);
	}
	outcome(f, ok);
	xfer_free(xf, d);
	if (ok)
		round_over(w, di);
	else
		schedule_after_failure(w, di, retry_after);
}

static sp_result
apply(const sp_fleet_opts *o, const fl_dev *d, const sp_params *ps)
{
	sp_result res = SP_OK;
	sp_buf xml;
	char mac[SP_MAC_STRLEN], dir[SP_FLEET_PATH_MAX], path[SP_FLEET_PATH_MAX + 16];

	sp_buf_init(&xml, SP_PROFILE_MAX_STORE);
	sp_mac_format(&d->mac, SP_MAC_MA, mac);
	ENSURE((size_t)snprintf(dir, sizeof(dir), "%s/%s", o->apply, mac) < sizeof(dir),
	    SP_E_LIMIT, "--apply path too long");
	snprintf(path, sizeof(path), "%s/%s", dir, SP_DEV_STORE);
	TRY(sp_mkdirs(dir, 0700));
	TRY(sp_profile_render(ps, &xml));
	/*
	 * Atomic (temporary file + rename) as a device's apply, without the
	 * fsyncs: a simulated device has no power to lose, and thousands of
	 * fsyncs would measure the disk, not the server.
	 */
	TRY(sp_write_file(path, xml.p, xml.len, 0600, SP_WRITE_NOSYNC));
out:
	sp_buf_free_secret(&xml);
	return res;
}

/* Set xf's transfer up again (next address, redirect) and hand it back to libcurl. */
static sp_result
rearm(worker *w, fl_xfer *xf)
{
	sp_result res = SP_OK;
	CURLMcode mc;

	sp_buf_reset(&xf->body);
	TRY(sp_fetch_xfer_setup(xf->x, &xf->url, &xf->fo, &xf->answers, xf->addr_idx, &xf->body));
	curl_easy_setopt(sp_fetch_xfer_easy(xf->x), CURLOPT_PRIVATE, xf);
	pool_attach(w, xf);
	mc = curl_multi_add_handle(w->multi, sp_fetch_xfer_easy(xf->x));
	ENSURE(mc == CURLM_OK, SP_E_INTERNAL, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
out:
	return res;
}

/*
 * A 301/302 to loc: as sp_fetch, at most SP_FETCH_REDIRECTS_MAX hops, https
 * only, the new host resolved through c-ares (*dns_failed when that fails),
 * a new connection with every check run again against the new host.
 */
static sp_result
follow(worker *w, fl_xfer *xf, const char *loc, bool *dns_failed)
{
	sp_result res = SP_OK;

	*dns_failed = false;
	TRY(sp_fetch_redirect(loc, xf->redirects, &xf->url));
	xf->addr_idx = 0;
	res = sp_fetch_resolve(&xf->url, w->f->o->dns_servers, &xf->answers);
	if (sp_failed(res)) {
		*dns_failed = true;
		goto out;
	}
	xf->redirects++;
	TRY(rearm(w, xf));
out:
	return res;
}

/* libcurl ended the transfer of xf with cc. */
static void
finished(worker *w, fl_xfer *xf, CURLcode cc)
{
	fleet *f = w->f;
	const sp_fleet_opts *o = f->o;
	fl_dev *d = &f->dev[xf->dev];
	uint32_t di = xf->dev;
	sp_fetch_result fr;
	sp_params prof;
	sp_result r;
	bool retry = false, ok = false, redirect_failed = false, redirect_dns = false;
	long retry_after = -1;

	sp_fetch_result_init(&fr);
	sp_params_init(&prof);
	curl_multi_remove_handle(w->multi, sp_fetch_xfer_easy(xf->x));
	r = sp_fetch_xfer_finish(xf->x, cc, &fr, &retry);
	if (fr.status > 0) {
		/* A handshake (or a kept connection) got as far as the request. */
		if (fr.reused)
			w->st.reused++;
		else if (fr.resumed)
			w->st.resumed++;
		else
			w->st.full++;
	}
	if (sp_failed(r) && retry && xf->addr_idx + 1 < xf->answers.n) {
		/* As the device: the next address c-ares gave. */
		xf->addr_idx++;
		if (sp_ok(rearm(w, xf)))
			goto out_keep;
	}
	if (sp_ok(r) && (fr.status == 301 || fr.status == 302) && fr.location[0] != '\0') {
		/* As the device: the same attempt goes on at the Location. */
		r = follow(w, xf, fr.location, &redirect_dns);
		if (sp_ok(r)) {
			w->st.redirects++;
			goto out_keep;
		}
		redirect_failed = true;
	}
	w->active--;
	live_del(w, xf);
	atomic_fetch_sub_explicit(&f->in_flight, 1, memory_order_relaxed);
	if (redirect_failed) {
		if (redirect_dns)
			w->st.dns++;
		else
			w->st.redirect++;
		first_error(w, "redirect: ");
	} else if (sp_failed(r)) {
		if (r.code == SP_E_VERIFY && fr.failed_check != SP_CHECK_NONE)
			w->st.check[fr.failed_check]++;
		else if (cc != CURLE_OK)
			w->st.curl[cc < CURL_LAST ? cc : CURLE_UNSUPPORTED_PROTOCOL]++;
		else
			w->st.setup++;
		first_error(w, "");
	} else if (fr.status == 200) {
		r = sp_profile_decode(sp_slice_mk(xf->body.p ? xf->body.p : "", xf->body.len),
		    xf->key, &prof);
		if (sp_failed(r)) {
			w->st.profile++;
		} else if (o->apply != NULL && sp_failed(r = apply(o, d, &prof))) {
			w->st.apply++;
			first_error(w, "apply: ");
		} else {
			ok = true;
		}
	} else if (fr.status == 304) {
		ok = true;
	} else {
		w->st.http[fr.status > 0 && fr.status < SP_FLEET_HTTP_STATUS_MAX ? fr.status : 0]++;
		if (fr.status == 503 || fr.status == 429)
			retry_after = fr.retry_after;
	}
	attempt_over(w, di, xf, ok, retry_after);
out_keep:
	sp_fetch_result_free(&fr);
	sp_params_free(&prof);
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
			heap_push(w, di, now);
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
		live_del(w, xf);
		curl_multi_remove_handle(w->multi, sp_fetch_xfer_easy(xf->x));
		w->st.unfinished++;
		xfer_free(xf, &f->dev[xf->dev]);
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
		int64_t now = now_us(), wait_ms = FL_POLL_MAX_MS;
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
			start(w, heap_pop(w).dev);
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
			fl_xfer *xf = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&xf);
			finished(w, xf, msg->data.result);
		}
		if (worker_finished(w))
			break;
		now = now_us();
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
	w->end_us = now_us();
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
	double el = (double)(now_us() - f->t0_us) / 1e6;
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
	sp_outage_init(&f.outage);
	sp_hist_init(&st->latency);
	sp_hist_init(&st->completion);
	f.o = &o;
	ENSURE(o.concurrency >= 1 && o.concurrency <= SP_FLEET_CONCURRENCY_MAX, SP_E_USAGE,
	    "--concurrency must be 1..%u", SP_FLEET_CONCURRENCY_MAX);
	ENSURE(o.time_scale > 0, SP_E_USAGE, "--time-scale must be above 0");
	ENSURE(o.rounds > 0 || o.duration_s > 0, SP_E_USAGE,
	    "--rounds 0 (unlimited) needs --duration");
	TRY(sp_fetch_global_init());
	res = sp_rule_parse(sp_slice_of(o.rule), &f.rule);
	if (sp_failed(res)) {
		res = sp_error_wrap((sp_result){ SP_E_USAGE }, "--rule");
		goto out;
	}
	/* Any SN or PN in the text ($SN, $(PN:2), $PSN): a false alarm only costs reads. */
	f.rule_ident = strcasestr(o.rule, "SN") != NULL || strcasestr(o.rule, "PN") != NULL;
	TRY(list_bundles(o.bundles, o.devices, &f.dev, &f.ndev));
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
	f.t0_us = now_us();
	if (o.duration_s > 0)
		f.deadline_us = f.t0_us + (int64_t)(o.duration_s * 1e6);
	for (unsigned i = 0; i < nw; i++) {
		worker *w = &ws[i];
		if (o.rate > 0) {
			w->arrivals_left = o.rounds ? (uint64_t)o.rounds * w->n : UINT64_MAX;
			w->next_arrival_us = f.t0_us +
			    (int64_t)sp_poisson_gap_us(&w->rng, o.rate / (double)nw);
			for (uint32_t k = 0; k < w->n; k++)
				f.dev[w->first + k].state = DEV_IDLE;
		} else {
			/* The storm: every device due at once, the cap holds them back. */
			for (uint32_t k = 0; k < w->n; k++)
				heap_push(w, w->first + k, f.t0_us);
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
	for (int64_t next_report = now_us() + (o.progress == 2 ? 250000 : 1000000);;) {
		bool all = true;
		for (unsigned i = 0; i < nw; i++) {
			if (ws[i].started && pthread_tryjoin_np(ws[i].th, NULL) == 0)
				ws[i].started = false;
			all = all && !ws[i].started;
		}
		if (all)
			break;
		if (o.progress && now_us() >= next_report) {
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
		t_end = now_us();
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
		for (size_t i = 0; i < f.ndev; i++)
			sp_fetch_xfer_free(f.dev[i].keep);
		for (unsigned i = 0; i < nw; i++) {
			if (ws[i].multi != NULL)
				curl_multi_cleanup(ws[i].multi);
			/* The pools close their connections; every handle is gone. */
			for (size_t k = 0; k < ws[i].npools; k++)
				if (ws[i].pools[k] != NULL)
					curl_share_cleanup(ws[i].pools[k]);
			free(ws[i].pools);
			free(ws[i].heap);
		}
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		st->cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		st->cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	}
	st->peak_rss_kb = peak_rss_kb();
	free(ws);
	free(f.dev);
	sp_rule_free(f.rule);
	pthread_mutex_destroy(&f.outage_mu);
	return res;
}
