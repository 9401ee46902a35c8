#!/bin/bash
# seccomp (docs/SECURITY.md): after start-up every thread of the serving
# process and the key process run under a filter (Seccomp: 2); a forbidden
# system call (a packet socket, from the test-only trigger of the test
# build) kills the serving process with SIGSYS; the supervising parent
# logs it and starts a new serving process (the key process lives on), and
# SIGTERM to the parent leaves no process behind;
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
for st in /proc/"$(serving_pid)"/task/*/status; do
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
kill -0 "$(serving_pid)" || fail "the unarmed trigger killed the server"
serve_stop

note "an armed trigger: SIGSYS kills the serving process; the parent starts a new one"
: >"$T/serve.err"
export SPROV_TEST_TRIGGERS=1 SERVE_RESTARTS_OK=1
serve_start
CPID=$(serving_pid)
KPID=$(keyproc_pid)
[ "$CPID" != "$SERVE_PID" ] || fail "no serving process under the parent $SERVE_PID"
[ -n "$KPID" ] || fail "no key process under the parent $SERVE_PID"
note "the netlink socket getaddrinfo opens for a name of several addresses fails, and does not kill"
get "$DEV_A" /__sprov_test/netlink
expect_code 500
grep -qx 'sprov: warning: serve: test trigger: socket(AF_NETLINK): Address family not supported by protocol' "$T/serve.err" ||
	fail "netlink: $(grep 'AF_NETLINK' "$T/serve.err" || tail -3 "$T/serve.err")"
[ "$(serving_pid)" = "$CPID" ] || fail "the serving process changed: $CPID -> $(serving_pid)"
grep -q 'killed by' "$T/serve.err" && fail "killed: $(grep 'killed by' "$T/serve.err")"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
_TESTS_RUN=$((_TESTS_RUN + 1))
get "$DEV_A" "$TRIGGER"
[ "$CODE" = 000 ] || fail "the trigger was answered ($CODE): not killed"
grep -q 'test trigger: socket(AF_PACKET)' "$T/serve.err" || fail "the trigger did not run"
want="serve: serving process $CPID killed by SIGSYS; restarting in 1 s (restart 1)"
for _ in $(seq 100); do grep -qF "$want" "$T/serve.err" && break; sleep 0.1; done
grep -qF "$want" "$T/serve.err" || fail "no restart line; stderr: $(tail -5 "$T/serve.err")"
kill -0 "$SERVE_PID" || fail "the parent died with the serving process"
for _ in $(seq 100); do
	get "$DEV_A" /profiles/000e08aaaa01.xml
	[ "$CODE" = 200 ] && break
	sleep 0.1
done
expect_code 200
NPID=$(serving_pid)
[ -n "$NPID" ] && [ "$NPID" != "$CPID" ] && [ "$NPID" != "$SERVE_PID" ] ||
	fail "no new serving process ($NPID, was $CPID)"
[ "$(seccomp_of "$NPID")" = 2 ] || fail "the new serving process is not filtered"
[ "$(keyproc_pid)" = "$KPID" ] || fail "the key process changed: $KPID -> $(keyproc_pid)"
curl -sS "http://127.0.0.1:$APORT/metrics" >"$T/metrics" || fail "no /metrics"
grep -qx 'sprov_serve_restarts_total 1' "$T/metrics" ||
	fail "restarts: $(grep restarts "$T/metrics")"
_TESTS_RUN=$((_TESTS_RUN + 1))

# The supervisor is the same for every TLS backend and store: its backoff
# and its death are tested once, in the default variant.
SUPERVISOR_ONCE=false
[ "${SPROV_TLS_BACKEND:-openssl}" = openssl ] && [ "${SPROV_TEST_STORE:-sqlite}" = sqlite ] &&
	SUPERVISOR_ONCE=true
if $SUPERVISOR_ONCE; then
note "a second crash within a minute: the backoff doubles, then it serves again"
get "$DEV_A" "$TRIGGER"
[ "$CODE" = 000 ] || fail "the trigger was answered ($CODE): not killed"
want="serve: serving process $NPID killed by SIGSYS; restarting in 2 s (restart 2)"
for _ in $(seq 100); do grep -qF "$want" "$T/serve.err" && break; sleep 0.1; done
grep -qF "$want" "$T/serve.err" || fail "no doubled backoff; stderr: $(tail -3 "$T/serve.err")"
t0=$(date +%s%N)
for _ in $(seq 60); do
	get "$DEV_A" /profiles/000e08aaaa01.xml
	[ "$CODE" = 200 ] && break
	sleep 0.1
done
expect_code 200
waited=$((($(date +%s%N) - t0) / 1000000))
[ "$waited" -ge 1500 ] || fail "served again after ${waited} ms, before the 2 s backoff"
NPID=$(serving_pid)
curl -sS "http://127.0.0.1:$APORT/metrics" >"$T/metrics" || fail "no /metrics"
grep -qx 'sprov_serve_restarts_total 2' "$T/metrics" ||
	fail "restarts: $(grep restarts "$T/metrics")"
_TESTS_RUN=$((_TESTS_RUN + 1))
fi

note "SIGTERM to the parent: the serving process drains, the key process ends, exit 0"
serve_stop
for p in "$NPID" "$KPID"; do
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && fail "process $p outlived the parent"
done
[ -z "$(pgrep -P "$SERVE_PID")" ] || fail "children of $SERVE_PID left behind"
grep -q 'serve: stopped' "$T/serve.err" || fail "the serving process did not drain"
_TESTS_RUN=$((_TESTS_RUN + 1))

if $SUPERVISOR_ONCE; then
note "SIGKILL to the parent: the serving and key processes die with it, the port is free"
: >"$T/serve.err"
unset SERVE_RESTARTS_OK
serve_start
CPID=$(serving_pid)
KPID=$(keyproc_pid)
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
for p in "$CPID" "$KPID"; do
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && fail "process $p outlived its SIGKILLed parent"
done
! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || fail "something still listens on $PORT"
_TESTS_RUN=$((_TESTS_RUN + 1))
fi

note "sandbox = off: the same call goes through, nothing is filtered"
: >"$T/serve.err"
unset SERVE_RESTARTS_OK
serve_start --sandbox off
[ "$(seccomp_of "$(serving_pid)")" = 0 ] || fail "sandbox off, but the server is filtered"
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
