# sprov ca init / sign / policy: interop with `openssl req` CSRs and
# `openssl verify`, and every refusal: exact status and message, no file
# written, no database row.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"

rows() { sqlite3 ca/ca.db 'select count(*) from certs'; }
# refused STATUS MESSAGE CMD...: exact status and stderr, nothing changed.
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
oreq() { # oreq FILE SUBJ KEYOPTS...: a CSR made by openssl req
	local f=$1 subj=$2; shift 2
	openssl req -new -nodes -keyout "$f.key" -subj "$subj" -out "$f" "$@" 2>/dev/null
}

note "init makes two roots, 0600 keys, ca.db in WAL mode"
expect_rc 0 "$SPROV" ca init ca --org "Example Phones"
for f in server-ca.key device-ca.key; do
	[ "$(stat -c %a ca/$f)" = 600 ] || fail "$f mode"
done
[ "$(sqlite3 ca/ca.db 'pragma journal_mode')" = wal ] || fail "not WAL"
openssl x509 -in ca/server-ca.crt -noout -subject | grep -c 'CN = Example Phones Server CA' >/dev/null || fail "server root"
openssl x509 -in ca/device-ca.crt -noout -enddate | grep -c 'Dec 31 23:59:59 9999' >/dev/null || fail "root expiry"
openssl verify -CAfile ca/server-ca.crt ca/server-ca.crt >/dev/null || fail "server root self-verify"
! openssl verify -CAfile ca/server-ca.crt ca/device-ca.crt >/dev/null 2>&1 || fail "roots are not independent"

note "init refuses a non-empty directory"
mkdir full && touch full/x
h=$(tree_hash .)
expect_rc 1 "$SPROV" ca init full
[ "$ERR" = "sprov ca init: full: directory is not empty; refusing to create a CA there" ] || fail "msg: $ERR"
[ "$(tree_hash .)" = "$h" ] || fail "init wrote into a non-empty dir"
expect_rc 1 "$SPROV" ca init ca
expect_err_contains "directory is not empty"
expect_rc 1 "$SPROV" ca init ca2 --allow-domain localhost
[ "$ERR" = "sprov ca init: allowed domain: 'localhost' is not a fully qualified domain name: needs at least two labels" ] ||
	fail "msg: $ERR"
[ ! -e ca2 ] || fail "init with a bad domain created ca2"

note "openssl req CSRs: EC P-256, EC P-384, RSA-2048 are signed and verify"
oreq ec.csr "/CN=sprov.callme.com" -newkey ec -pkeyopt ec_paramgen_curve:P-256
oreq ec384.csr "/CN=prov.example.net" -newkey ec -pkeyopt ec_paramgen_curve:P-384
oreq rsa.csr "/C=US/O=Telco/CN=pv.telco.net\/mailto:admin@telco.net" -newkey rsa:2048
expect_rc 0 "$SPROV" ca sign ca ec.csr
expect_out_contains "subject: CN=sprov.callme.com"
expect_out_contains "serial:  "
expect_out_contains "expires: "
openssl verify -CAfile ca/server-ca.crt provserver.crt | grep -c ': OK' >/dev/null || fail "verify provserver.crt"
! openssl verify -CAfile ca/device-ca.crt provserver.crt >/dev/null 2>&1 || fail "server cert verifies against device CA"
openssl verify -purpose sslserver -CAfile ca/server-ca.crt provserver.crt >/dev/null || fail "not a TLS server cert"
openssl x509 -in provserver.crt -noout -ext subjectAltName | grep -c 'DNS:sprov.callme.com' >/dev/null || fail "SAN"
openssl x509 -in provserver.crt -noout -ext basicConstraints | grep -c 'CA:FALSE' >/dev/null || fail "CA:FALSE"
openssl x509 -in provserver.crt -noout -ext subjectKeyIdentifier,authorityKeyIdentifier | grep -c ':' >/dev/null || fail "SKI/AKI"
serial=$(openssl x509 -in provserver.crt -noout -serial | cut -d= -f2 | tr A-F a-f)
[ ${#serial} = 32 ] || fail "serial is not 128 bits: $serial"
[ "$(sqlite3 ca/ca.db "select ca||' '||status from certs where serial='$serial'")" = "server valid" ] ||
	fail "signed cert not recorded"
expect_rc 0 "$SPROV" ca sign ca ec384.csr -o ec384.crt --days 30
openssl verify -CAfile ca/server-ca.crt ec384.crt >/dev/null || fail "verify P-384"
expect_rc 0 "$SPROV" ca sign ca rsa.csr -o rsa.crt
openssl verify -CAfile ca/server-ca.crt rsa.crt >/dev/null || fail "verify RSA"
openssl x509 -in rsa.crt -noout -subject | grep -c 'CN = pv.telco.net/mailto:admin@telco.net' >/dev/null || fail "CN not kept exactly"
! openssl x509 -in rsa.crt -noout -subject | grep -q 'O = Telco' || fail "O copied from the CSR (CN alone is signed)"
openssl x509 -in rsa.crt -noout -ext subjectAltName | grep -c 'DNS:pv.telco.net$' >/dev/null || fail "SAN is the FQDN only"
openssl x509 -in rsa.crt -noout -ext keyUsage | grep -c 'Key Encipherment' >/dev/null || fail "RSA keyUsage"

note "DER CSRs are accepted too"
openssl req -in ec.csr -outform DER -out ec.der
expect_rc 0 "$SPROV" ca sign ca ec.der -o der.crt
openssl verify -CAfile ca/server-ca.crt der.crt >/dev/null || fail "verify DER-signed"

note "refusals name the rule, write nothing, record nothing"
oreq rsa1024.csr "/CN=sprov.callme.com" -newkey rsa:1024
refused 1 "sprov ca sign: CSR rejected: key rule: RSA key of 1024 bits is too small (at least 2048 bits)" \
	"$SPROV" ca sign ca rsa1024.csr -o x.crt
oreq p521.csr "/CN=sprov.callme.com" -newkey ec -pkeyopt ec_paramgen_curve:P-521
refused 1 "sprov ca sign: CSR rejected: key rule: EC curve secp521r1 is not allowed (only P-256 and P-384)" \
	"$SPROV" ca sign ca p521.csr -o x.crt
oreq ed.csr "/CN=sprov.callme.com" -newkey ed25519
refused 1 "sprov ca sign: CSR rejected: key rule: ED25519 keys are not allowed (RSA >= 2048 bits, EC P-256 or P-384)" \
	"$SPROV" ca sign ca ed.csr -o x.crt
oreq two.csr "/CN=a.example.com/CN=b.example.com" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: CN rule: the subject has more than one CN" \
	"$SPROV" ca sign ca two.csr -o x.crt
oreq nocn.csr "/O=Telco" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: CN rule: the subject has no CN" \
	"$SPROV" ca sign ca nocn.csr -o x.crt
oreq short.csr "/CN=foo" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: CN 'foo' is not a fully qualified domain name: needs at least two labels" \
	"$SPROV" ca sign ca short.csr -o x.crt
oreq wild.csr "/CN=*.callme.com" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: CN '*.callme.com' is not a fully qualified domain name: wildcards are not allowed" \
	"$SPROV" ca sign ca wild.csr -o x.crt
oreq ip.csr "/CN=10.0.0.1" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: CN '10.0.0.1' is not a fully qualified domain name: it is an IP address" \
	"$SPROV" ca sign ca ip.csr -o x.crt
# A CSR whose signature no longer matches (one bit of the signature flipped).
python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[-1]^=1; open(sys.argv[2],"wb").write(d)' ec.der bad-sig.der
refused 1 "sprov ca sign: CSR rejected: signature rule: the CSR's own signature does not verify" \
	"$SPROV" ca sign ca bad-sig.der -o x.crt
echo "not a csr" > junk.csr
refused 1 "sprov ca sign: junk.csr: not a DER or PEM certificate request" "$SPROV" ca sign ca junk.csr -o x.crt
refused 1 "sprov ca sign: missing.csr: No such file or directory" "$SPROV" ca sign ca missing.csr -o x.crt
refused 1 "sprov ca sign: provserver.crt: file exists (use --force to replace it)" "$SPROV" ca sign ca ec.csr
refused 1 "sprov ca sign: nope: no CA here (missing ca.db; run 'sprov ca init nope' first)" \
	"$SPROV" ca sign nope ec.csr -o x.crt
refused 2 "sprov ca sign: expected DIR and CSR (see 'sprov ca sign --help')" "$SPROV" ca sign ca
refused 2 "sprov ca sign: --days: 0 is out of range (1 to 36500) (see 'sprov ca sign --help')" "$SPROV" ca sign ca ec.csr --days 0

note "allowed-domain policy"
expect_rc 0 "$SPROV" ca policy ca --allow-domain telco.net --allow-domain Example.NET
expect_out_contains "allowed domain: example.net"
expect_out_contains "allowed domain: telco.net"
refused 1 "sprov ca sign: CSR rejected: allowed-domain rule: 'sprov.callme.com' is not within an allowed domain (example.net, telco.net)" \
	"$SPROV" ca sign ca ec.csr -o x.crt
oreq evil.csr "/CN=eviltelco.net" -newkey ec -pkeyopt ec_paramgen_curve:P-256
refused 1 "sprov ca sign: CSR rejected: allowed-domain rule: 'eviltelco.net' is not within an allowed domain (example.net, telco.net)" \
	"$SPROV" ca sign ca evil.csr -o x.crt
expect_rc 0 "$SPROV" ca sign ca rsa.csr -o rsa2.crt
expect_rc 0 "$SPROV" ca sign ca ec384.csr -o ec384b.crt
refused 1 "sprov ca policy: allowed domain: '*.x.com' is not a fully qualified domain name: wildcards are not allowed" \
	"$SPROV" ca policy ca --allow-domain '*.x.com'
refused 1 "sprov ca policy: 'nowhere.org' is not an allowed domain" \
	"$SPROV" ca policy ca --remove-domain nowhere.org
expect_rc 0 "$SPROV" ca policy ca --remove-domain telco.net
expect_rc 0 "$SPROV" ca policy ca
[ "$OUT" = "allowed domain: example.net" ] || fail "policy list: $OUT"
expect_rc 0 "$SPROV" ca policy ca --clear
expect_out_contains "any (no allowed-domain policy)"
expect_rc 0 "$SPROV" ca sign ca ec.csr -o again.crt
mkdir pol && expect_rc 0 "$SPROV" ca init pol/ca --allow-domain callme.com
expect_rc 0 "$SPROV" ca policy pol/ca
[ "$OUT" = "allowed domain: callme.com" ] || fail "init --allow-domain: $OUT"

note "list shows every certificate, serials unique"
expect_rc 0 "$SPROV" ca list ca
[ "$(echo "$OUT" | tail -n +2 | wc -l)" = "$(rows)" ] || fail "list rows"
[ "$(echo "$OUT" | tail -n +2 | awk '{print $1}' | sort -u | wc -l)" = "$(rows)" ] || fail "duplicate serial"
expect_rc 0 "$SPROV" ca list ca --json
echo "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert all(e["ca"]=="server" for e in d), d' ||
	fail "json list"
finish
