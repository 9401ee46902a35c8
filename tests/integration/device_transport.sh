#!/usr/bin/env bash
# sprov device resync against a misbehaving TLS server: truncated bodies
# (reset halfway, EOF without close_notify), an oversized body, and a resync
# killed in the middle of a download.  The store must never change.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
start_dns
PORT=$(free_port)
bg_start python3 "$SPROV_SRCDIR/tests/integration/device_tls_server.py" "$PORT" \
	"$T/pki/good.crt" "$T/pki/good.key" "$T/pki/device-ca.crt" "$T/requests.log"
wait_port "$PORT"
URL=https://$FQDN:$PORT

D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$T/pki/bundle" --rule "$URL/ok.xml"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS"
grep -q Half_Param "$D/params.xml" || fail "whole profile not applied"
H=$(store_hash "$D")
# The next profiles must not be applied: make ok.xml's content differ from them.
sed -i 's/<\/flat-profile>/<Marker>1<\/Marker><\/flat-profile>/' "$D/params.xml"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/ok.xml"
H=$(store_hash "$D")

note "--post b: the expanded GPP_B is the body of a POST"
echo 'GPP_B = mac=$MA&sn=$SN&key=$SA' >>"$D/device.conf"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "[--post b] $URL/post.xml"
tail -1 "$T/requests.log" | grep -q '^POST /post.xml ' || fail "not a POST: $(tail -1 "$T/requests.log")"
grep -q '<Posted>mac=000e08aabbcc&amp;sn=88012BA01234&amp;key=$SA</Posted>' "$D/params.xml" ||
	fail "POST body: $(grep Posted "$D/params.xml")"
sed -i '/^GPP_B/d' "$D/device.conf"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/ok.xml"
H=$(store_hash "$D")

truncated() {
	expect_rc 1 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/$1"
	expect_err_contains "$2"
	[ "$(store_hash "$D")" = "$H" ] || fail "store changed after $1"
	ls "$D" | grep -q tmp && fail "temporary file left after $1"
	return 0
}
note "connection reset halfway through the body"
truncated half.xml "http_get failed: Failure when receiving data from the peer"
note "a clean close before Content-Length bytes"
truncated short.xml "http_get failed:"
note "EOF without close_notify (a close-delimited body cut short)"
truncated eof.xml "http_get failed: HTTP 200 without Content-Length or chunked encoding, and the connection ended without TLS close_notify"
note "HTTP/1.0 without Content-Length, ended by close_notify: a whole profile"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/http10.xml"
grep -q Http10_Param "$D/params.xml" || fail "close_notify-delimited profile not applied"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/ok.xml"
H=$(store_hash "$D")
note "openssl s_server -WWW (HTTP/1.0, no Content-Length, close_notify)"
WPORT=$(free_port)
mkdir -p "$T/www"
printf '<flat-profile><Www_Param>s_server</Www_Param></flat-profile>\n' >"$T/www/w.xml"
(cd "$T/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:$WPORT" \
	-cert "$T/pki/good.crt" -key "$T/pki/good.key" -Verify 1 -CAfile "$T/pki/device-ca.crt" \
	>"$T/s_server.log" 2>&1) &
_BG_PIDS+=("$!")
wait_port "$WPORT"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "https://$FQDN:$WPORT/w.xml"
grep -q '<Www_Param>s_server</Www_Param>' "$D/params.xml" || fail "s_server -WWW profile not applied: $ERR"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/ok.xml"
H=$(store_hash "$D")
note "a body over the size cap"
truncated huge.xml "larger than"

note "a resync killed in the middle of the download"
"$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/slow.xml" 2>"$T/slow.err" &
SLOW=$!
for _ in $(seq 100); do grep -q slow.xml "$T/requests.log" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -KILL "$SLOW"; wait "$SLOW" 2>/dev/null || true
[ "$(store_hash "$D")" = "$H" ] || fail "store changed after a kill"
ls "$D" | grep -q tmp && fail "temporary file left after a kill"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS" --rule "$URL/ok.xml"

note "SIGTERM to the daemon in the middle of a download: prompt, clean, store intact"
H=$(store_hash "$D")
sed -i "s|^Profile_Rule = .*|Profile_Rule = $URL/slow.xml|" "$D/device.conf"
echo "Resync_Random_Delay = 0" >>"$D/device.conf"
n=$(grep -c slow.xml "$T/requests.log")
"$SPROV" device run "$D" --dns-server "$DNS" 2>"$T/run.err" &
RUN=$!
for _ in $(seq 200); do [ "$(grep -c slow.xml "$T/requests.log")" -gt "$n" ] && break; sleep 0.05; done
sleep 0.2
kill -TERM "$RUN"
for _ in $(seq 60); do kill -0 "$RUN" 2>/dev/null || break; sleep 0.05; done
kill -0 "$RUN" 2>/dev/null && fail "the daemon did not stop within 3 s of SIGTERM"
set +e; wait "$RUN"; rc=$?; set -e
[ $rc -eq 0 ] || fail "daemon exited $rc: $(cat "$T/run.err")"
grep -q "device stopped" "$T/run.err" || fail "no clean stop: $(cat "$T/run.err")"
[ "$(store_hash "$D")" = "$H" ] || fail "store changed by a cancelled round"
ls "$D" | grep -q tmp && fail "temporary file left after SIGTERM"
finish
