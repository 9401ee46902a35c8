#!/bin/bash
# sprov serve: a CRL that expires (crl-grace 0) while sessions and
# keep-alive connections exist.  Sessions saved while it was valid (TLS 1.3
# ticket, TLS 1.2 ticket, TLS 1.2 session ID) cannot get a device served
# once it is expired, as a full handshake cannot; a keep-alive connection
# opened before gets its next request refused.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/resume.sh"

LIFE=20 # seconds the CRL is valid: time enough to save the sessions
serve_pki
serve_db
openssl_ca_conf "$T/oca"
openssl ca -batch -config "$T/oca/ca.cnf" -gencrl -cert "$T/ca/device-ca.crt" \
	-keyfile "$T/ca/device-ca.key" -crlsec $LIFE -out "$T/short.crl" 2>/dev/null ||
	fail "openssl ca -gencrl"
made=$(date +%s)
serve_start --crl "$T/short.crl" --crl-grace 0

note "sessions and a keep-alive connection while the CRL is valid"
sessions_save "$DEV_A" A
keepalive_open "$DEV_A" $((LIFE + 20))
[ $(($(date +%s) - made)) -lt $LIFE ] || fail "setup took longer than the CRL's life ($LIFE s)"

note "the CRL expires"
while [ $(($(date +%s) - made)) -le $((LIFE + 1)) ]; do sleep 0.5; done
get "$DEV_A" /spa2102.cfg
[ "$CURL_RC" -ne 0 ] || fail "full handshake served with an expired CRL (HTTP $CODE)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the saved sessions cannot get A served"
sessions_refused "$DEV_A" A "a device on an expired CRL"
grep -qE 'resumption refused \(CRL expired\)|CRL EXPIRED: refusing device' "$T/serve.err" ||
	fail "no refusal logged: $(tail -3 "$T/serve.err")"

note "the keep-alive connection's next request is refused"
keepalive_next
[ "$(grep -c '^HTTP/1.1 200' "$T/ka.out")" = 1 ] || fail "keep-alive after expiry: $(cat "$T/ka.out")"
grep -q '^HTTP/1.1 403' "$T/ka.out" || fail "keep-alive request after expiry not 403: $(cat "$T/ka.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
