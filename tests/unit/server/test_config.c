/* `sprov serve` settings: one setter for INI and options, strict values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "server/config.h"

static sp_serve_config cfg;

static void
test_defaults(void **state)
{
	(void)state;
	sp_serve_config_init(&cfg);
	assert_int_equal(cfg.npaths, 2);
	assert_string_equal(cfg.paths[0].src, "/profiles/$MA.xml");
	assert_string_equal(cfg.paths[1].src, "/spa$PSN.cfg");
	assert_string_equal(cfg.admin, "127.0.0.1:9443");
	assert_int_equal(cfg.identity, SP_IDSTYLE_AUTO);
	assert_int_equal(cfg.unknown, SP_UNKNOWN_404);
	/* Required files missing. */
	assert_int_equal(sp_serve_config_finish(&cfg).code, SP_E_USAGE);
}

/* Keys with named values: each word, and a refusal that leaves the value. */
static void
test_choices(void **state)
{
	(void)state;
	sp_serve_config_init(&cfg);
	assert_int_equal(cfg.access_log_format, SP_ALOG_TEXT);
	assert_int_equal(cfg.log, SP_LOGTO_STDERR);
	assert_false(cfg.reuse_port);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "access-log-format", "json")));
	assert_int_equal(cfg.access_log_format, SP_ALOG_JSON);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "log", "journal")));
	assert_int_equal(cfg.log, SP_LOGTO_JOURNAL);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "log", "syslog")));
	assert_int_equal(cfg.log, SP_LOGTO_SYSLOG);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "reuse-port", "yes")));
	assert_true(cfg.reuse_port);
	assert_int_equal(sp_serve_config_set(&cfg, "reuse-port", "true").code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "reuse-port: 'true' is not yes or no");
	assert_true(cfg.reuse_port);
	assert_int_equal(sp_serve_config_set(&cfg, "log", "Syslog").code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "log: 'Syslog' is not stderr, syslog or journal");
	assert_int_equal(cfg.log, SP_LOGTO_SYSLOG);
	assert_int_equal(sp_serve_config_set(&cfg, "access-log-format", "").code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "access-log-format: '' is not text or json");
	assert_int_equal(cfg.access_log_format, SP_ALOG_JSON);
	assert_int_equal(sp_serve_config_set(&cfg, "unknown-device", "x").code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "unknown-device: 'x' is not 404 or defaults");
	assert_true(sp_ok(sp_serve_config_set(&cfg, "reuse-port", "no")));
	assert_false(cfg.reuse_port);
}

static void
test_set(void **state)
{
	(void)state;
	sp_serve_config_init(&cfg);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "workers", "4")));
	assert_int_equal(cfg.workers, 4);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "header-timeout", "250ms")));
	assert_int_equal(cfg.header_timeout, 250);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "header-timeout", "3")));
	assert_int_equal(cfg.header_timeout, 3000);
	assert_int_equal(sp_serve_config_set(&cfg, "header-timeout", "5ms").code, SP_E_PARSE);
	assert_int_equal(sp_serve_config_set(&cfg, "workers", "-1").code, SP_E_PARSE);
	assert_int_equal(sp_serve_config_set(&cfg, "workers", "4x").code, SP_E_PARSE);
	assert_int_equal(sp_serve_config_set(&cfg, "nope", "1").code, SP_E_PARSE);
	assert_int_equal(sp_serve_config_set(&cfg, "cert", "a\nb").code, SP_E_PARSE);
	assert_int_equal(sp_serve_config_set(&cfg, "identity", "x509").code, SP_E_USAGE);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "identity", "spa")));
	assert_int_equal(cfg.identity, SP_IDSTYLE_SPA);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "unknown-device", "defaults")));
	assert_int_equal(cfg.unknown, SP_UNKNOWN_DEFAULTS);
	assert_int_equal(sp_serve_config_set(&cfg, "unknown-device", "serve").code, SP_E_PARSE);
	/* The first path replaces the defaults, later ones add. */
	assert_true(sp_ok(sp_serve_config_set(&cfg, "path", "/a/$MA")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "path", "/b/$SN")));
	assert_int_equal(cfg.npaths, 2);
	assert_string_equal(cfg.paths[0].src, "/a/$MA");
	for (int i = 2; i < SP_TPLS_MAX; i++)
		assert_true(sp_ok(sp_serve_config_set(&cfg, "path", "/c")));
	assert_int_equal(sp_serve_config_set(&cfg, "path", "/c").code, SP_E_LIMIT);
	char big[SP_CFG_STR_MAX + 10];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sp_serve_config_set(&cfg, "cert", big).code, SP_E_LIMIT);
}

static void
test_ini(void **state)
{
	static const char good[] =
	    "; comment\n[serve]\nlisten = 127.0.0.1:8443\ncert = /c.pem\nkey = /k.pem\n"
	    "client-ca = /ca.pem\npath = /p/$MA\nmax-connections = 100\n";
	(void)state;
	sp_serve_config_init(&cfg);
	assert_true(sp_ok(sp_serve_config_parse(SP_SLICE_LIT(good), &cfg)));
	assert_true(sp_ok(sp_serve_config_finish(&cfg)));
	assert_string_equal(cfg.cert, "/c.pem");
	assert_int_equal(cfg.npaths, 1);
	assert_int_equal(cfg.overload_connections, 90);

	sp_serve_config_init(&cfg);
	assert_int_equal(sp_serve_config_parse(SP_SLICE_LIT("[other]\na = 1\n"), &cfg).code,
	    SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "unknown section"));
	sp_serve_config_init(&cfg);
	assert_int_equal(sp_serve_config_parse(SP_SLICE_LIT("workers = 2\nworkers\n"), &cfg).code,
	    SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "line 2"));
	sp_serve_config_init(&cfg);
	assert_int_equal(sp_serve_config_parse(sp_slice_mk("a = 1\0b", 7), &cfg).code,
	    SP_E_PARSE);
	sp_serve_config_init(&cfg);
	assert_int_equal(sp_serve_config_parse(SP_SLICE_LIT("workers = 9999\n"), &cfg).code,
	    SP_E_PARSE);
}

/* proxy-from: empty by default; a refused list leaves the one before. */
static void
test_proxy_from(void **state)
{
	(void)state;
	sp_serve_config_init(&cfg);
	assert_int_equal(cfg.proxy_from.n, 0);
	assert_true(sp_ok(sp_serve_config_parse(
	    SP_SLICE_LIT("proxy-from = 127.0.0.1, 10.0.0.0/8, fd00::/8\n"), &cfg)));
	assert_int_equal(cfg.proxy_from.n, 3);
	assert_int_equal(cfg.proxy_from.net[1].prefix, 8);
	assert_int_equal(sp_serve_config_parse(SP_SLICE_LIT("proxy-from = 10.0.0.1/8\n"),
	    &cfg).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(),
	    "config line 1: proxy-from: '10.0.0.1/8' has host bits set under its /8");
	assert_int_equal(cfg.proxy_from.n, 3);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "proxy-from", "")));
	assert_int_equal(cfg.proxy_from.n, 0);
}

static void
test_finish(void **state)
{
	(void)state;
	sp_serve_config_init(&cfg);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "cert", "c")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "key", "k")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "client-ca", "ca")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "max-connections", "10")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "overload-connections", "11")));
	assert_int_equal(sp_serve_config_finish(&cfg).code, SP_E_USAGE);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "overload-connections", "5")));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "max-request-line", "9000")));
	assert_int_equal(sp_serve_config_finish(&cfg).code, SP_E_USAGE);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "max-request-line", "2000")));
	assert_true(sp_ok(sp_serve_config_finish(&cfg)));
	/* crl-from-store needs crl, the node's copy. */
	assert_false(cfg.crl_from_store);
	assert_true(sp_ok(sp_serve_config_set(&cfg, "crl-from-store", "on")));
	assert_true(cfg.crl_from_store);
	assert_int_equal(sp_serve_config_set(&cfg, "crl-from-store", "yes").code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "crl-from-store: 'yes' is not on or off");
	assert_int_equal(sp_serve_config_finish(&cfg).code, SP_E_USAGE);
	assert_string_equal(sp_errmsg(), "crl-from-store = on needs crl = FILE (where this "
	    "node keeps its copy)");
	assert_true(sp_ok(sp_serve_config_set(&cfg, "crl", "/var/lib/sprov/d.crl")));
	assert_true(sp_ok(sp_serve_config_finish(&cfg)));
	assert_true(sp_ok(sp_serve_config_set(&cfg, "cluster-key-file", "/etc/k")));
	assert_string_equal(cfg.cluster_key_file, "/etc/k");
}

/* Leave non-zero bytes where the next call's locals will be. */
static __attribute__((noinline)) void
dirty_stack(void)
{
	volatile unsigned char junk[8192];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0x7f;
}

/*
 * A refused seconds value must be refused without touching the number it
 * failed to parse: parse_ms multiplied the never-set result by 1000 (a
 * signed overflow that UBSan stops on; fuzz_config found it).
 */
static void
test_ms_refused(void **state)
{
	static const char *const bad[] = {
		"99999999999999999999", "999999999999", "601", "x", "", "-1", "0",
	};
	(void)state;
	sp_serve_config_init(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dirty_stack();
		assert_int_equal(sp_serve_config_set(&cfg, "header-timeout", bad[i]).code,
		    SP_E_PARSE);
		assert_int_equal(cfg.header_timeout, 10000);
	}
	assert_string_equal(sp_errmsg(),
	    "header-timeout: 0 is out of range (1 to 600)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults), cmocka_unit_test(test_set),
		cmocka_unit_test(test_choices),
		cmocka_unit_test(test_ini), cmocka_unit_test(test_finish),
		cmocka_unit_test(test_ms_refused), cmocka_unit_test(test_proxy_from),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
