#!/usr/bin/env bash
# A cache miss waits for the store thread while its worker serves others;
# a device that hangs up while its request waits is seen at once (499 in
# the access log, its job cancelled, not rendered), and nothing touches
# its freed request (ASan build).  The store is slowed down by a test-build hook
# (SPROV_TEST_RENDER_DELAY_MS) so every request below waits 300 ms.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
export SPROV_TEST_RENDER_DELAY_MS=300
serve_start --workers 1
unset SPROV_TEST_RENDER_DELAY_MS

# hangup N WAIT: N connections as device A send a request for its own
# profile together and close WAIT seconds later (before the 300 ms render).
hangup() {
	python3 - "$PORT" "$T/ca/server-ca.crt" "$DEV_A/client.crt" "$DEV_A/client.key" \
		"$SRV_NAME" "$1" "$2" <<'PY'
import socket, ssl, sys, time
port, ca, crt, key, name, n, wait = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(crt, key)
# Handshakes first (slow under ASan), then every request at once: all
# are cache misses waiting for the store thread when the device hangs up.
socks = [ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))),
    server_hostname=name) for i in range(int(n))]
for s in socks:
    s.sendall(b"GET /profiles/000e08aaaa01.xml HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(float(wait))
for s in socks:
    s.close()
PY
}

note "a cache miss waits for the (slow) store; meanwhile a second device's miss waits too"
t0=$(date +%s%N)
get "$DEV_A" /profiles/000e08aaaa01.xml &
pa=$!
get "$DEV_B" /spa962.cfg
wait $pa
expect_code 200
ms=$((($(date +%s%N) - t0) / 1000000))
[ $ms -ge 300 ] || fail "served in $ms ms: the render delay hook did not work"

note "20 devices hang up at once while their requests wait, 20 more right after sending"
"$SPROV" db params set --device 000e08aaaa01 Password_1_=changed1 >/dev/null
sleep 0.2 # the store thread sees the change: the next request is a miss again
hangup 20 0.05 || fail "hangup client failed"
sleep 0.5 # the render the store thread had begun ends before the next change
"$SPROV" db params set --device 000e08aaaa01 Password_1_=changed2 >/dev/null
sleep 0.2
hangup 20 0 || fail "hangup client failed"
sleep 1 # the renders finish; their requests are gone
kill -0 "$SERVE_PID" 2>/dev/null || fail "sprov serve died: $(tail -20 "$T/serve.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))

# 40 hang-ups.  Seen while waiting (the first group): 499 in the log,
# note=client-gone.  A hang-up that reaches evhttp with the request (the
# second group: request and FIN together) frees the connection: the close
# callback cancels the job, nothing is logged.  Either way no profile was
# sent, and only jobs the store thread had begun were rendered (2 before,
# at most 2 per group).
gone=$(grep -c 'status=499 .*note=client-gone' "$T/access.log" || true)
sent=$(grep -c '000e08aaaa01.xml" status=200' "$T/access.log" || true)
note "access log: $gone hang-ups seen while waiting, $sent profiles sent; $(metric sprov_renders_total) renders"
[ "$gone" -ge 10 ] || fail "only $gone hang-ups seen while their requests waited"
[ "$sent" -le 1 ] || fail "profiles sent to devices that hung up: $((sent - 1))"
[ "$(metric sprov_renders_total)" -le 6 ] || fail "cancelled jobs rendered: $(metric sprov_renders_total)"
note "the server still serves, the changed value, in full"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
case "$BODY" in *"<Password_1_>changed2</Password_1_>"*) ;; *) fail "profile: $BODY" ;; esac
[ "$(metric sprov_open_connections)" -le 1 ] || fail "connections left open: $(metric sprov_open_connections)"

note "it drains and exits 0, no sanitizer report"
serve_stop
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
