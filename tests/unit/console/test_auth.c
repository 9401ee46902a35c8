/* console/auth: secrets, token parsing, the constant-time compare, CSRF
 * tokens, the per-source failure limiter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/auth.h"

static void
test_secret(void **state)
{
	char a[SP_SECRET_B64_LEN + 1], b[SP_SECRET_B64_LEN + 1];
	uint8_t ha[SP_SECRET_HASH_LEN], hb[SP_SECRET_HASH_LEN], h[SP_SECRET_HASH_LEN];

	(void)state;
	assert_true(sp_ok(sp_console_secret_new(a, ha)));
	assert_true(sp_ok(sp_console_secret_new(b, hb)));
	assert_int_equal(strlen(a), SP_SECRET_B64_LEN);
	assert_true(sp_console_secret_valid(sp_slice_of(a)));
	assert_string_not_equal(a, b);
	/* The hash is SHA-256 of the text, and the compare tells them apart. */
	assert_true(sp_ok(sp_console_hash(sp_slice_of(a), h)));
	assert_true(sp_console_hash_eq(h, ha));
	assert_false(sp_console_hash_eq(h, hb));
	h[SP_SECRET_HASH_LEN - 1] ^= 1;
	assert_false(sp_console_hash_eq(h, ha));
	/* Not the alphabet, too short, too long, a NUL inside. */
	assert_false(sp_console_secret_valid(sp_slice_of(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+")));
	assert_false(sp_console_secret_valid(sp_slice_mk(a, SP_SECRET_B64_LEN - 1)));
	assert_false(sp_console_secret_valid(sp_slice_of(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")));
	memcpy(b, a, sizeof(b));
	b[5] = '\0';
	assert_false(sp_console_secret_valid(sp_slice_mk(b, SP_SECRET_B64_LEN)));
}

static void
test_token(void **state)
{
	sp_token_info t;
	char tok[SP_TOKEN_STR_LEN + 1], id[SP_TOKEN_ID_LEN + 1];
	char sec[SP_SECRET_B64_LEN + 1], bad[SP_TOKEN_STR_LEN + 2];
	uint8_t h[SP_SECRET_HASH_LEN];

	(void)state;
	assert_true(sp_ok(sp_console_token_new("ops", SP_ROLE_ADMIN, 1700000000,
	    &t, tok)));
	assert_int_equal(strlen(tok), SP_TOKEN_STR_LEN);
	assert_string_equal(t.name, "ops");
	assert_int_equal(t.role, SP_ROLE_ADMIN);
	assert_int_equal(t.created, 1700000000);
	assert_true(sp_ok(sp_console_token_parse(sp_slice_of(tok), id, sec)));
	assert_string_equal(id, t.id);
	assert_true(sp_ok(sp_console_hash(sp_slice_of(sec), h)));
	assert_true(sp_console_hash_eq(h, t.hash));
	/* Every piece of the form is checked. */
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[0] = 'x';
	assert_int_equal(sp_console_token_parse(sp_slice_of(bad), id, sec).code,
	    SP_E_PARSE);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[4] = 'G';   /* id not hex */
	assert_int_equal(sp_console_token_parse(sp_slice_of(bad), id, sec).code,
	    SP_E_PARSE);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[12] = '-';   /* the separator */
	assert_int_equal(sp_console_token_parse(sp_slice_of(bad), id, sec).code,
	    SP_E_PARSE);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[20] = '=';   /* the secret's alphabet */
	assert_int_equal(sp_console_token_parse(sp_slice_of(bad), id, sec).code,
	    SP_E_PARSE);
	assert_int_equal(sp_console_token_parse(sp_slice_mk(tok, SP_TOKEN_STR_LEN - 1),
	    id, sec).code, SP_E_PARSE);
	snprintf(bad, sizeof(bad), "%sA", tok);
	assert_int_equal(sp_console_token_parse(sp_slice_of(bad), id, sec).code,
	    SP_E_PARSE);
	assert_int_equal(sp_console_token_parse(sp_slice_of(""), id, sec).code,
	    SP_E_PARSE);
	/* Names: the store's rule. */
	assert_int_equal(sp_console_token_new("a b", SP_ROLE_READ, 1, &t, tok).code,
	    SP_E_USAGE);
	assert_int_equal(sp_console_token_new("", SP_ROLE_READ, 1, &t, tok).code,
	    SP_E_USAGE);
}

static void
test_roles(void **state)
{
	sp_role r;

	(void)state;
	assert_true(sp_ok(sp_role_parse("read", &r)));
	assert_int_equal(r, SP_ROLE_READ);
	assert_true(sp_ok(sp_role_parse("admin", &r)));
	assert_int_equal(r, SP_ROLE_ADMIN);
	assert_int_equal(sp_role_parse("Admin", &r).code, SP_E_USAGE);
	assert_string_equal(sp_role_name(SP_ROLE_READ), "read");
	assert_string_equal(sp_role_name(SP_ROLE_ADMIN), "admin");
	assert_true(sp_ok(sp_token_name_check("ops@example.net")));
	assert_int_equal(sp_token_name_check("x/y").code, SP_E_USAGE);
}

static void
test_csrf(void **state)
{
	char a[SP_SECRET_B64_LEN + 1], b[SP_SECRET_B64_LEN + 1];
	char c[SP_SECRET_B64_LEN + 1];

	(void)state;
	/* The same session gives the same token; another session another. */
	assert_true(sp_ok(sp_console_csrf(sp_slice_of("session-one"), a)));
	assert_true(sp_ok(sp_console_csrf(sp_slice_of("session-one"), b)));
	assert_true(sp_ok(sp_console_csrf(sp_slice_of("session-two"), c)));
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_true(sp_console_secret_valid(sp_slice_of(a)));
}

static void
test_ratelimit(void **state)
{
	sp_ratelimit *rl = calloc(1, sizeof(*rl));
	int64_t ra = -1;
	char src[48];

	(void)state;
	assert_non_null(rl);
	assert_false(sp_ratelimit_blocked(rl, "10.0.0.1", 1000, &ra));
	for (int i = 0; i < SP_RL_FAILS_MAX - 1; i++)
		sp_ratelimit_fail(rl, "10.0.0.1", 1000 + i);
	assert_false(sp_ratelimit_blocked(rl, "10.0.0.1", 1010, &ra));
	sp_ratelimit_fail(rl, "10.0.0.1", 1010);
	assert_true(sp_ratelimit_blocked(rl, "10.0.0.1", 1010, &ra));
	assert_int_equal(ra, SP_RL_WINDOW - 10);   /* the window began at 1000 */
	/* Another source is not blocked; the window's end unblocks. */
	assert_false(sp_ratelimit_blocked(rl, "10.0.0.2", 1010, &ra));
	assert_true(sp_ratelimit_blocked(rl, "10.0.0.1", 1000 + SP_RL_WINDOW - 1, &ra));
	assert_int_equal(ra, 1);
	assert_false(sp_ratelimit_blocked(rl, "10.0.0.1", 1000 + SP_RL_WINDOW, &ra));
	/* A new failure after the window starts a new count. */
	sp_ratelimit_fail(rl, "10.0.0.1", 2000);
	assert_false(sp_ratelimit_blocked(rl, "10.0.0.1", 2000, &ra));

	/* A full table: the oldest window gives way; the newest stay. */
	for (int i = 0; i < SP_RL_SLOTS + 10; i++) {
		snprintf(src, sizeof(src), "192.0.2.%d", i);
		for (int k = 0; k < SP_RL_FAILS_MAX; k++)
			sp_ratelimit_fail(rl, src, 3000 + i / 100);
	}
	snprintf(src, sizeof(src), "192.0.2.%d", SP_RL_SLOTS + 9);
	assert_true(sp_ratelimit_blocked(rl, src, 3010, &ra));
	assert_false(sp_ratelimit_blocked(rl, "192.0.2.0", 3010, &ra));
	free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_csrf),
		cmocka_unit_test(test_ratelimit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
