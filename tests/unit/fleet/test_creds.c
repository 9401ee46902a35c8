/*
 * A simulated device's bundle in memory (src/fleet/creds.c): loaded once per
 * round, one store per distinct server-ca.crt, and every broken bundle
 * refused with the file named and nothing kept.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fleet/engine.h"

typedef struct fx {
	char dir[64];
	char ca[128], ca2[128], crt[128], key[128], key2[128], eckey[128], junk[128];
} fx;

static EVP_PKEY *
gen(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

static X509 *
selfsigned(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static void
put(const char *path, void (*wr)(FILE *, void *), void *arg)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	wr(f, arg);
	assert_int_equal(fclose(f), 0);
}

static void wr_x509(FILE *f, void *x) { assert_int_equal(PEM_write_X509(f, x), 1); }
static void wr_pkcs8(FILE *f, void *k) { assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1); }
static void wr_junk(FILE *f, void *arg) { (void)arg; fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f); }

/* The traditional "EC PRIVATE KEY" form: not PKCS#8, so the slow path. */
static void
wr_eckey(FILE *f, void *k)
{
	OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_KEYPAIR, "PEM",
	    "type-specific", NULL);
	BIO *b = BIO_new_fp(f, BIO_NOCLOSE);
	assert_non_null(e);
	assert_non_null(b);
	assert_int_equal(OSSL_ENCODER_to_bio(e, b), 1);
	BIO_free(b);
	OSSL_ENCODER_CTX_free(e);
}

static int
setup(void **state)
{
	fx *x = calloc(1, sizeof(*x));
	EVP_PKEY *k = gen(), *k2 = gen(), *kca2 = gen();
	X509 *c = selfsigned(k, "000e08000001"), *ca2 = selfsigned(kca2, "Other CA");

	assert_non_null(x);
	snprintf(x->dir, sizeof(x->dir), "/tmp/sprov-creds.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->ca, sizeof(x->ca), "%s/server-ca.crt", x->dir);
	snprintf(x->ca2, sizeof(x->ca2), "%s/other-ca.crt", x->dir);
	snprintf(x->crt, sizeof(x->crt), "%s/client.crt", x->dir);
	snprintf(x->key, sizeof(x->key), "%s/client.key", x->dir);
	snprintf(x->key2, sizeof(x->key2), "%s/other.key", x->dir);
	snprintf(x->eckey, sizeof(x->eckey), "%s/ec.key", x->dir);
	snprintf(x->junk, sizeof(x->junk), "%s/junk.crt", x->dir);
	/* The certificate is its own root: enough for loading. */
	put(x->ca, wr_x509, c);
	put(x->crt, wr_x509, c);
	put(x->ca2, wr_x509, ca2);
	put(x->key, wr_pkcs8, k);
	put(x->key2, wr_pkcs8, k2);
	put(x->eckey, wr_eckey, k);
	put(x->junk, wr_junk, NULL);
	X509_free(c);
	X509_free(ca2);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(kca2);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	fx *x = *state;
	const char *files[] = { x->ca, x->ca2, x->crt, x->key, x->key2, x->eckey, x->junk };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(x->dir);
	free(x);
	return 0;
}

/* Two devices with the same server-ca.crt share one store; another root gets its own. */
static void
test_load_and_share(void **state)
{
	fx *x = *state;
	fl_loader ld;
	sp_fetch_creds *a = NULL, *b = NULL, *c = NULL;

	memset(&ld, 0, sizeof(ld));
	assert_true(sp_ok(fl_creds_load(&ld, x->ca, x->crt, x->key, &a)));
	assert_true(sp_ok(fl_creds_load(&ld, x->ca, x->crt, x->key, &b)));
	assert_non_null(a);
	assert_non_null(a->cert);
	assert_non_null(a->key);
	assert_int_equal(X509_check_private_key(a->cert, a->key), 1);
	assert_ptr_equal(a->roots, b->roots);
	assert_int_equal(ld.nroots, 1);
	assert_int_equal(X509_STORE_get0_objects(a->roots) ?
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(a->roots)) : -1, 1);
	assert_true(sp_ok(fl_creds_load(&ld, x->ca2, x->crt, x->key, &c)));
	assert_ptr_not_equal(c->roots, a->roots);
	assert_int_equal(ld.nroots, 2);
	/* The cache holds its own reference: the devices' go with them. */
	fl_creds_free(a);
	fl_creds_free(b);
	fl_creds_free(c);
	fl_loader_free(&ld);
	assert_int_equal(ld.nroots, 0);
	assert_null(ld.dec);
}

/* A key in the traditional EC form loads too (not through the PKCS#8 decoder). */
static void
test_traditional_key(void **state)
{
	fx *x = *state;
	fl_loader ld;
	sp_fetch_creds *a = NULL;

	memset(&ld, 0, sizeof(ld));
	assert_true(sp_ok(fl_creds_load(&ld, x->ca, x->crt, x->eckey, &a)));
	assert_int_equal(X509_check_private_key(a->cert, a->key), 1);
	assert_null(ld.dec); /* the PKCS#8 decoder was never needed */
	fl_creds_free(a);
	fl_loader_free(&ld);
}

static void
refused(const fx *x, const char *ca, const char *crt, const char *key, sp_code code,
    const char *msg, size_t nroots)
{
	fl_loader ld;
	sp_fetch_creds *out = (sp_fetch_creds *)x; /* must be reset to NULL */
	sp_result r;

	memset(&ld, 0, sizeof(ld));
	r = fl_creds_load(&ld, ca, crt, key, &out);
	assert_int_equal(r.code, code);
	assert_null(out);
	if (strstr(sp_errmsg(), msg) == NULL)
		fail_msg("message '%s' lacks '%s'", sp_errmsg(), msg);
	sp_error_clear();
	/* Only a server-ca.crt that loaded is kept for the next device. */
	assert_int_equal(ld.nroots, nroots);
	fl_loader_free(&ld);
}

static void
test_refused(void **state)
{
	fx *x = *state;
	char missing[160], msg[320];

	snprintf(missing, sizeof(missing), "%s/absent.crt", x->dir);
	refused(x, missing, x->crt, x->key, SP_E_NOTFOUND, "absent.crt", 0);
	refused(x, x->junk, x->crt, x->key, SP_E_PARSE, "junk.crt: not a PEM certificate file", 0);
	refused(x, x->ca, x->junk, x->key, SP_E_PARSE, "junk.crt: not a PEM certificate", 1);
	refused(x, x->ca, x->crt, x->junk, SP_E_PARSE, "junk.crt: not a PEM private key", 1);
	snprintf(msg, sizeof(msg), "%s does not match the certificate of %s", x->key2, x->crt);
	refused(x, x->ca, x->crt, x->key2, SP_E_PARSE, msg, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_and_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_traditional_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
