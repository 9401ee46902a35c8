#!/bin/bash
# bench/cluster.sh SPROV_BINARY: the cluster figures of issue 13, on
# loopback, with the tests' own pieces (tests/lib: a private PostgreSQL,
# `sprov serve` nodes from tests/lib/cluster.sh, HAProxy in TCP mode with
# send-proxy-v2 from examples/cluster/haproxy.cfg).  Full TLS 1.3 mTLS
# handshakes + one GET (openssl s_time -new).  Three parts:
#
# 1. The hop: what HAProxy in front costs the node, per handshake.  Three
#    nodes run at once: "direct" (clients connect to it), "lb" (behind
#    HAProxy, PROXY v2 headers) and "control" (direct again, the A/A
#    check).  BENCH_CL_PAIRS rounds of BENCH_CL_BURST seconds on each, in
#    a rotating order, so that each round's three figures are taken
#    within seconds of each other: this VM's speed drifts by 20-30 % over
#    a minute, far more than the effect.  With 2+ CPUs every node process
#    is pinned to CPU 0 and HAProxy and the clients to CPU 1, as if the
#    balancer and the devices were other machines, and an idle-priority
#    spinner keeps CPU 1 busy in every shape, so that what the load
#    generator does there does not change CPU 0's speed.  Node CPU is the
#    scheduler's nanoseconds (/proc/PID/task/TID/schedstat) over every
#    thread of every process of the node (supervisor, serving process, key
#    process).  BENCH_CL_PIN=0: nothing pinned, no spinner.  Printed: the
#    median of the rounds' lb/baseline ratios (baseline: direct and control
#    averaged, the two identical nodes), lb/direct, and control/direct, whose
#    distance from 1 is the noise floor.
# 2. Throughput: BENCH_CL_CLIENTS clients, BENCH_SECS seconds, nothing
#    pinned, direct vs HAProxy -> one node vs HAProxy -> two nodes (on 2
#    cores, lb2 shows the second node's cost, not scaling).
# 3. Contact records per second into the same PostgreSQL
#    (bench_contact_batch).
#
# Not a test: the figures are measurements, printed with their baselines.
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
PAIRS=${BENCH_CL_PAIRS:-9}
BURST=${BENCH_CL_BURST:-2}
PIN=${BENCH_CL_PIN:-1}
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

# clients PORT SECS -> handshakes: BENCH_CL_CLIENTS s_time clients at once
# (under $CLIENT_PIN), full handshakes + GET for SECS seconds.
clients() {
	local port=$1 secs=$2 i conns cps=()
	for i in $(seq "$CLIENTS"); do
		$CLIENT_PIN openssl s_time -connect "127.0.0.1:$port" -cert "$DEV/client.crt" \
			-key "$DEV/client.key" -CAfile "$T/ca/server-ca.crt" \
			-www /profiles/000e08000001.xml -time "$secs" -new -tls1_3 \
			>"$T/st.$i" 2>&1 &
		cps+=($!)
	done
	wait "${cps[@]}" || true
	conns=$(cat "$T"/st.* | awk '/connections in .* real seconds/ { c += $1 } END { print c + 0 }')
	[ "$conns" -gt 0 ] || fail "no handshake completed on port $port: $(tail -2 "$T"/st.*)"
	rm -f "$T"/st.*
	echo "$conns"
}

# run PORT -> "hs/s node_us_per_hs haproxy_us_per_hs"
run() {
	local port=$1 n0 n1 h0=0 h1=0 conns
	n0=$(ticks "${NODE_PID[@]}")
	[ -n "${HA_PID:-}" ] && h0=$(ticks "$HA_PID")
	conns=$(clients "$port" "$SECS")
	n1=$(ticks "${NODE_PID[@]}")
	[ -n "${HA_PID:-}" ] && h1=$(ticks "$HA_PID")
	awk -v c="$conns" -v s="$SECS" -v n=$((n1 - n0)) -v h=$((h1 - h0)) -v hz="$HZ" 'BEGIN {
		printf "%.1f %.1f %.1f\n", c / s, n / hz / c * 1e6, h / hz / c * 1e6 }'
}

stop_all() {
	local i
	[ -n "${HA_PID:-}" ] && haproxy_stop
	HA_PID=
	for i in "${!NODE_PID[@]}"; do node_stop "$i"; done
	NODE_PID=()
}

# descendants PID...: the PIDs and all their descendants.
descendants() {
	local p
	for p in "$@"; do
		echo "$p"
		descendants $(pgrep -P "$p")
	done
}

# cpu_ns PID...: nanoseconds on CPU of every thread of the PIDs and their
# descendants (schedstat, not tick-rounded utime).
cpu_ns() {
	local p t=0 f
	for p in $(descendants "$@"); do
		for f in /proc/"$p"/task/*/schedstat; do
			[ -r "$f" ] && t=$((t + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
		done
	done
	echo "$t"
}

# burst PORT NODE_PID -> "handshakes node_ns": BENCH_CL_BURST seconds.
burst() {
	local n0 conns
	n0=$(cpu_ns "$2")
	conns=$(clients "$1" "$BURST")
	echo "$conns $(($(cpu_ns "$2") - n0))"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== the hop: $PAIRS rounds of ${BURST}s on direct, lb and control nodes, $CLIENTS clients"
node_start 1 proxy-from= access-log=off
node_start 2 access-log=off
node_start 3 proxy-from= access-log=off
haproxy_start "127.0.0.1:${NODE_PORT[2]}"
haproxy_wait_up 1
declare -A HOP_PORT=([direct]=${NODE_PORT[1]} [lb]=$HA_PORT [control]=${NODE_PORT[3]})
declare -A HOP_PID=([direct]=${NODE_PID[1]} [lb]=${NODE_PID[2]} [control]=${NODE_PID[3]})
CLIENT_PIN=
SPIN_PID=
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	for p in $(descendants "${NODE_PID[@]}"); do
		taskset -a -p -c 0 "$p" >/dev/null || fail "taskset: cannot pin node process $p"
	done
	taskset -a -p -c 1 "$HA_PID" >/dev/null || fail "taskset: cannot pin HAProxy $HA_PID"
	CLIENT_PIN="taskset -c 1"
	bg_start taskset -c 1 chrt -i 0 sh -c 'while :; do :; done'
	SPIN_PID=$BG_PID
	echo "   pinned: nodes on CPU 0; HAProxy, the clients and an idle-priority spinner on CPU 1"
else
	echo "   nothing pinned (BENCH_CL_PIN=$PIN, $(nproc) CPUs)"
fi
orders=("direct lb control" "lb control direct" "control direct lb")
for r in $(seq "$PAIRS"); do
	declare -A HS=() NS=()
	for shape in ${orders[$(((r - 1) % 3))]}; do
		read -r HS[$shape] NS[$shape] < <(burst "${HOP_PORT[$shape]}" "${HOP_PID[$shape]}")
		# burst runs in a subshell: its failure shows here as no figure.
		[ "${HS[$shape]:-0}" -gt 0 ] || fail "$shape: no handshake completed"
	done
	line="   round $r:"
	for shape in direct lb control; do
		us=$(awk -v n="${NS[$shape]}" -v c="${HS[$shape]}" 'BEGIN { printf "%.1f", n / c / 1000 }')
		echo "$us" >>"$T/hop.$shape"
		line+=" $shape $us us (${HS[$shape]} hs)"
	done
	awk -v d="${NS[direct]}" -v dc="${HS[direct]}" -v l="${NS[lb]}" -v lc="${HS[lb]}" \
	    -v c="${NS[control]}" -v cc="${HS[control]}" 'BEGIN {
		print (l / lc) / ((d / dc + c / cc) / 2) >> "'"$T/hop.pooled"'"
		print (l / lc) / (d / dc) >> "'"$T/hop.lbratio"'"
		print (c / cc) / (d / dc) >> "'"$T/hop.ctlratio"'" }'
	echo "$line"
done
[ -n "$SPIN_PID" ] && bg_kill "$SPIN_PID" TERM
haproxy_stop
HA_PID=
for i in 1 2 3; do node_stop "$i"; done
NODE_PID=()
CLIENT_PIN= # the throughput runs below are not pinned
spread() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f-%.3f", a[1], a[NR] }'; }
printf '[cluster hop] node CPU per handshake, lb/baseline (direct and control averaged): median %.3f (rounds %s); lb/direct %.3f; control/direct (A/A, the noise): median %.3f (rounds %s); medians direct %s us, lb %s us\n' \
	"$(median <"$T/hop.pooled")" "$(spread <"$T/hop.pooled")" "$(median <"$T/hop.lbratio")" \
	"$(median <"$T/hop.ctlratio")" "$(spread <"$T/hop.ctlratio")" \
	"$(median <"$T/hop.direct")" "$(median <"$T/hop.lb")"

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
		[ -n "$hs" ] && [ "$hs" != 0 ] || fail "$shape: no handshake completed (s_time: $(cat "$T"/st.* 2>/dev/null | tail -2))"
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
		printf "[cluster %s/direct] handshakes/s %.1f / %.1f = %.3f; node CPU per handshake %.1f / %.1f us = %.3f; with HAProxy %.1f us = %.3f (sequential runs, drift-prone: the hop is the [cluster hop] line)\n",
		    s, hs, dhs, (dhs > 0 ? hs / dhs : 0), cpu, dcpu, (dcpu > 0 ? cpu / dcpu : 0),
		    cpu + ha, (dcpu > 0 ? (cpu + ha) / dcpu : 0) }'
done

echo "== contact records into PostgreSQL"
CURI=$(pg_createdb contacts)
"$SPROV" db init --store "$CURI" >/dev/null
"$BUILD/bench_contact_batch" "$CURI" "${BENCH_CL_RECORDS:-20000}" 1000 >"$T/contacts.out"
sed 's/^/[cluster] /' "$T/contacts.out"
