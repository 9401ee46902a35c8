#!/bin/bash
# sprov serve: verify-depth is exact and alike on both backends.  It counts
# the verified chain, leaf and root included: depth 4 takes a device under
# root -> int1 -> int2 (4 certificates) and refuses one under root -> int1
# -> int2 -> int3 (5); depth 3 takes root -> int1 -> device and refuses the
# 4-certificate chain.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
openssl_ca_conf "$T/oca"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/O=Test/CN=Root2" -keyout "$T/int0.key" -out "$T/int0.crt" 2>/dev/null
for i in 1 2 3; do
	openssl ecparam -name prime256v1 -genkey -noout -out "$T/int$i.key"
	openssl req -new -key "$T/int$i.key" -subj "/O=Test/CN=Int$i" -out "$T/int$i.csr"
	openssl ca -batch -config "$T/oca/ca.cnf" -extensions ica -cert "$T/int$((i - 1)).crt" \
		-keyfile "$T/int$((i - 1)).key" -in "$T/int$i.csr" -out "$T/int$i.crt" -notext \
		-days 30 2>/dev/null || fail "openssl ca int$i"
done
# dev_under N: a device certificate issued by intN, with the chain up to int1.
dev_under() {
	local n=$1 i
	make_cert "$T/d$n" "/O=Test/OU=SPA2102/CN=000e08aaaa01/serialNumber=SNA01" \
		"$T/int$n.crt" "$T/int$n.key" -days 30
	for ((i = n; i >= 1; i--)); do cat "$T/int$i.crt" >>"$T/d$n/client.crt"; done
}
dev_under 1 # chain of 3: device, int1, root
dev_under 2 # 4
dev_under 3 # 5
cat "$T/ca/device-ca.crt" "$T/int0.crt" >"$T/cas.crt"

# served DEV: one request, 200 expected
served() { get "$1" /spa2102.cfg; expect_code 200; }
refused() {
	get "$1" /spa2102.cfg
	[ "$CODE" != 200 ] && [ "$CURL_RC" -ne 0 ] || fail "$1 served (HTTP $CODE) at $2"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

note "default depth 4: chains of 3 and 4 certificates pass, 5 is refused"
serve_start --client-ca "$T/cas.crt"
served "$T/d1"
served "$T/d2"
c0=$(metric 'sprov_tls_verify_failures_total{reason="chain_too_long"}')
refused "$T/d3" "depth 4"
[ "$(metric 'sprov_tls_verify_failures_total{reason="chain_too_long"}')" -gt "$c0" ] ||
	fail "refusal not counted as chain_too_long"
grep -q 'chain .*longer than verify-depth 4' "$T/serve.err" || fail "refusal not logged: $(tail -3 "$T/serve.err")"
served "$DEV_A"
serve_stop

note "depth 3: 3 passes, 4 and 5 are refused"
serve_start --client-ca "$T/cas.crt" --verify-depth 3
served "$T/d1"
refused "$T/d2" "depth 3"
refused "$T/d3" "depth 3"
served "$DEV_A"
serve_stop
finish
