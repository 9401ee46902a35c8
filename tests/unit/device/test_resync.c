/* The resync engine's pure parts: JSON output and the device's macros. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/resync.h"

static void
test_outcome_json(void **state)
{
	sp_resync_outcome o;
	sp_buf b;
	(void)state;
	sp_resync_outcome_init(&o);
	sp_buf_init(&b, SP_DEVICE_OUT_MAX);
	o.ok = false;
	o.failed_check = SP_CHECK_ADDR;
	snprintf(o.err, sizeof(o.err), "http_get failed: server check 4 (address): x");
	snprintf(o.rule, sizeof(o.rule), "Profile_Rule_B");
	snprintf(o.server, sizeof(o.server), "prov.example.test");
	snprintf(o.address, sizeof(o.address), "127.0.0.1");
	snprintf(o.etag, sizeof(o.etag), "W/\"1\"");
	o.port = 443;
	assert_true(sp_ok(sp_resync_json(&o, &b)));
	assert_string_equal(sp_buf_cstr(&b),
	    "{\"ok\":false,\"check\":\"address\",\"error\":\"http_get failed: server check 4 "
	    "(address): x\",\"result\":\"http_get failed: server check 4 (address): x\","
	    "\"rule\":\"Profile_Rule_B\",\"url\":\"\",\"server\":\"prov.example.test\","
	    "\"address\":\"127.0.0.1\",\"port\":443,\"status\":0,\"etag\":\"W/\\\"1\\\"\","
	    "\"changed\":[],\"report_sent\":false}\n");
	sp_buf_reset(&b);
	o.ok = true;
	o.failed_check = SP_CHECK_NONE;
	assert_true(sp_ok(sp_buf_append_str(&o.changed, "A\nB_1_\n")));
	o.n_changed = 2;
	assert_true(sp_ok(sp_resync_json(&o, &b)));
	assert_non_null(strstr(sp_buf_cstr(&b), "\"ok\":true,\"check\":null,\"error\":\"\""));
	assert_non_null(strstr(sp_buf_cstr(&b), "\"changed\":[\"A\",\"B_1_\"]"));
	sp_buf_free(&b);
	sp_resync_outcome_free(&o);
}

static void
test_macros(void **state)
{
	sp_device d;
	sp_params eff;
	sp_macros m;
	(void)state;
	sp_device_init_empty(&d);
	sp_params_init(&eff);
	sp_macros_init(&m);
	assert_true(sp_ok(sp_mac_parse(sp_slice_of("000e08aabbcc"), &d.id.mac)));
	snprintf(d.id.product, sizeof(d.id.product), "SPA2102");
	snprintf(d.id.series, sizeof(d.id.series), "2102");
	snprintf(d.id.serial, sizeof(d.id.serial), "SN1");
	snprintf(d.id.swver, sizeof(d.id.swver), "2.0.3(0412s)");
	assert_true(sp_ok(sp_params_set_cstr(&d.state, "Last_Success", "1000", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&d.state, "Last_Error", "http_get failed", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&eff, "GPP_A", "alpha", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&eff, "GPP_SA", "secret", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_resync_macros(&d, &eff, SP_PRVST_PERIODIC, 1060, &m)));
	static const struct { const char *in, *out; int flags; } t[] = {
		{ "$MA $MAU $MAC", "000e08aabbcc 000E08AABBCC 00:0e:08:aa:bb:cc", 0 },
		{ "$PN/$PSN/$SN/$SWVER/$CCERT", "SPA2102/2102/SN1/2.0.3(0412s)/Installed", 0 },
		{ "$PRVST $PRVTMR $ERR", "1 60 http_get failed", 0 },
		{ "$A", "alpha", 0 },
		{ "$SA", "$SA", 0 },
		{ "$SA", "secret", SP_MACRO_SECRET },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_buf b;
		sp_buf_init(&b, 1024);
		assert_true(sp_ok(sp_macro_expand(sp_slice_of(t[i].in), &m, t[i].flags, &b)));
		assert_string_equal(sp_buf_cstr(&b), t[i].out);
		sp_buf_free(&b);
	}
	sp_macros_free(&m);
	sp_params_free(&eff);
	sp_device_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcome_json),
		cmocka_unit_test(test_macros),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
