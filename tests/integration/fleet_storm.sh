#!/usr/bin/env bash
# A 2 000-device storm against one worker with a low connection limit: devices
# are turned away with 503 + Retry-After, retry, and all succeed; each applies
# its own profile and no other; the server's memory stays bounded; every
# device's contact record is written.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=2000
# Under the sanitizers 600 devices: still 64 in flight against 40 (503s, retries).
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=600
fleet_pki $N
start_dns
start_serve --workers 1 --max-connections 40 --overload-connections 16 --retry-after 1 \
	--contact-flush 200ms

note "storm of $N devices, 64 in flight, against max-connections 40 (503 above 16)"
expect_rc 0 "$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" \
	--dns-server "$DNS" --storm --concurrency 64 --apply "$T/applied" --json \
	--time-scale 0.05 --retry-delay 20 --timeout 30
[ "$(json_get devices)" = $N ] || fail "devices: $OUT"
[ "$(json_get devices_ok)" = $N ] || fail "not every device finished: $OUT"
[ "$(json_get successes)" = $N ] || fail "successes: $OUT"
n503=$(json_get 'failure_reasons.http 503')
[ "$n503" -gt 0 ] || fail "no device was turned away with 503: $OUT"
[ "$(json_get retry_after_honoured)" -ge "$n503" ] || fail "Retry-After not honoured: $OUT"
[ "$(json_get handshakes.full)" -ge $N ] || fail "handshakes: $OUT"
note "$(json_get attempts) attempts, $n503 answered 503, p99 $(json_get latency_ms.p99) ms"

note "each device applied its own profile, and only its own"
check_applied $N

note "the server's memory stayed bounded"
# The serving process (sprov-serve), a child of the supervising parent.
SPID=$(pgrep -P "$SERVE_PID" -x sprov-serve | head -1)
[ -n "$SPID" ] || fail "no serving process under $SERVE_PID"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SPID/status")
limit=$((200 * 1024))
[ "${SPROV_SANITIZE:-0}" = 1 ] && limit=$((800 * 1024))
[ "$hwm" -lt $limit ] || fail "sprov serve peaked at $hwm KiB (limit $limit KiB)"
note "server VmHWM $hwm KiB"

note "every device's contact record is written"
sleep 0.5
bg_kill "$SERVE_PID" TERM
contacts=$(python3 -c 'import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
print(c.execute("select count(distinct mac) from contacts where status=200").fetchone()[0])' "$T/sprov.db")
[ "$contacts" = $N ] || fail "$contacts contact records for $N devices"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
