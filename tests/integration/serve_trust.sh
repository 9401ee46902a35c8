#!/bin/bash
# sprov serve: a session is bound to the device CAs that verified it.  Two
# vendors' device CAs are trusted; a device of the second saves its
# sessions (TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID).  The second
# CA is removed from client-ca and SIGHUP sent: that device is refused on a
# full handshake, on every resumption (counted as a refused resumption) and
# on the next request of a keep-alive connection opened before, while a
# device of the first vendor keeps being served and resuming.  Then, with
# both CAs' CRLs in force, a new CRL file without the second CA's: the same
# three refusals, for "no CRL from the certificate's issuer".
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/resume.sh"

serve_pki
serve_db
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca issue "$T/ca2" --mac 000e08bbbb01 --serial SNB01 --product SPA2102 \
	--out "$T/dev2" >/dev/null
"$SPROV" db devices add 000e08bbbb01 --serial SNB01 --product SPA2102 >/dev/null
DEV_X="$T/dev2/000e08bbbb01"
cat "$T/ca/device-ca.crt" "$T/ca2/device-ca.crt" >"$T/trust.pem"
serve_start --client-ca "$T/trust.pem"

note "both vendors' devices are served and resume"
sessions_save "$DEV_A" A
sessions_save "$DEV_X" X
served_before=$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)

keepalive_open "$DEV_X" 30
served_before=$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)

note "the second vendor's CA is removed and SIGHUP sent"
cp "$T/ca/device-ca.crt" "$T/trust.pem"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'

# keepalive_refused WHY: the keep-alive connection's next request gets 403
# and the log says WHY, since the handshake; nothing more of X was served.
keepalive_refused() {
	local mark
	mark=$(wc -l <"$T/serve.err")
	keepalive_next
	[ "$(grep -c '^HTTP/1.1 200' "$T/ka.out")" = 1 ] || fail "keep-alive after the reload: $(cat "$T/ka.out")"
	grep -q '^HTTP/1.1 403' "$T/ka.out" || fail "keep-alive request after the reload not 403: $(cat "$T/ka.out")"
	tail -n +"$((mark + 1))" "$T/serve.err" |
		grep -qxE "sprov: warning: serve: refused 127\.0\.0\.1 \(certificate serial [0-9A-F]+\): $1 since the handshake" ||
		fail "keep-alive refusal not logged: $(tail -n +"$((mark + 1))" "$T/serve.err")"
	[ "$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)" = "$served_before" ] ||
		fail "a request of the refused device was served: $(tail -3 "$T/access.log")"
	rm -f "$T/go"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}
note "its keep-alive connection's next request is refused"
keepalive_refused "certificate's CA is no longer trusted"

note "its device is refused on a full handshake"
sclient "$DEV_X" "$T/o"
if grep -q 'HTTP/1.0 200' "$T/o"; then fail "untrusted vendor served on a full handshake"; fi
_TESTS_RUN=$((_TESTS_RUN + 1))

note "and on every resumption: TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID"
refused0=$(metric sprov_tls_resumptions_refused_total)
sessions_refused "$DEV_X" X "untrusted vendor"
[ "$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)" = "$served_before" ] ||
	fail "a request of the untrusted vendor's device reached the server: $(tail -3 "$T/access.log")"
refused=$(metric sprov_tls_resumptions_refused_total)
[ "$((refused - refused0))" -ge 2 ] || fail "resumptions refused: $refused0 -> $refused"
grep -q "resumption refused (certificate's CA is no longer trusted)" "$T/serve.err" ||
	fail "no resumption refusal logged"
_TESTS_RUN=$((_TESTS_RUN + 2))

note "the first vendor's device is still served and still resumes its tickets"
for k in t13 t12; do
	sclient "$DEV_A" "$T/o" $(kind_args $k) -sess_in "$T/sess.A.$k"
	resumed "$T/o" || fail "A $k not resumed after the reload"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "A $k not served after the reload"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
sclient "$DEV_A" "$T/o"
grep -q 'HTTP/1.0 200' "$T/o" || fail "A not served on a full handshake after the reload"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "CRLs in force: the second vendor's CRL left out of the new file, SIGHUP"
"$SPROV" ca crl "$T/ca2" --ca device -o "$T/ca2.crl" >/dev/null
cat "$T/ca/device-ca.crt" "$T/ca2/device-ca.crt" >"$T/trust.pem"
cat "$T/device-ca.crl" "$T/ca2.crl" >"$T/crls.pem"
serve_start --client-ca "$T/trust.pem" --crl "$T/crls.pem"
sessions_save "$DEV_X" X2
keepalive_open "$DEV_X" 30
served_before=$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)
cp "$T/device-ca.crl" "$T/crls.pem"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
note "its keep-alive connection, its resumptions and a full handshake are refused"
keepalive_refused "no CRL from the certificate's issuer"
sessions_refused "$DEV_X" X2 "no CRL from the issuer"
grep -q "resumption refused (no CRL from the certificate's issuer)" "$T/serve.err" ||
	fail "no resumption refusal for the missing CRL logged"
sclient "$DEV_X" "$T/o"
if grep -q 'HTTP/1.0 200' "$T/o"; then fail "served on a full handshake without its issuer's CRL"; fi
[ "$(grep -c 'mac=000e08bbbb01 .*status=200' "$T/access.log" || true)" = "$served_before" ] ||
	fail "a request of the device without a CRL was served: $(tail -3 "$T/access.log")"
note "the first vendor's device, whose CRL is in force, is still served"
sclient "$DEV_A" "$T/o"
grep -q 'HTTP/1.0 200' "$T/o" || fail "A not served with its CRL in force"
_TESTS_RUN=$((_TESTS_RUN + 3))
serve_stop
finish
