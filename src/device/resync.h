/*
 * One resync of a device (`sprov device resync`, and each round of the
 * daemon): run Profile_Rule, _B, _C, _D in order, stopping at the first
 * failure; fetch each chosen URL over HTTPS with every server check
 * (fetch.h); decode each profile (decrypt, gunzip, parse); and apply the
 * round's result all or nothing.
 *
 * Design decisions:
 *  - the whole round is one transaction: the store (params.xml) and the
 *    ETags are replaced only when every rule of the round succeeded, so a
 *    failure anywhere leaves the store byte-for-byte what it was, and a
 *    retry fetches the same profiles again (no stale 304);
 *  - assignments of a rule ("( $A = 1 )!") are stored as GPP_x with the round;
 *  - parameters read by the resync itself are taken once at the start of the
 *    round, so what a profile sets takes effect on the next round;
 *  - a rule whose conditions all fail, or whose alternative has no URL, is
 *    not a failure: there is nothing to fetch.
 */
#ifndef SPROV_DEVICE_RESYNC_H
#define SPROV_DEVICE_RESYNC_H

#include <signal.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/result.h"
#include "device/check.h"
#include "device/device.h"
#include "device/fetch.h"
#include "device/pin.h"
#include "device/rsyslog.h"
#include "profile/rule.h"

#define SP_ERRTEXT_MAX 512
#define SP_RESYNC_RULES 4
#define SP_LOG_LINE_MAX 1024             /* one expanded Log_Resync_* line */
#define SP_REPORT_RESPONSE_MAX (64u * 1024) /* what a Report_Rule server may answer */
#define SP_DEVICE_OUT_MAX (1024u * 1024)  /* --json and `device rule` output */

/* $PRVST values. */
enum { SP_PRVST_REQUESTED = -1, SP_PRVST_POWERUP = 0, SP_PRVST_PERIODIC = 1,
       SP_PRVST_RETRY = 2 };

typedef struct sp_resync_opts {
	const char *rule;          /* replaces the Profile_Rule.._D sequence */
	const char *dns_servers;   /* c-ares CSV (from --dns-server), NULL: params */
	int prvst;
	bool report;               /* POST Report_Rule after a success */
	volatile sig_atomic_t *cancel;
	int64_t now;               /* for the state file; 0: the clock */
} sp_resync_opts;

typedef struct sp_resync_outcome {
	bool ok;
	sp_srvcheck failed_check;
	char rule[24];                 /* the rule that failed or ran last */
	char err[SP_ERRTEXT_MAX];      /* $ERR */
	char url[SP_URL_MAX + 1];
	char server[SP_URL_HOST_MAX + 1];
	char address[SP_ADDRSTR_MAX];
	unsigned port;
	long status;
	char etag[SP_ETAG_MAX + 1];
	sp_buf changed;                /* names of changed parameters, '\n'-separated */
	size_t n_changed;
	bool report_sent;
} sp_resync_outcome;

void sp_resync_outcome_init(sp_resync_outcome *o);
void sp_resync_outcome_free(sp_resync_outcome *o);

/*
 * Run one resync on the device in dir.  Returns SP_OK when the round
 * succeeded; otherwise the error (also in out->err) and out->failed_check.
 * The Log_Resync_* messages are logged either way.
 */
SP_MUST_CHECK sp_result sp_resync(const char *dir, const sp_resync_opts *o,
    sp_resync_outcome *out);

/*
 * The opening of a resync's or an upgrade's JSON object, without the
 * closing brace: {"ok","check","error","result","rule","url","server",
 * "address","port","status".
 */
SP_MUST_CHECK sp_result sp_resync_json_fetch(sp_buf *out, bool ok, sp_srvcheck check,
    const char *err, const char *rule, const char *url, const char *server,
    const char *address, unsigned port, long status);

/* The outcome as one JSON object (no secrets: names, never values). */
SP_MUST_CHECK sp_result sp_resync_json(const sp_resync_outcome *o, sp_buf *out);

/*
 * `sprov device rule`: what a resync would do with each rule, offline.
 * rule: NULL for the device's Profile_Rule.._D.
 */
SP_MUST_CHECK sp_result sp_resync_describe(const char *dir, const char *rule, sp_buf *out);

/*
 * Pieces the upgrade (upgrade.h) shares with the resync:
 *  - sp_resync_log: expand the template parameter `name` (dflt when unset)
 *    and log it (and to remote, the Syslog_Server, when not NULL);
 *  - sp_resync_dns_servers: the DNS servers, `given` (--dns-server) or
 *    Primary_DNS / Secondary_DNS;
 *  - sp_resync_pin: the Provision_Domain pin in force (device.conf's,
 *    narrowed by a profile's);
 *  - sp_resync_ip_warning: the text of the warning for an IP-literal URL
 *    host, false for a host name;
 *  - sp_resync_clean_copy: copy with control bytes shown as '?'.
 */
void sp_resync_log(const sp_params *eff, const char *name, const char *dflt,
    const sp_macros *m, sp_log_level lvl, sp_rsyslog *remote);
SP_MUST_CHECK sp_result sp_resync_dns_servers(const char *given, const sp_params *eff,
    sp_buf *csv);
SP_MUST_CHECK sp_result sp_resync_pin(const sp_device *d, sp_pin *pin, bool warn);
bool sp_resync_ip_warning(const sp_url *u, const sp_pin *pin, char *out, size_t outsz);
void sp_resync_clean_copy(char *dst, size_t dstsz, const char *src);

/* The macro context of a device (identity, GPPs, PRVST, ...). */
SP_MUST_CHECK sp_result sp_resync_macros(const sp_device *d, const sp_params *eff,
    int prvst, int64_t now, sp_macros *m);

#endif
