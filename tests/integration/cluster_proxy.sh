#!/bin/bash
# Issue 13, cluster test 6: PROXY protocol v2 through HAProxy.  A device
# connecting to HAProxy from 127.0.0.7 shows as 127.0.0.7 in the node's
# access log and in its contact record in PostgreSQL.  A PROXY header sent
# straight to the node from a source not in proxy-from fails the TLS
# handshake; a source in proxy-from that sends no header, a bad one, or
# half of one is refused: the exact log line, sprov_proxy_refused_total,
# and nothing served or written.
SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/haproxy.sh"
. "$SPROV_SRCDIR/tests/lib/cluster.sh"
RAW="$SPROV_SRCDIR/tests/integration/cluster_lib/rawclient.py"

serve_pki
serve_db

note "a bad proxy-from is refused by --check-config and at start, naming the entry; nothing written"
# What is in $T but expect_rc's own capture files.
t_state() { find "$T" -mindepth 1 ! -name .out ! -name .err -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum; }
printf '[serve]\nproxy-from = 127.0.0.1, localhost\n' >"$T/bad.conf"
before=$(t_state)
expect_rc 1 "$SPROV" serve --check-config --listen 127.0.0.1:9 --cert "$T/provserver.crt" \
	--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" --proxy-from "127.0.0.1, 10.0.0.1/8"
[ "$ERR" = "sprov serve: --proxy-from: proxy-from: '10.0.0.1/8' has host bits set under its /8" ] ||
	fail "message: $ERR"
expect_rc 1 "$SPROV" serve --config "$T/bad.conf" --listen 127.0.0.1:9 --admin off \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
[ "$ERR" = "sprov serve: $T/bad.conf: config line 2: proxy-from: 'localhost' is not an IP address or CIDR prefix" ] ||
	fail "message: $ERR"
[ "$(t_state)" = "$before" ] || fail "a refused start wrote something in $T"
node_start 1 contact-flush=100ms handshake-timeout=1 handshakes-per-source=1
node_start 2 tls-backend=openssl handshakes-per-source=1
haproxy_start "127.0.0.1:${NODE_PORT[1]}"
haproxy_wait_up 1

# contacts WHERE: contact rows matching the condition.
contacts() { psql -qAtX "$SPROV_STORE" -c "SELECT count(*) FROM contacts WHERE $1"; }
lines() { wc -l <"$T/node1.access"; }

note "HAProxy's health checks (connect, close) are not refused connections"
[ "$(node_metric 1 sprov_proxy_refused_total)" = 0 ] ||
	fail "health checks counted as refused: $(grep PROXY "$T/node1.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a device through HAProxy from 127.0.0.7: the node logs 127.0.0.7"
PORT=$HA_PORT get "$DEV_A" /profiles/000e08aaaa01.xml --interface 127.0.0.7
expect_code 200
case "$BODY" in *"<Password_1_>secretAAAA</Password_1_>"*) ;; *) fail "profile: $BODY" ;; esac
last=$(tail -1 "$T/node1.access")
case "$last" in *" ip=127.0.0.7 "*) ;; *) fail "access log does not name ip=127.0.0.7: $last" ;; esac

note "... and so does its contact record in PostgreSQL"
i=0
until [ "$(contacts "mac = '000e08aaaa01' AND ip = '127.0.0.7'")" = 1 ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "no contact record with 127.0.0.7: $(psql -qAtX "$SPROV_STORE" -c 'TABLE contacts')"
	sleep 0.05
done
[ "$(contacts "true")" = 1 ] || fail "other contact records: $(psql -qAtX "$SPROV_STORE" -c 'TABLE contacts')"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "plain text through HAProxy never reaches a node: HAProxy refuses it (no ClientHello)"
# HAProxy's own counters: sessions it opened to node1, requests its
# tcp-request rules denied.  (The node's handshake counters also move with
# HAProxy's health checks, so they cannot show this.)
stot0=$(haproxy_stat sprov node1 stot)
dreq0=$(haproxy_stat devices FRONTEND dreq)
[ "$stot0" -ge 1 ] || fail "HAProxy counts no session to node1, though it served one"
lines0=$(lines)
expect_rc 0 python3 - 127.0.0.1 "$HA_PORT" <<'PY'
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"GET /profiles/000e08aaaa01.xml HTTP/1.0\r\n\r\n")
t0 = time.monotonic()
try:
    data = c.recv(4096)  # refused: EOF or a reset, nothing else
except ConnectionResetError:
    data = b""
sys.exit(0 if data == b"" and time.monotonic() - t0 < 4 else f"got {data!r} after {time.monotonic() - t0:.1f}s")
PY
[ "$(haproxy_stat devices FRONTEND dreq)" = $((dreq0 + 1)) ] ||
	fail "HAProxy did not deny it: dreq $dreq0 -> $(haproxy_stat devices FRONTEND dreq)"
[ "$(haproxy_stat sprov node1 stot)" = "$stot0" ] ||
	fail "HAProxy passed it to node1: stot $stot0 -> $(haproxy_stat sprov node1 stot)"
[ "$(lines)" = "$lines0" ] || fail "the node logged a request: $(tail -1 "$T/node1.access")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a source not in proxy-from is served as without proxy-from (its own address)"
PORT=${NODE_PORT[1]} get "$DEV_B" /spa000e08aaaa02.cfg --interface 127.0.0.7
expect_code 200
case "$(tail -1 "$T/node1.access")" in *" ip=127.0.0.7 "*) ;; *) fail "direct: $(tail -1 "$T/node1.access")" ;; esac

before_lines=$(lines)
before_db=$(store_digest)
before_contacts=$(psql -qAtX "$SPROV_STORE" -c "SELECT mac, time, ip FROM contacts ORDER BY mac")
# Handshakes that did not complete (the backends differ: failed or aborted).
hs_bad() {
	echo $(($(node_metric 1 'sprov_tls_handshakes_total{result="failed"}') +
		$(node_metric 1 'sprov_tls_handshakes_total{result="aborted"}')))
}
hs_before=$(hs_bad)

note "a PROXY header from a source not in proxy-from: the TLS handshake fails, nothing served"
expect_rc 3 python3 "$RAW" proxy-tls 127.0.0.7 "${NODE_PORT[1]}" "$DEV_A" "$T/ca/server-ca.crt"
expect_out_contains "refused:"
[ "$(node_metric 1 sprov_proxy_refused_total)" = 0 ] || fail "counted as a proxy-from refusal"
[ "$(hs_bad)" -gt "$hs_before" ] || fail "no failed handshake counted"
[ "$(contacts "ip = '10.9.9.9'")" = 0 ] || fail "a contact record for the forged address"

# refused_until REASON CMD...: run CMD until the node logs a refusal for
# REASON (one line a second at most); $TRIES: how many runs it took.
refused_until() {
	local reason=$1 i=0
	shift
	TRIES=0
	while :; do
		"$@" >/dev/null 2>&1 || true
		TRIES=$((TRIES + 1))
		grep -q "serve: PROXY v2 header refused from 127.0.0.1: $reason; connection closed" \
			"$T/node1.err" && return 0
		[ $TRIES -lt 40 ] || fail "no refusal logged for '$reason': $(tail -3 "$T/node1.err")"
		sleep 0.05
	done
}
total=0

note "a proxy-from source sending TLS without a PROXY header: refused, logged, counted"
PORT=${NODE_PORT[1]} get "$DEV_A" /profiles/000e08aaaa01.xml
[ "$CODE" = 000 ] || fail "served without a PROXY header: HTTP $CODE"
line="serve: PROXY v2 header refused from 127.0.0.1: no PROXY v2 signature; connection closed (1 refused since the previous such line)"
grep -qF "$line" "$T/node1.err" || fail "no line '$line' in: $(tail -3 "$T/node1.err")"
total=1
[ "$(node_metric 1 sprov_proxy_refused_total)" = $total ] || fail "refusals: $(node_metric 1 sprov_proxy_refused_total)"
_TESTS_RUN=$((_TESTS_RUN + 1))

# refused_case MODE REASON: rawclient MODE from 127.0.0.1 is refused for
# REASON (logged once at least), once more after that; each one counted.
refused_case() {
	refused_until "$2" python3 "$RAW" "$1" 127.0.0.1 "${NODE_PORT[1]}"
	total=$((total + TRIES))
	expect_rc 3 python3 "$RAW" "$1" 127.0.0.1 "${NODE_PORT[1]}"
	total=$((total + 1))
	[ "$(node_metric 1 sprov_proxy_refused_total)" = $total ] ||
		fail "refusals: $(node_metric 1 sprov_proxy_refused_total), want $total"
}

note "a proxy-from source sending a version-3 header: refused at once"
refused_case garbage "PROXY protocol version is not 2"

note "half a header, then silence: closed at handshake-timeout (1 s)"
refused_case partial "no complete header within handshake-timeout"

note "none of the refused connections was served or written"
[ "$(lines)" = "$before_lines" ] || fail "access log grew: $(tail -3 "$T/node1.access")"
[ "$(store_digest)" = "$before_db" ] || fail "the store changed"
sleep 0.2 # two contact flush intervals: a record would be written by now
[ "$(psql -qAtX "$SPROV_STORE" -c "SELECT mac, time, ip FROM contacts ORDER BY mac")" = "$before_contacts" ] ||
	fail "contact records changed: $(psql -qAtX "$SPROV_STORE" -c 'TABLE contacts')"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a header and TLS from a proxy-from source, as HAProxy sends them: served as 10.9.9.9 (both TLS backends)"
for i in 1 2; do
	expect_rc 0 python3 "$RAW" proxy-tls 127.0.0.1 "${NODE_PORT[$i]}" "$DEV_A" "$T/ca/server-ca.crt"
	expect_out_contains "served b'HTTP/1.1 200"
	case "$(tail -1 "$T/node$i.access")" in *" ip=10.9.9.9 "*) ;; *) fail "node $i: $(tail -1 "$T/node$i.access")" ;; esac
done

note "an HTTP/1.0 request after a PROXY header: answered, then the connection closes"
for i in 1 2; do
	RAW_HTTP10=1 expect_rc 0 python3 "$RAW" proxy-tls 127.0.0.1 "${NODE_PORT[$i]}" "$DEV_A" "$T/ca/server-ca.crt"
	expect_out_contains "served b'HTTP/1.0 200"
done

note "handshakes-per-source counts the header's address, not the balancer's"
expect_rc 0 python3 "$RAW" proxy-cap 127.0.0.1 "${NODE_PORT[2]}" 10.9.9.5 10.9.9.6
grep -q "tls: 10.9.9.5 has 1 connections in the TLS handshake (handshakes-per-source = 1)" "$T/node2.err" ||
	fail "no per-source refusal naming 10.9.9.5: $(tail -3 "$T/node2.err")"
! grep -q "tls: 127.0.0.1 has" "$T/node2.err" || fail "the cap counted the balancer's address"

note "HAProxy still serves 127.0.0.7 after all that"
PORT=$HA_PORT get "$DEV_A" /profiles/000e08aaaa01.xml --interface 127.0.0.7
expect_code 200

haproxy_stop
node_stop 1
node_stop 2
finish
