#!/bin/bash
# sprov serve: why devices are refused reaches the store (issue 14, failure
# records).  Real peers (curl, Python's ssl) with a revoked, an expired, a
# not-yet-valid, a wrong-CA, a server-CA and no certificate; a 403 mismatch,
# an unknown and a disabled device.  The store then holds each reason
# against the MAC the certificate names, and the nameless one against the
# address; a served device gets no record; no device row is added.  A storm
# of refused handshakes folds into one record and leaves the queue bounded
# (metrics).  On both TLS backends (int_serve_failures_gnutls).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

DB=${SPROV_STORE#sqlite:}
# The server writes meanwhile: wait for its lock rather than fail.
sql() { sqlite3 -cmd '.timeout 5000' "$DB" "$@"; }
serve_pki
serve_db
openssl_ca_conf "$T/oca"
DCA="$T/ca/device-ca.crt"
DKEY="$T/ca/device-ca.key"
[ -f "$DKEY" ] || DKEY=$(ls "$T"/ca/device-ca*.key 2>/dev/null | head -1)
# C: revoked.  D: expired.  E: not yet valid.  F: from another vendor's CA.
# G: issued by the server CA.  H: valid, not in the database.  I: disabled.
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa03 --serial SNA03 --product SPA2102 \
	--out "$T/dev" >/dev/null
"$SPROV" db devices add 000e08aaaa03 --serial SNA03 --product SPA2102 >/dev/null
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa03 >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
make_cert "$T/expired" "/OU=SPA2102/L=SNA04/ST=000e08aaaa04" "$DCA" "$DKEY" \
	-startdate 20200101000000Z -enddate 20200201000000Z
make_cert "$T/future" "/OU=SPA2102/L=SNA05/ST=000e08aaaa05" "$DCA" "$DKEY" \
	-startdate 20990101000000Z -enddate 20991231000000Z
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca issue "$T/ca2" --mac 000e08aaaa06 --serial SNA06 --product SPA2102 \
	--out "$T/dev2" >/dev/null
make_cert "$T/serverca" "/OU=SPA2102/L=SNA07/ST=000e08aaaa07" \
	"$T/ca/server-ca.crt" "$T/ca/server-ca.key" -days 30
cat "$DCA" "$T/ca/server-ca.crt" >"$T/trust.pem"
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa08 --serial SNA08 --product SPA2102 \
	--out "$T/dev" >/dev/null
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa09 --serial SNA09 --product SPA2102 \
	--out "$T/dev" >/dev/null
"$SPROV" db devices add 000e08aaaa09 --serial SNA09 --product SPA2102 --disabled >/dev/null
ndev=$(sql 'SELECT count(*) FROM devices')
serve_start --crl "$T/device-ca.crl" --client-ca "$T/trust.pem" --contact-flush 100ms \
	--node-name test-node-1

# The reason names of store/console.h, in sp_fail_reason order.
reasons=(revoked expired not-yet-valid wrong-purpose untrusted no-crl no-certificate
	bad-identity unknown-device disabled identity-mismatch handshake)
rnum() { local i; for i in "${!reasons[@]}"; do [ "${reasons[$i]}" = "$1" ] && echo "$i"; done; }
# failures_of MAC: "reason=count ..." the store holds against it.
failures_of() {
	sql "SELECT reason, n FROM failcounts WHERE replace(lower(mac), ':', '') = '$1' ORDER BY reason" |
		while IFS='|' read -r r n; do printf '%s=%s ' "${reasons[$r]}" "$n"; done
}
wait_flushed() {
	local i
	for i in $(seq 100); do
		[ "$(metric sprov_failure_queue)" = 0 ] &&
			[ "$(metric sprov_failure_records_written_total)" -ge "$1" ] && return 0
		sleep 0.05
	done
	fail "failure records not written: queue $(metric sprov_failure_queue), written $(metric sprov_failure_records_written_total); store: $(sql 'SELECT * FROM failcounts; SELECT * FROM failsrc' | tr '\n' ' ')"
}

note "a served device: no failure recorded"
get "$DEV_B" /spa000e08aaaa02.cfg
expect_code 200

note "refused handshakes and requests, with real clients"
for d in "$T/dev/000e08aaaa03" "$T/expired" "$T/future" "$T/dev2/000e08aaaa06" "$T/serverca"; do
	get "$d" /profiles/000e08aaaa01.xml
	[ "$CURL_RC" -ne 0 ] || fail "$d: served (HTTP $CODE)"
done
set +e
CODE=$(curl -sS --max-time 10 --resolve "$SRV_NAME:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
	-o /dev/null -w '%{http_code}' "https://$SRV_NAME:$PORT/profiles/000e08aaaa01.xml" 2>/dev/null)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "no certificate: served (HTTP $CODE)"
get "$DEV_A" /profiles/000e08aaaa02.xml
expect_code 403
get "$T/dev/000e08aaaa08" /profiles/000e08aaaa08.xml
expect_code 404
get "$T/dev/000e08aaaa09" /profiles/000e08aaaa09.xml
expect_code 404
wait_flushed 9

note "each reason against the MAC the certificate names"
check() {
	local got
	got=$(failures_of "$1")
	[ "$got" = "$2" ] || fail "$1: store holds '$got', expected '$2'"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}
check 000e08aaaa03 "revoked=1 "
check 000e08aaaa04 "expired=1 "
check 000e08aaaa05 "not-yet-valid=1 "
check 000e08aaaa06 "untrusted=1 "
check 000e08aaaa07 "wrong-purpose=1 "
check 000e08aaaa01 "identity-mismatch=1 "
check 000e08aaaa08 "unknown-device=1 "
check 000e08aaaa09 "disabled=1 "
check 000e08aaaa02 ""

note "the nameless one against the address"
got=$(sql "SELECT ip, n FROM failsrc WHERE reason = $(rnum no-certificate)")
[ "$got" = "127.0.0.1|1" ] || fail "no-certificate by address: '$got'"
[ "$(sql 'SELECT count(*) FROM failsrc')" = 1 ] ||
	fail "other nameless records: $(sql 'SELECT * FROM failsrc')"
[ "$(sql 'SELECT count(*) FROM devices')" = "$ndev" ] ||
	fail "a refusal added a device: $(sql 'SELECT mac FROM devices')"
for r in revoked expired not-yet-valid untrusted wrong-purpose no-certificate \
	identity-mismatch unknown-device disabled; do
	[ "$(metric "sprov_handshake_failures_total{reason=\"$r\"}")" = 1 ] ||
		fail "metric for $r: $(metric "sprov_handshake_failures_total{reason=\"$r\"}")"
done
_TESTS_RUN=$((_TESTS_RUN + 3))

note "a storm of refused handshakes folds into one record; the queue stays bounded"
python3 - "$PORT" <<'EOP' || fail "storm client failed"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for i in range(100):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    try:
        t = ctx.wrap_socket(s)
        t.sendall(b"GET / HTTP/1.0\r\n\r\n")   # TLS 1.3: the refusal comes after
        t.recv(1)
    except (ssl.SSLError, OSError):
        pass
    finally:
        s.close()
EOP
for i in $(seq 100); do
	[ "$(metric 'sprov_handshake_failures_total{reason="no-certificate"}')" -ge 101 ] && break
	sleep 0.05
done
n=$(metric 'sprov_handshake_failures_total{reason="no-certificate"}')
[ "$n" = 101 ] || fail "no-certificate refusals counted: $n, expected 101"
[ "$(metric sprov_failure_records_dropped_total)" = 0 ] || fail "records dropped"
q=$(metric sprov_failure_queue)
[ "$q" -le 1 ] || fail "failure queue holds $q keys for one address"
wait_flushed 10
got=$(sql "SELECT n FROM failsrc WHERE reason = $(rnum no-certificate) AND ip = '127.0.0.1'")
[ "$got" = 101 ] || fail "stored count for 127.0.0.1: '$got'"
_TESTS_RUN=$((_TESTS_RUN + 2))

note "the node's state is in the store"
st=$(sql "SELECT CAST(data AS TEXT) FROM cluster_data WHERE name = 'node:test-node-1' ORDER BY version DESC LIMIT 1")
python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["name"] == "test-node-1", o
assert set(o) == {"name", "started", "backend", "version", "open", "requests", "store_up"}, o
assert o["backend"] in ("openssl", "gnutls") and o["store_up"] is True, o
assert o["requests"] >= 0 and o["open"] >= 0 and o["started"] > 1700000000, o
' "$st" || fail "node state: '$st'"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
