#!/usr/bin/env bash
# `sprov fleet` against a `sprov serve` that dies (SIGKILL) halfway and comes
# back on the same port a little later: the fleet keeps retrying, every
# device finishes with its own profile, and the outage shows in the figures
# (connect failures, attempts above devices, the longest stall and when it
# happened).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=300
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=120
DOWN=1.5 # seconds between the kill and the restart
RATE=$((N / 4)) # the arrivals are spread over about 4 s

fleet_pki $N
start_dns
start_serve --access-log "$T/access1.log"
FIRST_PID=$SERVE_PID

note "$N devices arrive at $RATE/s; the server is killed when half have been served"
fleet_retrying_bg "$PORT" $RATE

served() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
i=0
until [ "$(served "$T/access1.log")" -ge $((N / 2)) ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the server served $(served "$T/access1.log") devices in 30 s"
	kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet ended early: $(cat "$T/fleet.err")"
	sleep 0.05
done
bg_kill "$FIRST_PID" KILL
killed=$(date +%s.%N)
before=$(served "$T/access1.log")
note "killed the server (SIGKILL) after $before requests; down for ${DOWN}s"
sleep $DOWN
start_serve --access-log "$T/access2.log"
restarted=$(date +%s.%N) # listening again
note "restarted on port $PORT"

fleet_wait_all "$FLEET_PID" $N
after=$(served "$T/access2.log")
[ "$after" -gt 0 ] || fail "the restarted server served nothing"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the outage shows in the figures"
attempts=$(json_get attempts)
connect=$(json_get failure_reasons.connect)
[ "$attempts" -gt $N ] || fail "attempts $attempts, not above $N devices: $OUT"
[ "$connect" -gt 0 ] || fail "no connect failure while the server was down: $OUT"
[ "$(json_get failures)" = $((attempts - N)) ] || fail "failures + successes != attempts: $OUT"
[ "$(json_get retries)" -ge "$(json_get failures)" ] || fail "a failure was not retried: $OUT"
_TESTS_RUN=$((_TESTS_RUN + 1))

# The outage figure: the longest stretch of failures without a success.  No
# attempt fails before the kill, so it starts at the first failure (or a few
# ms later: a response read just before the kill may be judged just after a
# transfer the kill cut); it ends with the first success after the restart,
# so it lasts at least about as long as the port was closed, and not much
# longer (a retry is 0.2 s away).
note "the outage figure: from the first failure, about as long as the server was down"
longest=$(json_get outage.longest_s)
from=$(json_get outage.from_s)
to=$(json_get outage.to_s)
down=$(awk -v a="$killed" -v b="$restarted" 'BEGIN { printf "%.3f", b - a }')
note "port closed for ${down}s; outage ${longest}s from ${from}s to ${to}s" \
	"($(json_get outage.failures) failed attempts)"
awk -v l="$longest" -v d="$down" -v f="$from" -v t="$to" -v e="$(json_get elapsed_s)" \
	-v ff="$(json_get outage.first_failure_s)" 'BEGIN {
		# The outage covers the time the port was closed (less a little: the
		# first failure comes after the kill) and is no longer than the run;
		# no upper bound beyond that, a loaded box delays the retries.
		ok = l >= d - 0.5 && l <= e && f >= ff && f <= ff + 1.0 && t <= e &&
		    t - f >= l - 0.002 && t - f <= l + 0.002
		exit !ok
	}' || fail "the outage figure does not match the kill and restart (port closed ${down}s):" \
		"$(jq -c '{outage, failure_reasons, elapsed_s}' <<<"$OUT")"
[ "$(json_get outage.open)" = false ] || fail "the outage did not end with a success: $OUT"
# Every connect failure is in the outage, but for the few that a response
# read before the kill (at most one per transfer in flight) may precede.
[ "$(json_get outage.failures)" -ge $((connect - 16)) ] || fail "connect failures outside the outage: $OUT"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
