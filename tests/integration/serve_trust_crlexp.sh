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

note "the saved sessions cannot get A served: exact outcome and log line per kind"
# GnuTLS resumes every kind and then closes the connection; OpenSSL turns a
# ticket into a full handshake (ticket_dec_cb), which the expired CRL
# refuses, and closes a resumed session ID.  Never an HTTP answer.
SUBJ="/O=Test/OU=SPA2102/CN=000e08aaaa01/serialNumber=SNA01"
RESUME="sprov: warning: tls: resumption refused (CRL expired): '$SUBJ';"
FULL="sprov: error: tls: CRL EXPIRED: refusing device '$SUBJ' (set crl_grace to keep the last CRL in force; publish a new CRL)"
for k in $RESUME_KINDS; do
	mark=$(wc -l <"$T/serve.err")
	sclient "$DEV_A" "$T/o" $(kind_args $k) -sess_in "$T/sess.A.$k"
	tail -n +"$((mark + 1))" "$T/serve.err" >"$T/new.err"
	if grep -q '^HTTP/' "$T/o"; then
		fail "$k: answered on an expired CRL: $(grep '^HTTP/' "$T/o")"
	fi
	[ "$(grep -c 'resumption refused' "$T/new.err")" = 1 ] ||
		fail "$k: not one resumption refusal logged: $(cat "$T/new.err")"
	if [ "${SPROV_TLS_BACKEND:-}" = openssl ] && [ "$k" != id12 ]; then
		grep -q '^New, ' "$T/o" || fail "$k: not a full handshake: $(grep -E '^(New|Reused)' "$T/o")"
		grep -qxF "$RESUME full handshake required" "$T/new.err" &&
			grep -qxF "$FULL" "$T/new.err" || fail "$k: log: $(cat "$T/new.err")"
	else
		grep -q '^Reused, ' "$T/o" || fail "$k: not resumed: $(grep -E '^(New|Reused)' "$T/o")"
		grep -qxF "$RESUME connection closed" "$T/new.err" || fail "$k: log: $(cat "$T/new.err")"
	fi
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "the keep-alive connection's next request is refused"
mark=$(wc -l <"$T/serve.err")
keepalive_next
tail -n +"$((mark + 1))" "$T/serve.err" | grep -qxE "sprov: warning: serve: refused 127\.0\.0\.1 \(certificate serial [0-9A-F]+\): CRL expired since the handshake" ||
	fail "keep-alive refusal not logged: $(tail -n +"$((mark + 1))" "$T/serve.err")"
[ "$(grep -c '^HTTP/1.1 200' "$T/ka.out")" = 1 ] || fail "keep-alive after expiry: $(cat "$T/ka.out")"
grep -q '^HTTP/1.1 403' "$T/ka.out" || fail "keep-alive request after expiry not 403: $(cat "$T/ka.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
