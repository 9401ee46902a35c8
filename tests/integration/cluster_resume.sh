#!/bin/bash
# Two `sprov serve` nodes on one PostgreSQL store with the same
# cluster-key-file, on each TLS backend: a device's session ticket from
# node A resumes on node B (B's access log says resumed=1), and both give
# the same ETag; Python's ssl client resumes A's session on B too.  Once B
# no longer trusts a device's CA (client-ca changed, SIGHUP), B refuses that
# device's ticket from A, while A still resumes it; so does a B started
# without that CA (the binding holds across nodes).
# Refused: a key file of the wrong mode or size (one line naming the file,
# nothing stored); a sealed key altered in the database (one line, the keys
# in use stay and tickets keep resuming).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
export SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
. "$SPROV_SRCDIR/tests/lib/resume.sh"

sql() { psql -qAtX -v ON_ERROR_STOP=1 "$SPROV_STORE" -c "$1"; }
cluster_rows() { sql "SELECT name || ':' || version || ':' || md5(data) FROM cluster_data ORDER BY 1"; }

serve_pki
serve_db
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca issue "$T/ca2" --mac 000e08bbbb01 --serial SNB01 --product SPA2102 \
	--out "$T/dev2" >/dev/null
"$SPROV" db devices add 000e08bbbb01 --serial SNB01 --product SPA2102 >/dev/null
DEV_X="$T/dev2/000e08bbbb01"
openssl rand -hex 32 >"$T/cluster.key"
chmod 600 "$T/cluster.key"
SRV_ARGS=(--cert "$T/provserver.crt" --key "$T/privkey.pem" --check-config
	--client-ca "$T/ca/device-ca.crt")

note "a key file of the wrong mode or size is refused in one line, nothing stored"
before=$(cluster_rows)
cp "$T/cluster.key" "$T/bad.key"
chmod 644 "$T/bad.key"
expect_rc 1 "$SPROV" serve "${SRV_ARGS[@]}" --cluster-key-file "$T/bad.key"
[ "$ERR" = "sprov serve: cluster-key-file $T/bad.key: mode 0644, must be 0600 or 0400 (only the nodes may read it)" ] ||
	fail "mode: stderr was: $ERR"
head -c 31 /dev/urandom >"$T/bad.key"
chmod 400 "$T/bad.key"
expect_rc 1 "$SPROV" serve "${SRV_ARGS[@]}" --cluster-key-file "$T/bad.key"
[ "$ERR" = "sprov serve: cluster-key-file $T/bad.key: 31 bytes; must be exactly 32 bytes or 64 hex digits" ] ||
	fail "size: stderr was: $ERR"
chmod 600 "$T/bad.key"
printf '%064d\n' 0 | tr 0 g >"$T/bad.key"
expect_rc 1 "$SPROV" serve "${SRV_ARGS[@]}" --cluster-key-file "$T/bad.key"
expect_err_contains "cluster-key-file $T/bad.key: 64 bytes but not hex (byte 0)"
[ "$(cluster_rows)" = "$before" ] || fail "a refused key file stored something"

# node NAME [ARGS...]: start a node; its port in PORT_NAME, admin APORT_NAME,
# pid PID_NAME, access log $T/NAME.log.
node() {
	local n=$1
	shift
	serve_start --cluster-key-file "$T/cluster.key" --client-ca "$T/trust.$n.pem" \
		--access-log "$T/$n.log" --crl-poll 1 "$@"
	eval "PORT_$n=$PORT APORT_$n=$APORT PID_$n=$SERVE_PID"
}
on() { eval "PORT=\$PORT_$1 APORT=\$APORT_$1 SERVE_PID=\$PID_$1"; }

for be in openssl gnutls; do
	note "$be: two nodes, one store, one cluster key"
	for n in A B; do cat "$T/ca/device-ca.crt" "$T/ca2/device-ca.crt" >"$T/trust.$n.pem"; done
	: >"$T/A.log"
	: >"$T/B.log"
	node A --tls-backend $be
	node B --tls-backend $be
	[ "$(sql "SELECT count(*) FROM cluster_data WHERE name = 'tls/ticket-key'")" = 1 ] ||
		fail "not one ticket key: $(cluster_rows)"

	for k in t13 t12; do
		on A
		sclient "$DEV_A" "$T/o" $(kind_args $k) -sess_out "$T/sess.$be.$k"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$be $k: not served by A: $(tail -3 "$T/o")"
		on B
		sclient "$DEV_A" "$T/o" $(kind_args $k) -sess_in "$T/sess.$be.$k"
		resumed "$T/o" || fail "$be $k: A's ticket not resumed on B: $(grep -E '^(New|Reused)' "$T/o")"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$be $k: not served by B on resumption"
		_TESTS_RUN=$((_TESTS_RUN + 1))
	done
	[ "$(grep -c 'mac=000e08aaaa01 .*status=200 .*resumed=1' "$T/B.log")" = 2 ] ||
		fail "$be: B's access log does not show two resumptions: $(cat "$T/B.log")"

	note "$be: another client (Python's ssl): a session from A resumes on B"
	python3 - "$PORT_A" "$PORT_B" "$SRV_NAME" "$T/ca/server-ca.crt" "$DEV_A" <<'EOP' ||
import socket, ssl, sys
pa, pb, name, ca, dev = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
ctx.load_cert_chain(dev + "/client.crt", dev + "/client.key")
def get(port, session=None):
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name, session=session) as s:
            s.sendall(b"GET /spa2102.cfg HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.0 200"), data[:40]
            return s.session, s.session_reused
sess, _ = get(pa)
_, reused = get(pb, sess)
sys.exit(0 if reused else 1)
EOP
		fail "$be: Python's session from A not resumed on B"
	[ "$(grep -c 'mac=000e08aaaa01 .*status=200 .*resumed=1' "$T/B.log")" = 3 ] ||
		fail "$be: B's access log does not show the third resumption"
	_TESTS_RUN=$((_TESTS_RUN + 1))

	note "$be: both nodes give the same ETag"
	on A; get "$DEV_A" /spa2102.cfg; expect_code 200
	etag_a=$(grep -i '^etag:' "$T/hdr" | tr -d '\r')
	on B; get "$DEV_A" /spa2102.cfg; expect_code 200
	etag_b=$(grep -i '^etag:' "$T/hdr" | tr -d '\r')
	[ -n "$etag_a" ] && [ "$etag_a" = "$etag_b" ] || fail "$be: ETags differ: '$etag_a' '$etag_b'"

	note "$be: B stops trusting the second CA; its device's ticket from A is refused on B"
	on A
	sclient "$DEV_X" "$T/o" -tls1_3 -sess_out "$T/sessx.$be"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "$be: X not served by A"
	cp "$T/ca/device-ca.crt" "$T/trust.B.pem"
	on B
	hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
	sclient "$DEV_X" "$T/o" -tls1_3 -sess_in "$T/sessx.$be"
	if grep -q 'HTTP/1.0 200' "$T/o"; then fail "$be: B served X by resuming A's ticket"; fi
	grep -q 'mac=000e08bbbb01' "$T/B.log" && fail "$be: a request of X reached B"
	grep -q "resumption refused (certificate's CA is no longer trusted)" "$T/serve.err" ||
		fail "$be: B logged no refusal"
	on A
	sclient "$DEV_X" "$T/o" -tls1_3 -sess_in "$T/sessx.$be"
	resumed "$T/o" && grep -q 'HTTP/1.0 200' "$T/o" || fail "$be: A no longer resumes X"
	_TESTS_RUN=$((_TESTS_RUN + 1))

	note "$be: nor does a B that never trusted that CA (restarted) resume it"
	on B
	serve_stop
	node B --tls-backend $be
	sclient "$DEV_X" "$T/o" -tls1_3 -sess_in "$T/sessx.$be"
	if grep -q 'HTTP/1.0 200' "$T/o"; then fail "$be: a fresh B served X by resuming A's ticket"; fi
	grep -q 'mac=000e08bbbb01' "$T/B.log" && fail "$be: a request of X reached the fresh B"
	sclient "$DEV_A" "$T/o" -tls1_3 -sess_in "$T/sess.$be.t13"
	resumed "$T/o" && grep -q 'HTTP/1.0 200' "$T/o" || fail "$be: the fresh B does not resume A's"
	_TESTS_RUN=$((_TESTS_RUN + 1))

	note "$be: a sealed key altered in the database: one line, the keys in use stay"
	sql "UPDATE cluster_data SET data = set_byte(data, 20, get_byte(data, 20) # 1)
		WHERE name = 'tls/ticket-key'"
	on A
	for i in $(seq 50); do grep -q 'cluster ticket keys:' "$T/serve.err" && break; sleep 0.1; done
	grep -q "serve: cluster ticket keys: cluster-key-file $T/cluster.key: tls/ticket-key version 1 does not open with the cluster key (another cluster-key-file, or the row was altered); the keys in use stay" "$T/serve.err" ||
		fail "$be: no refusal of the altered key: $(grep cluster "$T/serve.err" | tail -3)"
	sclient "$DEV_A" "$T/o" -tls1_3 -sess_in "$T/sess.$be.t13"
	resumed "$T/o" && grep -q 'HTTP/1.0 200' "$T/o" || fail "$be: tickets stopped resuming"
	_TESTS_RUN=$((_TESTS_RUN + 1))
	for n in A B; do on $n; serve_stop; done
	sql "DELETE FROM cluster_data"
	: >"$T/serve.err"
done
finish
