#include "pki/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "identity/cn.h"
#include "pki/pki_internal.h"

/* ---- serials ---- */

sp_result
sp_serial_new(uint8_t out[SP_SERIAL_LEN])
{
	if (RAND_bytes(out, SP_SERIAL_LEN) != 1)
		return sp_error_ossl(SP_E_CRYPTO, "random serial");
	/*
	 * Positive (top bit clear) and always 16 bytes long (0x40 set), so the
	 * DER and the hex form have one spelling: 126 random bits, far beyond
	 * the 64 the CA/B Forum asks for.
	 */
	out[0] = (uint8_t)((out[0] & 0x7f) | 0x40);
	return SP_OK;
}

void
sp_serial_hex(const uint8_t s[SP_SERIAL_LEN], char out[SP_SERIAL_HEXLEN + 1])
{
	sp_hex(s, SP_SERIAL_LEN, out);
}

sp_result
sp_hex_decode(const char *hex, uint8_t *out, size_t outsz, size_t *outlen)
{
	size_t n = strlen(hex), i, o = 0;
	char q[80];

	if (n > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
		hex += 2, n -= 2;
	if (n == 0 || n > 2 * outsz)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')) && c != ':')
			goto bad;
	}
	/* Odd number of digits: an implied leading zero; colons are skipped. */
	{
		unsigned acc = 0, nd = 0;
		size_t digits = 0;
		for (i = 0; i < n; i++)
			if (hex[i] != ':')
				digits++;
		if (digits % 2)
			nd = 1;
		for (i = 0; i < n; i++) {
			char c = hex[i];
			unsigned v;
			if (c == ':')
				continue;
			v = (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
			acc = acc << 4 | v;
			if (++nd == 2) {
				if (o >= outsz)
					goto bad;
				out[o++] = (uint8_t)acc;
				acc = 0;
				nd = 0;
			}
		}
	}
	/* Serials are integers: drop leading zero bytes, keep at least one. */
	{
		size_t z = 0;
		while (z + 1 < o && out[z] == 0)
			z++;
		memmove(out, out + z, o - z);
		o -= z;
	}
	*outlen = o;
	return SP_OK;
bad:
	snprintf(q, sizeof(q), "%.64s", hex);
	return sp_error(SP_E_USAGE, "serial '%s' is not a hexadecimal number", q);
}

sp_result
sp_cert_serial_hex(X509 *cert, char *out, size_t outsz)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(cert);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);

	while (n > 1 && d[0] == 0)
		d++, n--;
	if (n <= 0 || (size_t)n * 2 + 1 > outsz)
		return sp_error(SP_E_LIMIT, "certificate serial too long");
	sp_hex(d, (size_t)n, out);
	return SP_OK;
}

/* ---- reading and printing ---- */

sp_result
sp_cert_parse_pem(const uint8_t *p, size_t n, X509 **out)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;

	*out = NULL;
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(p, (int)n), "certificate");
	TRY_OSSL_PTR(*out, PEM_read_bio_X509(bio, NULL, NULL, NULL),
	    "not a PEM certificate");
out:
	BIO_free(bio);
	return res;
}

sp_result
sp_cert_load(const char *path, X509 **out)
{
	return pki_load(path, PKI_CERT, out);
}

sp_result
sp_cert_pem(X509 *cert, sp_buf *out)
{
	return pki_encode(PKI_CERT, cert, out);
}

sp_result
sp_cert_der(X509 *cert, sp_buf *out)
{
	sp_result res = SP_OK;
	unsigned char *der = NULL;
	int n = i2d_X509(cert, &der);

	ENSURE(n > 0, SP_E_CRYPTO, "certificate encoding");
	TRY(sp_buf_append(out, der, (size_t)n));
out:
	OPENSSL_free(der);
	return res;
}

sp_result
sp_cert_subject(X509 *cert, sp_buf *out)
{
	return pki_encode(PKI_SUBJECT, X509_get_subject_name(cert), out);
}

static sp_result
asn1_time_epoch(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return sp_error(SP_E_PARSE, "certificate has a malformed date");
	*out = (int64_t)timegm(&tm);
	return SP_OK;
}

sp_result
sp_cert_dates(X509 *cert, int64_t *not_before, int64_t *not_after)
{
	sp_result res = SP_OK;

	TRY(asn1_time_epoch(X509_get0_notBefore(cert), not_before));
	TRY(asn1_time_epoch(X509_get0_notAfter(cert), not_after));
out:
	return res;
}

/* ---- building ---- */

/* A new v3 certificate with this serial: the start of every certificate we make. */
static sp_result
cert_new(const uint8_t serial[SP_SERIAL_LEN], X509 **out)
{
	sp_result res = SP_OK;
	X509 *x = NULL;

	TRY_OSSL_PTR(x, X509_new(), "certificate");
	TRY_OSSL(X509_set_version(x, X509_VERSION_3), "version");
	/* Positive, no leading zero byte (sp_serial_new): the raw bytes are the DER content. */
	TRY_OSSL(ASN1_STRING_set(X509_get_serialNumber(x), serial, SP_SERIAL_LEN),
	    "serial");
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return res;
}

static sp_result
set_dates(X509 *x, int64_t not_before, int64_t not_after)
{
	sp_result res = SP_OK;

	/* ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime after (RFC 5280). */
	ENSURE(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) != NULL,
	    SP_E_CRYPTO, "notBefore");
	ENSURE(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after) != NULL,
	    SP_E_CRYPTO, "notAfter");
out:
	return res;
}

static sp_result
add_ext_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	sp_result res = SP_OK;
	X509_EXTENSION *ext = NULL;

	TRY_OSSL_PTR(ext, X509V3_EXT_nconf_nid(NULL, ctx, nid, value), "extension %s=%s",
	    OBJ_nid2sn(nid), value);
	TRY_OSSL(X509_add_ext(x, ext, -1), "extension %s", OBJ_nid2sn(nid));
out:
	X509_EXTENSION_free(ext);
	return res;
}

/* SKI: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
static sp_result
add_ski(X509 *x)
{
	sp_result res = SP_OK;
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
	unsigned char md[SHA_DIGEST_LENGTH];
	ASN1_OCTET_STRING *ski = NULL;

	ENSURE(bits != NULL, SP_E_CRYPTO, "certificate has no public key");
	SHA1(ASN1_STRING_get0_data(bits), (size_t)ASN1_STRING_length(bits), md);
	TRY_OSSL_PTR(ski, ASN1_OCTET_STRING_new(), "SKI");
	TRY_OSSL(ASN1_OCTET_STRING_set(ski, md, sizeof(md)), "SKI");
	TRY_OSSL(X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
	    X509V3_ADD_DEFAULT), "SKI");
out:
	ASN1_OCTET_STRING_free(ski);
	return res;
}

sp_result
pki_make_aki(X509 *ca, X509_EXTENSION **out)
{
	sp_result res = SP_OK;
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
	AUTHORITY_KEYID *akid = NULL;

	ENSURE(ski != NULL, SP_E_CRYPTO, "CA certificate has no subject key identifier");
	TRY_OSSL_PTR(akid, AUTHORITY_KEYID_new(), "AKI");
	TRY_OSSL_PTR(akid->keyid, ASN1_OCTET_STRING_dup(ski), "AKI");
	TRY_OSSL_PTR(*out, X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid), "AKI");
out:
	AUTHORITY_KEYID_free(akid);
	return res;
}

static sp_result
sign_cert(X509 *x, EVP_PKEY *key)
{
	sp_result res = SP_OK;

	TRY_OSSL(X509_sign(x, key, EVP_sha256()) > 0 ? 1 : 0, "signing the certificate");
out:
	return res;
}

/* A self-signed certificate of subject O=org, CN=cn with these extensions. */
static sp_result
make_selfsigned(EVP_PKEY *key, const char *org, const char *cn,
    const uint8_t serial[SP_SERIAL_LEN], const char *bc, const char *ku, const char *eku,
    X509 **out)
{
	sp_result res = SP_OK;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX ctx;

	TRY(cert_new(serial, &x));
	TRY_OSSL_PTR(name, X509_NAME_new(), "root subject");
	TRY_OSSL(X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0), "root subject O='%s'", org);
	TRY_OSSL(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), "root subject CN='%s'", cn);
	TRY_OSSL(X509_set_subject_name(x, name), "root subject");
	TRY_OSSL(X509_set_issuer_name(x, name), "root issuer");
	/* Backdated an hour so a device with a slightly slow clock accepts it at once. */
	TRY(set_dates(x, sp_now() - 3600, SP_NOTAFTER_FOREVER_EPOCH));
	TRY_OSSL(X509_set_pubkey(x, key), "root public key");
	TRY(add_ski(x));
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	TRY(add_ext_conf(x, &ctx, NID_basic_constraints, bc));
	TRY(add_ext_conf(x, &ctx, NID_key_usage, ku));
	if (eku != NULL)
		TRY(add_ext_conf(x, &ctx, NID_ext_key_usage, eku));
	TRY(add_ext_conf(x, &ctx, NID_authority_key_identifier, "keyid:always"));
	TRY(sign_cert(x, key));
	*out = x;
	x = NULL;
out:
	X509_NAME_free(name);
	X509_free(x);
	return res;
}

sp_result
sp_cert_make_root(EVP_PKEY *key, const char *org, const char *cn,
    const uint8_t serial[SP_SERIAL_LEN], X509 **out)
{
	return make_selfsigned(key, org, cn, serial, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", NULL, out);
}

sp_result
sp_cert_make_fwroot(EVP_PKEY *key, const char *org, const char *cn,
    const uint8_t serial[SP_SERIAL_LEN], X509 **out)
{
	return make_selfsigned(key, org, cn, serial, "critical,CA:FALSE",
	    "critical,digitalSignature", "codeSigning", out);
}

sp_result
sp_cert_crl_dp_ext(const char *url, X509_EXTENSION **out)
{
	sp_result res = SP_OK;
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	DIST_POINT *dp = NULL;
	CRL_DIST_POINTS *dps = NULL;

	*out = NULL;
	ENSURE(*url != '\0' && !sp_has_ctl(sp_slice_of(url)), SP_E_PARSE,
	    "CRL URL: empty or holds a control character");
	TRY_OSSL_PTR(ia5, ASN1_IA5STRING_new(), "CRL distribution point");
	TRY_OSSL(ASN1_STRING_set(ia5, url, (int)strlen(url)), "CRL distribution point");
	TRY_OSSL_PTR(g, GENERAL_NAME_new(), "CRL distribution point");
	GENERAL_NAME_set0_value(g, GEN_URI, ia5);
	ia5 = NULL;
	TRY_OSSL_PTR(dp, DIST_POINT_new(), "CRL distribution point");
	TRY_OSSL_PTR(dp->distpoint, DIST_POINT_NAME_new(), "CRL distribution point");
	dp->distpoint->type = 0; /* fullName */
	TRY_OSSL_PTR(dp->distpoint->name.fullname, GENERAL_NAMES_new(), "CRL distribution point");
	ENSURE(sk_GENERAL_NAME_push(dp->distpoint->name.fullname, g) > 0, SP_E_NOMEM,
	    "out of memory");
	g = NULL;
	TRY_OSSL_PTR(dps, sk_DIST_POINT_new_null(), "CRL distribution point");
	ENSURE(sk_DIST_POINT_push(dps, dp) > 0, SP_E_NOMEM, "out of memory");
	dp = NULL;
	TRY_OSSL_PTR(*out, X509V3_EXT_i2d(NID_crl_distribution_points, 0, dps),
	    "CRL distribution point");
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	DIST_POINT_free(dp);
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return res;
}

/* Add the CRL distribution point for url, unless url is NULL or "". */
static sp_result
add_crl_dp(X509 *x, const char *url)
{
	sp_result res = SP_OK;
	X509_EXTENSION *e = NULL;

	if (url == NULL || *url == '\0')
		goto out;
	TRY(sp_cert_crl_dp_ext(url, &e));
	TRY_OSSL(X509_add_ext(x, e, -1), "CRL distribution point");
out:
	X509_EXTENSION_free(e);
	return res;
}

sp_result
sp_cert_make_server(X509 *ca, EVP_PKEY *ca_key, X509_REQ *req, const char *cn,
    const char *fqdn, const uint8_t serial[SP_SERIAL_LEN], int64_t not_before,
    int64_t not_after, const char *crl_url, X509 **out)
{
	sp_result res = SP_OK;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	X509_EXTENSION *aki = NULL;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	X509V3_CTX ctx;
	char san[SP_FQDN_MAX + 8];

	ENSURE(pub != NULL, SP_E_PARSE, "CSR has no usable public key");
	ENSURE((size_t)snprintf(san, sizeof(san), "DNS:%s", fqdn) < sizeof(san),
	    SP_E_LIMIT, "FQDN too long");
	TRY(cert_new(serial, &x));
	/*
	 * CN alone, never the CSR's subject: with both vendor roots in a
	 * server's client-ca, a copied ST=<MAC>/L=<serial>/OU=<product> would
	 * make this certificate read as that device's identity.
	 */
	TRY(pki_name_cn(cn, &name));
	TRY_OSSL(X509_set_subject_name(x, name), "subject");
	TRY_OSSL(X509_set_issuer_name(x, X509_get_subject_name(ca)), "issuer");
	TRY(set_dates(x, not_before, not_after));
	TRY_OSSL(X509_set_pubkey(x, pub), "public key");
	TRY(add_ski(x));
	TRY(pki_make_aki(ca, &aki));
	TRY_OSSL(X509_add_ext(x, aki, -1), "AKI");
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	TRY(add_ext_conf(x, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
	TRY(add_ext_conf(x, &ctx, NID_key_usage, EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature"));
	TRY(add_ext_conf(x, &ctx, NID_ext_key_usage, "serverAuth"));
	/* CSR extensions are ignored on purpose: the CA decides what a server may do. */
	TRY(add_ext_conf(x, &ctx, NID_subject_alt_name, san));
	TRY(add_crl_dp(x, crl_url));
	TRY(sign_cert(x, ca_key));
	*out = x;
	x = NULL;
out:
	X509_NAME_free(name);
	X509_EXTENSION_free(aki);
	X509_free(x);
	return res;
}

/* ---- device certificates ---- */

struct sp_devcert_maker {
	X509 *ca;         /* borrowed */
	EVP_PKEY *ca_key; /* borrowed */
	X509_EXTENSION *exts[5];
	size_t nexts;
	/*
	 * An initialised signing context, copied per certificate: cheaper than
	 * X509_sign(), which fetches the digest and signature algorithms anew
	 * for every certificate.
	 */
	EVP_MD_CTX *sign_tmpl;
	EVP_MD_CTX *sign_scratch;
	/*
	 * The bytes every device certificate shares, cut from one certificate
	 * made the slow way (sp_devcert_make_der, on first use): the version,
	 * the signature algorithm and issuer, the extensions after the SKI, and
	 * the outer signature algorithm.
	 */
	int tmpl_state;   /* 0 not tried, 1 usable, -1 not usable: slow path */
	sp_buf t_ver, t_alg_issuer, t_exts, t_alg;
};

sp_result
sp_devcert_maker_new(X509 *ca, EVP_PKEY *ca_key, const char *crl_url,
    sp_devcert_maker **out)
{
	sp_result res = SP_OK;
	sp_devcert_maker *m = NULL;
	X509V3_CTX ctx;
	static const struct { int nid; const char *v; } conf[] = {
		{ NID_basic_constraints, "critical,CA:FALSE" },
		{ NID_key_usage, "critical,digitalSignature" },
		{ NID_ext_key_usage, "clientAuth" },
	};

	TRY_ALLOC(m, calloc(1, sizeof(*m)));
	sp_buf_init(&m->t_ver, 64);
	sp_buf_init(&m->t_alg_issuer, SP_PEM_MAX);
	sp_buf_init(&m->t_exts, SP_PEM_MAX);
	sp_buf_init(&m->t_alg, 256);
	m->ca = ca;
	m->ca_key = ca_key;
	X509V3_set_ctx(&ctx, ca, NULL, NULL, NULL, 0);
	for (size_t i = 0; i < SP_ARRAY_LEN(conf); i++) {
		TRY_OSSL_PTR(m->exts[m->nexts], X509V3_EXT_nconf_nid(NULL, &ctx,
		    conf[i].nid, conf[i].v), "extension %s", conf[i].v);
		m->nexts++;
	}
	TRY(pki_make_aki(ca, &m->exts[m->nexts]));
	m->nexts++;
	if (crl_url != NULL && *crl_url != '\0') {
		TRY(sp_cert_crl_dp_ext(crl_url, &m->exts[m->nexts]));
		m->nexts++;
	}
	TRY_OSSL_PTR(m->sign_tmpl, EVP_MD_CTX_new(), "signing context");
	TRY_OSSL(EVP_DigestSignInit(m->sign_tmpl, NULL, EVP_sha256(), NULL, ca_key),
	    "signing context");
	*out = m;
	m = NULL;
out:
	sp_devcert_maker_free(m);
	return res;
}

void
sp_devcert_maker_free(sp_devcert_maker *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nexts; i++)
		X509_EXTENSION_free(m->exts[i]);
	EVP_MD_CTX_free(m->sign_tmpl);
	EVP_MD_CTX_free(m->sign_scratch);
	sp_buf_free(&m->t_ver);
	sp_buf_free(&m->t_alg_issuer);
	sp_buf_free(&m->t_exts);
	sp_buf_free(&m->t_alg);
	free(m);
}

static bool
printable_string_ok(const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c)))
			return false;
	}
	return true;
}

static sp_result
add_attr(X509_NAME *name, int nid, const char *v)
{
	sp_result res = SP_OK;
	/*
	 * serialNumber is a PrintableString in X.520; the others are UTF8String
	 * (RFC 5280).  A serial with '_' cannot be printable: UTF8 then.
	 */
	int type = nid == NID_serialNumber && printable_string_ok(v) ?
	    V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING;

	TRY_OSSL(X509_NAME_add_entry_by_NID(name, nid, type, (const unsigned char *)v,
	    (int)strlen(v), -1, 0), "subject %s='%s'", OBJ_nid2sn(nid), v);
out:
	return res;
}

typedef struct { int nid; const char *label; const char *v; } dev_attr;

static size_t
dev_attrs(const sp_devcert_req *r, dev_attr a[4])
{
	size_t n = 0;

	if (r->style == SP_DEVSTYLE_SPROV) {
		if (r->org && *r->org)
			a[n++] = (dev_attr){ NID_organizationName, "O", r->org };
		if (*r->product)
			a[n++] = (dev_attr){ NID_organizationalUnitName, "OU", r->product };
		a[n++] = (dev_attr){ NID_commonName, "CN", r->mac };
		if (*r->serial)
			a[n++] = (dev_attr){ NID_serialNumber, "serialNumber", r->serial };
	} else {
		if (*r->product)
			a[n++] = (dev_attr){ NID_organizationalUnitName, "OU", r->product };
		if (*r->serial)
			a[n++] = (dev_attr){ NID_localityName, "L", r->serial };
		a[n++] = (dev_attr){ NID_stateOrProvinceName, "ST", r->mac };
	}
	return n;
}

sp_result
sp_devcert_subject(const sp_devcert_req *r, sp_buf *out)
{
	sp_result res = SP_OK;
	dev_attr a[4];
	size_t n = dev_attrs(r, a);

	for (size_t i = 0; i < n; i++)
		TRY(sp_buf_printf(out, "%s%s=%s", i ? ", " : "", a[i].label, a[i].v));
out:
	return res;
}

/*
 * The public key of a P-256 device key, set without OpenSSL's generic
 * encoder: X509_set_pubkey() on a provider key runs an OSSL_ENCODER fetch per
 * call, which dominated bulk issuance.  The SPKI is fixed: id-ecPublicKey,
 * prime256v1, uncompressed point.
 */
static sp_result
set_pubkey_fast(X509 *x, EVP_PKEY *key)
{
	sp_result res = SP_OK;
	unsigned char pt[65], *penc = NULL;
	size_t len = 0;
	char group[32];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) != 1 ||
	    strcmp(group, "prime256v1") != 0 ||
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt),
	    &len) != 1 || len != sizeof(pt) || pt[0] != 0x04) {
		ERR_clear_error();
		TRY_OSSL(X509_set_pubkey(x, key), "public key");
		goto out;
	}
	TRY_ALLOC(penc, OPENSSL_memdup(pt, len));
	TRY_OSSL(X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x),
	    OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
	    OBJ_nid2obj(NID_X9_62_prime256v1), penc, (int)len), "public key");
	penc = NULL;
out:
	OPENSSL_free(penc);
	return res;
}

sp_result
sp_devcert_make(sp_devcert_maker *m, const sp_devcert_req *r, EVP_PKEY *key,
    const uint8_t serial[SP_SERIAL_LEN], X509 **out)
{
	sp_result res = SP_OK;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	EVP_MD_CTX *mctx = NULL;
	dev_attr a[4];
	size_t n = dev_attrs(r, a);

	TRY(cert_new(serial, &x));
	TRY_OSSL_PTR(name, X509_NAME_new(), "subject");
	for (size_t i = 0; i < n; i++)
		TRY(add_attr(name, a[i].nid, a[i].v));
	TRY_OSSL(X509_set_subject_name(x, name), "subject");
	TRY_OSSL(X509_set_issuer_name(x, X509_get_subject_name(m->ca)), "issuer");
	TRY(set_dates(x, r->not_before, r->not_after));
	TRY(set_pubkey_fast(x, key));
	TRY(add_ski(x));
	for (size_t i = 0; i < m->nexts; i++)
		TRY_OSSL(X509_add_ext(x, m->exts[i], -1), "extension");
	TRY_OSSL_PTR(mctx, EVP_MD_CTX_new(), "signing context");
	TRY_OSSL(EVP_MD_CTX_copy_ex(mctx, m->sign_tmpl), "signing context");
	TRY_OSSL(X509_sign_ctx(x, mctx) > 0 ? 1 : 0, "signing the certificate");
	*out = x;
	x = NULL;
out:
	EVP_MD_CTX_free(mctx);
	X509_NAME_free(name);
	X509_free(x);
	return res;
}

/* ---- serial of a PEM certificate without decoding it ---- */

static bool
der_hdr(const uint8_t *d, size_t n, size_t *pos, uint8_t *tag, size_t *len)
{
	size_t i = *pos, l;

	if (i + 2 > n)
		return false;
	*tag = d[i++];
	l = d[i++];
	if (l & 0x80) {
		size_t k = l & 0x7f;
		if (k == 0 || k > 3 || i + k > n)
			return false;
		for (l = 0; k > 0; k--)
			l = l << 8 | d[i++];
	}
	if (l > n - i)
		return false;
	*pos = i;
	*len = l;
	return true;
}

sp_result
sp_cert_pem_serial_hex(const char *pem, size_t n, char *out, size_t outsz)
{
	sp_result res = SP_OK;
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const char *b, *e;
	char *b64 = NULL;
	uint8_t *der = NULL;
	size_t m = 0, pos = 0, len;
	uint8_t tag;
	int dl;

	/*
	 * A resumed run checks every bundle's serial; PEM_read_bio_X509 also
	 * decodes the public key through the provider machinery, which made
	 * resuming 100 000 bundles take half a minute.  The serial is the
	 * second element of the TBSCertificate: a short DER walk finds it.
	 */
	b = memmem(pem, n, begin, sizeof(begin) - 1);
	ENSURE(b != NULL, SP_E_PARSE, "not a PEM certificate");
	b += sizeof(begin) - 1;
	e = memmem(b, n - (size_t)(b - pem), "-----END", 8);
	ENSURE(e != NULL, SP_E_PARSE, "not a PEM certificate");
	TRY_ALLOC(b64, malloc((size_t)(e - b) + 1));
	for (const char *p = b; p < e; p++)
		if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
			b64[m++] = *p;
	ENSURE(m > 0 && m % 4 == 0, SP_E_PARSE, "not a PEM certificate");
	TRY_ALLOC(der, malloc(m));
	dl = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)m);
	ENSURE(dl > 0, SP_E_PARSE, "not a PEM certificate");
	dl -= (b64[m - 1] == '=') + (b64[m - 2] == '=');
	ENSURE(der_hdr(der, (size_t)dl, &pos, &tag, &len) && tag == 0x30 &&
	    pos + len == (size_t)dl, SP_E_PARSE, "malformed certificate");
	ENSURE(der_hdr(der, (size_t)dl, &pos, &tag, &len) && tag == 0x30, SP_E_PARSE,
	    "malformed certificate");
	ENSURE(der_hdr(der, (size_t)dl, &pos, &tag, &len), SP_E_PARSE, "malformed certificate");
	if (tag == 0xa0) {
		pos += len;
		ENSURE(der_hdr(der, (size_t)dl, &pos, &tag, &len), SP_E_PARSE,
		    "malformed certificate");
	}
	ENSURE(tag == 0x02 && len > 0 && len <= 64, SP_E_PARSE, "malformed certificate serial");
	while (len > 1 && der[pos] == 0)
		pos++, len--;
	ENSURE(len * 2 + 1 <= outsz, SP_E_LIMIT, "certificate serial too long");
	sp_hex(der + pos, len, out);
out:
	free(b64);
	free(der);
	return res;
}

/* ---- the device certificate as DER, without building an X509 ---- */

/* tag, DER length, content (contents up to 64 KiB) */
static sp_result
tlv(sp_buf *b, uint8_t tag, const void *c, size_t n)
{
	sp_result res = SP_OK;
	uint8_t h[4] = { tag };
	size_t k = 2;

	ENSURE(n <= 0xffff, SP_E_LIMIT, "DER element too long");
	if (n < 0x80) {
		h[1] = (uint8_t)n;
	} else if (n < 0x100) {
		h[1] = 0x81, h[2] = (uint8_t)n, k = 3;
	} else {
		h[1] = 0x82, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n, k = 4;
	}
	TRY(sp_buf_append(b, h, k));
	TRY(sp_buf_append(b, c, n));
out:
	return res;
}

/* One TLV at *pos: its start and whole size; *pos moves past it. */
static bool
der_next(const uint8_t *d, size_t n, size_t *pos, uint8_t *tag, const uint8_t **el,
    size_t *ellen)
{
	size_t start = *pos, len;

	if (!der_hdr(d, n, pos, tag, &len))
		return false;
	*el = d + start;
	*pos += len;
	*ellen = *pos - start;
	return true;
}

/* Cut the shared parts from one certificate made by sp_devcert_make. */
static sp_result
tmpl_build(sp_devcert_maker *m)
{
	sp_result res = SP_OK;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	uint8_t serial[SP_SERIAL_LEN] = { 0x40 };
	sp_devcert_req r = { .org = "O", .mac = "000000000000", .serial = "", .product = "",
		.style = SP_DEVSTYLE_SPROV, .not_before = 0, .not_after = 0 };
	sp_buf der;
	const uint8_t *d, *el, *tbs;
	size_t n, pos = 0, tpos, tlen, epos, elen, tbslen;
	uint8_t tag, want[] = { 0xa0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xa3 };
	static const uint8_t ski_oid[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };

	sp_buf_init(&der, 1 << 16);
	m->tmpl_state = -1;
	TRY(sp_key_gen(SP_KEY_EC_P256, &key));
	TRY(sp_devcert_make(m, &r, key, serial, &x));
	TRY(sp_cert_der(x, &der));
	d = (const uint8_t *)der.p;
	n = der.len;
	ENSURE(der_hdr(d, n, &pos, &tag, &tlen) && tag == 0x30, SP_E_CRYPTO, "template");
	ENSURE(der_next(d, n, &pos, &tag, &tbs, &tbslen) && tag == 0x30, SP_E_CRYPTO,
	    "template");
	ENSURE(der_next(d, n, &pos, &tag, &el, &elen) && tag == 0x30, SP_E_CRYPTO, "template");
	TRY(sp_buf_append(&m->t_alg, el, elen));
	tpos = 0;
	ENSURE(der_hdr(tbs, tbslen, &tpos, &tag, &tlen), SP_E_CRYPTO, "template");
	for (size_t i = 0; i < sizeof(want); i++) {
		ENSURE(der_next(tbs, tbslen, &tpos, &tag, &el, &elen) && tag == want[i],
		    SP_E_CRYPTO, "template");
		if (i == 0)
			TRY(sp_buf_append(&m->t_ver, el, elen));
		else if (i == 2 || i == 3)
			TRY(sp_buf_append(&m->t_alg_issuer, el, elen));
	}
	ENSURE(tpos == tbslen, SP_E_CRYPTO, "template");
	/* [3] { SEQUENCE { SKI, the rest } }: the SKI comes first (sp_devcert_make) */
	epos = 0;
	ENSURE(der_hdr(el, elen, &epos, &tag, &tlen) &&
	    der_hdr(el, elen, &epos, &tag, &tlen) && tag == 0x30, SP_E_CRYPTO, "template");
	{
		const uint8_t *ski;
		size_t skilen, sp = 0, sl;
		ENSURE(der_next(el, elen, &epos, &tag, &ski, &skilen) &&
		    der_hdr(ski, skilen, &sp, &tag, &sl) && skilen - sp >= sizeof(ski_oid) &&
		    memcmp(ski + sp, ski_oid, sizeof(ski_oid)) == 0, SP_E_CRYPTO, "template");
	}
	TRY(sp_buf_append(&m->t_exts, el + epos, elen - epos));
	TRY_OSSL_PTR(m->sign_scratch, EVP_MD_CTX_new(), "signing context");
	m->tmpl_state = 1;
out:
	sp_buf_free(&der);
	X509_free(x);
	EVP_PKEY_free(key);
	return res;
}

static sp_result
der_time(sp_buf *b, int64_t t)
{
	sp_result res = SP_OK;
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];
	/* ASN1_TIME_set: UTCTime for 1950-2049, GeneralizedTime otherwise */
	bool utc;

	ENSURE(gmtime_r(&tt, &tm) != NULL, SP_E_CRYPTO, "time %lld", (long long)t);
	utc = tm.tm_year >= 50 && tm.tm_year < 150;
	snprintf(s, sizeof(s), utc ? "%02d%02d%02d%02d%02d%02dZ" : "%04d%02d%02d%02d%02d%02dZ",
	    utc ? tm.tm_year % 100 : tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	TRY(tlv(b, utc ? 0x17 : 0x18, s, strlen(s)));
out:
	return res;
}

static sp_result
der_subject(sp_buf *b, const sp_devcert_req *r)
{
	sp_result res = SP_OK;
	dev_attr a[4];
	size_t n = dev_attrs(r, a);
	sp_buf name, atv, rdn;

	sp_buf_init(&name, 4096);
	sp_buf_init(&atv, 1024);
	sp_buf_init(&rdn, 1024);
	for (size_t i = 0; i < n; i++) {
		uint8_t oid[3] = { 0x55, 0x04, 0 };
		oid[2] = (uint8_t)(a[i].nid == NID_organizationName ? 10 :
		    a[i].nid == NID_organizationalUnitName ? 11 : a[i].nid == NID_commonName ? 3 :
		    a[i].nid == NID_serialNumber ? 5 : a[i].nid == NID_localityName ? 7 : 8);
		sp_buf_reset(&atv);
		sp_buf_reset(&rdn);
		TRY(tlv(&atv, 0x06, oid, sizeof(oid)));
		TRY(tlv(&atv, a[i].nid == NID_serialNumber && printable_string_ok(a[i].v) ?
		    0x13 : 0x0c, a[i].v, strlen(a[i].v)));
		TRY(tlv(&rdn, 0x30, atv.p, atv.len));
		TRY(tlv(&name, 0x31, rdn.p, rdn.len));
	}
	TRY(tlv(b, 0x30, name.p, name.len));
out:
	sp_buf_free(&name);
	sp_buf_free(&atv);
	sp_buf_free(&rdn);
	return res;
}

/* The P-256 point of key into pt[65], false for any other key. */
static bool
p256_point(EVP_PKEY *key, uint8_t pt[65])
{
	char group[32];
	size_t glen = 0, len = 0;

	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1 &&
	    strcmp(group, "prime256v1") == 0 &&
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, 65, &len) == 1 &&
	    len == 65 && pt[0] == 0x04)
		return true;
	ERR_clear_error();
	return false;
}

sp_result
sp_devcert_make_der(sp_devcert_maker *m, const sp_devcert_req *r, EVP_PKEY *key,
    const uint8_t serial[SP_SERIAL_LEN], sp_buf *out)
{
	static const uint8_t spki_head[] = {
		0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
	};
	static const uint8_t ski_head[] = {
		0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14,
	};
	sp_result res = SP_OK;
	X509 *x = NULL;
	uint8_t pt[65], sig[1024], md[SHA_DIGEST_LENGTH];
	size_t siglen = sizeof(sig) - 1;
	sp_buf body, tbs, part;

	sp_buf_init(&body, 1 << 16);
	sp_buf_init(&tbs, 1 << 16);
	sp_buf_init(&part, 1 << 16);
	if (m->tmpl_state == 0 && sp_failed(tmpl_build(m)))
		sp_error_clear();      /* the slow path for every certificate then */
	if (m->tmpl_state != 1 || EVP_PKEY_get_size(m->ca_key) > (int)sizeof(sig) - 1 ||
	    !p256_point(key, pt)) {
		TRY(sp_devcert_make(m, r, key, serial, &x));
		TRY(sp_cert_der(x, out));
		goto out;
	}
	TRY(sp_buf_append(&body, m->t_ver.p, m->t_ver.len));
	TRY(tlv(&body, 0x02, serial, SP_SERIAL_LEN));
	TRY(sp_buf_append(&body, m->t_alg_issuer.p, m->t_alg_issuer.len));
	TRY(der_time(&part, r->not_before));
	TRY(der_time(&part, r->not_after));
	TRY(tlv(&body, 0x30, part.p, part.len));
	TRY(der_subject(&body, r));
	TRY(sp_buf_append(&body, spki_head, sizeof(spki_head)));
	TRY(sp_buf_append(&body, pt, sizeof(pt)));
	/* SKI: SHA-1 of the public key's bits, as add_ski() */
	SHA1(pt, sizeof(pt), md);
	sp_buf_reset(&part);
	TRY(sp_buf_append(&part, ski_head, sizeof(ski_head)));
	TRY(sp_buf_append(&part, md, sizeof(md)));
	TRY(sp_buf_append(&part, m->t_exts.p, m->t_exts.len));
	sp_buf_reset(&tbs);
	TRY(tlv(&tbs, 0x30, part.p, part.len));
	TRY(tlv(&body, 0xa3, tbs.p, tbs.len));
	sp_buf_reset(&tbs);
	TRY(tlv(&tbs, 0x30, body.p, body.len));
	TRY_OSSL(EVP_MD_CTX_copy_ex(m->sign_scratch, m->sign_tmpl), "signing context");
	TRY_OSSL(EVP_DigestSign(m->sign_scratch, sig + 1, &siglen, (const uint8_t *)tbs.p,
	    tbs.len), "signing the certificate");
	sig[0] = 0;    /* BIT STRING: no unused bits */
	sp_buf_reset(&body);
	TRY(sp_buf_append(&body, tbs.p, tbs.len));
	TRY(sp_buf_append(&body, m->t_alg.p, m->t_alg.len));
	TRY(tlv(&body, 0x03, sig, siglen + 1));
	TRY(tlv(out, 0x30, body.p, body.len));
out:
	sp_buf_free(&body);
	sp_buf_free(&tbs);
	sp_buf_free(&part);
	X509_free(x);
	return res;
}
