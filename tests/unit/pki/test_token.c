/*
 * PKCS#11 keys: where the PIN comes from and which URIs are refused before
 * any module is loaded (the token itself is exercised by ca_pkcs11.sh and
 * serve_pkcs11.sh against SoftHSM2).
 */
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

#include "pki/token.h"

static char dir[] = "/tmp/sprov-test-token.XXXXXX";

static int
setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static const char *
pinfile(const char *name, const char *content, mode_t mode)
{
	static char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static void
test_is_uri(void **state)
{
	assert_true(sp_token_is_uri("pkcs11:token=a"));
	assert_true(sp_token_is_uri("PKCS11:token=a"));
	assert_false(sp_token_is_uri("pkcs11"));
	assert_false(sp_token_is_uri("/etc/sprov/pkcs11:key.pem"));
	assert_false(sp_token_is_uri(NULL));
}

static void
test_pin_env(void **state)
{
	sp_buf pin;
	sp_result r;

	unsetenv(SP_TOKEN_PIN_ENV);
	r = sp_token_pin(NULL, &pin);
	assert_int_equal(r.code, SP_E_USAGE);
	assert_string_equal(sp_errmsg(), "the token needs a PIN: set SPROV_PKCS11_PIN or "
	    "give --pin-file FILE");
	setenv(SP_TOKEN_PIN_ENV, "1234", 1);
	assert_true(sp_ok(sp_token_pin(NULL, &pin)));
	assert_int_equal(pin.len, 4);
	assert_string_equal(pin.p, "1234");
	assert_true(pin.secret);
	sp_buf_free_secret(&pin);
	setenv(SP_TOKEN_PIN_ENV, "", 1);
	r = sp_token_pin(NULL, &pin);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "SPROV_PKCS11_PIN: empty PIN");
	unsetenv(SP_TOKEN_PIN_ENV);
}

static void
test_pin_file(void **state)
{
	sp_buf pin;
	sp_result r;
	const char *p;
	char want[300];

	/* One line; the newline (or CR LF) is not part of the PIN. */
	p = pinfile("ok", "2468\r\n", 0600);
	setenv(SP_TOKEN_PIN_ENV, "ignored", 1);
	assert_true(sp_ok(sp_token_pin(p, &pin)));
	assert_string_equal(pin.p, "2468");
	sp_buf_free_secret(&pin);
	unsetenv(SP_TOKEN_PIN_ENV);
	p = pinfile("ro", "2468", 0400);
	assert_true(sp_ok(sp_token_pin(p, &pin)));
	assert_string_equal(pin.p, "2468");
	sp_buf_free_secret(&pin);

	/* Readable by group or others: refused, naming the file and its mode. */
	p = pinfile("world", "2468\n", 0644);
	r = sp_token_pin(p, &pin);
	assert_int_equal(r.code, SP_E_POLICY);
	snprintf(want, sizeof(want), "PIN file %s: mode 0644 lets group or others read "
	    "it; chmod 600 it", p);
	assert_string_equal(sp_errmsg(), want);
	p = pinfile("group", "2468\n", 0640);
	assert_int_equal(sp_token_pin(p, &pin).code, SP_E_POLICY);

	p = pinfile("empty", "\n", 0600);
	assert_int_equal(sp_token_pin(p, &pin).code, SP_E_PARSE);
	p = pinfile("ctl", "24\t68\n", 0600);
	r = sp_token_pin(p, &pin);
	assert_int_equal(r.code, SP_E_PARSE);
	snprintf(want, sizeof(want), "%s: the PIN holds a control character", p);
	assert_string_equal(sp_errmsg(), want);

	snprintf(want, sizeof(want), "%s/none", dir);
	assert_int_equal(sp_token_pin(want, &pin).code, SP_E_IO);
	assert_int_equal(sp_token_pin(dir, &pin).code, SP_E_POLICY);
}

/* URIs refused before a module is looked at: the module path does not exist. */
static void
test_uri_refused(void **state)
{
	EVP_PKEY *k = NULL;
	char *uris[1];
	sp_token_keyspec spec = { "x", SP_KEY_EC_P256 };
	sp_result r;

	r = sp_token_key_load("/nonexistent.so", "pkcs11:token=t;object=k?pin-value=1234",
	    "1", &k);
	assert_int_equal(r.code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "a PIN is never put in a URI"));
	assert_null(strstr(sp_errmsg(), "1234")); /* the refused PIN is not shown */
	assert_null(k);
	r = sp_token_key_load("/nonexistent.so", "pkcs11:token=t", "1", &k);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "'pkcs11:token=t': names no key (object= or id=)");
	r = sp_token_key_load("/nonexistent.so", "file:///k.pem", "1", &k);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "not a PKCS#11 URI (RFC 7512)"));
	r = sp_token_key_load("/nonexistent.so", "pkcs11:token=t;object=k", "1", &k);
	assert_int_equal(r.code, SP_E_NOTFOUND);
	assert_string_equal(sp_errmsg(), "PKCS#11 module /nonexistent.so: No such file or "
	    "directory");

	r = sp_token_keygen("/nonexistent.so", "pkcs11:token=t;id=%01", "1", &spec, 1, uris);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_null(uris[0]);
	r = sp_token_keygen("/nonexistent.so", "pkcs11:token=t?module-path=/x.so", "1", &spec,
	    1, uris);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "'pkcs11:token=t': give the "
	    "module with --pkcs11-module and the PIN with --pin-file or SPROV_PKCS11_PIN, "
	    "not in the URI");
	spec.type = SP_KEY_RSA_2048;
	r = sp_token_keygen("/nonexistent.so", "pkcs11:token=t", "1", &spec, 1, uris);
	assert_int_equal(r.code, SP_E_POLICY);
	assert_string_equal(sp_errmsg(), "a token key is EC P-256 or P-384, not rsa-2048");
}

/* What a library other than libp11 (GnuTLS) gets: the URI checked, module, PIN. */
static void
test_ref(void **state)
{
	sp_token_ref ref;
	sp_result r;
	const char *p;
	char uri[400];

	setenv(SP_TOKEN_PIN_ENV, "1234", 1);
	assert_true(sp_ok(sp_token_ref_get("pkcs11:token=t;object=k;type=private", &ref)));
	assert_string_equal(ref.module, SP_TOKEN_MODULE_DEFAULT);
	assert_string_equal(ref.pin.p, "1234");
	assert_true(ref.pin.secret);
	assert_non_null(strstr(ref.uri, "token=t"));
	assert_non_null(strstr(ref.uri, "object=k"));
	sp_token_ref_free(&ref);
	assert_null(ref.uri);
	assert_null(ref.module);

	/* The URI's pin-source is read here (and then left out of uri). */
	p = pinfile("src", "5678\n", 0600);
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=k?module-path=/x.so&"
	    "pin-source=file:%s", p);
	assert_true(sp_ok(sp_token_ref_get(uri, &ref)));
	assert_string_equal(ref.module, "/x.so");
	assert_string_equal(ref.pin.p, "5678");
	assert_null(strstr(ref.uri, "pin-source"));
	assert_null(strstr(ref.uri, p));
	sp_token_ref_free(&ref);

	/* Refusals leave nothing to free. */
	p = pinfile("src644", "5678\n", 0644);
	snprintf(uri, sizeof(uri), "pkcs11:token=t;object=k?pin-source=%s", p);
	r = sp_token_ref_get(uri, &ref);
	assert_int_equal(r.code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "mode 0644 lets group or others read it"));
	assert_null(ref.uri);
	assert_null(ref.module);
	assert_null(ref.pin.p);
	r = sp_token_ref_get("pkcs11:token=t;object=k?pin-value=1234", &ref);
	assert_int_equal(r.code, SP_E_POLICY);
	assert_null(ref.uri);
	r = sp_token_ref_get("pkcs11:token=t", &ref);
	assert_int_equal(r.code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "'pkcs11:token=t': names no key (object= or id=)");
	unsetenv(SP_TOKEN_PIN_ENV);
	r = sp_token_ref_get("pkcs11:token=t;object=k", &ref);
	assert_int_equal(r.code, SP_E_USAGE);
	assert_null(ref.module);

	r = sp_token_module_check("/nonexistent.so");
	assert_int_equal(r.code, SP_E_NOTFOUND);
	assert_string_equal(sp_errmsg(), "PKCS#11 module /nonexistent.so: No such file or "
	    "directory");
}

/* The token of a key URI, as --add-firmware-key gives it to sp_token_keygen. */
static void
test_uri_of_token(void **state)
{
	char *t = NULL;
	(void)state;
	assert_true(sp_ok(sp_token_uri_of_token(
	    "pkcs11:token=vendor-ca;object=sprov-server-ca;type=private", &t)));
	assert_string_equal(t, "pkcs11:token=vendor-ca");
	free(t);
	t = NULL;
	/* Token attributes stay; id, object, type and pin-source go. */
	assert_true(sp_ok(sp_token_uri_of_token("pkcs11:model=SoftHSM%20v2;serial=0731;"
	    "token=vt;id=%01%02;object=k;type=private?pin-source=/tmp/pin", &t)));
	assert_string_equal(t, "pkcs11:model=SoftHSM%20v2;serial=0731;token=vt");
	free(t);
	t = (char *)"unchanged";
	assert_int_equal(sp_token_uri_of_token("pkcs11:token=vt", &t).code, SP_E_PARSE);
	assert_null(t);
	assert_int_equal(sp_token_uri_of_token("pkcs11:token=vt;object=k?pin-value=1",
	    &t).code, SP_E_POLICY);
	assert_null(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_uri),
		cmocka_unit_test(test_pin_env),
		cmocka_unit_test(test_pin_file),
		cmocka_unit_test(test_uri_refused),
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_uri_of_token),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
