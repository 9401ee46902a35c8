#include "ca/ca.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "ca/csr_policy.h"
#include "ca/db.h"
#include "common/text.h"
#include "common/util.h"
#include "identity/cn.h"
#include "identity/mac.h"
#include "pki/token.h"
#include "profile/url.h"

sp_result
sp_ca_path(const char *dir, const char *file, char *out, size_t outsz)
{
	size_t n = strlen(dir);

	/* "vendor/" + "ca.db" is "vendor/ca.db", not "vendor//ca.db" */
	while (n > 0 && dir[n - 1] == '/')
		n--;
	if (n > INT_MAX || (size_t)snprintf(out, outsz, "%.*s/%s", (int)n, dir, file) >= outsz)
		return sp_error(SP_E_LIMIT, "%s: path too long", dir);
	return SP_OK;
}

void
sp_ca_fmt_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

sp_result
sp_ca_open_db(const char *dir, sp_cadb **db)
{
	sp_result res = SP_OK;
	char p[PATH_MAX];

	TRY(sp_ca_path(dir, SP_CA_DB, p, sizeof(p)));
	ENSURE(sp_file_exists(p), SP_E_NOTFOUND,
	    "%s: no CA here (missing %s; run 'sprov ca init %s' first)", dir, SP_CA_DB, dir);
	TRY(sp_cadb_open(p, db));
out:
	return res;
}

/* The three roots: their files, their token objects, their keys. */
typedef struct root_def {
	const char *crt, *key;     /* files in DIR */
	const char *meta, *label;  /* ca.db meta naming the token key; its CKA_LABEL */
	const char *cn;            /* subject CN after the organisation */
	sp_key_type type;
} root_def;

static const root_def roots[] = {
	[SP_ROOT_SERVER] = { SP_CA_SERVER_CRT, SP_CA_SERVER_KEY, SP_CA_META_SERVER_KEY,
		SP_CA_TOKEN_SERVER_LABEL, "Server CA", SP_KEY_EC_P384 },
	[SP_ROOT_DEVICE] = { SP_CA_DEVICE_CRT, SP_CA_DEVICE_KEY, SP_CA_META_DEVICE_KEY,
		SP_CA_TOKEN_DEVICE_LABEL, "Device CA", SP_KEY_EC_P256 },
	[SP_ROOT_FIRMWARE] = { SP_CA_FIRMWARE_CRT, SP_CA_FIRMWARE_KEY,
		SP_CA_META_FIRMWARE_KEY, SP_CA_TOKEN_FIRMWARE_LABEL, "Firmware Signing",
		SP_KEY_EC_P384 },
};
#define NROOTS SP_ARRAY_LEN(roots)

/* The URI of a root's key in a token and its module; uri "" if the key is a file. */
static sp_result
token_ref(sp_cadb *db, sp_root_kind kind, char uri[SP_TOKEN_URI_MAX + 1],
    char module[PATH_MAX])
{
	sp_result res = SP_OK;

	res = sp_cadb_meta_get(db, roots[kind].meta, uri, SP_TOKEN_URI_MAX + 1);
	if (res.code == SP_E_NOTFOUND) {
		sp_error_clear();
		uri[0] = '\0';
		res = SP_OK;
		goto out;
	}
	TRY(res);
	TRY(sp_cadb_meta_get(db, SP_CA_META_MODULE, module, PATH_MAX));
out:
	return res;
}

sp_result
sp_ca_load_root(const char *dir, sp_cadb *db, sp_root_kind kind, const char *pin_file,
    X509 **cert, EVP_PKEY **key)
{
	sp_result res = SP_OK;
	char p[PATH_MAX], uri[SP_TOKEN_URI_MAX + 1], module[PATH_MAX];
	const char *what = p;
	sp_buf pin;

	*cert = NULL;
	*key = NULL;
	sp_buf_init_secret(&pin, 0);
	TRY(sp_ca_path(dir, roots[kind].crt, p, sizeof(p)));
	ENSURE(kind != SP_ROOT_FIRMWARE || sp_file_exists(p), SP_E_NOTFOUND,
	    "%s: the CA has no firmware-signing key (no %s); add it with 'sprov ca init "
	    "%s --add-firmware-key'", dir, SP_CA_FIRMWARE_CRT, dir);
	TRY(sp_cert_load(p, cert));
	TRY(token_ref(db, kind, uri, module));
	if (uri[0] != '\0') {
		TRY(sp_token_pin(pin_file, &pin));
		TRY(sp_token_key_load(module, uri, pin.p, key));
		what = uri;
	} else {
		TRY(sp_ca_path(dir, roots[kind].key, p, sizeof(p)));
		TRY(sp_key_load(p, key));
	}
	ENSURE(X509_check_private_key(*cert, *key) == 1, SP_E_CRYPTO,
	    "%s does not match its certificate", what);
out:
	sp_buf_free_secret(&pin);
	if (sp_failed(res)) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
	}
	return res;
}

/* ---- init ---- */

static sp_result
dir_empty_or_absent(const char *dir, bool *absent)
{
	sp_result res = SP_OK;
	DIR *d = opendir(dir);
	struct dirent *e;

	*absent = false;
	if (d == NULL) {
		ENSURE(errno == ENOENT, SP_E_IO, "%s: %s", dir, strerror(errno));
		*absent = true;
		goto out;
	}
	while ((e = readdir(d)) != NULL)
		ENSURE(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0,
		    SP_E_EXISTS, "%s: directory is not empty; refusing to create a CA there",
		    dir);
out:
	if (d)
		closedir(d);
	return res;
}

/*
 * One root: a fresh key written to DIR, or (key_uri not NULL) the token key
 * that sp_token_keygen made, which never leaves the token.  The certificate
 * is written last: its presence means the root is there.  If it cannot be
 * written, the key file written here goes again.
 */
static sp_result
make_root(const char *dir, sp_root_kind kind, const char *org, const char *key_uri,
    const char *module, const char *pin)
{
	sp_result res = SP_OK;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t serial[SP_SERIAL_LEN];
	sp_buf kp, cp;
	char p[PATH_MAX], kpath[PATH_MAX] = "", cn[SP_CA_ORG_MAX + 32];

	sp_buf_init(&kp, SP_PEM_MAX);
	sp_buf_init(&cp, SP_PEM_MAX);
	snprintf(cn, sizeof(cn), "%s %s", org, roots[kind].cn);
	if (key_uri != NULL)
		TRY(sp_token_key_load(module, key_uri, pin, &key));
	else
		TRY(sp_key_gen(roots[kind].type, &key));
	TRY(sp_serial_new(serial));
	if (kind == SP_ROOT_FIRMWARE)
		TRY(sp_cert_make_fwroot(key, org, cn, serial, &cert));
	else
		TRY(sp_cert_make_root(key, org, cn, serial, &cert));
	TRY(sp_cert_pem(cert, &cp));
	TRY(sp_ca_path(dir, roots[kind].crt, p, sizeof(p)));
	if (key_uri == NULL) {
		TRY(sp_key_pem(key, &kp));
		TRY(sp_ca_path(dir, roots[kind].key, kpath, sizeof(kpath)));
		TRY(sp_write_file(kpath, kp.p, kp.len, 0600, SP_WRITE_EXCL));
	}
	res = sp_write_file(p, cp.p, cp.len, 0644, SP_WRITE_EXCL);
	if (sp_failed(res) && kpath[0] != '\0')
		unlink(kpath);
out:
	sp_buf_free_secret(&kp);
	sp_buf_free(&cp);
	X509_free(cert);
	EVP_PKEY_free(key);
	return res;
}

/*
 * Make the roots' keys in the token before DIR is touched: a wrong PIN, a
 * missing module or token, or a token that already holds sprov's labels
 * stops `ca init` with nothing written.
 */
static sp_result
token_keygen(const sp_ca_token *tok, sp_buf *pin, char module[PATH_MAX],
    char *uris[NROOTS])
{
	sp_result res = SP_OK;
	sp_token_keyspec specs[NROOTS];
	const char *m = tok->module ? tok->module : SP_TOKEN_MODULE_DEFAULT;
	char cwd[PATH_MAX] = "";

	/*
	 * Later commands run from anywhere: keep an absolute path, but not
	 * realpath's, which would pin the versioned file behind a symlink such
	 * as p11-kit-proxy.so and break on the next library upgrade.
	 */
	ENSURE(access(m, R_OK) == 0, SP_E_NOTFOUND, "PKCS#11 module %s: %s", m,
	    strerror(errno));
	if (m[0] != '/')
		ENSURE(getcwd(cwd, sizeof(cwd)) != NULL, SP_E_IO, "getcwd: %s", strerror(errno));
	ENSURE((size_t)snprintf(module, PATH_MAX, "%s%s%s", cwd, cwd[0] ? "/" : "", m) <
	    PATH_MAX, SP_E_LIMIT, "PKCS#11 module %s: path too long", m);
	for (size_t i = 0; i < NROOTS; i++)
		specs[i] = (sp_token_keyspec){ roots[i].label, roots[i].type };
	TRY(sp_token_pin(tok->pin_file, pin));
	TRY(sp_token_keygen(module, tok->uri, pin->p, specs, NROOTS, uris));
out:
	return res;
}

static sp_result
check_org(const char *org)
{
	sp_slice s = sp_slice_of(org);

	if (s.len == 0 || s.len > SP_CA_ORG_MAX || sp_has_ctl(s))
		return sp_error(SP_E_USAGE, "--org must be 1-%d characters without control "
		    "characters", SP_CA_ORG_MAX);
	return SP_OK;
}

static sp_result
check_domain(const char *d)
{
	sp_result res = sp_fqdn_check(sp_slice_of(d));

	if (sp_failed(res))
		return sp_error_wrap(res, "allowed domain");
	return res;
}

/* ---- CRL distribution point ---- */

#define CRL_URL_META "crl_url"

sp_result
sp_ca_crl_url_check(const char *url)
{
	sp_result res = SP_OK;
	size_t n = strlen(url);
	char q[80];
	sp_url u;

	sp_quote(sp_slice_of(url), q, sizeof(q));
	ENSURE(n <= SP_CA_CRL_URL_MAX, SP_E_LIMIT, "--crl-url: longer than %d bytes",
	    SP_CA_CRL_URL_MAX);
	ENSURE(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0,
	    SP_E_PARSE, "--crl-url '%s': not an http:// or https:// URL", q);
	res = sp_url_parse(sp_slice_of(url), &u);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "--crl-url '%s'", q);
		goto out;
	}
	ENSURE(u.host[0] != '\0', SP_E_PARSE, "--crl-url '%s': no host", q);
	/* A literal URL: no template, nothing a CRL fetcher could read two ways. */
	ENSURE(strpbrk(url, "%,?#\"'<>\\") == NULL, SP_E_PARSE,
	    "--crl-url '%s': a base URL holds no %%, comma, query, fragment or quote", q);
	ENSURE(url[n - 1] == '/', SP_E_PARSE, "--crl-url '%s': a base URL ends with '/' "
	    "(certificates point at BASE%s and BASE%s)", q, SP_CA_CRL_SERVER_FILE,
	    SP_CA_CRL_DEVICE_FILE);
out:
	return res;
}

sp_result
sp_ca_crl_dp(sp_cadb *db, bool device, char out[SP_CA_CRL_DP_MAX])
{
	sp_result res = SP_OK;
	char base[SP_CA_CRL_URL_MAX + 1];

	out[0] = '\0';
	res = sp_cadb_meta_get(db, CRL_URL_META, base, sizeof(base));
	if (res.code == SP_E_NOTFOUND) {
		sp_error_clear();
		res = SP_OK;
		goto out;
	}
	TRY(res);
	/* What ca.db holds went through sp_ca_crl_url_check; check again anyway. */
	TRY(sp_ca_crl_url_check(base));
	snprintf(out, SP_CA_CRL_DP_MAX, "%s%s", base,
	    device ? SP_CA_CRL_DEVICE_FILE : SP_CA_CRL_SERVER_FILE);
out:
	return res;
}

sp_result
sp_ca_set_crl_url(const char *dir, const char *url, FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	char dp[SP_CA_CRL_DP_MAX];

	if (*url)
		TRY(sp_ca_crl_url_check(url));
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_cadb_begin(db));
	TRY(sp_cadb_meta_set(db, CRL_URL_META, url));
	TRY(sp_cadb_commit(db));
	TRY(sp_ca_crl_dp(db, false, dp));
	if (dp[0] == '\0') {
		fprintf(report, "CRL distribution point: none\n");
	} else {
		fprintf(report, "CRL distribution point of server certificates: %s\n", dp);
		TRY(sp_ca_crl_dp(db, true, dp));
		fprintf(report, "CRL distribution point of device certificates: %s\n", dp);
	}
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	return res;
}

/* ---- init ---- */

sp_result
sp_ca_init(const char *dir, const char *org, const char *const *domains, size_t ndomains,
    const char *crl_url, const sp_ca_token *tok)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	bool absent;
	char p[PATH_MAX], module[PATH_MAX] = "";
	char *uris[NROOTS] = { NULL };
	sp_buf pin;

	sp_buf_init_secret(&pin, 0);
	TRY(check_org(org));
	for (size_t i = 0; i < ndomains; i++)
		TRY(check_domain(domains[i]));
	if (crl_url != NULL)
		TRY(sp_ca_crl_url_check(crl_url));
	TRY(dir_empty_or_absent(dir, &absent));
	if (tok != NULL)
		TRY(token_keygen(tok, &pin, module, uris));
	if (absent)
		ENSURE(mkdir(dir, 0700) == 0, SP_E_IO, "%s: mkdir: %s", dir, strerror(errno));
	else
		ENSURE(chmod(dir, 0700) == 0, SP_E_IO, "%s: chmod: %s", dir, strerror(errno));
	for (size_t i = 0; i < NROOTS; i++)
		TRY(make_root(dir, (sp_root_kind)i, org, uris[i], module, pin.p));
	/* The database comes last: its presence means the CA is complete. */
	TRY(sp_ca_path(dir, SP_CA_DB, p, sizeof(p)));
	TRY(sp_cadb_create(p, org));
	if (ndomains || crl_url != NULL || tok != NULL) {
		TRY(sp_cadb_open(p, &db));
		TRY(sp_cadb_begin(db));
		for (size_t i = 0; i < ndomains; i++)
			TRY(sp_cadb_domain_add(db, domains[i]));
		if (crl_url != NULL)
			TRY(sp_cadb_meta_set(db, CRL_URL_META, crl_url));
		if (tok != NULL) {
			for (size_t i = 0; i < NROOTS; i++)
				TRY(sp_cadb_meta_set(db, roots[i].meta, uris[i]));
			TRY(sp_cadb_meta_set(db, SP_CA_META_MODULE, module));
		}
		TRY(sp_cadb_commit(db));
	}
	TRY(sp_fsync_dir(dir));
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	sp_buf_free_secret(&pin);
	for (size_t i = 0; i < NROOTS; i++)
		free(uris[i]);
	return res;
}

/* ---- the firmware-signing root for an existing CA ---- */

sp_result
sp_ca_has_firmware_key(const char *dir, bool *has)
{
	sp_result res = SP_OK;
	char p[PATH_MAX];

	TRY(sp_ca_path(dir, SP_CA_FIRMWARE_CRT, p, sizeof(p)));
	*has = sp_file_exists(p);
out:
	return res;
}

/* Nothing of a firmware root in DIR or ca.db yet; the message says what is. */
static sp_result
no_firmware_root(const char *dir, sp_cadb *db)
{
	sp_result res = SP_OK;
	char p[PATH_MAX], uri[SP_TOKEN_URI_MAX + 1], module[PATH_MAX];

	TRY(sp_ca_path(dir, SP_CA_FIRMWARE_CRT, p, sizeof(p)));
	ENSURE(!sp_file_exists(p), SP_E_EXISTS, "%s: the CA already has a firmware-signing "
	    "key (%s); nothing changed", dir, SP_CA_FIRMWARE_CRT);
	TRY(sp_ca_path(dir, SP_CA_FIRMWARE_KEY, p, sizeof(p)));
	ENSURE(!sp_file_exists(p), SP_E_EXISTS, "%s: %s is there without %s (left by an "
	    "interrupted run?); nothing changed: move it away and run again", dir,
	    SP_CA_FIRMWARE_KEY, SP_CA_FIRMWARE_CRT);
	TRY(token_ref(db, SP_ROOT_FIRMWARE, uri, module));
	ENSURE(uri[0] == '\0', SP_E_EXISTS, "%s: %s names a firmware-signing key in the "
	    "token but %s is missing; nothing changed", dir, SP_CA_DB, SP_CA_FIRMWARE_CRT);
out:
	return res;
}

sp_result
sp_ca_add_firmware_key(const char *dir, const char *pin_file, FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	char org[SP_CA_ORG_MAX + 1], uri[SP_TOKEN_URI_MAX + 1], module[PATH_MAX];
	char p[PATH_MAX];
	char *tok_uri = NULL, *fw_uri = NULL;
	bool wrote = false;
	sp_buf pin;
	sp_token_keyspec spec = { SP_CA_TOKEN_FIRMWARE_LABEL, SP_KEY_EC_P384 };

	sp_buf_init_secret(&pin, 0);
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_cadb_meta_get(db, "org", org, sizeof(org)));
	TRY(no_firmware_root(dir, db));
	TRY(sp_ca_path(dir, SP_CA_FIRMWARE_CRT, p, sizeof(p)));
	/* A token CA keeps the new key where its other keys are. */
	TRY(token_ref(db, SP_ROOT_SERVER, uri, module));
	if (uri[0] == '\0') {
		TRY(make_root(dir, SP_ROOT_FIRMWARE, org, NULL, NULL, NULL));
	} else {
		spec.type = roots[SP_ROOT_FIRMWARE].type;
		TRY(sp_token_uri_of_token(uri, &tok_uri));
		TRY(sp_token_pin(pin_file, &pin));
		TRY(sp_token_keygen(module, tok_uri, pin.p, &spec, 1, &fw_uri));
		/* ca.db and the certificate together: the meta row commits after it. */
		TRY(sp_cadb_begin(db));
		TRY(sp_cadb_meta_set(db, SP_CA_META_FIRMWARE_KEY, fw_uri));
		TRY(make_root(dir, SP_ROOT_FIRMWARE, org, fw_uri, module, pin.p));
		wrote = true;
		TRY(sp_cadb_commit(db));
		wrote = false;
	}
	TRY(sp_fsync_dir(dir));
	fprintf(report, "added the firmware-signing key to %s\n  %s  firmware-signing key: "
	    "give it to every device (it signs firmware images)\n", dir, p);
out:
	if (wrote)
		unlink(p);
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	sp_buf_free_secret(&pin);
	free(tok_uri);
	free(fw_uri);
	return res;
}

/* ---- sign ---- */

static int64_t
days_to_not_after(int64_t now, int64_t days)
{
	if (days <= 0 || now + days * 86400 > SP_NOTAFTER_FOREVER_EPOCH)
		return SP_NOTAFTER_FOREVER_EPOCH;
	return now + days * 86400;
}

sp_result
sp_ca_sign(const char *dir, const char *csr_path, const char *out_path, int64_t days,
    bool force, const char *pin_file, FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	char **domains = NULL;
	size_t ndomains = 0;
	X509_REQ *req = NULL;
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *ca_key = NULL;
	sp_csr_info info;
	char crl_dp[SP_CA_CRL_DP_MAX];
	uint8_t serial[SP_SERIAL_LEN];
	sp_certrow *row = NULL;
	sp_buf pem, der, subj;
	int64_t now = sp_now();
	char exp[32];

	sp_buf_init(&pem, SP_PEM_MAX);
	sp_buf_init(&der, SP_PEM_MAX);
	sp_buf_init(&subj, SP_CADB_SUBJECT_MAX - 1);
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_cadb_domains(db, &domains, &ndomains));
	TRY(sp_ca_crl_dp(db, false, crl_dp));
	TRY(sp_csr_load(csr_path, &req));
	TRY(sp_csr_policy(req, (const char *const *)domains, ndomains, &info));
	/* Refuse before anything is recorded: a signed but unwritable cert helps no one. */
	ENSURE(force || !sp_file_exists(out_path), SP_E_EXISTS,
	    "%s: file exists (use --force to replace it)", out_path);
	TRY(sp_ca_load_root(dir, db, SP_ROOT_SERVER, pin_file, &ca, &ca_key));
	TRY_ALLOC(row, calloc(1, sizeof(*row)));
	TRY(sp_cadb_begin(db));
	TRY(sp_serial_new(serial));
	TRY(sp_cert_make_server(ca, ca_key, req, info.cn, info.fqdn, serial, now,
	    days_to_not_after(now, days), crl_dp, &cert));
	TRY(sp_cert_der(cert, &der));
	TRY(sp_cert_pem(cert, &pem));
	res = sp_cert_subject(cert, &subj);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "subject too long"));
	sp_serial_hex(serial, row->serial);
	snprintf(row->ca, sizeof(row->ca), "server");
	snprintf(row->subject, sizeof(row->subject), "%s", sp_buf_cstr(&subj));
	TRY(sp_cert_dates(cert, &row->not_before, &row->not_after));
	row->issued_at = now;
	row->delivered = true;
	TRY(sp_cadb_insert(db, row, der.p, der.len));
	TRY(sp_cadb_commit(db));
	res = sp_write_file(out_path, pem.p, pem.len, 0644, force ? 0 : SP_WRITE_EXCL);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "certificate %s is recorded in %s/%s but was not "
		    "written", row->serial, dir, SP_CA_DB));
	sp_ca_fmt_time(row->not_after, exp);
	fprintf(report, "signed %s\nserial:  %s\nsubject: %s\nexpires: %s\n", out_path,
	    row->serial, row->subject, exp);
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	sp_cadb_domains_free(domains, ndomains);
	X509_REQ_free(req);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	free(row);
	sp_buf_free(&pem);
	sp_buf_free(&der);
	sp_buf_free(&subj);
	return res;
}

/* ---- revoke ---- */

sp_result
sp_ca_revoke(const char *dir, const char *serial_hex, const char *mac, int reason,
    FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	sp_certrow *row = NULL;
	uint8_t sb[64];
	size_t sn = 0;
	char key[130], ma[SP_MAC_STRLEN];
	bool found = false, changed = false;
	sp_mac m;

	TRY_ALLOC(row, calloc(1, sizeof(*row)));
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_cadb_begin(db));
	if (serial_hex) {
		TRY(sp_hex_decode(serial_hex, sb, sizeof(sb), &sn));
		sp_hex(sb, sn, key);
		TRY(sp_cadb_find_serial(db, key, row, &found));
		ENSURE(found, SP_E_NOTFOUND, "no certificate with serial %s in %s/%s", key,
		    dir, SP_CA_DB);
		ENSURE(!row->revoked, SP_E_STATE, "certificate %s is already revoked (%s)",
		    key, sp_reason_name(row->reason));
	} else {
		TRY(sp_mac_parse(sp_slice_of(mac), &m));
		sp_mac_format(&m, SP_MAC_MA, ma);
		TRY(sp_cadb_find_valid_mac(db, ma, row, &found));
		ENSURE(found, SP_E_NOTFOUND, "MAC %s has no valid certificate in %s/%s", ma,
		    dir, SP_CA_DB);
		snprintf(key, sizeof(key), "%s", row->serial);
	}
	TRY(sp_cadb_revoke(db, key, reason, sp_now(), &changed));
	ENSURE(changed, SP_E_STATE, "certificate %s is already revoked", key);
	TRY(sp_cadb_commit(db));
	fprintf(report, "revoked %s (%s)%s%s\nsubject: %s\n"
	    "publish it with: sprov ca crl %s --ca %s\n", key, sp_reason_name(reason),
	    row->mac[0] ? ", MAC " : "", row->mac, row->subject, dir, row->ca);
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	free(row);
	return res;
}

/* ---- crl ---- */

typedef struct {
	sp_crl_entry *e;
	size_t n, cap;
} crl_acc;

static sp_result
crl_collect(const sp_certrow *r, void *arg)
{
	sp_result res = SP_OK;
	crl_acc *a = arg;
	sp_crl_entry *ne;

	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		TRY_ALLOC(ne, realloc(a->e, nc * sizeof(*ne)));
		a->e = ne;
		a->cap = nc;
	}
	memset(&a->e[a->n], 0, sizeof(a->e[a->n]));
	TRY(sp_hex_decode(r->serial, a->e[a->n].serial, sizeof(a->e[a->n].serial),
	    &a->e[a->n].serial_len));
	a->e[a->n].revoked_at = r->revoked_at;
	a->e[a->n].reason = r->reason;
	a->n++;
out:
	return res;
}

sp_result
sp_ca_crl(const char *dir, bool device, const char *out_path, int64_t next_days,
    const char *pin_file, FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	X509 *ca = NULL;
	EVP_PKEY *ca_key = NULL;
	crl_acc acc = { 0 };
	sp_buf pem;
	int64_t number = 0, now = sp_now();
	char def[PATH_MAX], next[32];
	const char *which = device ? "device" : "server";

	sp_buf_init(&pem, 64 * 1024 * 1024);
	if (out_path == NULL) {
		TRY(sp_ca_path(dir, device ? "device-ca.crl" : "server-ca.crl", def,
		    sizeof(def)));
		out_path = def;
	}
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_ca_load_root(dir, db, device ? SP_ROOT_DEVICE : SP_ROOT_SERVER, pin_file, &ca,
	    &ca_key));
	TRY(sp_cadb_begin(db));
	TRY(sp_cadb_next_crl_number(db, which, &number));
	TRY(sp_cadb_each(db, which, true, crl_collect, &acc));
	TRY(sp_crl_make(ca, ca_key, acc.e, acc.n, number, now, now + next_days * 86400,
	    &pem));
	/*
	 * Commit before writing: a number is burnt if the write fails, but no
	 * two different CRLs can ever carry the same number.
	 */
	TRY(sp_cadb_commit(db));
	TRY(sp_write_file(out_path, pem.p, pem.len, 0644, 0));
	sp_ca_fmt_time(now + next_days * 86400, next);
	fprintf(report, "wrote %s: %s CA CRL number %lld, %zu revoked, next update %s\n",
	    out_path, which, (long long)number, acc.n, next);
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	free(acc.e);
	sp_buf_free(&pem);
	return res;
}

/* ---- list ---- */

typedef struct {
	FILE *out;
	bool json;
	size_t n;
} list_ctx;

static sp_result
list_row(const sp_certrow *r, void *arg)
{
	sp_result res = SP_OK;
	list_ctx *c = arg;
	char nb[32], na[32], ra[32];

	sp_ca_fmt_time(r->not_before, nb);
	sp_ca_fmt_time(r->not_after, na);
	sp_ca_fmt_time(r->revoked_at, ra);
	if (c->json) {
		fprintf(c->out, "%s\n  {\"serial\": \"%s\", \"ca\": \"%s\", \"status\": \"%s\", ",
		    c->n ? "," : "", r->serial, r->ca, r->revoked ? "revoked" :
		    r->delivered ? "valid" : "valid-undelivered");
		fputs("\"subject\": ", c->out);
		TRY(sp_json_fput(c->out, sp_slice_of(r->subject)));
		if (r->mac[0])
			fprintf(c->out, ", \"mac\": \"%s\"", r->mac);
		else
			fputs(", \"mac\": null", c->out);
		fprintf(c->out, ", \"not_before\": \"%s\", \"not_after\": \"%s\"", nb, na);
		if (r->revoked)
			fprintf(c->out, ", \"revoked_at\": \"%s\", \"reason\": \"%s\"", ra,
			    sp_reason_name(r->reason));
		fputc('}', c->out);
	} else {
		if (c->n == 0)
			fprintf(c->out, "%-32s %-6s %-8s %-20s %-20s %-12s %s\n", "SERIAL", "CA",
			    "STATUS", "NOT_BEFORE", "NOT_AFTER", "MAC", "SUBJECT");
		fprintf(c->out, "%-32s %-6s %-8s %-20s %-20s %-12s %s\n", r->serial, r->ca,
		    r->revoked ? "revoked" : "valid", nb, na, r->mac[0] ? r->mac : "-",
		    r->subject);
	}
	c->n++;
out:
	return res;
}

sp_result
sp_ca_list(const char *dir, bool json, bool revoked_only, FILE *out)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	list_ctx c = { out, json, 0 };

	TRY(sp_ca_open_db(dir, &db));
	if (json)
		fputc('[', out);
	TRY(sp_cadb_each(db, NULL, revoked_only, list_row, &c));
	if (json)
		fputs(c.n ? "\n]\n" : "]\n", out);
out:
	sp_cadb_close(db);
	return res;
}

/* ---- policy ---- */

sp_result
sp_ca_policy(const char *dir, const char *const *add, size_t nadd,
    const char *const *remove, size_t nremove, bool clear, FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	char **d = NULL;
	size_t n = 0;
	bool found;

	for (size_t i = 0; i < nadd; i++)
		TRY(check_domain(add[i]));
	TRY(sp_ca_open_db(dir, &db));
	if (nadd || nremove || clear) {
		TRY(sp_cadb_begin(db));
		if (clear)
			TRY(sp_cadb_domain_clear(db));
		for (size_t i = 0; i < nremove; i++) {
			TRY(sp_cadb_domain_remove(db, remove[i], &found));
			ENSURE(found || clear, SP_E_NOTFOUND,
			    "'%s' is not an allowed domain", remove[i]);
		}
		for (size_t i = 0; i < nadd; i++)
			TRY(sp_cadb_domain_add(db, add[i]));
		TRY(sp_cadb_commit(db));
	}
	TRY(sp_cadb_domains(db, &d, &n));
	if (n == 0)
		fprintf(report, "allowed domains: any (no allowed-domain policy)\n");
	for (size_t i = 0; i < n; i++)
		fprintf(report, "allowed domain: %s\n", d[i]);
out:
	sp_cadb_rollback(db);
	sp_cadb_close(db);
	sp_cadb_domains_free(d, n);
	return res;
}
