/*
 * The vendor's CA (`sprov ca`): three independent roots in DIR, the server CA
 * (signs provisioning servers), the device CA (signs device client
 * certificates) and the firmware-signing key (signs firmware containers,
 * docs/FIRMWARE.md), and the issuance database DIR/ca.db.
 *
 * Roots are EC keys valid until 99991231235959Z: device certificates carry
 * that notAfter by default (IEEE 802.1AR) and a chain must not expire before
 * its leaf.  The server CA uses P-384 (few, long-lived signatures); the device
 * CA uses P-256, whose signatures are an order of magnitude cheaper and which
 * every TLS stack in a phone supports.  The firmware key uses P-384 like the
 * server CA: a handful of signatures in a device's life, each checked once
 * per upgrade, and its compromise would let anyone flash any device.
 */
#ifndef SPROV_CA_CA_H
#define SPROV_CA_CA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ca/db.h"
#include "common/result.h"
#include "pki/pki.h"

#define SP_CA_DB "ca.db"
#define SP_CA_SERVER_CRT "server-ca.crt"
#define SP_CA_SERVER_KEY "server-ca.key"
#define SP_CA_DEVICE_CRT "device-ca.crt"
#define SP_CA_DEVICE_KEY "device-ca.key"
#define SP_CA_FIRMWARE_CRT "firmware-ca.crt"
#define SP_CA_FIRMWARE_KEY "firmware-ca.key"
#define SP_CA_ORG_MAX 64
#define SP_CA_DAYS_MAX 36500
#define SP_SIGN_DAYS_DEFAULT 397   /* a server certificate is renewed yearly */
#define SP_CRL_DAYS_DEFAULT 30
#define SP_ISSUE_CHUNK 256
/*
 * CRL distribution point: one base URL per CA directory (meta "crl_url" in
 * ca.db); certificates of the server CA point at BASE "server-ca.crl", those
 * of the device CA at BASE "device-ca.crl", the files `sprov ca crl` writes
 * by default.  Two CAs, two CRLs, one place to publish them.
 */
#define SP_CA_CRL_URL_MAX 200
#define SP_CA_CRL_SERVER_FILE "server-ca.crl"
#define SP_CA_CRL_DEVICE_FILE "device-ca.crl"
#define SP_CA_CRL_DP_MAX (SP_CA_CRL_URL_MAX + sizeof(SP_CA_CRL_SERVER_FILE))
#define SP_CSV_MAX (64 * 1024 * 1024)
#define SP_ISSUE_DEVICES_MAX 10000000

/*
 * CA keys in a PKCS#11 token instead of DIR/\*-ca.key: `ca init --pkcs11`
 * generates them there (objects SP_CA_TOKEN_SERVER_LABEL and
 * SP_CA_TOKEN_DEVICE_LABEL) and ca.db keeps their URIs and the module path
 * (meta SP_CA_META_*), so later commands need only the PIN.
 */
#define SP_CA_TOKEN_SERVER_LABEL "sprov-server-ca"
#define SP_CA_TOKEN_DEVICE_LABEL "sprov-device-ca"
#define SP_CA_TOKEN_FIRMWARE_LABEL "sprov-firmware-ca"
#define SP_CA_META_SERVER_KEY "pkcs11_server_key"
#define SP_CA_META_DEVICE_KEY "pkcs11_device_key"
#define SP_CA_META_FIRMWARE_KEY "pkcs11_firmware_key"
#define SP_CA_META_MODULE "pkcs11_module"
typedef struct sp_ca_token {
	const char *uri;       /* pkcs11:token=LABEL (token attributes only) */
	const char *module;    /* NULL: the p11-kit proxy */
	const char *pin_file;  /* NULL: $SPROV_PKCS11_PIN */
} sp_ca_token;

/* tok NULL: keys in DIR as files. */
SP_MUST_CHECK sp_result sp_ca_init(const char *dir, const char *org,
    const char *const *domains, size_t ndomains, const char *crl_url,
    const sp_ca_token *tok);

/*
 * `sprov ca init DIR --add-firmware-key`: the firmware-signing root for a
 * CA made before it existed; a file key for a file CA, a key in the same
 * token for a token CA (pin_file as for sp_ca_sign).  Refused, with nothing
 * changed, when DIR already has one (or the remains of one).
 */
SP_MUST_CHECK sp_result sp_ca_add_firmware_key(const char *dir, const char *pin_file,
    FILE *report);

/* DIR has a firmware-signing root (its certificate): bundles carry it. */
SP_MUST_CHECK sp_result sp_ca_has_firmware_key(const char *dir, bool *has);

/*
 * A --crl-url base: http or https, a host, a path ending in '/', no query,
 * fragment, '%', ',' or quote, at most SP_CA_CRL_URL_MAX bytes.  Pure.
 */
SP_MUST_CHECK sp_result sp_ca_crl_url_check(const char *url);

/* `sprov ca set DIR --crl-url URL` ("" removes it); reports the setting. */
SP_MUST_CHECK sp_result sp_ca_set_crl_url(const char *dir, const char *url, FILE *report);

/* pin_file: a token CA's PIN file (NULL: $SPROV_PKCS11_PIN); unused for file keys. */
SP_MUST_CHECK sp_result sp_ca_sign(const char *dir, const char *csr_path,
    const char *out_path, int64_t days, bool force, const char *pin_file, FILE *report);

SP_MUST_CHECK sp_result sp_ca_revoke(const char *dir, const char *serial_hex,
    const char *mac, int reason, FILE *report);

SP_MUST_CHECK sp_result sp_ca_crl(const char *dir, bool device, const char *out_path,
    int64_t next_days, const char *pin_file, FILE *report);

SP_MUST_CHECK sp_result sp_ca_list(const char *dir, bool json, bool revoked_only,
    FILE *out);

SP_MUST_CHECK sp_result sp_ca_policy(const char *dir, const char *const *add, size_t nadd,
    const char *const *remove, size_t nremove, bool clear, FILE *report);

typedef struct sp_issue_opts {
	const char *dir;
	const char *outdir;
	const char *mac;       /* single device, or */
	const char *csv;       /* a CSV file mac,serial,product[,group] */
	const char *serial;    /* single device: optional */
	const char *product;   /* single device: optional */
	sp_devstyle style;
	int64_t days;          /* <= 0: notAfter 99991231235959Z */
	bool reissue;
	sp_key_type key_type;
	bool progress_bar;     /* stderr is a terminal */
	const char *pin_file;  /* a token CA's PIN file (NULL: $SPROV_PKCS11_PIN) */
} sp_issue_opts;

/* Exit-status-relevant outcome: refused > 0 means some device was refused. */
typedef struct sp_issue_stats {
	size_t issued, skipped, refused, replaced;
} sp_issue_stats;

SP_MUST_CHECK sp_result sp_ca_issue(const sp_issue_opts *o, FILE *report,
    sp_issue_stats *stats);

/*
 * `sprov ca sign-firmware`: IMAGE as a signed container (docs/FIRMWARE.md)
 * for product and version, signed with the firmware-signing key (a file or
 * token key), written atomically to out_path and checked against
 * firmware-ca.crt as a device will check it.  A bad product or version, an
 * existing out_path without force, or a CA without the key: refused with
 * nothing written.
 */
SP_MUST_CHECK sp_result sp_ca_sign_firmware(const char *dir, const char *image,
    const char *product, const char *version, const char *out_path, bool force,
    const char *pin_file, FILE *report);

/* Helpers shared by ca.c, issue.c and firmware.c. */
/* ca.db of the CA in dir: "no CA here" if there is none. */
SP_MUST_CHECK sp_result sp_ca_open_db(const char *dir, sp_cadb **db);
SP_MUST_CHECK sp_result sp_ca_path(const char *dir, const char *file, char *out,
    size_t outsz);
/*
 * A root's certificate and key: DIR's key file, or the token key that db
 * names.  A CA without the firmware root: SP_E_NOTFOUND saying how to add it.
 */
SP_MUST_CHECK sp_result sp_ca_load_root(const char *dir, sp_cadb *db, sp_root_kind kind,
    const char *pin_file, X509 **cert, EVP_PKEY **key);
/* The CRL distribution point for the device or server CA's certificates; "" if none. */
SP_MUST_CHECK sp_result sp_ca_crl_dp(sp_cadb *db, bool device, char out[SP_CA_CRL_DP_MAX]);
void sp_ca_fmt_time(int64_t t, char out[32]);

#endif
