#!/bin/bash
# sprov db firmware and sprov rollout: every subcommand, the verdicts from
# injected contacts driven by `rollout tick --now`, and every refusal with
# its exact message and the database unchanged (sqlite3 .dump digest).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed"
unset SPROV_STORE
cd "$T"
DB="$T/r.db"
export SPROV_STORE="sqlite:$DB"
MKFW="$SPROV_SRCDIR/tests/lib/mkfw.sh"

dbhash() { sqlite3 "$DB" .dump | sha256sum | cut -d' ' -f1; }
# refused RC MESSAGE CMD...: exit status RC, stderr exactly MESSAGE, no change.
refused() {
	local rc=$1 msg=$2 before; shift 2
	before=$(dbhash)
	expect_rc "$rc" "$@"
	[ "$ERR" = "$msg" ] || fail "'$*': stderr was: $ERR (wanted: $msg)"
	[ "$(dbhash)" = "$before" ] || fail "'$*' changed the database"
}
json_ok() { printf '%s' "$OUT" | python3 -m json.tool >/dev/null || fail "not JSON: $OUT"; }
q() { sqlite3 "$DB" "$1"; }
# snap: every device's effective profile into snap.txt, "== MAC" before
# each (one process per device: few snapshots, 24 devices).
snap() {
	local m
	for m in $(q "SELECT mac FROM devices ORDER BY mac"); do
		echo "== $m"
		"$SPROV" db devices show "$m"
	done >snap.txt
}
# with TEXT: how many devices of the last snap have TEXT in their profile.
with() { grep -cF -- "$1" snap.txt || true; }
# macs_with TEXT: their MACs.
macs_with() { awk -v t="$1" '/^== / { m = $2 } index($0, t) { print m }' snap.txt; }

note "help"
for c in "" create status list pause resume rollback tick; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" rollout $c --help
	expect_out_contains "usage: sprov rollout${c:+ }$c"
done
for c in "" add list rm; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" db firmware $c --help
	expect_out_contains "usage: sprov db firmware${c:+ }$c"
done

note "a store with 24 devices of two products and a group"
expect_rc 0 "$SPROV" db init
for i in $(seq 1 24); do
	if [ $((i % 2)) = 0 ]; then p=SPA-962; else p=SPA-504; fi
	if [ $((i % 4)) = 0 ]; then g=east; else g=; fi
	printf '000e08%06x,SN%d,%s,%s\n' "$i" "$i" "$p" "$g"
done >devices.csv
expect_rc 0 "$SPROV" db devices import devices.csv
expect_rc 0 "$SPROV" db params set --defaults Proxy_1_=old.example.net
expect_rc 0 "$SPROV" rollout list
[ "$OUT" = "no rollouts" ] || fail "empty rollout list: $OUT"
expect_rc 0 "$SPROV" db firmware list --json
[ "$OUT" = "[]" ] || fail "empty firmware list: $OUT"
expect_rc 0 "$SPROV" db firmware list
[ "$OUT" = "no firmware images" ] || fail "empty firmware list: $OUT"

note "db firmware add: a container made by the independent builder"
openssl ecparam -name prime256v1 -genkey -noout -out fw.key 2>/dev/null
openssl req -new -x509 -key fw.key -subj /CN=fw -days 2 -out fw.crt 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null
openssl req -new -x509 -key other.key -subj /CN=other -days 2 -out other.crt 2>/dev/null
head -c 150000 /dev/urandom >payload
bash "$MKFW" build fw.key payload SPA-962 2.0.1 fw201.sfw
bash "$MKFW" build other.key payload SPA-962 2.0.2 foreign.sfw
expect_rc 0 "$SPROV" db firmware add fw201.sfw --firmware-ca fw.crt
sha=$(sha256sum fw201.sfw | cut -d' ' -f1)
len=$(stat -c %s fw201.sfw)
[ "$OUT" = "firmware SPA-962 2.0.1 stored: $len bytes, sha256 $sha, signature checked" ] ||
	fail "add said: $OUT"
expect_rc 0 "$SPROV" db firmware list
expect_out_contains "SPA-962          2.0.1"
expect_out_contains "$sha"
expect_rc 0 "$SPROV" db firmware list --json
json_ok
expect_out_contains "\"product\": \"SPA-962\", \"version\": \"2.0.1\", \"length\": $len, \"sha256\": \"$sha\""

note "db firmware refusals: nothing stored"
refused 1 "sprov db firmware add: firmware SPA-962 2.0.1 is stored already (remove it first with 'sprov db firmware rm SPA-962 2.0.1')" \
	"$SPROV" db firmware add fw201.sfw
refused 1 "sprov db firmware add: foreign.sfw: firmware container: not signed by the firmware key" \
	"$SPROV" db firmware add foreign.sfw --firmware-ca fw.crt
bash "$MKFW" build fw.key payload SPA-962 2.0.4 whole.sfw
head -c 1000 whole.sfw >cut.sfw
refused 1 "sprov db firmware add: cut.sfw: truncated: 1000 of $(stat -c %s whole.sfw) bytes" \
	"$SPROV" db firmware add cut.sfw
bash "$MKFW" build fw.key payload SPA-962 2.0.3 long.sfw
lenl=$(stat -c %s long.sfw)
printf x >>long.sfw
refused 1 "sprov db firmware add: long.sfw: trailing bytes after the payload (the container says $lenl bytes)" \
	"$SPROV" db firmware add long.sfw
refused 1 "sprov db firmware add: missing.sfw: No such file or directory" \
	"$SPROV" db firmware add missing.sfw
refused 2 "sprov db firmware add: an IMAGE.sfw is needed (see 'sprov db firmware add --help')" \
	"$SPROV" db firmware add
refused 1 "sprov db firmware rm: no firmware SPA-962 9.9 in the store" \
	"$SPROV" db firmware rm SPA-962 9.9
refused 2 "sprov db firmware rm: PRODUCT and VERSION are needed (see 'sprov db firmware rm --help')" \
	"$SPROV" db firmware rm SPA-962

note "rollout create refusals: nothing written"
refused 2 "sprov rollout create: a rollout NAME is needed (see 'sprov rollout create --help')" \
	"$SPROV" rollout create --param Proxy_1_=x --defaults --waves 100
refused 2 "sprov rollout create: give --param NAME=VALUE or --firmware PN:VERSION (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --waves 100
refused 2 "sprov rollout create: --waves is needed, e.g. --waves 1,10,50,100 (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults
refused 2 "sprov rollout create: --param needs exactly one of --defaults, --product PN, --group G (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --waves 100
refused 2 "sprov rollout create: --waves '10,5': percentages must increase (waves are cumulative) (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults --waves 10,5
refused 2 "sprov rollout create: --halt-if 'failures>2%': expected failure-rate>N% (N from 0 to 100, at most two decimals) (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults --waves 100 --halt-if 'failures>2%'
refused 2 "sprov rollout create: rollout name 'a b': only [A-Za-z0-9._-] is allowed, not starting with '.' or '-' (see 'sprov rollout create --help')" \
	"$SPROV" rollout create 'a b' --param Proxy_1_=x --defaults --waves 100
refused 2 "sprov rollout create: --firmware needs PN:VERSION (product [A-Za-z0-9._-], version [A-Za-z0-9._()-]) (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --firmware SPA-962 --waves 100
refused 1 "sprov rollout create: firmware SPA-962 3.0 is not in the store: add it with 'sprov db firmware add'" \
	"$SPROV" rollout create r --firmware SPA-962:3.0 --waves 100
refused 1 "sprov rollout create: parameter name 'Bad-Name' is not 1-128 of [A-Za-z0-9_] starting with a letter or _" \
	"$SPROV" rollout create r --param Bad-Name=x --defaults --waves 100
refused 2 "sprov rollout create: duration '5x': expected seconds, or a number with s, m, h or d, up to 365 days (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults --waves 100 --wave-interval 5x
refused 2 "sprov rollout create: --success-window must be at least 1s (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults --waves 100 --success-window 0
refused 2 "sprov rollout create: --firmware-path goes with --firmware (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --param Proxy_1_=x --defaults --waves 100 --firmware-path /x
refused 2 "sprov rollout create: --firmware PN:VERSION targets product PN: no --defaults, --product or --group (see 'sprov rollout create --help')" \
	"$SPROV" rollout create r --firmware SPA-962:2.0.1 --group east --waves 100
[ "$(q 'SELECT count(*) FROM rollouts')" = 0 ] || fail "a refused create wrote a row"

note "a parameter rollout on the defaults: wave 1 of 50 %, then 100 %"
expect_rc 0 "$SPROV" rollout create px --param Proxy_1_=new.example.net --defaults \
	--waves 50,100 --wave-interval 60 --success-window 300 --halt-if 'failure-rate>50%'
[ "$OUT" = "rollout px created: wave 1 of 2 (50%) released" ] || fail "create said: $OUT"
t0=$(q "SELECT created FROM rollouts WHERE name = 'px'")
snap
n1=$(with new.example.net)
# Binomial(24, 1/2) with a random key: outside 2..22 about 3 times in 10^6 runs.
[ "$n1" -ge 2 ] && [ "$n1" -le 22 ] || fail "wave 1 reached $n1 of 24 devices"
[ $(( n1 + $(with old.example.net) )) = 24 ] || fail "a device lost Proxy_1_"
refused 1 "sprov rollout create: a rollout named px exists already" \
	"$SPROV" rollout create px --param Proxy_2_=x --defaults --waves 100
refused 1 "sprov rollout create: rollout px already changes Proxy_1_ in the defaults: roll it back first" \
	"$SPROV" rollout create py --param Proxy_1_=x --defaults --waves 100
expect_rc 0 "$SPROV" rollout status px --now "$t0"
expect_out_contains "rollout px (param): Proxy_1_ on the defaults, running"
[[ "$OUT" != *new.example.net* ]] || fail "status printed the value"
expect_rc 0 "$SPROV" rollout status px --json --now "$t0"
json_ok
[[ "$OUT" != *new.example.net* ]] || fail "status --json printed the value"

note "wave 1 comes back: tick releases wave 2 when due, once"
for m in $(macs_with new.example.net); do
	echo "INSERT INTO contacts (mac, time, ip, ua, etag, status) VALUES ('$m', $((t0 + 5)), '192.0.2.1', 'Cisco/SPA-962-1.0 ($m)(SN)', '\"e\"', 200);"
done | sqlite3 "$DB"
expect_rc 0 "$SPROV" rollout tick --now $((t0 + 59))
[ "$OUT" = "released 0 waves, halted 0, done 0" ] || fail "tick said: $OUT"
expect_rc 0 "$SPROV" rollout tick --now $((t0 + 60))
[ "$OUT" = "released 1 wave, halted 0, done 0" ] || fail "tick said: $OUT"
h=$(dbhash)
expect_rc 0 "$SPROV" rollout tick --now $((t0 + 60))
[ "$OUT" = "released 0 waves, halted 0, done 0" ] || fail "tick again said: $OUT"
[ "$(dbhash)" = "$h" ] || fail "a tick with nothing to do changed the store"
snap
[ "$(with new.example.net)" = 24 ] || fail "wave 2 did not reach every device"
expect_rc 0 "$SPROV" rollout status px --json --now $((t0 + 61))
json_ok
expect_out_contains "\"wave\":1,\"percent\":50,"
expect_out_contains "\"targeted\":$n1,\"released\":$n1,\"succeeded\":$n1,\"failed\":0,\"pending\":0"

note "pause and resume"
expect_rc 0 "$SPROV" rollout pause px
[ "$OUT" = "rollout px paused" ] || fail "pause said: $OUT"
refused 1 "sprov rollout pause: rollout px is paused, not running" "$SPROV" rollout pause px
expect_rc 0 "$SPROV" rollout resume px
refused 1 "sprov rollout resume: rollout px is running, not paused" "$SPROV" rollout resume px
refused 1 "sprov rollout pause: no rollout named nope" "$SPROV" rollout pause nope
refused 2 "sprov rollout pause: one rollout NAME is needed (see 'sprov rollout pause --help')" \
	"$SPROV" rollout pause

note "wave 2 does not come back: halted by itself after its window"
expect_rc 0 "$SPROV" rollout tick --now $((t0 + 360))
[ "$OUT" = "released 0 waves, halted 1, done 0" ] || fail "tick said: $OUT"
expect_rc 0 "$SPROV" rollout status px --now $((t0 + 360))
expect_out_contains ", halted"
expect_out_contains "halted: wave 2: $((24 - n1)) of $((24 - n1)) devices failed"
expect_rc 0 "$SPROV" rollout list
expect_out_contains "px                   param     halted       2/2     Proxy_1_ on the defaults"
expect_rc 0 "$SPROV" rollout list --json
json_ok

note "rollback: a rollout of its own; every device back to the old value"
expect_rc 0 "$SPROV" rollout rollback px
[ "$OUT" = "rollout px rolled back by px-rollback (2 waves)" ] || fail "rollback said: $OUT"
snap
[ "$(with old.example.net)" = 24 ] || fail "rollback left devices on the new value"
expect_rc 0 "$SPROV" rollout status px-rollback
expect_out_contains "rollout px-rollback (rollback): Proxy_1_ on the defaults, running, undoes px"
refused 1 "sprov rollout rollback: rollout px was rolled back already (by px-rollback)" \
	"$SPROV" rollout rollback px
refused 1 "sprov rollout rollback: px-rollback is a rollback itself: create a new rollout instead" \
	"$SPROV" rollout rollback px-rollback
refused 2 "sprov rollout rollback: rollout name 'a b': only [A-Za-z0-9._-] is allowed, not starting with '.' or '-' (see 'sprov rollout rollback --help')" \
	"$SPROV" rollout rollback px --name 'a b'
refused 1 "sprov rollout pause: px-rollback is a rollback: it cannot be paused" \
	"$SPROV" rollout pause px-rollback

note "a firmware rollout and a group rollout: each reaches its targets only"
expect_rc 0 "$SPROV" rollout create fw --firmware SPA-962:2.0.1 --waves 100 \
	--firmware-path '/fw/$PN-$VERSION.sfw'
expect_rc 0 "$SPROV" rollout create codec --param Codec=G722 --group east --waves 100
snap
[ "$(with '<Upgrade_Rule>(! 2.0.1)? /fw/SPA-962-2.0.1.sfw</Upgrade_Rule>')" = 12 ] ||
	fail "the firmware rollout did not reach exactly the 12 SPA-962 devices"
[ "$(with '<Codec>G722</Codec>')" = 6 ] || fail "the group rollout did not reach the 6 east devices"
refused 1 "sprov db firmware rm: firmware SPA-962 2.0.1 is the target of rollout fw: roll it back first" \
	"$SPROV" db firmware rm SPA-962 2.0.1
expect_rc 0 "$SPROV" rollout rollback fw --name fw-undo
snap
[ "$(with Upgrade_Rule)" = 0 ] || fail "Upgrade_Rule survived the rollback"
[ "$(with '<Codec>G722</Codec>')" = 6 ] || fail "rolling back fw touched the group rollout"
expect_rc 0 "$SPROV" db firmware rm SPA-962 2.0.1
[ "$(q 'SELECT count(*) FROM firmware_chunks')" = 0 ] || fail "chunks left behind"

finish
