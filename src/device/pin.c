#include "device/pin.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"

sp_result
sp_pin_parse(sp_slice text, sp_pin *out)
{
	sp_result res = SP_OK;
	sp_slice s = text;

	memset(out, 0, sizeof(*out));
	if (sp_slice_trim(s).len == 0)
		goto out;
	for (;;) {
		size_t c = sp_slice_find(s, ',');
		sp_slice d = sp_slice_trim(sp_slice_mk(s.p, c));
		char q[80];

		if (d.len > 0 && d.p[d.len - 1] == '.')
			d.len--;
		sp_quote(d, q, sizeof(q));
		ENSURE(out->n < SP_PIN_DOMAINS_MAX, SP_E_LIMIT,
		    SP_PIN_PARAM ": more than %d domains", SP_PIN_DOMAINS_MAX);
		ENSURE(d.len > 0 && d.len <= SP_FQDN_MAX, SP_E_PARSE,
		    SP_PIN_PARAM ": '%s' is not a domain name", q);
		res = sp_fqdn_check(d);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, SP_PIN_PARAM);
			goto out;
		}
		memcpy(out->domain[out->n], d.p, d.len);
		out->domain[out->n][d.len] = '\0';
		out->n++;
		if (c >= s.len)
			break;
		s = sp_slice_mk(s.p + c + 1, s.len - c - 1);
	}
out:
	if (sp_failed(res))
		out->n = 0;
	return res;
}

static bool
pin_allows(const sp_pin *pin, sp_slice name)
{
	for (size_t i = 0; i < pin->n; i++)
		if (sp_fqdn_within(name, sp_slice_of(pin->domain[i])))
			return true;
	return false;
}

sp_result
sp_pin_effective(const char *local, const char *prof, sp_pin *out, bool *ignored)
{
	sp_result res = SP_OK;
	sp_pin lp, pp;

	*ignored = false;
	res = sp_pin_parse(sp_slice_of(local ? local : ""), &lp);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "device.conf");
		goto out;
	}
	*out = lp;
	if (prof == NULL)
		goto out;
	if (sp_failed(sp_pin_parse(sp_slice_of(prof), &pp))) {
		/* A profile must not lock the device out of its next resync. */
		*ignored = true;
		sp_error_clear();
		goto out;
	}
	if (lp.n > 0) {
		/* Clearing the pin, or any domain outside it, would widen it. */
		bool narrower = pp.n > 0;
		for (size_t i = 0; i < pp.n && narrower; i++)
			narrower = pin_allows(&lp, sp_slice_of(pp.domain[i]));
		if (!narrower) {
			*ignored = true;
			goto out;
		}
	}
	*out = pp;
out:
	return res;
}

void
sp_pin_format(const sp_pin *pin, char *out, size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < pin->n && len < outsz; i++) {
		int n = snprintf(out + len, outsz - len, "%s%s", i ? ", " : "", pin->domain[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

sp_result
sp_pin_check(const sp_pin *pin, const char *fqdn)
{
	char list[512];

	if (pin == NULL || pin->n == 0 || pin_allows(pin, sp_slice_of(fqdn)))
		return SP_OK;
	sp_pin_format(pin, list, sizeof(list));
	return sp_error(SP_E_VERIFY, "server check 2 (cn): " SP_PIN_PARAM " rule: the server "
	    "certificate's FQDN '%s' is not within " SP_PIN_PARAM " (%s)", fqdn, list);
}
