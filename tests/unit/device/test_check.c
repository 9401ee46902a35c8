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
 * A certificate.  cns: '|'-separated CNs (NULL: none); san, eku: extension
 * values or NULL; days_from/days_to relative to now.
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
	if (is_ca) {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "CA:FALSE");
	}
	if (san)
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
	if (eku)
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
		cmocka_unit_test(test_addr_check),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
