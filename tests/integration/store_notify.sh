#!/bin/bash
# PostgreSQL change notification: a server on a PostgreSQL store serves a
# parameter changed by another process (`sprov db params set`) within one
# second, without restarting and without per-request polling of the
# database; also after its LISTEN connections were killed (counted in
# /metrics); the same for a device disabled elsewhere.
SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db

note "a store URI's password is never shown (check-config, db init)"
expect_rc 1 "$SPROV" serve --check-config --listen 127.0.0.1:9 --cert "$T/provserver.crt" \
	--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" \
	--store "postgresql://u:hunter2@127.0.0.1:1/x?connect_timeout=2"
expect_err_contains "store postgresql://u:***@127.0.0.1:1/x?connect_timeout=2: postgresql store 'x' on 127.0.0.1: connecting"
case "$ERR$OUT" in *hunter2*) fail "the password was shown: $ERR" ;; esac
expect_rc 0 "$SPROV" db init --store "${SPROV_STORE%/*}/${SPROV_STORE##*/}?password=hunter2"
case "$OUT" in *hunter2*) fail "db init showed the password: $OUT" ;; esac
expect_out_contains "?password=*** is ready"

serve_start --crl "$T/device-ca.crl"
grep -q "listening on .*store postgresql://" "$T/serve.err" || fail "no store in: $(cat "$T/serve.err")"

# changed_within SECS TEXT: the profile of device A contains TEXT within SECS.
changed_within() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000))
	while :; do
		get "$DEV_A" /profiles/000e08aaaa01.xml
		case "$BODY" in *"$2"*) return 0 ;; esac
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

note "the profile is cached (served twice, rendered from the store once)"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
case "$BODY" in *"<Password_1_>secretAAAA</Password_1_>"*) ;; *) fail "first profile: $BODY" ;; esac
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200

note "a parameter set from another process is served within 1 s"
"$SPROV" db params set --device 000e08aaaa01 Password_1_=changedAAAA >/dev/null
changed_within 1 "<Password_1_>changedAAAA</Password_1_>" ||
	fail "still served the old profile after 1 s: $BODY"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the proof can fail: without a change the old value stays"
! changed_within 1 "<Password_1_>neverSet</Password_1_>" || fail "a value nobody set"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "LISTEN connections killed, then a change: still served within 1 s, and counted"
[ "$(metric sprov_store_notify_reconnects_total)" = 0 ] || fail "reconnects before any loss"
n=$(psql -qAtX "$SPROV_STORE" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE query = 'LISTEN sprov_changed' AND datname = current_database()")
[ "$n" -ge 1 ] || fail "no LISTEN connection to kill"
"$SPROV" db params set --device 000e08aaaa01 Password_1_=againAAAA >/dev/null
changed_within 1 "<Password_1_>againAAAA</Password_1_>" ||
	fail "a change made while LISTEN was down is not served: $BODY"
[ "$(metric sprov_store_notify_reconnects_total)" -ge 1 ] ||
	fail "the lost LISTEN connection was not counted"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a device disabled from another process is refused within 1 s"
"$SPROV" db devices disable 000e08aaaa01 >/dev/null
deadline=$(($(date +%s%N) + 1000000000))
while get "$DEV_A" /profiles/000e08aaaa01.xml; [ "$CODE" = 200 ]; do
	[ "$(date +%s%N)" -lt "$deadline" ] || fail "still served 1 s after disable"
	sleep 0.05
done
expect_code 404
serve_stop
finish
