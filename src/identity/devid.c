#include "identity/devid.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "common/text.h"

#define SP_SUBJECT_ATTRS_MAX 32

sp_result
sp_idstyle_parse(const char *s, sp_idstyle *out)
{
	if (strcmp(s, "auto") == 0)
		*out = SP_IDSTYLE_AUTO;
	else if (strcmp(s, "sprov") == 0)
		*out = SP_IDSTYLE_SPROV;
	else if (strcmp(s, "spa") == 0)
		*out = SP_IDSTYLE_SPA;
	else
		return sp_error(SP_E_USAGE,
		    "identity style '%s' is not one of auto, sprov, spa", s);
	return SP_OK;
}

const char *
sp_idstyle_name(sp_idstyle s)
{
	return s == SP_IDSTYLE_SPROV ? "sprov" : s == SP_IDSTYLE_SPA ? "spa" : "auto";
}

/* Serials and product names end up in paths, logs and macros: keep them tame. */
static sp_result
copy_field(const char *what, sp_slice v, char out[SP_DEVID_FIELD_MAX + 1])
{
	char q[96];

	if (v.len == 0 || v.len > SP_DEVID_FIELD_MAX)
		goto bad;
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == ':'))
			goto bad;
	}
	memcpy(out, v.p, v.len);
	out[v.len] = '\0';
	return SP_OK;
bad:
	sp_quote(v, q, sizeof(q));
	return sp_error(SP_E_POLICY,
	    "certificate %s '%s' is not 1-64 of [A-Za-z0-9._:-]", what, q);
}

static bool
is_generic(sp_slice v)
{
	return sp_slice_eq_nocase(v, SP_SLICE_LIT("ciscogeneric"));
}

typedef struct {
	size_t n;
	sp_slice v;
} attr_pick;

static void
pick(const sp_name_attr *attrs, size_t n, sp_attr_type t, attr_pick *p)
{
	p->n = 0;
	p->v = sp_slice_mk("", 0);
	for (size_t i = 0; i < n; i++)
		if (attrs[i].type == t) {
			if (p->n++ == 0)
				p->v = attrs[i].value;
		}
}

sp_result
sp_devid_from_attrs(const sp_name_attr *attrs, size_t n, sp_idstyle mode,
    sp_devid *out)
{
	sp_result res = SP_OK;
	attr_pick cn, st, l, ou, sn;
	sp_mac cn_mac, st_mac;
	bool cn_is_mac, st_is_mac;

	memset(out, 0, sizeof(*out));
	pick(attrs, n, SP_ATTR_CN, &cn);
	pick(attrs, n, SP_ATTR_ST, &st);
	pick(attrs, n, SP_ATTR_L, &l);
	pick(attrs, n, SP_ATTR_OU, &ou);
	pick(attrs, n, SP_ATTR_SERIALNUMBER, &sn);

	ENSURE(!(st.n && is_generic(st.v)) && !(l.n && is_generic(l.v)), SP_E_POLICY,
	    "generic certificate (ciscogeneric) identifies no device");
	cn_is_mac = cn.n == 1 && sp_ok(sp_mac_parse(cn.v, &cn_mac));
	st_is_mac = st.n == 1 && sp_ok(sp_mac_parse(st.v, &st_mac));
	sp_error_clear();

	if (mode == SP_IDSTYLE_AUTO) {
		ENSURE(!(cn_is_mac && st_is_mac), SP_E_POLICY,
		    "subject carries a MAC in both CN and ST; refusing an ambiguous identity");
		ENSURE(cn_is_mac || st_is_mac || cn.n > 1 || st.n > 1, SP_E_POLICY,
		    "certificate subject names no device (no MAC in CN or ST)");
		mode = (cn_is_mac || cn.n > 1) ? SP_IDSTYLE_SPROV : SP_IDSTYLE_SPA;
	}
	if (mode == SP_IDSTYLE_SPROV) {
		ENSURE(cn.n <= 1, SP_E_POLICY,
		    "certificate subject has %zu CNs; it must name one device", cn.n);
		ENSURE(cn_is_mac, SP_E_POLICY,
		    "certificate subject names no device (CN is not a MAC address)");
		ENSURE(sn.n <= 1, SP_E_POLICY, "certificate subject has several serialNumbers");
		ENSURE(ou.n <= 1, SP_E_POLICY, "certificate subject has several OUs");
		out->mac = cn_mac;
		if (sn.n)
			TRY(copy_field("serialNumber", sn.v, out->serial));
	} else {
		ENSURE(st.n <= 1, SP_E_POLICY,
		    "certificate subject has %zu ST attributes; it must name one device", st.n);
		ENSURE(st_is_mac, SP_E_POLICY,
		    "certificate subject names no device (ST is not a MAC address)");
		ENSURE(l.n <= 1, SP_E_POLICY, "certificate subject has several L attributes");
		ENSURE(ou.n <= 1, SP_E_POLICY, "certificate subject has several OUs");
		out->mac = st_mac;
		if (l.n)
			TRY(copy_field("serial (L)", l.v, out->serial));
	}
	if (ou.n)
		TRY(copy_field("product (OU)", ou.v, out->product));
	out->style = mode;
out:
	if (sp_failed(res))
		memset(out, 0, sizeof(*out));
	return res;
}

sp_result
sp_devid_from_x509(X509 *cert, sp_idstyle mode, sp_devid *out)
{
	sp_result res = SP_OK;
	sp_name_attr attrs[SP_SUBJECT_ATTRS_MAX];
	unsigned char *vals[SP_SUBJECT_ATTRS_MAX] = { 0 };
	const X509_NAME *name;
	int count;

	ENSURE(cert != NULL, SP_E_VERIFY, "no client certificate");
	name = X509_get_subject_name(cert);
	count = X509_NAME_entry_count(name);
	ENSURE(count >= 0 && count <= SP_SUBJECT_ATTRS_MAX, SP_E_POLICY,
	    "certificate subject has too many attributes");
	for (int i = 0; i < count; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		int len = ASN1_STRING_to_UTF8(&vals[i], X509_NAME_ENTRY_get_data(e));
		ENSURE(len >= 0, SP_E_POLICY, "certificate subject has an undecodable attribute");
		attrs[i].value = sp_slice_mk((const char *)vals[i], (size_t)len);
		switch (nid) {
		case NID_commonName: attrs[i].type = SP_ATTR_CN; break;
		case NID_organizationalUnitName: attrs[i].type = SP_ATTR_OU; break;
		case NID_organizationName: attrs[i].type = SP_ATTR_O; break;
		case NID_localityName: attrs[i].type = SP_ATTR_L; break;
		case NID_stateOrProvinceName: attrs[i].type = SP_ATTR_ST; break;
		case NID_serialNumber: attrs[i].type = SP_ATTR_SERIALNUMBER; break;
		default: attrs[i].type = SP_ATTR_OTHER; break;
		}
	}
	TRY(sp_devid_from_attrs(attrs, (size_t)count, mode, out));
out:
	for (int i = 0; i < SP_SUBJECT_ATTRS_MAX; i++)
		OPENSSL_free(vals[i]);
	return res;
}
