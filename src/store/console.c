/*
 * The console's records (store/console.h): names and parsers, and the
 * front every backend's console functions go through.
 */
#include "store/console.h"
#include "store/store_internal.h"

#include <string.h>

static const char *const fail_names[SP_FAIL_N] = {
	[SP_FAIL_REVOKED] = "revoked",
	[SP_FAIL_EXPIRED] = "expired",
	[SP_FAIL_NOT_YET_VALID] = "not-yet-valid",
	[SP_FAIL_WRONG_PURPOSE] = "wrong-purpose",
	[SP_FAIL_UNTRUSTED] = "untrusted",
	[SP_FAIL_NO_CRL] = "no-crl",
	[SP_FAIL_NO_CERT] = "no-certificate",
	[SP_FAIL_BAD_IDENTITY] = "bad-identity",
	[SP_FAIL_UNKNOWN_DEVICE] = "unknown-device",
	[SP_FAIL_DISABLED] = "disabled",
	[SP_FAIL_MISMATCH] = "identity-mismatch",
	[SP_FAIL_HANDSHAKE] = "handshake",
};

static const char *const status_names[SP_DST_N] = {
	[SP_DST_OK] = "ok",
	[SP_DST_BEHIND] = "behind",
	[SP_DST_FAILING] = "failing",
	[SP_DST_NEVER_SEEN] = "never-seen",
	[SP_DST_DISABLED] = "disabled",
	[SP_DST_REVOKED] = "revoked",
};

const char *
sp_fail_reason_name(sp_fail_reason r)
{
	return (unsigned)r < SP_FAIL_N ? fail_names[r] : "?";
}

sp_result
sp_fail_reason_parse(const char *s, sp_fail_reason *out)
{
	for (int i = 0; s && i < SP_FAIL_N; i++)
		if (strcmp(s, fail_names[i]) == 0) {
			*out = (sp_fail_reason)i;
			return SP_OK;
		}
	return sp_error(SP_E_PARSE, "unknown failure reason");
}

const char *
sp_dev_status_name(sp_dev_status st)
{
	return (unsigned)st < SP_DST_N ? status_names[st] : "?";
}

sp_result
sp_dev_status_parse(const char *s, sp_dev_status *out)
{
	for (int i = 0; s && i < SP_DST_N; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (sp_dev_status)i;
			return SP_OK;
		}
	return sp_error(SP_E_PARSE, "unknown device status: expected ok, "
	    "behind, failing, never-seen, disabled or revoked");
}

static sp_result
not_built(void)
{
	return sp_error(SP_E_INTERNAL, "console records: not built yet");
}

sp_result
sp_store_failure_batch(sp_store *s, const sp_failure *v, size_t n)
{
	(void)s; (void)v; (void)n;
	return not_built();
}

sp_result
sp_store_inventory(sp_store *s, const sp_inv_query *q, sp_store_inv_cb cb,
    void *arg, char next[SP_INV_CURSOR_MAX + 1])
{
	(void)s; (void)q; (void)cb; (void)arg;
	next[0] = '\0';
	return not_built();
}

sp_result
sp_store_device_detail(sp_store *s, const sp_mac *mac, sp_dev_detail *out,
    bool *found)
{
	(void)s; (void)mac; (void)out;
	*found = false;
	return not_built();
}

sp_result
sp_store_unknown_list(sp_store *s, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg)
{
	(void)s; (void)limit; (void)cb; (void)arg;
	return not_built();
}

sp_result
sp_store_summary(sp_store *s, int64_t now, sp_summary *out)
{
	(void)s; (void)now;
	memset(out, 0, sizeof(*out));
	return not_built();
}
