#!/bin/bash
# sprov db dump / restore: a whole store moved to a fresh one.  A store with
# parameters at every level, devices in groups, a disabled and a pending
# device and contact records (written with sqlite3 as the server writes
# them) is dumped, restored into a fresh store and dumped again: the two
# dumps are the same bytes, and so is what `db devices show` renders (the
# profile the server serves) for every device.  Then the refusals: a store
# that is not empty, a corrupt line, another format version, truncated and
# unreadable files; each leaves the target store as it was.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
cd "$T"
export SPROV_STORE="sqlite:$T/a.db"
A="sqlite:$T/a.db" B="sqlite:$T/b.db" C="sqlite:$T/c.db"
"$SPROV" db init >/dev/null
"$SPROV" db devices add 000e08aabbcc --serial 88012BA01234 --product SPA2102 --group east >/dev/null
"$SPROV" db devices add 000e08aabb01 --product SPA-962 --group west >/dev/null
"$SPROV" db devices add 000e08aabb02 --serial S2 --product SPA2102 --disabled >/dev/null
"$SPROV" db devices add 000e08aabb03 >/dev/null
"$SPROV" db params set --default Resync_Periodic=3600 --access ro >/dev/null
"$SPROV" db params set --default Proxy_1_=sip.example.com >/dev/null
"$SPROV" db params set --product SPA2102 'Dial_Plan_1_=(*xx|[3469]11|0|00|xxxxxxxxxxxx.)' >/dev/null
"$SPROV" db params set --product SPA-962 Resync_Periodic=600 >/dev/null
"$SPROV" db params set --group east Proxy_1_=sip.east.example.com --access na >/dev/null
"$SPROV" db params set --group west Proxy_1_=sip.west.example.com >/dev/null
printf 'p\303\251ss "w" \\ x\tz\n' | "$SPROV" db params set --device 000e08aabbcc Password_1_ --stdin >/dev/null
"$SPROV" db params set --device 000e08aabbcc Display_Name_1_='Reception <1>' --access rw >/dev/null
"$SPROV" db params set --device 000e08aabb02 User_ID_1_=202 >/dev/null
# What the server records: a pending device (unknown, seen), contacts, one
# of them from an unknown MAC, one with a User-Agent that is not UTF-8.
sqlite3 "$T/a.db" <<'EOS'
INSERT INTO devices (mac, serial, product, grp, enabled, pending, created)
  VALUES ('000e08aabb09', 'PSN9', 'SPA2102', '', 0, 1, 1790000009);
INSERT INTO contacts (mac, time, ip, ua, ua_vendor, ua_product, ua_swver, ua_mac,
  ua_serial, etag, status) VALUES
  ('000e08aabbcc', 1790000100, '192.0.2.10', 'Linksys/SPA2102-5.2.12 (88012BA01234)',
   'Linksys', 'SPA2102', '5.2.12', NULL, '88012BA01234', '"a1b2"', 200),
  ('000e08aabb09', 1790000200, '2001:db8::9', 'Cisco/SPA504G-7.6.2 (000e08aabb09)(PSN9)',
   'Cisco', 'SPA504G', '7.6.2', '000e08aabb09', 'PSN9', '', 404),
  ('00000000ff01', 1790000300, '198.51.100.1', CAST(X'4f6464ff2f312e30' AS TEXT),
   NULL, NULL, NULL, NULL, NULL, '', 403);
EOS
"$SPROV" db params set --device 000e08aabb09 Proxy_1_=sip.pending.example.com >/dev/null

note "dump: mode 0600, header first, end line with the counts"
expect_rc 0 "$SPROV" db dump a.jsonl
[ "$OUT" = "dumped 5 devices, 10 parameters, 3 contacts to a.jsonl" ] || fail "dump said: $OUT"
[ "$(stat -c %a a.jsonl)" = 600 ] || fail "dump mode $(stat -c %a a.jsonl)"
[ "$(head -n 1 a.jsonl)" = '{"sprov-dump":1,"sprov":"'"$("$SPROV" --version | head -n 1 | cut -d' ' -f2)"'"}' ] ||
	fail "header: $(head -n 1 a.jsonl)"
[ "$(tail -n 1 a.jsonl)" = '{"end":"sprov-dump","devices":5,"params":10,"contacts":3}' ] ||
	fail "end: $(tail -n 1 a.jsonl)"
grep -qx '{"device":"000e08aabb09","serial":"PSN9","product":"SPA2102","group":"","enabled":false,"pending":true,"created":1790000009}' a.jsonl ||
	fail "pending device: $(grep aabb09 a.jsonl)"
grep -qx '{"contact":"00000000ff01","time":1790000300,"ip":"198.51.100.1","ua_hex":"4f6464ff2f312e30","etag":"","status":403}' a.jsonl ||
	fail "non-UTF-8 User-Agent: $(grep ff01 a.jsonl)"
grep -qF '"value":"p\u00e9ss' a.jsonl && fail "UTF-8 escaped" || true
grep -qF '{"param":"Password_1_","level":"device","key":"000e08aabbcc","value":"péss \"w\" \\ x\tz","access":null}' a.jsonl ||
	fail "password line: $(grep Password a.jsonl)"
# A replaced dump stays 0600, whatever the umask.
(umask 000 && "$SPROV" db dump a2.jsonl >/dev/null && "$SPROV" db dump a2.jsonl >/dev/null)
[ "$(stat -c %a a2.jsonl)" = 600 ] || fail "replaced dump mode $(stat -c %a a2.jsonl)"
cmp a.jsonl a2.jsonl || fail "two dumps of one store differ"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "restore into a fresh store, dump again: the same bytes, the same profiles"
"$SPROV" db init --store "$B" >/dev/null
expect_rc 0 "$SPROV" db restore a.jsonl --store "$B"
[ "$OUT" = "restored 5 devices, 10 parameters, 3 contacts into $B" ] || fail "restore said: $OUT"
"$SPROV" db dump b.jsonl --store "$B" >/dev/null
cmp a.jsonl b.jsonl || fail "dumps differ: $(diff a.jsonl b.jsonl)"
for m in 000e08aabbcc 000e08aabb01 000e08aabb02 000e08aabb03 000e08aabb09; do
	"$SPROV" db devices show "$m" --store "$A" >show-a
	"$SPROV" db devices show "$m" --store "$B" >show-b
	cmp show-a show-b || fail "device $m shows differently: $(diff show-a show-b)"
	grep -q '^profile ' show-a || fail "no profile for $m"
done
grep -q 'sip.pending.example.com' show-b || fail "the pending device's parameter is missing"
"$SPROV" db devices show 000e08aabbcc --store "$B" | grep -qF '<Password_1_>péss ' ||
	fail "the password did not survive"
# The parsed User-Agent columns are derived again, the same as the server's.
[ "$(sqlite3 "$T/a.db" 'SELECT * FROM contacts ORDER BY mac')" = \
  "$(sqlite3 "$T/b.db" 'SELECT * FROM contacts ORDER BY mac')" ] || fail "contact rows differ"
# Through a pipe: dump - | restore -.
"$SPROV" db init --store "$C" >/dev/null
"$SPROV" db dump - --store "$B" | "$SPROV" db restore - --store "$C" >/dev/null
"$SPROV" db dump - --store "$C" | cmp - a.jsonl || fail "the piped copy differs"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a store that is not empty is refused without --force, and unchanged"
expect_rc 1 "$SPROV" db restore a.jsonl --store "$B"
[ "$ERR" = "sprov db restore: store $B is not empty: restore only into an empty store, or use --force to replace its content" ] ||
	fail "non-empty: $ERR"
[ -z "$OUT" ] || fail "printed: $OUT"
"$SPROV" db devices rm 000e08aabb03 --store "$B" >/dev/null
"$SPROV" db dump before.jsonl --store "$B" >/dev/null
expect_rc 1 "$SPROV" db restore a.jsonl --store "$B"
"$SPROV" db dump after.jsonl --store "$B" >/dev/null
cmp before.jsonl after.jsonl || fail "a refused restore changed the store"
note "--force replaces the content"
"$SPROV" db devices add 0000000000aa --store "$B" >/dev/null
expect_rc 0 "$SPROV" db restore a.jsonl --store "$B" --force
"$SPROV" db dump - --store "$B" | cmp - a.jsonl || fail "--force did not give the dump's content"

# refused NAME RC MESSAGE: restoring NAME into the (non-empty) store c, with
# --force, fails with RC and exactly MESSAGE, and c is unchanged.
"$SPROV" db devices rm 000e08aabb03 --store "$C" >/dev/null
"$SPROV" db dump c-before.jsonl --store "$C" >/dev/null
refused() {
	expect_rc "$2" "$SPROV" db restore "$1" --store "$C" --force
	[ "$ERR" = "$3" ] || fail "$1: '$ERR', expected '$3'"
	[ -z "$OUT" ] || fail "$1: printed $OUT"
	"$SPROV" db dump c-after.jsonl --store "$C" >/dev/null
	cmp c-before.jsonl c-after.jsonl || fail "$1: the store changed"
}
note "a corrupt line: FILE:LINE: reason, nothing written"
sed '4s/"created":[0-9]*/"created":1.5/' a.jsonl >bad.jsonl
refused bad.jsonl 1 "sprov db restore: bad.jsonl:4: column $(($(sed -n 4p bad.jsonl | grep -bo '1\.5' | cut -d: -f1) + 2)): numbers must be integers"
sed '9s/^{"param"/{"prm"/' a.jsonl >bad.jsonl
refused bad.jsonl 1 "sprov db restore: bad.jsonl:9: not a device, param, contact or end record"
# The last record: nothing before it was kept.
sed '19s/"status":200/"status":4030/' a.jsonl >bad.jsonl
refused bad.jsonl 1 'sprov db restore: bad.jsonl:19: "status" 4030 is not an HTTP status'
sed '15s/"key":"[^"]*"/"key":"000e08aabbee"/' a.jsonl >bad.jsonl
grep -q '"level":"device","key":"000e08aabbee"' bad.jsonl || fail "line 15 is not a device param: $(sed -n 15p a.jsonl)"
refused bad.jsonl 1 "sprov db restore: bad.jsonl:15: param Display_Name_1_ is for device 000e08aabbee, which is not in the dump"
sed '3{h;d};4G' a.jsonl >bad.jsonl
refused bad.jsonl 1 "sprov db restore: bad.jsonl:4: device 000e08aabb02 is repeated or out of order (sorted by MAC)"
sed '$s/"params":10/"params":9/' a.jsonl >bad.jsonl
refused bad.jsonl 1 "sprov db restore: bad.jsonl:20: the end line counts 5 devices, 9 params, 3 contacts; the dump holds 5, 10, 3"

note "another format version, or not a dump at all"
sed '1s/.*/{"sprov-dump":2,"sprov":"9.0"}/' a.jsonl >v2.jsonl
refused v2.jsonl 1 "sprov db restore: v2.jsonl:1: dump format version 2 is not supported (this sprov reads version 1)"
refused a.db 1 'sprov db restore: a.db:1: not an sprov dump (the first line is not a {"sprov-dump":1,...} header)'
: >empty.jsonl
refused empty.jsonl 1 "sprov db restore: empty.jsonl: empty, not an sprov dump"

note "truncated: inside a line, and at a line boundary"
head -c $(($(stat -c %s a.jsonl) - 30)) a.jsonl >cut.jsonl
refused cut.jsonl 1 "sprov db restore: cut.jsonl:20: truncated: the last line has no end of line"
head -n 12 a.jsonl >cut.jsonl
refused cut.jsonl 1 "sprov db restore: cut.jsonl: truncated: no end line after line 12"

note "unreadable: missing, a directory"
refused missing.jsonl 1 "sprov db restore: missing.jsonl: No such file or directory"
mkdir adir
refused adir 1 "sprov db restore: adir: read: Is a directory"

note "usage errors and a failed dump write nothing"
expect_rc 2 "$SPROV" db restore
[ "$ERR" = "sprov db restore: expected one FILE (- for standard input) (see 'sprov db restore --help')" ] || fail "$ERR"
expect_rc 2 "$SPROV" db dump
[ "$ERR" = "sprov db dump: expected one FILE (- for standard output) (see 'sprov db dump --help')" ] || fail "$ERR"
expect_rc 1 "$SPROV" db dump nodir/x.jsonl
expect_err_contains "sprov db dump: nodir/x.jsonl.tmp."
[ ! -e nodir ] || fail "a failed dump made a directory"
expect_rc 1 "$SPROV" db dump x.jsonl --store "sqlite:$T/none.db"
expect_err_contains "does not exist: run 'sprov db init'"
[ ! -e x.jsonl ] && [ ! -e none.db ] || fail "a failed dump wrote a file"
expect_rc 1 "$SPROV" db restore a.jsonl --store "sqlite:$T/none.db"
[ ! -e none.db ] || fail "restore created a store"
finish
