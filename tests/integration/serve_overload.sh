#!/bin/bash
# sprov serve: only connections past the TLS handshake count toward
# overload-connections.  Idle TCP connections (no ClientHello) from one
# address must not get good devices from another address turned away with
# 503; established connections above the threshold still get 503.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
IDLE=200
serve_start --max-connections 2000 --overload-connections 8 --handshakes-per-source 0 --workers 1 \
	--handshake-timeout 30 --access-log off

note "$IDLE idle TCP connections from 127.0.0.2, then a good device from 127.0.0.1"
bg_start python3 "$SPROV_SRCDIR/tests/integration/serve_lib/idle.py" "$PORT" "$IDLE" "$T/idle.ready"
IDLE_PID=$BG_PID
for i in $(seq 100); do [ -s "$T/idle.ready" ] && break; sleep 0.1; done
[ "$(cat "$T/idle.ready" 2>/dev/null)" = "$IDLE" ] || fail "could not open $IDLE idle connections"
sleep 0.5 # let the server accept them all
[ "$(metric sprov_open_connections)" -ge "$IDLE" ] ||
	fail "the server holds $(metric sprov_open_connections) connections, not $IDLE"
for i in 1 2 3 4 5 6; do
	get "$DEV_A" /spa2102.cfg
	expect_code 200
done
[ "$(metric sprov_overload_total)" = 0 ] || fail "overload counted: $(metric sprov_overload_total)"
bg_kill "$IDLE_PID"

note "established connections above the threshold still get 503"
python3 - "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" <<'EOP' >"$T/ov.out" || fail "overload: $(cat "$T/ov.out")"
import socket, ssl, sys
port, ca, crt, key = int(sys.argv[1]), *sys.argv[2:5]
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.load_verify_locations(ca)
c.load_cert_chain(crt, key)
held = [c.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                      server_hostname="prov.test.example") for _ in range(10)]
s = held[-1]
s.sendall(b"GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n")
d = s.recv(4096).decode()
print(d.split("\r\n")[0])
sys.exit(0 if d.startswith("HTTP/1.1 503") else 1)
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
