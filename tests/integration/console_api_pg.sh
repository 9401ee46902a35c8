#!/bin/bash
# The console's access rows on a PostgreSQL store (pgsql_tokens.c): tokens
# added, listed, refused twice and revoked with the CLI; a server on the
# same store honours them; a login link works once; the session's CSRF.
# The rest of the API is console_api.sh's (SQLite), over the same code.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
[ "${SPROV_TEST_STORE:-}" = pg ] || fail "run me as int_console_api_pg (SPROV_TEST_STORE=pg)"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

. "$SPROV_SRCDIR/tests/integration/console_api_lib.bash"

serve_pki
serve_db
note "tokens with the CLI: added once, listed, revoked; only hashes stored"
ADM=$("$SPROV" admin token add ops --role admin 2>/dev/null)
RD=$("$SPROV" admin token add viewer --role read 2>/dev/null)
expect_rc 1 "$SPROV" admin token add ops --role read
expect_err_contains "a token named 'ops' exists already"
[ "$(psql -tA "$SPROV_STORE" -c "SELECT count(*) FROM tokens")" = 2 ] || fail "token rows"
expect_rc 0 "$SPROV" admin token list --json
[ "$(jq -r '[.[].name] | join(",")' <<<"$OUT")" = ops,viewer ] || fail "list: $OUT"
grep -q "${ADM##*_}" <<<"$OUT" && fail "list shows a secret"
expect_rc 1 "$SPROV" admin token revoke nobody
expect_err_contains "no token named 'nobody'"

serve_start --crl "$T/device-ca.crl"
note "the server honours them; a revoked one is refused"
api GET /api/v1/session -H "Authorization: Bearer $RD"
expect 200 "read token" .actor api:viewer
api PUT /api/v1/params/defaults/NTP_Server -H "Authorization: Bearer $RD" -d '{"value":"x"}'
expect 403 "read PUT" .error "token 'viewer' has role read"
api PUT /api/v1/params/defaults/NTP_Server -H "Authorization: Bearer $ADM" -d '{"value":"ntp.example.net"}'
expect 200 "admin PUT"
[ "$(psql -tA "$SPROV_STORE" -c "SELECT value FROM params WHERE name = 'NTP_Server'")" = ntp.example.net ] ||
	fail "the PUT did not reach the store"
expect_rc 0 "$SPROV" admin token revoke viewer
api GET /api/v1/session -H "Authorization: Bearer $RD"
expect 401 "revoked" .error "invalid or revoked token"

note "a login link once; the session and its CSRF token"
URL=$("$SPROV" admin login-url --url "http://127.0.0.1:$APORT")
api GET "${URL#http://127.0.0.1:$APORT}"
expect 303 "login"
[[ $(hdr Set-Cookie) =~ ^sprov_session=([A-Za-z0-9_-]{43})\; ]] || fail "cookie: $(hdr Set-Cookie)"
C=(-H "Cookie: sprov_session=${BASH_REMATCH[1]}")
api GET "${URL#http://127.0.0.1:$APORT}"
expect 403 "the link again"
api GET /api/v1/session "${C[@]}"
expect 200 "session" .role admin
CSRF=$(jq -r .csrf <<<"$BODY")
api DELETE /api/v1/params/defaults/NTP_Server "${C[@]}"
expect 403 "no CSRF" .error "missing or wrong CSRF token"
api DELETE /api/v1/params/defaults/NTP_Server "${C[@]}" -H "X-CSRF-Token: $CSRF"
expect 200 "CSRF"
[ "$(psql -tA "$SPROV_STORE" -c "SELECT count(*) FROM params WHERE name = 'NTP_Server'")" = 0 ] ||
	fail "the DELETE did not reach the store"

serve_stop
finish
