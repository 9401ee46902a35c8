/*
 * The CN rule of the seed page: a provisioning server certificate's subject CN
 * is the host's FQDN, optionally followed by '/' and extra information:
 *
 *   CN=sprov.callme.com
 *   CN=pv.telco.net/mailto:admin@telco.net
 *
 * One implementation serves `sprov req`, `sprov ca sign` and the device, so
 * that all three accept and refuse exactly the same names.  Pure code: no I/O,
 * no global state.
 */
#ifndef SPROV_IDENTITY_CN_H
#define SPROV_IDENTITY_CN_H

#include "common/buf.h"
#include "common/result.h"

#define SP_CN_MAX 64          /* X.520 ub-common-name */
#define SP_FQDN_MAX 253
#define SP_LABEL_MAX 63

typedef struct sp_cn {
	sp_slice fqdn;   /* points into the input */
	sp_slice extra;  /* after the first '/', empty if none */
	bool has_extra;
} sp_cn;

/*
 * Check a CN against the rule and split it.  On refusal the message reads
 * "CN '<cn>' ...: <rule>" and names the rule that was broken.
 */
SP_MUST_CHECK sp_result sp_cn_parse(sp_slice cn, sp_cn *out);

/* The FQDN part of the rule alone (also used for --allow-domain and hosts). */
SP_MUST_CHECK sp_result sp_fqdn_check(sp_slice name);

/* True if name equals domain or lies below it (case-insensitive, by label). */
bool sp_fqdn_within(sp_slice name, sp_slice domain);

#endif
