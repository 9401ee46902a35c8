/* The CSR signing policy: a table of CSRs and the exact refusal for each. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/dsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca/csr_policy.h"
#include "pki/pki.h"

static EVP_PKEY *ec_key, *rsa1024;

static int
setup(void **state)
{
	(void)state;
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	return ec_key && rsa1024 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ec_key);
	EVP_PKEY_free(rsa1024);
	return 0;
}

/* A CSR with the given CNs as raw UTF8String bytes (no length or charset checks). */
static X509_REQ *
csr(EVP_PKEY *key, const char *const *cns, const size_t *lens, size_t n)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();

	X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_ASC,
	    (const unsigned char *)"Telco", -1, -1, 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName,
		    V_ASN1_UTF8STRING, (const unsigned char *)cns[i], (int)lens[i], -1, 0), 1);
	X509_REQ_set_subject_name(r, name);
	X509_REQ_set_pubkey(r, key);
	assert_true(X509_REQ_sign(r, key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return r;
}

static X509_REQ *
csr1(EVP_PKEY *key, const char *cn, size_t len)
{
	return csr(key, &cn, &len, 1);
}

/* csr1 signed again with md (the subject and key stay). */
static X509_REQ *
csr_md(EVP_PKEY *key, const EVP_MD *md)
{
	X509_REQ *r = csr1(key, "sprov.callme.com", 16);

	assert_true(X509_REQ_sign(r, key, md) > 0);
	return r;
}

static void
expect(X509_REQ *r, const char *const *domains, size_t nd, const char *msg, const char *cn)
{
	sp_csr_info info;
	sp_result res = sp_csr_policy(r, domains, nd, &info);

	if (msg == NULL) {
		if (sp_failed(res))
			fail_msg("refused: %s", sp_errmsg());
		assert_string_equal(info.cn, cn);
		/* Invariant: an accepted CN passes the CN rule on its own. */
		sp_cn c;
		assert_true(sp_ok(sp_cn_parse(sp_slice_of(info.cn), &c)));
		assert_int_equal(c.fqdn.len, strlen(info.fqdn));
	} else {
		assert_int_equal(res.code, SP_E_POLICY);
		assert_string_equal(sp_errmsg(), msg);
		assert_string_equal(info.cn, "");
	}
	X509_REQ_free(r);
}

static void
test_cn_table(void **state)
{
	static const struct {
		const char *cn;
		size_t len;       /* 0: strlen */
		const char *msg;  /* NULL: accepted */
	} t[] = {
		{ "sprov.callme.com", 0, NULL },
		{ "pv.telco.net/mailto:admin@telco.net", 0, NULL },
		{ "prof.voice.com/info@voice.com", 0, NULL },
		{ "Sprov.CallMe.com", 0, NULL },
		{ "xn--bcher-kva.de", 0, NULL },
		{ "a.b", 0, NULL },
		{ "foo", 0, "CSR rejected: CN 'foo' is not a fully qualified domain name: "
		    "needs at least two labels" },
		{ "localhost", 0, "CSR rejected: CN 'localhost' is not a fully qualified "
		    "domain name: needs at least two labels" },
		{ "sprov.callme.com.", 0, "CSR rejected: CN 'sprov.callme.com.' is not a "
		    "fully qualified domain name: trailing dot" },
		{ "*.callme.com", 0, "CSR rejected: CN '*.callme.com' is not a fully "
		    "qualified domain name: wildcards are not allowed" },
		{ "192.168.1.10", 0, "CSR rejected: CN '192.168.1.10' is not a fully "
		    "qualified domain name: it is an IP address" },
		{ "sprov.callme.com\0.evil.com", 26, "CSR rejected: CN "
		    "'sprov.callme.com\\x00.evil.com' contains a NUL byte" },
		{ "b\xc3\xbc" "cher.de", 0, "CSR rejected: CN 'b\\xc3\\xbccher.de' is not a "
		    "fully qualified domain name: non-ASCII characters (use the xn-- form)" },
		{ "-a.example.com", 0, "CSR rejected: CN '-a.example.com' is not a fully "
		    "qualified domain name: a label starts or ends with a hyphen" },
		{ "pv.telco.net/", 0, "CSR rejected: CN 'pv.telco.net/': nothing follows the "
		    "'/' (extra information is empty)" },
		{ "", 0, "CSR rejected: CN '' is not a fully qualified domain name: it is empty" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].cn);
		expect(csr1(ec_key, t[i].cn, len), NULL, 0, t[i].msg, t[i].cn);
	}
}

static void
test_lengths(void **state)
{
	char cn[80];
	(void)state;
	/* 60 x's + ".com" = 64: the X.520 bound exactly; 65 is refused. */
	memset(cn, 'x', 60);
	memcpy(cn + 60, ".com", 5);
	expect(csr1(ec_key, cn, 64), NULL, 0, NULL, cn);
	memset(cn, 'x', 61);
	memcpy(cn + 61, ".com", 5);
	expect(csr1(ec_key, cn, 65), NULL, 0, "CSR rejected: CN "
	    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com' is longer "
	    "than 64 characters (X.520 bound)", NULL);
}

static void
test_subject_shape(void **state)
{
	const char *two[] = { "a.example.com", "b.example.com" };
	size_t lens[] = { 13, 13 };
	(void)state;
	expect(csr(ec_key, two, lens, 2), NULL, 0,
	    "CSR rejected: CN rule: the subject has more than one CN", NULL);
	expect(csr(ec_key, NULL, NULL, 0), NULL, 0,
	    "CSR rejected: CN rule: the subject has no CN", NULL);
}

static void
test_signature_and_key(void **state)
{
	X509_REQ *r;
	X509_NAME *n;
	(void)state;
	/* Change the subject after signing: the self-signature no longer matches. */
	r = csr1(ec_key, "sprov.callme.com", 16);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"evil.callme.com", -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_NAME_free(n);
	expect(r, NULL, 0, "CSR rejected: signature rule: the CSR's own signature does "
	    "not verify", NULL);
	expect(csr1(rsa1024, "sprov.callme.com", 16), NULL, 0, "CSR rejected: key rule: "
	    "RSA key of 1024 bits is too small (at least 2048 bits)", NULL);
}

/* The floor the device applies to certificates: each case refused by name. */
static void
test_algorithm_floor(void **state)
{
	EVP_PKEY *rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *p224 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *dsa = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
	EVP_PKEY *params = NULL;
	(void)state;

	assert_non_null(rsa2048);
	assert_non_null(p224);
	/* DSA: parameters, then a key on them (2048/224, the smallest OpenSSL 3 makes). */
	assert_non_null(pc);
	assert_int_equal(EVP_PKEY_paramgen_init(pc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_dsa_paramgen_bits(pc, 2048), 1);
	assert_int_equal(EVP_PKEY_paramgen(pc, &params), 1);
	EVP_PKEY_CTX_free(pc);
	pc = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
	assert_int_equal(EVP_PKEY_keygen_init(pc), 1);
	assert_int_equal(EVP_PKEY_keygen(pc, &dsa), 1);

	expect(csr_md(ec_key, EVP_sha1()), NULL, 0, "CSR rejected: signature rule: the CSR is "
	    "signed with SHA1 (SHA-1 and MD5 are refused)", NULL);
	expect(csr_md(rsa2048, EVP_md5()), NULL, 0, "CSR rejected: signature rule: the CSR is "
	    "signed with MD5 (SHA-1 and MD5 are refused)", NULL);
	expect(csr_md(rsa2048, EVP_sha1()), NULL, 0, "CSR rejected: signature rule: the CSR is "
	    "signed with SHA1 (SHA-1 and MD5 are refused)", NULL);
	expect(csr_md(dsa, EVP_sha256()), NULL, 0, "CSR rejected: signature rule: the CSR is "
	    "signed with DSA (refused)", NULL);
	expect(csr1(p224, "sprov.callme.com", 16), NULL, 0, "CSR rejected: key rule: EC curve "
	    "secp224r1 is not allowed (only P-256 and P-384)", NULL);
	expect(csr1(rsa1024, "sprov.callme.com", 16), NULL, 0, "CSR rejected: key rule: "
	    "RSA key of 1024 bits is too small (at least 2048 bits)", NULL);
	/* At the floor: accepted. */
	expect(csr1(rsa2048, "sprov.callme.com", 16), NULL, 0, NULL, "sprov.callme.com");
	expect(csr1(p384, "sprov.callme.com", 16), NULL, 0, NULL, "sprov.callme.com");
	expect(csr_md(ec_key, EVP_sha384()), NULL, 0, NULL, "sprov.callme.com");
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(params);
	EVP_PKEY_free(dsa);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(p224);
	EVP_PKEY_free(p384);
}

static void
test_allowed_domains(void **state)
{
	const char *d[] = { "callme.com", "telco.net" };
	(void)state;
	expect(csr1(ec_key, "sprov.callme.com", 16), d, 2, NULL, "sprov.callme.com");
	expect(csr1(ec_key, "callme.com", 10), d, 2, NULL, "callme.com");
	expect(csr1(ec_key, "PV.Telco.NET/x", 14), d, 2, NULL, "PV.Telco.NET/x");
	expect(csr1(ec_key, "evilcallme.com", 14), d, 2, "CSR rejected: allowed-domain "
	    "rule: 'evilcallme.com' is not within an allowed domain (callme.com, telco.net)",
	    NULL);
	expect(csr1(ec_key, "callme.com.evil.org", 19), d, 2, "CSR rejected: "
	    "allowed-domain rule: 'callme.com.evil.org' is not within an allowed domain "
	    "(callme.com, telco.net)", NULL);
	/* The CN rule comes first: the message names the rule that was broken. */
	expect(csr1(ec_key, "foo", 3), d, 2, "CSR rejected: CN 'foo' is not a fully "
	    "qualified domain name: needs at least two labels", NULL);
}

static void
test_cn_only_matches(void **state)
{
	sp_csr_info a;
	sp_result r1, r2;
	char m1[1024];
	X509_REQ *r;
	(void)state;
	/* `sprov req` checks the CN alone first: same words as the full policy. */
	r1 = sp_csr_policy_cn(sp_slice_of("bad_name.example.com"), NULL, 0, &a);
	assert_int_equal(r1.code, SP_E_POLICY);
	snprintf(m1, sizeof(m1), "%s", sp_errmsg());
	r = csr1(ec_key, "bad_name.example.com", 20);
	r2 = sp_csr_policy(r, NULL, 0, &a);
	assert_int_equal(r2.code, SP_E_POLICY);
	assert_string_equal(sp_errmsg(), m1);
	X509_REQ_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cn_table),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_subject_shape),
		cmocka_unit_test(test_signature_and_key),
		cmocka_unit_test(test_algorithm_floor),
		cmocka_unit_test(test_allowed_domains),
		cmocka_unit_test(test_cn_only_matches),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
