# sprov ca issue / revoke / crl / list: device bundles, their chain, CSV
# errors with line numbers, resume, --reissue, and revocation seen by
# `openssl verify -crl_check`.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"

rows() { sqlite3 ca/ca.db 'select count(*) from certs'; }
refused() {
	local st=$1 msg=$2; shift 2
	local h n
	h=$(tree_hash .)
	n=$(rows)
	expect_rc "$st" "$@"
	[ "$ERR" = "$msg" ] || fail "message: got '$ERR', want '$msg'"
	[ "$(tree_hash .)" = "$h" ] || fail "'$*' changed files"
	[ "$(rows)" = "$n" ] || fail "'$*' added a database row"
}
"$SPROV" ca init ca --org Acme >/dev/null

note "one device: bundle, modes, chain, EKU, subject, notAfter"
expect_rc 0 "$SPROV" ca issue ca --mac 00:0E:08:aa:bb:cc --serial 88012BA01234 --product SPA-962 --out out
expect_out_contains "000e08aabbcc: issued serial "
b=out/000e08aabbcc
[ "$(ls $b | tr '\n' ' ')" = "client.crt client.key firmware-ca.crt server-ca.crt " ] || fail "bundle: $(ls $b)"
[ "$(stat -c %a $b/client.key)" = 600 ] || fail "client.key mode"
cmp -s $b/server-ca.crt ca/server-ca.crt || fail "bundle server-ca.crt"
cmp -s $b/firmware-ca.crt ca/firmware-ca.crt || fail "bundle firmware-ca.crt"
openssl verify -CAfile ca/device-ca.crt $b/client.crt | grep -c ': OK' >/dev/null || fail "device cert vs device CA"
! openssl verify -CAfile ca/server-ca.crt $b/client.crt >/dev/null 2>&1 || fail "device cert verifies against the server CA"
openssl verify -purpose sslclient -CAfile ca/device-ca.crt $b/client.crt >/dev/null || fail "not a TLS client cert"
openssl x509 -in $b/client.crt -noout -subject | grep -cx 'subject=O = Acme, OU = SPA-962, CN = 000e08aabbcc, serialNumber = 88012BA01234' >/dev/null ||
	fail "subject: $(openssl x509 -in $b/client.crt -noout -subject)"
openssl x509 -in $b/client.crt -noout -enddate | grep -cx 'notAfter=Dec 31 23:59:59 9999 GMT' >/dev/null || fail "notAfter"
openssl x509 -in $b/client.crt -noout -ext extendedKeyUsage | grep -c 'TLS Web Client Authentication' >/dev/null || fail "EKU"
[ "$(openssl x509 -in $b/client.crt -noout -pubkey)" = "$(openssl pkey -in $b/client.key -pubout)" ] || fail "key/cert mismatch"
openssl pkey -in $b/client.key -check -noout >/dev/null || fail "client.key invalid"

note "MAC spellings, spa style, --days"
expect_rc 0 "$SPROV" ca issue ca --mac 000E08AABBCD --subject-style spa --serial 88012BA01235 --product SPA-962 --out out
openssl x509 -in out/000e08aabbcd/client.crt -noout -subject | grep -cx 'subject=OU = SPA-962, L = 88012BA01235, ST = 000e08aabbcd' >/dev/null ||
	fail "spa subject: $(openssl x509 -in out/000e08aabbcd/client.crt -noout -subject)"
expect_rc 0 "$SPROV" ca issue ca --mac 000e08aabbce --days 10 --out out
openssl x509 -in out/000e08aabbce/client.crt -noout -checkend $((11 * 86400)) >/dev/null && fail "--days ignored"

note "refusals: bad MAC, bad fields, already issued elsewhere"
refused 1 "sprov ca issue: '00:0e:08:aa:bb' is not a MAC address (expected 000e08aabbcc or 00:0e:08:aa:bb:cc)" \
	"$SPROV" ca issue ca --mac 00:0e:08:aa:bb --out out
refused 1 "sprov ca issue: serial 'a b' must be 1-64 characters of A-Z a-z 0-9 . _ : -" \
	"$SPROV" ca issue ca --mac 000e08000001 --serial 'a b' --out out
refused 1 "sprov ca issue: the server would not accept this identity: generic certificate (ciscogeneric) identifies no device" \
	"$SPROV" ca issue ca --mac 000e08000001 --serial ciscogeneric --subject-style spa --out out
first=$(sqlite3 ca/ca.db "select serial from certs where mac='000e08aabbcc'")
refused 1 "sprov ca issue: MAC 000e08aabbcc was already issued (serial $first on $(sqlite3 ca/ca.db "select strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, 'unixepoch') from certs where serial='$first'"), into $T/w/out) and its bundle is not in other; use --reissue to revoke it and issue a new one" \
	"$SPROV" ca issue ca --mac 000e08aabbcc --out other
refused 2 "sprov ca issue: give exactly one of --mac and --csv (see 'sprov ca issue --help')" "$SPROV" ca issue ca --out out
refused 2 "sprov ca issue: --out OUTDIR is required (see 'sprov ca issue --help')" "$SPROV" ca issue ca --mac 000e08000001

note "rerun of a delivered device skips it and exits 0"
h=$(tree_hash out)
expect_rc 0 "$SPROV" ca issue ca --mac 00:0e:08:AA:BB:CC --out out
expect_out_contains "000e08aabbcc: already issued (serial $first), bundle complete in out; skipped"
[ "$(tree_hash out)" = "$h" ] || fail "skip changed the bundle"

note "--reissue revokes the old certificate (superseded)"
expect_rc 0 "$SPROV" ca issue ca --mac 000e08aabbcc --reissue --out other
[ "$(sqlite3 ca/ca.db "select status||' '||reason from certs where serial='$first'")" = "revoked 4" ] ||
	fail "old cert not revoked as superseded"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where mac='000e08aabbcc' and status='valid'")" = 1 ] || fail "valid rows"
refused 1 "sprov ca issue: MAC 000e08aabbcc: the bundle in $T/w/out/000e08aabbcc holds certificate $first, which is not the device's valid certificate; use --reissue to replace it" \
	"$SPROV" ca issue ca --mac 000e08aabbcc --out out

note "CSV: header optional, comments, line numbers in errors, nothing issued on error"
cat > bad.csv <<'CSV'
mac,serial,product
# a comment
00:11:22:00:00:01,SN1,PAP2

00:11:22:00:00:02,SN 2,PAP2
CSV
refused 1 "sprov ca issue: bad.csv:5: serial 'SN 2' must be 1-64 characters of A-Z a-z 0-9 . _ : -" \
	"$SPROV" ca issue ca --csv bad.csv --out bulk
printf '001122000001,SN1,PAP2\n0011220000zz,SN2,PAP2\n' > bad2.csv
refused 1 "sprov ca issue: bad2.csv:2: '0011220000zz' is not a MAC address (expected 000e08aabbcc or 00:0e:08:aa:bb:cc)" \
	"$SPROV" ca issue ca --csv bad2.csv --out bulk
printf '001122000001,SN1,PAP2\n001122000002,,\n00:11:22:00:00:01,SN3,\n' > dup.csv
refused 1 "sprov ca issue: dup.csv:3: MAC 001122000001 repeats line 1" "$SPROV" ca issue ca --csv dup.csv --out bulk
printf '001122000001,SN1,PAP2,group,extra\n' > wide.csv
refused 1 "sprov ca issue: wide.csv:1: expected mac,serial,product[,group], got 5 fields" "$SPROV" ca issue ca --csv wide.csv --out bulk
printf '001122000001,SN1,\n000e08aabbcc,SN2,\n' > taken.csv
refused 1 "sprov ca issue: taken.csv:2: MAC 000e08aabbcc was already issued (serial $(sqlite3 ca/ca.db "select serial from certs where mac='000e08aabbcc' and status='valid'") on $(sqlite3 ca/ca.db "select strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, 'unixepoch') from certs where mac='000e08aabbcc' and status='valid'"), into $T/w/other) and its bundle is not in bulk; use --reissue to revoke it and issue a new one" \
	"$SPROV" ca issue ca --csv taken.csv --out bulk

note "CSV bulk issue and resume"
{ echo "mac,serial,product"; for i in $(seq 1 300); do printf '00:22:33:00:%02x:%02x,SN%d,PAP2T\n' $((i / 256)) $((i % 256)) $i; done; } > devs.csv
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out bulk
expect_out_contains "issued 300, skipped 0"
[ "$(ls bulk | wc -l)" = 300 ] || fail "bundles: $(ls bulk | wc -l)"
[ -z "$(ls -A bulk | grep '^\.')" ] || fail "leftovers: $(ls -A bulk | grep '^\.')"
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out bulk
expect_out_contains "issued 0, skipped 300"
# A bundle lost from OUTDIR is refused, not silently reissued.
rm -r bulk/002233000105
refused 1 "sprov ca issue: devs.csv:262: MAC 002233000105 was already issued (serial $(sqlite3 ca/ca.db "select serial from certs where mac='002233000105'") on $(sqlite3 ca/ca.db "select strftime('%Y-%m-%dT%H:%M:%SZ', issued_at, 'unixepoch') from certs where mac='002233000105'"), into $T/w/bulk) and its bundle is not in bulk; use --reissue to revoke it and issue a new one" \
	"$SPROV" ca issue ca --csv devs.csv --out bulk
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out bulk --reissue
expect_out_contains "issued 300, skipped 0"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where mac like '002233%' and status='valid'")" = 300 ] || fail "valid after reissue"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where mac like '002233%' and status='revoked' and reason=4")" = 300 ] || fail "revoked after reissue"
openssl verify -CAfile ca/device-ca.crt bulk/002233000105/client.crt >/dev/null || fail "reissued bundle"

note "revoke and CRL: openssl verify -crl_check reports the revoked device"
victim=$(sqlite3 ca/ca.db "select serial from certs where mac='002233000001' and status='valid'")
expect_rc 0 "$SPROV" ca revoke ca --mac 00:22:33:00:00:01 --reason keyCompromise
expect_out_contains "revoked $victim (keyCompromise), MAC 002233000001"
refused 1 "sprov ca revoke: MAC 002233000001 has no valid certificate in ca/ca.db" \
	"$SPROV" ca revoke ca --mac 002233000001
refused 1 "sprov ca revoke: certificate $victim is already revoked (keyCompromise)" \
	"$SPROV" ca revoke ca --serial "$victim"
refused 1 "sprov ca revoke: no certificate with serial 0123 in ca/ca.db" "$SPROV" ca revoke ca --serial 0x123
refused 2 "sprov ca revoke: reason 'stolen' is not one of keyCompromise, superseded, cessationOfOperation, affiliationChanged, caCompromise, unspecified (see 'sprov ca revoke --help')" "$SPROV" ca revoke ca --serial "$victim" --reason stolen
expect_rc 0 "$SPROV" ca crl ca --ca device
expect_out_contains "device CA CRL number 1, 302 revoked"
cat ca/device-ca.crt ca/device-ca.crl > chain-crl.pem
expect_rc 2 openssl verify -crl_check -CAfile chain-crl.pem bulk/002233000001/client.crt
expect_err_contains "certificate revoked"
openssl verify -crl_check -CAfile chain-crl.pem bulk/002233000002/client.crt | grep -c ': OK' >/dev/null || fail "good device with CRL"
# (captured first: with pipefail, an early-exiting grep -q could fail the pipe)
crltext=$(openssl crl -in ca/device-ca.crl -noout -text)
grep -A4 "$(echo "$victim" | tr a-f A-F)" <<<"$crltext" | grep -c 'Key Compromise' >/dev/null || fail "CRL reason"
n1=$(openssl crl -in ca/device-ca.crl -noout -crlnumber | cut -d= -f2)
expect_rc 0 "$SPROV" ca crl ca --ca device -o second.crl --next-update-days 7
n2=$(openssl crl -in second.crl -noout -crlnumber | cut -d= -f2)
n1=${n1#0x}; n2=${n2#0x}
[ -n "$n1" ] && [ -n "$n2" ] && [ $((16#$n2)) -gt $((16#$n1)) ] || fail "CRL number did not increase: $n1 -> $n2"
expect_rc 0 "$SPROV" ca crl ca --ca server
expect_out_contains "server CA CRL number 1, 0 revoked"
openssl crl -in ca/server-ca.crl -CAfile ca/server-ca.crt -noout 2>&1 | grep -c 'verify OK' >/dev/null || fail "server CRL signature"
refused 2 "sprov ca crl: --ca device or --ca server is required (see 'sprov ca crl --help')" "$SPROV" ca crl ca

note "list --revoked / --json"
expect_rc 0 "$SPROV" ca list ca --revoked
[ "$(echo "$OUT" | tail -n +2 | wc -l)" = 302 ] || fail "list --revoked"
expect_rc 0 "$SPROV" ca list ca --json
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == len({e["serial"] for e in d}), "duplicate serial"
v = [e for e in d if e["mac"] == "002233000001"]
assert sorted(e["status"] for e in v) == ["revoked", "revoked"], v
assert any(e.get("reason") == "keyCompromise" for e in v), v
' || fail "list --json"
finish
