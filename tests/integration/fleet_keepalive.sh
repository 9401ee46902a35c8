#!/usr/bin/env bash
# `sprov fleet --keepalive`: every device keeps its own connection between
# rounds.  One worker with more devices than one connection pool holds
# (src/fleet/fleet.c, FL_POOL_DEVICES = 64): each device makes one full
# handshake, its later rounds go on its kept connection, all N connections
# are open at once between rounds, and each device applies its own profile.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=150
ROUNDS=3
fleet_pki $N
start_dns
start_serve --idle-timeout 60

note "$N devices, $ROUNDS rounds on kept connections, one worker"
"$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" \
	--dns-server "$DNS" --keepalive --rounds $ROUNDS --interval 2 --concurrency 40 \
	--workers 1 --apply "$T/applied" --json --timeout 30 \
	>"$T/fleet.out" 2>"$T/fleet.err" &
FLEET_PID=$!
_BG_PIDS+=("$FLEET_PID")

# Between rounds every device's connection is open and idle.
peak=0
while kill -0 "$FLEET_PID" 2>/dev/null; do
	n=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
	[ "$n" -le "$peak" ] || peak=$n
	sleep 0.1
done
set +e
wait "$FLEET_PID"
RC=$?
set -e
OUT=$(cat "$T/fleet.out")
[ $RC -eq 0 ] || fail "fleet exit status $RC: $OUT $(tail -3 "$T/fleet.err")"
[ "$(json_get devices_ok)" = $N ] || fail "not every device finished: $OUT"
[ "$(json_get successes)" = $((N * ROUNDS)) ] || fail "successes: $OUT"
[ "$(json_get handshakes.full)" = $N ] || fail "one full handshake per device expected: $OUT"
[ "$(json_get handshakes.reused_connection)" = $((N * (ROUNDS - 1))) ] ||
	fail "later rounds not on the kept connections: $OUT"
[ "$peak" -eq $N ] || fail "$peak connections open at the peak, not $N"
note "peak $peak connections open, $(json_get handshakes.reused_connection) requests on kept connections"

note "each device applied its own profile, and only its own"
check_applied $N
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
