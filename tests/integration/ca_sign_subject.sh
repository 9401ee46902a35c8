# sprov ca sign builds the server certificate's subject from the CN alone.
# A CSR that also carries a device's subject attributes (ST=<MAC>,
# L=<serial>, OU=<product>, the SPA-style device identity) must not yield a
# certificate that a server trusting both vendor roots would read as that
# device: nothing but the CN is copied from the CSR.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"

oreq() { # oreq FILE SUBJ: an EC P-256 CSR made by openssl req
	openssl req -new -nodes -keyout "$1.key" -subj "$2" -out "$1" \
	    -newkey ec -pkeyopt ec_paramgen_curve:P-256 2>/dev/null
}
# subject_is CERT WANT: the exact subject, every attribute shown.
subject_is() {
	local got
	got=$(openssl x509 -in "$1" -noout -subject -nameopt sep_comma_plus_space,sname,utf8)
	[ "$got" = "subject=$2" ] || fail "$1: subject is '$got', want 'subject=$2'"
}

expect_rc 0 "$SPROV" ca init ca --org "Example Phones"

note "a CSR with a device's ST/L/OU: only the CN is signed"
oreq evil.csr "/C=US/ST=0011223344aa/L=SN12345/O=Example Phones/OU=SPA525G2/CN=prov.evil.test/emailAddress=x@evil.test"
expect_rc 0 "$SPROV" ca sign ca evil.csr -o evil.crt
[ "$OUT" != "${OUT#*subject: CN=prov.evil.test
}" ] || fail "stdout does not show the CN-only subject: $OUT"
subject_is evil.crt "CN=prov.evil.test"
for a in ST L OU O C emailAddress; do
	! openssl x509 -in evil.crt -noout -subject -nameopt sep_multiline,sname |
	    grep -q "^ *$a=" || fail "evil.crt kept $a from the CSR"
done
openssl verify -purpose sslserver -CAfile ca/server-ca.crt evil.crt >/dev/null || fail "evil.crt does not verify"
[ "$(sqlite3 ca/ca.db "select subject from certs where ca='server'")" = "CN=prov.evil.test" ] ||
	fail "ca.db records the CSR's subject: $(sqlite3 ca/ca.db 'select subject from certs')"

note "the CN with '/extra info' (seed page examples) is kept exactly, alone"
oreq extra.csr "/O=Telco/CN=pv.telco.net\/mailto:admin@telco.net"
expect_rc 0 "$SPROV" ca sign ca extra.csr -o extra.crt
subject_is extra.crt "CN=pv.telco.net/mailto:admin@telco.net"
openssl x509 -in extra.crt -noout -ext subjectAltName | grep -q 'DNS:pv.telco.net$' || fail "SAN of extra.crt"
oreq extra2.csr "/CN=prof.voice.com\/info@voice.com"
expect_rc 0 "$SPROV" ca sign ca extra2.csr -o extra2.crt
subject_is extra2.crt "CN=prof.voice.com/info@voice.com"

note "the CN is a UTF8String even when the CSR used a PrintableString"
openssl req -new -nodes -keyout b.key -subj "/CN=prov.example.net" -out b.csr \
    -newkey ec -pkeyopt ec_paramgen_curve:P-256 -config <(printf '[req]\ndistinguished_name=d\nstring_mask=pkix\n[d]\n') 2>/dev/null
expect_rc 0 "$SPROV" ca sign ca b.csr -o b.crt
openssl asn1parse -in b.crt | grep -A1 ':commonName' | grep -q 'UTF8STRING' || fail "CN is not a UTF8String"
finish
