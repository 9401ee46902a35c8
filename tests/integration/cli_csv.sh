# One devices.csv for the vendor and the provider: `sprov ca issue --csv` and
# `sprov db devices import` read the same file (header, quotes, CRLF, group
# column) with the same reader (common/csv.c), and refuse the same bad rows
# with the same FILE:LINE message, writing nothing: no bundle directory, no
# ca.db row, no device row.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed"
unset SPROV_STORE
cd "$T"
S="sqlite:$T/p.db"
"$SPROV" ca init ca >/dev/null
"$SPROV" db init --store "$S" >/dev/null

certs() { sqlite3 ca/ca.db 'select count(*) from certs'; }
dbhash() { sqlite3 "$T/p.db" .dump | sha256sum | cut -d' ' -f1; }
# both_refuse FILE MESSAGE: each command exits 1 with "sprov CMD: MESSAGE"
# and writes nothing.
both_refuse() {
	local f=$1 msg=$2 h n d
	h=$(tree_hash ca); n=$(certs); d=$(dbhash)
	expect_rc 1 "$SPROV" ca issue ca --csv "$f" --out bad-out
	[ "$ERR" = "sprov ca issue: $msg" ] || fail "ca issue: got '$ERR', want 'sprov ca issue: $msg'"
	[ ! -e bad-out ] || fail "ca issue --csv $f made the bundle directory"
	[ "$(certs)" = "$n" ] || fail "ca issue --csv $f added a ca.db row"
	[ "$(tree_hash ca)" = "$h" ] || fail "ca issue --csv $f changed the CA directory"
	expect_rc 1 "$SPROV" db devices import "$f" --store "$S"
	[ "$ERR" = "sprov db devices import: $msg" ] ||
		fail "db devices import: got '$ERR', want 'sprov db devices import: $msg'"
	[ "$(dbhash)" = "$d" ] || fail "db devices import $f changed the database"
}

note "the same file feeds both commands"
printf '%s\r\n' 'mac,serial,product,group' '# three phones' \
	'00:0E:08:AA:BB:01,"88012BA00001",SPA-962,office' \
	'"000e08aabb02", 88012BA00002 ,"SPA-962",' \
	'000E08AABB03,88012BA00003,PAP2T,"lab"' >devices.csv
expect_rc 0 "$SPROV" ca issue ca --csv devices.csv --out bundles
expect_out_contains "issued 3, skipped 0"
[ "$(ls bundles | tr '\n' ' ')" = "000e08aabb01 000e08aabb02 000e08aabb03 " ] ||
	fail "bundles: $(ls bundles)"
openssl x509 -in bundles/000e08aabb02/client.crt -noout -subject |
	grep -cx 'subject=O = sprov, OU = SPA-962, CN = 000e08aabb02, serialNumber = 88012BA00002' >/dev/null ||
	fail "subject: $(openssl x509 -in bundles/000e08aabb02/client.crt -noout -subject)"
expect_rc 0 "$SPROV" db devices import devices.csv --store "$S"
expect_out_contains "imported 3 devices from devices.csv"
[ "$(sqlite3 "$T/p.db" "select mac||'/'||serial||'/'||product||'/'||grp from devices order by mac" | tr '\n' ' ')" = \
    "000e08aabb01/88012BA00001/SPA-962/office 000e08aabb02/88012BA00002/SPA-962/ 000e08aabb03/88012BA00003/PAP2T/lab " ] ||
	fail "device rows: $(sqlite3 "$T/p.db" 'select * from devices')"

note "bad rows: refused by both with FILE:LINE, nothing written"
good='mac,serial,product,group\n000e08cc0001,SN1,SPA-962,office\n'
printf "$good"'000e08cc0002,SN2\n' >short.csv
both_refuse short.csv "short.csv:3: expected mac,serial,product[,group], got 2 fields"
printf "$good"'000e08cc0002\n' >one.csv
both_refuse one.csv "one.csv:3: expected mac,serial,product[,group], got 1 field"
printf "$good"'000e08cc0002,SN2,SPA-962,office,extra\n' >wide.csv
both_refuse wide.csv "wide.csv:3: expected mac,serial,product[,group], got 5 fields"
printf "$good"'000e08cc0002,"SN2,SPA-962\n' >quote.csv
both_refuse quote.csv "quote.csv:3: unterminated quoted field"
printf "$good"'000e08cc0002,SN"2,SPA-962\n' >stray.csv
both_refuse stray.csv "stray.csv:3: quote inside an unquoted field"
printf "$good"'000e08cc0002,SN2\0,SPA-962\n' >nul.csv
both_refuse nul.csv "nul.csv:3: NUL byte"
printf "$good"'000e08cc0002,SN2,SPA-962\n000e08cc000z,SN3,SPA-962\n' >mac.csv
both_refuse mac.csv "mac.csv:4: '000e08cc000z' is not a MAC address (expected 000e08aabbcc or 00:0e:08:aa:bb:cc)"
{ printf "$good"; printf '000e08cc0002,%0300d,SPA-962\n' 0; } >long.csv
both_refuse long.csv "long.csv:3: field longer than 256 bytes"
printf 'mac,serial,product\n# nothing\n' >empty.csv
both_refuse empty.csv "empty.csv: no devices in the file"
echo "ok ($_TESTS_RUN checks)"
