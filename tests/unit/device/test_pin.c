#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/pin.h"

static void
test_parse(void **state)
{
	sp_pin p;
	(void)state;
	assert_true(sp_ok(sp_pin_parse(SP_SLICE_LIT(""), &p)));
	assert_int_equal(p.n, 0);
	assert_true(sp_ok(sp_pin_parse(SP_SLICE_LIT("  "), &p)));
	assert_int_equal(p.n, 0);
	assert_true(sp_ok(sp_pin_parse(SP_SLICE_LIT(" a.example , B.Example. "), &p)));
	assert_int_equal(p.n, 2);
	assert_string_equal(p.domain[0], "a.example");
	assert_string_equal(p.domain[1], "B.Example");
	assert_int_equal(sp_pin_parse(SP_SLICE_LIT("a.example,,b.example"), &p).code, SP_E_PARSE);
	assert_int_equal(p.n, 0);
	assert_int_equal(sp_pin_parse(SP_SLICE_LIT("a b.example"), &p).code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "Provision_Domain"));
	assert_int_equal(sp_pin_parse(SP_SLICE_LIT("a..example"), &p).code, SP_E_POLICY);
	assert_int_equal(sp_pin_parse(SP_SLICE_LIT("a.example,"), &p).code, SP_E_PARSE);
	assert_int_equal(sp_pin_parse(SP_SLICE_LIT(
	    "a.x,b.x,c.x,d.x,e.x,f.x,g.x,h.x,i.x,j.x,k.x,l.x,m.x,n.x,o.x,p.x,q.x"), &p).code,
	    SP_E_LIMIT);
}

static void
test_check(void **state)
{
	sp_pin p;
	(void)state;
	assert_true(sp_ok(sp_pin_check(NULL, "x.example")));
	assert_true(sp_ok(sp_pin_parse(SP_SLICE_LIT("prov.example.com,b.example"), &p)));
	assert_true(sp_ok(sp_pin_check(&p, "prov.example.com")));
	assert_true(sp_ok(sp_pin_check(&p, "eu.PROV.example.com")));
	assert_true(sp_ok(sp_pin_check(&p, "x.b.example")));
	/* By label: a look-alike suffix is not below the domain. */
	assert_int_equal(sp_pin_check(&p, "xprov.example.com").code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "server check 2 (cn): Provision_Domain rule: the server "
	    "certificate's FQDN 'xprov.example.com' is not within Provision_Domain "
	    "(prov.example.com, b.example)");
	assert_int_equal(sp_pin_check(&p, "example.com").code, SP_E_VERIFY);
}

static void
test_effective(void **state)
{
	sp_pin p;
	bool ign;
	(void)state;
	/* No profile value: device.conf's. */
	assert_true(sp_ok(sp_pin_effective("a.example", NULL, &p, &ign)));
	assert_false(ign);
	assert_string_equal(p.domain[0], "a.example");
	/* No local pin: a profile may set one. */
	assert_true(sp_ok(sp_pin_effective("", "b.example", &p, &ign)));
	assert_false(ign);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.domain[0], "b.example");
	/* Narrowing is taken. */
	assert_true(sp_ok(sp_pin_effective("example.com, example.net", "p.example.com, example.net",
	    &p, &ign)));
	assert_false(ign);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.domain[0], "p.example.com");
	/* Widening, a foreign domain, clearing or garbage: ignored, local stays. */
	const char *bad[] = { "com", "example.com, evil.example", "", "  ", "not a name" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(sp_ok(sp_pin_effective("p.example.com", bad[i], &p, &ign)));
		assert_true(ign);
		assert_int_equal(p.n, 1);
		assert_string_equal(p.domain[0], "p.example.com");
	}
	/* A local pin that does not parse is an error. */
	assert_int_equal(sp_pin_effective("a b", NULL, &p, &ign).code, SP_E_POLICY);
	assert_non_null(strstr(sp_errmsg(), "device.conf"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_effective),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
