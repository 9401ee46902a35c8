#!/bin/bash
# seccomp (docs/SECURITY.md): after start-up every thread of the serving
# process and the key process run under a filter (Seccomp: 2); a forbidden
# system call (a packet socket, from the test-only trigger of the test
# build) kills the serving process with SIGSYS, its key process with it;
# with sandbox = off the same call goes through and the server lives on.
# An unarmed trigger (no SPROV_TEST_TRIGGERS=1) is an ordinary unknown path.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
TRIGGER=/__sprov_test/forbidden-syscall
seccomp_of() { awk '/^Seccomp:/ { print $2 }' "/proc/$1/status"; }
keyproc_pid() { pgrep -P "$SERVE_PID" -x sprov-keyproc | head -1; }

note "sandbox on (default): every thread of the server and the key process filtered"
serve_start
for st in /proc/"$SERVE_PID"/task/*/status; do
	[ "$(awk '/^Seccomp:/ { print $2 }' "$st")" = 2 ] || fail "thread $st is not filtered"
done
KPID=$(keyproc_pid)
[ -n "$KPID" ] && [ "$(seccomp_of "$KPID")" = 2 ] || fail "key process $KPID is not filtered"
grep -q 'serve: sandbox on: seccomp allow-list' "$T/serve.err" || fail "no sandbox line logged"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
note "the trigger is inert unless armed: an unknown path, the server lives"
get "$DEV_A" "$TRIGGER"
expect_code 404
kill -0 "$SERVE_PID" || fail "the unarmed trigger killed the server"
serve_stop

note "an armed trigger: socket(AF_PACKET) kills the serving process by SIGSYS"
export SPROV_TEST_TRIGGERS=1
serve_start
KPID=$(keyproc_pid)
get "$DEV_A" "$TRIGGER"
[ "$CODE" = 000 ] || fail "the trigger was answered ($CODE): not killed"
rc=0
wait "$SERVE_PID" || rc=$?
[ $rc -eq $((128 + 31)) ] || fail "serve exited $rc, not by SIGSYS (159): $(tail -3 "$T/serve.err")"
grep -q 'test trigger: socket(AF_PACKET)' "$T/serve.err" || fail "the trigger did not run"
for _ in $(seq 50); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$KPID" 2>/dev/null && fail "the key process outlived the serving process"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "sandbox = off: the same call goes through, nothing is filtered"
serve_start --sandbox off
[ "$(seccomp_of "$SERVE_PID")" = 0 ] || fail "sandbox off, but the server is filtered"
[ "$(seccomp_of "$(keyproc_pid)")" = 0 ] || fail "sandbox off, but the key process is filtered"
get "$DEV_A" "$TRIGGER"
expect_code 500
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
serve_stop

note "sandbox: a bad value is refused by name"
expect_rc 1 "$SPROV" serve --check-config --listen 127.0.0.1:1 --cert "$T/provserver.crt" \
	--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" --sandbox maybe
[ "$ERR" = "sprov serve: --sandbox: sandbox: 'maybe' is not on or off" ] || fail "stderr was: $ERR"
finish
