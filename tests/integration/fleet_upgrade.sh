#!/usr/bin/env bash
# The fleet's upgrades against a real `sprov serve`: the device's
# User-Agent with its own version; Upgrade_Rule fetches the image with the
# server checks, checks container and signature, and the new version is in
# the User-Agent from then on (and in --apply DIR/<mac>/firmware for the
# next run); a condition no longer true stops the upgrades; a foreign-signed
# image is refused with every version unchanged; an unconditional URL is
# tried once; --fail-upgrade-rate bricks or reverts a stable fraction, and
# a bricked device never comes back, in this run or the next.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=40
fleet_pki $N
start_dns
fleet_fw_pki
_q openssl ecparam -name prime256v1 -genkey -noout -out "$T/evil.key"
head -c 5000 /dev/urandom >"$T/payload"
for v in 2.0.1 2.0.2; do
	bash "$MKFW" build "$T/fw.key" "$T/payload" SPA2102 $v "$T/$v.sfw"
	_q "$SPROV" db firmware add "$T/$v.sfw"
done
bash "$MKFW" build "$T/evil.key" "$T/payload" SPA2102 2.0.3 "$T/2.0.3.sfw"
_q "$SPROV" db firmware add "$T/2.0.3.sfw"
start_serve --access-log "$T/access.log"
RULE="https://$FQDN:$PORT/profiles/\$MA.xml"
ST="$T/state"

fleet() { # fleet RC OPTIONS...: one run, its JSON in $OUT
	local rc=$1
	shift
	expect_rc "$rc" "$SPROV" fleet --bundles "$T/bundles" --json --timeout 20 \
		--rule "$RULE" --dns-server "$DNS" --apply "$ST" "$@"
}
upgrade_rule() { _q "$SPROV" db params set --default "Upgrade_Rule=$1"; }
served() { wc -l <"$T/access.log"; }
since() { sleep 0.2; tail -n +$(($1 + 1)) "$T/access.log"; }
versions() { cat "$ST"/*/firmware | sort | uniq -c | awk '{ printf "%s:%s%s ", $2, $1, $3 ? "(" $3 ")" : "" }'; }

note "no Upgrade_Rule: the device's own User-Agent, Sprov/PN-SWVER (MAC)(SN), from --swver"
before=$(served)
fleet 0 --swver 1.0.0
[ "$(json_get upgrades.started)" = 0 ] || fail "an upgrade without Upgrade_Rule: $OUT"
n=$(since "$before" | grep -c 'ua="Sprov/SPA2102-1.0.0 (0200000000[0-9A-F][0-9A-F])(SN[0-9]*)"' || true)
[ "$n" = $N ] || fail "$n of $N requests had the device's User-Agent: $(since "$before" | head -2)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "(! 2.0.1)? /firmware/\$PN/2.0.1.sfw: every device upgrades once, then reports 2.0.1"
upgrade_rule '(! 2.0.1)? /firmware/$PN/2.0.1.sfw'
before=$(served)
fleet 0 --swver 1.0.0 --rounds 2
[ "$(json_get upgrades.started)" = $N ] || fail "upgrades started: $OUT"
[ "$(json_get upgrades.flashed)" = $N ] || fail "upgrades flashed: $OUT"
[ "$(json_get upgrades.signature_checks)" -ge 1 ] && [ "$(json_get upgrades.signature_checks)" -le 4 ] ||
	fail "the signature was not checked once per image (and worker): $OUT"
n=$(since "$before" | grep 'path="/firmware/SPA2102/2.0.1.sfw"' | grep -c 'status=200' || true)
[ "$n" = $N ] || fail "$n image fetches for $N devices"
n=$(since "$before" | grep 'path="/profiles/' | grep -c 'ua="Sprov/SPA2102-2.0.1 ' || true)
[ "$n" = $N ] || fail "$n second-round requests reported 2.0.1"
[ "$(versions)" = "2.0.1:$N " ] || fail "the kept versions: $(versions)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the next run starts on the kept 2.0.1: the condition is false, no upgrade"
before=$(served)
fleet 0 --swver 1.0.0
[ "$(json_get upgrades.started)" = 0 ] || fail "upgraded again: $OUT"
n=$(since "$before" | grep -c 'ua="Sprov/SPA2102-2.0.1 ' || true)
[ "$n" = $N ] || fail "$n of $N requests reported the kept 2.0.1"

note "a foreign-signed image is refused by every device; every version unchanged"
upgrade_rule '(! 2.0.3)? /firmware/$PN/2.0.3.sfw'
kept() { cat "$ST"/*/firmware | sha256sum; }
h=$(kept)
fleet 0
[ "$(json_get upgrades.refused)" = $N ] || fail "refused: $OUT"
[ "$(json_get upgrades.flashed)" = 0 ] || fail "a foreign image was flashed: $OUT"
[ "$(kept)" = "$h" ] || fail "the kept versions changed: $(versions)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "an unconditional URL is tried once per rule, not every round"
upgrade_rule '/firmware/$PN/2.0.3.sfw'
fleet 0 --rounds 3
[ "$(json_get upgrades.started)" = $N ] || fail "an unconditional URL was tried more than once: $OUT"

note "--fail-upgrade-rate 0.5 --fail-upgrade-mode mix: bricks and reverts, the rest flashed"
upgrade_rule '(! 2.0.2)? /firmware/$PN/2.0.2.sfw'
fleet 0 --fail-upgrade-rate 0.5 --fail-upgrade-mode mix --seed 3 --rounds 2
fl=$(json_get upgrades.flashed) br=$(json_get upgrades.bricked) rv=$(json_get upgrades.reverted)
note "flashed $fl, bricked $br, reverted $rv"
[ "$br" -gt 0 ] && [ "$rv" -gt 0 ] && [ "$fl" -gt 0 ] || fail "not a mix: $OUT"
# A reverted device tries again next round and fails again (the same fate).
[ $((fl + br)) -le $N ] && [ "$(json_get upgrades.started)" = $((fl + br + rv)) ] || fail "counts: $OUT"
[ "$(grep -l bricked "$ST"/*/firmware | wc -l)" = "$br" ] || fail "bricks kept: $(versions)"
[ "$(versions | grep -o '2.0.2:[0-9]*')" = "2.0.2:$fl" ] || fail "flashed kept: $(versions)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a bricked device never comes back: the next run skips it"
bricked=$(grep -l bricked "$ST"/*/firmware | awk -F/ '{ print $(NF - 1) }')
before=$(served)
fleet 0
[ "$(json_get upgrades.bricked_before)" = "$br" ] || fail "bricked before: $OUT"
for m in $bricked; do
	! since "$before" | grep -q "mac=$m " || fail "bricked device $m made a request"
done
[ "$(json_get successes)" = $((N - br)) ] || fail "successes: $OUT"

note "the same seed bricks the same devices"
rm -rf "$ST"
fleet 0 --fail-upgrade-rate 0.5 --fail-upgrade-mode mix --seed 3 --rounds 2
[ "$(grep -l bricked "$ST"/*/firmware | awk -F/ '{ print $(NF - 1) }')" = "$bricked" ] ||
	fail "another seed run bricked other devices"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "bad options: exit 2, nothing run"
before=$(served)
expect_rc 2 "$SPROV" fleet --bundles "$T/bundles" --rule "$RULE" --fail-upgrade-rate 1.5
expect_err_contains "--fail-upgrade-rate"
expect_rc 2 "$SPROV" fleet --bundles "$T/bundles" --rule "$RULE" --fail-upgrade-mode sometimes
expect_err_contains "--fail-upgrade-mode must be brick, old or mix, not 'sometimes'"
expect_rc 2 "$SPROV" fleet --bundles "$T/bundles" --rule "$RULE" --swver 'a b'
expect_err_contains "--swver: not a software version"
[ "$(served)" = "$before" ] || fail "a refused run made requests"
serve_alive
finish
