#!/usr/bin/env bash
# The sprov story, step by step, in a temporary directory.
#   scripts/demo.sh path/to/sprov
# Each step is a function; the list at the end runs them in order.
set -euo pipefail

SPROV=$(cd "$(dirname "${1:?usage: demo.sh path/to/sprov}")" && pwd)/$(basename "$1")
[ -x "$SPROV" ] || { echo "demo: $SPROV is not executable" >&2; exit 2; }
D=$(mktemp -d "${TMPDIR:-/tmp}/sprov-demo.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"

STEP=0
step() { STEP=$((STEP + 1)); printf '\n== %d. %s\n' "$STEP" "$*"; }
say() { printf '   %s\n' "$@"; }
run() { printf '   $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
# show_refusal CMD...: a command that must be refused (exit 1), with its reason.
show_refusal() {
	printf '   $ %s\n' "$*"
	local rc=0
	"$@" >refusal.out 2>&1 || rc=$?
	sed 's/^/     /' refusal.out
	[ "$rc" = 1 ] || { echo "demo: expected a refusal (exit 1), got $rc" >&2; exit 1; }
	say "(refused with exit status 1; nothing written)"
}

pki_init() {
	step "The vendor creates its PKI"
	say "Two independent roots: the server CA, which every device trusts to" \
	    "recognise provisioning servers, and the device CA, which signs each" \
	    "device's client certificate.  Both live in vendor/ with ca.db, the" \
	    "issuance database."
	run "$SPROV" ca init vendor --org "Example Phones" --allow-domain callme.com
	run ls -l vendor
}

pki_req() {
	step "The service provider makes its key and CSR (the seed's 'openssl req')"
	say "The CN is the provisioning server's FQDN, optionally followed by '/' and" \
	    "extra information.  A CN the vendor would refuse is refused right here:"
	show_refusal "$SPROV" req --cn localhost
	run "$SPROV" req --cn sprov.callme.com
	say "privkey.pem (mode 0600) stays with the provider; provserver.csr goes to the vendor."
}

pki_sign() {
	step "The vendor signs the CSR with the server CA"
	run "$SPROV" ca sign vendor provserver.csr
	say "The certificate keeps the CN exactly and adds it as a SAN dNSName, so"\
	    "devices and ordinary clients such as curl accept it:"
	run openssl x509 -in provserver.crt -noout -subject -ext subjectAltName,extendedKeyUsage
	run openssl verify -CAfile vendor/server-ca.crt provserver.crt
	say "A CSR outside the vendor's allowed domains is refused, naming the rule:"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
		-subj /CN=prov.other.org -out other.csr 2>/dev/null
	show_refusal "$SPROV" ca sign vendor other.csr -o other.crt
}

pki_issue() {
	step "The factory issues device identities"
	say "Each device gets its own key and client certificate, in a bundle that"\
	    "the factory writes into the device: client.crt, client.key, server-ca.crt."
	printf 'mac,serial,product\n00:0E:08:AA:BB:01,88012BA00001,SPA-962\n000e08aabb02,88012BA00002,SPA-962\n000E08AABB03,88012BA00003,PAP2T\n' > devices.csv
	run cat devices.csv
	run "$SPROV" ca issue vendor --csv devices.csv --out factory
	run ls -l factory/000e08aabb01
	run openssl x509 -in factory/000e08aabb01/client.crt -noout -subject -enddate
	say "The device certificate chains to the device CA, not to the server CA:"
	run openssl verify -CAfile vendor/device-ca.crt factory/000e08aabb01/client.crt
	printf '   $ openssl verify -CAfile vendor/server-ca.crt factory/000e08aabb01/client.crt\n'
	if openssl verify -CAfile vendor/server-ca.crt factory/000e08aabb01/client.crt >/dev/null 2>&1; then
		echo "demo: a device certificate verified against the server CA" >&2; exit 1
	fi
	say "     (fails, as it must: the two roots are independent)"
	say "Rerunning the batch resumes it: complete bundles are skipped."
	run "$SPROV" ca issue vendor --csv devices.csv --out factory
}

FQDN=sprov.callme.com
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
	local i=0
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 200 ] || { echo "demo: nothing listens on port $1" >&2; exit 1; }
		sleep 0.05
	done
}
# wait_dns PORT: until the resolver on 127.0.0.1:PORT answers for $FQDN.
wait_dns() {
	local i=0
	until python3 -c '
import socket, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(
    bytes([len(l)]) + l.encode() for l in sys.argv[2].split(".")) + b"\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(q, ("127.0.0.1", int(sys.argv[1]))); s.recv(512)' "$1" "$FQDN" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "demo: dnsmasq did not start: $(cat "$D/dnsmasq.err")" >&2; exit 1; }
		sleep 0.05
	done
}
# start_dns PORT ADDRESS: dnsmasq on 127.0.0.1:PORT answering $FQDN with ADDRESS.
start_dns() {
	/usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user="$(id -un)" \
		--port="$1" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --address="/$FQDN/$2" 2>>"$D/dnsmasq.err" &
	PIDS+=($!)
	wait_dns "$1"
}
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
}
trap 'stop_all; rm -rf "$D"' EXIT
MACS="000e08aabb01 000e08aabb02 000e08aabb03"

db_load() {
	step "The provider loads each device's parameters into its database"
	say "One SIP account per device, plus defaults shared by all.  Passwords go" \
	    "through --stdin, so they stay out of ps and the shell history."
	export SPROV_STORE=sqlite:$D/sprov.db
	run "$SPROV" db init
	run "$SPROV" db devices import devices.csv
	run "$SPROV" db params set --default Proxy_1_=sip.callme.com --access na
	run "$SPROV" db params set --default Resync_Periodic=3600
	local n=1 mac
	for mac in $MACS; do
		run "$SPROV" db params set --device "$mac" "User_ID_1_=100$n"
		printf '   $ echo ******** | sprov db params set --device %s Password_1_ --stdin\n' "$mac"
		echo "secret-$n-$RANDOM" | "$SPROV" db params set --device "$mac" Password_1_ --stdin 2>&1 |
			sed 's/^/     /'
		n=$((n + 1))
	done
	run "$SPROV" db params list --default
}

start_services() {
	step "The provider starts a DNS server and 'sprov serve'"
	DNS_PORT=$(free_port)
	PORT=$(free_port)
	say "dnsmasq on 127.0.0.1:$DNS_PORT answers $FQDN with 127.0.0.1" \
	    "(a stand-in for the provider's real DNS)."
	start_dns "$DNS_PORT" 127.0.0.1
	say "The server presents provserver.crt, demands a client certificate from" \
	    "the device CA, checks it against the device CA's CRL, and serves each" \
	    "device the profile of the device its certificate names."
	"$SPROV" ca crl vendor --ca device -o device-ca.crl >/dev/null
	APORT=$(free_port)
	say "Its admin listener, on loopback only, serves /metrics, /healthz and" \
	    "the operator console."
	printf '   $ sprov serve --listen 127.0.0.1:%s --admin 127.0.0.1:%s --cert provserver.crt \\\n' "$PORT" "$APORT"
	printf '         --key privkey.pem --client-ca vendor/device-ca.crt --crl device-ca.crl \\\n'
	printf '         --access-log access.log &\n'
	"$SPROV" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" --cert provserver.crt \
		--key privkey.pem --client-ca vendor/device-ca.crt --crl device-ca.crl \
		--workers 1 --access-log access.log --crl-poll 1 2>"$D/serve.err" &
	PIDS+=($!)
	wait_port "$PORT"
	wait_port "$APORT"
}

# applied MAC: the parameters a device has applied, one per line.
applied() {
	sed -n 's:^ *<\([A-Za-z0-9_]*\)[^>]*>\([^<]*\)</.*:\1 = \2:p' "dev-$1/params.xml" |
		sed 's/^\(Password_1_ = \).*/\1(set; not shown)/; s/^/       /'
}

devices_resync() {
	step "Each device resyncs over mutual-TLS HTTPS and applies its own profile"
	say "A device trusts only the server CA in its bundle, checks that the" \
	    "server's CN fits the host it asked for, and that the server's address" \
	    "is among the DNS answers for that name; then it presents its own" \
	    "certificate.  Its Profile_Rule:  https://$FQDN:$PORT/profiles/\$MA.xml"
	local mac
	for mac in $MACS; do
		run "$SPROV" device init "dev-$mac" --bundle "factory/$mac" \
			--rule "https://$FQDN:$PORT/profiles/\$MA.xml" --set "Primary_DNS=127.0.0.1:$DNS_PORT"
	done
	for mac in $MACS; do
		run "$SPROV" device resync "dev-$mac"
		say "device $mac applied:"
		applied "$mac"
	done
	say "Each device got its own User_ID_1_ and Password_1_, and the shared defaults."
	say "The server's access log names each device by its certificate:"
	sed 's/^/     /' access.log
}

cross_request() {
	step "A device asking for another device's profile is refused"
	say "Device 01 asks for 02's file.  The server identifies 01 by its" \
	    "certificate, not by the URL, and answers 403 Forbidden:"
	local before
	before=$(sha256sum <dev-000e08aabb01/params.xml)
	show_refusal "$SPROV" device resync dev-000e08aabb01 \
		--rule "https://$FQDN:$PORT/profiles/000e08aabb02.xml"
	[ "$(sha256sum <dev-000e08aabb01/params.xml)" = "$before" ] ||
		{ echo "demo: device 01's store changed" >&2; exit 1; }
	say "(device 01's applied parameters are unchanged)"
}

pki_revoke_live() {
	step "A device is revoked and shut out"
	say "The vendor revokes device 02 and publishes a new CRL; the server" \
	    "notices the file changed and loads it without a restart."
	run "$SPROV" ca revoke vendor --mac 00:0e:08:aa:bb:02 --reason keyCompromise
	run "$SPROV" ca crl vendor --ca device -o device-ca.crl
	cat vendor/device-ca.crt device-ca.crl >crl-chain.pem
	printf '   $ openssl verify -crl_check -CAfile device-ca.crt+crl factory/000e08aabb02/client.crt\n'
	openssl verify -crl_check -CAfile crl-chain.pem factory/000e08aabb02/client.crt 2>&1 |
		sed 's/^/     /' || true
	local i=0
	until grep -q 'CRL file .* changed, reloading' "$D/serve.err"; do
		i=$((i + 1)); [ $i -lt 200 ] || { echo "demo: sprov serve did not reload the CRL" >&2; exit 1; }
		sleep 0.05
	done
	say "The server refuses device 02 in the handshake; no request is served:"
	show_refusal "$SPROV" device resync dev-000e08aabb02
	run "$SPROV" device resync dev-000e08aabb01
	say "(device 01 still gets in; its profile has not changed, so the answer" \
	    "was 304 Not Modified and nothing was rewritten)"
}

dns_mismatch() {
	step "A device refuses a server whose address the DNS does not confirm"
	say "A second DNS server answers $FQDN with 127.0.0.2, and device 03 is" \
	    "sent to 127.0.0.1.  Before it sends any request, it compares the" \
	    "server's address with the DNS answers for the name in the server's CN:"
	local port2 n
	port2=$(free_port)
	start_dns "$port2" 127.0.0.2
	n=$(wc -l <access.log)
	show_refusal "$SPROV" device resync dev-000e08aabb03 --dns-server "127.0.0.1:$port2" \
		--rule "https://127.0.0.1:$PORT/profiles/\$MA.xml"
	sleep 0.2
	[ "$(wc -l <access.log)" = "$n" ] || { echo "demo: a request reached the server" >&2; exit 1; }
	say "(the server's access log has no new line: no request was sent)"
}

console_link() {
	step "The operator console"
	say "The console shows every device's status, why devices fail (device 02" \
	    "was refused as revoked), drift, the parameters with secrets masked," \
	    "and the audit trail.  A one-time link, valid for 60 seconds, logs a" \
	    "browser in:"
	run "$SPROV" admin login-url --url "http://127.0.0.1:$APORT"
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$APORT/")
	[ "$code" = 200 ] || { echo "demo: the console answered HTTP $code" >&2; exit 1; }
	if [ -t 0 ]; then
		say "Open it in a browser on this machine (or through 'ssh -L $APORT:127.0.0.1:$APORT')." \
		    "A new link, once this one is used or has expired:" \
		    "  SPROV_STORE=$SPROV_STORE $SPROV admin login-url --url http://127.0.0.1:$APORT" \
		    "The server keeps running while you look; press Enter to stop everything."
		read -r _ || true
	else
		say "(not run interactively: the demo goes on without waiting)"
	fi
}

stop_services() {
	step "Everything stops"
	stop_all
	say "sprov serve drained its connections and exited; dnsmasq stopped."
}

pki_init
pki_req
pki_sign
pki_issue
db_load
start_services
devices_resync
cross_request
pki_revoke_live
dns_mismatch
console_link
stop_services
printf '\nDone: %d steps.  Everything above ran in %s, now removed.\n' "$STEP" "$D"
