/* firmware/image: the signed container (build, parse, check, verify). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "firmware/image.h"
#include "pki/pki.h"

static char dir[] = "/tmp/sprov-fw-XXXXXX";
static char pay[512], img[512], out[512];
static EVP_PKEY *key, *other, *rsa;

static void
write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static sp_buf
slurp(const char *path)
{
	sp_buf b;
	sp_buf_init(&b, 64u << 20);
	assert_true(sp_ok(sp_read_file(path, 64u << 20, &b)));
	return b;
}

static int
setup(void **state)
{
	(void)state;
	uint8_t data[200000];

	assert_non_null(mkdtemp(dir));
	snprintf(pay, sizeof(pay), "%s/payload.bin", dir);
	snprintf(img, sizeof(img), "%s/image.sfw", dir);
	snprintf(out, sizeof(out), "%s/copy.sfw", dir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
	write_bytes(pay, data, sizeof(data));
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P256, &key)));
	assert_true(sp_ok(sp_key_gen(SP_KEY_EC_P256, &other)));
	assert_true(sp_ok(sp_key_gen(SP_KEY_RSA_2048, &rsa)));
	assert_true(sp_ok(sp_fw_build_file(pay, "SPA-962", "2.0.1(0412s)", key, img)));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[600];
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	EVP_PKEY_free(rsa);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	sp_fw_header h;
	sp_buf b = slurp(img);

	assert_true(sp_ok(sp_fw_verify_file(img, key, &h)));
	assert_string_equal(h.product, "SPA-962");
	assert_string_equal(h.version, "2.0.1(0412s)");
	assert_int_equal(h.payload_len, 200000);
	assert_int_equal(h.header_len + h.payload_len, b.len);
	assert_int_equal(h.signed_len, 8 + 1 + 7 + 1 + 12 + 8 + 32);
	assert_true(sp_ok(sp_fw_check((sp_slice){ b.p, b.len }, &h)));
	assert_true(sp_ok(sp_fw_verify_sig(&h, (sp_slice){ b.p, h.signed_len }, key)));
	/* The file is not readable by a key other than the signer's. */
	assert_int_equal(sp_fw_verify_file(img, other, &h).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "not signed by the firmware key"));
	assert_non_null(strstr(sp_errmsg(), img));
	sp_buf_free(&b);
}

static void
test_rsa_key(void **state)
{
	(void)state;
	sp_fw_header h;

	assert_true(sp_ok(sp_fw_build_file(pay, "ATA-191", "11.3", rsa, out)));
	assert_true(sp_ok(sp_fw_verify_file(out, rsa, &h)));
	assert_int_equal(h.sig_len, 256);
	assert_int_equal(sp_fw_verify_file(out, key, &h).code, SP_E_VERIFY);
	assert_int_equal(unlink(out), 0);
}

/* Write b with one change and check the verdict and message. */
static void
expect_file(const sp_buf *b, size_t len, long flip, sp_code code, const char *msg)
{
	sp_fw_header h;
	char *copy = malloc(len + 1);

	assert_non_null(copy);
	memcpy(copy, b->p, len < b->len ? len : b->len);
	if (len > b->len)
		copy[b->len] = 'x';
	if (flip >= 0)
		copy[flip] ^= 0x01;
	write_bytes(out, copy, len);
	assert_int_equal(sp_fw_verify_file(out, key, &h).code, code);
	assert_non_null(strstr(sp_errmsg(), msg));
	assert_int_equal(sp_fw_check((sp_slice){ copy, len }, &h).code,
	    code == SP_E_VERIFY && strstr(msg, "SHA-256") == NULL ? SP_E_OK : code);
	free(copy);
	assert_int_equal(unlink(out), 0);
}

static void
test_refusals(void **state)
{
	(void)state;
	sp_buf b = slurp(img);
	sp_fw_header h;

	assert_true(sp_ok(sp_fw_header_parse((sp_slice){ b.p, b.len }, &h)));
	char msg[128];

	snprintf(msg, sizeof(msg), "truncated: %zu of %zu bytes", b.len - 1, b.len);
	expect_file(&b, b.len - 1, -1, SP_E_PARSE, msg);
	expect_file(&b, b.len + 1, -1, SP_E_PARSE, "1 trailing bytes after the payload");
	/* A payload byte: the digest no longer matches. */
	expect_file(&b, b.len, (long)b.len - 5, SP_E_VERIFY,
	    "the payload's SHA-256 is not the signed one");
	/* A version byte: the signature no longer matches. */
	expect_file(&b, b.len, 17 + 4, SP_E_VERIFY, "not signed by the firmware key");
	/* A signature byte. */
	expect_file(&b, b.len, (long)h.signed_len + 10, SP_E_VERIFY,
	    "not signed by the firmware key");
	expect_file(&b, b.len, 0, SP_E_PARSE, "bad magic");
	sp_buf_free(&b);
}

static void
test_every_header_cut(void **state)
{
	(void)state;
	sp_buf b = slurp(img);
	sp_fw_header h;
	size_t hl;

	assert_true(sp_ok(sp_fw_header_parse((sp_slice){ b.p, b.len }, &h)));
	hl = h.header_len;
	for (size_t n = 0; n < hl; n++) {
		assert_int_equal(sp_fw_header_parse((sp_slice){ b.p, n }, &h).code,
		    SP_E_PARSE);
		assert_non_null(strstr(sp_errmsg(), "truncated header"));
	}
	assert_true(sp_ok(sp_fw_header_parse((sp_slice){ b.p, hl }, &h)));
	sp_buf_free(&b);
}

static void
test_field_limits(void **state)
{
	(void)state;
	sp_buf b = slurp(img);
	sp_fw_header h;

	b.p[8] = 0;  /* product length 0 */
	assert_int_equal(sp_fw_header_parse((sp_slice){ b.p, b.len }, &h).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "product length 0 at offset 8"));
	b.p[8] = 7;
	b.p[12] = '/';  /* "SPA/962" */
	assert_int_equal(sp_fw_header_parse((sp_slice){ b.p, b.len }, &h).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "bad product at offset 9"));
	b.p[12] = '-';
	b.p[16] = 33;  /* version length */
	assert_int_equal(sp_fw_header_parse((sp_slice){ b.p, b.len }, &h).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "version length 33 at offset 16"));
	sp_buf_free(&b);
}

static void
test_build_refusals(void **state)
{
	(void)state;
	char empty[600];

	assert_int_equal(sp_fw_build_file(pay, "SPA 962", "1.0", key, out).code, SP_E_USAGE);
	assert_non_null(strstr(sp_errmsg(), "bad product 'SPA 962'"));
	assert_int_equal(sp_fw_build_file(pay, "SPA-962", "1.0;rm", key, out).code,
	    SP_E_USAGE);
	assert_non_null(strstr(sp_errmsg(), "bad version"));
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	write_bytes(empty, "", 0);
	assert_int_equal(sp_fw_build_file(empty, "SPA-962", "1.0", key, out).code,
	    SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "empty image"));
	assert_int_equal(sp_fw_build_file("/nonexistent/x", "SPA-962", "1.0", key, out).code,
	    SP_E_IO);
	/* Nothing was written, not even a temporary file. */
	assert_false(sp_file_exists(out));
	{
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 3", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rsa_key),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_every_header_cut),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_build_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
