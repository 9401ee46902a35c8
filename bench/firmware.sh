#!/bin/bash
# bench/firmware.sh: serving a firmware image, sprov serve (both TLS
# backends, image streamed from the store in 64 KiB chunks) next to nginx
# serving the same signed image from a file, with the same mutual-TLS
# set-up, in one run (`make bench` runs it after run.sh).
#
#   bash bench/firmware.sh SPROV_BINARY
#
# Environment: BENCH_FW_MB (payload MiB, default 32), BENCH_FW_GETS (whole
# downloads per server and round, default 8), BENCH_FW_PAR (parallel
# downloads, default 4), BENCH_ROUNDS (A B C rounds, default 2; medians).
# For each server: BENCH_FW_GETS downloads of the whole image by curl, run
# BENCH_FW_PAR at a time over new connections; the server's CPU
# (utime+stime of all its processes, /proc) per image and per MiB, and the
# wall-clock throughput.  Every download is compared with the image
# (cmp): a run that served wrong bytes fails.  Not a test: figures are noisy.
set -euo pipefail

SPROV=${1:?usage: bench/firmware.sh SPROV_BINARY}
SPROV=$(cd "$(dirname "$SPROV")" && pwd)/$(basename "$SPROV")
[ -x "$SPROV" ] || { echo "bench: no sprov binary at $SPROV" >&2; exit 2; }
MB=${BENCH_FW_MB:-32}
GETS=${BENCH_FW_GETS:-8}
PAR=${BENCH_FW_PAR:-4}
ROUNDS=${BENCH_ROUNDS:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v nginx >/dev/null || sh "$HERE/../scripts/deps.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-fwbench.XXXXXX")
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"

echo "== PKI, one device, a ${MB} MiB image signed by the CA's firmware key"
SRV=prov.bench.example
cd "$T"
"$SPROV" ca init ca --org Bench >/dev/null
"$SPROV" req --cn "$SRV" --out p.csr --key-out p.key >/dev/null
"$SPROV" ca sign ca p.csr -o p.crt >/dev/null
printf 'mac,serial,product\n000e08000001,BENCH1,SPA2102\n' >devices.csv
"$SPROV" ca issue ca --csv devices.csv --out dev >/dev/null
DEV=dev/000e08000001
head -c $((MB * 1024 * 1024)) /dev/urandom >payload
"$SPROV" ca sign-firmware ca payload --product SPA2102 --version 2.0.1 -o image.sfw >/dev/null
"$SPROV" db init >/dev/null
"$SPROV" db devices import devices.csv >/dev/null
"$SPROV" db firmware add image.sfw --firmware-ca ca/firmware-ca.crt >/dev/null
mkdir -p www/firmware/SPA2102
cp image.sfw www/firmware/SPA2102/2.0.1.sfw
SIZE=$(stat -c %s image.sfw)

start_sprov() {
	PORT=$(free_port)
	"$SPROV" serve --listen "127.0.0.1:$PORT" --admin off --cert p.crt --key p.key \
		--client-ca ca/device-ca.crt --tls-backend "$1" --access-log off \
		--handshakes-per-source 0 2>"serve-$1.err" &
	SPID=$!
	wait_port "$PORT" || { cat "serve-$1.err"; exit 1; }
}
start_nginx() {
	PORT=$(free_port)
	mkdir -p nginx/logs
	cat >nginx/nginx.conf <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
daemon off;
error_log $T/nginx/logs/error.log warn;
pid $T/nginx/nginx.pid;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx/tmp;
	server {
		listen 127.0.0.1:$PORT ssl;
		ssl_certificate $T/p.crt;
		ssl_certificate_key $T/p.key;
		ssl_client_certificate $T/ca/device-ca.crt;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		root $T/www;
	}
}
EOF
	nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>nginx/start.err &
	SPID=$!
	wait_port "$PORT" || { cat nginx/start.err; exit 1; }
}
stop_server() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=; }

# One server: GETS downloads, PAR at a time -> "cpu_ms_per_image MiB_per_s"
run() {
	local t0 t1 w0 w1 i p pids=()
	t0=$(cpu_ticks)
	w0=$(date +%s%N)
	# (the server is a background job too: wait for the downloads only)
	for ((i = 0; i < GETS; i++)); do
		curl -sS --max-time 120 --resolve "$SRV:$PORT:127.0.0.1" --cacert ca/server-ca.crt \
			--cert "$DEV/client.crt" --key "$DEV/client.key" -o "got$i" \
			"https://$SRV:$PORT/firmware/SPA2102/2.0.1.sfw" &
		pids+=($!)
		if (( ${#pids[@]} == PAR || i == GETS - 1 )); then
			for p in "${pids[@]}"; do
				wait "$p" || { echo "bench: a download from $1 failed" >&2; exit 1; }
			done
			pids=()
		fi
	done
	w1=$(date +%s%N)
	t1=$(cpu_ticks)
	for ((i = 0; i < GETS; i++)); do
		cmp -s "got$i" image.sfw || { echo "bench: download $i differs from the image" >&2; exit 1; }
	done
	rm -f got*
	awk -v c=$((t1 - t0)) -v hz="$HZ" -v n="$GETS" -v w=$((w1 - w0)) -v s="$SIZE" \
		'BEGIN { printf "%.1f %.1f\n", c * 1000 / hz / n, n * s / 1048576 / (w / 1e9) }'
}

for ((r = 0; r < ROUNDS; r++)); do
	for srv in gnutls openssl nginx; do
		if [ "$srv" = nginx ]; then start_nginx; else start_sprov "$srv"; fi
		run "$srv" >>"res-$srv"
		stop_server
	done
done

echo "== firmware image, $((SIZE / 1048576)) MiB, $GETS downloads $PAR at a time, $ROUNDS rounds (medians)"
printf '%-14s %16s %14s %12s %16s\n' server "CPU ms/image" "CPU ms/MiB" "MiB/s wall" "CPU vs nginx"
ng=$(cut -d' ' -f1 res-nginx | median)
for srv in gnutls openssl nginx; do
	c=$(cut -d' ' -f1 "res-$srv" | median)
	w=$(cut -d' ' -f2 "res-$srv" | median)
	awk -v s="sprov $srv" -v c="$c" -v w="$w" -v ng="$ng" -v mb="$((SIZE / 1048576))" \
		'BEGIN { if (s == "sprov nginx") s = "nginx"; printf "%-14s %16.1f %14.2f %12.1f %15.2fx\n", s, c, c / mb, w, c / ng }'
done
