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
	: "${PORT:=$(free_port)}"
	bg_start "$SPROV" serve --listen "127.0.0.1:$PORT" --admin off \
		--cert "$T/provserver.crt" --key "$T/privkey.pem" \
		--client-ca "$T/ca/device-ca.crt" --access-log off "$@" 2>>"$T/serve.err"
	SERVE_PID=$BG_PID
	wait_port "$PORT" 30
}

# check_applied N: every device applied its own profile, and only its own.
check_applied() {
	local n=$1 i mac got bad=0
	for ((i = 0; i < n; i++)); do
		mac=$(printf '0200%08x' "$i")
		got=$(sed -n 's:.*<Fleet_Tag>\(.*\)</Fleet_Tag>.*:\1:p' "$T/applied/$mac/params.xml" 2>/dev/null || true)
		if [ "$got" != "$mac" ]; then
			bad=$((bad + 1))
			[ $bad -gt 3 ] || echo "device $mac applied Fleet_Tag '$got'" >&2
		fi
	done
	[ $bad -eq 0 ] || fail "$bad devices did not apply their own profile"
}

# json_get KEY.PATH: a number from the fleet's --json output in $OUT.
json_get() {
	python3 -c 'import json,sys
v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$OUT" "$1"
}
