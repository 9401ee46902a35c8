#!/usr/bin/env bash
# Rollouts end to end (issue 16): `sprov serve` drives them on its own
# timer (rollout-tick), a 500-device `sprov fleet` resyncs every second and
# runs Upgrade_Rule, and `sprov rollout status` judges from the contacts.
#   1. a firmware rollout goes out in waves to completion, every device
#      on the new version;
#   2. a second one, with 20 % of its wave-2 devices bricking, halts by
#      itself after wave 2;
#   3. its rollback gives the released waves the old target again;
#   4. a parameter rollout gives the new value to exactly the devices of
#      its released wave, and no other device sees it.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=500
fleet_pki $N
start_dns
fleet_fw_pki
head -c 3000 /dev/urandom >"$T/payload"
for v in 2.0.1 2.0.2; do
	bash "$MKFW" build "$T/fw.key" "$T/payload" SPA2102 $v "$T/$v.sfw"
	_q "$SPROV" db firmware add "$T/$v.sfw" --firmware-ca "$T/fw.crt"
done
start_serve --access-log off --rollout-tick 200ms --contact-flush 100ms
RULE="https://$FQDN:$PORT/profiles/\$MA.xml"
ST="$T/state"

# The fleet in the background: every device every second, kept connections.
fleet_start() {
	bg_start "$SPROV" fleet --bundles "$T/bundles" --rule "$RULE" --dns-server "$DNS" \
		--apply "$ST" --rounds 0 --duration 300 --interval 1 --keepalive \
		--concurrency 100 --timeout 20 --retry-delay 1 "$@" >/dev/null 2>>"$T/fleet.err"
	FLEET_PID=$BG_PID
}
fleet_stop() { kill -INT "$FLEET_PID"; wait "$FLEET_PID" || true; }
status() { OUT=$("$SPROV" rollout status "$1" --json) || fail "rollout status $1: $OUT"; }
js() { jq -r "$1" <<<"$OUT"; }
# wait_for SECONDS CMD...: until CMD succeeds (status polled every 0.3 s).
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10 / 3; i++)); do
		"$@" && return 0
		serve_alive
		sleep 0.3
	done
	fail "not within ${t}s: $* ($OUT)"
}
versions() { cat "$ST"/*/firmware 2>/dev/null | sort | uniq -c | awk '{ printf "%s:%s%s ", $2, $1, $3 ? "(" $3 ")" : "" }'; }
# state_is NAME STATE [RELEASED]
state_is() { status "$1" && [ "$(js .state)" = "$2" ] && { [ -z "${3:-}" ] || [ "$(js .released)" = "$3" ]; }; }
# all_succeeded NAME: every released wave's devices succeeded, none failed or pending
all_succeeded() {
	status "$1" && [ "$(js '[.wave_list[] | select(.released_at != "-") | .released - .succeeded] | add')" = 0 ] &&
		[ "$(js '[.wave_list[].failed] | add')" = 0 ]
}

fleet_start
note "1. firmware 2.0.1 in waves 10,50,100: done, every device succeeded and runs 2.0.1"
expect_rc 0 "$SPROV" rollout create fw1 --firmware SPA2102:2.0.1 --waves 10,50,100 \
	--wave-interval 3s --success-window 10s
wait_for 40 state_is fw1 done 3
wait_for 20 all_succeeded fw1
[ "$(js '[.wave_list[].targeted] | add')" = $N ] || fail "targeted: $OUT"
[ "$(js '.wave_list[0].targeted')" -lt "$(js '.wave_list[2].targeted')" ] || fail "waves: $OUT"
wait_for 10 eval '[ "$(versions)" = "2.0.1:'$N' " ]'
_TESTS_RUN=$((_TESTS_RUN + 1))

# fw1 is done and still gives every device 2.0.1; fw2 is applied over it.

note "2. firmware 2.0.2, 20 % of wave-2 devices brick: halted by itself after wave 2"
expect_rc 0 "$SPROV" rollout create fw2 --firmware SPA2102:2.0.2 --waves 10,40,100 \
	--wave-interval 8s --success-window 5s --halt-if 'failure-rate>10%'
expect_rc 0 "$SPROV" rollout pause fw2
wait_for 20 all_succeeded fw2
w1=$(js '.wave_list[0].released')
# Wave 1 is on 2.0.2; from now on a fifth of the devices that upgrade brick.
fleet_stop
fleet_start --fail-upgrade-rate 0.2 --fail-upgrade-mode brick --seed 7
expect_rc 0 "$SPROV" rollout resume fw2
wait_for 40 state_is fw2 halted 2
[ "$(js '.wave_list[1].failed')" -gt 0 ] || fail "halted without a failed wave-2 device: $OUT"
[ "$(js '.wave_list[2].released_at')" = - ] || fail "wave 3 was released: $OUT"
[ "$(js '.wave_list[0].failed')" = 0 ] || fail "wave 1 failed: $OUT"
br=$(grep -l bricked "$ST"/*/firmware | wc -l)
note "wave 1: $w1 devices, bricked in wave 2: $br; $(versions)"
[ "$br" -gt 0 ] || fail "nothing bricked"
sleep 2
state_is fw2 halted 2 || fail "the halt did not hold: $OUT"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "3. rollback: the released waves get fw1's 2.0.1 back, the others never left it"
fleet_stop
# The bricked phones are flashed again by hand (on the version they had),
# so that every targeted device can answer the rollback.
sed -i 's/ bricked$//' "$ST"/*/firmware
fleet_start
expect_rc 0 "$SPROV" rollout rollback fw2
status fw2
[ "$(js .state)" = rolled-back ] || fail "fw2: $OUT"
wait_for 30 all_succeeded fw2-rollback
wait_for 20 eval '[ "$(versions | grep -o "2.0.2:[0-9]*")" = "" ]'
[ "$(versions)" = "2.0.1:$N " ] || fail "not every device is back on 2.0.1: $(versions)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "4. a parameter rollout, wave 1 of 20,100 released: the new value for exactly its devices"
expect_rc 0 "$SPROV" rollout create px --param Proxy_1_=sip2.example.net --defaults \
	--waves 20,100 --wave-interval 1h --success-window 6s
wait_for 30 all_succeeded px
rel=$(js '.wave_list[0].released')
# The applied profiles settle within a resync or two of the verdict.
px_settled() {
	got=$(grep -l '<Proxy_1_[^>]*>sip2.example.net<' "$ST"/*/params.xml | wc -l)
	old=$(grep -l '<Proxy_1_[^>]*>sip.example.net<' "$ST"/*/params.xml | wc -l)
	[ "$got" = "$rel" ] && [ $((got + old)) = $N ]
}
wait_for 20 px_settled || true
note "wave 1: $rel devices; new value at $got, old at $old"
[ "$rel" -gt 0 ] && [ "$got" = "$rel" ] || fail "$got devices have the new value, wave 1 has $rel: $OUT"
[ $((got + old)) = $N ] || fail "$got + $old != $N"
[ "$(js '.wave_list[1].released_at')" = - ] || fail "wave 2 was released: $OUT"
_TESTS_RUN=$((_TESTS_RUN + 1))
fleet_stop
serve_alive
finish
