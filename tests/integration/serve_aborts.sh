#!/usr/bin/env bash
# sprov serve survives devices that hang up mid-transfer: storms of devices
# with a 1 s transfer timeout and no retries, so most connections are cut
# during the handshake or the response.  Regression test for a double free in
# the GnuTLS backend (a write callback touching a filter evhttp had freed;
# fixed in 6947fe1, 8433d6e).  Afterwards a device is still served in full and
# the server exits cleanly (no sanitizer report in the ASan build).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=400
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=200
fleet_pki $N
start_dns
start_serve --workers 1
RULE="https://$FQDN:$PORT/profiles/\$MA.xml"

for round in 1 2 3 4 5 6; do
	note "storm $round: $N devices at once, 1 s timeout, no retries"
	run_capture "$SPROV" fleet --bundles "$T/bundles" --rule "$RULE" --dns-server "$DNS" \
		--storm --concurrency $N --timeout 1 --retries 0 --json
	[ "$RC" -le 1 ] || fail "fleet exited $RC: $ERR"
	serve_alive
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "a device is still served in full afterwards"
expect_rc 0 "$SPROV" fleet --bundles "$T/bundles" --devices 1 --rule "$RULE" --dns-server "$DNS" \
	--apply "$T/applied" --json --timeout 30
[ "$(json_get successes)" = 1 ] || fail "successes: $OUT"
check_applied 1

note "the server drains and exits cleanly"
kill -TERM "$SERVE_PID"
rc=0; wait "$SERVE_PID" || rc=$?
[ $rc -eq 0 ] || fail "sprov serve exited $rc: $(tail -5 "$T/serve.err")"
! grep -q -E 'ERROR: AddressSanitizer|runtime error' "$T/serve.err" ||
	fail "sanitizer report: $(grep -m1 -A12 -E 'ERROR: |runtime error' "$T/serve.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
