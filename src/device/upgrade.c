/*
 * Firmware upgrades (upgrade.h): choose with Upgrade_Rule, fetch with the
 * resync's checks into a temporary file, verify, flash atomically.
 */
#include "device/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "device/dns.h"
#include "device/rsyslog.h"
#include "device/sched.h"
#include "profile/version.h"

#define DEFAULT_REQUEST_MSG "$PN $MAC -- Requesting upgrade $SCHEME://$SERVIP:$PORT$PATH"
#define DEFAULT_SUCCESS_MSG "$PN $MAC -- Successful upgrade $SCHEME://$SERVIP:$PORT$PATH -- $ERR"
#define DEFAULT_FAILURE_MSG "$PN $MAC -- Upgrade failed: $ERR"
/* State keys. */
#define ST_DONE_RULE "Upgrade_Done_Rule"   /* digest of a rule tried once / given up */
#define ST_RESULT "Last_Upgrade_Result"
#define ST_ERROR "Last_Upgrade_Error"
#define ST_ATTEMPT "Last_Upgrade_Attempt"
#define ST_SUCCESS "Last_Upgrade"

void
sp_upgrade_outcome_init(sp_upgrade_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->retry_delay = -1;
}

/* Hex SHA-256 of the rule text: what "until the rule changes" compares. */
static void
rule_digest(const char *text, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		out[0] = '\0';
		return;
	}
	sp_hex(md, 32, out);
}

typedef struct upg {
	const sp_upgrade_opts *o;
	sp_device d;
	sp_params eff;
	sp_macros m;
	sp_rule *rule;
	sp_rule_choice ch;
	const char *text;        /* the rule's text */
	const char *name;        /* "Upgrade_Rule" or "--rule" */
	char digest[65];
	sp_url target;           /* after the Profile_Rule defaults */
	sp_rsyslog remote;
	bool has_remote;
	bool loaded;             /* the device directory was read */
	sp_upgrade_outcome *out;
} upg;

/*
 * A URL without scheme and server ("/firmware/SPA962/2.0.1.sfw") takes
 * them from the device's Profile_Rule URL, as the server's rollouts write it.
 */
static sp_result
complete_url(upg *u)
{
	sp_result res = SP_OK;
	sp_rule *pr = NULL;
	sp_rule_choice pc;
	sp_macros pm;
	const char *text = sp_params_value(&u->eff, "Profile_Rule", "");

	sp_rule_choice_init(&pc);
	sp_macros_init(&pm);
	u->target = u->ch.target;
	if (u->ch.url.len == 0 || u->ch.url.p[0] != '/')
		goto out;
	/* Profile_Rule's own assignments must not touch the upgrade's macros. */
	TRY(sp_resync_macros(&u->d, &u->eff, SP_PRVST_REQUESTED, sp_now(), &pm));
	res = sp_rule_parse(sp_slice_of(text), &pr);
	if (sp_ok(res))
		res = sp_rule_select(pr, &pm, &pc);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "the URL '%s' names no server, and Profile_Rule",
		    sp_buf_cstr(&u->ch.url));
		goto out;
	}
	ENSURE(pc.alt >= 0 && pc.has_url && pc.target.host[0] != '\0', SP_E_PARSE,
	    "the URL '%s' names no server, and Profile_Rule gives none to take",
	    sp_buf_cstr(&u->ch.url));
	u->target.scheme = pc.target.scheme;
	u->target.port = pc.target.port;
	u->target.port_explicit = pc.target.port_explicit;
	snprintf(u->target.host, sizeof(u->target.host), "%s", pc.target.host);
	TRY(sp_macros_set_url(&u->m, &u->target));
out:
	sp_rule_free(pr);
	sp_rule_choice_free(&pc);
	sp_macros_free(&pm);
	return res;
}

/*
 * Load, the macros, the rule and its choice: shared by the upgrade and
 * describe.  must_enable: Upgrade_Enable = No fails before the rule is read.
 */
static sp_result
prepare(upg *u, const char *dir, const char *rule_text, int64_t now, bool must_enable)
{
	sp_result res = SP_OK;
	bool enabled = true;

	TRY(sp_device_load(dir, &u->d));
	u->loaded = true;
	TRY(sp_device_effective(&u->d, &u->eff));
	if (must_enable) {
		TRY(sp_param_bool(sp_params_value(&u->eff, "Upgrade_Enable", "Yes"),
		    "Upgrade_Enable", &enabled));
		ENSURE(enabled, SP_E_STATE, "upgrades are disabled (Upgrade_Enable = No)");
	}
	TRY(sp_resync_macros(&u->d, &u->eff, SP_PRVST_REQUESTED, now, &u->m));
	u->name = rule_text ? "--rule" : "Upgrade_Rule";
	u->text = rule_text ? rule_text : sp_params_value(&u->eff, "Upgrade_Rule", "");
	rule_digest(u->text, u->digest);
	if (sp_slice_trim(sp_slice_of(u->text)).len == 0)
		goto out;
	res = sp_rule_parse(sp_slice_of(u->text), &u->rule);
	if (sp_ok(res))
		res = sp_rule_select(u->rule, &u->m, &u->ch);
	if (sp_ok(res) && u->ch.alt >= 0 && u->ch.has_url) {
		if (u->ch.has_key || u->ch.post)
			res = sp_error(SP_E_PARSE, "--key and --post do not apply to a firmware image");
		else
			res = complete_url(u);
	}
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", u->name);
out:
	return res;
}

static void
upg_init(upg *u, const sp_upgrade_opts *o, sp_upgrade_outcome *out)
{
	memset(u, 0, sizeof(*u));
	u->o = o;
	u->out = out;
	sp_device_init_empty(&u->d);
	sp_params_init(&u->eff);
	sp_macros_init(&u->m);
	sp_rule_choice_init(&u->ch);
	u->remote.fd = -1;
}

static void
upg_free(upg *u)
{
	sp_device_free(&u->d);
	sp_params_free(&u->eff);
	sp_macros_free(&u->m);
	sp_rule_free(u->rule);
	sp_rule_choice_free(&u->ch);
	sp_rsyslog_close(&u->remote);
}

/* The temporary download file: (re)started on every connection. */
typedef struct sink {
	int fd;
	char path[PATH_MAX];
} sink;

static bool
sink_write(void *arg, const void *p, size_t n)
{
	sink *s = arg;
	const char *c = p;

	if (p == NULL) {
		if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
			(void)sp_error(SP_E_IO, "%s: %s", s->path, strerror(errno));
			return false;
		}
		return true;
	}
	while (n > 0) {
		ssize_t w = write(s->fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			(void)sp_error(SP_E_IO, "%s: %s", s->path, strerror(errno));
			return false;
		}
		c += w;
		n -= (size_t)w;
	}
	return true;
}

static void
on_connect(void *arg, const sp_fetch_result *r)
{
	upg *u = arg;

	if (sp_ok(sp_macros_set(&u->m, SP_M_SERVIP, sp_slice_of(r->address))) &&
	    sp_ok(sp_macros_set_url(&u->m, &r->url)))
		sp_resync_log(&u->eff, "Log_Upgrade_Request_Msg", DEFAULT_REQUEST_MSG, &u->m,
		    SP_LOG_INFO, u->has_remote ? &u->remote : NULL);
}

static sp_result
firmware_key(const upg *u, EVP_PKEY **pub)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	FILE *f = NULL;
	X509 *x = NULL;

	*pub = NULL;
	TRY(sp_device_path(&u->d, SP_DEV_FIRMWARE_CA, path));
	f = fopen(path, "r");
	ENSURE(f != NULL, SP_E_NOTFOUND, "%s: %s (the device has no firmware-signing "
	    "certificate: give `sprov device init` a bundle that carries it)", path,
	    strerror(errno));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	if (x == NULL) {
		res = sp_error_ossl(SP_E_PARSE, "%s: not a PEM certificate", path);
		goto out;
	}
	TRY_OSSL_PTR(*pub, X509_get_pubkey(x), "%s: no public key", path);
out:
	if (f)
		fclose(f);
	X509_free(x);
	return res;
}

/* The refusals that need the image's header, once the signature holds. */
static sp_result
judge_image(upg *u, const sp_fw_header *h)
{
	sp_result res = SP_OK;
	const char *limit = sp_params_value(&u->eff, "Downgrade_Rev_Limit", "");
	bool holds = false;

	ENSURE(strcmp(h->product, u->d.id.product) == 0, SP_E_POLICY,
	    "the image is for product %s, this device is %s", h->product, u->d.id.product);
	if (*limit != '\0') {
		ENSURE(sp_version_ok(sp_slice_of(limit)), SP_E_PARSE,
		    "Downgrade_Rev_Limit '%.40s' is not a version", limit);
		ENSURE(sp_version_ok(sp_slice_of(h->version)), SP_E_POLICY,
		    "the image's version %s cannot be compared with Downgrade_Rev_Limit %s",
		    h->version, limit);
		ENSURE(sp_version_cmp(sp_slice_of(h->version), sp_slice_of(limit)) >= 0,
		    SP_E_POLICY, "the image's version %s is below Downgrade_Rev_Limit %s",
		    h->version, limit);
	}
	if (sp_rule_alt_has_cond(u->rule, u->ch.alt)) {
		/* No loop: with the new version, the choosing condition must fail. */
		TRY(sp_macros_set(&u->m, SP_M_SWVER, sp_slice_of(h->version)));
		TRY(sp_rule_alt_holds(u->rule, u->ch.alt, &u->m, &holds));
		TRY(sp_macros_set(&u->m, SP_M_SWVER, sp_slice_of(u->d.id.swver)));
		ENSURE(!holds, SP_E_POLICY, "the image's version %s still satisfies the condition "
		    "that chose it (alternative %d of %s): refused, so the rule cannot loop",
		    h->version, u->ch.alt + 1, u->name);
	}
out:
	return res;
}

/*
 * Software_Version in device.conf becomes v: the line is replaced in place
 * (comments and order kept), or added; the file is replaced atomically.
 */
static sp_result
set_swver(upg *u, const char *v)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	sp_buf in, outb;
	size_t pos = 0;
	bool done = false;

	sp_buf_init(&in, SP_DEVCONF_MAX);
	sp_buf_init(&outb, SP_DEVCONF_MAX + 64);
	TRY(sp_device_path(&u->d, SP_DEV_CONF, path));
	TRY(sp_read_file_secret(path, SP_DEVCONF_MAX, &in));
	sp_buf_mark_secret(&outb);
	while (pos < in.len) {
		sp_slice rest = sp_slice_mk(in.p + pos, in.len - pos);
		size_t nl = sp_slice_find(rest, '\n');
		sp_slice line = sp_slice_mk(rest.p, nl < rest.len ? nl + 1 : nl);
		sp_slice t = sp_slice_trim(line);
		size_t eq = sp_slice_find(t, '=');
		pos += line.len;
		if (eq < t.len && sp_slice_eq_cstr(sp_slice_trim(sp_slice_mk(t.p, eq)),
		    "Software_Version")) {
			if (!done)
				TRY(sp_buf_printf(&outb, "Software_Version = %s\n", v));
			done = true;  /* later duplicates would win: drop them */
			continue;
		}
		TRY(sp_buf_append(&outb, line.p, line.len));
	}
	if (!done) {
		if (outb.len && outb.p[outb.len - 1] != '\n')
			TRY(sp_buf_append_byte(&outb, '\n'));
		TRY(sp_buf_printf(&outb, "Software_Version = %s\n", v));
	}
	TRY(sp_write_file(path, outb.p, outb.len, 0600, 0));
	snprintf(u->d.id.swver, sizeof(u->d.id.swver), "%s", v);
out:
	sp_buf_free_secret(&in);
	sp_buf_free_secret(&outb);
	return res;
}

/* Fetch into a temporary file, verify, judge, flash. */
static sp_result
fetch_and_flash(upg *u, const char *dns)
{
	sp_result res = SP_OK;
	sp_upgrade_outcome *out = u->out;
	sp_fetch_opts fo;
	sp_fetch_result fr;
	sp_fw_header h;
	sink s = { -1, "" };
	EVP_PKEY *pub = NULL;
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], img[PATH_MAX], ua[SP_UA_MAX];
	char warn[400];
	sp_pin pin;

	sp_fetch_result_init(&fr);
	out->attempted = true;
	TRY(sp_url_https(&u->target, out->url));
	TRY(sp_resync_pin(&u->d, &pin, true));
	if (sp_resync_ip_warning(&u->target, &pin, warn, sizeof(warn)))
		sp_warn("%s: %s", u->name, warn);
	/* The key first: no download without a way to check it. */
	TRY(firmware_key(u, &pub));
	TRY(sp_device_path(&u->d, SP_DEV_SERVER_CA, ca));
	TRY(sp_device_path(&u->d, SP_DEV_CLIENT_CRT, crt));
	TRY(sp_device_path(&u->d, SP_DEV_CLIENT_KEY, key));
	TRY(sp_device_path(&u->d, SP_DEV_FIRMWARE, img));
	TRY(sp_device_path(&u->d, SP_DEV_FIRMWARE ".tmp.XXXXXX", s.path));
	s.fd = mkstemp(s.path);
	ENSURE(s.fd >= 0, SP_E_IO, "%s: %s", s.path, strerror(errno));
	sp_device_user_agent(&u->d, ua, sizeof(ua));
	memset(&fo, 0, sizeof(fo));
	fo.cafile = ca;
	fo.certfile = crt;
	fo.keyfile = key;
	fo.dns_servers = dns;
	fo.user_agent = ua;
	fo.body_max = SP_UPGRADE_DOWNLOAD_MAX;
	fo.cancel = u->o->cancel;
	fo.pin = &pin;
	fo.sink = sink_write;
	fo.sink_arg = &s;
	fo.on_connect = on_connect;
	fo.on_connect_arg = u;
	if (u->ch.has_uid)
		fo.uid = sp_buf_cstr(&u->ch.uid);
	if (u->ch.has_pwd)
		fo.pwd = sp_buf_cstr(&u->ch.pwd);
	res = sp_fetch(&u->target, &fo, &fr);
	snprintf(out->server, sizeof(out->server), "%s", fr.url.host);
	snprintf(out->address, sizeof(out->address), "%s", fr.address);
	out->port = fr.url.port;
	out->status = fr.status;
	out->failed_check = fr.failed_check;
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "http_get failed");
		goto out;
	}
	ENSURE(fr.status == 200, SP_E_NET, "http_get failed: HTTP %ld%s", fr.status,
	    fr.status == 404 ? " (file not found)" : "");
	ENSURE(fsync(s.fd) == 0, SP_E_IO, "%s: fsync: %s", s.path, strerror(errno));
	memset(&h, 0, sizeof(h));
	res = sp_fw_verify_file(s.path, pub, &h);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "image refused");
		goto out;
	}
	snprintf(out->product, sizeof(out->product), "%s", h.product);
	snprintf(out->version, sizeof(out->version), "%s", h.version);
	res = judge_image(u, &h);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "image refused");
		goto out;
	}
	/* Flash: the verified container takes firmware.img's name at once. */
	ENSURE(fchmod(s.fd, 0644) == 0, SP_E_IO, "%s: %s", s.path, strerror(errno));
	ENSURE(rename(s.path, img) == 0, SP_E_IO, "%s: rename: %s", img, strerror(errno));
	s.path[0] = '\0';
	TRY(sp_fsync_dir(u->d.dir));
	TRY(set_swver(u, h.version));
	out->upgraded = true;
out:
	if (s.fd >= 0)
		close(s.fd);
	if (s.path[0] != '\0' && s.fd >= 0)
		(void)unlink(s.path);
	EVP_PKEY_free(pub);
	sp_fetch_result_free(&fr);
	return res;
}

static void
finish(upg *u, int64_t now, bool remember)
{
	sp_upgrade_outcome *out = u->out;
	char num[32];

	if (sp_failed(sp_macros_set(&u->m, SP_M_ERR, sp_slice_of(out->err))))
		sp_error_clear();
	if (out->attempted)
		sp_resync_log(&u->eff, out->ok ? "Log_Upgrade_Success_Msg" :
		    "Log_Upgrade_Failure_Msg", out->ok ? DEFAULT_SUCCESS_MSG : DEFAULT_FAILURE_MSG,
		    &u->m, out->ok ? SP_LOG_INFO : SP_LOG_ERR, u->has_remote ? &u->remote : NULL);
	if (!out->attempted && !remember)
		return;
	snprintf(num, sizeof(num), "%lld", (long long)now);
	if ((remember && sp_failed(sp_params_set_cstr(&u->d.state, ST_DONE_RULE, u->digest,
	    SP_ACCESS_UNSET))) ||
	    sp_failed(sp_params_set_cstr(&u->d.state, ST_RESULT, out->ok ? "ok" : "fail",
	    SP_ACCESS_UNSET)) ||
	    sp_failed(sp_params_set_cstr(&u->d.state, ST_ATTEMPT, num, SP_ACCESS_UNSET)) ||
	    sp_failed(sp_params_set_cstr(&u->d.state, ST_ERROR, out->ok ? "" : out->err,
	    SP_ACCESS_UNSET)) ||
	    (out->upgraded && sp_failed(sp_params_set_cstr(&u->d.state, ST_SUCCESS, num,
	    SP_ACCESS_UNSET))) ||
	    sp_failed(sp_device_save_state(&u->d)))
		sp_warn("state file not saved: %s", sp_errmsg());
}

sp_result
sp_upgrade(const char *dir, const sp_upgrade_opts *o, sp_upgrade_outcome *out)
{
	sp_result res = SP_OK;
	upg u;
	sp_buf dns;
	int64_t now = o->now ? o->now : sp_now(), delay = SP_UPGRADE_RETRY_DEFAULT;
	bool once = false;

	upg_init(&u, o, out);
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	out->ok = false;
	TRY(sp_fetch_global_init());
	TRY(prepare(&u, dir, o->rule, now, true));
	snprintf(out->from, sizeof(out->from), "%s", u.d.id.swver);
	snprintf(out->rule, sizeof(out->rule), "%s", u.name);
	TRY(sp_parse_i64(sp_params_value(&u.eff, "Upgrade_Error_Retry_Delay", "3600"), 0,
	    SP_SCHED_SECONDS_MAX, "Upgrade_Error_Retry_Delay", &delay));
	TRY(sp_resync_dns_servers(o->dns_servers, &u.eff, &dns));
	if (*sp_params_value(&u.eff, "Syslog_Server", "") != '\0') {
		TRY(sp_rsyslog_parse(sp_slice_of(sp_params_value(&u.eff, "Syslog_Server", "")),
		    &u.remote));
		u.has_remote = true;
	}
	if (u.rule == NULL) {
		snprintf(out->err, sizeof(out->err), "no upgrade rule is set");
	} else if (u.ch.alt < 0 || !u.ch.has_url) {
		snprintf(out->err, sizeof(out->err), "no upgrade: %s",
		    u.ch.alt < 0 ? "no condition holds" : "the chosen alternative has no URL");
	} else if (strcmp(sp_params_value(&u.d.state, ST_DONE_RULE, ""), u.digest) == 0) {
		snprintf(out->err, sizeof(out->err), "no upgrade: this %s was tried already; "
		    "it is tried again when its text changes", u.name);
	} else {
		once = !sp_rule_alt_has_cond(u.rule, u.ch.alt);
		res = fetch_and_flash(&u, dns.len ? sp_buf_cstr(&dns) : NULL);
		if (sp_failed(res))
			goto out;
		snprintf(out->err, sizeof(out->err), "%s %s flashed (was %s)", out->product,
		    out->version, out->from);
	}
	out->ok = true;
out:
	if (!out->ok) {
		sp_resync_clean_copy(out->err, sizeof(out->err), sp_errmsg());
		out->retry_delay = delay > 0 ? delay : -1;
	}
	if (u.loaded)
		/* Once for an unconditional URL; for good after a failure when 0. */
		finish(&u, now, once || (!out->ok && out->attempted && delay == 0));
	if (!out->ok)
		res = sp_error(sp_failed(res) ? res.code : SP_E_NET, "%s", out->err);
	upg_free(&u);
	sp_buf_free(&dns);
	return res;
}

sp_result
sp_upgrade_json(const sp_upgrade_outcome *o, sp_buf *out)
{
	sp_result res = SP_OK;

	TRY(sp_resync_json_fetch(out, o->ok, o->failed_check, o->err, o->rule, o->url,
	    o->server, o->address, o->port, o->status));
	TRY(sp_buf_printf(out, ",\"upgraded\":%s,\"from\":", o->upgraded ? "true" : "false"));
	TRY(sp_json_cstr(out, o->from));
	TRY(sp_buf_append_str(out, ",\"product\":"));
	TRY(sp_json_cstr(out, o->product));
	TRY(sp_buf_append_str(out, ",\"version\":"));
	TRY(sp_json_cstr(out, o->version));
	TRY(sp_buf_printf(out, ",\"retry_delay\":%lld}\n", (long long)o->retry_delay));
out:
	return res;
}

sp_result
sp_upgrade_describe(const char *dir, const char *rule_text, sp_buf *out)
{
	sp_result res = SP_OK;
	sp_upgrade_outcome dummy;
	sp_upgrade_opts o;
	upg u;
	bool enabled = true;

	memset(&o, 0, sizeof(o));
	sp_upgrade_outcome_init(&dummy);
	upg_init(&u, &o, &dummy);
	res = prepare(&u, dir, rule_text, sp_now(), false);
	if (sp_failed(res) && u.rule == NULL)
		goto out;
	TRY(sp_buf_printf(out, "%s:\n", u.name));
	if (u.rule == NULL) {
		TRY(sp_buf_append_str(out, "no upgrade rule is set\n"));
		goto out;
	}
	if (sp_failed(res)) {
		/* The selection is shown, then why the upgrade would fail. */
		char why[SP_ERRTEXT_MAX];
		sp_resync_clean_copy(why, sizeof(why), sp_errmsg());
		res = SP_OK;
		TRY(sp_rule_describe(u.rule, &u.ch, &u.m, out));
		TRY(sp_buf_printf(out, "warning: an upgrade fails: %s\n", why));
		goto out;
	}
	TRY(sp_rule_describe(u.rule, &u.ch, &u.m, out));
	if (u.ch.alt < 0 || !u.ch.has_url)
		goto out;
	if (u.ch.target.host[0] == '\0' && u.target.host[0] != '\0')
		TRY(sp_buf_printf(out, "server: %s port %u, from Profile_Rule\n", u.target.host,
		    (unsigned)u.target.port));
	if (sp_failed(sp_url_https(&u.target, NULL))) {
		TRY(sp_buf_printf(out, "warning: an upgrade refuses this URL: %s\n", sp_errmsg()));
		sp_error_clear();
	}
	TRY(sp_buf_printf(out, "no loop: %s\n", sp_rule_alt_has_cond(u.rule, u.ch.alt) ?
	    "the image's version must no longer satisfy the condition" :
	    "no condition: the URL is tried once until the rule text changes"));
	if (strcmp(sp_params_value(&u.d.state, ST_DONE_RULE, ""), u.digest) == 0)
		TRY(sp_buf_append_str(out, "state: tried already; not tried again until the "
		    "rule text changes\n"));
	if (sp_ok(sp_param_bool(sp_params_value(&u.eff, "Upgrade_Enable", "Yes"),
	    "Upgrade_Enable", &enabled)) && !enabled)
		TRY(sp_buf_append_str(out, "warning: Upgrade_Enable = No: no upgrade runs\n"));
	sp_error_clear();
out:
	upg_free(&u);
	return res;
}

bool
sp_upgrade_enabled(const char *dir)
{
	sp_device d;
	sp_params eff;
	bool on = false;

	sp_device_init_empty(&d);
	sp_params_init(&eff);
	if (sp_failed(sp_device_load(dir, &d)) || sp_failed(sp_device_effective(&d, &eff)) ||
	    sp_failed(sp_param_bool(sp_params_value(&eff, "Upgrade_Enable", "Yes"),
	    "Upgrade_Enable", &on)))
		on = false;
	sp_error_clear();
	sp_device_free(&d);
	sp_params_free(&eff);
	return on;
}
