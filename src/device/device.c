#include "device/device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "device/pin.h"
#include "identity/devid.h"
#include "profile/profile.h"

void
sp_device_init_empty(sp_device *d)
{
	memset(d, 0, sizeof(*d));
	sp_params_init(&d->conf);
	sp_params_init(&d->store);
	sp_params_init(&d->state);
}

void
sp_device_free(sp_device *d)
{
	sp_params_free(&d->conf);
	sp_params_free(&d->store);
	sp_params_free(&d->state);
}

sp_result
sp_device_path(const sp_device *d, const char *file, char out[PATH_MAX])
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", d->dir, file) >= PATH_MAX)
		return sp_error(SP_E_LIMIT, "%s: path too long", d->dir);
	return SP_OK;
}

sp_result
sp_device_load(const char *dir, sp_device *d)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	sp_buf b;

	sp_buf_init(&b, 0);
	sp_device_free(d);
	sp_device_init_empty(d);
	ENSURE(strlen(dir) < sizeof(d->dir) - 32, SP_E_LIMIT, "%s: path too long", dir);
	snprintf(d->dir, sizeof(d->dir), "%s", dir);
	TRY(sp_device_path(d, SP_DEV_CONF, path));
	res = sp_read_file_secret(path, SP_DEVCONF_MAX, &b);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "not a device directory (run `sprov device init`)");
		goto out;
	}
	res = sp_devconf_parse(sp_slice_mk(b.p, b.len), &d->id, &d->conf);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "%s", path);
		goto out;
	}
	sp_buf_free_secret(&b);

	TRY(sp_device_path(d, SP_DEV_STORE, path));
	res = sp_read_file_secret(path, SP_PROFILE_MAX_STORE, &b);
	if (sp_ok(res)) {
		res = sp_profile_parse(sp_slice_mk(b.p, b.len), &d->store);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s", path);
			goto out;
		}
	} else if (res.code == SP_E_NOTFOUND) {
		res = SP_OK; /* nothing applied yet */
	} else {
		goto out;
	}
	sp_buf_free_secret(&b);

	TRY(sp_device_path(d, SP_DEV_STATE, path));
	res = sp_read_file(path, SP_DEVCONF_MAX, &b);
	if (sp_ok(res)) {
		res = sp_kv_parse(sp_slice_mk(b.p, b.len), &d->state);
		if (sp_failed(res)) {
			/* A damaged state file costs an ETag, not the device. */
			sp_params_free(&d->state);
			res = SP_OK;
		}
	} else if (res.code == SP_E_NOTFOUND) {
		res = SP_OK;
	} else {
		goto out;
	}
out:
	sp_buf_free_secret(&b);
	return res;
}

sp_result
sp_device_effective(const sp_device *d, sp_params *out)
{
	sp_result res = SP_OK;

	TRY(sp_params_copy(out, &d->conf));
	TRY(sp_params_merge(out, &d->store));
out:
	return res;
}

sp_result
sp_device_apply(sp_device *d, const sp_params *ps)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	sp_buf xml;

	sp_buf_init(&xml, SP_PROFILE_MAX_STORE);
	TRY(sp_profile_render(ps, &xml));
	TRY(sp_device_path(d, SP_DEV_STORE, path));
	/* Temporary file beside the old store, fsync, rename over, fsync dir. */
	TRY(sp_write_file(path, xml.p ? xml.p : "", xml.len, 0600, 0));
	sp_params_free(&d->store);
	TRY(sp_params_copy(&d->store, ps));
out:
	sp_buf_free_secret(&xml);
	return res;
}

sp_result
sp_device_save_state(const sp_device *d)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	sp_buf b;

	sp_buf_init(&b, SP_DEVCONF_MAX);
	TRY(sp_buf_append_str(&b, "# sprov device state: written by sprov, do not edit\n"));
	TRY(sp_kv_render(&d->state, &b));
	TRY(sp_device_path(d, SP_DEV_STATE, path));
	TRY(sp_write_file(path, b.p, b.len, 0600, 0));
out:
	sp_buf_free(&b);
	return res;
}

void
sp_device_user_agent(const sp_device *d, char *out, size_t outsz)
{
	char mau[SP_MAC_STRLEN];

	sp_mac_format(&d->id.mac, SP_MAC_MAU, mau);
	snprintf(out, outsz, "Sprov/%s-%s (%s)(%s)", d->id.product, d->id.swver, mau,
	    d->id.serial);
}

static sp_result
read_bundle_file(const char *bundle, const char *name, sp_buf *out)
{
	char src[PATH_MAX];

	if ((size_t)snprintf(src, sizeof(src), "%s/%s", bundle, name) >= sizeof(src))
		return sp_error(SP_E_LIMIT, "%s: path too long", bundle);
	return sp_read_file_secret(src, SP_BUNDLE_FILE_MAX, out);
}

static sp_result
write_dev_file(const char *dir, const char *name, const sp_buf *b, mode_t mode)
{
	char dst[PATH_MAX];

	if ((size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst))
		return sp_error(SP_E_LIMIT, "%s: path too long", dir);
	return sp_write_file(dst, b->p, b->len, mode, 0);
}

static sp_result
set_field(char out[SP_DEVID_FIELD_MAX + 1], const char *v, const char *what)
{
	if (v == NULL)
		return SP_OK;
	if (strlen(v) > SP_DEVID_FIELD_MAX)
		return sp_error(SP_E_USAGE, "%s: longer than %d bytes", what, SP_DEVID_FIELD_MAX);
	snprintf(out, SP_DEVID_FIELD_MAX + 1, "%s", v);
	return SP_OK;
}

sp_result
sp_device_create(const char *dir, const sp_device_init_opts *o)
{
	sp_result res = SP_OK;
	char path[PATH_MAX];
	sp_buf crt, key, ca, fwca, conf;
	BIO *bio = NULL;
	X509 *x = NULL;
	sp_devid devid;
	sp_identity id;
	sp_params params, check;
	sp_device probe;
	sp_pin pin;

	sp_buf_init(&crt, SP_BUNDLE_FILE_MAX);
	sp_buf_init(&key, SP_BUNDLE_FILE_MAX);
	sp_buf_init(&ca, SP_BUNDLE_FILE_MAX);
	sp_buf_init(&fwca, SP_BUNDLE_FILE_MAX);
	sp_buf_init(&conf, SP_DEVCONF_MAX);
	sp_params_init(&params);
	sp_params_init(&check);
	sp_device_init_empty(&probe);
	memset(&id, 0, sizeof(id));
	ENSURE((size_t)snprintf(path, sizeof(path), "%s/%s", dir, SP_DEV_CONF) < sizeof(path),
	    SP_E_LIMIT, "%s: path too long", dir);
	ENSURE(o->force || !sp_file_exists(path), SP_E_EXISTS,
	    "%s: already a device directory (use --force to replace it)", dir);

	/* Everything is read and checked first; nothing is written on a refusal. */
	TRY(read_bundle_file(o->bundle, SP_DEV_CLIENT_CRT, &crt));
	TRY(read_bundle_file(o->bundle, SP_DEV_CLIENT_KEY, &key));
	TRY(read_bundle_file(o->bundle, SP_DEV_SERVER_CA, &ca));
	/* Optional: bundles of a CA with a firmware-signing root carry it. */
	res = read_bundle_file(o->bundle, SP_DEV_FIRMWARE_CA, &fwca);
	if (res.code == SP_E_NOTFOUND) {
		sp_error_clear();
		res = SP_OK;
	}
	TRY(res);
	if (fwca.len > 0) {
		BIO *fb = BIO_new_mem_buf(fwca.p, (int)fwca.len);
		X509 *fx = fb ? PEM_read_bio_X509(fb, NULL, NULL, NULL) : NULL;
		bool good = fx != NULL;
		X509_free(fx);
		BIO_free(fb);
		if (!good) {
			res = sp_error_ossl(SP_E_PARSE, "%s/%s: not a PEM certificate", o->bundle,
			    SP_DEV_FIRMWARE_CA);
			goto out;
		}
	}
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(crt.p, (int)crt.len), "BIO_new_mem_buf");
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x == NULL) {
		res = sp_error_ossl(SP_E_PARSE, "%s/%s: not a PEM certificate", o->bundle,
		    SP_DEV_CLIENT_CRT);
		goto out;
	}
	if (sp_ok(sp_devid_from_x509(x, SP_IDSTYLE_AUTO, &devid))) {
		id.mac = devid.mac;
		snprintf(id.serial, sizeof(id.serial), "%s", devid.serial);
		snprintf(id.product, sizeof(id.product), "%s", devid.product);
	} else if (o->mac == NULL) {
		char why[256];
		snprintf(why, sizeof(why), "%s", sp_errmsg()); /* sp_error reuses that buffer */
		ENSURE(0, SP_E_USAGE,
		    "client.crt names no device (%s); give --mac (and --serial, --product)", why);
	}
	if (o->mac != NULL)
		TRY(sp_mac_parse(sp_slice_of(o->mac), &id.mac));
	TRY(set_field(id.serial, o->serial, "--serial"));
	TRY(set_field(id.product, o->product, "--product"));
	TRY(set_field(id.series, o->series, "--series"));
	TRY(set_field(id.swver, o->swver ? o->swver : "1.0.0", "--swver"));
	TRY(set_field(id.hwver, o->hwver ? o->hwver : "1.0", "--hwver"));
	if (id.series[0] == '\0')
		sp_identity_series_from_product(id.product, id.series);
	TRY(sp_params_set_cstr(&params, "Profile_Rule", o->rule ? o->rule : "", SP_ACCESS_UNSET));
	for (size_t i = 0; i < o->n_sets; i++) {
		sp_slice kv = sp_slice_of(o->sets[i]);
		size_t eq = sp_slice_find(kv, '=');
		sp_slice name = sp_slice_trim(sp_slice_mk(kv.p, eq));
		ENSURE(eq < kv.len, SP_E_USAGE, "--set wants NAME=VALUE");
		res = sp_param_name_check(name);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "--set");
			goto out;
		}
		TRY(sp_params_set(&params, name,
		    sp_slice_trim(sp_slice_mk(kv.p + eq + 1, kv.len - eq - 1)), SP_ACCESS_UNSET));
	}
	if (o->provision_domain != NULL)
		TRY(sp_params_set_cstr(&params, SP_PIN_PARAM, o->provision_domain,
		    SP_ACCESS_UNSET));
	/* A pin that does not parse would stop every resync: refuse it now. */
	TRY(sp_pin_parse(sp_slice_of(sp_params_value(&params, SP_PIN_PARAM, "")), &pin));
	res = sp_devconf_render(&id, &params, &conf);
	/* What we write must read back: refuse a bad identity now, not at resync. */
	if (sp_ok(res))
		res = sp_devconf_parse(sp_slice_mk(conf.p, conf.len), &probe.id, &check);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "device.conf");
		goto out;
	}

	TRY(sp_mkdirs(dir, 0700));
	TRY(write_dev_file(dir, SP_DEV_CLIENT_CRT, &crt, 0644));
	TRY(write_dev_file(dir, SP_DEV_CLIENT_KEY, &key, 0600));
	TRY(write_dev_file(dir, SP_DEV_SERVER_CA, &ca, 0644));
	if (fwca.len > 0)
		TRY(write_dev_file(dir, SP_DEV_FIRMWARE_CA, &fwca, 0644));
	/* device.conf last: its presence means a complete directory. */
	TRY(sp_write_file(path, conf.p, conf.len, 0600, 0));
out:
	BIO_free(bio);
	X509_free(x);
	sp_buf_free(&crt);
	sp_buf_free_secret(&key);
	sp_buf_free(&ca);
	sp_buf_free(&fwca);
	sp_buf_free_secret(&conf);
	sp_params_free(&params);
	sp_params_free(&check);
	sp_device_free(&probe);
	return res;
}
