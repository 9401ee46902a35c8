#!/bin/bash
# sprov serve: handshakes-per-source (trust finding 5).  Idle TCP connections
# from one address (no ClientHello) count toward its cap from accept until
# their handshake completes or they close; past the cap a connection from
# that address is closed at once, without a ServerHello, counted in
# sprov_handshakes_refused_per_source_total and logged at most once a
# second.  Good devices from another address are served meanwhile, and
# established connections do not count.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
CAP=8
EXTRA=20
serve_start --crl "$T/device-ca.crl" --handshakes-per-source "$CAP" \
	--handshake-timeout 30 --access-log off

# wait_metric NAME VALUE: up to 10 s for /metrics to show it.
wait_metric() {
	local i
	for i in $(seq 100); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 is '$(metric "$1")', not $2"
}

note "$CAP idle TCP connections from 127.0.0.2 fill its cap"
bg_start python3 "$SPROV_SRCDIR/tests/integration/serve_lib/idle.py" "$PORT" "$CAP" "$T/idle.ready"
IDLE_PID=$BG_PID
for i in $(seq 100); do [ -s "$T/idle.ready" ] && break; sleep 0.1; done
[ "$(cat "$T/idle.ready" 2>/dev/null)" = "$CAP" ] || fail "could not open $CAP idle connections"
wait_metric sprov_open_connections "$CAP"
[ "$(metric sprov_handshakes_refused_per_source_total)" = 0 ] ||
	fail "refused before the cap: $(metric sprov_handshakes_refused_per_source_total)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a good device from 127.0.0.1 is served meanwhile"
get "$DEV_A" /spa2102.cfg
expect_code 200

note "$EXTRA more from 127.0.0.2 send a ClientHello and are closed without a ServerHello"
python3 - "$PORT" "$EXTRA" <<'EOP' >"$T/extra.out" 2>&1 || fail "over the cap: $(cat "$T/extra.out")"
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for i in range(n):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_hostname="prov.test.example")
    try:
        o.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert hello[:1] == b"\x16", hello[:8]
    s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
    s.settimeout(10)
    got = b""
    try:
        s.sendall(hello)
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        sys.exit("connection %d: still open after 10 s (%d bytes)" % (i, len(got)))
    if got:
        sys.exit("connection %d: the server answered %d bytes, first %r" % (i, len(got), got[:6]))
    s.close()
print("closed", n)
EOP
[ "$(cat "$T/extra.out")" = "closed $EXTRA" ] || fail "over the cap: $(cat "$T/extra.out")"
_TESTS_RUN=$((_TESTS_RUN + 1))
wait_metric sprov_handshakes_refused_per_source_total "$EXTRA"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the refusals are logged, at most once a second"
LINE="tls: 127.0.0.2 has $CAP connections in the TLS handshake (handshakes-per-source = $CAP): connection closed without a handshake"
grep -F "$LINE (1 refused in the last second)" "$T/serve.err" >/dev/null ||
	fail "no first refusal line: $(grep 'handshakes-per-source' "$T/serve.err")"
N=$(grep -cF "$LINE" "$T/serve.err")
[ "$N" -ge 1 ] && [ "$N" -le 3 ] || fail "$N refusal lines for $EXTRA refusals (a flood)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "once the idle connections close, 127.0.0.2 is served again"
bg_kill "$IDLE_PID"
wait_metric sprov_open_connections 0
get "$DEV_A" /spa2102.cfg --interface 127.0.0.2
expect_code 200

note "established connections do not count: $CAP held from 127.0.0.2, one more is served"
python3 - "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" "$CAP" \
	"$T/est.ready" <<'EOP' >"$T/est.out" 2>&1 &
import socket, ssl, sys, time
port, ca, crt, key, n, ready = int(sys.argv[1]), *sys.argv[2:5], int(sys.argv[5]), sys.argv[6]
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.load_verify_locations(ca)
c.load_cert_chain(crt, key)
held = [c.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                               source_address=("127.0.0.2", 0)),
                      server_hostname="prov.test.example") for _ in range(n)]
open(ready, "w").write("%d\n" % len(held))
time.sleep(60)
EOP
EST_PID=$!
_BG_PIDS+=("$EST_PID")
for i in $(seq 100); do [ -s "$T/est.ready" ] && break; sleep 0.1; done
[ "$(cat "$T/est.ready" 2>/dev/null)" = "$CAP" ] || fail "could not hold $CAP TLS connections: $(cat "$T/est.out")"
get "$DEV_A" /spa2102.cfg --interface 127.0.0.2
expect_code 200
[ "$(metric sprov_handshakes_refused_per_source_total)" = "$EXTRA" ] ||
	fail "refused more: $(metric sprov_handshakes_refused_per_source_total)"
_TESTS_RUN=$((_TESTS_RUN + 1))
bg_kill "$EST_PID"

serve_stop
finish
