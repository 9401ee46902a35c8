/* The key rule shared by `sprov req` and `sprov ca sign`, and key types. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/evp.h>

#include "pki/pki.h"

static EVP_PKEY *
q_rsa(size_t bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	assert_non_null(k);
	return k;
}

static EVP_PKEY *
q_ec(const char *curve)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	assert_non_null(k);
	return k;
}

static void
test_policy_table(void **state)
{
	static const struct {
		const char *what;
		const char *arg;
		bool ok;
		const char *msg;
	} t[] = {
		{ "RSA", "1024", false,
		  "key rule: RSA key of 1024 bits is too small (at least 2048 bits)" },
		{ "RSA", "2047", false,
		  "key rule: RSA key of 2047 bits is too small (at least 2048 bits)" },
		{ "RSA", "2048", true, NULL },
		{ "EC", "P-256", true, NULL },
		{ "EC", "P-384", true, NULL },
		{ "EC", "P-521", false,
		  "key rule: EC curve secp521r1 is not allowed (only P-256 and P-384)" },
		{ "EC", "secp256k1", false,
		  "key rule: EC curve secp256k1 is not allowed (only P-256 and P-384)" },
		{ "ED25519", NULL, false,
		  "key rule: ED25519 keys are not allowed (RSA >= 2048 bits, EC P-256 or P-384)" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		EVP_PKEY *k;
		if (strcmp(t[i].what, "RSA") == 0)
			k = q_rsa((size_t)atoi(t[i].arg));
		else if (strcmp(t[i].what, "EC") == 0)
			k = q_ec(t[i].arg);
		else
			k = EVP_PKEY_Q_keygen(NULL, NULL, t[i].what);
		assert_non_null(k);
		sp_result r = sp_key_policy(k);
		if (t[i].ok) {
			assert_true(sp_ok(r));
		} else {
			assert_int_equal(r.code, SP_E_POLICY);
			assert_string_equal(sp_errmsg(), t[i].msg);
		}
		EVP_PKEY_free(k);
	}
	assert_int_equal(sp_key_policy(NULL).code, SP_E_POLICY);
}

static void
test_types(void **state)
{
	sp_key_type t;
	(void)state;
	assert_true(sp_ok(sp_key_type_parse("ec-p256", &t)));
	assert_int_equal(t, SP_KEY_EC_P256);
	assert_true(sp_ok(sp_key_type_parse("rsa-4096", &t)));
	assert_int_equal(t, SP_KEY_RSA_4096);
	assert_string_equal(sp_key_type_name(SP_KEY_EC_P384), "ec-p384");
	assert_int_equal(sp_key_type_parse("rsa-1024", &t).code, SP_E_USAGE);
	assert_int_equal(sp_key_type_parse("", &t).code, SP_E_USAGE);
}

static void
test_generate_and_pem(void **state)
{
	sp_keygen *g = NULL;
	EVP_PKEY *a = NULL, *b = NULL;
	sp_buf pem;
	(void)state;
	/* A reused context gives distinct keys that pass the policy. */
	assert_true(sp_ok(sp_keygen_new(SP_KEY_EC_P256, &g)));
	assert_true(sp_ok(sp_keygen_next(g, &a)));
	assert_true(sp_ok(sp_keygen_next(g, &b)));
	assert_int_equal(EVP_PKEY_eq(a, b), 0);
	assert_true(sp_ok(sp_key_policy(a)));
	sp_buf_init(&pem, SP_PEM_MAX);
	assert_true(sp_ok(sp_key_pem(a, &pem)));
	assert_non_null(strstr(sp_buf_cstr(&pem), "-----BEGIN PRIVATE KEY-----"));
	sp_buf_free_secret(&pem);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	sp_keygen_free(g);
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P384, &a)));
	assert_true(sp_ok(sp_key_policy(a)));
	EVP_PKEY_free(a);
}

/* The P-256 template encoder writes what the generic encoder writes. */
static void
test_pem_fast(void **state)
{
	EVP_PKEY *k = NULL;
	sp_buf a, b;
	(void)state;
	for (int i = 0; i < 20; i++) {
		assert_true(sp_ok(sp_key_gen(i < 19 ? SP_KEY_EC_P256 : SP_KEY_EC_P384, &k)));
		sp_buf_init(&a, SP_PEM_MAX);
		sp_buf_init(&b, SP_PEM_MAX);
		assert_true(sp_ok(sp_key_pem(k, &a)));
		assert_true(sp_ok(sp_key_pem_fast(k, &b)));
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		sp_buf_free_secret(&a);
		sp_buf_free_secret(&b);
		EVP_PKEY_free(k);
	}
}

static void
test_load_missing(void **state)
{
	EVP_PKEY *k = NULL;
	(void)state;
	assert_int_equal(sp_key_load("/nonexistent/key.pem", &k).code, SP_E_NOTFOUND);
	assert_null(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_generate_and_pem),
		cmocka_unit_test(test_pem_fast),
		cmocka_unit_test(test_load_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
