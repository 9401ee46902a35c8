#include "identity/cn.h"

#include "common/text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* `what` names the checked thing in the message, e.g. "CN 'x'". */
static sp_result
fqdn_fail(const char *what, const char *rule)
{
	return sp_error(SP_E_POLICY, "%s is not a fully qualified domain name: %s",
	    what, rule);
}

static sp_result
check_fqdn(sp_slice name, const char *what)
{
	size_t labels = 0, start = 0;
	bool all_digits = true;
	char tmp[SP_FQDN_MAX + 1];
	unsigned char addr[16];

	if (name.len == 0)
		return fqdn_fail(what, "it is empty");
	if (memchr(name.p, '\0', name.len))
		return fqdn_fail(what, "it contains a NUL byte");
	if (name.len > SP_FQDN_MAX)
		return fqdn_fail(what, "longer than 253 characters");
	memcpy(tmp, name.p, name.len);
	tmp[name.len] = '\0';
	if (inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1)
		return fqdn_fail(what, "it is an IP address");
	for (size_t i = 0; i <= name.len; i++) {
		if (i < name.len && name.p[i] != '.') {
			unsigned char c = (unsigned char)name.p[i];
			if (c == '*')
				return fqdn_fail(what, "wildcards are not allowed");
			if (c >= 0x80)
				return fqdn_fail(what,
				    "non-ASCII characters (use the xn-- form)");
			if (!is_ldh(c))
				return fqdn_fail(what,
				    "labels may hold only letters, digits and hyphens");
			if (!isdigit(c))
				all_digits = false;
			continue;
		}
		size_t len = i - start;
		if (len == 0)
			return fqdn_fail(what, i == name.len && i > 0 ?
			    "trailing dot" : "empty label");
		if (len > SP_LABEL_MAX)
			return fqdn_fail(what, "a label is longer than 63 characters");
		if (name.p[start] == '-' || name.p[i - 1] == '-')
			return fqdn_fail(what, "a label starts or ends with a hyphen");
		labels++;
		if (i < name.len) {
			all_digits = true;
			start = i + 1;
		}
	}
	if (labels < 2)
		return fqdn_fail(what, "needs at least two labels");
	if (all_digits)
		return fqdn_fail(what, "the top-level label is all digits");
	return SP_OK;
}

sp_result
sp_fqdn_check(sp_slice name)
{
	char q[160], what[180];

	sp_quote(name, q, sizeof(q));
	snprintf(what, sizeof(what), "'%s'", q);
	return check_fqdn(name, what);
}

sp_result
sp_cn_parse(sp_slice cn, sp_cn *out)
{
	sp_result res = SP_OK;
	char q[160];
	size_t slash;

	sp_quote(cn, q, sizeof(q));
	if (cn.len > 0 && memchr(cn.p, '\0', cn.len))
		return sp_error(SP_E_POLICY, "CN '%s' contains a NUL byte", q);
	if (cn.len > SP_CN_MAX)
		return sp_error(SP_E_POLICY,
		    "CN '%s' is longer than %d characters (X.520 bound)", q, SP_CN_MAX);
	slash = sp_slice_find(cn, '/');
	out->fqdn = sp_slice_mk(cn.p, slash);
	out->has_extra = slash < cn.len;
	out->extra = out->has_extra ? sp_slice_mk(cn.p + slash + 1, cn.len - slash - 1) :
	    sp_slice_mk(cn.p + cn.len, 0);
	{
		char what[400], fq[160];
		if (out->has_extra) {
			sp_quote(out->fqdn, fq, sizeof(fq));
			snprintf(what, sizeof(what), "CN '%s': the host part '%s'", q, fq);
		} else {
			snprintf(what, sizeof(what), "CN '%s'", q);
		}
		res = check_fqdn(out->fqdn, what);
		if (sp_failed(res))
			return res;
	}
	if (out->has_extra) {
		if (out->extra.len == 0)
			return sp_error(SP_E_POLICY,
			    "CN '%s': nothing follows the '/' (extra information is empty)", q);
		for (size_t i = 0; i < out->extra.len; i++) {
			unsigned char c = (unsigned char)out->extra.p[i];
			if (c < 0x20 || c > 0x7e)
				return sp_error(SP_E_POLICY,
				    "CN '%s': extra information must be printable ASCII", q);
		}
	}
	return res;
}

bool
sp_fqdn_within(sp_slice name, sp_slice domain)
{
	if (domain.len == 0 || name.len < domain.len)
		return false;
	sp_slice tail = sp_slice_mk(name.p + name.len - domain.len, domain.len);
	if (!sp_slice_eq_nocase(tail, domain))
		return false;
	return name.len == domain.len || name.p[name.len - domain.len - 1] == '.';
}
