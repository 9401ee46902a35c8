#!/usr/bin/env bash
# bench/fleet_cpu.sh SPROV [FLEET_SPROV...]: can `sprov fleet` load `sprov
# serve` from the same box?  (issue 17, item 5: goal <= 1.5)
#
# A storm of N distinct devices (`sprov fleet --storm`, each device's four
# checks and profile decode) against `SPROV serve` (default backend, one
# worker), and the ratio
#
#     fleet CPU per successful resync / server CPU per successful resync
#
# CPU is utime+stime: the fleet's from wait4 (bash `time`), the server's
# (and its children's) from /proc/PID/stat before and after the storm.  With
# several FLEET_SPROV binaries (old and new fleet against the same server)
# they alternate, FLEET_CPU_ROUNDS rounds each, and the medians are taken.
# Each round's figures and the load average go to stderr; stdout has one
# line per fleet binary: the median ratio (just the number when there is one).
#
# FLEET_CPU_DEVICES (2000), FLEET_CPU_C (200), FLEET_CPU_ROUNDS (3),
# FLEET_CPU_BACKEND (serve's default), FLEET_CPU_TIMEOUT (120 s per storm),
# FLEET_CPU_DIR: keep the PKI and store there and reuse them on the next run
# (same N), FLEET_CPU_WRAP: a command the fleet runs under (e.g. "perf record
# -g -o fleet.data"; its own CPU is then counted too).
set -euo pipefail

SPROV=${1:?usage: bench/fleet_cpu.sh SPROV [FLEET_SPROV...]}
shift
FLEETS=("$@")
[ ${#FLEETS[@]} -gt 0 ] || FLEETS=("$SPROV")
NDEV=${FLEET_CPU_DEVICES:-2000}
C=${FLEET_CPU_C:-200}
ROUNDS=${FLEET_CPU_ROUNDS:-3}
LIMIT=${FLEET_CPU_TIMEOUT:-120}
HERE=$(cd "$(dirname "$0")" && pwd)
for b in "$SPROV" "${FLEETS[@]}"; do
	[ -x "$b" ] || { echo "fleet_cpu: no sprov binary at $b" >&2; exit 2; }
done
[ -x /usr/sbin/dnsmasq ] || { echo "fleet_cpu: dnsmasq missing" >&2; exit 2; }

if [ -n "${FLEET_CPU_DIR:-}" ]; then
	mkdir -p "$FLEET_CPU_DIR"
	T=$(cd "$FLEET_CPU_DIR" && pwd)
else
	T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-fleetcpu.XXXXXX")
fi
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${FLEET_CPU_DIR:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
export SPROV_STORE="sqlite:$T/sprov.db"
. "$HERE/lib.sh"

SRV=prov.bench.example
if [ ! -e "$T/ready.$NDEV" ]; then
rm -rf "$T/ca" "$T/dev" "$T/profiles" "$T/sprov.db"
"$SPROV" ca init "$T/ca" --org Bench >/dev/null
"$SPROV" req --cn "$SRV" --out "$T/p.csr" --key-out "$T/p.key" >/dev/null
"$SPROV" ca sign "$T/ca" "$T/p.csr" -o "$T/p.crt" >/dev/null
python3 - "$NDEV" "$T/devices.csv" "$T/profiles" <<'EOF'
import os, sys
n, csv, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(d)
with open(csv, "w") as f:
    print("mac,serial,product", file=f)
    for i in range(n):
        mac = "000e08%06x" % i
        print("%s,BENCH%05d,SPA2102" % (mac, i), file=f)
        lines = ["<flat-profile>"]
        for k in range(1, 41):
            lines.append('<Param_%d_ ua="na">value-%s-%03d-%s</Param_%d_>' % (k, mac, k, "x" * 56, k))
        lines.append("</flat-profile>")
        open("%s/%s.xml" % (d, mac), "w").write("\n".join(lines) + "\n")
EOF
"$SPROV" ca issue "$T/ca" --csv "$T/devices.csv" --out "$T/dev" >/dev/null 2>"$T/issue.err"
"$SPROV" ca crl "$T/ca" --ca device -o "$T/ca.crl" >/dev/null
"$SPROV" db init >/dev/null
"$SPROV" db devices import "$T/devices.csv" >/dev/null
"$SPROV" db import "$T/profiles" >/dev/null
touch "$T/ready.$NDEV"
fi
rm -f "$T"/ratio.* "$T"/fleet.* "$T"/server.*

DNS_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user="$(id -un)" --port="$DNS_PORT" \
	--listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
	--address=/$SRV/127.0.0.1 2>"$T/dnsmasq.err" &
PIDS+=("$!")

BACKEND=()
[ -n "${FLEET_CPU_BACKEND:-}" ] && BACKEND=(--tls-backend "$FLEET_CPU_BACKEND")
HS_CAP_OFF=()
grep -q -- --handshakes-per-source <<<"$("$SPROV" serve --help)" && HS_CAP_OFF=(--handshakes-per-source 0)

# One storm of fleet binary $1 against a fresh server: "fleet_us server_us ratio ok".
# Not in a subshell: the server's pid must reach cleanup.
storm() {
	local fleet=$1 s0 s1 ok fu fs
	PORT=$(free_port)
	"$SPROV" serve --listen "127.0.0.1:$PORT" --admin off --cert "$T/p.crt" --key "$T/p.key" \
		--client-ca "$T/ca/device-ca.crt" --crl "$T/ca.crl" --workers 1 --access-log off \
		--max-connections $((C + 1000)) "${BACKEND[@]}" "${HS_CAP_OFF[@]}" 2>"$T/serve.err" &
	SPID=$!
	PIDS+=("$SPID")
	wait_port "$PORT" || { echo "fleet_cpu: sprov serve did not start:" >&2; cat "$T/serve.err" >&2; exit 1; }
	s0=$(cpu_ticks)
	TIMEFORMAT='%U %S'
	# shellcheck disable=SC2086 # FLEET_CPU_WRAP is words
	{ time timeout "$LIMIT" ${FLEET_CPU_WRAP:-} "$fleet" fleet --bundles "$T/dev" \
		--rule "https://$SRV:$PORT/profiles/\$MA.xml" --dns-server "127.0.0.1:$DNS_PORT" \
		--storm --concurrency "$C" --devices "$NDEV" --json >"$T/fleet.json" 2>"$T/fleet.err" \
		|| true; } 2>"$T/time.out"
	s1=$(cpu_ticks)
	kill "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
	read -r fu fs <"$T/time.out"
	ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["successes"])' \
		"$T/fleet.json" 2>/dev/null || echo 0)
	[ "$ok" -gt 0 ] || { echo "fleet_cpu: no successful resync:" >&2; tail -5 "$T/fleet.err" >&2; exit 1; }
	awk -v fu="$fu" -v fs="$fs" -v st=$((s1 - s0)) -v hz="$HZ" -v ok="$ok" 'BEGIN {
		f = (fu + fs) * 1e6 / ok; s = st / hz * 1e6 / ok
		printf "%.0f %.0f %.3f %d\n", f, s, (s > 0 ? f / s : 0), ok }'
}

for r in $(seq "$ROUNDS"); do
	for i in "${!FLEETS[@]}"; do
		storm "${FLEETS[$i]}" >"$T/storm.out"
		read -r f s ratio ok <"$T/storm.out"
		echo "$ratio" >>"$T/ratio.$i"
		echo "$f" >>"$T/fleet.$i"
		echo "$s" >>"$T/server.$i"
		printf 'round %d %-40s fleet %6s us/resync  server %6s us/resync  ratio %s  (%s ok; load %s)\n' \
			"$r" "${FLEETS[$i]}" "$f" "$s" "$ratio" "$ok" \
			"$(cut -d' ' -f1-3 /proc/loadavg)" >&2
	done
done
# The median with three decimals (lib.sh's median rounds an even count to one).
med3() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for i in "${!FLEETS[@]}"; do
	m=$(med3 <"$T/ratio.$i")
	printf 'median %-40s fleet %s us/resync  server %s us/resync  ratio %s (N=%d C=%d, %d rounds)\n' \
		"${FLEETS[$i]}" "$(median <"$T/fleet.$i")" "$(median <"$T/server.$i")" "$m" \
		"$NDEV" "$C" "$ROUNDS" >&2
	if [ ${#FLEETS[@]} -eq 1 ]; then
		echo "$m"
	else
		echo "${FLEETS[$i]} $m"
	fi
done
