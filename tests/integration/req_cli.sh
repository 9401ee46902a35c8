# sprov req: the service provider's key and CSR, its refusals, and that it
# refuses exactly what `sprov ca sign` refuses, with the same words.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"

note "default files: privkey.pem 0600 and provserver.csr, readable by openssl"
expect_rc 0 "$SPROV" req --cn sprov.callme.com
[ "$(stat -c %a privkey.pem)" = 600 ] || fail "privkey.pem mode $(stat -c %a privkey.pem)"
openssl req -in provserver.csr -noout -verify 2>&1 | grep -c 'verify OK' >/dev/null || fail "CSR self-signature"
openssl req -in provserver.csr -noout -subject | grep -cx 'subject=CN = sprov.callme.com' >/dev/null ||
	fail "CSR subject: $(openssl req -in provserver.csr -noout -subject)"
openssl pkey -in privkey.pem -noout -text | grep -c 'NIST CURVE: P-256' >/dev/null || fail "default key is not P-256"

note "never overwrites without --force"
h=$(tree_hash .)
expect_rc 1 "$SPROV" req --cn sprov.callme.com
[ "$ERR" = "sprov req: provserver.csr: file exists (use --force to replace it)" ] || fail "msg: $ERR"
[ "$(tree_hash .)" = "$h" ] || fail "refusal changed files"
expect_rc 1 "$SPROV" req --cn sprov.callme.com --out other.csr
[ "$ERR" = "sprov req: privkey.pem: file exists (use --force to replace it)" ] || fail "msg: $ERR"
[ "$(tree_hash .)" = "$h" ] || fail "refusal changed files"
expect_rc 0 "$SPROV" req --cn pv.telco.net/mailto:admin@telco.net --force
openssl req -in provserver.csr -noout -subject | grep -c 'pv.telco.net/mailto:admin@telco.net' >/dev/null || fail "forced CSR"

note "key types"
for kt in ec-p384 rsa-2048; do
	expect_rc 0 "$SPROV" req --cn prof.voice.com --key-type $kt --out $kt.csr --key-out $kt.key
	[ "$(stat -c %a $kt.key)" = 600 ] || fail "$kt key mode"
done
openssl pkey -in ec-p384.key -noout -text | grep -c 'NIST CURVE: P-384' >/dev/null || fail "ec-p384"
openssl pkey -in rsa-2048.key -noout -text | grep -c '2048 bit' >/dev/null || fail "rsa-2048"

note "--key reuses an existing key"
expect_rc 0 "$SPROV" req --cn prof.voice.com --key rsa-2048.key --out reuse.csr
[ "$(openssl req -in reuse.csr -noout -pubkey)" = "$(openssl pkey -in rsa-2048.key -pubout)" ] ||
	fail "--key did not use the key"

note "RSA under 2048 bits is refused, also with --key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key 2>/dev/null
h=$(tree_hash .)
expect_rc 1 "$SPROV" req --cn prof.voice.com --key rsa1024.key --out weak.csr
[ "$ERR" = "sprov req: CSR rejected: key rule: RSA key of 1024 bits is too small (at least 2048 bits)" ] ||
	fail "msg: $ERR"
[ "$(tree_hash .)" = "$h" ] || fail "refusal wrote a file"
expect_rc 2 "$SPROV" req --cn prof.voice.com --key-type rsa-1024 --out weak.csr
expect_err_contains "key type 'rsa-1024' is not one of"

note "bad CNs are refused with the CA's message, nothing written"
"$SPROV" ca init ca >/dev/null
for cn in foo localhost '*.callme.com' 192.168.1.1 'sprov.callme.com.' 'a-.example.com' \
	'pv.telco.net/' 'bad_label.example.com' 'Sprov.Callme.com/tab	x'; do
	h=$(tree_hash .)
	expect_rc 1 "$SPROV" req --cn "$cn" --out bad.csr --key-out bad.key
	req_msg=${ERR#sprov req: }
	[ "$(tree_hash .)" = "$h" ] || fail "req refusal for '$cn' wrote a file"
	case "$req_msg" in "CSR rejected: "*) ;; *) fail "req message for '$cn': $ERR" ;; esac
	# The same CN through openssl req and the CA: the same words.
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=${cn//\//\\/}" -out "$T/o.csr" 2>/dev/null
	n=$(sqlite3 ca/ca.db 'select count(*) from certs')
	expect_rc 1 "$SPROV" ca sign ca "$T/o.csr" -o bad.crt
	[ "${ERR#sprov ca sign: }" = "$req_msg" ] || fail "req and sign differ for '$cn': '$req_msg' vs '$ERR'"
	[ ! -e bad.crt ] || fail "sign wrote bad.crt"
	[ "$(sqlite3 ca/ca.db 'select count(*) from certs')" = "$n" ] || fail "sign recorded a refused CSR"
	rm -f "$T/o.csr"
done
expect_rc 1 "$SPROV" req --cn foo --out bad.csr --key-out bad.key
[ "$ERR" = "sprov req: CSR rejected: CN 'foo' is not a fully qualified domain name: needs at least two labels" ] ||
	fail "msg: $ERR"
# openssl req itself refuses CNs over 64 characters, so only ours here (the
# CSR policy unit test covers the CA side).
long="$(printf 'x%.0s' $(seq 1 61)).com"
expect_rc 1 "$SPROV" req --cn "$long" --out bad.csr --key-out bad.key
[ "$ERR" = "sprov req: CSR rejected: CN '$long' is longer than 64 characters (X.520 bound)" ] ||
	fail "msg: $ERR"
expect_rc 0 "$SPROV" req --cn "${long#x}" --out ok64.csr --key-out ok64.key
expect_rc 1 "$SPROV" req --cn foo --out bad.csr --key-out bad.key
[ "$ERR" = "sprov req: CSR rejected: CN 'foo' is not a fully qualified domain name: needs at least two labels" ] ||
	fail "msg: $ERR"

note "usage errors exit 2"
expect_rc 2 "$SPROV" req
expect_err_contains "--cn is required"
expect_rc 2 "$SPROV" req --cn a.example.com --bogus
expect_rc 2 "$SPROV" req --cn a.example.com --key x.pem --key-type ec-p256
expect_rc 0 "$SPROV" req --help
expect_out_contains "usage: sprov req"
finish
