#!/bin/bash
# sprov ca with its three keys in a PKCS#11 token (SoftHSM2): init --pkcs11
# leaves no key file in DIR, the keys are sensitive and never extractable;
# issue (one and --csv), sign, revoke, crl and list work unchanged and every
# result verifies with openssl against the CA certificates.  A wrong PIN, a
# missing token, a missing module and a PIN file others can read are
# refused with one line, and nothing is written (DIR, ca.db, the token).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"

. "$SPROV_SRCDIR/tests/lib/softhsm.sh"
softhsm_token vendor-ca 2468
softhsm_token spare 2468
URI='pkcs11:token=vendor-ca'

# What a refusal must leave alone: files here and the token's objects
# (SoftHSM2 keeps one file per object in the token directory).
state() { tree_hash .; (cd "$T/tokens" && find . -name '*.object' | LC_ALL=C sort); }
rows() { sqlite3 ca/ca.db 'select count(*) from certs'; }
# refused STATUS MESSAGE CMD...: exact status and one-line stderr, nothing changed.
refused() {
	local st=$1 msg=$2 before n=""; shift 2
	before=$(state)
	[ -e ca/ca.db ] && n=$(rows)
	expect_rc "$st" "$@"
	[ "$ERR" = "$msg" ] || fail "message: got '$ERR', want '$msg'"
	[ "$(state)" = "$before" ] || fail "'$*' changed files or token objects"
	[ -z "$n" ] || [ "$(rows)" = "$n" ] || fail "'$*' added a database row"
}

note "init refusals before the CA exists: nothing in DIR, nothing in the token"
SPROV_PKCS11_PIN=1111 refused 1 "sprov ca init: token 'vendor-ca': login refused: wrong PIN, or the PIN is locked" \
	"$SPROV" ca init ca --pkcs11 "$URI" --pkcs11-module "$MODULE"
[ ! -e ca ] || fail "a wrong PIN created DIR"
SPROV_PKCS11_PIN=2468 refused 1 "sprov ca init: no token matches 'pkcs11:token=nope' in PKCS#11 module $MODULE" \
	"$SPROV" ca init ca --pkcs11 'pkcs11:token=nope' --pkcs11-module "$MODULE"
SPROV_PKCS11_PIN=2468 refused 1 "sprov ca init: PKCS#11 module $T/none.so: No such file or directory" \
	"$SPROV" ca init ca --pkcs11 "$URI" --pkcs11-module "$T/none.so"
printf '2468\n' >pin.txt
chmod 644 pin.txt
refused 1 "sprov ca init: PIN file pin.txt: mode 0644 lets group or others read it; chmod 600 it" \
	"$SPROV" ca init ca --pkcs11 "$URI" --pkcs11-module "$MODULE" --pin-file pin.txt
refused 2 "sprov ca init: the token needs a PIN: set SPROV_PKCS11_PIN or give --pin-file FILE" \
	"$SPROV" ca init ca --pkcs11 "$URI" --pkcs11-module "$MODULE"
SPROV_PKCS11_PIN=2468 refused 1 "sprov ca init: 'pkcs11:token=vendor-ca;object=k': names a token, not a key (no object=, id= or type=): sprov names the keys it makes" \
	"$SPROV" ca init ca --pkcs11 'pkcs11:token=vendor-ca;object=k' --pkcs11-module "$MODULE"
SPROV_PKCS11_PIN=2468 refused 1 "sprov ca init: 'pkcs11:token=vendor-ca': a PIN is never put in a URI (command lines are visible to every user); use SPROV_PKCS11_PIN or a PIN file" \
	"$SPROV" ca init ca --pkcs11 'pkcs11:token=vendor-ca?pin-value=2468' --pkcs11-module "$MODULE"
refused 2 "sprov ca init: --pkcs11-module and --pin-file go with --pkcs11 (see 'sprov ca init --help')" \
	"$SPROV" ca init ca --pkcs11-module "$MODULE"
rm pin.txt

note "init --pkcs11: certificates and ca.db in DIR, no key file; the keys stay in the token"
printf '2468\n' >"$T/pin"
chmod 600 "$T/pin"
expect_rc 0 "$SPROV" ca init ca --org "Token Phones" --pkcs11 "$URI" --pkcs11-module "$MODULE" \
	--pin-file "$T/pin"
[ "$(ls ca | LC_ALL=C sort | tr '\n' ' ')" = "ca.db ca.db-shm ca.db-wal device-ca.crt firmware-ca.crt server-ca.crt " ] ||
	[ "$(ls ca | LC_ALL=C sort | tr '\n' ' ')" = "ca.db device-ca.crt firmware-ca.crt server-ca.crt " ] ||
	fail "DIR holds: $(ls ca)"
! grep -rl 'PRIVATE KEY' ca >/dev/null || fail "a private key in DIR"
[ "$(find "$T/tokens" -name '*.object' ! -name token.object | wc -l)" = 6 ] || fail "not three key pairs in the token"
[ "$(sqlite3 ca/ca.db "select value from meta where key='pkcs11_server_key'")" = \
	"pkcs11:token=vendor-ca;object=sprov-server-ca;type=private" ] || fail "server key URI"
[ "$(sqlite3 ca/ca.db "select value from meta where key='pkcs11_module'")" = "$MODULE" ] ||
	fail "module path not kept"
GNUTLS_PIN=2468 p11tool --provider "$MODULE" --login --list-privkeys "$URI" >keys.txt 2>/dev/null
[ "$(grep -c 'Label: sprov-server-ca' keys.txt)" = 1 ] || fail "no server CA key in the token"
[ "$(grep -c 'Label: sprov-device-ca' keys.txt)" = 1 ] || fail "no device CA key in the token"
[ "$(grep -c 'Label: sprov-firmware-ca' keys.txt)" = 1 ] || fail "no firmware key in the token"
[ "$(sqlite3 ca/ca.db "select value from meta where key='pkcs11_firmware_key'")" = \
	"pkcs11:token=vendor-ca;object=sprov-firmware-ca;type=private" ] || fail "firmware key URI"
[ "$(grep -c 'CKA_SENSITIVE' keys.txt)" = 3 ] || fail "keys not sensitive: $(cat keys.txt)"
[ "$(grep -c 'CKA_NEVER_EXTRACTABLE' keys.txt)" = 3 ] || fail "keys extractable: $(cat keys.txt)"
grep -q 'ECDSA-SECP384R1' keys.txt && grep -q 'ECDSA-SECP256R1' keys.txt || fail "key types"
openssl verify -CAfile ca/server-ca.crt ca/server-ca.crt >/dev/null || fail "server root self-verify"
openssl verify -CAfile ca/device-ca.crt ca/device-ca.crt >/dev/null || fail "device root self-verify"
openssl x509 -in ca/server-ca.crt -noout -subject | grep -q 'CN = Token Phones Server CA' || fail "subject"

note "a second init on the same token is refused: its labels are taken"
export SPROV_PKCS11_PIN=2468
refused 1 "sprov ca init: token 'vendor-ca' already holds an object labelled 'sprov-server-ca'; use another token or remove it" \
	"$SPROV" ca init ca2 --pkcs11 "$URI" --pkcs11-module "$MODULE"
[ ! -e ca2 ] || fail "ca2 created"

note "issue one device and a CSV of three; each verifies against the device CA"
expect_rc 0 "$SPROV" ca issue ca --mac 00:0e:08:aa:00:01 --serial SN1 --out bundles
printf 'mac,serial,product\n000e08aa0002,SN2,SPA\n000e08aa0003,SN3,SPA\n000e08aa0004,SN4,SPA\n' >devs.csv
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out bundles --pin-file "$T/pin"
expect_out_contains "issued 3, skipped 0"
for m in 000e08aa0001 000e08aa0002 000e08aa0003 000e08aa0004; do
	openssl verify -purpose sslclient -CAfile ca/device-ca.crt "bundles/$m/client.crt" >/dev/null ||
		fail "$m does not verify"
	! openssl verify -CAfile ca/server-ca.crt "bundles/$m/client.crt" >/dev/null 2>&1 ||
		fail "$m verifies against the server CA"
done

note "sign a server CSR with the token's server CA"
openssl req -new -nodes -keyout srv.key -subj /CN=prov.example.net -newkey ec \
	-pkeyopt ec_paramgen_curve:P-256 -out srv.csr 2>/dev/null
expect_rc 0 "$SPROV" ca sign ca srv.csr -o srv.crt
openssl verify -purpose sslserver -CAfile ca/server-ca.crt srv.crt >/dev/null || fail "srv.crt"

note "revoke, crl and list; the CRLs verify and list the revoked serial"
serial=$(openssl x509 -in bundles/000e08aa0003/client.crt -noout -serial | cut -d= -f2 | tr A-F a-f)
expect_rc 0 "$SPROV" ca revoke ca --mac 000e08aa0003 --reason keyCompromise
expect_rc 0 "$SPROV" ca crl ca --ca device -o device.crl
expect_rc 0 "$SPROV" ca crl ca --ca server -o server.crl --pin-file "$T/pin"
openssl crl -in device.crl -CAfile ca/device-ca.crt -noout 2>&1 | grep -q 'verify OK' || fail "device CRL"
openssl crl -in server.crl -CAfile ca/server-ca.crt -noout 2>&1 | grep -q 'verify OK' || fail "server CRL"
openssl crl -in device.crl -noout -text | tr A-F a-f | tr -d ':' | grep -q "$serial" ||
	fail "revoked serial not in the CRL"
! openssl verify -crl_check -CAfile ca/device-ca.crt -CRLfile device.crl \
	bundles/000e08aa0003/client.crt >/dev/null 2>&1 || fail "revoked device still verifies"
openssl verify -crl_check -CAfile ca/device-ca.crt -CRLfile device.crl \
	bundles/000e08aa0002/client.crt >/dev/null || fail "a good device fails the CRL check"
expect_rc 0 "$SPROV" ca list ca --revoked
expect_out_contains "$serial"
expect_rc 0 "$SPROV" ca list ca --json
[ "$(grep -c '"serial"' <<<"$OUT")" = 5 ] || fail "list: $OUT"

note "refusals of a token CA: wrong PIN, PIN file others can read, no PIN; nothing written"
printf '1111\n' >"$T/badpin"
chmod 600 "$T/badpin"
chmod 640 "$T/pin"
refused 1 "sprov ca crl: token 'vendor-ca': login refused: wrong PIN, or the PIN is locked" \
	"$SPROV" ca crl ca --ca device -o x.crl --pin-file "$T/badpin"
refused 1 "sprov ca sign: PIN file $T/pin: mode 0640 lets group or others read it; chmod 600 it" \
	"$SPROV" ca sign ca srv.csr -o x.crt --pin-file "$T/pin"
SPROV_PKCS11_PIN=1111 refused 1 "sprov ca issue: token 'vendor-ca': login refused: wrong PIN, or the PIN is locked" \
	"$SPROV" ca issue ca --mac 000e08aa0009 --out bundles
unset SPROV_PKCS11_PIN
refused 2 "sprov ca crl: the token needs a PIN: set SPROV_PKCS11_PIN or give --pin-file FILE" \
	"$SPROV" ca crl ca --ca device -o x.crl
[ "$(sqlite3 ca/ca.db "select value from meta where key='crl_number_device'" 2>/dev/null)" != 2 ] ||
	fail "a refused crl burnt a CRL number"

note "without --pkcs11-module: the p11-kit proxy (SoftHSM2 registers itself with p11-kit)"
export SPROV_PKCS11_PIN=2468
expect_rc 0 "$SPROV" ca init ca3 --pkcs11 'pkcs11:token=spare'
[ "$(sqlite3 ca3/ca.db "select value from meta where key='pkcs11_module'")" = \
	/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so ] || fail "default module not kept"
expect_rc 0 "$SPROV" ca issue ca3 --mac 000e08bb0001 --out bundles3
openssl verify -CAfile ca3/device-ca.crt bundles3/000e08bb0001/client.crt >/dev/null ||
	fail "a device of the proxy CA does not verify"
finish
