/*
 * The store front: URI dispatch and the checks every backend relies on
 * (names, field syntax, value syntax, level keys), so a backend only
 * stores and fetches.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"
#include "profile/profile.h"

const char *
sp_level_name(sp_level l)
{
	switch (l) {
	case SP_LEVEL_DEFAULTS:
		return "defaults";
	case SP_LEVEL_PRODUCT:
		return "product";
	case SP_LEVEL_GROUP:
		return "group";
	case SP_LEVEL_DEVICE:
		return "device";
	}
	return "?";
}

const char *
sp_store_uri_default(const char *opt)
{
	const char *env;

	if (opt && *opt)
		return opt;
	env = getenv(SP_STORE_ENV);
	if (env && *env)
		return env;
	return SP_STORE_DEFAULT_URI;
}

static bool
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

sp_result
sp_store_open_ex(const char *uri, int flags, sp_store **out)
{
	sp_result res = SP_OK;
	char q[128];

	*out = NULL;
	ENSURE(uri && *uri, SP_E_USAGE, "empty store URI");
	ENSURE(strlen(uri) <= SP_STORE_URI_MAX, SP_E_LIMIT,
	    "store URI longer than %d bytes", SP_STORE_URI_MAX);
	if (has_prefix(uri, "sqlite:")) {
		const char *path = uri + strlen("sqlite:");
		/* sqlite:///abs/path is accepted as a courtesy: /abs/path. */
		if (has_prefix(path, "//"))
			path += 2;
		ENSURE(*path, SP_E_USAGE, "store URI 'sqlite:' names no file");
		TRY(sp_store_sqlite_open(path, flags, out));
		goto out;
	}
	if (has_prefix(uri, "postgresql://") || has_prefix(uri, "postgres://")) {
		/* libpq gets the whole URI; messages never echo it. */
		TRY(sp_store_pgsql_open(uri, flags, out));
		goto out;
	}
	sp_quote(sp_slice_mk(uri, strcspn(uri, ":@")), q, sizeof(q));
	res = sp_error(SP_E_USAGE,
	    "unknown store URI scheme in '%s...': expected sqlite:PATH or "
	    "postgresql://...", q);
out:
	return res;
}

/* Append n bytes of p to out (size outsz, at *len), truncating. */
static void
put(char *out, size_t outsz, size_t *len, const char *p, size_t n)
{
	if (*len + n >= outsz)
		n = outsz - 1 - *len;
	memcpy(out + *len, p, n);
	*len += n;
	out[*len] = '\0';
}

void
sp_store_uri_safe(const char *uri, char *out, size_t outsz)
{
	const char *a = strstr(uri, "://"), *auth_end, *at = NULL, *p;
	size_t len = 0;

	out[0] = '\0';
	if (outsz == 0)
		return;
	if (a == NULL || has_prefix(uri, "sqlite:")) {
		put(out, outsz, &len, uri, strlen(uri));
		return;
	}
	a += 3;
	auth_end = a + strcspn(a, "/?");
	for (p = a; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at && memchr(a, ':', (size_t)(at - a))) {
		const char *colon = memchr(a, ':', (size_t)(at - a));
		put(out, outsz, &len, uri, (size_t)(colon + 1 - uri));
		put(out, outsz, &len, "***", 3);
		p = at;
	} else {
		p = uri;
	}
	/* The rest, with any password=VALUE in the query hidden. */
	while (*p) {
		const char *k = strstr(p, "password=");
		if (k == NULL || k < auth_end || (k[-1] != '?' && k[-1] != '&')) {
			if (k == NULL) {
				put(out, outsz, &len, p, strlen(p));
				break;
			}
			put(out, outsz, &len, p, (size_t)(k + 1 - p));
			p = k + 1;
			continue;
		}
		put(out, outsz, &len, p, (size_t)(k + 9 - p));
		put(out, outsz, &len, "***", 3);
		p = k + 9 + strcspn(k + 9, "&");
	}
}

sp_result
sp_store_open(const char *uri, sp_store **out)
{
	return sp_store_open_ex(uri, 0, out);
}

void
sp_store_close(sp_store *s)
{
	if (s) {
		sp_store_ro_free(s);
		s->ops->close(s);
	}
}

sp_result
sp_store_field_check(const char *what, sp_slice v)
{
	char q[96];

	if (v.len > SP_STORE_FIELD_MAX)
		return sp_error(SP_E_LIMIT, "%s longer than %d bytes", what,
		    SP_STORE_FIELD_MAX);
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c < 0x20 || c > 0x7e) {
			sp_quote(v, q, sizeof(q));
			return sp_error(SP_E_PARSE,
			    "%s '%s': only printable ASCII is allowed", what, q);
		}
	}
	if (v.len && (v.p[0] == ' ' || v.p[v.len - 1] == ' '))
		return sp_error(SP_E_PARSE, "%s '%.*s': leading or trailing space",
		    what, (int)v.len, v.p);
	return SP_OK;
}

sp_result
sp_store_err_not_set(const sp_level_ref *lvl, const char *name)
{
	if (lvl->level == SP_LEVEL_DEFAULTS)
		return sp_error(SP_E_NOTFOUND, "%s is not set in the defaults", name);
	return sp_error(SP_E_NOTFOUND, "%s is not set for %s '%s'", name,
	    sp_level_name(lvl->level), lvl->key);
}

sp_result
sp_store_merge_row(sp_params *out, sp_slice name, sp_slice value,
    const char *access)
{
	sp_result res = SP_OK;
	sp_access a = SP_ACCESS_UNSET;
	const sp_param *prev;

	if (access)
		TRY(sp_access_parse(sp_slice_of(access), &a));
	if (a == SP_ACCESS_UNSET) {
		/* Look the name up NUL-terminated: copy it (names are short). */
		char n[SP_PARAM_NAME_MAX + 1];
		ENSURE(name.len <= SP_PARAM_NAME_MAX, SP_E_LIMIT,
		    "parameter name longer than %d bytes", SP_PARAM_NAME_MAX);
		memcpy(n, name.p, name.len);
		n[name.len] = '\0';
		prev = sp_params_get(out, n);
		if (prev)
			a = prev->access;
	}
	TRY(sp_params_set(out, name, value, a));
out:
	return res;
}

const char *
sp_store_field_or_empty(const char *what, const char *v)
{
	if (sp_ok(sp_store_field_check(what, sp_slice_of(v))))
		return v;
	sp_error_clear();
	return "";
}

/*
 * A value must render so that a device reads it back unchanged
 * (sp_profile_value_check: UTF-8, no control bytes but tab, no edge
 * whitespace): refused here, at the source, rather than when the server
 * renders.  The message never shows the value.
 */
static sp_result
value_check(const char *name, sp_slice v)
{
	if (v.len > SP_PARAM_VALUE_MAX)
		return sp_error(SP_E_LIMIT, "value of %s longer than %d bytes",
		    name, SP_PARAM_VALUE_MAX);
	return sp_profile_value_check(sp_slice_of(name), v);
}

/* Check lvl and give the backend a normalised copy (device key = $MA). */
static sp_result
level_norm(const sp_level_ref *lvl, sp_level_ref *norm, char mabuf[SP_MAC_STRLEN])
{
	sp_result res = SP_OK;
	sp_mac mac;

	*norm = *lvl;
	switch (lvl->level) {
	case SP_LEVEL_DEFAULTS:
		norm->key = "";
		break;
	case SP_LEVEL_PRODUCT:
	case SP_LEVEL_GROUP:
		ENSURE(lvl->key && *lvl->key, SP_E_USAGE, "the %s level needs a name",
		    sp_level_name(lvl->level));
		TRY(sp_store_field_check(sp_level_name(lvl->level),
		    sp_slice_of(lvl->key)));
		break;
	case SP_LEVEL_DEVICE:
		ENSURE(lvl->key && *lvl->key, SP_E_USAGE,
		    "the device level needs a MAC");
		TRY(sp_mac_parse(sp_slice_of(lvl->key), &mac));
		sp_mac_format(&mac, SP_MAC_MA, mabuf);
		norm->key = mabuf;
		break;
	default:
		res = sp_error(SP_E_INTERNAL, "bad parameter level %d",
		    (int)lvl->level);
		break;
	}
out:
	return res;
}

static sp_result
device_check(const sp_device *d)
{
	sp_result res = SP_OK;

	TRY(sp_store_field_check("serial", sp_slice_of(d->serial)));
	TRY(sp_store_field_check("product", sp_slice_of(d->product)));
	TRY(sp_store_field_check("group", sp_slice_of(d->group)));
out:
	return res;
}

/* A fixed-size field must be NUL-terminated within its array. */
static bool
terminated(const char *p, size_t size)
{
	return memchr(p, '\0', size) != NULL;
}

/* ---- dispatch ---------------------------------------------------------- */

sp_result
sp_store_generation(sp_store *s, uint64_t *gen)
{
	return s->ops->generation(s, gen);
}

int
sp_store_notify_fd(sp_store *s)
{
	return s->ops->notify_fd ? s->ops->notify_fd(s) : -1;
}

sp_result
sp_store_schema_version(sp_store *s, int *found, int *current)
{
	return s->ops->schema_version(s, found, current);
}

sp_result
sp_store_device_get(sp_store *s, const sp_mac *mac, sp_device *out, bool *found)
{
	return s->ops->device_get(s, mac, out, found);
}

sp_result
sp_store_params_effective(sp_store *s, const sp_device *dev, sp_params *out,
    uint64_t *gen)
{
	sp_result res = SP_OK;
	uint64_t g = 0;

	TRY(s->ops->params_effective(s, dev, false, out, &g));
	TRY(sp_store_ro_overlay(s, dev, out, &g));
	if (gen)
		*gen = g;
out:
	return res;
}

sp_result
sp_store_params_defaults(sp_store *s, sp_params *out, uint64_t *gen)
{
	return s->ops->params_effective(s, NULL, true, out, gen);
}

sp_result
sp_store_device_pending(sp_store *s, const sp_mac *mac, const char *serial,
    const char *product, int64_t now)
{
	sp_result res = SP_OK;

	TRY(sp_store_field_check("serial", sp_slice_of(serial)));
	TRY(sp_store_field_check("product", sp_slice_of(product)));
	TRY(s->ops->device_pending(s, mac, serial ? serial : "",
	    product ? product : "", now));
out:
	return res;
}

sp_result
sp_store_contact_batch(sp_store *s, const sp_contact *v, size_t n)
{
	sp_result res = SP_OK;

	ENSURE(n <= SP_CONTACT_BATCH_MAX, SP_E_LIMIT,
	    "contact batch of %zu entries (at most %d)", n, SP_CONTACT_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		const sp_contact *c = &v[i];
		ENSURE(terminated(c->ip, sizeof(c->ip)) &&
		    terminated(c->ua, sizeof(c->ua)) &&
		    terminated(c->etag, sizeof(c->etag)) &&
		    terminated(c->serial, sizeof(c->serial)) &&
		    terminated(c->product, sizeof(c->product)),
		    SP_E_INTERNAL, "contact %zu: unterminated field", i);
	}
	if (n)
		TRY(s->ops->contact_batch(s, v, n));
out:
	return res;
}

sp_result
sp_store_contact_get(sp_store *s, const sp_mac *mac, sp_contact *out, bool *found)
{
	return s->ops->contact_get(s, mac, out, found);
}

sp_result
sp_store_begin(sp_store *s)
{
	sp_result res = s->ops->begin(s);

	if (!sp_failed(res))
		s->tx = true;
	return res;
}

sp_result
sp_store_commit(sp_store *s)
{
	s->tx = false;
	return s->ops->commit(s);
}

void
sp_store_rollback(sp_store *s)
{
	if (s) {
		s->tx = false;
		s->ops->rollback(s);
	}
}

/*
 * A change and its audit entry in one transaction: the caller's, else
 * one of its own (*mine).
 */
static sp_result
tx_start(sp_store *s, bool *mine)
{
	*mine = false;
	if (s->tx)
		return SP_OK;
	*mine = true;
	return sp_store_begin(s);
}

static sp_result
tx_finish(sp_store *s, bool mine, sp_result res)
{
	if (!mine)
		return res;
	if (sp_failed(res)) {
		sp_store_rollback(s);
		return res;
	}
	return sp_store_commit(s);
}

sp_result
sp_store_device_add(sp_store *s, const sp_device *dev)
{
	sp_result res = SP_OK;
	bool mine = false;

	ENSURE(terminated(dev->serial, sizeof(dev->serial)) &&
	    terminated(dev->product, sizeof(dev->product)) &&
	    terminated(dev->group, sizeof(dev->group)),
	    SP_E_INTERNAL, "device record: unterminated field");
	TRY(device_check(dev));
	TRY(tx_start(s, &mine));
	TRY(s->ops->device_add(s, dev));
	TRY(sp_store_audit_device(s, "device.add", &dev->mac, dev));
out:
	return tx_finish(s, mine, res);
}

sp_result
sp_store_device_rm(sp_store *s, const sp_mac *mac)
{
	sp_result res = SP_OK;
	bool mine = false;

	TRY(tx_start(s, &mine));
	TRY(s->ops->device_rm(s, mac));
	TRY(sp_store_audit_device(s, "device.rm", mac, NULL));
out:
	return tx_finish(s, mine, res);
}

sp_result
sp_store_device_set_enabled(sp_store *s, const sp_mac *mac, bool enabled)
{
	sp_result res = SP_OK;
	bool mine = false;

	TRY(tx_start(s, &mine));
	TRY(s->ops->device_set_enabled(s, mac, enabled));
	TRY(sp_store_audit_device(s, enabled ? "device.enable" :
	    "device.disable", mac, NULL));
out:
	return tx_finish(s, mine, res);
}

sp_result
sp_store_device_list(sp_store *s, sp_store_device_cb cb, void *arg)
{
	return s->ops->device_list(s, cb, arg);
}

/* A level and a parameter name, both checked, the level normalised. */
static sp_result
level_name_check(const sp_level_ref *lvl, const char *name, sp_level_ref *norm,
    char ma[SP_MAC_STRLEN])
{
	sp_result res = SP_OK;

	TRY(level_norm(lvl, norm, ma));
	ENSURE(name, SP_E_USAGE, "no parameter name");
	TRY(sp_param_name_check(sp_slice_of(name)));
out:
	return res;
}

sp_result
sp_store_param_set(sp_store *s, const sp_level_ref *lvl, const char *name,
    sp_slice value, sp_access access)
{
	sp_result res = SP_OK;
	bool mine = false;
	sp_level_ref norm;
	char ma[SP_MAC_STRLEN];

	TRY(level_name_check(lvl, name, &norm, ma));
	ENSURE(access >= SP_ACCESS_UNSET && access <= SP_ACCESS_RW,
	    SP_E_INTERNAL, "bad access %d", (int)access);
	TRY(value_check(name, value));
	TRY(tx_start(s, &mine));
	TRY(sp_store_audit_param(s, &norm, name, &value, access));
	TRY(s->ops->param_set(s, &norm, name, value, access));
out:
	return tx_finish(s, mine, res);
}

sp_result
sp_store_param_check(const sp_level_ref *lvl, const char *name, sp_slice value)
{
	sp_result res = SP_OK;
	sp_level_ref norm;
	char ma[SP_MAC_STRLEN];

	TRY(level_name_check(lvl, name, &norm, ma));
	TRY(value_check(name, value));
out:
	return res;
}

sp_result
sp_store_param_unset(sp_store *s, const sp_level_ref *lvl, const char *name)
{
	sp_result res = SP_OK;
	bool mine = false;
	sp_level_ref norm;
	char ma[SP_MAC_STRLEN];

	TRY(level_name_check(lvl, name, &norm, ma));
	TRY(tx_start(s, &mine));
	TRY(sp_store_audit_param(s, &norm, name, NULL, SP_ACCESS_UNSET));
	TRY(s->ops->param_unset(s, &norm, name));
out:
	return tx_finish(s, mine, res);
}

sp_result
sp_store_params_level(sp_store *s, const sp_level_ref *lvl, sp_params *out)
{
	sp_result res = SP_OK;
	sp_level_ref norm;
	char ma[SP_MAC_STRLEN];

	TRY(level_norm(lvl, &norm, ma));
	TRY(s->ops->params_level(s, &norm, out));
out:
	return res;
}

/* ---- the whole store ---------------------------------------------------- */

sp_result
sp_store_begin_read(sp_store *s)
{
	return s->ops->begin_read(s);
}

sp_result
sp_store_level_list(sp_store *s, sp_store_level_cb cb, void *arg)
{
	return s->ops->level_list(s, cb, arg);
}

sp_result
sp_store_contact_list(sp_store *s, sp_store_contact_cb cb, void *arg)
{
	return s->ops->contact_list(s, cb, arg);
}

sp_result
sp_store_is_empty(sp_store *s, bool *empty)
{
	return s->ops->is_empty(s, empty);
}

sp_result
sp_store_clear(sp_store *s)
{
	sp_result res = SP_OK;
	bool mine = false;

	TRY(tx_start(s, &mine));
	TRY(s->ops->clear(s));
	TRY(sp_store_audit(s, "store.clear", "", NULL));
out:
	return tx_finish(s, mine, res);
}

/* ---- cluster data ------------------------------------------------------- */

sp_result
sp_store_cluster_name_check(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > SP_CLUSTER_NAME_MAX)
		return sp_error(SP_E_USAGE, "cluster data name must be 1 to %d bytes",
		    SP_CLUSTER_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x21 || name[i] > 0x7e) {
			char q[2 * SP_CLUSTER_NAME_MAX];

			sp_quote(sp_slice_of(name), q, sizeof(q));
			return sp_error(SP_E_USAGE, "cluster data name %s: byte %zu "
			    "is not printable ASCII", q, i);
		}
	return SP_OK;
}

sp_result
sp_store_cluster_put(sp_store *s, const char *name, int64_t version,
    int64_t created, sp_slice data, int64_t keep)
{
	sp_result res = SP_OK;

	TRY(sp_store_cluster_name_check(name));
	ENSURE(version >= 1, SP_E_USAGE, "cluster data %s: version %lld is below 1",
	    name, (long long)version);
	ENSURE(data.len <= SP_CLUSTER_DATA_MAX, SP_E_LIMIT,
	    "cluster data %s: %zu bytes, more than %d", name, data.len,
	    SP_CLUSTER_DATA_MAX);
	ENSURE(keep >= 0, SP_E_USAGE, "cluster data %s: negative keep", name);
	res = s->ops->cluster_put(s, name, version, created, data, keep);
out:
	return res;
}

sp_result
sp_store_cluster_get(sp_store *s, const char *name, int max,
    sp_store_cluster_cb cb, void *arg)
{
	sp_result res = SP_OK;

	TRY(sp_store_cluster_name_check(name));
	ENSURE(max >= 1, SP_E_USAGE, "cluster data %s: max below 1", name);
	res = s->ops->cluster_get(s, name, max, false, cb, arg);
out:
	return res;
}

sp_result
sp_store_cluster_newest(sp_store *s, const char *prefix, sp_store_cluster_cb cb,
    void *arg)
{
	sp_result res = SP_OK;

	TRY(sp_store_cluster_name_check(prefix));
	res = s->ops->cluster_get(s, prefix, 0, true, cb, arg);
out:
	return res;
}
