/* Serials, hex, certificates (server and device) and CRLs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "identity/devid.h"
#include "pki/pki.h"

static int
cmp16(const void *a, const void *b)
{
	return memcmp(a, b, SP_SERIAL_LEN);
}

static void
test_serials(void **state)
{
	enum { N = 20000 };
	uint8_t (*s)[SP_SERIAL_LEN] = malloc(N * SP_SERIAL_LEN);
	char hex[SP_SERIAL_HEXLEN + 1];
	(void)state;
	assert_non_null(s);
	for (int i = 0; i < N; i++) {
		assert_true(sp_ok(sp_serial_new(s[i])));
		/* positive, no leading zero byte: always 16 bytes, 32 hex digits */
		assert_int_equal(s[i][0] & 0x80, 0);
		assert_int_equal(s[i][0] & 0x40, 0x40);
	}
	qsort(s, N, SP_SERIAL_LEN, cmp16);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(memcmp(s[i - 1], s[i], SP_SERIAL_LEN), 0);
	sp_serial_hex(s[0], hex);
	assert_int_equal(strlen(hex), 32);
	free(s);
}

static void
test_hex_decode(void **state)
{
	uint8_t b[16];
	size_t n = 0;
	(void)state;
	assert_true(sp_ok(sp_hex_decode("0x0123", b, sizeof(b), &n)));
	assert_int_equal(n, 2);
	assert_int_equal(b[0], 0x01);
	assert_true(sp_ok(sp_hex_decode("000042", b, sizeof(b), &n)));
	assert_int_equal(n, 1);
	assert_int_equal(b[0], 0x42);
	assert_true(sp_ok(sp_hex_decode("AB:cd:0e", b, sizeof(b), &n)));
	assert_int_equal(n, 3);
	assert_int_equal(b[2], 0x0e);
	assert_true(sp_ok(sp_hex_decode("abc", b, sizeof(b), &n)));
	assert_int_equal(n, 2);
	assert_int_equal(b[0], 0x0a);
	assert_true(sp_ok(sp_hex_decode("00", b, sizeof(b), &n)));
	assert_int_equal(n, 1);
	assert_int_equal(sp_hex_decode("xyz", b, sizeof(b), &n).code, SP_E_USAGE);
	assert_int_equal(sp_hex_decode("", b, sizeof(b), &n).code, SP_E_USAGE);
	assert_int_equal(sp_hex_decode("000102030405060708090a0b0c0d0e0f10", b, sizeof(b),
	    &n).code, SP_E_USAGE);
}

typedef struct {
	EVP_PKEY *key;
	X509 *root;
} ca_fixture;

static int
setup(void **state)
{
	ca_fixture *f = calloc(1, sizeof(*f));
	uint8_t serial[SP_SERIAL_LEN];

	if (f == NULL || sp_failed(sp_key_gen(SP_KEY_EC_P256, &f->key)) ||
	    sp_failed(sp_serial_new(serial)) ||
	    sp_failed(sp_cert_make_root(f->key, "Acme", "Acme Device CA", serial, &f->root)))
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	ca_fixture *f = *state;
	X509_free(f->root);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

static bool
verifies(X509 *root, X509 *leaf, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok;

	X509_STORE_add_cert(st, root);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void
test_root(void **state)
{
	ca_fixture *f = *state;
	int64_t nb, na;
	(void)nb;
	assert_int_equal(X509_check_ca(f->root), 1);
	assert_true(sp_ok(sp_cert_dates(f->root, &nb, &na)));
	assert_int_equal(na, SP_NOTAFTER_FOREVER_EPOCH);
	assert_non_null(X509_get0_subject_key_id(f->root));
}

/*
 * The firmware-signing root signs containers, nothing else: not a CA (so a
 * certificate it signs never chains to it), digitalSignature alone, EKU
 * codeSigning, never expiring, self-signed by its own key.
 */
static void
test_fwroot(void **state)
{
	EVP_PKEY *key = NULL, *other = NULL;
	X509 *fw = NULL, *c = NULL;
	X509_REQ *req = NULL;
	uint8_t serial[SP_SERIAL_LEN];
	int64_t nb, na, now = sp_now();
	sp_buf subj;
	(void)state;
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P384, &key)));
	assert_true(sp_ok(sp_serial_new(serial)));
	assert_true(sp_ok(sp_cert_make_fwroot(key, "Acme", "Acme Firmware Signing", serial,
	    &fw)));
	assert_int_equal(X509_check_ca(fw), 0);
	assert_int_equal(X509_get_extension_flags(fw) & EXFLAG_CA, 0);
	assert_int_equal(X509_get_key_usage(fw), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(fw), XKU_CODE_SIGN);
	assert_int_equal(X509_get_extension_flags(fw) & EXFLAG_SS, EXFLAG_SS);
	assert_int_equal(X509_verify(fw, key), 1);
	assert_true(sp_ok(sp_cert_dates(fw, &nb, &na)));
	assert_int_equal(na, SP_NOTAFTER_FOREVER_EPOCH);
	assert_non_null(X509_get0_subject_key_id(fw));
	sp_buf_init(&subj, 1024);
	assert_true(sp_ok(sp_cert_subject(fw, &subj)));
	assert_string_equal(sp_buf_cstr(&subj), "O=Acme, CN=Acme Firmware Signing");
	sp_buf_free(&subj);
	/* Whoever holds the key cannot mint a server certificate that chains to it. */
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P256, &other)));
	assert_true(sp_ok(sp_csr_build(other, "pv.telco.net", &req)));
	assert_true(sp_ok(sp_serial_new(serial)));
	assert_true(sp_ok(sp_cert_make_server(fw, key, req, "pv.telco.net", "pv.telco.net",
	    serial, now, now + 86400, NULL, &c)));
	assert_false(verifies(fw, c, X509_PURPOSE_SSL_SERVER));
	assert_false(verifies(fw, c, X509_PURPOSE_ANY));
	/* Nor pass as a TLS certificate itself. */
	assert_false(verifies(fw, fw, X509_PURPOSE_SSL_SERVER));
	assert_false(verifies(fw, fw, X509_PURPOSE_SSL_CLIENT));
	X509_free(c);
	X509_REQ_free(req);
	X509_free(fw);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_device_cert_styles(void **state)
{
	ca_fixture *f = *state;
	sp_devcert_maker *m = NULL;
	EVP_PKEY *key = NULL;
	uint8_t serial[SP_SERIAL_LEN];
	sp_buf subj;
	(void)state;
	assert_true(sp_ok(sp_devcert_maker_new(f->root, f->key, NULL, &m)));
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P256, &key)));
	for (int style = 0; style < 2; style++) {
		/* '_' is not a PrintableString character: serialNumber becomes UTF8. */
		sp_devcert_req r = { .org = "Acme", .mac = "000e08aabbcc",
			.serial = style ? "88012BA01234" : "SN_0:1.2-3", .product = "SPA-962",
			.style = style ? SP_DEVSTYLE_SPA : SP_DEVSTYLE_SPROV,
			.not_before = sp_now(), .not_after = SP_NOTAFTER_FOREVER_EPOCH };
		X509 *c = NULL, *made = NULL;
		sp_devid id;
		sp_buf der;
		const unsigned char *dp;
		int64_t nb, na;
		assert_true(sp_ok(sp_serial_new(serial)));
		assert_true(sp_ok(sp_devcert_make(m, &r, key, serial, &made)));
		/* The maker's object is for encoding only (see pki.h): parse it back. */
		sp_buf_init(&der, 1 << 16);
		assert_true(sp_ok(sp_cert_der(made, &der)));
		dp = (const unsigned char *)der.p;
		c = d2i_X509(NULL, &dp, (long)der.len);
		assert_non_null(c);
		sp_buf_free(&der);
		X509_free(made);
		assert_true(verifies(f->root, c, X509_PURPOSE_SSL_CLIENT));
		assert_false(verifies(f->root, c, X509_PURPOSE_SSL_SERVER));
		/* What we issue is what the server's identity rule accepts. */
		assert_true(sp_ok(sp_devid_from_x509(c, SP_IDSTYLE_AUTO, &id)));
		assert_int_equal(id.style, style ? SP_IDSTYLE_SPA : SP_IDSTYLE_SPROV);
		assert_int_equal(id.mac.b[5], 0xcc);
		assert_string_equal(id.serial, r.serial);
		assert_string_equal(id.product, "SPA-962");
		assert_true(sp_ok(sp_cert_dates(c, &nb, &na)));
		assert_int_equal(na, SP_NOTAFTER_FOREVER_EPOCH);
		/* The cheap subject string equals OpenSSL's rendering. */
		sp_buf_init(&subj, 1024);
		assert_true(sp_ok(sp_devcert_subject(&r, &subj)));
		{
			sp_buf o;
			sp_buf_init(&o, 1024);
			assert_true(sp_ok(sp_cert_subject(c, &o)));
			assert_string_equal(sp_buf_cstr(&o), sp_buf_cstr(&subj));
			sp_buf_free(&o);
		}
		sp_buf_free(&subj);
		/* The public key set without the encoder is the device key. */
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), key), 1);
		X509_free(c);
	}
	EVP_PKEY_free(key);
	sp_devcert_maker_free(m);
}

/* The TBSCertificate of a DER certificate (a copy) and whether it parsed. */
static unsigned char *
tbs_of(const sp_buf *der, X509 **x, int *len)
{
	const unsigned char *dp = (const unsigned char *)der->p;
	unsigned char *t = NULL;

	*x = d2i_X509(NULL, &dp, (long)der->len);
	assert_non_null(*x);
	assert_ptr_equal(dp, (const unsigned char *)der->p + der->len);
	*len = i2d_re_X509_tbs(*x, &t);
	assert_true(*len > 0);
	return t;
}

/*
 * sp_devcert_make_der assembles the certificate itself: its TBSCertificate
 * is byte for byte the one sp_devcert_make encodes, for both subject styles,
 * UTCTime and GeneralizedTime, with and without a CRL distribution point,
 * and it verifies under the CA; a P-384 device key takes the slow path.
 */
static void
test_device_cert_der(void **state)
{
	ca_fixture *f = *state;
	static const char *const crl[] = { NULL, "http://pki.example.com/device.crl" };
	static const struct { const char *serial, *product; int style; int64_t nb, na; } v[] = {
		{ "SN_0:1.2-3", "SPA-962", 0, 1700000000, SP_NOTAFTER_FOREVER_EPOCH },
		{ "SN00000042", "", 0, 2524608000 + 86400, 2524608000 + 2 * 86400 },
		{ "", "P", 0, 1700000000, 1700000000 + 86400 * 3650 },
		{ "88012BA01234", "SPA-962", 1, 1700000000, 1800000000 },
	};

	for (size_t k = 0; k < 2; k++) {
		sp_devcert_maker *m = NULL;
		assert_true(sp_ok(sp_devcert_maker_new(f->root, f->key, crl[k], &m)));
		for (size_t i = 0; i < 2 * sizeof(v) / sizeof(v[0]); i++) {
			size_t j = i % (sizeof(v) / sizeof(v[0]));
			sp_devcert_req r = { .org = "Acme Phones", .mac = "000e08aabbcc",
				.serial = v[j].serial, .product = v[j].product,
				.style = v[j].style ? SP_DEVSTYLE_SPA : SP_DEVSTYLE_SPROV,
				.not_before = v[j].nb, .not_after = v[j].na };
			bool p384 = i == sizeof(v) / sizeof(v[0]);
			EVP_PKEY *key = NULL;
			uint8_t serial[SP_SERIAL_LEN];
			X509 *slow = NULL, *a = NULL, *b = NULL;
			sp_buf da, db, pem, pem2;
			unsigned char *ta, *tb;
			int la, lb;
			assert_true(sp_ok(sp_key_gen(p384 ? SP_KEY_EC_P384 : SP_KEY_EC_P256, &key)));
			assert_true(sp_ok(sp_serial_new(serial)));
			sp_buf_init(&da, 1 << 16);
			sp_buf_init(&db, 1 << 16);
			assert_true(sp_ok(sp_devcert_make(m, &r, key, serial, &slow)));
			assert_true(sp_ok(sp_cert_der(slow, &da)));
			assert_true(sp_ok(sp_devcert_make_der(m, &r, key, serial, &db)));
			ta = tbs_of(&da, &a, &la);
			tb = tbs_of(&db, &b, &lb);
			assert_int_equal(la, lb);
			assert_memory_equal(ta, tb, (size_t)la);
			assert_int_equal(X509_verify(b, f->key), 1);
			if (j == 0)
				assert_true(verifies(f->root, b, X509_PURPOSE_SSL_CLIENT));
			/* sp_pem_encode of the DER is what PEM_write gives */
			sp_buf_init(&pem, 1 << 16);
			sp_buf_init(&pem2, 1 << 16);
			assert_true(sp_ok(sp_pem_encode("CERTIFICATE", db.p, db.len, &pem)));
			assert_true(sp_ok(sp_cert_pem(b, &pem2)));
			assert_string_equal(sp_buf_cstr(&pem), sp_buf_cstr(&pem2));
			sp_buf_free(&pem);
			sp_buf_free(&pem2);
			OPENSSL_free(ta);
			OPENSSL_free(tb);
			X509_free(a);
			X509_free(b);
			X509_free(slow);
			sp_buf_free(&da);
			sp_buf_free(&db);
			EVP_PKEY_free(key);
		}
		sp_devcert_maker_free(m);
	}
}

static void
test_server_cert(void **state)
{
	ca_fixture *f = *state;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	X509 *c = NULL;
	uint8_t serial[SP_SERIAL_LEN];
	GENERAL_NAMES *san;
	char hex[65];
	int64_t now = sp_now();
	(void)state;
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P256, &key)));
	assert_true(sp_ok(sp_csr_build(key, "pv.telco.net/mailto:admin@telco.net", &req)));
	/* A device's identity in the CSR subject must not reach the certificate. */
	assert_int_equal(X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req),
	    NID_stateOrProvinceName, MBSTRING_UTF8, (const unsigned char *)"0011223344aa",
	    -1, -1, 0), 1);
	assert_true(sp_ok(sp_serial_new(serial)));
	assert_true(sp_ok(sp_cert_make_server(f->root, f->key, req,
	    "pv.telco.net/mailto:admin@telco.net", "pv.telco.net", serial,
	    now, now + 86400, NULL, &c)));
	assert_true(verifies(f->root, c, X509_PURPOSE_SSL_SERVER));
	{
		sp_buf subj;
		sp_buf_init(&subj, 1024);
		assert_true(sp_ok(sp_cert_subject(c, &subj)));
		assert_string_equal(sp_buf_cstr(&subj), "CN=pv.telco.net/mailto:admin@telco.net");
		sp_buf_free(&subj);
	}
	san = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
	assert_non_null(san);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	assert_string_equal((const char *)ASN1_STRING_get0_data(
	    sk_GENERAL_NAME_value(san, 0)->d.dNSName), "pv.telco.net");
	GENERAL_NAMES_free(san);
	assert_true(sp_ok(sp_cert_serial_hex(c, hex, sizeof(hex))));
	{
		char want[SP_SERIAL_HEXLEN + 1];
		sp_serial_hex(serial, want);
		assert_string_equal(hex, want);
		/* The quick PEM walk used on resume agrees with OpenSSL's parse. */
		sp_buf pem;
		char quick[65];
		sp_buf_init(&pem, 1 << 16);
		assert_true(sp_ok(sp_cert_pem(c, &pem)));
		assert_true(sp_ok(sp_cert_pem_serial_hex(pem.p, pem.len, quick, sizeof(quick))));
		assert_string_equal(quick, want);
		/* Every truncation is refused, never misread. */
		for (size_t cut = 0; cut < pem.len - 30; cut += 7)
			assert_false(sp_ok(sp_cert_pem_serial_hex(pem.p, cut, quick, sizeof(quick))) &&
			    strcmp(quick, want) != 0);
		assert_int_equal(sp_cert_pem_serial_hex("junk", 4, quick, sizeof(quick)).code,
		    SP_E_PARSE);
		sp_buf_free(&pem);
	}
	X509_free(c);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
}

static void
test_crl(void **state)
{
	ca_fixture *f = *state;
	sp_crl_entry e[2] = { 0 };
	sp_buf pem;
	BIO *bio;
	X509_CRL *crl;
	int reason;
	(void)state;
	e[0].serial[0] = 0x42; e[0].serial_len = 1; e[0].revoked_at = 1700000000;
	e[0].reason = 1;
	e[1].serial[0] = 0x43; e[1].serial_len = 1; e[1].revoked_at = 1700000000;
	sp_buf_init(&pem, 1 << 20);
	assert_true(sp_ok(sp_crl_make(f->root, f->key, e, 2, 7, sp_now(), sp_now() + 86400,
	    &pem)));
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, f->key), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
	{
		ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
		assert_int_equal(ASN1_INTEGER_get(num), 7);
		ASN1_INTEGER_free(num);
	}
	assert_true(sp_ok(sp_reason_parse("keyCompromise", &reason)));
	assert_int_equal(reason, 1);
	assert_string_equal(sp_reason_name(4), "superseded");
	assert_int_equal(sp_reason_parse("stolen", &reason).code, SP_E_USAGE);
	X509_CRL_free(crl);
	BIO_free(bio);
	sp_buf_free(&pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test_setup_teardown(test_root, setup, teardown),
		cmocka_unit_test(test_fwroot),
		cmocka_unit_test_setup_teardown(test_device_cert_styles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_cert_der, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crl, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
