#!/bin/bash
# sprov serve under abuse: malformed and oversized requests get their
# specific status; slow, dropped, garbage and idle connections are cut at
# their deadlines; overload answers 503 with a jittered Retry-After; and a
# good device is served within one second all along.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
# The slow connections below all come from 127.0.0.1, like the good device:
# the per-source handshake cap (serve_handshake_cap tests it) is off here so
# that the timeouts, not the cap, are what cut them.
serve_start --crl "$T/device-ca.crl" --handshake-timeout 2 --header-timeout 2 \
	--idle-timeout 3 --access-log off --handshakes-per-source 0

# raw REQUEST-BYTES-FILE: send over TLS as device A, print the status line.
raw() {
	{ cat "$1"; sleep 0.5; } | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" \
		-servername "$SRV_NAME" -CAfile "$T/ca/server-ca.crt" \
		-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" 2>/dev/null | head -1 | tr -d '\r' || true
}
expect_status() {
	local got
	got=$(raw "$T/req")
	case "$got" in "HTTP/1.1 $1"*) ;; *) fail "$2: expected $1, got '$got'" ;; esac
	_TESTS_RUN=$((_TESTS_RUN + 1))
}
long() { head -c "$1" /dev/zero | tr '\0' a; }

note "malformed requests: 400"
printf 'GARBAGE\r\n\r\n' >"$T/req"; expect_status 400 "one-word request line"
printf 'GET /spa2102.cfg HTTP/9.9\r\n\r\n' >"$T/req"; expect_status 400 "bad version"
printf 'GET /spa2102.cfg HTTP/1.1\r\nno colon here\r\n\r\n' >"$T/req"; expect_status 400 "bad header"
printf 'GET  HTTP/1.1\r\n\r\n' >"$T/req"; expect_status 400 "empty target"
note "request line too long: 414 (above max-request-line, and above max-header-size)"
printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(long 3000)" >"$T/req"; expect_status 414 "3000-byte target"
printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(long 20000)" >"$T/req"; expect_status 414 "20000-byte target"
note "headers too large: 431 (one huge header, many small ones)"
printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$(long 9000)" >"$T/req"
expect_status 431 "9000-byte header"
{ printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n'
  for i in $(seq 400); do printf 'X-H%d: aaaaaaaaaaaaaaaaaaaaaaaa\r\n' "$i"; done; printf '\r\n'; } >"$T/req"
expect_status 431 "400 headers"
note "pipelined: an oversized second request on a keep-alive connection"
{ printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\nGET /%s HTTP/1.1\r\n\r\n' "$(long 10000)"; sleep 0.5; } |
	timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -cert "$DEV_A/client.crt" \
	-key "$DEV_A/client.key" 2>/dev/null | grep '^HTTP/' | tr -d '\r' >"$T/pipe.out" || true
[ "$(cat "$T/pipe.out")" = "$(printf 'HTTP/1.1 200 OK\nHTTP/1.1 414 URI Too Long')" ] ||
	fail "pipelined: $(cat "$T/pipe.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))
note "a body too large: 413; other methods with a small body: 405"
printf 'POST /spa2102.cfg HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' >"$T/req"
expect_status 413 "big body"
printf 'PUT /spa2102.cfg HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' >"$T/req"
expect_status 405 "PUT"
note "still a good request on a fresh connection afterwards"
printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$T/req"; expect_status 200 "good"

note "500 slow connections (250 dribbling TLS headers, 250 dribbling a handshake),"
note "100 dropped mid-handshake, 50 garbage: all cut; a good device served < 1 s"
run_capture python3 "$SPROV_SRCDIR/tests/integration/serve_lib/abuse.py" "$PORT" \
	"$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" 250 250 100 50 8
echo "$OUT"
[ "$RC" -eq 0 ] || fail "abuse.py: $ERR"
j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$OUT" "$1"; }
[ "$(j good_fail)" = 0 ] || fail "good device failed: $(j good_errors)"
# Timed requests all through the abuse (3 s or more: each takes up to ~0.8 s
# under ASan on a loaded 2-core box, plus 0.25 s between them).
[ "$(j good_n)" -ge 2 ] || fail "too few good requests: $(j good_n)"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)" "$(j good_max)" ||
	fail "good device took $(j good_max) s"
[ "$(j tls_closed)" = 250 ] || fail "dribbling TLS connections not all cut"
[ "$(j raw_closed)" = 250 ] || fail "dribbling handshakes not all cut"
[ "$(j garbage_closed)" = 50 ] || fail "garbage connections not all closed"
[ "$(j garbage_plain_http)" = 0 ] || fail "plain HTTP answered"
# Not cut before the 2 s deadline, and all cut while abuse.py watched (8 s).
# The upper bound is loose on purpose: the times are taken by a Python loop
# that dribbles to 500 sockets, which lags by seconds on a loaded 2-core box.
python3 -c "import sys; sys.exit(0 if 1.5 < float(sys.argv[1]) < 8.0 and 1.5 < float(sys.argv[2]) < 8.0 else 1)" \
	"$(j tls_max)" "$(j raw_max)" || fail "deadlines off: tls $(j tls_max) raw $(j raw_max)"
_TESTS_RUN=$((_TESTS_RUN + 7))
[ "$(metric 'sprov_timeouts_total{phase="header"}')" -ge 250 ] || fail "header timeout metric"
[ "$(metric 'sprov_timeouts_total{phase="handshake"}')" -ge 250 ] || fail "handshake timeout metric"
[ "$(metric 'sprov_requests_total{status="431"}')" -ge 2 ] || fail "431 metric"
for i in $(seq 50); do [ "$(metric sprov_open_connections)" = 0 ] && break; sleep 0.1; done
[ "$(metric sprov_open_connections)" = 0 ] || fail "connections left open: $(metric sprov_open_connections)"

note "an idle TCP connection is closed at the handshake timeout"
python3 - "$PORT" <<'EOP' || fail "idle TCP connection not closed in time"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(6)
t = time.monotonic()
d = s.recv(10)
dt = time.monotonic() - t
sys.exit(0 if d == b"" and 1.5 < dt < 4 else 1)
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "overload: 503 with a jittered Retry-After, and no unbounded queue"
serve_start --crl "$T/device-ca.crl" --max-connections 20 --overload-connections 4 \
	--retry-after 10 --workers 1 --access-log off
python3 - "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" <<'EOP' >"$T/ov.out" || fail "overload: $(cat "$T/ov.out")"
import socket, ssl, sys
port, ca, crt, key = int(sys.argv[1]), *sys.argv[2:5]
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.load_verify_locations(ca)
c.load_cert_chain(crt, key)
held = []
for i in range(6):
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="prov.test.example")
    held.append(s)
s = held[-1]
s.sendall(b"GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n")
d = s.recv(4096).decode()
ra = [l for l in d.split("\r\n") if l.lower().startswith("retry-after:")]
print(d.split("\r\n")[0], ra)
ok = d.startswith("HTTP/1.1 503") and ra and 10 < int(ra[0].split(":")[1]) <= 20
for s in held:
    s.close()
sys.exit(0 if ok else 1)
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))
# The held connections are closed: served again once the server has seen
# the closes (a fixed 0.3 s raced a loaded machine).
for _ in $(seq 50); do get "$DEV_A" /spa2102.cfg; [ "$CODE" = 503 ] || break; sleep 0.1; done
expect_code 200
serve_stop

note "max-connections: a full worker stops accepting until a connection ends"
serve_start --crl "$T/device-ca.crl" --max-connections 3 --overload-connections 3 \
	--workers 1 --access-log off
python3 - "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" <<'EOP' >"$T/max.out" || fail "max-connections: $(cat "$T/max.out")"
import socket, ssl, sys, time
port, ca, crt, key = int(sys.argv[1]), *sys.argv[2:5]
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.load_verify_locations(ca)
c.load_cert_chain(crt, key)
def conn(timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return c.wrap_socket(s, server_hostname="prov.test.example")
held = [conn(5) for i in range(3)]
try:
    conn(1)
    print("4th handshake completed while full")
    sys.exit(1)
except (socket.timeout, TimeoutError):
    pass
held.pop().close()
t = conn(5)  # accepted from the backlog once a slot is free
t.sendall(b"GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
d = t.recv(100)
print(d[:20])
sys.exit(0 if d.startswith(b"HTTP/1.1 200") else 1)
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
