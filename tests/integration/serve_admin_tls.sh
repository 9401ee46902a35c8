#!/bin/bash
# The admin listener off loopback speaks TLS with the server certificate
# and asks for no client certificate (docs/CONSOLE.md "Access"): /healthz
# over https with no client certificate, plain HTTP refused, TLS 1.1 and
# CBC refused, a Bearer token on the API, login-url prints https and the
# session cookie is Secure; the device listener still wants a certificate.
# Both backends (int_serve_admin_tls, _gnutls).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

# A non-loopback address of this machine, else the wildcard (reached on 127.0.0.1).
ADDR=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1 || true)
CONN=${ADDR:-127.0.0.1}
ADDR=${ADDR:-0.0.0.0}

serve_pki
serve_db
ADM=$("$SPROV" admin token add ops --role admin 2>/dev/null)

for try in 1 2 3; do
	PORT=$(free_port)
	APORT=$(free_port)
	cat >"$T/serve.conf" <<EOC
[serve]
listen = 127.0.0.1:$PORT
admin = $ADDR:$APORT
cert = $T/provserver.crt
key = $T/privkey.pem
client-ca = $T/ca/device-ca.crt
crl = $T/device-ca.crl
workers = 1
path = /profiles/\$MA.xml
EOC
	bg_start "$SPROV" serve --config "$T/serve.conf" >>"$T/access.log" 2>>"$T/serve.err"
	SERVE_PID=$BG_PID
	wait_listen "$PORT" "$SERVE_PID" 20 && break
	grep -q 'in use' "$T/serve.err" || fail "sprov serve exited at start: $(tail -5 "$T/serve.err")"
done
wait_ready
grep -q "admin $ADDR:$APORT" "$T/serve.err" || fail "admin not listening: $(tail -3 "$T/serve.err")"

# aget PATH [CURL ARGS...]: https to the admin listener, no client certificate.
aget() {
	local p=$1
	shift
	CODE=$(curl -sS --max-time 10 --resolve "$SRV_NAME:$APORT:$CONN" --cacert "$T/ca/server-ca.crt" \
		-D "$T/ahdr" -o "$T/abody" -w '%{http_code}' "$@" "https://$SRV_NAME:$APORT$p" 2>"$T/curl.err") ||
		fail "curl $p: $(cat "$T/curl.err")"
	BODY=$(cat "$T/abody")
}
hdr() { tr -d '\r' <"$T/ahdr" | awk -v h="$1:" 'tolower($1) == tolower(h) { sub(/^[^:]*: /, ""); print }'; }

note "https /healthz with no client certificate, TLS 1.2 and 1.3"
for v in --tlsv1.2 --tlsv1.3; do
	aget /healthz "$v" --tls-max "${v#--tlsv}"
	[ "$CODE $BODY" = "200 ok" ] || fail "healthz over $v: $CODE $BODY"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "plain HTTP to it gets no answer"
set +e
out=$(curl -sS --max-time 5 "http://$CONN:$APORT/healthz" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && ! grep -q '^ok' <<<"$out" || fail "plain HTTP answered (rc $rc): $out"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "TLS 1.1 and CBC or non-ECDHE suites are refused"
for args in "-tls1_1" "-tls1_2 -cipher AES128-SHA256" "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA" \
	"-tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256"; do
	expect_rc 1 timeout 10 openssl s_client $args -connect "$CONN:$APORT" </dev/null
done

note "a Bearer token on the API; none: 401"
aget /api/v1/summary -H "Authorization: Bearer $ADM"
[ "$CODE" = 200 ] && [ "$(jq '.by_status | length' <<<"$BODY")" = 6 ] || fail "summary: $CODE $BODY"
aget /api/v1/summary
[ "$CODE" = 401 ] || fail "no token: $CODE $BODY"
_TESTS_RUN=$((_TESTS_RUN + 2))

note "login-url prints https; the session cookie is Secure"
URL=$("$SPROV" admin login-url --config "$T/serve.conf")
[[ $URL =~ ^https://$ADDR:$APORT/login\?t=[A-Za-z0-9_-]{43}$ ]] || fail "login-url: $URL"
aget "/${URL#https://*/}"
[ "$CODE" = 303 ] || fail "login: $CODE $BODY"
[[ "$(hdr Set-Cookie)" =~ ^sprov_session=[A-Za-z0-9_-]{43}\;\ Path=/\;\ HttpOnly\;\ SameSite=Strict\;\ Max-Age=28800\;\ Secure$ ]] ||
	fail "Set-Cookie: $(hdr Set-Cookie)"
_TESTS_RUN=$((_TESTS_RUN + 2))

note "the device listener still refuses a client without a certificate, serves one with"
set +e
curl -sS --max-time 10 --resolve "$SRV_NAME:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
	-o /dev/null "https://$SRV_NAME:$PORT/profiles/000e08aaaa01.xml" 2>"$T/curl.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "the device listener served a client without a certificate"
_TESTS_RUN=$((_TESTS_RUN + 1))
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
note "the device listener's TLS counters: its one good handshake, none of the admin's"
aget /metrics
m() { awk -v k="$1" '$1 == k { print $2 }' <<<"$BODY"; }
[ "$(m 'sprov_tls_verify_failures_total{reason="no_certificate"}')" = 1 ] &&
	[ "$(m 'sprov_tls_handshakes_total{result="full"}')" = 1 ] ||
	fail "device TLS counters: $(grep "^sprov_tls_handshakes\|^sprov_tls_verify" <<<"$BODY" | tr "\n" " ")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "SIGHUP: the admin listener takes the new server certificate too"
serial() { openssl x509 -noout -serial; }
old=$(serial <"$T/provserver.crt")
"$SPROV" ca sign "$T/ca" "$T/prov.csr" -o "$T/new.crt" >/dev/null
mv "$T/new.crt" "$T/provserver.crt"
new=$(serial <"$T/provserver.crt")
[ "$old" != "$new" ] || fail "the new certificate has the old serial"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
aget /healthz
[ "$CODE $BODY" = "200 ok" ] || fail "healthz after reload: $CODE $BODY"
got=$(timeout 10 openssl s_client -connect "$CONN:$APORT" </dev/null 2>/dev/null | serial)
[ "$got" = "$new" ] || fail "admin certificate after SIGHUP: $got, not $new (was $old)"
_TESTS_RUN=$((_TESTS_RUN + 2))

serve_stop
finish
