# bench/lib.sh: what the benchmarks share.  Source it; cpu_ticks reads $SPID.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
HZ=$(getconf CLK_TCK)
# bench_binary NAME PATH: SPROV = PATH made absolute; exit 2 if not executable.
bench_binary() {
	SPROV=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	[ -x "$SPROV" ] || { echo "$1: no sprov binary at $SPROV" >&2; exit 2; }
}
# CPU ticks of the server $SPID and its children (key process, nginx workers).
cpu_ticks() {
	local t=0 p
	for p in "$SPID" $(pgrep -P "$SPID" 2>/dev/null); do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat")))
	done
	echo "$t"
}
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# The median of a column of numbers, unrounded (median rounds to 0.1).
median4() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# "min-max" of a column of ratios.
spread() { sort -g | awk '{ a[NR] = $1 } END { printf "%.3f-%.3f", a[1], a[NR] }'; }

# --- one PKI, N devices, a ~4 KiB profile each, sprov and nginx serving them --
# The functions below read: SPROV (the binary), T (the run's directory),
# SPROV_STORE (exported), PIDS (an array: everything started is added, the
# caller's EXIT trap kills it), WORKERS, MAXCONN (connections a server
# accepts at once).  They set SRV (the server's name), DEV and MAC (device 1).
SRV=prov.bench.example
STEP_LIMIT=${BENCH_STEP_TIMEOUT:-900} # seconds one setup step may take

# bench_pki N: CA, server certificate (ECDSA P-256), N device bundles
# $T/dev/<mac>/ from `sprov ca issue --csv`, and the device CRL.
bench_pki() {
	local n=$1
	timeout "$STEP_LIMIT" "$SPROV" ca init "$T/ca" --org Bench >/dev/null || return 1
	timeout "$STEP_LIMIT" "$SPROV" req --cn "$SRV" --out "$T/p.csr" --key-out "$T/p.key" >/dev/null || return 1
	timeout "$STEP_LIMIT" "$SPROV" ca sign "$T/ca" "$T/p.csr" -o "$T/p.crt" >/dev/null || return 1
	python3 - "$n" >"$T/devices.csv" <<'PY' || return 1
import sys
print("mac,serial,product")
for i in range(int(sys.argv[1])):
    print("000e08%06x,BENCH%05d,SPA2102" % (i, i))
PY
	timeout "$STEP_LIMIT" "$SPROV" ca issue "$T/ca" --csv "$T/devices.csv" --out "$T/dev" >/dev/null || return 1
	timeout "$STEP_LIMIT" "$SPROV" ca crl "$T/ca" --ca device -o "$T/ca.crl" >/dev/null || return 1
	DEV="$T/dev/000e08000001"
	MAC=000e08000001
}

# bench_profiles N: a ~4 KiB profile per device, in $T/profiles/<mac>.xml
# (nginx serves these files) and in the store (`sprov db import`).
bench_profiles() {
	local n=$1
	mkdir -p "$T/profiles" || return 1
	python3 - "$n" "$T/profiles" <<'PY' || return 1
import sys
n, d = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    mac = "000e08%06x" % i
    lines = ["<flat-profile>"]
    for k in range(1, 41):
        lines.append('<Param_%d_ ua="na">value-%s-%03d-%s</Param_%d_>' % (k, mac, k, "x" * 56, k))
    lines.append("</flat-profile>")
    open("%s/%s.xml" % (d, mac), "w").write("\n".join(lines) + "\n")
PY
	timeout "$STEP_LIMIT" "$SPROV" db init >/dev/null || return 1
	timeout "$STEP_LIMIT" "$SPROV" db devices import "$T/devices.csv" >/dev/null || return 1
	timeout "$STEP_LIMIT" "$SPROV" db import "$T/profiles" >/dev/null || return 1
}

# The load comes from one loopback address, like a fleet behind one NAT: the
# per-source handshake cap is off (when the binary has it: older ones are
# benchmarked too).
start_sprov() { # BACKEND [SERVE ARGS...] -> PORT, SPID
	local b=$1 cap=()
	shift
	grep -q -- --handshakes-per-source <<<"$("$SPROV" serve --help)" && cap=(--handshakes-per-source 0)
	PORT=$(free_port)
	"$SPROV" serve --listen "127.0.0.1:$PORT" --admin off --cert "$T/p.crt" --key "$T/p.key" \
		--client-ca "$T/ca/device-ca.crt" --crl "$T/ca.crl" --workers "$WORKERS" \
		--tls-backend "$b" --access-log off --max-connections "$MAXCONN" \
		--idle-timeout 600 "${cap[@]}" "$@" 2>"$T/serve-$b.err" &
	SPID=$!
	PIDS+=("$SPID")
	wait_port "$PORT" || { echo "sprov ($b) did not start:"; cat "$T/serve-$b.err"; exit 1; }
}

# nginx with the same certificates, CRL and curves, one file per device
# chosen by the client certificate's CN.
start_nginx() { # -> PORT, SPID
	PORT=$(free_port)
	mkdir -p "$T/nginx/logs"
	cat >"$T/nginx/nginx.conf" <<NGX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes $WORKERS;
daemon off;
error_log $T/nginx/logs/error.log warn;
pid $T/nginx/nginx.pid;
worker_rlimit_nofile $((MAXCONN * 2 + 1024));
events { worker_connections $MAXCONN; }
http {
	access_log off;
	default_type application/xml;
	keepalive_timeout 600s;
	keepalive_requests 1000000;
	client_body_temp_path $T/nginx/tmp;
	map \$ssl_client_s_dn \$device {
		"~CN=(?<mac>[0-9a-f]{12})(,|\$)" \$mac;
		default "";
	}
	server {
		listen 127.0.0.1:$PORT ssl;
		ssl_certificate $T/p.crt;
		ssl_certificate_key $T/p.key;
		ssl_client_certificate $T/ca/device-ca.crt;
		ssl_verify_client on;
		ssl_verify_depth 4;
		ssl_crl $T/ca.crl;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
		ssl_ecdh_curve X25519:prime256v1:secp384r1;
		ssl_prefer_server_ciphers on;
		ssl_session_cache shared:SSL:20m;
		ssl_session_tickets on;
		root $T/profiles;
		location /profiles/ {
			if (\$device = "") { return 403; }
			rewrite ^ /\$device.xml break;
		}
	}
}
NGX
	nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>"$T/nginx/start.err" &
	SPID=$!
	PIDS+=("$SPID")
	wait_port "$PORT" || { echo "nginx did not start:"; cat "$T/nginx/start.err" "$T/nginx/logs/error.log"; exit 1; }
}

# start SERVER: sprov-openssl, sprov-gnutls or nginx.
start() {
	case $1 in
	sprov-openssl) start_sprov openssl ;;
	sprov-gnutls) start_sprov gnutls ;;
	# The key in the serving process (key-process = off): issue 12's baseline.
	sprov-openssl-nokp) start_sprov openssl --key-process off ;;
	sprov-gnutls-nokp) start_sprov gnutls --key-process off ;;
	nginx) start_nginx ;;
	*) echo "bench: unknown server $1" >&2; exit 2 ;;
	esac
}

stop_server() {
	kill "$SPID" 2>/dev/null || true
	wait "$SPID" 2>/dev/null || true
}

# start_dnsmasq -> DNS_PORT: $SRV resolves to 127.0.0.1 (the fleet's DNS
# check).  Returns 1 when dnsmasq is missing or did not come up.
start_dnsmasq() {
	local i try pid
	[ -x /usr/sbin/dnsmasq ] || return 1
	for try in 1 2 3; do # a port taken between free_port and bind: another one
		DNS_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		/usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user="$(id -un)" --port="$DNS_PORT" \
			--listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
			--address=/$SRV/127.0.0.1 2>"$T/dnsmasq.err" &
		pid=$!
		PIDS+=("$pid")
		for i in $(seq 200); do
			kill -0 "$pid" 2>/dev/null || break
			ss -Hlun "sport = :$DNS_PORT" 2>/dev/null | grep -q . && return 0
			sleep 0.05
		done
		kill "$pid" 2>/dev/null || true
	done
	cat "$T/dnsmasq.err" >&2
	return 1
}

# The crypto floor of one full mTLS handshake (X25519 keygen+derive, one
# P-256 sign, two P-256 verifies) from `openssl speed`: sets FLOOR (us),
# X25519, SIGN, VERIFY (op/s).
crypto_floor() {
	openssl speed -seconds 1 ecdhx25519 ecdsap256 >"$T/speed.out" 2>/dev/null || true
	X25519=$(awk '/ecdh \(X25519\)/ { print $NF; exit }' "$T/speed.out")
	read -r SIGN VERIFY < <(awk '/ecdsa \(nistp256\)/ { print $(NF-1), $NF; exit }' "$T/speed.out")
	FLOOR=$(awk -v x="${X25519:-0}" -v s="${SIGN:-0}" -v v="${VERIFY:-0}" \
		'BEGIN { if (x && s && v) printf "%.1f", 2e6 / x + 1e6 / s + 2e6 / v; else print 0 }')
}
