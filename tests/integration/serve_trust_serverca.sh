#!/bin/bash
# sprov serve: a client certificate issued by the server CA (the issuer of
# the server's own chain) is refused whatever client-ca holds, on a full
# handshake and on a resumed one.  client-ca holds both vendor roots (device
# CA and server CA).  While the server's chain comes from another vendor, a
# certificate of the first vendor's server CA naming device A is served and
# saves its sessions; once the server's chain comes from that server CA
# (SIGHUP), the same certificate is refused on a full handshake, a TLS 1.3
# ticket, a TLS 1.2 ticket and a TLS 1.2 session ID, and A's profile is not
# served, while a real device is.  On both TLS backends.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/resume.sh"

serve_pki
serve_db
openssl_ca_conf "$T/oca"
make_cert "$T/rogue" "/OU=SPA2102/L=SNA01/ST=000e08aaaa01" \
	"$T/ca/server-ca.crt" "$T/ca/server-ca.key" -days 30
cat "$T/ca/device-ca.crt" "$T/ca/server-ca.crt" >"$T/trust.pem"
cat "$T/ca/server-ca.crt" >"$T/servercas.pem"
# The server's chain from another vendor first.
cp "$T/provserver.crt" "$T/provserver.ca.crt"
cp "$T/privkey.pem" "$T/privkey.ca.pem"
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca sign "$T/ca2" "$T/prov.csr" -o "$T/provserver.crt" --force >/dev/null
cat "$T/ca2/server-ca.crt" >>"$T/servercas.pem"
serve_start --client-ca "$T/trust.pem"
SCLIENT_CAFILE=$T/servercas.pem

served_a() { grep -c 'mac=000e08aaaa01 .*status=200' "$T/access.log" || true; }

note "server chain from another vendor: the certificate is not the server CA's; served"
sessions_save "$T/rogue" rogue

note "the server's chain now comes from the server CA that issued it (SIGHUP)"
cp "$T/provserver.ca.crt" "$T/provserver.crt"
cp "$T/privkey.ca.pem" "$T/privkey.pem"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
before=$(served_a)

note "refused on a full handshake (curl and s_client)"
get "$T/rogue" /profiles/000e08aaaa01.xml
[ "$CURL_RC" -ne 0 ] || fail "server-CA certificate accepted (HTTP $CODE)"
sclient "$T/rogue" "$T/o"
if grep -q 'HTTP/1.0 200' "$T/o"; then fail "server-CA certificate served (s_client)"; fi
grep -q "client certificate refused: certificate issued by the server CA" "$T/serve.err" ||
	fail "refusal not logged: $(tail -3 "$T/serve.err")"
_TESTS_RUN=$((_TESTS_RUN + 2))

note "refused on resumption: TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID"
sessions_refused "$T/rogue" rogue "server-CA certificate"
[ "$(served_a)" = "$before" ] || fail "device A's profile was served: $(tail -1 "$T/access.log")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "real devices are still served"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
get "$DEV_B" /profiles/000e08aaaa02.xml
expect_code 200
serve_stop
finish
