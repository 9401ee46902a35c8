/* The GnuTLS backend's refusals and counters (the handshakes are tested end
 * to end in tests/integration/serve_*.sh, int_serve_*_gnutls). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

static char dir[64];
static char ca[128], cakey[128], other[128], otherkey[128], crt[128], key[128],
    key2[128], crl_good[128], crl_foreign[128];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Two CAs, a server certificate from the first, a CRL from each. */
static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sprov-tls-gnutls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(other, sizeof(other), "%s/other.crt", dir);
	snprintf(otherkey, sizeof(otherkey), "%s/other.key", dir);
	snprintf(crt, sizeof(crt), "%s/srv.crt", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	snprintf(key2, sizeof(key2), "%s/srv2.key", dir);
	snprintf(crl_good, sizeof(crl_good), "%s/good.crl", dir);
	snprintf(crl_foreign, sizeof(crl_foreign), "%s/foreign.crl", dir);
	return sh("cd %s && for c in ca other; do openssl req -x509 -new -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=$c "
	    "-addext keyUsage=critical,keyCertSign,cRLSign -keyout $c.key -out $c.crt "
	    ">/dev/null 2>&1 || exit 1; printf '' >$c.idx; "
	    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=%s/'$c'.idx\\ndefault_md=sha256\\n"
	    "crlnumber=%s/'$c'.num\\n' >$c.cnf; echo 01 >$c.num; done && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out srv.key && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out srv2.key && "
	    "openssl req -new -key srv.key -subj /CN=srv -out srv.csr && "
	    "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
	    "-days 30 -out srv.crt >/dev/null 2>&1 && "
	    "openssl ca -gencrl -config ca.cnf -cert ca.crt -keyfile ca.key -crldays 30 "
	    "-out good.crl >/dev/null 2>&1 && "
	    "openssl ca -gencrl -config other.cnf -cert other.crt -keyfile other.key "
	    "-crldays 30 -out foreign.crl >/dev/null 2>&1", dir, dir, dir) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return sh("rm -rf %s", dir) == 0 ? 0 : -1;
}

static sp_tls_config
cfg_of(const char *c, const char *k, const char *a, const char *crl)
{
	sp_tls_config t = { c, k, a, crl, SP_TLS_VERIFY_DEPTH_DEFAULT, 0, 3600,
		SP_TLS_GNUTLS, 0, NULL, SP_IDSTYLE_AUTO, false };
	return t;
}

static void
test_good(void **state)
{
	sp_tls_config c = cfg_of(crt, key, ca, crl_good);
	(void)state;
	assert_true(sp_ok(sp_tls_config_check(&c)));
	c.crl_file = NULL;
	assert_true(sp_ok(sp_tls_config_check(&c)));
}

static void
test_refusals(void **state)
{
	sp_tls_config c = cfg_of("/nonexistent/cert.pem", "/nonexistent/key.pem",
	    "/nonexistent/ca.pem", NULL);
	sp_result r;
	(void)state;
	r = sp_tls_config_check(&c);
	assert_int_equal(r.code, SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "/nonexistent/cert.pem"));
	c.cert_file = NULL;
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_USAGE);

	c = cfg_of(crt, key, ca, NULL);
	c.verify_depth = 0;
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_USAGE);
	c.verify_depth = SP_TLS_VERIFY_DEPTH_MAX + 1;
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_USAGE);

	/* The key of another certificate. */
	c = cfg_of(crt, key2, ca, NULL);
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "does not match"));

	/* A device CA file without a certificate. */
	c = cfg_of(crt, key, key, NULL);
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "device CA"));

	/* A CRL no device CA signed, and a file that is no CRL. */
	c = cfg_of(crt, key, ca, crl_foreign);
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "not signed by a CA"));
	c = cfg_of(crt, key, ca, ca);
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_PARSE);
}

static void
test_backend_names(void **state)
{
	sp_tls_backend b = SP_TLS_OPENSSL;
	(void)state;
	assert_true(sp_ok(sp_tls_backend_parse("gnutls", &b)));
	assert_int_equal(b, SP_TLS_GNUTLS);
	assert_string_equal(sp_tls_backend_name(b), "gnutls");
	assert_true(sp_ok(sp_tls_backend_parse("openssl", &b)));
	assert_int_equal(b, SP_TLS_OPENSSL);
	assert_int_equal(sp_tls_backend_parse("GnuTLS", &b).code, SP_E_PARSE);
	assert_int_equal(sp_tls_backend_parse("", &b).code, SP_E_PARSE);
}

static void
test_server(void **state)
{
	sp_tls_server *s = NULL;
	sp_buf b;
	sp_tls_crl_state cs;
	sp_tls_config c = cfg_of("/nonexistent/cert.pem", "/nonexistent/key.pem",
	    "/nonexistent/ca.pem", NULL);
	(void)state;
	sp_buf_init(&b, 65536);
	assert_true(sp_ok(sp_tls_server_new(SP_TLS_GNUTLS, NULL, &s)));
	assert_int_equal(sp_tls_server_backend(s), SP_TLS_GNUTLS);
	/* A failed load counts and leaves no configuration. */
	assert_true(sp_failed(sp_tls_server_load(s, &c)));
	assert_null(sp_tls_bufferevent_new(s, NULL, NULL));
	/* The backend is fixed for the server's life. */
	c = cfg_of(crt, key, ca, crl_good);
	c.backend = SP_TLS_OPENSSL;
	assert_int_equal(sp_tls_server_load(s, &c).code, SP_E_USAGE);
	c.backend = SP_TLS_GNUTLS;
	assert_true(sp_ok(sp_tls_server_load(s, &c)));
	sp_tls_server_rotate_tickets(s, true);
	sp_tls_server_rotate_tickets(s, false);
	assert_true(sp_ok(sp_tls_server_metrics(s, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_backend_info{backend=\"gnutls\"} 1"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_handshakes_total{result=\"full\"} 0"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_reloads_total{result=\"failed\"} 1"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_reloads_total{result=\"ok\"} 1"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_crl_loaded 1"));
	sp_tls_server_crl_state(s, &cs);
	assert_true(cs.loaded);
	assert_false(cs.expired);
	assert_true(cs.next_update > cs.last_update);
	sp_tls_server_free(s);
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good), cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_backend_names), cmocka_unit_test(test_server),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
