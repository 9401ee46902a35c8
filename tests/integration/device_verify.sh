#!/usr/bin/env bash
# The device's strict certificate rules (docs/DEVICE.md): one openssl-made
# server certificate per rule, each refused by `sprov device check-cert` with
# exit 1 and a message naming the rule, nothing written; a good certificate
# and one issued by `sprov ca sign` pass; and through a real resync a refused
# server gets no request and the device applies nothing.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
P=$T/pki
SUBJ="/O=Provider/CN=$FQDN"
# v LEAF SIGNER SUBJECT KEYSPEC [X509-REQ OPTIONS...]: a certificate from a
# CSR on a key of KEYSPEC (openssl genpkey arguments), signed by SIGNER.
v() {
	local out=$P/$1 ca=$P/$2 subj=$3 key=$4; shift 4
	_ossl genpkey $key -out "$out.key"
	_ossl req -new -key "$out.key" -subj "$subj" -out "$out.csr"
	_ossl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" -days 365 \
	    -out "$out.crt" "$@"
}
EC="-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
_ext "$P/v-good.ext" "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=serverAuth" "subjectAltName=DNS:$FQDN"
_ext "$P/v-noeku.ext" "basicConstraints=critical,CA:FALSE" "subjectAltName=DNS:$FQDN"
_ext "$P/v-anyeku.ext" "extendedKeyUsage=anyExtendedKeyUsage"
_ext "$P/v-ca.ext" "basicConstraints=critical,CA:TRUE" \
	"keyUsage=critical,keyCertSign,digitalSignature" "extendedKeyUsage=serverAuth"
_ext "$P/v-crit.ext" "extendedKeyUsage=serverAuth" "1.3.6.1.4.1.99999.1=critical,ASN1:NULL"
_ext "$P/v-noaki.ext" "extendedKeyUsage=serverAuth" "authorityKeyIdentifier=none"
_ext "$P/v-nc-ca.ext" "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign" \
	"nameConstraints=critical,permitted;DNS:example.org"
_ext "$P/v-leaf.ext" "extendedKeyUsage=serverAuth"

v vgood server-ca "$SUBJ" "$EC" -extfile "$P/v-good.ext"
v vnoeku server-ca "$SUBJ" "$EC" -extfile "$P/v-noeku.ext"
v vanyeku server-ca "$SUBJ" "$EC" -extfile "$P/v-anyeku.ext"
v vca server-ca "$SUBJ" "$EC" -extfile "$P/v-ca.ext"
v vv1 server-ca "$SUBJ" "$EC"
v vcrit server-ca "$SUBJ" "$EC" -extfile "$P/v-crit.ext"
v vnegserial server-ca "$SUBJ" "$EC" -extfile "$P/v-leaf.ext" -set_serial -5
v vlongserial server-ca "$SUBJ" "$EC" -extfile "$P/v-leaf.ext" \
	-set_serial 0x80112233445566778899aabbccddeeff00112233
v vnoaki server-ca "$SUBJ" "$EC" -extfile "$P/v-noaki.ext"
v vncca server-ca "/O=Test Vendor/CN=Constrained CA" "$EC" -extfile "$P/v-nc-ca.ext"
v vnc vncca "/O=Provider/CN=$FQDN\/info" "$EC" -extfile "$P/v-leaf.ext"
v vsha1 server-ca "$SUBJ" "$EC" -extfile "$P/v-leaf.ext" -sha1
# MD5 needs an RSA signer: an RSA intermediate under the server CA.
_ext "$P/v-inter.ext" "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign"
v vrsaca server-ca "/O=Test Vendor/CN=RSA CA" "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" \
	-extfile "$P/v-inter.ext"
v vmd5 vrsaca "$SUBJ" "$EC" -extfile "$P/v-leaf.ext" -md5
v vrsa1024 server-ca "$SUBJ" "-algorithm RSA -pkeyopt rsa_keygen_bits:1024" -extfile "$P/v-leaf.ext"
v vp224 server-ca "$SUBJ" "-algorithm EC -pkeyopt ec_paramgen_curve:P-224" -extfile "$P/v-leaf.ext"
_ossl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$P/dsa.param"
v vdsa server-ca "$SUBJ" "-paramfile $P/dsa.param" -extfile "$P/v-leaf.ext"

# vc RC CERT [ARGS...]: check-cert against the server CA, nothing written.
vc() {
	local rc=$1 cert=$2 h; shift 2
	h=$(tree_hash "$P")
	expect_rc "$rc" "$SPROV" device check-cert --root "$P/server-ca.crt" --host "$FQDN" "$@" \
	    "$P/$cert.crt"
	[ "$(tree_hash "$P")" = "$h" ] || fail "check-cert $cert wrote something"
}
# rule CERT MESSAGE [ARGS...]: refused at check 1 with exactly this message.
rule() {
	local cert=$1 msg=$2; shift 2
	vc 1 "$cert" "$@"
	[ "$ERR" = "sprov device check-cert: server check 1 (chain): $msg" ] ||
		fail "$cert: stderr '$ERR', want 'sprov device check-cert: server check 1 (chain): $msg'"
	expect_out_contains "check 1 (chain): FAILED"
	expect_out_contains "refused: a device would refuse this certificate"
}

note "a good certificate passes every rule"
vc 0 vgood
expect_out_contains "accepted: a device would accept this certificate"
openssl verify -x509_strict -purpose sslserver -CAfile "$P/server-ca.crt" "$P/vgood.crt" >/dev/null ||
	fail "the good certificate fails openssl verify -x509_strict"

note "one certificate per rule"
rule vnoeku "EKU rule: the server certificate has no extended key usage (serverAuth is required)"
rule vanyeku "unsuitable certificate purpose (at depth 0)"
rule vca "CA rule: the server certificate is a CA (basicConstraints CA:TRUE)"
rule vv1 "version rule: the certificate at depth 0 is X.509 v1, not v3"
rule vcrit "critical extension rule: the certificate at depth 0 has an unknown critical extension 1.3.6.1.4.1.99999.1"
rule vnegserial "serial rule: the certificate at depth 0 has a serial number that is not positive"
rule vlongserial "serial rule: the certificate at depth 0 has a serial number longer than 20 octets"
rule vnoaki "Missing Authority Key Identifier (at depth 0)"
rule vnc "name constraints rule: the FQDN '$FQDN' is outside the name constraints of the certificate at depth 1" \
	--chain "$P/vncca.crt"
rule vsha1 "algorithm rule: the certificate at depth 0 is signed with SHA1 (SHA-1 and MD5 are refused)"
rule vmd5 "algorithm rule: the certificate at depth 0 is signed with MD5 (SHA-1 and MD5 are refused)" \
	--chain "$P/vrsaca.crt"
rule vrsa1024 "algorithm rule: the certificate at depth 0 has an RSA key of 1024 bits (at least 2048)"
rule vp224 "algorithm rule: the certificate at depth 0 has an EC key on curve secp224r1 (at least P-256)"
rule vdsa "algorithm rule: the certificate at depth 0 has a DSA key (refused)"

note "openssl verify -x509_strict accepts what the device refuses (the device is stricter)"
for c in vnoeku vv1 vnegserial vlongserial vsha1 vrsa1024 vp224 vdsa; do
	openssl verify -x509_strict -purpose sslserver -CAfile "$P/server-ca.crt" "$P/$c.crt" >/dev/null 2>&1 ||
		fail "$c: openssl verify -x509_strict refuses it too; the test shows nothing"
done

note "a certificate issued by sprov ca sign passes every rule"
expect_rc 0 "$SPROV" ca init "$T/ca" --org "Example Phones"
_key "$T/ps.key"
_ossl req -new -key "$T/ps.key" -subj "/C=US/ST=000e08aabbcc/CN=$FQDN\/mailto:admin@example.test" -out "$T/ps.csr"
expect_rc 0 "$SPROV" ca sign "$T/ca" "$T/ps.csr" -o "$T/ps.crt"
expect_rc 0 "$SPROV" device check-cert --root "$T/ca/server-ca.crt" --host "$FQDN" "$T/ps.crt"
expect_out_contains "accepted: a device would accept this certificate"
_key "$T/ps-rsa.key"
_ossl req -new -newkey rsa:2048 -nodes -keyout "$T/ps-rsa.key" -subj "/CN=$FQDN" -out "$T/ps-rsa.csr"
expect_rc 0 "$SPROV" ca sign "$T/ca" "$T/ps-rsa.csr" -o "$T/ps-rsa.crt"
expect_rc 0 "$SPROV" device check-cert --root "$T/ca/server-ca.crt" --host "$FQDN" "$T/ps-rsa.crt"

note "through a real resync: refused servers get no request, nothing is applied"
start_dns
# (nginx itself refuses to serve a SHA-1 or 1024-bit certificate.)
start_nginx vgood vnoeku vcrit vnegserial
printf '<flat-profile><SIP_User_ID_1_>alice</SIP_User_ID_1_></flat-profile>\n' >"$T/www/good.xml"
D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$P/bundle" --rule "https://$FQDN:$PORT_vgood/good.xml"
for c in vnoeku:"EKU rule: the server certificate has no extended key usage" \
    vcrit:"critical extension rule: the certificate at depth 0 has an unknown critical extension" \
    vnegserial:"serial rule: the certificate at depth 0 has a serial number that is not positive"; do
	name=${c%%:*}
	msg=${c#*:}
	eval "port=\$PORT_$name"
	before=$(access_count)
	h=$(store_hash "$D")
	expect_rc 1 "$SPROV" device resync "$D" --dns-server "$DNS" --json \
	    --rule "https://$FQDN:$port/good.xml"
	expect_err_contains "server check 1 (chain): $msg"
	expect_out_contains '"check":"chain"'
	expect_out_contains '"ok":false'
	[ "$(store_hash "$D")" = "$h" ] || fail "$name: the device applied something"
	ls "$D" | grep -q tmp && fail "$name: temporary file left: $(ls "$D")"
	[ "$(access_count)" = "$before" ] || fail "$name: a request reached the server"
done
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS"
grep -q '<SIP_User_ID_1_>alice</SIP_User_ID_1_>' "$D/params.xml" || fail "good profile not applied"
finish
