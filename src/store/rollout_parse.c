/*
 * The rollout parts that need no store: names, waves, the halt rule,
 * durations and the bucket of a MAC (pure; unit tests and the CLI use
 * them directly).
 */
#include "store/store.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/text.h"
#include "common/util.h"

const char *
sp_rollout_kind_name(sp_rollout_kind k)
{
	switch (k) {
	case SP_ROLLOUT_PARAM:
		return "param";
	case SP_ROLLOUT_FIRMWARE:
		return "firmware";
	case SP_ROLLOUT_ROLLBACK:
		return "rollback";
	}
	return "?";
}

const char *
sp_rollout_state_name(sp_rollout_state s)
{
	switch (s) {
	case SP_ROLLOUT_RUNNING:
		return "running";
	case SP_ROLLOUT_PAUSED:
		return "paused";
	case SP_ROLLOUT_HALTED:
		return "halted";
	case SP_ROLLOUT_DONE:
		return "done";
	case SP_ROLLOUT_ROLLED_BACK:
		return "rolled-back";
	}
	return "?";
}

sp_result
sp_rollout_name_check(sp_slice name)
{
	char q[2 * SP_ROLLOUT_NAME_MAX];

	if (name.len == 0 || name.len > SP_ROLLOUT_NAME_MAX)
		return sp_error(SP_E_USAGE, "a rollout name must be 1 to %d bytes",
		    SP_ROLLOUT_NAME_MAX);
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') ||
		    (i == 0 && (c == '.' || c == '-'))) {
			sp_quote(name, q, sizeof(q));
			return sp_error(SP_E_USAGE, "rollout name '%s': only "
			    "[A-Za-z0-9._-] is allowed, not starting with '.' or '-'",
			    q);
		}
	}
	return SP_OK;
}

sp_result
sp_rollout_waves_parse(sp_slice s, sp_rollout_spec *spec)
{
	sp_result res = SP_OK;
	char q[96];
	size_t i = 0;
	int n = 0;
	int64_t v;

	sp_quote(s, q, sizeof(q));
	ENSURE(s.len > 0, SP_E_USAGE, "--waves is empty: give percentages such "
	    "as 1,10,50,100");
	while (i <= s.len) {
		size_t j = i;
		while (j < s.len && s.p[j] != ',')
			j++;
		ENSURE(n < SP_ROLLOUT_WAVES_MAX, SP_E_USAGE,
		    "--waves '%s': more than %d waves", q, SP_ROLLOUT_WAVES_MAX);
		res = sp_parse_i64_slice(sp_slice_mk(s.p + i, j - i), 1, 100, "wave", &v);
		if (sp_failed(res)) {
			res = sp_error(SP_E_USAGE, "--waves '%s': each wave is a "
			    "percentage from 1 to 100", q);
			goto out;
		}
		ENSURE(n == 0 || v > spec->waves[n - 1], SP_E_USAGE,
		    "--waves '%s': percentages must increase (waves are "
		    "cumulative)", q);
		spec->waves[n++] = (int)v;
		i = j + 1;
	}
	spec->nwaves = n;
out:
	return res;
}

sp_result
sp_rollout_halt_parse(sp_slice s, int *bp)
{
	static const char pre[] = "failure-rate>";
	sp_result res = SP_OK;
	size_t pl = sizeof(pre) - 1, dot;
	int64_t whole = 0, frac = 0;
	sp_slice num;
	char q[96];

	sp_quote(s, q, sizeof(q));
	ENSURE(s.len > pl + 1 && memcmp(s.p, pre, pl) == 0 &&
	    s.p[s.len - 1] == '%', SP_E_USAGE,
	    "--halt-if '%s': expected failure-rate>N%% (N from 0 to 100, at most "
	    "two decimals)", q);
	num = sp_slice_mk(s.p + pl, s.len - pl - 1);
	for (dot = 0; dot < num.len && num.p[dot] != '.'; dot++)
		;
	res = sp_parse_i64_slice(sp_slice_mk(num.p, dot), 0, 100, "rate", &whole);
	if (sp_ok(res) && dot < num.len) {
		sp_slice f = sp_slice_mk(num.p + dot + 1, num.len - dot - 1);
		res = (f.len >= 1 && f.len <= 2) ?
		    sp_parse_i64_slice(f, 0, 99, "rate", &frac) :
		    sp_error(SP_E_PARSE, "decimals");
		if (sp_ok(res) && f.len == 1)
			frac *= 10;
		if (sp_ok(res) && f.p[0] == '-')
			res = sp_error(SP_E_PARSE, "sign");
	}
	if (sp_ok(res) && whole * 100 + frac > 10000)
		res = sp_error(SP_E_PARSE, "range");
	if (sp_failed(res)) {
		res = sp_error(SP_E_USAGE, "--halt-if '%s': expected "
		    "failure-rate>N%% (N from 0 to 100, at most two decimals)", q);
		goto out;
	}
	*bp = (int)(whole * 100 + frac);
out:
	return res;
}

#define SP_ROLLOUT_DURATION_MAX (365 * 86400)

sp_result
sp_rollout_duration_parse(sp_slice s, int64_t *secs)
{
	sp_result res = SP_OK;
	int64_t mul = 1, v = 0;
	char q[64];

	sp_quote(s, q, sizeof(q));
	if (s.len > 1) {
		switch (s.p[s.len - 1]) {
		case 's': mul = 1; s.len--; break;
		case 'm': mul = 60; s.len--; break;
		case 'h': mul = 3600; s.len--; break;
		case 'd': mul = 86400; s.len--; break;
		default: break;
		}
	}
	res = sp_parse_i64_slice(s, 0, SP_ROLLOUT_DURATION_MAX, "duration", &v);
	if (sp_ok(res) && v * mul > SP_ROLLOUT_DURATION_MAX)
		res = sp_error(SP_E_PARSE, "range");
	if (sp_failed(res)) {
		res = sp_error(SP_E_USAGE, "duration '%s': expected seconds, or a "
		    "number with s, m, h or d, up to 365 days", q);
		goto out;
	}
	*secs = v * mul;
out:
	return res;
}

int
sp_rollout_bucket(const uint8_t key[SP_ROLLOUT_KEY_LEN], const sp_mac *mac)
{
	char ma[SP_MAC_STRLEN];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t v = 0;

	sp_mac_format(mac, SP_MAC_MA, ma);
	if (HMAC(EVP_sha256(), key, SP_ROLLOUT_KEY_LEN, (const unsigned char *)ma,
	    strlen(ma), md, &mdlen) == NULL || mdlen < 8)
		return SP_ROLLOUT_BUCKETS - 1;  /* never released: fail closed */
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return (int)(v % SP_ROLLOUT_BUCKETS);
}
