/*
 * One attempt of one simulated device (engine.h): what `sprov device
 * resync` does for one rule, on the worker's libcurl multi handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "device/check.h"
#include "device/device.h"
#include "fleet/engine.h"
#include "identity/devid.h"
#include "identity/mac.h"
#include "profile/profile.h"

void
fl_xfer_free(fl_xfer *xf, fl_dev *d)
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
	sp_rule_free(xf->urule);
	if (xf->umacros != NULL) {
		sp_macros_free(xf->umacros);
		free(xf->umacros);
	}
	free(xf);
}

/*
 * $SN, $PN and $PSN as the device sets them (sprov device init): from the
 * subject of its client.crt (loaded with the round's credentials); a
 * subject that names no device leaves them empty.  The User-Agent needs PN
 * and SN, so every attempt reads it.
 */
static sp_result
ident_macros(X509 *x, sp_macros *m, char pn[SP_FW_PRODUCT_MAX + 1],
    char sn[SP_DEVID_FIELD_MAX + 1])
{
	sp_result res = SP_OK;
	sp_devid id;
	char series[SP_DEVID_FIELD_MAX + 1];

	if (sp_failed(sp_devid_from_x509(x, SP_IDSTYLE_AUTO, &id))) {
		sp_error_clear();
		goto out;
	}
	sp_identity_series_from_product(id.product, series);
	snprintf(pn, SP_FW_PRODUCT_MAX + 1, "%s", id.product);
	snprintf(sn, SP_DEVID_FIELD_MAX + 1, "%s", id.serial);
	TRY(sp_macros_set(m, SP_M_SN, sp_slice_of(id.serial)));
	TRY(sp_macros_set(m, SP_M_PN, sp_slice_of(id.product)));
	TRY(sp_macros_set(m, SP_M_PSN, sp_slice_of(series)));
out:
	return res;
}

/* A device's own macros but the certificate's: MAC styles, CCERT, PRVST, SWVER. */
sp_result
fl_device_macros(const fleet *f, const fl_dev *d, sp_macros *m)
{
	sp_result res = SP_OK;
	char mac[SP_MAC_STRLEN];

	sp_mac_format(&d->mac, SP_MAC_MA, mac);
	TRY(sp_macros_set(m, SP_M_MA, sp_slice_of(mac)));
	sp_mac_format(&d->mac, SP_MAC_MAU, mac);
	TRY(sp_macros_set(m, SP_M_MAU, sp_slice_of(mac)));
	sp_mac_format(&d->mac, SP_MAC_MAC, mac);
	TRY(sp_macros_set(m, SP_M_MAC, sp_slice_of(mac)));
	TRY(sp_macros_set(m, SP_M_CCERT, SP_SLICE_LIT("Installed")));
	TRY(sp_macros_set(m, SP_M_PRVST, sp_slice_of(d->rounds ? "1" : "0")));
	TRY(sp_macros_set(m, SP_M_SWVER, sp_slice_of(f->vers[d->ver])));
out:
	return res;
}

/*
 * The device's macros (identity from its bundle name) and its rule's
 * choice.  The macros stay with the attempt for Upgrade_Rule.
 */
static sp_result
choose(worker *w, fl_dev *d, fl_xfer *xf)
{
	sp_result res = SP_OK;
	sp_macros *m;
	sp_rule_choice ch;
	char mau[SP_MAC_STRLEN], sn[SP_DEVID_FIELD_MAX + 1] = "";

	sp_rule_choice_init(&ch);
	TRY_ALLOC(xf->umacros, malloc(sizeof(*xf->umacros)));
	m = xf->umacros;
	sp_macros_init(m);
	TRY(fl_device_macros(w->f, d, m));
	sp_mac_format(&d->mac, SP_MAC_MAU, mau);
	TRY(ident_macros(d->creds->cert, m, xf->pn, sn));
	/* The device's User-Agent (the guides'): Vendor/PN-SWVER (MAC)(SN). */
	snprintf(xf->ua, sizeof(xf->ua), "Sprov/%s-%s (%s)(%s)", xf->pn, w->f->vers[d->ver],
	    mau, sn);
	TRY(sp_rule_select(w->f->rule, m, &ch));
	ENSURE(ch.alt >= 0 && ch.has_url, SP_E_PARSE, "the rule chooses no URL for this device");
	/* As the device's resync: the one https-only check, before any DNS. */
	TRY(sp_url_https(&ch.target, NULL));
	xf->url = ch.target;
	if (ch.has_key)
		TRY_ALLOC(xf->key, strdup(sp_buf_cstr(&ch.key)));
out:
	sp_rule_choice_free(&ch);
	return res;
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
	t = fl_now_us() - f->t0_us;
	if (ok)
		sp_outage_ok(&f->outage, t);
	else
		sp_outage_fail(&f->outage, t);
	pthread_mutex_unlock(&f->outage_mu);
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
void
fl_start(worker *w, uint32_t di)
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
		d->round_start_us = fl_now_us();
	d->tries++;
	w->st.attempts++;
	atomic_fetch_add_explicit(&f->attempts, 1, memory_order_relaxed);
	xf = calloc(1, sizeof(*xf));
	if (xf == NULL) {
		r = sp_error(SP_E_NOMEM, "out of memory");
		goto fail;
	}
	xf->dev = di;
	xf->start_us = fl_now_us();
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
	if (d->creds == NULL) {
		r = fl_creds_load(&w->ld, xf->ca, xf->crt, xf->keyfile, &d->creds);
		if (sp_failed(r))
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
	xf->fo.creds = d->creds;
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
	fl_live_add(w, xf);
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

/*
 * The round's credentials go with it (an idle device stays small), except
 * for a device that keeps its handle: it stays in memory anyway.
 */
static void
drop_creds(fl_dev *d)
{
	if (d->keep == NULL) {
		fl_creds_free(d->creds);
		d->creds = NULL;
	}
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
	/* A simulated brick is the run's intent, not its failure: done, and ok. */
	if (d->bricked || (o->rounds > 0 && d->rounds >= o->rounds)) {
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
		drop_creds(d);
		return;
	}
	drop_creds(d);
	if (o->rate > 0)
		d->state = DEV_IDLE; /* the next arrival picks it */
	else
		fl_heap_push(w, di, fl_now_us() + (int64_t)(o->interval_s * 1e6));
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
	fl_heap_push(w, di, fl_now_us() +
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
	int64_t t = fl_now_us();

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
	fl_xfer_free(xf, d);
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

sp_result
fl_rearm(worker *w, fl_xfer *xf)
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
	TRY(fl_rearm(w, xf));
out:
	return res;
}

/* libcurl ended the transfer of xf with cc. */
void
fl_finished(worker *w, fl_xfer *xf, CURLcode cc)
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
		if (sp_ok(fl_rearm(w, xf)))
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
	fl_live_del(w, xf);
	atomic_fetch_sub_explicit(&f->in_flight, 1, memory_order_relaxed);
	if (xf->phase == FL_PHASE_IMAGE) {
		/* The profile was this attempt's success; the image is the upgrade's. */
		if (redirect_failed)
			r = sp_error_wrap(r, "redirect");
		fl_upgrade_end(w, xf, r, &fr, cc);
		attempt_over(w, di, xf, true, -1);
		goto out_keep;
	}
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
		} else if (fl_upgrade_begin(w, xf, &prof)) {
			/* The same attempt goes on: it fetches the image. */
			w->active++;
			fl_live_add(w, xf);
			atomic_fetch_add_explicit(&f->in_flight, 1, memory_order_relaxed);
			goto out_keep;
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
