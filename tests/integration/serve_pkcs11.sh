#!/bin/bash
# sprov serve --key 'pkcs11:...': the server's TLS key lives in a PKCS#11
# token (SoftHSM2 here) and never in a file; a device fetches its profile
# (200) over mutual TLS.  A wrong PIN, a token that does not exist and a PIN
# in the URI stop the start with one line naming what is wrong.  Both
# backends (int_serve_pkcs11 OpenSSL through libp11, int_serve_pkcs11_gnutls
# GnuTLS's own PKCS#11 layer), with the same messages.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

. "$SPROV_SRCDIR/tests/lib/softhsm.sh"
softhsm_token srv-token 4321

serve_pki
serve_db

note "the server key is generated inside the token; its CSR is signed by the CA"
export GNUTLS_PIN=4321
p11tool --provider "$MODULE" --login --generate-privkey=ecdsa --curve=secp256r1 \
	--label=tls 'pkcs11:token=srv-token' >/dev/null 2>"$T/p11tool.err" ||
	fail "p11tool: $(cat "$T/p11tool.err")"
echo "cn = \"$SRV_NAME\"" >"$T/tmpl"
certtool --provider "$MODULE" --generate-request --no-text --template "$T/tmpl" \
	--load-privkey 'pkcs11:token=srv-token;object=tls;type=private' \
	--load-pubkey 'pkcs11:token=srv-token;object=tls;type=public' \
	--outfile "$T/tok.csr" 2>"$T/certtool.err" || fail "certtool: $(cat "$T/certtool.err")"
unset GNUTLS_PIN
"$SPROV" ca sign "$T/ca" "$T/tok.csr" -o "$T/tok.crt" >/dev/null
# serve_start passes the file key; the token key replaces it (last one wins).
KEY="pkcs11:token=srv-token;object=tls;type=private?module-path=$MODULE"

export SPROV_PKCS11_PIN=4321
note "a device fetches its profile from a server whose key is in the token"
serve_start --cert "$T/tok.crt" --key "$KEY"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
grep -q 'Password_1_' "$T/body" || fail "profile body: $BODY"
# The handshake used the token key: the certificate the server sent is tok.crt.
openssl s_client -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
	-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" </dev/null 2>/dev/null |
	openssl x509 -noout -fingerprint -sha256 >"$T/sent.fp"
[ "$(cat "$T/sent.fp")" = "$(openssl x509 -in "$T/tok.crt" -noout -fingerprint -sha256)" ] ||
	fail "the server did not present the token key's certificate"
note "SIGHUP reloads with the key still in the token"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
serve_stop

note "a wrong PIN: the server does not start, one line, nothing listens"
PORT=$(free_port)
SPROV_PKCS11_PIN=1111 expect_rc 1 "$SPROV" serve --listen "127.0.0.1:$PORT" \
	--cert "$T/tok.crt" --key "$KEY" --client-ca "$T/ca/device-ca.crt" \
	--workers 2 --admin off
[ "$ERR" = "sprov serve: TLS: server key: token 'srv-token': login refused: wrong PIN, or the PIN is locked" ] ||
	fail "got: $ERR"
[ -z "$OUT" ] || fail "stdout: $OUT"
! (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || fail "something listens on $PORT"

note "refusals: one line naming what is wrong, nothing served"
refused() {
	local want=$1; shift
	expect_rc 1 "$SPROV" serve --check-config --listen 127.0.0.1:1 --cert "$T/tok.crt" \
		--client-ca "$T/ca/device-ca.crt" --key "$@"
	[ "$ERR" = "sprov serve: TLS: $want" ] || fail "got: $ERR"
}
SPROV_PKCS11_PIN=1111 refused "server key: token 'srv-token': login refused: wrong PIN, or the PIN is locked" "$KEY"
refused "server key: no token matches 'pkcs11:token=nope;object=tls;type=private?module-path=$MODULE' in PKCS#11 module $MODULE" \
	"pkcs11:token=nope;object=tls;type=private?module-path=$MODULE"
refused "server key: token 'srv-token' holds no private key that 'pkcs11:token=srv-token;object=nokey;type=private?module-path=$MODULE' names" \
	"pkcs11:token=srv-token;object=nokey;type=private?module-path=$MODULE"
refused "server key: 'pkcs11:token=srv-token;object=tls': a PIN is never put in a URI (command lines are visible to every user); use SPROV_PKCS11_PIN or a PIN file" \
	"pkcs11:token=srv-token;object=tls?pin-value=4321"
refused "server key: PKCS#11 module $T/none.so: No such file or directory" \
	"pkcs11:token=srv-token;object=tls?module-path=$T/none.so"
finish
