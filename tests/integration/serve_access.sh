#!/bin/bash
# sprov serve: who gets which profile.  Real peers: curl, openssl s_client,
# gnutls-cli, Python's ssl module.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
serve_start --crl "$T/device-ca.crl"

expected_profile() {
	"$SPROV" db devices show "$1" | sed -n '/^<flat-profile>/,$p'
}

note "a good device gets exactly its rendered profile (curl)"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
[ "$BODY" = "$(expected_profile 000e08aaaa01)" ] || fail "body differs: $BODY"
grep -qi '^content-type: application/xml' "$T/hdr" || fail "no application/xml"
ETAG_A=$(awk 'tolower($1) == "etag:" { print $2 }' "$T/hdr" | tr -d '\r')
[ -n "$ETAG_A" ] || fail "no ETag"
case "$BODY" in *secretAAAA*) ;; *) fail "A's secret missing" ;; esac

note "the template without identity macros serves the asker's own profile"
get "$DEV_A" /spa2102.cfg
expect_code 200
[ "$BODY" = "$(expected_profile 000e08aaaa01)" ] || fail "spa\$PSN body differs"

note "device A asking for B's path: 403, and none of B's values"
for p in /profiles/000e08aaaa02.xml; do
	get "$DEV_A" "$p"
	expect_code 403
	case "$BODY$(cat "$T/hdr")" in *secretBBBB*|*aaaa02*) fail "B leaks into A's 403" ;; esac
done
grep -q 'AUDIT identity mismatch: device mac=000e08aaaa01' "$T/serve.err" ||
	fail "no audit line for the mismatch"

note "spa-style certificate (ST=MAC, L=serial) is identified"
get "$DEV_B" /profiles/000e08aaaa02.xml
expect_code 200
[ "$BODY" = "$(expected_profile 000e08aaaa02)" ] || fail "B's body differs"
get "$DEV_B" /spa962.cfg
expect_code 200

note "304 when the ETag matches, 200 when it does not"
get "$DEV_A" /profiles/000e08aaaa01.xml -H "If-None-Match: $ETAG_A"
expect_code 304
[ -z "$BODY" ] || fail "304 with a body"
get "$DEV_A" /profiles/000e08aaaa01.xml -H 'If-None-Match: "nope"'
expect_code 200

note "HEAD: headers only; other methods 405; unknown path 404"
get "$DEV_A" /profiles/000e08aaaa01.xml -I
expect_code 200
case "$BODY" in *flat-profile*) fail "HEAD with a body" ;; esac
grep -qi "^content-length: [1-9]" "$T/hdr" || fail "HEAD without the length"
get "$DEV_A" /profiles/000e08aaaa01.xml -X POST -d x=1
expect_code 405
grep -qi '^allow: GET, HEAD' "$T/hdr" || fail "405 without Allow"
get "$DEV_A" /profiles/000e08aaaa01.xml -X DELETE
expect_code 405
get "$DEV_A" /etc/passwd
expect_code 404

note "a parameter change is served within one second (the store thread reads the"
note "generation at least every 25 ms; no store call per request)"
"$SPROV" db params set --device 000e08aaaa01 Password_1_=changedAAAA >/dev/null
deadline=$(($(date +%s%N) + 1000000000))
while get "$DEV_A" /profiles/000e08aaaa01.xml -H "If-None-Match: $ETAG_A"; [ "$CODE" = 304 ]; do
	[ "$(date +%s%N)" -lt "$deadline" ] || break
	sleep 0.02
done
expect_code 200
case "$BODY" in *changedAAAA*) ;; *) fail "change not visible: $BODY" ;; esac

note "HTTP/1.0 and 1.1 keep-alive: two requests on one connection"
get "$DEV_A" /profiles/000e08aaaa01.xml --http1.0 -H 'Connection: keep-alive'
expect_code 200
# (-quiet reads on past the end of its input: s_client ends when the server
# closes, after the second answer)
printf 'GET /profiles/000e08aaaa01.xml HTTP/1.1\r\nHost: x\r\n\r\nGET /spa2102.cfg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
	-CAfile "$T/ca/server-ca.crt" -cert "$DEV_A/client.crt" -key "$DEV_A/client.key" \
	>"$T/ka.out" 2>/dev/null || true
[ "$(grep -c '^HTTP/1.1 200' "$T/ka.out")" = 2 ] || fail "keep-alive: $(cat "$T/ka.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "openssl s_client, TLS 1.2 and 1.3"
for v in -tls1_2 -tls1_3; do
	printf 'GET /profiles/000e08aaaa01.xml HTTP/1.0\r\n\r\n' |
		timeout 10 openssl s_client -quiet $v -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		-CAfile "$T/ca/server-ca.crt" -verify_return_error \
		-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" >"$T/s.out" 2>/dev/null || true
	grep -q changedAAAA "$T/s.out" || fail "s_client $v got: $(cat "$T/s.out")"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
note "TLS 1.1 and non-AEAD / non-ECDHE suites are refused"
for args in "-tls1_1" "-tls1_2 -cipher AES128-SHA256" "-tls1_2 -cipher DHE-RSA-AES128-GCM-SHA256" "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"; do
	expect_rc 1 timeout 10 openssl s_client $args -connect "127.0.0.1:$PORT" \
		-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" </dev/null
done

note "gnutls-cli (another TLS stack)"
{ printf 'GET /profiles/000e08aaaa02.xml HTTP/1.0\r\n\r\n'; sleep 1; } |
	timeout 10 gnutls-cli --port "$PORT" --sni-hostname "$SRV_NAME" --verify-hostname "$SRV_NAME" \
	--x509cafile "$T/ca/server-ca.crt" --x509certfile "$DEV_B/client.crt" \
	--x509keyfile "$DEV_B/client.key" 127.0.0.1 >"$T/g.out" 2>&1 || true
grep -q secretBBBB "$T/g.out" || fail "gnutls-cli got: $(tail -5 "$T/g.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "Python ssl"
cat >"$T/py.py" <<'EOP'
import socket, ssl, sys
port, ca, crt, key, path = sys.argv[1:6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if crt != "-":
    ctx.load_cert_chain(crt, key)
try:
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="prov.test.example") as t:
            t.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                d = t.recv(65536)
                if not d:
                    break
                data += d
    sys.stdout.write(data.decode(errors="replace"))
except (ssl.SSLError, OSError) as e:
    print("TLSERROR", e)
    sys.exit(3)
EOP
run_capture python3 "$T/py.py" "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" /profiles/000e08aaaa01.xml
case "$OUT" in "HTTP/1.1 200"*changedAAAA*) ;; *) fail "python: $OUT $ERR" ;; esac
_TESTS_RUN=$((_TESTS_RUN + 1))

note "no client certificate: the handshake fails (curl, python)"
set +e
curl -sS --max-time 10 --resolve "$SRV_NAME:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
	"https://$SRV_NAME:$PORT/profiles/000e08aaaa01.xml" -o "$T/nocert" 2>"$T/nocert.err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "no-cert request succeeded"
[ ! -s "$T/nocert" ] || fail "no-cert got a body"
_TESTS_RUN=$((_TESTS_RUN + 1))
run_capture python3 "$T/py.py" "$PORT" "$T/ca/server-ca.crt" - - /profiles/000e08aaaa01.xml
[ "$RC" -eq 3 ] || fail "python without cert: $OUT"
_TESTS_RUN=$((_TESTS_RUN + 1))
[ "$(metric 'sprov_tls_verify_failures_total{reason="no_certificate"}')" -ge 2 ] ||
	fail "no_certificate not counted"

note "evhttp's own answers are access-logged and counted too"
printf 'GARBAGE\r\n\r\n' | timeout 10 openssl s_client -quiet \
	-connect "127.0.0.1:$PORT" -cert "$DEV_A/client.crt" -key "$DEV_A/client.key" >/dev/null 2>&1 || true
grep -q 'status=400 .*note=answered-by-evhttp' "$T/access.log" || fail "no access line for a 400"
[ "$(metric 'sprov_requests_total{status="400"}')" -ge 1 ] || fail "400 not counted"

note "certificates from another CA, expired, revoked, generic, without MAC"
openssl_ca_conf "$T/oca"
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca issue "$T/ca2" --mac 000e08aaaa01 --serial SNA01 --product SPA2102 --out "$T/other" >/dev/null
get "$T/other/000e08aaaa01" /profiles/000e08aaaa01.xml
[ "$CURL_RC" -ne 0 ] || fail "other-CA certificate accepted (HTTP $CODE)"
_TESTS_RUN=$((_TESTS_RUN + 1))

make_cert "$T/expired" "/O=Test/OU=SPA2102/CN=000e08aaaa03/serialNumber=SNA03" \
	"$T/ca/device-ca.crt" "$T/ca/device-ca.key" -startdate 20200101000000Z -enddate 20200201000000Z
get "$T/expired" /profiles/000e08aaaa03.xml
[ "$CURL_RC" -ne 0 ] || fail "expired certificate accepted (HTTP $CODE)"
_TESTS_RUN=$((_TESTS_RUN + 1))

make_cert "$T/generic" "/OU=SPA-962/L=ciscogeneric/ST=ciscogeneric" \
	"$T/ca/device-ca.crt" "$T/ca/device-ca.key" -days 30
get "$T/generic" /spa962.cfg
expect_code 403
grep -q 'refused 127.0.0.1' "$T/serve.err" || fail "generic refusal not logged"
make_cert "$T/nomac" "/O=Test/OU=SPA2102/CN=phone.example" \
	"$T/ca/device-ca.crt" "$T/ca/device-ca.key" -days 30
get "$T/nomac" /spa2102.cfg
expect_code 403

"$SPROV" ca issue "$T/ca" --mac 000e08aaaa04 --serial SNA04 --product SPA2102 --out "$T/dev" >/dev/null
"$SPROV" db devices add 000e08aaaa04 --serial SNA04 --product SPA2102 >/dev/null
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa04 >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
get "$T/dev/000e08aaaa04" /profiles/000e08aaaa04.xml
[ "$CURL_RC" -ne 0 ] || fail "revoked certificate accepted (HTTP $CODE)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "unknown device: 404 by default"
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa07 --serial SNA07 --product SPA2102 --out "$T/dev" >/dev/null
get "$T/dev/000e08aaaa07" /profiles/000e08aaaa07.xml
expect_code 404
case "$BODY" in *sip.example.net*) fail "unknown device got the defaults" ;; esac

note "access log: one line per request, fields present, no parameter values"
grep -q 'mac=000e08aaaa01 serial=SNA01 .*ip=127.0.0.1 ua="curl/.*path="/profiles/000e08aaaa01.xml" status=200 bytes=[0-9]* dur_us=[0-9]* etag="' \
	"$T/access.log" || fail "access log line: $(head -3 "$T/access.log")"
note "access log: a quote in the User-Agent cannot forge a field"
get "$T/dev/000e08aaaa01" /profiles/000e08aaaa01.xml -A 'evil" status=999 mac="000e08aaaa02'
expect_code 200
grep -q 'ua="evil\\x22 status=999 mac=\\x22000e08aaaa02"' "$T/access.log" ||
	fail "quote not escaped in the access log: $(grep evil "$T/access.log")"
_TESTS_RUN=$((_TESTS_RUN + 1))
if grep -q 'secret\|changedAAAA\|sip.example.net' "$T/access.log" "$T/serve.err"; then
	fail "a parameter value appears in a log"
fi
_TESTS_RUN=$((_TESTS_RUN + 2))

note "contact records reach the database (batched)"
for _ in $(seq 50); do
	"$SPROV" db devices show 000e08aaaa01 >"$T/show"
	grep -q 'last contact .* from 127.0.0.1, status 200' "$T/show" && break
	sleep 0.2
done
grep -q 'last contact .* from 127.0.0.1, status 200' "$T/show" || fail "no contact: $(head -8 "$T/show")"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "unknown-device = defaults: defaults-only profile, recorded as pending"
serve_start --crl "$T/device-ca.crl" --unknown-device defaults --contact-flush 100ms
get "$T/dev/000e08aaaa07" /profiles/000e08aaaa07.xml
expect_code 200
case "$BODY" in *sip.example.net*) ;; *) fail "no defaults: $BODY" ;; esac
case "$BODY" in *secret*|*changed*) fail "device values in a defaults profile" ;; esac
for _ in $(seq 50); do
	"$SPROV" db devices list >"$T/list"
	grep 000e08aaaa07 "$T/list" | grep -qi pending && break
	sleep 0.1
done
grep 000e08aaaa07 "$T/list" | grep -qi pending || fail "not pending: $(cat "$T/list")"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "intermediate CAs: root -> int1 -> int2 -> device (chain depth 3)"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/O=Test/CN=Root2" -keyout "$T/root2.key" -out "$T/root2.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/int1.key"
openssl req -new -key "$T/int1.key" -subj "/O=Test/CN=Int1" -out "$T/int1.csr"
openssl ca -batch -config "$T/oca/ca.cnf" -extensions ica -cert "$T/root2.crt" -keyfile "$T/root2.key" \
	-in "$T/int1.csr" -out "$T/int1.crt" -notext -days 30 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/int2.key"
openssl req -new -key "$T/int2.key" -subj "/O=Test/CN=Int2" -out "$T/int2.csr"
openssl ca -batch -config "$T/oca/ca.cnf" -extensions ica -cert "$T/int1.crt" -keyfile "$T/int1.key" \
	-in "$T/int2.csr" -out "$T/int2.crt" -notext -days 30 2>/dev/null
make_cert "$T/deep" "/O=Test/OU=SPA2102/CN=000e08aaaa01/serialNumber=SNA01" \
	"$T/int2.crt" "$T/int2.key" -days 30
cat "$T/int2.crt" "$T/int1.crt" >>"$T/deep/client.crt"
cat "$T/ca/device-ca.crt" "$T/root2.crt" >"$T/cas.crt"
PORT=$(free_port)
APORT=$(free_port)
bg_start "$SPROV" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/cas.crt" \
	--workers 1 >>"$T/access.log" 2>>"$T/serve.err"
SERVE_PID=$BG_PID
wait_port "$PORT" 20
get "$T/deep" /profiles/000e08aaaa01.xml
expect_code 200
case "$BODY" in *changedAAAA*) ;; *) fail "deep chain body: $BODY" ;; esac
serve_stop
finish
