/*
 * Firmware upgrades of a device (`sprov device upgrade`, and the daemon's
 * upgrade timer), as the guide's Upgrade_Rule describes them:
 *
 *   Upgrade_Enable             Yes (default) / No
 *   Upgrade_Rule               Profile_Rule syntax, with the short version
 *                              conditions "(<1.0)? URL", "(! 1.0.2)? URL"
 *   Upgrade_Error_Retry_Delay  seconds before a failed upgrade is tried again
 *                              (default 3600; 0: a failure is final until
 *                              the rule text changes)
 *   Downgrade_Rev_Limit        refuse any image below this version (default
 *                              empty: no limit)
 *   Log_Upgrade_Request_Msg, Log_Upgrade_Success_Msg, Log_Upgrade_Failure_Msg
 *
 * One attempt: the rule chooses a URL (a URL without scheme and server,
 * "/firmware/$PN/2.0.1.sfw", takes them from the Profile_Rule URL); the image
 * is fetched with the resync's four server checks, streamed to a temporary
 * file in the device directory (at most SP_UPGRADE_DOWNLOAD_MAX bytes, never
 * whole in memory), and verified (firmware/image.h) against the public key
 * of firmware-ca.crt.  Refused, with firmware.img unchanged byte for byte:
 * another signer or none, another product ($PN), a version below
 * Downgrade_Rev_Limit, a truncated image or trailing bytes, and an image
 * whose version still satisfies the condition that chose it ("no loop").
 * An alternative without a condition is tried once until the rule text
 * changes (the state file keeps the rule's digest).
 *
 * "Flashing" replaces firmware.img atomically (temporary file, fsync,
 * rename, fsync of the directory) and then sets Software_Version in
 * device.conf, so the next request's User-Agent reports the new version.
 */
#ifndef SPROV_DEVICE_UPGRADE_H
#define SPROV_DEVICE_UPGRADE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "device/resync.h"
#include "firmware/image.h"

#define SP_UPGRADE_DOWNLOAD_MAX ((size_t)(SP_FW_HEADER_MAX + SP_FW_PAYLOAD_MAX))
#define SP_UPGRADE_RETRY_DEFAULT 3600

typedef struct sp_upgrade_opts {
	const char *rule;            /* instead of the device's Upgrade_Rule */
	const char *dns_servers;     /* c-ares CSV, NULL: Primary_DNS.. or the system's */
	volatile sig_atomic_t *cancel;
	int64_t now;                 /* 0: the clock */
} sp_upgrade_opts;

typedef struct sp_upgrade_outcome {
	bool ok;                     /* no failure: flashed, or nothing to do */
	bool upgraded;               /* a new image was flashed */
	bool attempted;              /* the rule chose an image to fetch */
	sp_srvcheck failed_check;
	int64_t retry_delay;         /* after a failure: seconds, -1: not retried */
	char err[SP_ERRTEXT_MAX];    /* what happened ($ERR) */
	char rule[24];               /* "Upgrade_Rule" or "--rule" */
	char url[SP_URL_MAX + 1];
	char server[SP_URL_HOST_MAX + 1];
	char address[SP_ADDRSTR_MAX];
	unsigned port;
	long status;
	char from[SP_DEVID_FIELD_MAX + 1];   /* the running version before */
	char product[SP_FW_PRODUCT_MAX + 1]; /* the image's, once read */
	char version[SP_FW_VERSION_MAX + 1];
} sp_upgrade_outcome;

void sp_upgrade_outcome_init(sp_upgrade_outcome *o);

/*
 * One upgrade attempt on the device in dir.  SP_OK when nothing failed
 * (out->upgraded says whether an image was flashed); otherwise the error
 * (also in out->err).  Log_Upgrade_Request_Msg is logged on each
 * connection, Log_Upgrade_Success_Msg / _Failure_Msg once the rule chose an
 * image.
 */
SP_MUST_CHECK sp_result sp_upgrade(const char *dir, const sp_upgrade_opts *o,
    sp_upgrade_outcome *out);

/* The outcome as one JSON object. */
SP_MUST_CHECK sp_result sp_upgrade_json(const sp_upgrade_outcome *o, sp_buf *out);

/*
 * `sprov device rule`: what Upgrade_Rule (or rule) would do now, offline:
 * the selection, the URL after the Profile_Rule defaults, and whether the
 * "once" memory or Upgrade_Enable stops it.
 */
SP_MUST_CHECK sp_result sp_upgrade_describe(const char *dir, const char *rule, sp_buf *out);

/* Upgrade_Enable of the device in dir (false when it cannot be read). */
bool sp_upgrade_enabled(const char *dir);

#endif
