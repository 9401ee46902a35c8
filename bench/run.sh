#!/bin/bash
# bench/run.sh: sprov serve (both TLS backends) side by side with nginx doing
# the same job, on one machine, in one run (`make bench`).
#
#   bash bench/run.sh SPROV_BINARY
#
# Environment: BENCH_SECS (s_time seconds per run, default 5), BENCH_ROUNDS
# (A B C rounds, default 2; medians are printed), BENCH_DEVICES (1000),
# BENCH_IDLE (idle TLS connections for the memory figure, default 2000;
# the issue's target is 10000), BENCH_KA (keep-alive requests, 2000),
# BENCH_WORKERS (1), BENCH_STORM_C (storm concurrency, 500),
# BENCH_KEYPROC_ONLY=1: only the key process on/off handshake figures,
# BENCH_FLEET_SCALE=1: also run bench/fleet_scale.sh (100 000 idle fleet
# devices, 10 000 open connections; several minutes, off by default).
#
# One PKI from `sprov ca` (ECDSA P-256 server certificate, BENCH_DEVICES
# devices from `sprov ca issue --csv`), a ~4 KiB profile per device
# (`sprov db import`; nginx serves the same files), then for each server:
#   - openssl s_time -new  (full TLS 1.3 mTLS handshake + one GET),
#   - openssl s_time -reuse -tls1_2 (resumed TLS 1.2 handshakes + GET),
#   - curl, BENCH_KA GETs on one kept-alive connection (requests/s, and
#     the server's run time per request from /proc/PID/task/*/schedstat),
#   - BENCH_IDLE idle TLS connections: the server's memory with them open,
#     as Pss summed over its processes (/proc/PID/smaps_rollup: shared pages
#     split between the processes that map them, so a server of three
#     processes is not charged three times for its libraries),
# with the server's CPU (utime+stime of all its processes, /proc) measured
# before and after each run.  Servers alternate A B C A B C.  Also prints
# the crypto floor from `openssl speed`.  Not a test: figures are noisy.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_binary bench "${1:?usage: bench/run.sh SPROV_BINARY}"
SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-2}
NDEV=${BENCH_DEVICES:-1000}
IDLE=${BENCH_IDLE:-2000}
KA=${BENCH_KA:-2000}
WORKERS=${BENCH_WORKERS:-1}
STORM_C=${BENCH_STORM_C:-500}

command -v nginx >/dev/null || sh "$HERE/../scripts/deps.sh"
command -v nginx >/dev/null || { echo "bench: nginx missing" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
export SPROV_STORE="sqlite:$T/sprov.db"

# The idle-connection figure needs two descriptors per connection here.
ulimit -n $((IDLE * 2 + 1024)) 2>/dev/null || {
	IDLE=$(( ($(ulimit -n) - 1024) / 2 ))
	echo "bench: cannot raise RLIMIT_NOFILE; idle connections lowered to $IDLE"
}

MAXCONN=$((IDLE + 1000))
echo "== PKI: server certificate (ECDSA P-256) and $NDEV devices"
bench_pki "$NDEV"
echo "== profiles: ~4 KiB per device"
bench_profiles "$NDEV"

pss_kb() {
	local m=0 p v
	for p in "$SPID" $(pgrep -P "$SPID" 2>/dev/null); do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
		m=$((m + ${v:-0}))
	done
	echo "$m"
}

# s_time MODE ARGS... -> "conns/s us_cpu_per_conn"
s_time() {
	local c0 c1 conns secs
	c0=$(cpu_ticks)
	openssl s_time -connect "127.0.0.1:$PORT" -cert "$DEV/client.crt" -key "$DEV/client.key" \
		-CAfile "$T/ca/server-ca.crt" -www "/profiles/$MAC.xml" -time "$SECS" "$@" \
		>"$T/st.out" 2>&1 || true
	c1=$(cpu_ticks)
	read -r conns secs < <(awk '/connections in .* real seconds/ { print $1, $4; exit }' "$T/st.out")
	if [ -z "${conns:-}" ] || [ "$conns" = 0 ]; then
		echo "0 0"
		return
	fi
	awk -v c="$conns" -v s="$secs" -v t=$((c1 - c0)) -v hz="$HZ" \
		'BEGIN { printf "%.1f %.1f\n", c / s, t / hz / c * 1e6 }'
}

# Run time of the server's threads and its children's (nginx workers), ns:
# keep-alive requests cost tens of microseconds, below the clock tick.
run_ns() {
	local p
	for p in "$SPID" $(pgrep -P "$SPID" 2>/dev/null); do
		cat /proc/"$p"/task/*/schedstat 2>/dev/null
	done | awk '{ t += $1 } END { printf "%.0f\n", t }'
}

keepalive() { # -> "req/s us_cpu_per_request"
	local t0 t1 i n0 n1
	{
		for i in $(seq "$KA"); do
			printf 'url = "https://%s:%s/profiles/%s.xml"\noutput = "/dev/null"\n' "$SRV" "$PORT" "$MAC"
		done
	} >"$T/ka.cfg"
	n0=$(run_ns)
	t0=$(date +%s.%N)
	curl -s --resolve "$SRV:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
		--cert "$DEV/client.crt" --key "$DEV/client.key" -K "$T/ka.cfg" || true
	t1=$(date +%s.%N)
	n1=$(run_ns)
	awk -v n="$KA" -v a="$t0" -v b="$t1" -v ns=$((n1 - n0)) \
	    'BEGIN { printf "%.1f %.1f\n", n / (b - a), ns / n / 1e3 }'
}

idle_mem() { # -> KiB (Pss, all the server's processes) with $IDLE idle TLS connections
	python3 - "$PORT" "$DEV" "$T/ca/server-ca.crt" "$IDLE" <<'EOF' >"$T/idle.out" 2>&1 &
import socket, ssl, sys, time
port, dev, ca, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
ctx.check_hostname = False
ctx.load_cert_chain(dev + "/client.crt", dev + "/client.key")
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    conns.append(ctx.wrap_socket(s))
print("open", len(conns), flush=True)
time.sleep(600)
EOF
	local cp=$! i
	for i in $(seq 1200); do grep -q '^open' "$T/idle.out" 2>/dev/null && break; sleep 0.1; done
	sleep 0.5
	pss_kb
	kill "$cp" 2>/dev/null || true
	wait "$cp" 2>/dev/null || true
}


SERVERS="sprov-openssl sprov-gnutls nginx"

# s_time_par N ARGS... -> "conns/s us_cpu_per_conn": N s_time clients at
# once (the server's CPU over all of them).
s_time_par() {
	local n=$1 c0 c1 i cps=()
	shift
	c0=$(cpu_ticks)
	for i in $(seq "$n"); do
		openssl s_time -connect "127.0.0.1:$PORT" -cert "$DEV/client.crt" \
			-key "$DEV/client.key" -CAfile "$T/ca/server-ca.crt" \
			-www "/profiles/$MAC.xml" -time "$SECS" "$@" >"$T/stp.$i" 2>&1 &
		cps+=($!)
	done
	wait "${cps[@]}" || true
	c1=$(cpu_ticks)
	cat "$T"/stp.* | awk -v t=$((c1 - c0)) -v hz="$HZ" -v secs="$SECS" '
		/connections in .* real seconds/ { c += $1 }
		END { if (c == 0) print "0 0"; else printf "%.1f %.1f\n", c / secs, t / hz / c * 1e6 }'
	rm -f "$T"/stp.*
}

# The key process (issue 12): full handshakes with the key in its own
# process (the default; its CPU counts, it is the server's child) against
# key-process = off, each backend, in two shapes:
#   seq: one client, one worker: every signature wakes the key process
#        from sleep and the worker from its wait (the worst case);
#   par: BENCH_KP_CLIENTS (4) clients, two workers: the server saturated,
#        as a provider's is during a storm.
# Three servers run at once for each backend and shape: "on", "off" and
# "ctl" (off again: the A/A control).  BENCH_KP_ROUNDS (9) rounds of
# BENCH_KP_BURST (2) seconds on each, in a rotating order, so each
# round's three figures are taken within seconds of each other (this VM's
# speed drifts by 20-30 % over a minute).  CPU: the scheduler's ns over
# every thread of every process of the server (schedstat).  Printed: the
# median of the rounds' on/off ratios, and ctl/off, whose distance from 1
# is the noise floor.  BENCH_KEYPROC_ONLY=1 runs just this.
kp_burst() { # PORT SPID CLIENTS -> "conns ns keyproc_ns"
	local port=$1 pid=$2 n=$3 n0 n1 k0 k1 kp i conns cps=()
	kp=$(pgrep -x sprov-keyproc -P "$pid" 2>/dev/null || true)
	n0=$(SPID=$pid run_ns)
	k0=$(kp_ns "$kp")
	for i in $(seq "$n"); do
		openssl s_time -connect "127.0.0.1:$port" -cert "$DEV/client.crt" \
			-key "$DEV/client.key" -CAfile "$T/ca/server-ca.crt" \
			-www "/profiles/$MAC.xml" -time "$KP_BURST" -new -tls1_3 >"$T/kp.$i" 2>&1 &
		cps+=($!)
	done
	wait "${cps[@]}" || true
	n1=$(SPID=$pid run_ns)
	k1=$(kp_ns "$kp")
	conns=$(cat "$T"/kp.* | awk '/connections in .* real seconds/ { c += $1 } END { print c + 0 }')
	rm -f "$T"/kp.*
	echo "$conns $((n1 - n0)) $((k1 - k0))"
}
# The key process' own run time, ns (0 without one).
kp_ns() {
	[ -n "$1" ] || { echo 0; return; }
	awk '{ print $1 }' "/proc/$1/schedstat" 2>/dev/null || echo 0
}
keyproc_bench() {
	local r b shape v workers clients order c ns kns floor
	local -A KPORT KPID HS NS KNS
	local orders=("on off ctl" "off ctl on" "ctl on off")
	KP_BURST=${BENCH_KP_BURST:-2}
	local rounds=${BENCH_KP_ROUNDS:-9}
	echo "== key process: full TLS 1.3 mTLS handshakes+GET, key-process on vs off (and off again, the control), $rounds rounds of ${KP_BURST}s"
	# The same run's floor under any key process (bench/keyproc_sign.c).
	floor="$(dirname "$SPROV")/bench_keyproc_sign"
	if [ -x "$floor" ]; then
		"$floor" "$T/p.key" >"$T/floor.out" || { echo "bench: $floor failed" >&2; exit 1; }
		sed 's/^/   /' "$T/floor.out"
	else
		echo "   ($floor not built: no signature and round-trip floor)"
	fi
	for b in openssl gnutls; do
		for shape in seq par; do
			workers=1 clients=1
			[ "$shape" = par ] && workers=2 clients=${BENCH_KP_CLIENTS:-4}
			for v in on off ctl; do
				start_sprov "$b" --key-process "$([ $v = on ] && echo on || echo off)" --workers "$workers"
				KPORT[$v]=$PORT KPID[$v]=$SPID
			done
			: >"$T/kp-$b-$shape.on"; : >"$T/kp-$b-$shape.ctl"; : >"$T/kp-$b-$shape.rate"
			: >"$T/kp-$b-$shape.us"; : >"$T/kp-$b-$shape.kp"
			for r in $(seq "$rounds"); do
				order=${orders[$(((r - 1) % 3))]}
				for v in $order; do
					read -r c ns kns < <(kp_burst "${KPORT[$v]}" "${KPID[$v]}" "$clients")
					[ "$c" -gt 0 ] || { echo "bench: sprov-$b ($v) completed no handshake" >&2; exit 1; }
					[ "$v" != on ] || [ "$kns" -gt 0 ] || { echo "bench: sprov-$b (on) has no key process" >&2; exit 1; }
					HS[$v]=$c NS[$v]=$ns KNS[$v]=$kns
				done
				awk -v b="$b" -v sh="$shape" -v r="$r" \
				    -v on="${NS[on]}" -v onc="${HS[on]}" -v off="${NS[off]}" -v offc="${HS[off]}" \
				    -v ctl="${NS[ctl]}" -v ctlc="${HS[ctl]}" -v secs="$KP_BURST" \
				    -v kp="${KNS[on]}" 'BEGIN {
					a = on / onc / 1e3; o = off / offc / 1e3; k = ctl / ctlc / 1e3; p = kp / onc / 1e3
					printf "   round %d sprov-%-8s %s  on %7.1f us (key process %5.1f) (%6.1f/s)  off %7.1f us (%6.1f/s)  ctl %7.1f us  on/off %.3f\n", r, b, sh, a, p, onc / secs, o, offc / secs, k, a / o
					print a / o >> "'"$T/kp-$b-$shape.on"'"
					print a - o >> "'"$T/kp-$b-$shape.us"'"
					print p >> "'"$T/kp-$b-$shape.kp"'"
					print k / o >> "'"$T/kp-$b-$shape.ctl"'"
					print onc / offc >> "'"$T/kp-$b-$shape.rate"'" }'
			done
			for v in on off ctl; do SPID=${KPID[$v]} stop_server; done
		done
	done
	for b in openssl gnutls; do
		for shape in seq par; do
			printf '[%s %s] key process on/off: CPU per full handshake, median of %d rounds %.3f (rounds %s); control off/off %.3f (rounds %s); handshakes/s on/off %.3f; on - off %.1f us, the key process itself %.1f us\n' \
				"$b" "$shape" "$rounds" "$(median4 <"$T/kp-$b-$shape.on")" "$(spread <"$T/kp-$b-$shape.on")" \
				"$(median4 <"$T/kp-$b-$shape.ctl")" "$(spread <"$T/kp-$b-$shape.ctl")" \
				"$(median4 <"$T/kp-$b-$shape.rate")" "$(median4 <"$T/kp-$b-$shape.us")" \
				"$(median4 <"$T/kp-$b-$shape.kp")"
		done
	done
}
if [ "${BENCH_KEYPROC_ONLY:-0}" = 1 ]; then
	keyproc_bench
	exit 0
fi

# sanity: every server answers the device with its profile
for s in $SERVERS; do
	start "$s"
	code=$(curl -s -o "$T/check.xml" -w '%{http_code}' --resolve "$SRV:$PORT:127.0.0.1" \
		--cacert "$T/ca/server-ca.crt" --cert "$DEV/client.crt" --key "$DEV/client.key" \
		"https://$SRV:$PORT/profiles/$MAC.xml" || true)
	echo "== $s: HTTP $code, $(wc -c <"$T/check.xml") bytes"
	stop_server
done

echo "== runs: ${SECS}s per s_time run, $ROUNDS rounds, servers alternating"
for r in $(seq "$ROUNDS"); do
	for s in $SERVERS; do
		start "$s"
		read -r f fc < <(s_time -new -tls1_3)
		read -r rs rc < <(s_time -reuse -tls1_2)
		read -r ka kc < <(keepalive)
		echo "$f" >>"$T/$s.full"; echo "$fc" >>"$T/$s.fullcpu"
		echo "$rs" >>"$T/$s.res"; echo "$ka" >>"$T/$s.ka"; echo "$kc" >>"$T/$s.kacpu"
		printf '   round %d %-14s full %8s/s (%7s us CPU)  resumed %8s/s  keep-alive %8s req/s (%6s us CPU)\n' \
			"$r" "$s" "$f" "$fc" "$rs" "$ka" "$kc"
		stop_server
	done
done
keyproc_bench | tee "$T/keyproc.out"
for s in $SERVERS; do
	start "$s"
	m=$(idle_mem)
	echo "$m" >"$T/$s.mem"
	printf '   %-14s memory (Pss) with %d idle TLS connections: %d KiB\n' "$s" "$IDLE" "$m"
	stop_server
done

# Storm: every device resyncs at once through `sprov fleet` (the device's own
# checks and profile parsing), at most STORM_C in flight; p99 latency.
FLEET=0
if "$SPROV" fleet --help >/dev/null 2>&1 && start_dnsmasq; then
	FLEET=1
	for s in $SERVERS; do
		start "$s"
		"$SPROV" fleet --bundles "$T/dev" --rule "https://$SRV:$PORT/profiles/\$MA.xml" \
			--dns-server "127.0.0.1:$DNS_PORT" --storm --concurrency "$STORM_C" \
			--devices "$NDEV" --json >"$T/fleet.json" 2>"$T/fleet.err" || true
		python3 - "$T/fleet.json" >"$T/$s.storm" <<'EOF2' || echo "0 0 0" >"$T/$s.storm"
import json, sys
j = json.load(open(sys.argv[1]))
print(j["latency_ms"]["p99"], j["successes"], j["failures"])
EOF2
		read -r p99 okn failn <"$T/$s.storm"
		echo "$p99" >"$T/$s.p99"
		printf '   %-14s storm of %d devices (C=%d): p99 %s ms, %s ok, %s failed attempts\n' \
			"$s" "$NDEV" "$STORM_C" "$p99" "$okn" "$failn"
		stop_server
	done
fi

echo "== crypto floor (openssl speed)"
crypto_floor
x25519=$X25519 sign=$SIGN verify=$VERIFY
echo "   X25519 $x25519 op/s, P-256 sign $sign/s verify $verify/s"
echo "   floor per handshake (X25519 keygen+derive, 1 P-256 sign, 2 P-256 verifies): $FLOOR us"

echo
echo "== results (medians of $ROUNDS rounds; $(nproc) cores shared by clients and servers)"
printf '%-34s %14s %14s %14s\n' figure sprov-openssl sprov-gnutls nginx
row() { # LABEL FILE-SUFFIX
	printf '%-34s' "$1"
	for s in $SERVERS; do printf ' %14s' "$(median <"$T/$s.$2")"; done
	echo
}
row "full mTLS handshakes+GET /s" full
row "server CPU us per full handshake" fullcpu
row "resumed TLS 1.2 handshakes /s" res
row "keep-alive requests /s" ka
row "server CPU us per keep-alive req" kacpu
for s in $SERVERS; do # per server-CPU-second, from the CPU per handshake or request
	awk '{ if ($1 > 0) printf "%.1f\n", 1e6 / $1; else print 0 }' "$T/$s.fullcpu" >"$T/$s.fullpcs"
	awk '{ if ($1 > 0) printf "%.1f\n", 1e6 / $1; else print 0 }' "$T/$s.kacpu" >"$T/$s.kapcs"
done
row "full handshakes per server-CPU-s" fullpcs
row "keep-alive req per server-CPU-s" kapcs
row "memory (Pss) KiB, $IDLE idle conns" mem
[ "$FLEET" = 1 ] && row "storm p99 ms, $NDEV devices" p99
echo
# Handshakes per server-CPU-second, from the CPU per handshake.
for b in openssl gnutls; do
	s=sprov-$b
	f=$(median <"$T/$s.full"); n=$(median <"$T/nginx.full")
	fc=$(median <"$T/$s.fullcpu"); nc=$(median <"$T/nginx.fullcpu")
	rs=$(median <"$T/$s.res"); nr=$(median <"$T/nginx.res")
	ka=$(median <"$T/$s.ka"); nk=$(median <"$T/nginx.ka")
	kc=$(median <"$T/$s.kacpu"); nkc=$(median <"$T/nginx.kacpu")
	m=$(median <"$T/$s.mem"); nm=$(median <"$T/nginx.mem")
	r() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
	echo "[$b]"
	echo "ratio full-handshakes-per-s sprov/nginx = $(r "$f" "$n")"
	echo "ratio full-handshakes-per-cpu-s sprov/nginx = $(r "$nc" "$fc")"
	echo "ratio cpu-us-per-full-handshake sprov/nginx = $(r "$fc" "$nc")"
	echo "ratio resumed-per-s sprov/nginx = $(r "$rs" "$nr")"
	echo "ratio keepalive-req-per-s sprov/nginx = $(r "$ka" "$nk")"
	echo "ratio keepalive-req-per-cpu-s sprov/nginx = $(r "$nkc" "$kc")"
	echo "ratio peak-rss-idle sprov/nginx = $(r "$m" "$nm")"
	[ "$FLEET" = 1 ] && echo "ratio storm-p99 sprov/nginx = $(r "$(median <"$T/$s.p99")" "$(median <"$T/nginx.p99")")"
	echo "sprov ($b) CPU per full handshake = $(r "$fc" "$FLOOR") x crypto floor"
done
echo "nginx CPU per full handshake = $(awk -v a="$(median <"$T/nginx.fullcpu")" -v b="$FLOOR" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }') x crypto floor"
[ "$FLEET" = 1 ] || echo "(no sprov fleet or dnsmasq: storm p99 not measured)"
grep '^\[.*key process' "$T/keyproc.out" || true

# The fleet's own scale (issue 5): slow, so only when asked.
if [ "${BENCH_FLEET_SCALE:-0}" = 1 ]; then
	echo
	echo "== fleet scale (bench/fleet_scale.sh; its FS_* settings apply)"
	bash "$HERE/fleet_scale.sh" "$SPROV"
fi
