#!/bin/bash
# bench/storm.sh: the storm of distinct devices (issue 17), sprov serve on
# both TLS backends against nginx serving the same per-device files with the
# same certificates, in one run.  `make bench` runs it first.
#
#   bash bench/storm.sh SPROV_BINARY
#
# BENCH_STORM_N devices (default 10000), each its own certificate from
# `sprov ca issue --csv` and a ~4 KiB profile (`sprov db import`; nginx
# serves the same files), all resync at once through `sprov fleet --storm
# --concurrency BENCH_STORM_C` (500) on the same box (dnsmasq answers the
# device's DNS check).  Each server is started fresh for each storm; servers
# alternate A B C for BENCH_ROUNDS rounds (2), medians are printed.
# For each storm: the server's CPU (utime+stime of all its processes,
# children included, /proc/PID/stat) divided by the successful resyncs, the
# fleet's CPU per resync (its own getrusage), wall time, failures.
#
# First line of the output (the headline; R = nginx's CPU / sprov's):
#   storm N=.. C=..: server CPU per handshake+GET: sprov-gnutls X µs (nginx/sprov R1x), ...
#
# Every device must be served: a storm with a failure prints the failures and
# the script exits 1 (the fleet does not retry: --retries 0).  Exit 2: setup
# failed (no binary, no nginx or dnsmasq, a server did not start).
#
# Every step is bounded in time (BENCH_STEP_TIMEOUT, 900 s, for each setup
# step), and everything started here is killed at exit.
#
# Second line: the key process' cost under the storm, server CPU per
# handshake+GET with the key process (the default) over without it
# (sprov-*-nokp, --key-process off), the median of each round's ratio, and
# the same ratio of the fleet's CPU: the fleet does the same work in both
# storms, so its distance from 1 is the box's drift between them (or what
# the key process' wake-ups cost a client sharing its cores).
# Each round runs the servers in the listed order, every other round in
# reverse, so that neither twin always comes first.
#
# With 2 CPUs or more the server's processes run on CPU 0 and the fleet on
# CPU 1, as if they were two machines: the fleet cannot preempt the server,
# nor a key process the fleet (BENCH_STORM_PIN=0: nothing pinned, as every
# storm in bench/RESULTS.md before its "2026-12-07 19:30 UTC" section).
#
# Other settings: BENCH_WORKERS (server workers, 1), BENCH_STORM_SERVERS
# (default "sprov-gnutls sprov-gnutls-nokp sprov-openssl sprov-openssl-nokp
# nginx"; the key-process line needs both twins), BENCH_STORM_TIMEOUT (seconds
# one storm may take, 600), BENCH_STORM_PERF=DIR: after the measured rounds,
# one more storm of BENCH_STORM_PERF_N devices (3000) per server under `perf
# record --call-graph dwarf` (the libraries have no frame pointers) on all its
# processes, with `perf report` by DSO, by symbol, by category and inclusive
# (callees counted) written to DIR/<server>.* (perf slows the server: those
# storms are not in the figures).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_binary storm "${1:?usage: bench/storm.sh SPROV_BINARY}"
N=${BENCH_STORM_N:-10000}
C=${BENCH_STORM_C:-500}
ROUNDS=${BENCH_ROUNDS:-2}
WORKERS=${BENCH_WORKERS:-1}
SERVERS=${BENCH_STORM_SERVERS:-sprov-gnutls sprov-gnutls-nokp sprov-openssl sprov-openssl-nokp nginx}
LIMIT=${BENCH_STORM_TIMEOUT:-600}
PERF_DIR=${BENCH_STORM_PERF:-}
PIN=${BENCH_STORM_PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
[ "$PIN" = 0 ] || [ "$(nproc)" -ge 2 ] || { echo "storm: BENCH_STORM_PIN=1 needs 2 CPUs" >&2; exit 2; }
PN=${BENCH_STORM_PERF_N:-3000}
[ "$PN" -le "$N" ] || PN=$N
MAXCONN=$((C + 1000))
command -v nginx >/dev/null || { echo "storm: nginx missing (scripts/deps.sh)" >&2; exit 2; }
[ -z "$PERF_DIR" ] || command -v perf >/dev/null || { echo "storm: perf missing" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-storm.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export SPROV_STORE="sqlite:$T/sprov.db"
ulimit -n $((MAXCONN * 2 + 1024)) 2>/dev/null || true

T0=$(date +%s)
{
	bench_pki "$N"
	bench_profiles "$N"
} >"$T/setup.log" 2>&1 || { echo "storm: setup failed:" >&2; cat "$T/setup.log" >&2; exit 2; }
start_dnsmasq || { echo "storm: dnsmasq missing or did not start" >&2; exit 2; }

# storm SERVER ROUND: one storm against a fresh SERVER; appends the figures
# to $T/<server>.{srv,fleet,wall} and prints the detail line.  Returns 1 on
# any failure.
storm() {
	local s=$1 r=$2 c0 c1 t0 t1 rc=0 p pin=()
	start "$s" || exit 2
	if [ "$PIN" = 1 ]; then # every thread of every server process on CPU 0, the fleet on 1
		for p in "$SPID" $(pgrep -P "$SPID"); do taskset -a -p -c 0 "$p" >/dev/null; done
		pin=(taskset -c 1)
	fi
	c0=$(cpu_ticks)
	t0=$(date +%s.%N)
	timeout -k 5 "$LIMIT" "${pin[@]}" "$SPROV" fleet --bundles "$T/dev" --rule "https://$SRV:$PORT/profiles/\$MA.xml" \
		--dns-server "127.0.0.1:$DNS_PORT" --storm --concurrency "$C" --devices "$N" \
		--retries 0 --json >"$T/fleet.json" 2>"$T/fleet.err" || rc=$?
	t1=$(date +%s.%N)
	c1=$(cpu_ticks)
	stop_server
	python3 - "$T/fleet.json" "$N" $((c1 - c0)) "$HZ" "$t0" "$t1" "$rc" >"$T/storm.out" <<'PY' || true
import json, sys
f, n, ticks, hz, t0, t1, rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
try:
    j = json.load(open(f))
except Exception:
    print("BAD 0 0 0 %.1f fleet exited %d with no report" % (t1 - t0, rc))
    sys.exit(0)
ok = j["successes"]
bad = []
if rc != 0: bad.append("fleet exit status %d" % rc)
if ok != n or j["devices_ok"] != n: bad.append("%d of %d devices served" % (j["devices_ok"], n))
if j["failures"]: bad.append("%d failed attempts: %s" % (j["failures"], ", ".join("%s %s" % kv for kv in j["failure_reasons"].items())))
if j["gave_up"] or j["unfinished"]: bad.append("%d gave up, %d unfinished" % (j["gave_up"], j["unfinished"]))
srv = ticks / hz / ok * 1e6 if ok else 0
fleet = (j["cpu_user_s"] + j["cpu_sys_s"]) / ok * 1e6 if ok else 0
print("%s %.0f %.0f %d %.1f %s" % ("BAD" if bad else "OK", srv, fleet, ok, t1 - t0, "; ".join(bad)))
PY
	local st srv fl ok wall why
	read -r st srv fl ok wall why <"$T/storm.out"
	printf '   round %s %-18s server %6s us/resync  fleet %6s us/resync  %s ok  %6s s wall  (load %s)\n' \
		"$r" "$s" "$srv" "$fl" "$ok" "$wall" "$(cut -d' ' -f1-3 /proc/loadavg)"
	# Round by round, 0 for a failed storm: the twins' ratios pair rounds.
	if [ "$st" = OK ]; then echo "$srv $fl"; else echo "0 0"; fi >>"$T/$s.round"
	if [ "$st" != OK ]; then
		echo "   FAILED: $s round $r: $why"
		sed 's/^/   fleet: /' "$T/fleet.err" | tail -5
		return 1
	fi
	echo "$srv" >>"$T/$s.srv"
	echo "$fl" >>"$T/$s.fleet"
	echo "$wall" >>"$T/$s.wall"
}

FAILED=0
: >"$T/detail"
for r in $(seq "$ROUNDS"); do
	order=$SERVERS
	[ $((r % 2)) = 1 ] || order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
	for s in $order; do
		storm "$s" "$r" >>"$T/detail" || FAILED=1
	done
done

# The headline first, then the detail.
med() { [ -s "$T/$1.$2" ] && median <"$T/$1.$2" || echo 0; }
NG=$(med nginx srv)
line="storm N=$N C=$C: server CPU per handshake+GET:"
sep=""
for s in $SERVERS; do
	case $s in *-nokp) continue ;; esac
	v=$(med "$s" srv)
	if [ "$s" = nginx ]; then
		line+="$sep nginx $v µs"
	else
		line+="$sep $s $v µs ($( [ "$s" = "$(echo "$SERVERS" | awk '{print $1}')" ] && echo "nginx/sprov " )$(awk -v a="$NG" -v b="$v" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }')x)"
	fi
	sep=","
done
[ "$FAILED" = 0 ] || line+=" (FAILED: not every device was served, see below)"
echo "$line"
# The key process' line: each round's on/off, for every backend with both twins.
line="storm N=$N C=$C: key process on/off, server CPU per handshake+GET, median of $ROUNDS rounds:"
sep="" kp=0
for s in $SERVERS; do
	case $s in *-nokp) continue ;; esac
	case " $SERVERS " in *" $s-nokp "*) ;; *) continue ;; esac
	# columns: on server, on fleet, off server, off fleet
	paste -d' ' "$T/$s.round" "$T/$s-nokp.round" | awk '$1 > 0 && $3 > 0' >"$T/$s.pairs"
	v=$(awk '{ print $1 / $3 }' "$T/$s.pairs" | median4 | awk '{ printf "%.3f", $1 }')
	fv=$(awk '{ print $2 / $4 }' "$T/$s.pairs" | median4 | awk '{ printf "%.3f", $1 }')
	line+="$sep ${s#sprov-} $v (rounds $(awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $1 / $3 }' "$T/$s.pairs"); the fleet's own CPU in the same storms $fv)"
	sep="," kp=1
done
[ "$kp" = 0 ] || echo "$line"
echo "== storm: $N distinct devices, concurrency $C, $WORKERS server worker(s), $ROUNDS rounds alternating; $( [ "$PIN" = 1 ] && echo "server on CPU 0, fleet on CPU 1" || echo "$(nproc) cores shared by fleet and server")"
echo "   command: BENCH_STORM_N=$N BENCH_STORM_C=$C BENCH_ROUNDS=$ROUNDS BENCH_WORKERS=$WORKERS BENCH_STORM_PIN=$PIN BENCH_STORM_SERVERS=\"$SERVERS\" bash bench/storm.sh $SPROV"
cat "$T/detail"
printf '%-30s' median; for s in $SERVERS; do printf ' %18s' "$s"; done; echo
for k in "srv:server CPU us per resync" "fleet:fleet CPU us per resync" "wall:wall s per storm"; do
	printf '%-30s' "${k#*:}"
	for s in $SERVERS; do printf ' %18s' "$(med "$s" "${k%%:*}")"; done
	echo
done
for s in $SERVERS; do
	[ "$s" = nginx ] && continue
	awk -v f="$(med "$s" fleet)" -v v="$(med "$s" srv)" -v s="$s" \
		'BEGIN { if (v > 0) printf "%s: fleet CPU / server CPU per resync = %.2f\n", s, f / v }'
done
crypto_floor
echo "   crypto floor (openssl speed: X25519 $X25519/s, P-256 sign $SIGN/s, verify $VERIFY/s): $FLOOR us per handshake"
for s in $SERVERS; do
	awk -v v="$(med "$s" srv)" -v f="$FLOOR" -v s="$s" \
		'BEGIN { if (f > 0 && v > 0) printf "   %s: server CPU per handshake+GET = %.2f x crypto floor\n", s, v / f }'
done
echo "   setup + storms: $(( $(date +%s) - T0 )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

# perf: one more storm per server, recorded on all its processes.
if [ -n "$PERF_DIR" ] && [ "$FAILED" = 0 ]; then
	mkdir -p "$PERF_DIR"
	for s in $SERVERS; do
		start "$s" || exit 2
		pids=$(echo "$SPID" $(pgrep -P "$SPID") | tr ' ' ',')
		perf record -q -F 499 --call-graph dwarf,16384 -o "$PERF_DIR/$s.data" -p "$pids" 2>"$T/perf.err" &
		PERF_PID=$!
		PIDS+=("$PERF_PID")
		sleep 0.5
		timeout -k 5 "$LIMIT" "$SPROV" fleet --bundles "$T/dev" --rule "https://$SRV:$PORT/profiles/\$MA.xml" \
			--dns-server "127.0.0.1:$DNS_PORT" --storm --concurrency "$C" --devices "$PN" \
			--retries 0 --json >"$T/fleet.json" 2>"$T/fleet.err" || echo "   perf storm on $s: fleet failed"
		kill -INT "$PERF_PID" 2>/dev/null || true
		wait "$PERF_PID" 2>/dev/null || true
		stop_server
		timeout 900 perf report -i "$PERF_DIR/$s.data" --no-children --sort dso --stdio -g none 2>/dev/null \
			| grep -v '^#' | grep -v '^$' >"$PERF_DIR/$s.dso.txt" || true
		timeout 900 perf report -i "$PERF_DIR/$s.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
			| grep -v '^#' | grep -v '^$' >"$PERF_DIR/$s.sym.txt" || true
		timeout 900 perf report -i "$PERF_DIR/$s.data" --children --sort sym --stdio -g none 2>/dev/null \
			| grep -v '^#' | grep -v '^$' >"$PERF_DIR/$s.children.txt" || true
		python3 "$HERE/perf_categories.py" <"$PERF_DIR/$s.sym.txt" >"$PERF_DIR/$s.cat.txt" || true
		python3 "$HERE/perf_categories.py" --children 60 <"$PERF_DIR/$s.children.txt" >"$PERF_DIR/$s.incl.txt" || true
		echo "== perf, storm of $PN devices on $s: $PERF_DIR/$s.{dso,sym,cat,children,incl}.txt"
		echo "   by DSO (self):"
		sed 's/^/   /' "$PERF_DIR/$s.dso.txt"
		echo "   by category (self):"
		sed 's/^/   /' "$PERF_DIR/$s.cat.txt"
		echo "   inclusive, named functions (callees counted; --call-graph dwarf):"
		sed 's/^/   /' "$PERF_DIR/$s.incl.txt"
	done
fi
exit "$FAILED"
