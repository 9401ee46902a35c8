# Helpers for the fleet_*.sh tests (not a test itself: no .sh suffix).  Source
# after testlib.sh and device_lib.bash.  One PKI and N device bundles per test
# file; each device has a unique parameter (Fleet_Tag = its MAC) in the store.
export SPROV_STORE="sqlite:$T/sprov.db"

_q() { "$@" >/dev/null 2>>"$T/setup.err" || fail "$* failed: $(tail -3 "$T/setup.err")"; }

# fleet_pki N: CA, server certificate for $FQDN, N device bundles in $T/bundles,
# the devices and their own Fleet_Tag in the store.
fleet_pki() {
	local n=$1 i mac
	_q "$SPROV" ca init "$T/ca" --org Test
	_q "$SPROV" req --cn "$FQDN" --out "$T/prov.csr" --key-out "$T/privkey.pem"
	_q "$SPROV" ca sign "$T/ca" "$T/prov.csr" -o "$T/provserver.crt"
	mkdir -p "$T/profiles"
	{
		echo "mac,serial,product"
		for ((i = 0; i < n; i++)); do printf '0200%08x,SN%d,SPA2102\n' "$i" "$i"; done
	} >"$T/devices.csv"
	for ((i = 0; i < n; i++)); do
		mac=$(printf '0200%08x' "$i")
		printf '<flat-profile><Fleet_Tag>%s</Fleet_Tag></flat-profile>\n' "$mac" \
			>"$T/profiles/$mac.xml"
	done
	_q "$SPROV" ca issue "$T/ca" --csv "$T/devices.csv" --out "$T/bundles"
	_q "$SPROV" db init
	_q "$SPROV" db devices import "$T/devices.csv"
	_q "$SPROV" db import "$T/profiles"
	_q "$SPROV" db params set --default Proxy_1_=sip.example.net
}

# start_serve [OPTIONS...]: sprov serve on $PORT (chosen once), pid in $SERVE_PID.
start_serve() {
	local mark i
	: "${PORT:=$(free_port)}"
	mark=$({ wc -l <"$T/serve.err"; } 2>/dev/null || echo 0)
	bg_start "$SPROV" serve --listen "127.0.0.1:$PORT" --admin off \
		--cert "$T/provserver.crt" --key "$T/privkey.pem" \
		--client-ca "$T/ca/device-ca.crt" --access-log off \
		--handshakes-per-source 0 "$@" 2>>"$T/serve.err"
	SERVE_PID=$BG_PID
	wait_port "$PORT" 30
	# The parent binds the port before the serving process opens its store
	# and access log: ready once that process says it listens.
	for i in $(seq 600); do
		tail -n +"$((mark + 1))" "$T/serve.err" | grep -q 'serve: listening on' && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "sprov serve did not get ready: $(tail -5 "$T/serve.err")"
}

# serve_alive: sprov serve still runs (else fail with its sanitizer report or
# last words, not with the fleet's connect failures that follow).
serve_alive() {
	kill -0 "$SERVE_PID" 2>/dev/null ||
		fail "sprov serve died: $(grep -m1 -A8 -E 'ERROR: |runtime error' "$T/serve.err" || tail -5 "$T/serve.err")"
}

# check_applied N [DIR]: every device applied its own profile, and only its own
# (DIR: the --apply directory, $T/applied by default).  One grep and one awk,
# not a process per device.
check_applied() {
	local n=$1 dir=${2:-$T/applied} bad
	bad=$({ grep -r -s -o -H --include=params.xml '<Fleet_Tag>[^<]*</Fleet_Tag>' "$dir" || true; } |
		awk -v n="$n" '{
			i = index($0, ":"); f = substr($0, 1, i - 1); t = substr($0, i + 1)
			sub(/\/params\.xml$/, "", f); sub(/.*\//, "", f)
			gsub(/<\/?Fleet_Tag>/, "", t)
			got[f] = seen[f]++ ? got[f] "+" t : t
		} END {
			bad = 0
			for (k = 0; k < n; k++) {
				m = sprintf("0200%08x", k)
				if (got[m] != m) {
					bad++
					if (bad <= 3) printf "device %s applied Fleet_Tag \047%s\047\n", m, got[m] > "/dev/stderr"
				}
			}
			print bad
		}')
	[ "$bad" -eq 0 ] || fail "$bad devices did not apply their own profile"
}

# fleet_retrying_bg PORT RATE: the fleet in the background against
# https://$FQDN:PORT, arrivals at RATE/s, one round each, quick retries
# (0.2 s) so it rides out a server going away; pid in $FLEET_PID.
fleet_retrying_bg() {
	"$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$1/profiles/\$MA.xml" \
		--dns-server "$DNS" --rate "$2" --rounds 1 --concurrency 16 --apply "$T/applied" \
		--json --time-scale 0.01 --retry-delay 20 --timeout 5 \
		>"$T/fleet.out" 2>"$T/fleet.err" &
	FLEET_PID=$!
	_BG_PIDS+=("$FLEET_PID")
}

# fleet_wait_all PID N: the fleet PID (output in $T/fleet.out, $T/fleet.err)
# exits 0 and every one of N devices finished its round with its own
# profile; $OUT holds its JSON.
fleet_wait_all() {
	local rc=0
	wait "$1" || rc=$?
	OUT=$(cat "$T/fleet.out")
	[ "$rc" -eq 0 ] || fail "the fleet exited $rc: $(tail -5 "$T/fleet.err"); $OUT"
	_TESTS_RUN=$((_TESTS_RUN + 1))
	note "$OUT"
	note "every device finished, each with its own profile"
	[ "$(json_get devices_ok)" = "$2" ] || fail "not every device finished: $OUT"
	[ "$(json_get successes)" = "$2" ] || fail "successes: $OUT"
	[ "$(json_get gave_up)" = 0 ] || fail "rounds given up: $OUT"
	check_applied "$2"
}

# json_get KEY.PATH: a value from the fleet's --json output in $OUT (0 when
# absent; keys may hold spaces, as "failure_reasons.http 503").  jq: a python
# start per figure cost seconds on a loaded machine.
json_get() {
	jq -r --arg p "$1" '($p | split(".")) as $k | getpath($k) | if . == null then 0 else . end' <<<"$OUT"
}

# fleet_fw_pki: a firmware-signing root of our own ($T/fw.key, $T/fw.crt,
# made with openssl) in every bundle as firmware-ca.crt, where `sprov ca
# issue` puts the vendor's; $MKFW builds images independently of sprov.
MKFW="$SPROV_SRCDIR/tests/lib/mkfw.sh"
fleet_fw_pki() {
	local d
	_q openssl ecparam -name prime256v1 -genkey -noout -out "$T/fw.key"
	_q openssl req -new -x509 -key "$T/fw.key" -subj /CN=fw -days 30 -out "$T/fw.crt"
	for d in "$T"/bundles/*/; do cp "$T/fw.crt" "$d/firmware-ca.crt"; done
}
