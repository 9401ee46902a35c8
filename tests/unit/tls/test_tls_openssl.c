/* The TLS layer's refusals and counters (the handshakes are tested end to
 * end in tests/integration/serve_*.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "tls/tls.h"

static void
test_check_missing(void **state)
{
	sp_tls_config c = { "/nonexistent/cert.pem", "/nonexistent/key.pem",
		"/nonexistent/ca.pem", NULL, SP_TLS_VERIFY_DEPTH_DEFAULT, 0, 3600, SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	sp_result r;
	(void)state;
	r = sp_tls_config_check(&c);
	assert_int_equal(r.code, SP_E_CRYPTO);
	assert_non_null(strstr(sp_errmsg(), "/nonexistent/cert.pem"));
	c.cert_file = NULL;
	assert_int_equal(sp_tls_config_check(&c).code, SP_E_USAGE);
}

static void
test_server_metrics(void **state)
{
	sp_tls_server *s = NULL;
	sp_buf b;
	sp_tls_crl_state cs;
	sp_tls_config c = { "/nonexistent/cert.pem", "/nonexistent/key.pem",
		"/nonexistent/ca.pem", NULL, 4, 0, 3600, SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	(void)state;
	sp_buf_init(&b, 65536);
	assert_true(sp_ok(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &s)));
	/* A failed load counts and leaves no configuration. */
	assert_true(sp_failed(sp_tls_server_load(s, &c)));
	sp_tls_server_rotate_tickets(s, true);
	assert_true(sp_ok(sp_tls_server_metrics(s, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_handshakes_total{result=\"full\"} 0"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_tls_reloads_total{result=\"failed\"} 1"));
	assert_non_null(strstr(sp_buf_cstr(&b), "sprov_crl_loaded 0"));
	sp_tls_server_crl_state(s, &cs);
	assert_false(cs.loaded);
	/* No configuration: no connection can be made. */
	assert_null(sp_tls_bufferevent_new(s, NULL, NULL));
	sp_tls_server_free(s);
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_missing), cmocka_unit_test(test_server_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
