/*
 * Profile decoding against real `openssl enc` and `gzip` output, generated
 * at test time in a temporary directory, plus the failure cases: wrong key,
 * missing key, truncated ciphertext, zip bomb, corrupt and truncated gzip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/util.h"
#include "profile/profile.h"

static const char plain[] =
    "<flat-profile>\n"
    "  <Proxy_1_ ua=\"rw\">sip.example.com</Proxy_1_>\n"
    "  <Password_1_ ua=\"na\">s3cr&amp;t</Password_1_>\n"
    "</flat-profile>\n";

static const char pass[] = "pass phrase 1";

static char tmpdir[64];

static int
setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sprov-decode-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_plain(const char *name, const void *p, size_t n)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_true(sp_ok(sp_write_file(path, p, n, 0600, SP_WRITE_NOSYNC)));
}

static void
read_back(const char *name, sp_buf *out)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_true(sp_ok(sp_read_file(path, SP_PROFILE_MAX * 2, out)));
}

/* Run a shell command in the temporary directory; it must succeed. */
static void run(const char *fmt, ...) SP_PRINTF(1, 2);

static void
run(const char *fmt, ...)
{
	char cmd[1024], full[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && %s", tmpdir, cmd);
	if (system(full) != 0)
		fail_msg("command failed: %s", cmd);
}

static void
check_plain(const sp_params *ps)
{
	assert_int_equal(ps->n, 2);
	assert_string_equal(sp_params_value(ps, "Proxy_1_", ""), "sip.example.com");
	assert_string_equal(sp_params_value(ps, "Password_1_", ""), "s3cr&t");
}

static void
decode_ok(const sp_buf *body, const char *key)
{
	sp_params ps;

	sp_params_init(&ps);
	sp_result r = sp_profile_decode(sp_slice_mk(body->p, body->len), key, &ps);
	if (sp_failed(r))
		fail_msg("decode: %s", sp_errmsg());
	check_plain(&ps);
	sp_params_free(&ps);
}

static sp_code
decode_code(sp_slice body, const char *key)
{
	sp_params ps;

	sp_params_init(&ps);
	sp_result r = sp_profile_decode(body, key, &ps);
	sp_params_free(&ps);
	return r.code;
}

static void
test_openssl_cli(void **state)
{
	/* openssl enc options per derivation, in the order they are tried. */
	static const char *const mds[] = { "md5", "sha256", "pbkdf2" };
	static const char *const opts[] = { "-md md5", "-md sha256", "-pbkdf2" };
	static const sp_kdf kdfs[] = { SP_KDF_MD5, SP_KDF_SHA256, SP_KDF_PBKDF2 };
	sp_buf body;

	write_plain("p.xml", plain, sizeof(plain) - 1);
	run("gzip -9 -c p.xml > p.xml.gz");
	for (size_t i = 0; i < SP_ARRAY_LEN(mds); i++) {
		/* Plain XML and gzip-then-encrypt (the digest's order). */
		run("openssl enc -e -aes-256-cbc %s -k '%s' -in p.xml -out p.%s.enc "
		    "2>/dev/null", opts[i], pass, mds[i]);
		run("openssl enc -e -aes-256-cbc %s -k '%s' -in p.xml.gz -out p.%s.gz.enc "
		    "2>/dev/null", opts[i], pass, mds[i]);
		char name[64];
		snprintf(name, sizeof(name), "p.%s.enc", mds[i]);
		read_back(name, &body);
		assert_memory_equal(body.p, "Salted__", 8);
		decode_ok(&body, pass);

		/* The stage alone says which derivation matched. */
		sp_buf dec;
		sp_kdf used;
		sp_buf_init(&dec, SP_PROFILE_MAX);
		assert_true(sp_ok(sp_profile_decrypt(sp_slice_mk(body.p, body.len), pass,
		    &dec, &used)));
		assert_int_equal(used, kdfs[i]);
		assert_int_equal(dec.len, sizeof(plain) - 1);
		assert_memory_equal(dec.p, plain, dec.len);
		sp_buf_free_secret(&dec);

		/* Wrong key: the clear message. */
		sp_params ps;
		sp_params_init(&ps);
		sp_result r = sp_profile_decode(sp_slice_mk(body.p, body.len), "wrong", &ps);
		assert_int_equal(r.code, SP_E_CRYPTO);
		assert_string_equal(sp_errmsg(), "profile decryption failed (wrong --key?)");
		assert_int_equal(ps.n, 0);
		/* No key at all. */
		r = sp_profile_decode(sp_slice_mk(body.p, body.len), NULL, &ps);
		assert_int_equal(r.code, SP_E_CRYPTO);
		assert_non_null(strstr(sp_errmsg(), "a --key is needed"));
		sp_params_free(&ps);

		/* Truncated: not a whole block, and a whole block short. */
		assert_int_equal(decode_code(sp_slice_mk(body.p, body.len - 5), pass),
		    SP_E_CRYPTO);
		assert_non_null(strstr(sp_errmsg(), "truncated"));
		sp_code c = decode_code(sp_slice_mk(body.p, body.len - 16), pass);
		assert_true(c == SP_E_CRYPTO || c == SP_E_PARSE);
		assert_int_equal(decode_code(sp_slice_mk(body.p, 16), pass), SP_E_CRYPTO);
		assert_int_equal(decode_code(sp_slice_mk(body.p, 8), pass), SP_E_CRYPTO);
		/* A flipped byte in the last block breaks the padding. */
		body.p[body.len - 1] ^= 0x55;
		assert_int_equal(decode_code(sp_slice_mk(body.p, body.len), pass), SP_E_CRYPTO);
		sp_buf_free(&body);

		snprintf(name, sizeof(name), "p.%s.gz.enc", mds[i]);
		read_back(name, &body);
		decode_ok(&body, pass);
		sp_buf_free(&body);
	}
	/* gzip alone, from the gzip tool. */
	read_back("p.xml.gz", &body);
	decode_ok(&body, NULL);
	/* A key for an unencrypted profile is refused. */
	assert_int_equal(decode_code(sp_slice_mk(body.p, body.len), pass), SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "not encrypted"));
	sp_buf_free(&body);
}

/* Only openssl's default -iter is known: another count is a wrong key. */
static void
test_pbkdf2_other_iter_refused(void **state)
{
	sp_buf body;
	sp_params ps;

	write_plain("q.xml", plain, sizeof(plain) - 1);
	run("openssl enc -e -aes-256-cbc -pbkdf2 -iter 20000 -k '%s' -in q.xml -out q.enc "
	    "2>/dev/null", pass);
	read_back("q.enc", &body);
	sp_params_init(&ps);
	assert_int_equal(sp_profile_decode(sp_slice_mk(body.p, body.len), pass, &ps).code,
	    SP_E_CRYPTO);
	assert_string_equal(sp_errmsg(), "profile decryption failed (wrong --key?)");
	assert_int_equal(ps.n, 0);
	sp_params_free(&ps);
	sp_buf_free(&body);
	/* The same with the default count decrypts. */
	run("openssl enc -e -aes-256-cbc -pbkdf2 -iter 10000 -k '%s' -in q.xml -out q.enc "
	    "2>/dev/null", pass);
	read_back("q.enc", &body);
	decode_ok(&body, pass);
	sp_buf_free(&body);
}

static void
test_our_encrypt_with_openssl_cli(void **state)
{
	static const struct { sp_kdf kdf; const char *md; } kdfs[] = {
		{ SP_KDF_MD5, "-md md5" }, { SP_KDF_SHA256, "-md sha256" },
		{ SP_KDF_PBKDF2, "-pbkdf2" },
	};
	static const unsigned char salt[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	sp_buf enc, gz, back;

	write_plain("p.xml", plain, sizeof(plain) - 1);
	for (size_t i = 0; i < SP_ARRAY_LEN(kdfs); i++) {
		sp_buf_init(&enc, SP_PROFILE_MAX * 2);
		sp_buf_init(&gz, SP_PROFILE_MAX);
		/* Ours -> openssl enc -d gives the plaintext back. */
		assert_true(sp_ok(sp_profile_encrypt(sp_slice_mk(plain, sizeof(plain) - 1),
		    pass, kdfs[i].kdf, NULL, &enc)));
		write_plain("ours.enc", enc.p, enc.len);
		run("openssl enc -d -aes-256-cbc %s -k '%s' -in ours.enc -out ours.xml "
		    "2>/dev/null", kdfs[i].md, pass);
		read_back("ours.xml", &back);
		assert_int_equal(back.len, sizeof(plain) - 1);
		assert_memory_equal(back.p, plain, back.len);
		sp_buf_free(&back);
		decode_ok(&enc, pass);
		/*
		 * Same salt -> the same ciphertext as openssl enc -S (OpenSSL 3
		 * leaves the Salted__ header out when the salt is given).
		 */
		sp_buf_reset(&enc);
		assert_true(sp_ok(sp_profile_encrypt(sp_slice_mk(plain, sizeof(plain) - 1),
		    pass, kdfs[i].kdf, salt, &enc)));
		run("openssl enc -e -aes-256-cbc %s -k '%s' -S 0102030405060708 -in p.xml "
		    "-out cli.enc 2>/dev/null", kdfs[i].md, pass);
		read_back("cli.enc", &back);
		assert_memory_equal(enc.p, "Salted__\x01\x02\x03\x04\x05\x06\x07\x08", 16);
		if (back.len == enc.len)
			assert_memory_equal(back.p, enc.p, enc.len);
		else {
			assert_int_equal(back.len + 16, enc.len);
			assert_memory_equal(back.p, enc.p + 16, back.len);
		}
		sp_buf_free(&back);
		/* Our gzip -> gzip -d. */
		assert_true(sp_ok(sp_profile_gzip(sp_slice_mk(plain, sizeof(plain) - 1), &gz)));
		write_plain("ours.gz", gz.p, gz.len);
		run("gzip -d -c ours.gz > ours2.xml");
		read_back("ours2.xml", &back);
		assert_int_equal(back.len, sizeof(plain) - 1);
		assert_memory_equal(back.p, plain, back.len);
		sp_buf_free(&back);
		sp_buf_free(&enc);
		sp_buf_free(&gz);
	}
}

/* Deflate `n` bytes of `c` into a gzip member, in memory. */
static void
gzip_fill(char c, size_t n, sp_buf *out)
{
	z_stream zs;
	unsigned char in[65536], o[65536];
	int zr;

	memset(&zs, 0, sizeof(zs));
	memset(in, c, sizeof(in));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9,
	    Z_DEFAULT_STRATEGY), Z_OK);
	do {
		size_t chunk = n > sizeof(in) ? sizeof(in) : n;
		n -= chunk;
		zs.next_in = in;
		zs.avail_in = (uInt)chunk;
		do {
			zs.next_out = o;
			zs.avail_out = sizeof(o);
			zr = deflate(&zs, n ? Z_NO_FLUSH : Z_FINISH);
			assert_true(sp_ok(sp_buf_append(out, o, sizeof(o) - zs.avail_out)));
		} while (zs.avail_out == 0);
	} while (n);
	assert_int_equal(zr, Z_STREAM_END);
	deflateEnd(&zs);
}

static void
test_zip_bomb(void **state)
{
	sp_buf gz, enc;

	sp_buf_init(&gz, SP_PROFILE_MAX);
	sp_buf_init(&enc, SP_PROFILE_MAX * 2);
	gzip_fill(' ', 64u * 1024 * 1024, &gz);  /* 64 MiB of spaces, ~64 KiB */
	assert_true(gz.len < 200 * 1024);
	assert_int_equal(decode_code(sp_slice_mk(gz.p, gz.len), NULL), SP_E_LIMIT);
	assert_non_null(strstr(sp_errmsg(), "decompressed profile larger than"));
	/* Also when it arrives encrypted. */
	assert_true(sp_ok(sp_profile_encrypt(sp_slice_mk(gz.p, gz.len), pass, SP_KDF_MD5,
	    NULL, &enc)));
	assert_int_equal(decode_code(sp_slice_mk(enc.p, enc.len), pass), SP_E_LIMIT);
	/* Exactly SP_PROFILE_MAX bytes is not a bomb (but not XML either). */
	sp_buf_reset(&gz);
	gzip_fill(' ', SP_PROFILE_MAX, &gz);
	assert_int_equal(decode_code(sp_slice_mk(gz.p, gz.len), NULL), SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "malformed XML"));
	sp_buf_free(&gz);
	sp_buf_free(&enc);
}

static void
test_gzip_shapes(void **state)
{
	sp_buf gz, two;
	sp_params ps;
	const char *a = "<flat-profile><A>1</A>", *b = "<B>2</B></flat-profile>";

	sp_buf_init(&gz, SP_PROFILE_MAX);
	sp_buf_init(&two, SP_PROFILE_MAX);
	/* Two concatenated members are one file (as gzip -d reads them). */
	assert_true(sp_ok(sp_profile_gzip(sp_slice_of(a), &two)));
	assert_true(sp_ok(sp_profile_gzip(sp_slice_of(b), &two)));
	sp_params_init(&ps);
	assert_true(sp_ok(sp_profile_decode(sp_slice_mk(two.p, two.len), NULL, &ps)));
	assert_string_equal(sp_params_value(&ps, "A", ""), "1");
	assert_string_equal(sp_params_value(&ps, "B", ""), "2");
	sp_params_free(&ps);
	/* Trailing garbage. */
	assert_true(sp_ok(sp_buf_append_str(&two, "junk")));
	assert_int_equal(decode_code(sp_slice_mk(two.p, two.len), NULL), SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "trailing garbage"));

	assert_true(sp_ok(sp_profile_gzip(sp_slice_mk(plain, sizeof(plain) - 1), &gz)));
	/* Every truncation fails (never a partial profile). */
	for (size_t n = 2; n < gz.len; n++) {
		sp_code c = decode_code(sp_slice_mk(gz.p, n), NULL);
		if (c != SP_E_PARSE)
			fail_msg("truncated gzip of %zu bytes: %s", n, sp_code_name(c));
	}
	/* A corrupt byte in the deflate data or the CRC. */
	gz.p[12] ^= 0xff;
	assert_int_equal(decode_code(sp_slice_mk(gz.p, gz.len), NULL), SP_E_PARSE);
	gz.p[12] ^= 0xff;
	gz.p[gz.len - 6] ^= 0x01;
	assert_int_equal(decode_code(sp_slice_mk(gz.p, gz.len), NULL), SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "corrupt"));
	sp_buf_free(&gz);
	sp_buf_free(&two);
}

static void
test_plain_and_limits(void **state)
{
	sp_params ps;
	sp_buf big;

	sp_params_init(&ps);
	assert_true(sp_ok(sp_profile_decode(sp_slice_mk(plain, sizeof(plain) - 1), NULL, &ps)));
	check_plain(&ps);
	sp_params_free(&ps);
	assert_int_equal(decode_code(SP_SLICE_LIT("Salted_"), NULL), SP_E_PARSE);
	assert_int_equal(decode_code(SP_SLICE_LIT(""), NULL), SP_E_PARSE);
	sp_buf_init(&big, SP_PROFILE_MAX * 2);
	while (big.len <= SP_PROFILE_MAX + SP_PROFILE_ENC_OVERHEAD)
		assert_true(sp_ok(sp_buf_append_str(&big, "<!-- ............... -->")));
	assert_int_equal(decode_code(sp_slice_mk(big.p, big.len), NULL), SP_E_LIMIT);
	sp_buf_free(&big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_cli),
		cmocka_unit_test(test_pbkdf2_other_iter_refused),
		cmocka_unit_test(test_our_encrypt_with_openssl_cli),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_gzip_shapes),
		cmocka_unit_test(test_plain_and_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
