#!/bin/bash
# bench/cluster.sh SPROV_BINARY: the cluster figures of issue 13, on
# loopback, with the tests' own pieces (tests/lib: a private PostgreSQL,
# `sprov serve` nodes from tests/lib/cluster.sh, HAProxy in TCP mode with
# send-proxy-v2 from examples/cluster/haproxy.cfg):
#
#   direct   BENCH_CL_CLIENTS s_time clients -> one node (no proxy-from)
#   lb1      the same clients -> HAProxy -> that node (PROXY v2 headers)
#   lb2      the same clients -> HAProxy -> two nodes
#
# Full TLS 1.3 mTLS handshakes + one GET (openssl s_time -new), BENCH_SECS
# seconds each, BENCH_ROUNDS rounds alternating; the nodes' CPU (every
# process of each node: supervisor, serving process, key process) and
# HAProxy's from /proc.  Baseline: direct, in the same run.  Then contact
# records per second into the same PostgreSQL (bench_contact_batch).
# Not a test: figures are noisy; on a 2-core box the clients, HAProxy and
# the nodes share the cores, so lb2 cannot show scaling, only its cost.
set -euo pipefail
SPROV=${1:?usage: bench/cluster.sh SPROV_BINARY}
SPROV=$(cd "$(dirname "$SPROV")" && pwd)/$(basename "$SPROV")
BUILD=$(dirname "$SPROV")
export SPROV
SPROV_SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
export SPROV_SRCDIR
SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CLIENTS=${BENCH_CL_CLIENTS:-2}
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
. "$SPROV_SRCDIR/tests/lib/haproxy.sh"
. "$SPROV_SRCDIR/tests/lib/cluster.sh"
command -v haproxy >/dev/null || sh "$SPROV_SRCDIR/scripts/deps.sh"

echo "== PKI, a private PostgreSQL, one device"
SRV=prov.bench.example
"$SPROV" ca init "$T/ca" --org Bench >/dev/null
"$SPROV" req --cn "$SRV" --out "$T/p.csr" --key-out "$T/privkey.pem" >/dev/null
"$SPROV" ca sign "$T/ca" "$T/p.csr" -o "$T/provserver.crt" >/dev/null
"$SPROV" ca issue "$T/ca" --mac 000e08000001 --serial BENCH1 --product SPA2102 \
	--out "$T/dev" >/dev/null
DEV="$T/dev/000e08000001"
unset SPROV_PG_FIXTURE # a private server, stopped at exit
pg_use
export SPROV_STORE
SPROV_STORE=$(pg_createdb bench)
"$SPROV" db init >/dev/null
"$SPROV" db devices add 000e08000001 --serial BENCH1 --product SPA2102 >/dev/null
"$SPROV" db params set --device 000e08000001 Password_1_=benchsecret >/dev/null

HZ=$(getconf CLK_TCK)
# ticks PID...: utime+stime of each PID and all its descendants.
ticks() {
	local t=0 p kids
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
		kids=$(pgrep -P "$p" | tr '\n' ' ')
		[ -n "$kids" ] && t=$((t + $(ticks $kids)))
	done
	echo "$t"
}

# run PORT -> "hs/s node_us_per_hs haproxy_us_per_hs"
run() {
	local port=$1 n0 n1 h0=0 h1=0 i conns cps=()
	n0=$(ticks "${NODE_PID[@]}")
	[ -n "${HA_PID:-}" ] && h0=$(ticks "$HA_PID")
	for i in $(seq "$CLIENTS"); do
		openssl s_time -connect "127.0.0.1:$port" -cert "$DEV/client.crt" \
			-key "$DEV/client.key" -CAfile "$T/ca/server-ca.crt" \
			-www /profiles/000e08000001.xml -time "$SECS" -new -tls1_3 \
			>"$T/st.$i" 2>&1 &
		cps+=($!)
	done
	wait "${cps[@]}" || true
	n1=$(ticks "${NODE_PID[@]}")
	[ -n "${HA_PID:-}" ] && h1=$(ticks "$HA_PID")
	conns=$(cat "$T"/st.* | awk '/connections in .* real seconds/ { c += $1 } END { print c + 0 }')
	[ "$conns" -gt 0 ] || tail -3 "$T"/st.* >&2
	rm -f "$T"/st.*
	awk -v c="$conns" -v s="$SECS" -v n=$((n1 - n0)) -v h=$((h1 - h0)) -v hz="$HZ" 'BEGIN {
		if (c == 0) { print "0 0 0"; exit }
		printf "%.1f %.1f %.1f\n", c / s, n / hz / c * 1e6, h / hz / c * 1e6 }'
}

stop_all() {
	local i
	[ -n "${HA_PID:-}" ] && haproxy_stop
	HA_PID=
	for i in "${!NODE_PID[@]}"; do node_stop "$i"; done
	NODE_PID=()
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== full handshakes: $CLIENTS clients, ${SECS}s, $ROUNDS rounds (direct, lb1, lb2)"
for r in $(seq "$ROUNDS"); do
	for shape in direct lb1 lb2; do
		HA_PID=
		case $shape in
		direct)
			node_start 1 proxy-from= access-log=off
			port=${NODE_PORT[1]}
			;;
		lb1)
			node_start 1 access-log=off
			haproxy_start "127.0.0.1:${NODE_PORT[1]}"
			haproxy_wait_up 1
			port=$HA_PORT
			;;
		lb2)
			node_start 1 access-log=off
			node_start 2 access-log=off
			haproxy_start "127.0.0.1:${NODE_PORT[1]}" "127.0.0.1:${NODE_PORT[2]}"
			haproxy_wait_up 2
			port=$HA_PORT
			;;
		esac
		read -r hs node ha < <(run "$port")
		# No handshake at all is a broken setup, not a figure.
		[ "$hs" != 0 ] || fail "$shape: no handshake completed (s_time: $(cat "$T"/st.* 2>/dev/null | tail -2))"
		echo "$hs" >>"$T/$shape.hs"
		echo "$node" >>"$T/$shape.node"
		echo "$ha" >>"$T/$shape.ha"
		printf '   round %d %-6s %8s handshakes/s, node CPU %7s us/handshake, HAProxy %6s us\n' \
			"$r" "$shape" "$hs" "$node" "$ha"
		stop_all
	done
done
d_hs=$(median <"$T/direct.hs")
d_cpu=$(median <"$T/direct.node")
for shape in lb1 lb2; do
	awk -v s="$shape" -v hs="$(median <"$T/$shape.hs")" -v cpu="$(median <"$T/$shape.node")" \
	    -v ha="$(median <"$T/$shape.ha")" -v dhs="$d_hs" -v dcpu="$d_cpu" 'BEGIN {
		printf "[cluster %s/direct] handshakes/s %.1f / %.1f = %.3f; node CPU per handshake %.1f / %.1f us = %.3f; with HAProxy %.1f us = %.3f\n",
		    s, hs, dhs, (dhs > 0 ? hs / dhs : 0), cpu, dcpu, (dcpu > 0 ? cpu / dcpu : 0),
		    cpu + ha, (dcpu > 0 ? (cpu + ha) / dcpu : 0) }'
done

echo "== contact records into PostgreSQL"
CURI=$(pg_createdb contacts)
"$SPROV" db init --store "$CURI" >/dev/null
"$BUILD/bench_contact_batch" "$CURI" "${BENCH_CL_RECORDS:-20000}" 1000 >"$T/contacts.out"
sed 's/^/[cluster] /' "$T/contacts.out"
