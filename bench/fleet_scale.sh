#!/usr/bin/env bash
# bench/fleet_scale.sh: the two scale claims of `sprov fleet` (issue 5),
# measured on loopback.
#
#   bash bench/fleet_scale.sh SPROV_BINARY
#
# 1. Idle devices: `sprov fleet` over FS_DEVICES bundles (100000) at a low
#    Poisson rate (FS_RATE resyncs/s for FS_DURATION s, so nearly every device
#    is idle all the time), and the same run over FS_BASE bundles (100).  The
#    cost of an idle device is the difference of the two runs' peak RSS
#    (VmHWM, from the fleet's --json) divided by the difference in devices.
#    Goal: at most 4096 bytes.
#    Then the same with every device queued: --storm with FS_QUEUED_C (20)
#    in flight for FS_DURATION s, so all but a few wait in the timer heap.
# 2. Open connections: `sprov fleet --keepalive --rounds 2 --interval
#    FS_HOLD` (180 s) over FS_CONNS devices (10000), at most FS_C transfers
#    in flight (1000), against `sprov serve --max-connections` above that.
#    --concurrency caps transfers, not connections: each device's connection
#    stays open and idle between its two rounds, so they add up as the first
#    round goes on (FS_HOLD must exceed the first round's length).  With
#    FS_C=10000 every handshake starts at once and they all finish together
#    at the end, close to the 120 s transfer timeout on this box.  The
#    script counts the server's established connections once a second
#    (`ss -tn state established '( sport = :PORT )'`) and reports the peak,
#    how long it was held, the fleet's VmRSS at the last second the peak
#    was held (every connection open and idle), and (that RSS - the RSS of
#    the same run with FS_BASE devices) / peak = bytes per open connection.
#    Goal: 10000 open at once.
#
# Other settings: FS_SERVE_SPROV (the sprov binary for `sprov serve`,
# default SPROV), FS_WORKERS (fleet workers, default: one per core),
# FS_SERVE_WORKERS (1), FS_TLS_BACKEND (openssl, as in bench/RESULTS.md: when
# those figures were taken the gnutls backend crashed on transfers cut
# mid-way, fixed since in 6947fe1 and 8433d6e), FS_PARTS ("idle
# queued conns": which parts to run).  The PKI (`sprov ca issue --csv` of
# max(FS_DEVICES, FS_CONNS) bundles, ~20-70 s for 100000) goes into a
# temporary directory under ${TMPDIR:-/tmp} (TMPDIR=/dev/shm is faster),
# removed at exit (kept with FS_KEEP=1); every process started here is
# stopped at exit.
#
# Prints one figure per line, e.g. `fleet idle bytes/device = 37`.
# Needs dnsmasq (/usr/sbin/dnsmasq), ss (iproute2), python3.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_binary fleet_scale "${1:?usage: bench/fleet_scale.sh SPROV_BINARY}"
SERVE_SPROV=${FS_SERVE_SPROV:-$SPROV}
NDEV=${FS_DEVICES:-100000}
BASE=${FS_BASE:-100}
RATE=${FS_RATE:-20}
DURATION=${FS_DURATION:-20}
CONNS=${FS_CONNS:-10000}
C=${FS_C:-1000}
HOLD=${FS_HOLD:-180}
WORKERS=${FS_WORKERS:-0}
SERVE_WORKERS=${FS_SERVE_WORKERS:-1}
PARTS=${FS_PARTS:-idle queued conns}
for t in /usr/sbin/dnsmasq ss python3; do
	command -v "$t" >/dev/null || { echo "fleet_scale: $t missing" >&2; exit 2; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-fleet-scale.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${FS_KEEP:-}" ]; then echo "fleet_scale: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export SPROV_STORE="sqlite:$T/sprov.db"
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
json() { python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$1" "$2"; }

# Every connection is a descriptor in the fleet and one in the server.
HARD=$(ulimit -Hn)
ulimit -n "$HARD"
if [ "$HARD" != unlimited ] && [ "$HARD" -lt $((CONNS + 1024)) ]; then
	echo "fleet_scale: hard RLIMIT_NOFILE $HARD is below $CONNS + 1024; connections lowered" >&2
	CONNS=$((HARD - 1024))
	[ "$C" -le "$CONNS" ] || C=$CONNS
fi

N=$NDEV
[ "$CONNS" -le "$N" ] || N=$CONNS
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load $(cut -d' ' -f1-3 /proc/loadavg), RLIMIT_NOFILE $(ulimit -n)"
echo "== PKI: server certificate and $N device bundles in $T"
t0=$(date +%s.%N)
bench_pki "$N" 2>"$T/issue.err" || { echo "ca issue failed:"; tail -5 "$T/issue.err"; exit 1; }
"$SPROV" db init >/dev/null
"$SPROV" db devices import "$T/devices.csv" >/dev/null
"$SPROV" db params set --default Proxy_1_=sip.example.net >/dev/null
# The baseline runs get a directory of their own with BASE bundles:
# the fleet lists every bundle of --bundles before it takes the first N.
mkdir "$T/dev-base"
i=0
for d in "$T"/dev/*; do
	[ $i -lt "$BASE" ] || break
	ln -s "$d" "$T/dev-base/${d##*/}"
	i=$((i + 1))
done
echo "   $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, $(du -sh "$T/dev" | cut -f1)"

start_dnsmasq || { echo "fleet_scale: dnsmasq did not start" >&2; exit 2; }
PORT=$(free_port)
ADMIN_PORT=$(free_port)
# The fleet is one loopback address: the per-source handshake cap is off
# (when this binary has it).
HS_CAP_OFF=()
grep -q -- --handshakes-per-source <<<"$("$SERVE_SPROV" serve --help)" && HS_CAP_OFF=(--handshakes-per-source 0)
"$SERVE_SPROV" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN_PORT" --cert "$T/p.crt" --key "$T/p.key" \
	--client-ca "$T/ca/device-ca.crt" --workers "$SERVE_WORKERS" --access-log off \
	--tls-backend "${FS_TLS_BACKEND:-openssl}" \
	--max-connections $((CONNS + 2000)) --overload-connections $((CONNS + 1000)) \
	--idle-timeout 600 --handshake-timeout 120 --header-timeout 120 "${HS_CAP_OFF[@]}" \
	2>"$T/serve.err" &
SPID=$!
PIDS+=("$SPID")
wait_port "$PORT" || { echo "sprov serve did not start:"; cat "$T/serve.err"; exit 1; }
sleep 0.3
RULE="https://$SRV:$PORT/profiles/\$MA.xml"
FLEET=(fleet --rule "$RULE" --dns-server "127.0.0.1:$DNS_PORT" --json)
[ "$WORKERS" = 0 ] || FLEET+=(--workers "$WORKERS")

# fleet_run NAME BUNDLES ARGS...: run the fleet in the background, sample once a
# second or so (established server connections, fleet VmRSS), wait for
# it.  Leaves $T/NAME.json and $T/NAME.samples ("secs conns fleet_rss_kb
# serve_rss_kb", seconds since the start).
fleet_run() {
	local name=$1 bundles=$2 fp t c r s t0
	shift 2
	kill -0 "$SPID" 2>/dev/null || { echo "sprov serve is gone:"; tail -5 "$T/serve.err"; exit 1; }
	"$SPROV" "${FLEET[@]}" --bundles "$bundles" "$@" >"$T/$name.json" 2>"$T/$name.err" &
	fp=$!
	PIDS+=("$fp")
	: >"$T/$name.samples"
	t0=$(date +%s.%N)
	while kill -0 "$fp" 2>/dev/null; do
		t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		c=$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)
		r=$(status_kb "$fp" VmRSS)
		s=$(status_kb "$SPID" VmRSS)
		[ -z "$r" ] || echo "$t $c $r ${s:-0}" >>"$T/$name.samples"
		sleep 1
	done
	wait "$fp" || true
	kill -0 "$SPID" 2>/dev/null || { echo "sprov serve died during $name:"; tail -5 "$T/serve.err"; exit 1; }
	[ -s "$T/$name.json" ] || { echo "fleet ($name) printed no figures:"; tail -5 "$T/$name.err"; exit 1; }
}
summary() { # NAME: one line of the fleet's figures
	printf '   %-10s devices %s, attempts %s, successes %s, failures %s, full %s, reused %s, peak in flight %s, p99 %s ms, VmHWM %s KiB, %.1f s\n' \
		"$1" "$(json "$T/$1.json" devices)" "$(json "$T/$1.json" attempts)" \
		"$(json "$T/$1.json" successes)" "$(json "$T/$1.json" failures)" \
		"$(json "$T/$1.json" handshakes.full)" "$(json "$T/$1.json" handshakes.reused_connection)" \
		"$(json "$T/$1.json" max_in_flight)" "$(json "$T/$1.json" latency_ms.p99)" "$(json "$T/$1.json" peak_rss_kb)" \
		"$(json "$T/$1.json" elapsed_s)"
	python3 - "$T/$1.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])).get("failure_reasons", {})
if r:
    print("              failures by reason: " + ", ".join("%s %s" % kv for kv in r.items()))
EOF
}
# The server's own counts: handshakes, timeouts, open connections.
server_counts() {
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
		grep -E '^sprov_(tls_handshakes_total|timeouts_total|open_connections|overload_total)' |
		grep -v ' 0$' | tr '\n' ' '
	echo
}
maxcol() { awk -v k="$2" 'BEGIN { m = 0 } $k > m { m = $k } END { print m }' "$T/$1.samples"; }

if [[ " $PARTS " == *" idle "* ]]; then
	echo "== idle devices: --rate $RATE for ${DURATION}s over $BASE and $NDEV devices"
	IDLE_ARGS=(--rate "$RATE" --rounds 0 --duration "$DURATION" --concurrency 100)
	echo "   command: sprov fleet --bundles DIR --rule $RULE --dns-server 127.0.0.1:$DNS_PORT --json ${IDLE_ARGS[*]} --devices N"
	fleet_run idle-base "$T/dev-base" "${IDLE_ARGS[@]}" --devices "$BASE"
	summary idle-base
	fleet_run idle-full "$T/dev" "${IDLE_ARGS[@]}" --devices "$NDEV"
	summary idle-full
	hb=$(json "$T/idle-base.json" peak_rss_kb)
	hf=$(json "$T/idle-full.json" peak_rss_kb)
	rb=$(maxcol idle-base 3)
	rf=$(maxcol idle-full 3)
	echo "fleet idle VmHWM KiB base ($BASE devices) = $hb"
	echo "fleet idle VmHWM KiB full ($NDEV devices) = $hf"
	echo "fleet idle bytes/device = $(( (hf - hb) * 1024 / (NDEV - BASE) ))"
	echo "fleet idle bytes/device by sampled VmRSS = $(( (rf - rb) * 1024 / (NDEV - BASE) ))"
fi

if [[ " $PARTS " == *" queued "* ]]; then
	QC=${FS_QUEUED_C:-20}
	echo "== queued devices: --storm, $QC in flight for ${DURATION}s, over $BASE and $NDEV devices"
	Q_ARGS=(--storm --concurrency "$QC" --duration "$DURATION" --rounds 0)
	echo "   command: sprov fleet --bundles DIR --rule $RULE --dns-server 127.0.0.1:$DNS_PORT --json ${Q_ARGS[*]} --devices N"
	fleet_run queued-base "$T/dev-base" "${Q_ARGS[@]}" --devices "$BASE"
	summary queued-base
	fleet_run queued-full "$T/dev" "${Q_ARGS[@]}" --devices "$NDEV"
	summary queued-full
	hb=$(json "$T/queued-base.json" peak_rss_kb)
	hf=$(json "$T/queued-full.json" peak_rss_kb)
	echo "fleet queued VmHWM KiB base ($BASE devices) = $hb"
	echo "fleet queued VmHWM KiB full ($NDEV devices) = $hf"
	echo "fleet queued bytes/device = $(( (hf - hb) * 1024 / (NDEV - BASE) ))"
fi

if [[ " $PARTS " == *" conns "* ]]; then
	echo "== open connections: --keepalive, $CONNS devices, concurrency $C, ${HOLD}s between rounds"
	# --duration: a bound, should anything hang; the run ends well before.
	CONN_ARGS=(--keepalive --rounds 2 --timeout 120 --retries 3 --retry-delay 5
		--duration $((HOLD + 600)))
	echo "   command: sprov fleet --bundles DIR --rule $RULE --dns-server 127.0.0.1:$DNS_PORT --json ${CONN_ARGS[*]} --interval $HOLD --devices $CONNS --concurrency $C"
	fleet_run conn-base "$T/dev-base" "${CONN_ARGS[@]}" --interval 5 --devices "$BASE" --concurrency "$BASE"
	summary conn-base
	echo "   server before: $(server_counts)"
	fleet_run conn-full "$T/dev" "${CONN_ARGS[@]}" --interval "$HOLD" --devices "$CONNS" --concurrency "$C"
	summary conn-full
	echo "   server after:  $(server_counts)"
	# The peak, and the last sample that still had it (all open, idle).
	pc=$(maxcol conn-full 2)
	read -r pt pr ps < <(awk -v m="$pc" '$2 == m { l = $1 " " $3 " " $4 } END { print l }' "$T/conn-full.samples")
	held=$(awk -v m="$pc" '$2 >= 0.99 * m { n++ } END { print n + 0 }' "$T/conn-full.samples")
	rb=$(maxcol conn-base 3)
	echo "   $pc open from $(awk -v m="$pc" '$2 == m { print $1; exit }' "$T/conn-full.samples") s to $pt s; samples (about 1 s apart) with >= 99 % of them open: $held"
	# Round 2 goes on the kept connections: from the first progress line
	# past the first round's attempts to the last one before it is done.
	awk -v n="$CONNS" '$1 == "fleet:" { t = $2 + 0; a = $4; s = $6 }
		a > n && r0 == "" { r0 = t } s < 2 * n { r1 = t } END { if (r0 != "") printf "   round 2 (kept connections): about %.0f s\n", r1 - r0 + 1 }' "$T/conn-full.err"
	echo "fleet open connections peak = $pc"
	echo "fleet VmRSS KiB with the peak open = $pr"
	echo "fleet VmHWM KiB = $(json "$T/conn-full.json" peak_rss_kb)"
	echo "fleet bytes/open connection = $(awk -v a="$pr" -v b="$rb" -v n="$pc" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n; else print "n/a" }')"
	echo "serve VmRSS KiB with the peak open = $ps"
fi
