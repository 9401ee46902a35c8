#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "device/dns.h"

static void
test_server_list(void **state)
{
	static const struct {
		const char *in;
		const char *csv; /* NULL: refused */
	} t[] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.1:5353", "127.0.0.1:5353" },
		{ " 10.0.0.1 ", "10.0.0.1" },
		{ "::1", "[::1]" },
		{ "[::1]:53", "[::1]:53" },
		{ "[2001:db8::1]", "[2001:db8::1]" },
		{ "", NULL },
		{ "dns.example.test", NULL },
		{ "127.0.0.1:0", NULL },
		{ "127.0.0.1:65536", NULL },
		{ "127.0.0.1:x", NULL },
		{ "[::1", NULL },
		{ "[::1]x", NULL },
		{ "1.2.3.4.5", NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_buf b;
		sp_buf_init(&b, SP_DNS_SERVERS_MAX);
		sp_result r = sp_dns_server_add(&b, sp_slice_of(t[i].in));
		if (t[i].csv == NULL) {
			if (sp_ok(r))
				fail_msg("case %zu '%s' accepted as '%s'", i, t[i].in, sp_buf_cstr(&b));
		} else {
			if (!sp_ok(r))
				fail_msg("case %zu '%s': %s", i, t[i].in, sp_errmsg());
			assert_string_equal(sp_buf_cstr(&b), t[i].csv);
		}
		sp_buf_free(&b);
	}
}

static void
test_two_servers(void **state)
{
	sp_buf b;
	(void)state;
	sp_buf_init(&b, SP_DNS_SERVERS_MAX);
	assert_true(sp_ok(sp_dns_server_add(&b, sp_slice_of("127.0.0.1:53"))));
	assert_true(sp_ok(sp_dns_server_add(&b, sp_slice_of("::1"))));
	assert_string_equal(sp_buf_cstr(&b), "127.0.0.1:53,[::1]");
	sp_buf_free(&b);
}

static void
test_resolve_refuses_bad_names(void **state)
{
	sp_addrlist l;
	(void)state;
	/* Checked before any packet is sent. */
	assert_false(sp_ok(sp_dns_resolve("127.0.0.1:1", "bad name", &l)));
	assert_int_equal(l.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_list),
		cmocka_unit_test(test_two_servers),
		cmocka_unit_test(test_resolve_refuses_bad_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
