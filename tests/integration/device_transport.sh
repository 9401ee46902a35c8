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
truncated eof.xml "http_get failed: HTTP 200 without Content-Length"
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
finish
