#!/bin/bash
# bench/handshake_failures.sh: what the failure records (issue 14) cost.
#
#   bash bench/handshake_failures.sh SPROV [BASELINE_SPROV]
#
# Successful handshakes must not pay for them: `openssl s_time -new` (full
# TLS 1.3 mTLS handshake + one GET) per TLS backend, with the server's CPU
# per handshake (utime+stime of its processes, /proc), and, given a
# BASELINE_SPROV built without failure records, the same for it; the two
# alternate A B A B.  Then a storm of refused handshakes (no client
# certificate, one source address): refusals/s and CPU per refusal, with
# the failure queue's size from /metrics (one key: bounded).  Environment:
# BENCH_SECS (per run, default 5), BENCH_ROUNDS (default 3; medians),
# BENCH_STORM (refused handshakes, default 2000).  Not a test: figures are
# noisy on a shared machine.
set -euo pipefail

NEW=$(cd "$(dirname "${1:?usage: bench/handshake_failures.sh SPROV [BASELINE_SPROV]}")" && pwd)/$(basename "$1")
BASE=${2:-}
[ -z "$BASE" ] || BASE=$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")
SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
STORM=${BENCH_STORM:-2000}
T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-benchfail.XXXXXX")
SPID=
cleanup() {
	[ -z "$SPID" ] || { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; } || true
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"

SRV=prov.bench.example
MAC=000e08000001
"$NEW" ca init "$T/ca" --org Bench >/dev/null
"$NEW" req --cn "$SRV" --out "$T/p.csr" --key-out "$T/p.key" >/dev/null
"$NEW" ca sign "$T/ca" "$T/p.csr" -o "$T/p.crt" >/dev/null
"$NEW" ca issue "$T/ca" --mac "$MAC" --serial BENCH1 --product SPA2102 --out "$T/dev" >/dev/null
"$NEW" ca crl "$T/ca" --ca device -o "$T/ca.crl" >/dev/null
# A store per binary: each makes its own schema (an older one refuses a newer).
for bin in "$NEW" ${BASE:+"$BASE"}; do
	export SPROV_STORE="sqlite:$T/$([ "$bin" = "$NEW" ] && echo new || echo base).db"
	"$bin" db init >/dev/null
	"$bin" db devices add "$MAC" --serial BENCH1 --product SPA2102 >/dev/null
	"$bin" db params set --device "$MAC" Proxy_1_=sip.example.net >/dev/null
done
DEV="$T/dev/$MAC"

start() { # BINARY BACKEND
	PORT=$(free_port)
	APORT=$(free_port)
	export SPROV_STORE="sqlite:$T/$([ "$1" = "$NEW" ] && echo new || echo base).db"
	"$1" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" --cert "$T/p.crt" \
		--key "$T/p.key" --client-ca "$T/ca/device-ca.crt" --crl "$T/ca.crl" --workers 1 \
		--tls-backend "$2" --access-log off --handshakes-per-source 0 2>"$T/serve.err" &
	SPID=$!
	wait_port "$PORT" || { echo "sprov did not start:"; cat "$T/serve.err"; exit 1; }
	sleep 0.3
}
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=; }
# -> "handshakes/s cpu-us-per-handshake"
good() {
	local c0 c1 conns secs
	c0=$(cpu_ticks)
	openssl s_time -connect "127.0.0.1:$PORT" -cert "$DEV/client.crt" -key "$DEV/client.key" \
		-CAfile "$T/ca/server-ca.crt" -www "/profiles/$MAC.xml" -time "$SECS" -new -tls1_3 \
		>"$T/st.out" 2>&1 || true
	c1=$(cpu_ticks)
	read -r conns secs < <(awk '/connections in .* real seconds/ { print $1, $4; exit }' "$T/st.out")
	awk -v c="${conns:-0}" -v s="${secs:-1}" -v t=$((c1 - c0)) -v hz="$HZ" \
		'BEGIN { if (c == 0) print "0 0"; else printf "%.1f %.1f\n", c / s, t / hz / c * 1e6 }'
}
# -> "refusals/s cpu-us-per-refusal"
storm() {
	local c0 c1 r
	c0=$(cpu_ticks)
	r=$(python3 - "$PORT" "$STORM" <<'EOP'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t0 = time.monotonic()
n = int(sys.argv[2])
for i in range(n):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    try:
        t = ctx.wrap_socket(s)
        t.sendall(b"GET / HTTP/1.0\r\n\r\n")
        t.recv(1)
    except (ssl.SSLError, OSError):
        pass
    finally:
        s.close()
print("%.1f" % (n / (time.monotonic() - t0)))
EOP
)
	c1=$(cpu_ticks)
	awk -v r="$r" -v n="$STORM" -v t=$((c1 - c0)) -v hz="$HZ" \
		'BEGIN { printf "%s %.1f\n", r, t / hz / n * 1e6 }'
}

BINS="new"
[ -z "$BASE" ] || BINS="base new"
echo "== successful full TLS 1.3 mTLS handshakes + GET, ${SECS}s each, $ROUNDS rounds (medians)"
for r in $(seq "$ROUNDS"); do
	for b in openssl gnutls; do
		for which in $BINS; do
			bin=$NEW
			[ "$which" = new ] || bin=$BASE
			start "$bin" "$b"
			read -r hs us < <(good)
			echo "$hs" >>"$T/hs.$b.$which"
			echo "$us" >>"$T/us.$b.$which"
			stop
		done
	done
done
for b in openssl gnutls; do
	for which in $BINS; do
		printf '  %-8s %-9s %8s handshakes/s  %7s us server CPU per handshake\n' "$b" \
			"$([ "$which" = new ] && echo records || echo baseline)" \
			"$(median <"$T/hs.$b.$which")" "$(median <"$T/us.$b.$which")"
	done
done
echo "== a storm of $STORM refused handshakes (no certificate, one address)"
for b in openssl gnutls; do
	start "$NEW" "$b"
	read -r rs us < <(storm)
	q=$(curl -s "http://127.0.0.1:$APORT/metrics" | awk '$1 == "sprov_failure_queue" { print $2 }')
	n=$(curl -s "http://127.0.0.1:$APORT/metrics" |
		awk '$1 == "sprov_handshake_failures_total{reason=\"no-certificate\"}" { print $2 }')
	printf '  %-8s %8s refusals/s  %7s us server CPU per refusal  (%s recorded, queue %s key)\n' \
		"$b" "$rs" "$us" "$n" "$q"
	stop
done
