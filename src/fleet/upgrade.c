/*
 * Upgrades in the fleet (engine.h).  A device whose profile carries
 * Upgrade_Rule evaluates it as the device does (profile/rule.h, $SWVER its
 * running version, its macros and the profile's GPP values), fetches the
 * image on the same transfer code with the same bundle, so with every
 * server check of a resync, checks the container (firmware/image.h), and
 * "flashes": from then on its User-Agent reports the new version.
 *
 * The signature is checked once per distinct image digest (with the
 * bundle's firmware-ca.crt): a thousand devices taking one image cost one
 * verification, not a thousand.  --fail-upgrade-rate makes a stable
 * fraction of the upgrades fail (plan.h): the device bricks (never comes
 * back) or comes back on its old version.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "common/text.h"
#include "common/util.h"
#include "device/conf.h"
#include "fleet/engine.h"
#include "pki/pki.h"

#define FL_STATE_MAX 128          /* DIR/<mac>/firmware: "version[ bricked]\n" */

static void
upg_error(worker *w, const char *what)
{
	if (w->err[0] == '\0')
		snprintf(w->err, sizeof(w->err), "upgrade: %s%s", what, sp_errmsg());
	sp_error_clear();
}

sp_result
fl_version_intern(fleet *f, const char *v, uint16_t *out)
{
	sp_result res = SP_OK;
	size_t i;

	pthread_mutex_lock(&f->fw_mu);
	for (i = 0; i < f->nvers; i++)
		if (strcmp(f->vers[i], v) == 0)
			break;
	if (i == f->nvers) {
		ENSURE(i < FL_VERSIONS_MAX, SP_E_LIMIT, "more than %d software versions in one run",
		    FL_VERSIONS_MAX);
		ENSURE(strlen(v) <= SP_FW_VERSION_MAX, SP_E_LIMIT,
		    "software version longer than %d bytes", SP_FW_VERSION_MAX);
		memcpy(f->vers[i], v, strlen(v) + 1);
		f->nvers++;
	}
	*out = (uint16_t)i;
out:
	pthread_mutex_unlock(&f->fw_mu);
	return res;
}

static sp_result
state_path(const sp_fleet_opts *o, const fl_dev *d, char path[SP_FLEET_PATH_MAX])
{
	char mac[SP_MAC_STRLEN];

	sp_mac_format(&d->mac, SP_MAC_MA, mac);
	if ((size_t)snprintf(path, SP_FLEET_PATH_MAX, "%s/%s/%s", o->apply, mac,
	    FL_STATE_FILE) >= SP_FLEET_PATH_MAX)
		return sp_error(SP_E_LIMIT, "--apply path too long");
	return SP_OK;
}

sp_result
fl_state_load(fleet *f)
{
	sp_result res = SP_OK;
	sp_buf b;
	char path[SP_FLEET_PATH_MAX], ver[SP_FW_VERSION_MAX + 1];

	sp_buf_init(&b, FL_STATE_MAX);
	for (size_t i = 0; f->o->apply != NULL && i < f->ndev; i++) {
		fl_dev *d = &f->dev[i];
		struct stat sb;
		sp_slice s, v;
		size_t sp;

		TRY(state_path(f->o, d, path));
		if (stat(path, &sb) != 0 && errno == ENOENT)
			continue;
		sp_buf_free(&b);   /* sp_read_file starts the buffer afresh */
		TRY(sp_read_file(path, FL_STATE_MAX, &b));
		s = sp_slice_trim(sp_slice_mk(b.p ? b.p : "", b.len));
		sp = sp_slice_find(s, ' ');
		v = sp_slice_mk(s.p, sp < s.len ? sp : s.len);
		if (!sp_fw_version_ok(v)) {
			char q[64];
			sp_quote(v, q, sizeof(q));
			res = sp_error(SP_E_PARSE, "%s: not a software version: '%s'", path, q);
			goto out;
		}
		ENSURE(sp >= s.len || sp_slice_eq(sp_slice_trim(sp_slice_mk(s.p + sp + 1,
		    s.len - sp - 1)), SP_SLICE_LIT("bricked")), SP_E_PARSE,
		    "%s: expected 'VERSION' or 'VERSION bricked'", path);
		memcpy(ver, v.p, v.len);
		ver[v.len] = '\0';
		TRY(fl_version_intern(f, ver, &d->ver));
		d->bricked = sp < s.len;
	}
out:
	sp_buf_free(&b);
	return res;
}

/* --apply: the simulated flash survives the run, for the next one. */
static sp_result
state_save(const sp_fleet_opts *o, const fl_dev *d, const char *ver)
{
	sp_result res = SP_OK;
	char path[SP_FLEET_PATH_MAX], line[SP_FW_VERSION_MAX + 16];
	int n;

	if (o->apply == NULL)
		goto out;
	TRY(state_path(o, d, path));
	n = snprintf(line, sizeof(line), "%s%s\n", ver, d->bricked ? " bricked" : "");
	TRY(sp_write_file(path, line, (size_t)n, 0644, SP_WRITE_NOSYNC));
out:
	return res;
}

/* FNV-1a over the rule text and the URL: "this unconditional URL, this rule". */
static uint32_t
rule_hash(const char *text, const sp_buf *url)
{
	uint32_t h = 2166136261u;

	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (size_t i = 0; i < url->len; i++)
		h = (h ^ (unsigned char)url->p[i]) * 16777619u;
	return h ? h : 1;
}

bool
fl_upgrade_begin(worker *w, fl_xfer *xf, const sp_params *prof)
{
	fleet *f = w->f;
	fl_dev *d = &f->dev[xf->dev];
	const char *text = sp_params_value(prof, "Upgrade_Rule", "");
	sp_rule_choice ch;
	sp_result r = SP_OK;
	bool enabled = true, started = false;
	uint32_t h;

	sp_rule_choice_init(&ch);
	if (sp_slice_trim(sp_slice_of(text)).len == 0 || xf->umacros == NULL)
		goto out;
	if (sp_failed(sp_param_bool(sp_params_value(prof, "Upgrade_Enable", "Yes"),
	    "Upgrade_Enable", &enabled)) || !enabled) {
		sp_error_clear();
		goto out;
	}
	if (sp_failed(r = sp_rule_parse(sp_slice_of(text), &xf->urule)) ||
	    sp_failed(r = sp_macros_load_gpp(xf->umacros, prof)) ||
	    sp_failed(r = sp_rule_select(xf->urule, xf->umacros, &ch))) {
		w->st.upg_refused++;
		upg_error(w, "Upgrade_Rule: ");
		goto out;
	}
	if (ch.alt < 0 || !ch.has_url)
		goto out;
	xf->ualt = ch.alt;
	xf->ucond = sp_rule_alt_has_cond(xf->urule, ch.alt);
	h = rule_hash(text, &ch.url);
	/* The guide: an unconditional URL is tried once, until the rule changes. */
	if (!xf->ucond && d->upg_once == h)
		goto out;
	if (!xf->ucond)
		d->upg_once = h;
	w->st.upg_started++;
	if (ch.target.host[0] == '\0') {
		/*
		 * A path alone (a rollout's "(! 2.0.1)? /firmware/..."): the
		 * server the profile came from, as the device does.
		 */
		ch.target.scheme = xf->url.scheme;
		ch.target.port = xf->url.port;
		ch.target.port_explicit = xf->url.port_explicit;
		memcpy(ch.target.host, xf->url.host, sizeof(ch.target.host));
	}
	if (sp_failed(r = sp_url_https(&ch.target, NULL))) {
		w->st.upg_fetch_failed++;
		upg_error(w, "");
		goto out;
	}
	xf->url = ch.target;
	xf->addr_idx = 0;
	xf->redirects = 0;
	if (sp_failed(r = sp_fetch_resolve(&xf->url, f->o->dns_servers, &xf->answers))) {
		w->st.upg_fetch_failed++;
		upg_error(w, "");
		goto out;
	}
	sp_buf_free_secret(&xf->body);
	sp_buf_init(&xf->body, FL_IMAGE_MAX);
	xf->fo.body_max = FL_IMAGE_MAX;
	xf->phase = FL_PHASE_IMAGE;
	if (sp_failed(r = fl_rearm(w, xf))) {
		w->st.upg_fetch_failed++;
		upg_error(w, "");
		goto out;
	}
	started = true;
out:
	sp_rule_choice_free(&ch);
	return started;
}

/* Digest already checked, or the signature against the bundle's firmware-ca.crt. */
static sp_result
check_sig(worker *w, fl_xfer *xf, const sp_fw_header *h)
{
	sp_result res = SP_OK;
	fleet *f = w->f;
	X509 *ca = NULL;
	char mac[SP_MAC_STRLEN], path[SP_FLEET_PATH_MAX];
	bool known = false;

	pthread_mutex_lock(&f->fw_mu);
	for (size_t i = 0; i < f->ndigests && !known; i++)
		known = memcmp(f->digests[i], h->digest, SP_FW_DIGEST_LEN) == 0;
	pthread_mutex_unlock(&f->fw_mu);
	if (known)
		goto out;
	sp_mac_format(&f->dev[xf->dev].mac, SP_MAC_MA, mac);
	ENSURE((size_t)snprintf(path, sizeof(path), "%s/%s/%s", f->o->bundles, mac,
	    FL_FIRMWARE_CA) < sizeof(path), SP_E_LIMIT, "bundle path too long");
	TRY(sp_cert_load(path, &ca));
	TRY(sp_fw_verify_sig(h, sp_slice_mk(xf->body.p, h->signed_len), X509_get0_pubkey(ca)));
	w->st.upg_sig_checks++;
	pthread_mutex_lock(&f->fw_mu);
	/* Two workers may check one new image at once: keep it once. */
	for (size_t i = 0; i < f->ndigests && !known; i++)
		known = memcmp(f->digests[i], h->digest, SP_FW_DIGEST_LEN) == 0;
	if (!known && f->ndigests < FL_DIGESTS_MAX)
		memcpy(f->digests[f->ndigests++], h->digest, SP_FW_DIGEST_LEN);
	pthread_mutex_unlock(&f->fw_mu);
out:
	X509_free(ca);
	return res;
}

/* The image as the device checks it before it flashes. */
static sp_result
check_image(worker *w, fl_xfer *xf, sp_fw_header *h)
{
	sp_result res = SP_OK;
	bool holds = false;

	TRY(sp_fw_check(sp_slice_mk(xf->body.p ? xf->body.p : "", xf->body.len), h));
	/* The container's fields are syntax-checked, the certificate's by the CN rule. */
	ENSURE(strcmp(h->product, xf->pn) == 0, SP_E_VERIFY,
	    "the image is for product '%s', the device is '%s'", h->product, xf->pn);
	TRY(check_sig(w, xf, h));
	if (xf->ucond) {
		/* The no-loop rule: the new version must not satisfy the condition again. */
		TRY(sp_macros_set(xf->umacros, SP_M_SWVER, sp_slice_of(h->version)));
		TRY(sp_rule_alt_holds(xf->urule, xf->ualt, xf->umacros, &holds));
		ENSURE(!holds, SP_E_VERIFY,
		    "image version '%s' does not satisfy the condition that chose it",
		    h->version);
	}
out:
	return res;
}

void
fl_upgrade_end(worker *w, fl_xfer *xf, sp_result r, const sp_fetch_result *fr, CURLcode cc)
{
	fleet *f = w->f;
	const sp_fleet_opts *o = f->o;
	fl_dev *d = &f->dev[xf->dev];
	sp_fw_header h;
	uint16_t ver;

	(void)cc;
	if (sp_failed(r) || fr->status != 200) {
		w->st.upg_fetch_failed++;
		if (sp_ok(r))
			(void)sp_error(SP_E_NET, "HTTP %ld for the image", fr->status);
		upg_error(w, "");
		return;
	}
	if (sp_failed(check_image(w, xf, &h))) {
		w->st.upg_refused++;
		upg_error(w, "");
		return;
	}
	switch (sp_upgrade_fate(o->seed, d->mac.b, h.version, o->fail_upgrade_rate,
	    o->fail_upgrade_mode)) {
	case SP_UPG_FLASHED:
		if (sp_failed(fl_version_intern(f, h.version, &ver))) {
			w->st.upg_refused++;
			upg_error(w, "");
			return;
		}
		d->ver = ver;
		w->st.upg_flashed++;
		break;
	case SP_UPG_BRICKED:
		d->bricked = 1;
		w->st.upg_bricked++;
		break;
	case SP_UPG_REVERTED:
		w->st.upg_reverted++;
		break;
	}
	if (sp_failed(state_save(o, d, f->vers[d->ver]))) {
		w->st.apply++;
		upg_error(w, "apply: ");
	}
}
