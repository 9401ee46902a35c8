#!/bin/bash
# sprov serve: a device certificate must allow TLS client authentication.
# Signed by the device CA and naming a known device, one with an extended
# key usage of serverAuth only, or codeSigning only, is refused in the
# handshake and its profile is not served; one without any EKU is served
# (as OpenSSL's ssl_client purpose has it).  On both TLS backends.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
openssl_ca_conf "$T/oca"
cat >"$T/ext.cnf" <<EOC
[server_only]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[codesign_only]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[no_eku]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
EOC
SUBJ="/O=Test/OU=SPA2102/CN=000e08aaaa01/serialNumber=SNA01"
for e in server_only codesign_only no_eku; do
	make_cert "$T/$e" "$SUBJ" "$T/ca/device-ca.crt" "$T/ca/device-ca.key" -days 30 \
		-extfile "$T/ext.cnf" -extensions $e
done
serve_start

for e in server_only codesign_only; do
	note "EKU $e: refused in the handshake, nothing served"
	before=$(grep -c 'status=200' "$T/access.log" || true)
	get "$T/$e" /profiles/000e08aaaa01.xml
	[ "$CURL_RC" -ne 0 ] || fail "certificate with EKU $e accepted (HTTP $CODE)"
	[ -z "$CODE" ] || [ "$CODE" = 000 ] || fail "EKU $e got an HTTP answer: $CODE"
	[ "$(grep -c 'status=200' "$T/access.log" || true)" = "$before" ] ||
		fail "EKU $e: a profile was served: $(tail -1 "$T/access.log")"
	grep -q "client certificate refused: .*000e08aaaa01" "$T/serve.err" ||
		fail "EKU $e: refusal not logged: $(tail -3 "$T/serve.err")"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
[ "$(metric 'sprov_tls_handshakes_total{result="failed"}')" -ge 2 ] || fail "failed handshakes not counted"

note "no EKU at all: served"
get "$T/no_eku" /profiles/000e08aaaa01.xml
expect_code 200
case "$BODY" in *secretAAAA*) ;; *) fail "no-EKU body: $BODY" ;; esac

note "a regular device certificate (EKU clientAuth): served"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
serve_stop
finish
