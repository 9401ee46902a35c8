/*
 * The server checks on a table of certificates built in memory: the same
 * functions the TLS handshake of a resync and `sprov device check-cert` run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "device/check.h"

static EVP_PKEY *ca_key, *leaf_key;
static X509 *ca;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/*
 * A certificate.  cns: '|'-separated CNs (NULL: none); san: extension value
 * or NULL; eku: value, NULL for serverAuth on a leaf, "" for none;
 * days_from/days_to relative to now.  SKI and AKI always (RFC 5280).
 */
static X509 *
mk(const char *cns, const char *san, const char *eku, bool is_ca, X509 *issuer,
    EVP_PKEY *issuer_key, EVP_PKEY *key, long from_days, long to_days)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"Test", -1, -1, 0);
	if (cns != NULL) {
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", cns);
		for (char *save = NULL, *p = strtok_r(buf, "|", &save); p; p = strtok_r(NULL, "|", &save))
			X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)p, -1, -1, 0);
	}
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	add_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always");
	if (eku == NULL && !is_ca)
		eku = "serverAuth";
	if (is_ca) {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "CA:FALSE");
	}
	if (san)
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
	if (eku && *eku)
		add_ext(x, issuer ? issuer : x, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static int
setup(void **state)
{
	(void)state;
	ca_key = EVP_EC_gen("P-256");
	leaf_key = EVP_EC_gen("P-256");
	ca = mk("Test Server CA", NULL, NULL, true, NULL, NULL, ca_key, -400, 3650);
	return ca_key && leaf_key && ca ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return 0;
}

static void
test_leaf_table(void **state)
{
	static const struct {
		const char *cns, *san, *eku, *host;
		sp_srvcheck failed;
		const char *msg; /* expected substring of the refusal, or the FQDN */
	} t[] = {
		/* accepted */
		{ "prov.example.test", NULL, NULL, "prov.example.test", SP_CHECK_NONE, "prov.example.test" },
		{ "prov.example.test", "DNS:prov.example.test", "serverAuth", "PROV.Example.Test.",
		  SP_CHECK_NONE, "prov.example.test" },
		{ "pv.telco.net/mailto:admin@telco.net", NULL, NULL, "pv.telco.net", SP_CHECK_NONE,
		  "pv.telco.net" },
		{ "prof.voice.com/info@voice.com", "DNS:prof.voice.com,DNS:x.voice.com", NULL,
		  "prof.voice.com", SP_CHECK_NONE, "prof.voice.com" },
		{ "prov.example.test", "IP:127.0.0.1", NULL, "prov.example.test", SP_CHECK_NONE,
		  "prov.example.test" }, /* no dNSName: nothing to agree with */
		{ "prov.example.test", NULL, "serverAuth,clientAuth", "127.0.0.1", SP_CHECK_NONE,
		  "prov.example.test" }, /* IP literal: on to check 4 */
		{ "prov.example.test", NULL, NULL, "[::1]", SP_CHECK_NONE, "prov.example.test" },
		/* The shared CN rule (sprov ca sign) refuses a trailing dot in a CN. */
		{ "prov.example.test.", NULL, NULL, "prov.example.test", SP_CHECK_CN, "trailing dot" },
		/* check 1: purpose */
		{ "prov.example.test", NULL, "clientAuth", "prov.example.test", SP_CHECK_CHAIN,
		  "serverAuth" },
		/* check 2: CN */
		{ NULL, "DNS:prov.example.test", NULL, "prov.example.test", SP_CHECK_CN, "0 CNs" },
		{ "prov.example.test|prov.example.test", NULL, NULL, "prov.example.test", SP_CHECK_CN,
		  "2 CNs" },
		{ "provisioning server", NULL, NULL, "prov.example.test", SP_CHECK_CN, "CN 'provisioning server'" },
		{ "localhost", NULL, NULL, "localhost", SP_CHECK_CN, "CN 'localhost'" },
		{ "*.example.test", NULL, NULL, "a.example.test", SP_CHECK_CN, "CN '*.example.test'" },
		{ "prov.example.test/", NULL, NULL, "prov.example.test", SP_CHECK_CN, "nothing follows" },
		{ "/mailto:x@y", NULL, NULL, "prov.example.test", SP_CHECK_CN, "CN '/mailto:x@y'" },
		{ "prov.example.test", "DNS:other.example.test", NULL, "prov.example.test", SP_CHECK_CN,
		  "not among the certificate's 1 SAN DNS names" },
		{ "prov.example.test", "DNS:*.example.test", NULL, "prov.example.test", SP_CHECK_CN,
		  "not among" }, /* no wildcards */
		/* check 3: host */
		{ "prov.example.test", NULL, NULL, "other.example.test", SP_CHECK_HOST,
		  "the URL host 'other.example.test' is not the certificate's FQDN 'prov.example.test'" },
		{ "prov.example.test", NULL, NULL, "prov.example.test..", SP_CHECK_HOST, "is not" },
		{ "prov.example.test", NULL, NULL, "example.test", SP_CHECK_HOST, "is not" },
		{ "prov.example.test", NULL, NULL, "xprov.example.test", SP_CHECK_HOST, "is not" },
		{ "prov.example.test/extra", NULL, NULL, "prov.example.test/extra", SP_CHECK_HOST, "is not" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		X509 *leaf = mk(t[i].cns, t[i].san, t[i].eku, false, ca, ca_key, leaf_key, -1, 30);
		char fqdn[SP_FQDN_MAX + 1];
		sp_srvcheck failed;
		sp_result r = sp_srvcheck_leaf(leaf, sp_slice_of(t[i].host), fqdn, &failed);
		if (failed != t[i].failed)
			fail_msg("case %zu (%s): failed check %d, expected %d: %s", i,
			    t[i].cns ? t[i].cns : "-", (int)failed, (int)t[i].failed, sp_errmsg());
		if (t[i].failed == SP_CHECK_NONE) {
			assert_true(sp_ok(r));
			if (t[i].msg)
				assert_string_equal(fqdn, t[i].msg);
		} else {
			assert_int_equal(r.code, SP_E_VERIFY);
			char want[32];
			snprintf(want, sizeof(want), "server check %d (%s): ", (int)t[i].failed,
			    sp_srvcheck_name(t[i].failed));
			if (strncmp(sp_errmsg(), want, strlen(want)) != 0 ||
			    strstr(sp_errmsg(), t[i].msg) == NULL)
				fail_msg("case %zu: message '%s' lacks '%s%s'", i, sp_errmsg(), want,
				    t[i].msg);
		}
		X509_free(leaf);
	}
}

/* sp_srvcheck_strict_cert(x, depth 0) refuses x with a message holding want. */
static void
strict_refuses(X509 *x, const char *want)
{
	sp_result r = sp_srvcheck_strict_cert(x, 0);

	if (r.code != SP_E_VERIFY || strncmp(sp_errmsg(), "server check 1 (chain): ", 24) != 0 ||
	    strstr(sp_errmsg(), want) == NULL)
		fail_msg("code %d, message '%s' lacks '%s'", r.code, sp_errmsg(), want);
}

static void
test_strict_leaf(void **state)
{
	X509 *noeku = mk("prov.example.test", NULL, "", false, ca, ca_key, leaf_key, -1, 30);
	X509 *anyeku = mk("prov.example.test", NULL, "anyExtendedKeyUsage", false, ca, ca_key,
	    leaf_key, -1, 30);
	X509 *isca = mk("prov.example.test", NULL, "serverAuth", true, ca, ca_key, leaf_key, -1, 30);
	X509 *good = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, -1, 30);
	(void)state;

	assert_true(sp_ok(sp_srvcheck_purpose(good)));
	assert_int_equal(sp_srvcheck_purpose(noeku).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "server check 1 (chain): EKU rule: the server "
	    "certificate has no extended key usage (serverAuth is required)");
	assert_int_equal(sp_srvcheck_purpose(anyeku).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "EKU rule: the server certificate is not for TLS "
	    "server use (its extended key usage lacks serverAuth)"));
	assert_int_equal(sp_srvcheck_purpose(isca).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "server check 1 (chain): CA rule: the server "
	    "certificate is a CA (basicConstraints CA:TRUE)");
	X509_free(noeku);
	X509_free(anyeku);
	X509_free(isca);
	X509_free(good);
}

static void
test_strict_cert(void **state)
{
	X509 *x;
	EVP_PKEY *k;
	X509_EXTENSION *e;
	ASN1_OCTET_STRING *v;
	ASN1_OBJECT *oid;
	uint8_t big[21];
	(void)state;

	x = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, -1, 30);
	assert_true(sp_ok(sp_srvcheck_strict_cert(x, 0)));
	assert_true(sp_ok(sp_srvcheck_strict_cert(ca, 1)));
	/* version */
	assert_int_equal(X509_set_version(x, X509_VERSION_1), 1);
	strict_refuses(x, "version rule: the certificate at depth 0 is X.509 v1, not v3");
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	/* serial: zero, negative, 21 octets; 20 octets with the top bit clear pass */
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 0), 1);
	strict_refuses(x, "serial rule: the certificate at depth 0 has a serial number that is not positive");
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), -5), 1);
	strict_refuses(x, "not positive");
	memset(big, 0x7f, sizeof(big));
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_int_equal(ASN1_STRING_set(X509_get_serialNumber(x), big, 20), 1);
	assert_true(sp_ok(sp_srvcheck_strict_cert(x, 0)));
	big[0] = 0x80; /* 20 bytes, top bit set: 21 content octets in DER */
	assert_int_equal(ASN1_STRING_set(X509_get_serialNumber(x), big, 20), 1);
	strict_refuses(x, "serial rule: the certificate at depth 0 has a serial number longer than 20 octets");
	assert_int_equal(ASN1_STRING_set(X509_get_serialNumber(x), big + 1, 21 - 1), 1);
	assert_true(sp_ok(sp_srvcheck_strict_cert(x, 0)));
	/* an unknown critical extension */
	v = ASN1_OCTET_STRING_new();
	assert_int_equal(ASN1_OCTET_STRING_set(v, (const unsigned char *)"\x05\x00", 2), 1);
	oid = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
	e = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, v);
	ASN1_OBJECT_free(oid);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	strict_refuses(x, "critical extension rule: the certificate at depth 0 has an unknown "
	    "critical extension 1.3.6.1.4.1.99999.1");
	X509_EXTENSION_free(e);
	ASN1_OCTET_STRING_free(v);
	X509_free(x);
	/* algorithms */
	x = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, -1, 30);
	assert_true(X509_sign(x, ca_key, EVP_sha1()) > 0);
	strict_refuses(x, "algorithm rule: the certificate at depth 0 is signed with SHA1 "
	    "(SHA-1 and MD5 are refused)");
	X509_free(x);
	/* keys: refused below the floor (message), accepted at it (NULL) */
	for (int i = 0; i < 4; i++) {
		static const char *const want[] = {
			"algorithm rule: the certificate at depth 0 has an RSA key of 1024 bits "
			"(at least 2048)",
			"algorithm rule: the certificate at depth 0 has an EC key on curve "
			"secp224r1 (at least P-256)",
			NULL, NULL,
		};
		k = i == 0 ? EVP_RSA_gen(1024) : i == 1 ? EVP_EC_gen("P-224") :
		    i == 2 ? EVP_EC_gen("P-384") : EVP_RSA_gen(2048);
		x = mk("prov.example.test", NULL, NULL, false, ca, ca_key, k, -1, 30);
		if (want[i])
			strict_refuses(x, want[i]);
		else
			assert_true(sp_ok(sp_srvcheck_strict_cert(x, 0)));
		X509_free(x);
		EVP_PKEY_free(k);
	}
}

static void
test_strict_name_constraints(void **state)
{
	EVP_PKEY *nc_key = EVP_EC_gen("P-256");
	X509 *nc = mk("Constrained CA", NULL, NULL, true, NULL, NULL, nc_key, -1, 3650);
	X509 *in, *out_cn, *out_extra;
	STACK_OF(X509) *chain = sk_X509_new_null();
	(void)state;

	add_ext(nc, nc, NID_name_constraints, "critical,permitted;DNS:example.test");
	assert_true(X509_sign(nc, nc_key, EVP_sha256()) > 0);
	in = mk("prov.example.test/info", NULL, NULL, false, nc, nc_key, leaf_key, -1, 30);
	out_cn = mk("prov.example.org", NULL, NULL, false, nc, nc_key, leaf_key, -1, 30);
	/* The CN's extra part hides it from OpenSSL's own CN check. */
	out_extra = mk("prov.example.org/info", NULL, NULL, false, nc, nc_key, leaf_key, -1, 30);
	assert_int_equal(sk_X509_push(chain, in), 1);
	assert_int_equal(sk_X509_push(chain, nc), 2);
	assert_true(sp_ok(sp_srvcheck_strict(chain)));
	(void)sk_X509_set(chain, 0, out_extra);
	assert_int_equal(sp_srvcheck_strict(chain).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "server check 1 (chain): name constraints rule: the "
	    "FQDN 'prov.example.org' is outside the name constraints of the certificate at depth 1");
	(void)sk_X509_set(chain, 0, out_cn);
	assert_int_equal(sp_srvcheck_strict(chain).code, SP_E_VERIFY);
	assert_int_equal(sp_srvcheck_strict(NULL).code, SP_E_VERIFY);
	sk_X509_free(chain);
	X509_free(in);
	X509_free(out_cn);
	X509_free(out_extra);
	X509_free(nc);
	EVP_PKEY_free(nc_key);
}

static void
test_chain(void **state)
{
	X509_STORE *roots = X509_STORE_new();
	EVP_PKEY *other_key = EVP_EC_gen("P-256");
	X509 *other = mk("Other CA", NULL, NULL, true, NULL, NULL, other_key, -1, 3650);
	X509 *good = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, -1, 30);
	X509 *expired = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, -30, -1);
	X509 *future = mk("prov.example.test", NULL, NULL, false, ca, ca_key, leaf_key, 10, 30);
	X509 *foreign = mk("prov.example.test", NULL, NULL, false, other, other_key, leaf_key, -1, 30);
	X509 *self = mk("prov.example.test", NULL, NULL, false, NULL, NULL, leaf_key, -1, 30);
	X509 *client = mk("prov.example.test", NULL, "clientAuth", false, ca, ca_key, leaf_key, -1, 30);
	int64_t now = (int64_t)time(NULL);
	(void)state;

	assert_true(sp_ok(sp_srvcheck_store_params(roots)));
	assert_int_equal(X509_STORE_add_cert(roots, ca), 1);
	assert_true(sp_ok(sp_srvcheck_chain(roots, good, NULL, now)));
	assert_int_equal(sp_srvcheck_chain(roots, expired, NULL, now).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "server check 1 (chain): certificate has expired"));
	/* Validity is judged at the time asked for (check-cert --at). */
	assert_true(sp_ok(sp_srvcheck_chain(roots, expired, NULL, now - 10 * 86400)));
	assert_int_equal(sp_srvcheck_chain(roots, future, NULL, now).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "not yet valid"));
	assert_true(sp_ok(sp_srvcheck_chain(roots, future, NULL, now + 20 * 86400)));
	assert_int_equal(sp_srvcheck_chain(roots, foreign, NULL, now).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "unable to get local issuer certificate"));
	assert_int_equal(sp_srvcheck_chain(roots, self, NULL, now).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "self-signed"));
	/* The sslserver purpose refuses a clientAuth-only leaf in the chain check too. */
	assert_int_equal(sp_srvcheck_chain(roots, client, NULL, now).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "purpose"));

	X509_STORE_free(roots);
	X509_free(other);
	EVP_PKEY_free(other_key);
	X509_free(good);
	X509_free(expired);
	X509_free(future);
	X509_free(foreign);
	X509_free(self);
	X509_free(client);
}

static void
test_addr_check(void **state)
{
	sp_addrlist ans;
	sp_ipaddr a, b, mapped, v6;
	(void)state;
	memset(&ans, 0, sizeof(ans));
	assert_true(sp_ipaddr_parse(sp_slice_of("127.0.0.1"), &a));
	assert_true(sp_ipaddr_parse(sp_slice_of("127.0.0.2"), &b));
	assert_true(sp_ipaddr_parse(sp_slice_of("::ffff:127.0.0.1"), &mapped));
	assert_true(sp_ipaddr_parse(sp_slice_of("[2001:db8::1]"), &v6));
	assert_int_equal(mapped.family, AF_INET); /* normalised */
	sp_addrlist_add(&ans, &a);
	sp_addrlist_add(&ans, &v6);
	sp_addrlist_add(&ans, &mapped); /* duplicate of a */
	assert_int_equal(ans.n, 2);
	assert_true(sp_ok(sp_srvcheck_addr(&a, &ans, "prov.example.test")));
	assert_true(sp_ok(sp_srvcheck_addr(&mapped, &ans, "prov.example.test")));
	assert_true(sp_ok(sp_srvcheck_addr(&v6, &ans, "prov.example.test")));
	assert_int_equal(sp_srvcheck_addr(&b, &ans, "prov.example.test").code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "server check 4 (address): server address 127.0.0.2 "
	    "is not among the DNS answers for prov.example.test");
	/* sockaddr path: an IPv4-mapped peer on a dual-stack socket. */
	struct sockaddr_in6 s6;
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.2", &s6.sin6_addr);
	sp_ipaddr p;
	assert_true(sp_ipaddr_from_sockaddr((struct sockaddr *)&s6, &p));
	assert_true(sp_ipaddr_eq(&p, &b));
	char s[SP_ADDRSTR_MAX];
	sp_ipaddr_format(&p, s);
	assert_string_equal(s, "127.0.0.2");
	assert_false(sp_ipaddr_parse(sp_slice_of("prov.example.test"), &p));
	assert_false(sp_ipaddr_parse(sp_slice_mk("127.0.0.1\0", 10), &p));
	assert_false(sp_ipaddr_parse(sp_slice_of("[]"), &p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf_table),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_strict_leaf), cmocka_unit_test(test_strict_cert),
		cmocka_unit_test(test_strict_name_constraints),
		cmocka_unit_test(test_addr_check),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
