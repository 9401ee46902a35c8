#!/bin/bash
# SQLite and PostgreSQL give byte-identical profiles for the same data:
# both stores are filled by the same `sprov db` commands (every level,
# access inherited and overridden, values with markup, UTF-8 and tabs, an
# unset, a disabled device), a server on each serves several devices, a
# disabled and an unknown one (defaults only), and the bodies are compared
# byte for byte.  And `db dump` of the SQLite store, restored into
# PostgreSQL, dumps back byte for byte (devices, levels, contacts).
SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
PG_STORE=$SPROV_STORE
SQ_STORE="sqlite:$T/identical.db"

serve_pki
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa03 --serial SNA03 --product SPA2102 \
	--out "$T/dev" >/dev/null
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa04 --serial SNA04 --product SPA2102 \
	--out "$T/dev" >/dev/null
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa05 --serial SNA05 --product SPA-962 \
	--out "$T/dev" >/dev/null

populate() {
	export SPROV_STORE=$1
	local d=000e08aaaa
	"$SPROV" db init >/dev/null
	"$SPROV" db devices add ${d}01 --serial SNA01 --product SPA2102 --group office
	"$SPROV" db devices add ${d}02 --serial SNA02 --product SPA-962
	"$SPROV" db devices add ${d}03 --serial SNA03 --product SPA2102 --group lab
	"$SPROV" db devices add ${d}04 --serial SNA04 --product SPA2102 --disabled
	"$SPROV" db params set --default Proxy_1_=sip.example.net --access na
	"$SPROV" db params set --default Resync_Periodic=3600 --access ro
	"$SPROV" db params set --default Display_Name_1_='Caf'$'\xc3\xa9'' <&> "q"'
	"$SPROV" db params set --default Zeta=z --access rw
	"$SPROV" db params set --default Alpha=a
	"$SPROV" db params set --product SPA2102 Dial_Plan_1_='(xx.|*xx)' --access rw
	"$SPROV" db params set --product SPA2102 Proxy_1_=pbx.example.net
	"$SPROV" db params set --product SPA-962 Resync_Periodic=600
	"$SPROV" db params set --group office Dial_Plan_1_='(9xx.)'
	"$SPROV" db params set --group office Note='tab'$'\t''inside'
	"$SPROV" db params set --group lab Zeta=lab --access na
	"$SPROV" db params set --device ${d}01 Password_1_=secretAAAA
	"$SPROV" db params set --device ${d}01 Alpha=mine --access ro
	"$SPROV" db params set --device ${d}02 Password_1_=secretBBBB --access na
	"$SPROV" db params set --device ${d}03 Password_1_=secretCCCC
	"$SPROV" db params set --device ${d}03 Temp=gone
	"$SPROV" db params unset --device ${d}03 Temp
	"$SPROV" db params set --device ${d}04 Password_1_=secretDDDD
}
populate "$SQ_STORE" >/dev/null
populate "$PG_STORE" >/dev/null

fetch_all() {
	local be=$1 m
	serve_start --crl "$T/device-ca.crl" --store "$2" --unknown-device defaults
	for m in 01 02 03 04 05; do
		get "$T/dev/000e08aaaa$m" "/profiles/000e08aaaa$m.xml"
		echo "$CODE" >"$T/$be.$m.code"
		cp "$T/body" "$T/$be.$m.xml"
	done
	serve_stop
}
fetch_all sqlite "$SQ_STORE"
fetch_all pg "$PG_STORE"

note "the same status and the same bytes from both stores, device by device"
for m in 01 02 03 04 05; do
	cmp "$T/sqlite.$m.code" "$T/pg.$m.code" ||
		fail "device $m: HTTP $(cat "$T/sqlite.$m.code") on SQLite, $(cat "$T/pg.$m.code") on PostgreSQL"
	cmp "$T/sqlite.$m.xml" "$T/pg.$m.xml" ||
		fail "device $m: the profiles differ: $(diff "$T/sqlite.$m.xml" "$T/pg.$m.xml")"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "the comparison is not empty: every level; disabled and unknown get the defaults"
[ "$(cat "$T"/pg.0?.code | tr '\n' ' ')" = "200 200 200 200 200 " ] ||
	fail "codes: $(cat "$T"/pg.0?.code | tr '\n' ' ')"
! grep -q secretDDDD "$T/pg.04.xml" || fail "the disabled device got its password"
grep -q '<Dial_Plan_1_ ua="rw">(9xx.)</Dial_Plan_1_>' "$T/pg.01.xml" &&
	grep -q 'Caf.*&lt;&amp;&gt;' "$T/pg.01.xml" && grep -q secretAAAA "$T/pg.01.xml" ||
	fail "device 01's profile lacks a level: $(cat "$T/pg.01.xml")"
! grep -q Password "$T/pg.05.xml" || fail "the unknown device got a device's password"
grep -q Resync_Periodic "$T/pg.05.xml" || fail "the unknown device lacks the defaults"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a SQLite dump restored into PostgreSQL dumps back to the same bytes"
PG2=$(pg_createdb "ident2_$$")
expect_rc 0 "$SPROV" db dump "$T/sq.jsonl" --store "$SQ_STORE"
grep -q '"secretAAAA"' "$T/sq.jsonl" || fail "the dump lacks a value"
grep -q '000e08aaaa05' "$T/sq.jsonl" || fail "the dump lacks the unknown device's contact"
expect_rc 0 "$SPROV" db init --store "$PG2"
expect_rc 0 "$SPROV" db restore "$T/sq.jsonl" --store "$PG2"
expect_rc 0 "$SPROV" db dump "$T/pg.jsonl" --store "$PG2"
cmp "$T/sq.jsonl" "$T/pg.jsonl" || fail "the dumps differ: $(diff "$T/sq.jsonl" "$T/pg.jsonl" | head)"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
