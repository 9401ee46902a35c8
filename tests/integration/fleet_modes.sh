#!/usr/bin/env bash
# The fleet's modes against a real `sprov serve`: --resume (later rounds
# resume each device's own session, each device still gets its own profile),
# --keepalive (later rounds reuse the connection), --rate with --duration
# (Poisson arrivals, a soak without failures), and a DNS mismatch (every
# device refuses the server with check 4, before any request, and applies
# nothing), also on a resumed session.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=40 SWAP_INTERVAL=3 # SWAP_INTERVAL: time to change the resolver between two rounds
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=20 SWAP_INTERVAL=5

fleet_pki $N
start_dns
start_serve --access-log "$T/access.log"
RULE="https://$FQDN:$PORT/profiles/\$MA.xml"
IPRULE="https://127.0.0.1:$PORT/profiles/\$MA.xml"

fleet() { # fleet RC OPTIONS...: one run, its JSON in $OUT
	local rc=$1
	shift
	expect_rc "$rc" "$SPROV" fleet --bundles "$T/bundles" --json --timeout 20 "$@"
}
served() { wc -l <"$T/access.log"; }
# since N: the access log's lines after the first N.
since() { tail -n +$(($1 + 1)) "$T/access.log"; }
# each_own N: every line after the first N was a 200 for the device whose
# certificate the server saw, asking for its own path; prints the lines.
each_own() {
	since "$1" | awk '{
		mac = ""; path = ""; st = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^mac=/) mac = substr($i, 5)
			if ($i ~ /^path=/) path = $i
			if ($i ~ /^status=/) st = substr($i, 8)
		}
		if (st != "200" || path != "path=\"/profiles/" mac ".xml\"") { print "bad: " $0 > "/dev/stderr"; bad++ }
	} END { exit bad > 0 }' || fail "a request was not a 200 for the device's own profile"
}

# ---- --resume ----------------------------------------------------------------
note "--resume --rounds 2: the second round resumes each device's own session"
before=$(served)
fleet 0 --rule "$RULE" --dns-server "$DNS" --resume --rounds 2 --apply "$T/resume"
full=$(json_get handshakes.full)
resumed=$(json_get handshakes.resumed)
note "full $full, resumed $resumed"
[ "$(json_get successes)" = $((2 * N)) ] || fail "successes: $OUT"
[ "$resumed" -gt 0 ] || fail "no handshake was resumed: $OUT"
[ $((full + resumed)) = $((2 * N)) ] || fail "full + resumed != requests: $OUT"
[ "$full" -ge $N ] || fail "fewer full handshakes than devices: $OUT"
check_applied $N "$T/resume"
sleep 0.2 # the log line follows the reply
[ $(($(served) - before)) = $((2 * N)) ] || fail "$(($(served) - before)) requests for $((2 * N))"
each_own "$before"
srv_resumed=$(since "$before" | grep -c ' resumed=1' || true)
[ "$srv_resumed" = "$resumed" ] || fail "the server saw $srv_resumed resumed sessions, the fleet $resumed"
# Each device twice, and only once on a resumed session.
since "$before" | grep ' resumed=1' | sed 's/.* mac=\([^ ]*\) .*/\1/' | sort | uniq -d | grep . &&
	fail "a device resumed twice in two rounds"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

# ---- --keepalive ---------------------------------------------------------------
note "--keepalive --rounds 3: later rounds go on each device's kept connection"
before=$(served)
fleet 0 --rule "$RULE" --dns-server "$DNS" --keepalive --rounds 3 --apply "$T/keep"
full=$(json_get handshakes.full)
reused=$(json_get handshakes.reused_connection)
note "full $full, requests on a kept connection $reused"
[ "$(json_get successes)" = $((3 * N)) ] || fail "successes: $OUT"
[ "$reused" -gt 0 ] || fail "no request went on a kept connection: $OUT"
[ $((full + reused + $(json_get handshakes.resumed))) = $((3 * N)) ] ||
	fail "handshakes + kept != requests: $OUT"
[ "$full" -ge $N ] || fail "fewer full handshakes than devices: $OUT"
check_applied $N "$T/keep"
sleep 0.2
[ $(($(served) - before)) = $((3 * N)) ] || fail "$(($(served) - before)) requests for $((3 * N))"
each_own "$before"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

# ---- --rate with --duration -------------------------------------------------------
RATE=30 DUR=2
note "--rate $RATE --duration $DUR --rounds 0: Poisson arrivals, a soak without failures"
before=$(served)
fleet 0 --rule "$RULE" --dns-server "$DNS" --rate $RATE --duration $DUR --rounds 0
ok=$(json_get successes)
att=$(json_get attempts)
note "$att arrivals started, $ok successes in $(json_get elapsed_s) s"
[ "$ok" -gt 0 ] || fail "no success: $OUT"
[ "$(json_get failures)" = 0 ] || fail "failures: $OUT"
[ "$(jq -c .failure_reasons <<<"$OUT")" = "{}" ] || fail "failure reasons: $OUT"
[ "$(json_get devices_ok)" = $N ] || fail "devices_ok: $OUT"
[ "$ok" -ge $((att - $(json_get unfinished))) ] || fail "attempts neither succeeded nor cut: $OUT"
# Mean RATE * DUR = 60 arrivals, standard deviation under 8: far bounds.
[ "$att" -ge $((RATE * DUR / 3)) ] && [ "$att" -le $((RATE * DUR * 2)) ] ||
	fail "$att arrivals for a rate of $RATE/s over $DUR s: $OUT"
awk -v e="$(json_get elapsed_s)" -v d=$DUR 'BEGIN { exit !(e >= d - 0.01 && e < d + 5) }' ||
	fail "the run did not last --duration: $OUT"
sleep 0.2
# A transfer cut by the deadline may have been served already.
n=$(($(served) - before))
[ "$n" -ge "$ok" ] && [ "$n" -le "$att" ] || fail "$n requests served, $ok successes, $att attempts"
each_own "$before"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

# ---- DNS mismatch ---------------------------------------------------------------
note "DNS mismatch: $FQDN answers 127.0.0.2, the URL names 127.0.0.1"
start_dns_extra --address=/$FQDN/127.0.0.2
before=$(served)
fleet 1 --rule "$IPRULE" --dns-server "$DNS_EXTRA" --retries 1 --retry-delay 1 --time-scale 0.01 \
	--apply "$T/mismatch"
serve_alive # a dead server would refuse every device too, and see no request
[ "$(jq -c .failure_reasons <<<"$OUT")" = "{\"check 4 (address)\":$((2 * N))}" ] ||
	fail "not every attempt failed check 4 alone: $OUT"
[ "$(json_get successes)" = 0 ] || fail "successes: $OUT"
[ "$(json_get gave_up)" = $N ] || fail "gave_up: $OUT"
[ "$(json_get devices_ok)" = 0 ] || fail "devices_ok: $OUT"
[ "$(json_get handshakes.full)" = 0 ] || fail "a handshake got as far as a request: $OUT"
expect_err_contains "server check 4 (address): server address 127.0.0.1 is not among the DNS answers for $FQDN"
[ ! -e "$T/mismatch" ] || fail "something was applied: $(find "$T/mismatch" | head -3)"
sleep 0.3
[ "$(served)" = "$before" ] || fail "a request reached sprov serve: $(since "$before" | head -2)"
note "the same IP-literal URL with the right DNS is accepted, and its second round resumes"
fleet 0 --rule "$IPRULE" --dns-server "$DNS" --resume --rounds 2 --apply "$T/iplit"
[ "$(json_get handshakes.resumed)" -gt 0 ] || fail "no resumed handshake on the IP-literal URL: $OUT"
check_applied $N "$T/iplit"

# A resumed session skips the certificate verification, so the pre-request
# check must run checks 2-4 again: round 1 with the right answer, then the
# resolver (same port) answers 127.0.0.2 and round 2 resumes (as just above:
# the fleet counts a resumed handshake only once a request went, so that run
# is the witness) and must be refused before any request.
note "DNS mismatch on a resumed session: refused before any request"
DNS2_PORT=$(free_port)
dns2() { # dns2 ADDRESS: a resolver on DNS2_PORT answering $FQDN with ADDRESS
	bg_start /usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user=root \
		--port="$DNS2_PORT" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --no-negcache --address=/$FQDN/"$1" 2>>"$T/dnsmasq.err"
	DNS2_PID=$BG_PID
	local i=0
	until DNS_PORT=$DNS2_PORT dig_ok; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "dnsmasq did not start: $(cat "$T/dnsmasq.err")"
		sleep 0.05
	done
}
dns2 127.0.0.1
before=$(served)
"$SPROV" fleet --bundles "$T/bundles" --json --timeout 20 --rule "$IPRULE" \
	--dns-server "127.0.0.1:$DNS2_PORT" --resume --rounds 2 --interval $SWAP_INTERVAL --retries 0 \
	--apply "$T/swap" >"$T/swap.out" 2>"$T/swap.err" &
FLEET_PID=$!
_BG_PIDS+=("$FLEET_PID")
i=0
until [ $(($(served) - before)) -ge $N ]; do
	i=$((i + 1)); [ $i -lt 300 ] || fail "round 1 did not finish: $(cat "$T/swap.err")"
	sleep 0.05
done
bg_kill "$DNS2_PID" TERM
dns2 127.0.0.2
note "round 1 served; the resolver now answers 127.0.0.2"
set +e
wait "$FLEET_PID"
RC=$?
set -e
OUT=$(cat "$T/swap.out")
[ "$RC" = 1 ] || fail "the fleet exited $RC: $OUT"
[ "$(json_get successes)" = $N ] || fail "round 1 did not all succeed, or round 2 did: $OUT"
[ "$(jq -c .failure_reasons <<<"$OUT")" = "{\"check 4 (address)\":$N}" ] ||
	fail "round 2 did not fail check 4 alone: $OUT"
sleep 0.3
[ $(($(served) - before)) = $N ] || fail "a request of round 2 reached sprov serve: $(since $((before + N)) | head -2)"
check_applied $N "$T/swap" # round 1's profiles, untouched
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
