#!/bin/bash
# sprov serve: revocation.  A revoked device is refused at once after the
# CRL changes (SIGHUP or the file changing), including when it tries to
# resume a session (TLS 1.3 ticket, TLS 1.2 ticket, TLS 1.2 session ID),
# while the others keep being served and resuming.  Expired CRL: refused by
# default, loudly; crl-grace keeps it in force.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
for m in 000e08aaaa05 000e08aaaa06; do
	"$SPROV" ca issue "$T/ca" --mac $m --serial SN$m --product SPA2102 --out "$T/dev" >/dev/null
	"$SPROV" db devices add $m --serial SN$m --product SPA2102 >/dev/null
done
DEV_C="$T/dev/000e08aaaa05"
DEV_D="$T/dev/000e08aaaa06"
serve_start --crl "$T/device-ca.crl" --crl-poll 1

# sclient DEV OUTFILE [s_client args...]: one HTTP/1.0 request.
sclient() {
	local dev=$1 out=$2
	shift 2
	printf "GET /spa2102.cfg HTTP/1.0\r\n\r\n" |
		timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		-CAfile "$T/ca/server-ca.crt" -cert "$dev/client.crt" -key "$dev/client.key" \
		"$@" >"$out" 2>/dev/null || true
}

KINDS="t13 t12 id12"
kind_args() {
	case $1 in
	t13) echo "-tls1_3" ;;
	t12) echo "-tls1_2" ;;
	id12) echo "-tls1_2 -no_ticket" ;;
	esac
}

note "sessions for C (to be revoked) and A, and resumption works"
for who in A C; do
	dev=$DEV_A
	[ $who = C ] && dev=$DEV_C
	for k in $KINDS; do
		sclient "$dev" "$T/o" $(kind_args $k) -sess_out "$T/sess.$who.$k"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$who $k first: $(tail -3 "$T/o")"
		sclient "$dev" "$T/o" $(kind_args $k) -sess_in "$T/sess.$who.$k"
		grep -q '^Reused' "$T/o" || fail "$who $k not resumed: $(grep -E '^(New|Reused)' "$T/o")"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$who $k resumed request failed"
		_TESTS_RUN=$((_TESTS_RUN + 1))
	done
done

note "a keep-alive connection of C is open before the revocation"
mkfifo "$T/ka.in"
( { printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n'; while [ ! -e "$T/go" ]; do sleep 0.1; done
    printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1; } |
  timeout 20 openssl s_client -quiet -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
	-CAfile "$T/ca/server-ca.crt" -cert "$DEV_C/client.crt" -key "$DEV_C/client.key" \
	>"$T/ka.out" 2>/dev/null || true ) &
KA_PID=$!
_BG_PIDS+=("$KA_PID")
for i in $(seq 50); do grep -q '^HTTP/1.1 200' "$T/ka.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^HTTP/1.1 200' "$T/ka.out" || fail "keep-alive first request"

note "revoke C, publish the CRL, SIGHUP: C refused at once, also resuming"
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa05 --reason keyCompromise >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
for k in $KINDS; do
	sclient "$DEV_C" "$T/o" $(kind_args $k) -sess_in "$T/sess.C.$k"
	if grep -q 'HTTP/1.0 200' "$T/o"; then fail "revoked C served via $k: $(grep -E '^(New|Reused)' "$T/o")"; fi
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
sclient "$DEV_C" "$T/o"
if grep -q 'HTTP/1.0 200' "$T/o"; then fail "revoked C served on a full handshake"; fi
_TESTS_RUN=$((_TESTS_RUN + 1))
touch "$T/go"
wait "$KA_PID" 2>/dev/null || true
[ "$(grep -c '^HTTP/1.1 200' "$T/ka.out")" = 1 ] || fail "keep-alive after revocation: $(cat "$T/ka.out")"
grep -q '^HTTP/1.1 403' "$T/ka.out" || fail "keep-alive request after revocation not 403"
_TESTS_RUN=$((_TESTS_RUN + 1))
grep -q 'resumption refused (certificate revoked)' "$T/serve.err" || fail "no resumption refusal logged"

note "the others keep being served, and still resume across the reload"
for k in $KINDS; do
	sclient "$DEV_A" "$T/o" $(kind_args $k) -sess_in "$T/sess.A.$k"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "A refused after C's revocation ($k)"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
sclient "$DEV_A" "$T/o" -tls1_3 -sess_in "$T/sess.A.t13"
grep -q '^Reused' "$T/o" || fail "A's TLS 1.3 ticket not resumed after the reload"
get "$DEV_B" /spa962.cfg
expect_code 200
[ "$(metric 'sprov_tls_resumptions_refused_total')" -ge 1 ] || fail "metric resumptions refused"
[ "$(metric 'sprov_tls_verify_failures_total{reason="revoked"}')" -ge 1 ] || fail "metric revoked"

note "the CRL file changing is enough (no SIGHUP)"
get "$DEV_D" /spa2102.cfg
expect_code 200
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa06 >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
ok=0
for i in $(seq 40); do
	get "$DEV_D" /spa2102.cfg
	if [ "$CODE" != 200 ]; then ok=1; break; fi
	sleep 0.1
done
[ $ok = 1 ] || fail "D still served 4 s after the CRL file changed"
_TESTS_RUN=$((_TESTS_RUN + 1))
get "$DEV_A" /spa2102.cfg
expect_code 200
nu=$(metric sprov_crl_next_update_seconds)
[ "$nu" -gt 86400 ] || fail "sprov_crl_next_update_seconds = $nu"
serve_stop

note "an expired CRL: devices refused, loudly; crl-grace keeps it in force"
openssl_ca_conf "$T/oca"
openssl ca -batch -config "$T/oca/ca.cnf" -gencrl -cert "$T/ca/device-ca.crt" \
	-keyfile "$T/ca/device-ca.key" -crl_lastupdate "$(date -u -d "-2 days" +%Y%m%d%H%M%SZ)" \
	-crl_nextupdate "$(date -u -d "-1 day" +%Y%m%d%H%M%SZ)" -out "$T/expired.crl" 2>/dev/null
: >"$T/serve.err"
serve_start --crl "$T/expired.crl"
grep -q 'EXPIRED.*ALL DEVICES ARE REFUSED' "$T/serve.err" || fail "no loud log at load: $(cat "$T/serve.err")"
get "$DEV_A" /spa2102.cfg
[ "$CURL_RC" -ne 0 ] || fail "served with an expired CRL (HTTP $CODE)"
_TESTS_RUN=$((_TESTS_RUN + 1))
grep -q 'CRL EXPIRED: refusing device' "$T/serve.err" || fail "refusal not logged loudly"
[ "$(metric 'sprov_crl_next_update_seconds')" -lt 0 ] || fail "next update metric not negative"
serve_stop
serve_start --crl "$T/expired.crl" --crl-grace $((7 * 86400))
get "$DEV_A" /spa2102.cfg
expect_code 200
[ "$(metric sprov_crl_in_grace)" = 1 ] || fail "sprov_crl_in_grace"
serve_stop
finish
