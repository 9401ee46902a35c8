/*
 * Upgrades (device/upgrade.h) up to the network: the JSON outcome, and every
 * decision taken before a byte is fetched, on a device directory written
 * here (no bundle: nothing reaches a TLS handshake).
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

#include "common/log.h"
#include "common/util.h"
#include "device/upgrade.h"

static char dir[64];

static void
write_conf(const char *extra)
{
	char path[128], text[2048];

	snprintf(path, sizeof(path), "%s/device.conf", dir);
	snprintf(text, sizeof(text), "# a test device\nMAC = 000e08aabbcc\n"
	    "Serial_Number = SN1\nProduct_Name = SPA2102\nSoftware_Version = 1.0.0\n%s", extra);
	assert_true(sp_ok(sp_write_file(path, text, strlen(text), 0600, 0)));
	snprintf(path, sizeof(path), "%s/state", dir);
	(void)unlink(path);
}

static bool
exists(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return sp_file_exists(path);
}

static const char *
state_value(const char *key, char *buf, size_t n)
{
	sp_device d;

	sp_device_init_empty(&d);
	assert_true(sp_ok(sp_device_load(dir, &d)));
	snprintf(buf, n, "%s", sp_params_value(&d.state, key, "(unset)"));
	sp_device_free(&d);
	return buf;
}

/* One attempt; the code, and out->err / the message in msg. */
static sp_code
attempt(const char *rule, sp_upgrade_outcome *out)
{
	sp_upgrade_opts o;

	memset(&o, 0, sizeof(o));
	o.rule = rule;
	o.dns_servers = "127.0.0.1:1";
	sp_upgrade_outcome_init(out);
	return sp_upgrade(dir, &o, out).code;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sprov-upgrade-XXXXXX");
	assert_non_null(mkdtemp(dir));
	sp_log_set_level(SP_LOG_ERR);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_json(void **state)
{
	sp_upgrade_outcome o;
	sp_buf b;

	(void)state;
	sp_upgrade_outcome_init(&o);
	sp_buf_init(&b, SP_DEVICE_OUT_MAX);
	o.ok = true;
	o.upgraded = true;
	snprintf(o.err, sizeof(o.err), "SPA2102 2.0.1 flashed (was 1.0.0)");
	snprintf(o.rule, sizeof(o.rule), "Upgrade_Rule");
	snprintf(o.url, sizeof(o.url), "https://h:443/fw/\"x\".sfw");
	snprintf(o.from, sizeof(o.from), "1.0.0");
	snprintf(o.product, sizeof(o.product), "SPA2102");
	snprintf(o.version, sizeof(o.version), "2.0.1");
	o.port = 443;
	o.status = 200;
	assert_true(sp_ok(sp_upgrade_json(&o, &b)));
	assert_string_equal(sp_buf_cstr(&b),
	    "{\"ok\":true,\"check\":null,\"error\":\"\",\"result\":\"SPA2102 2.0.1 flashed "
	    "(was 1.0.0)\",\"rule\":\"Upgrade_Rule\",\"url\":\"https://h:443/fw/\\\"x\\\".sfw\","
	    "\"server\":\"\",\"address\":\"\",\"port\":443,\"status\":200,\"upgraded\":true,"
	    "\"from\":\"1.0.0\",\"product\":\"SPA2102\",\"version\":\"2.0.1\","
	    "\"retry_delay\":-1}\n");
	sp_buf_free(&b);
}

static void
test_nothing_to_do(void **state)
{
	sp_upgrade_outcome out;
	char v[128];

	(void)state;
	write_conf("");
	assert_int_equal(attempt(NULL, &out), SP_E_OK);
	assert_string_equal(out.err, "no upgrade rule is set");
	assert_false(out.upgraded);
	write_conf("Upgrade_Rule = (<1.0)? /fw/1.0.sfw\n");
	assert_int_equal(attempt(NULL, &out), SP_E_OK);
	assert_string_equal(out.err, "no upgrade: no condition holds");
	assert_int_equal(attempt("( $SWVER = 1.0.0 )? ( a = 1 )!", &out), SP_E_OK);
	assert_string_equal(out.err, "no upgrade: the chosen alternative has no URL");
	/* Nothing was attempted: no state, no image. */
	assert_string_equal(state_value("Last_Upgrade_Result", v, sizeof(v)), "(unset)");
	assert_false(exists("firmware.img"));
}

static void
test_refused_before_fetch(void **state)
{
	sp_upgrade_outcome out;

	(void)state;
	write_conf("Upgrade_Enable = No\nUpgrade_Rule = /fw/x.sfw\n");
	assert_int_equal(attempt(NULL, &out), SP_E_STATE);
	assert_string_equal(out.err, "upgrades are disabled (Upgrade_Enable = No)");
	write_conf("Upgrade_Enable = maybe\n");
	assert_int_equal(attempt(NULL, &out), SP_E_PARSE);
	assert_string_equal(out.err, "Upgrade_Enable: 'maybe' is not Yes or No");
	write_conf("Upgrade_Error_Retry_Delay = soon\n");
	assert_int_equal(attempt(NULL, &out), SP_E_PARSE);
	assert_non_null(strstr(out.err, "Upgrade_Error_Retry_Delay"));
	write_conf("Profile_Rule = /spa$PSN.cfg\n");
	assert_int_equal(attempt("(! 2.0)? /fw/$PN/2.0.sfw", &out), SP_E_PARSE);
	assert_string_equal(out.err, "--rule: the URL '/fw/SPA2102/2.0.sfw' names no server, "
	    "and Profile_Rule gives none to take");
	assert_int_equal(attempt("[--key k] https://h.example/x.sfw", &out), SP_E_PARSE);
	assert_string_equal(out.err,
	    "--rule: --key and --post do not apply to a firmware image");
	assert_int_equal(attempt("( $A = 1 )? /x | ( bad", &out), SP_E_PARSE);
	assert_non_null(strstr(out.err, "--rule: profile rule: "));
	assert_false(exists("firmware.img"));
}

/* Refused at the key, before any connection: the once and the retry-0 memory. */
static void
test_once_and_final(void **state)
{
	sp_upgrade_outcome out;
	char v[128];

	(void)state;
	write_conf("Profile_Rule = https://prov.example.test:1/p.xml\n");
	assert_int_equal(attempt("/fw/x.sfw", &out), SP_E_NOTFOUND);
	assert_non_null(strstr(out.err, "firmware-ca.crt: No such file or directory (the "
	    "device has no firmware-signing certificate"));
	assert_true(out.attempted);
	assert_int_equal(out.retry_delay, 3600);
	assert_string_equal(state_value("Last_Upgrade_Result", v, sizeof(v)), "fail");
	/* An unconditional URL: not again until the text changes. */
	assert_int_equal(attempt("/fw/x.sfw", &out), SP_E_OK);
	assert_string_equal(out.err, "no upgrade: this --rule was tried already; it is tried "
	    "again when its text changes");
	assert_int_equal(attempt("/fw/x.sfw # changed", &out), SP_E_NOTFOUND);
	/* A condition: tried again, unless Upgrade_Error_Retry_Delay is 0. */
	assert_int_equal(attempt("(! 2.0)? /fw/x.sfw", &out), SP_E_NOTFOUND);
	assert_int_equal(attempt("(! 2.0)? /fw/x.sfw", &out), SP_E_NOTFOUND);
	write_conf("Profile_Rule = https://prov.example.test:1/p.xml\n"
	    "Upgrade_Error_Retry_Delay = 0\n");
	assert_int_equal(attempt("(! 2.0)? /fw/x.sfw", &out), SP_E_NOTFOUND);
	assert_int_equal(out.retry_delay, -1);
	assert_int_equal(attempt("(! 2.0)? /fw/x.sfw", &out), SP_E_OK);
	assert_non_null(strstr(out.err, "tried already"));
	assert_false(exists("firmware.img"));
}

static void
test_describe(void **state)
{
	sp_buf b;

	(void)state;
	sp_buf_init(&b, SP_DEVICE_OUT_MAX);
	write_conf("Profile_Rule = https://prov.example.test:8443/p.xml\n"
	    "Upgrade_Rule = (! 2.0.1)? /fw/$PN/2.0.1.sfw\n");
	assert_true(sp_ok(sp_upgrade_describe(dir, NULL, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "Upgrade_Rule:\n"));
	assert_non_null(strstr(sp_buf_cstr(&b), "url: /fw/SPA2102/2.0.1.sfw\n"));
	assert_non_null(strstr(sp_buf_cstr(&b),
	    "server: prov.example.test port 8443, from Profile_Rule\n"));
	assert_non_null(strstr(sp_buf_cstr(&b), "no loop: the image's version must no longer "
	    "satisfy the condition\n"));
	sp_buf_reset(&b);
	assert_true(sp_ok(sp_upgrade_describe(dir, "https://h.example/fw.sfw", &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "--rule:\n"));
	assert_non_null(strstr(sp_buf_cstr(&b), "no loop: no condition: the URL is tried once "
	    "until the rule text changes\n"));
	sp_buf_reset(&b);
	write_conf("Upgrade_Enable = No\nUpgrade_Rule = https://h.example/fw.sfw\n");
	assert_true(sp_ok(sp_upgrade_describe(dir, NULL, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "warning: Upgrade_Enable = No: no upgrade runs\n"));
	sp_buf_reset(&b);
	write_conf("");
	assert_true(sp_ok(sp_upgrade_describe(dir, NULL, &b)));
	assert_string_equal(sp_buf_cstr(&b), "Upgrade_Rule:\nno upgrade rule is set\n");
	sp_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_nothing_to_do),
		cmocka_unit_test(test_refused_before_fetch),
		cmocka_unit_test(test_once_and_final),
		cmocka_unit_test(test_describe),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
