#include "device/resync.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "common/text.h"
#include "common/log.h"
#include "common/util.h"
#include "device/dns.h"
#include "device/rsyslog.h"
#include "profile/profile.h"

#define DEFAULT_REQUEST_MSG "$PN $MAC -- Requesting resync $SCHEME://$SERVIP:$PORT$PATH"
#define DEFAULT_SUCCESS_MSG "$PN $MAC -- Successful resync $SCHEME://$SERVIP:$PORT$PATH -- $ERR"
#define DEFAULT_FAILURE_MSG "$PN $MAC -- Resync failed: $ERR"
#define SP_UA_MAX 256

static const char *const rule_names[SP_RESYNC_RULES] = {
	"Profile_Rule", "Profile_Rule_B", "Profile_Rule_C", "Profile_Rule_D",
};

void
sp_resync_outcome_init(sp_resync_outcome *o)
{
	memset(o, 0, sizeof(*o));
	sp_buf_init(&o->changed, SP_PARAMS_MAX * (SP_PARAM_NAME_MAX + 1));
}

void
sp_resync_outcome_free(sp_resync_outcome *o)
{
	sp_buf_free(&o->changed);
}

/* Copy text into a fixed buffer with control bytes made visible as '?'. */
static void
clean_copy(char *dst, size_t dstsz, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < dstsz; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
}

sp_result
sp_resync_macros(const sp_device *d, const sp_params *eff, int prvst, int64_t now,
    sp_macros *m)
{
	sp_result res = SP_OK;
	char mac[SP_MAC_STRLEN], num[32];
	const char *last;
	int64_t t;

	sp_mac_format(&d->id.mac, SP_MAC_MA, mac);
	TRY(sp_macros_set(m, SP_M_MA, sp_slice_of(mac)));
	sp_mac_format(&d->id.mac, SP_MAC_MAU, mac);
	TRY(sp_macros_set(m, SP_M_MAU, sp_slice_of(mac)));
	sp_mac_format(&d->id.mac, SP_MAC_MAC, mac);
	TRY(sp_macros_set(m, SP_M_MAC, sp_slice_of(mac)));
	TRY(sp_macros_set(m, SP_M_PN, sp_slice_of(d->id.product)));
	TRY(sp_macros_set(m, SP_M_PSN, sp_slice_of(d->id.series)));
	TRY(sp_macros_set(m, SP_M_SN, sp_slice_of(d->id.serial)));
	TRY(sp_macros_set(m, SP_M_SWVER, sp_slice_of(d->id.swver)));
	TRY(sp_macros_set(m, SP_M_HWVER, sp_slice_of(d->id.hwver)));
	/* A device directory always holds its own unique certificate. */
	TRY(sp_macros_set(m, SP_M_CCERT, SP_SLICE_LIT("Installed")));
	snprintf(num, sizeof(num), "%d", prvst);
	TRY(sp_macros_set(m, SP_M_PRVST, sp_slice_of(num)));
	last = sp_params_value(&d->state, "Last_Success", NULL);
	if (last != NULL && sp_ok(sp_parse_i64(last, 0, INT64_MAX, "Last_Success", &t)) &&
	    now >= t) {
		snprintf(num, sizeof(num), "%lld", (long long)(now - t));
		TRY(sp_macros_set(m, SP_M_PRVTMR, sp_slice_of(num)));
	}
	sp_error_clear();
	TRY(sp_macros_set(m, SP_M_ERR, sp_slice_of(sp_params_value(&d->state, "Last_Error", ""))));
	TRY(sp_macros_set(m, SP_M_UID1, sp_slice_of(sp_params_value(eff, "User_ID_1_", ""))));
	TRY(sp_macros_set(m, SP_M_UID2, sp_slice_of(sp_params_value(eff, "User_ID_2_", ""))));
	TRY(sp_macros_load_gpp(m, eff));
out:
	return res;
}

static void
log_template(const sp_params *eff, const char *name, const char *dflt, const sp_macros *m,
    sp_log_level lvl, sp_rsyslog *remote)
{
	sp_buf line;
	char clean[SP_LOG_LINE_MAX];

	sp_buf_init(&line, SP_MACRO_OUT_MAX);
	/* No SP_MACRO_SECRET: $SA..$SD stay as written in a log line. */
	if (sp_ok(sp_macro_expand(sp_slice_of(sp_params_value(eff, name, dflt)), m, 0, &line))) {
		clean_copy(clean, sizeof(clean), sp_buf_cstr(&line));
		sp_log(lvl, "%s", clean);
		if (remote != NULL)
			sp_rsyslog_send(remote, lvl == SP_LOG_ERR ? LOG_ERR : LOG_INFO, clean);
	} else {
		sp_log(SP_LOG_WARN, "%s cannot be expanded: %s", name, sp_errmsg());
	}
	sp_buf_free(&line);
}

typedef struct round_ctx {
	const sp_params *eff;
	sp_macros *m;
	sp_rsyslog *remote;
} round_ctx;

static void
on_connect(void *arg, const sp_fetch_result *r)
{
	round_ctx *rc = arg;

	/* The URL may be a redirect's: describe what is contacted now. */
	if (sp_ok(sp_macros_set(rc->m, SP_M_SERVIP, sp_slice_of(r->address))) &&
	    sp_ok(sp_macros_set_url(rc->m, &r->url)))
		log_template(rc->eff, "Log_Resync_Request_Msg", DEFAULT_REQUEST_MSG, rc->m,
		    SP_LOG_INFO, rc->remote);
}

static sp_result
dns_servers(const sp_resync_opts *o, const sp_params *eff, sp_buf *csv)
{
	sp_result res = SP_OK;
	const char *names[] = { "Primary_DNS", "Secondary_DNS" };

	if (o->dns_servers != NULL) {
		TRY(sp_buf_append_str(csv, o->dns_servers));
		goto out;
	}
	for (size_t i = 0; i < SP_ARRAY_LEN(names); i++) {
		const char *v = sp_params_value(eff, names[i], "");
		if (*v == '\0')
			continue;
		res = sp_dns_server_add(csv, sp_slice_of(v));
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s", names[i]);
			goto out;
		}
	}
out:
	return res;
}

/* Names whose value or access differ between old and new (new only adds). */
static sp_result
diff_names(const sp_params *old, const sp_params *new, sp_resync_outcome *out)
{
	sp_result res = SP_OK;

	for (size_t i = 0; i < new->n; i++) {
		const sp_param *p = &new->v[i], *q = sp_params_get(old, p->name);
		if (q != NULL && q->value_len == p->value_len && q->access == p->access &&
		    memcmp(q->value, p->value, p->value_len) == 0)
			continue;
		TRY(sp_buf_printf(&out->changed, "%s\n", p->name));
		out->n_changed++;
	}
out:
	return res;
}

typedef struct round {
	const sp_resync_opts *o;
	sp_device *d;
	const sp_params *eff;
	sp_params *work;      /* the store being built */
	sp_params *state;     /* the state file being built */
	sp_macros *m;
	const char *dns;
	const char *ua;
	char ca[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
	bool fnf_fails;
	sp_rsyslog *remote;   /* Syslog_Server, NULL: none */
	sp_pin pin;           /* Provision_Domain in force */
	sp_resync_outcome *out;
} round;

/*
 * Finding 10: an IP-literal URL host names no server, so any server
 * certificate of the vendor whose FQDN resolves to that address passes
 * checks 3 and 4.  The text of the warning, or false for a host name.
 */
static bool
ip_host_warning(const sp_url *u, const sp_pin *pin, char *out, size_t outsz)
{
	sp_ipaddr ip;
	char list[256];

	if (!sp_ipaddr_parse(sp_slice_of(u->host), &ip))
		return false;
	sp_pin_format(pin, list, sizeof(list));
	if (pin->n == 0)
		snprintf(out, outsz, "the URL host %s is an IP address: any server certificate "
		    "of the vendor whose FQDN resolves to it is accepted; set " SP_PIN_PARAM
		    " to pin the server's domain", u->host);
	else
		snprintf(out, outsz, "the URL host %s is an IP address: only " SP_PIN_PARAM
		    " (%s) limits which server certificate of the vendor is accepted",
		    u->host, list);
	return true;
}

/* The pin in force for d: device.conf's, narrowed by a profile's. */
static sp_result
device_pin(const sp_device *d, sp_pin *pin, bool warn)
{
	sp_result res = SP_OK;
	const sp_param *p = sp_params_get(&d->store, SP_PIN_PARAM);
	char prof[SP_PARAM_VALUE_MAX + 1];
	bool ignored = false;

	if (p != NULL)
		snprintf(prof, sizeof(prof), "%.*s", (int)p->value_len, p->value);
	TRY(sp_pin_effective(sp_params_value(&d->conf, SP_PIN_PARAM, ""), p ? prof : NULL,
	    pin, &ignored));
	if (ignored && warn)
		sp_warn(SP_PIN_PARAM ": the profile's value is ignored (it does not parse, or "
		    "would widen device.conf's pin); device.conf's stays in force");
out:
	return res;
}

/* The device's side of every fetch of the round: its files, DNS, name. */
static void
fetch_opts(const round *rd, size_t body_max, sp_fetch_opts *fo)
{
	memset(fo, 0, sizeof(*fo));
	fo->cafile = rd->ca;
	fo->certfile = rd->crt;
	fo->keyfile = rd->key;
	fo->dns_servers = rd->dns;
	fo->user_agent = rd->ua;
	fo->body_max = body_max;
	fo->cancel = rd->o->cancel;
	fo->pin = &rd->pin;
}

static void
set_err(round *rd, const char *prefix, const char *msg)
{
	char tmp[SP_ERRTEXT_MAX];

	snprintf(tmp, sizeof(tmp), "%s%s", prefix, msg);
	clean_copy(rd->out->err, sizeof(rd->out->err), tmp);
}

static sp_result
run_rule(round *rd, size_t slot, const char *name, const char *text)
{
	sp_result res = SP_OK;
	sp_rule *rule = NULL;
	sp_rule_choice ch;
	sp_fetch_result fr;
	sp_fetch_opts fo;
	sp_params prof;
	sp_buf post;
	char url[SP_URL_MAX + 1], k_url[32], k_etag[32], prefix[32], warn[400];
	const char *method = "http_get";
	round_ctx rc = { rd->eff, rd->m, rd->remote };

	sp_rule_choice_init(&ch);
	sp_fetch_result_init(&fr);
	sp_params_init(&prof);
	sp_buf_init(&post, SP_MACRO_OUT_MAX);
	snprintf(rd->out->rule, sizeof(rd->out->rule), "%s", name);
	/* This rule's outcome only: never report a previous rule's result. */
	rd->out->err[0] = rd->out->url[0] = rd->out->server[0] = '\0';
	rd->out->address[0] = rd->out->etag[0] = '\0';
	rd->out->port = 0;
	rd->out->status = 0;
	rd->out->failed_check = SP_CHECK_NONE;
	snprintf(prefix, sizeof(prefix), "%s: ", name);
	res = sp_rule_parse(sp_slice_of(text), &rule);
	if (sp_ok(res))
		res = sp_rule_select(rule, rd->m, &ch);
	if (sp_failed(res)) {
		set_err(rd, prefix, sp_errmsg());
		goto out;
	}
	for (size_t i = 0; i < ch.n_assign; i++)
		TRY(sp_params_set(rd->work, sp_slice_of(ch.assign[i].name),
		    sp_slice_mk(ch.assign[i].value.p, ch.assign[i].value.len), SP_ACCESS_UNSET));
	if (ch.alt < 0 || !ch.has_url)
		goto out; /* nothing to fetch */
	res = sp_url_https(&ch.target, url);
	if (sp_failed(res)) {
		set_err(rd, prefix, sp_errmsg());
		goto out;
	}
	snprintf(rd->out->url, sizeof(rd->out->url), "%s", url);
	if (ip_host_warning(&ch.target, &rd->pin, warn, sizeof(warn)))
		sp_warn("%s: %s", name, warn);
	snprintf(k_url, sizeof(k_url), "ETag_URL_%zu", slot + 1);
	snprintf(k_etag, sizeof(k_etag), "ETag_%zu", slot + 1);

	fetch_opts(rd, SP_PROFILE_MAX, &fo);
	fo.on_connect = on_connect;
	fo.on_connect_arg = &rc;
	if (strcmp(sp_params_value(rd->state, k_url, ""), url) == 0 &&
	    *sp_params_value(rd->state, k_etag, "") != '\0')
		fo.if_none_match = sp_params_value(rd->state, k_etag, "");
	if (ch.has_uid)
		fo.uid = sp_buf_cstr(&ch.uid);
	if (ch.has_pwd)
		fo.pwd = sp_buf_cstr(&ch.pwd);
	if (ch.post) {
		sp_slice v = sp_macros_get(rd->m, (sp_macro_id)(SP_M_A + (ch.post - 'a')));
		TRY(sp_macro_expand(v, rd->m, 0, &post));
		fo.is_post = true;
		fo.post = post.p;
		fo.post_len = post.len;
		fo.content_type = "text/plain; charset=utf-8";
		method = "http_post";
	}

	res = sp_fetch(&ch.target, &fo, &fr);
	snprintf(rd->out->server, sizeof(rd->out->server), "%s", fr.url.host);
	snprintf(rd->out->address, sizeof(rd->out->address), "%s", fr.address);
	snprintf(rd->out->etag, sizeof(rd->out->etag), "%s", fr.etag);
	rd->out->port = fr.url.port;
	rd->out->status = fr.status;
	rd->out->failed_check = fr.failed_check;
	if (sp_failed(res)) {
		char pre[32];
		snprintf(pre, sizeof(pre), "%s failed: ", method);
		set_err(rd, pre, sp_errmsg());
		goto out;
	}
	if (fr.local[0])
		TRY(sp_macros_set(rd->m, SP_M_IP, sp_slice_of(fr.local)));
	if (fr.status == 200) {
		res = sp_profile_decode(sp_slice_mk(fr.body.p ? fr.body.p : "", fr.body.len),
		    ch.has_key ? sp_buf_cstr(&ch.key) : NULL, &prof);
		if (sp_failed(res)) {
			set_err(rd, "profile decode failed: ", sp_errmsg());
			goto out;
		}
		TRY(sp_params_merge(rd->work, &prof));
		TRY(sp_params_set_cstr(rd->state, k_url, url, SP_ACCESS_UNSET));
		TRY(sp_params_set_cstr(rd->state, k_etag, fr.etag, SP_ACCESS_UNSET));
		snprintf(rd->out->err, sizeof(rd->out->err), "HTTP 200, %zu parameters", prof.n);
	} else if (fr.status == 304) {
		snprintf(rd->out->err, sizeof(rd->out->err), "HTTP 304, not modified");
	} else if (fr.status == 404 && !rd->fnf_fails) {
		snprintf(rd->out->err, sizeof(rd->out->err),
		    "HTTP 404, ignored (Resync_Fails_On_FNF = No)");
	} else {
		char msg[64];
		snprintf(msg, sizeof(msg), "HTTP %ld%s", fr.status,
		    fr.status == 404 ? " (file not found)" :
		    (fr.status == 301 || fr.status == 302) ? " without a Location" : "");
		set_err(rd, method[5] == 'p' ? "http_post failed: " : "http_get failed: ", msg);
		res = sp_error(SP_E_NET, "%s", rd->out->err);
	}
out:
	sp_rule_free(rule);
	sp_rule_choice_free(&ch);
	sp_fetch_result_free(&fr);
	sp_params_free(&prof);
	sp_buf_free_secret(&post);
	return res;
}

static void
report(round *rd)
{
	sp_rule *rule = NULL;
	sp_rule_choice ch;
	sp_fetch_result fr;
	sp_fetch_opts fo;
	sp_params eff;
	sp_buf xml;
	const char *text = sp_params_value(rd->eff, "Report_Rule", "");

	sp_rule_choice_init(&ch);
	sp_fetch_result_init(&fr);
	sp_params_init(&eff);
	sp_buf_init(&xml, SP_PROFILE_MAX_STORE);
	if (*text == '\0')
		goto out;
	if (sp_failed(sp_rule_parse(sp_slice_of(text), &rule)) ||
	    sp_failed(sp_rule_select(rule, rd->m, &ch)) || sp_failed(sp_url_https(&ch.target, NULL)) ||
	    sp_failed(sp_device_effective(rd->d, &eff)) || sp_failed(sp_profile_render(&eff, &xml))) {
		sp_warn("Report_Rule: %s", sp_errmsg());
		goto out;
	}
	if (ch.alt < 0 || !ch.has_url)
		goto out;
	if (ch.has_key) {
		/* XXX: encrypted reports are not implemented; never send them in clear. */
		sp_warn("Report_Rule: --key is not supported for reports; report not sent");
		goto out;
	}
	fetch_opts(rd, SP_REPORT_RESPONSE_MAX, &fo);
	fo.is_post = true;
	fo.post = xml.p;
	fo.post_len = xml.len;
	fo.content_type = "application/xml";
	if (sp_failed(sp_fetch(&ch.target, &fo, &fr)))
		sp_warn("report to %s failed: %s", fr.url.host, sp_errmsg());
	else if (fr.status < 200 || fr.status > 299)
		sp_warn("report to %s failed: HTTP %ld", fr.url.host, fr.status);
	else {
		sp_info("report sent to %s: HTTP %ld", fr.url.host, fr.status);
		rd->out->report_sent = true;
	}
out:
	sp_rule_free(rule);
	sp_rule_choice_free(&ch);
	sp_fetch_result_free(&fr);
	sp_params_free(&eff);
	sp_buf_free_secret(&xml);
}

/*
 * Log the outcome and write the state file.  new_state: the round's state
 * (new ETags) after a success; NULL after a failure, when only the
 * bookkeeping of the old state changes.
 */
static void
finish_round(round *rd, sp_device *d, sp_params *new_state, int64_t now)
{
	sp_resync_outcome *out = rd->out;
	sp_params st;
	char num[32];

	sp_params_init(&st);
	if (sp_failed(sp_macros_set(rd->m, SP_M_ERR, sp_slice_of(out->err))))
		sp_error_clear();
	log_template(rd->eff, out->ok ? "Log_Resync_Success_Msg" : "Log_Resync_Failure_Msg",
	    out->ok ? DEFAULT_SUCCESS_MSG : DEFAULT_FAILURE_MSG, rd->m,
	    out->ok ? SP_LOG_INFO : SP_LOG_ERR, rd->remote);
	snprintf(num, sizeof(num), "%lld", (long long)now);
	if (sp_failed(sp_params_copy(&st, new_state ? new_state : &d->state)) ||
	    sp_failed(sp_params_set_cstr(&st, "Last_Result", out->ok ? "ok" : "fail",
	    SP_ACCESS_UNSET)) ||
	    sp_failed(sp_params_set_cstr(&st, "Last_Attempt", num, SP_ACCESS_UNSET)) ||
	    sp_failed(sp_params_set_cstr(&st, "Last_Error", out->ok ? "" : out->err,
	    SP_ACCESS_UNSET)) ||
	    (out->ok && sp_failed(sp_params_set_cstr(&st, "Last_Success", num,
	    SP_ACCESS_UNSET)))) {
		sp_warn("state file not updated: %s", sp_errmsg());
		goto out;
	}
	sp_params_free(&d->state);
	d->state = st;
	sp_params_init(&st);
	if (sp_failed(sp_device_save_state(d)))
		sp_warn("state file not saved: %s", sp_errmsg());
out:
	sp_params_free(&st);
}

sp_result
sp_resync(const char *dir, const sp_resync_opts *o, sp_resync_outcome *out)
{
	sp_result res = SP_OK;
	sp_device d;
	sp_params eff, work, state;
	sp_macros m;
	sp_buf dns;
	sp_rsyslog remote;
	char ua[SP_UA_MAX], mau[SP_MAC_STRLEN];
	int64_t now = o->now ? o->now : sp_now();
	bool enabled = true, loaded = false, ran = false;
	round rd;

	sp_device_init_empty(&d);
	sp_params_init(&eff);
	sp_params_init(&work);
	sp_params_init(&state);
	sp_macros_init(&m);
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	memset(&rd, 0, sizeof(rd));
	memset(&remote, 0, sizeof(remote));
	remote.fd = -1;
	rd.o = o;
	rd.d = &d;
	rd.eff = &eff;
	rd.work = &work;
	rd.state = &state;
	rd.m = &m;
	rd.out = out;
	rd.ua = ua;
	ua[0] = '\0';
	out->ok = false;
	TRY(sp_fetch_global_init());
	TRY(sp_device_load(dir, &d));
	loaded = true;
	TRY(sp_device_effective(&d, &eff));
	TRY(sp_params_copy(&work, &d.store));
	TRY(sp_params_copy(&state, &d.state));
	TRY(sp_resync_macros(&d, &eff, o->prvst, now, &m));
	TRY(sp_param_bool(sp_params_value(&eff, "Provision_Enable", "Yes"), "Provision_Enable",
	    &enabled));
	TRY(sp_device_path(&d, SP_DEV_SERVER_CA, rd.ca));
	TRY(sp_device_path(&d, SP_DEV_CLIENT_CRT, rd.crt));
	TRY(sp_device_path(&d, SP_DEV_CLIENT_KEY, rd.key));
	TRY(sp_param_bool(sp_params_value(&eff, "Resync_Fails_On_FNF", "Yes"),
	    "Resync_Fails_On_FNF", &rd.fnf_fails));
	TRY(dns_servers(o, &eff, &dns));
	TRY(device_pin(&d, &rd.pin, true));
	if (*sp_params_value(&eff, "Syslog_Server", "") != '\0') {
		TRY(sp_rsyslog_parse(sp_slice_of(sp_params_value(&eff, "Syslog_Server", "")),
		    &remote));
		rd.remote = &remote;
	}
	rd.dns = dns.len ? sp_buf_cstr(&dns) : NULL;
	sp_mac_format(&d.id.mac, SP_MAC_MAU, mau);
	/* The guides' User-Agent: Vendor/PN-SWVER (MAC)(SN). */
	snprintf(ua, sizeof(ua), "Sprov/%s-%s (%s)(%s)", d.id.product, d.id.swver, mau,
	    d.id.serial);
	ENSURE(enabled, SP_E_STATE, "provisioning is disabled (Provision_Enable = No)");

	for (size_t i = 0; i < SP_RESYNC_RULES; i++) {
		const char *name = o->rule ? "--rule" : rule_names[i];
		const char *text = o->rule ? o->rule : sp_params_value(&eff, rule_names[i], "");
		if (sp_slice_trim(sp_slice_of(text)).len == 0)
			continue;
		ran = true;
		res = run_rule(&rd, i, name, text);
		if (sp_failed(res))
			break;
		if (o->rule)
			break;
	}
	if (sp_failed(res))
		goto out;
	if (!ran)
		snprintf(out->err, sizeof(out->err), "no profile rule is set");
	else if (out->err[0] == '\0')
		snprintf(out->err, sizeof(out->err), "nothing to fetch");
	/* Every rule of the round succeeded: apply it, all or nothing. */
	res = diff_names(&d.store, &work, out);
	if (sp_ok(res) && out->n_changed > 0)
		res = sp_device_apply(&d, &work);
	if (sp_failed(res)) {
		set_err(&rd, "apply failed: ", sp_errmsg());
		goto out;
	}
	out->ok = true;
out:
	if (!loaded) {
		clean_copy(out->err, sizeof(out->err), sp_errmsg());
	} else {
		if (!out->ok && out->err[0] == '\0')
			clean_copy(out->err, sizeof(out->err), sp_errmsg());
		finish_round(&rd, &d, out->ok ? &state : NULL, now);
		if (out->ok && o->report)
			report(&rd);
		if (!out->ok)
			res = sp_error(sp_failed(res) ? res.code : SP_E_NET, "%s", out->err);
	}
	sp_device_free(&d);
	sp_params_free(&eff);
	sp_params_free(&work);
	sp_params_free(&state);
	sp_macros_free(&m);
	sp_buf_free(&dns);
	sp_rsyslog_close(&remote);
	return res;
}

sp_result
sp_resync_json(const sp_resync_outcome *o, sp_buf *out)
{
	sp_result res = SP_OK;
	const char *p = sp_buf_cstr(&o->changed);
	bool first = true;

	TRY(sp_buf_printf(out, "{\"ok\":%s,\"check\":", o->ok ? "true" : "false"));
	if (o->failed_check == SP_CHECK_NONE)
		TRY(sp_buf_append_str(out, "null"));
	else
		TRY(sp_json_cstr(out, sp_srvcheck_name(o->failed_check)));
	TRY(sp_buf_append_str(out, ",\"error\":"));
	TRY(sp_json_cstr(out, o->ok ? "" : o->err));
	TRY(sp_buf_append_str(out, ",\"result\":"));
	TRY(sp_json_cstr(out, o->err));
	TRY(sp_buf_append_str(out, ",\"rule\":"));
	TRY(sp_json_cstr(out, o->rule));
	TRY(sp_buf_append_str(out, ",\"url\":"));
	TRY(sp_json_cstr(out, o->url));
	TRY(sp_buf_append_str(out, ",\"server\":"));
	TRY(sp_json_cstr(out, o->server));
	TRY(sp_buf_append_str(out, ",\"address\":"));
	TRY(sp_json_cstr(out, o->address));
	TRY(sp_buf_printf(out, ",\"port\":%u,\"status\":%ld,\"etag\":", o->port, o->status));
	TRY(sp_json_cstr(out, o->etag));
	TRY(sp_buf_append_str(out, ",\"changed\":["));
	while (*p) {
		const char *nl = strchr(p, '\n');
		char name[SP_PARAM_NAME_MAX + 1];
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		if (!first)
			TRY(sp_buf_append_byte(out, ','));
		first = false;
		TRY(sp_json_cstr(out, name));
		p += n + (nl ? 1 : 0);
	}
	TRY(sp_buf_printf(out, "],\"report_sent\":%s}\n", o->report_sent ? "true" : "false"));
out:
	return res;
}

sp_result
sp_resync_describe(const char *dir, const char *rule_text, sp_buf *out)
{
	sp_result res = SP_OK;
	sp_device d;
	sp_params eff;
	sp_macros m;
	sp_rule *rule = NULL;
	sp_rule_choice ch;
	sp_pin pin;
	char warn[400];
	bool any = false;

	sp_device_init_empty(&d);
	sp_params_init(&eff);
	sp_macros_init(&m);
	sp_rule_choice_init(&ch);
	TRY(sp_device_load(dir, &d));
	TRY(sp_device_effective(&d, &eff));
	TRY(sp_resync_macros(&d, &eff, SP_PRVST_REQUESTED, sp_now(), &m));
	TRY(device_pin(&d, &pin, false));
	if (pin.n > 0) {
		sp_pin_format(&pin, warn, sizeof(warn));
		TRY(sp_buf_printf(out, SP_PIN_PARAM ": %s\n", warn));
	}
	for (size_t i = 0; i < SP_RESYNC_RULES; i++) {
		const char *name = rule_text ? "--rule" : rule_names[i];
		const char *text = rule_text ? rule_text : sp_params_value(&eff, rule_names[i], "");
		if (sp_slice_trim(sp_slice_of(text)).len == 0)
			continue;
		any = true;
		TRY(sp_buf_printf(out, "%s%s:\n", out->len ? "\n" : "", name));
		sp_rule_free(rule);
		rule = NULL;
		res = sp_rule_parse(sp_slice_of(text), &rule);
		if (sp_ok(res))
			res = sp_rule_select(rule, &m, &ch);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s", name);
			goto out;
		}
		TRY(sp_rule_describe(rule, &ch, &m, out));
		if (ch.has_url) {
			/* The resync's own check (url.h), worded for this listing. */
			sp_result u = sp_url_https(&ch.target, NULL);
			if (u.code == SP_E_POLICY)
				TRY(sp_buf_printf(out, "warning: a resync refuses scheme %s (https only)\n",
				    sp_scheme_name(ch.target.scheme)));
			else if (sp_failed(u))
				TRY(sp_buf_printf(out, "warning: a resync refuses this URL: %s\n",
				    sp_errmsg()));
			else if (ip_host_warning(&ch.target, &pin, warn, sizeof(warn)))
				TRY(sp_buf_printf(out, "warning: %s\n", warn));
			sp_error_clear();
		}
		if (rule_text)
			break;
	}
	if (!any)
		TRY(sp_buf_append_str(out, "no profile rule is set\n"));
out:
	sp_device_free(&d);
	sp_params_free(&eff);
	sp_macros_free(&m);
	sp_rule_free(rule);
	sp_rule_choice_free(&ch);
	return res;
}
