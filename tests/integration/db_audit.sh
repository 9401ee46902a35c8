#!/bin/bash
# sprov db audit: CLI changes are recorded with their actor and only hashed
# values; tampering with the table (sqlite3 CLI) makes verify exit 1 with
# the exact entry named, and verify itself changes nothing.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed"
unset SPROV_STORE SUDO_USER
cd "$T"
DB="$T/a.db"
export SPROV_STORE="sqlite:$DB"
ME=$(id -un)
M=000e08aabbcc
dbhash() { sqlite3 "$DB" .dump | sha256sum | cut -d' ' -f1; }
sq() { sqlite3 "$DB" "$1"; }

note "help and usage"
for c in "audit list" "audit verify"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" db $c --help
	expect_out_contains "usage: sprov db $c"
	expect_out_contains "Examples:"
	expect_out_contains "Exit status:"
done
expect_rc 2 "$SPROV" db audit
expect_rc 2 "$SPROV" db audit list --limit 0
expect_err_contains "--limit"
expect_rc 2 "$SPROV" db audit list --device nonsense
expect_rc 2 "$SPROV" db audit verify extra

note "an empty trail"
expect_rc 0 "$SPROV" db init
expect_rc 0 "$SPROV" db audit list
[ "$OUT" = "no audit entries" ] || fail "empty list said: $OUT"
expect_rc 0 "$SPROV" db audit verify
[ "$OUT" = "audit: 0 entries, chain intact" ] || fail "verify said: $OUT"

note "CLI changes: actor, action, target; values as keyed hashes only"
expect_rc 0 "$SPROV" db devices add $M --product SPA-962
expect_rc 0 "$SPROV" db params set --device $M SIP_Password=TopSecret1
expect_rc 0 "$SPROV" db params set --device $M SIP_Password=TopSecret2
expect_rc 0 "$SPROV" db params set --product SPA-962 Proxy_1_=proxy.example.net
expect_rc 0 "$SPROV" db devices disable $M
SUDO_USER=carol expect_rc 0 "$SPROV" db params unset --device $M SIP_Password
expect_rc 1 "$SPROV" db params unset --device $M SIP_Password   # refused: nothing recorded
[ "$(sq 'SELECT count(*) FROM audit')" = 6 ] || fail "entries: $(sq 'SELECT count(*) FROM audit')"
[ "$(sq "SELECT count(*) FROM audit WHERE actor || target || detail LIKE '%TopSecret%' OR detail LIKE '%proxy.example%'")" = 0 ] ||
	fail "a value is in the audit table in clear"
expect_rc 0 "$SPROV" db audit list --device 00:0E:08:AA:BB:CC --json
printf '%s' "$OUT" | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert [e["seq"] for e in v] == [6, 5, 3, 2, 1], v
assert v[0]["actor"] == "cli:carol via sudo" and v[0]["action"] == "param.unset", v[0]
assert all(e["actor"] == "cli:'"$ME"'" for e in v[1:]), v
assert v[1]["action"] == "device.disable" and v[1]["target"] == "000e08aabbcc", v[1]
d2, d3 = v[3]["detail"], v[2]["detail"]
assert d2["old"] is None and d2["new"].startswith("hmac-sha256:") and len(d2["new"]) == 28, d2
assert d3["old"] == d2["new"] and d3["new"] != d2["new"], (d2, d3)
assert v[0]["detail"]["old"] == d3["new"], v[0]
' || fail "audit list --json: $OUT"
expect_rc 0 "$SPROV" db audit list --limit 1
expect_out_contains "cli:carol via sudo   param.unset"
[ "$(echo "$OUT" | wc -l)" = 2 ] || fail "--limit 1 printed: $OUT"
expect_rc 0 "$SPROV" db audit verify
[ "$OUT" = "audit: 6 entries, chain intact" ] || fail "verify said: $OUT"

# tampered SQL MESSAGE: after SQL, verify exits 1 with MESSAGE and changes
# nothing; then the store is put back.
cp "$DB" "$T/good.db"
tampered() {
	local h
	sq "$1"
	h=$(dbhash)
	expect_rc 1 "$SPROV" db audit verify
	[ "$ERR" = "sprov db audit verify: $2" ] || fail "after '$1': stderr was: $ERR"
	[ -z "$OUT" ] || fail "after '$1': stdout was: $OUT"
	[ "$(dbhash)" = "$h" ] || fail "verify changed the store"
	cp "$T/good.db" "$DB"
}
note "tampering is detected and named"
tampered "UPDATE audit SET actor = 'cli:mallory' WHERE seq = 3" "audit: entry 3 was changed"
tampered "UPDATE audit SET detail = '{}' WHERE seq = 6" "audit: entry 6 was changed"
tampered "UPDATE audit SET hash = (SELECT hash FROM audit WHERE seq = 5) WHERE seq = 4" \
	"audit: entry 4 was changed"
tampered "DELETE FROM audit WHERE seq = 4" "audit: entry 4 is missing (3 is followed by 5)"
tampered "DELETE FROM audit WHERE seq = 6" "audit: the last entry's hash does not match"
expect_rc 0 "$SPROV" db audit verify

note "rollout actions are audited"
expect_rc 0 "$SPROV" rollout create r1 --param Proxy_1_=rollout.example.net --defaults \
	--waves 10,100 --success-window 1h
expect_rc 0 "$SPROV" rollout pause r1
expect_rc 0 "$SPROV" db audit list --limit 2
expect_out_contains "rollout.pause"
expect_out_contains "rollout.create"
expect_out_contains "rollout:r1"
[ "$(sq "SELECT count(*) FROM audit WHERE detail LIKE '%rollout.example%'")" = 0 ] ||
	fail "the rollout's value is in clear"
expect_rc 0 "$SPROV" db audit verify
[ "$OUT" = "audit: 8 entries, chain intact" ] || fail "verify said: $OUT"
finish
