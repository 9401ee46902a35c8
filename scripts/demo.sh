#!/usr/bin/env bash
# The sprov story, step by step, in a temporary directory.
#   scripts/demo.sh path/to/sprov
# Each step is a function; later steps (server, device) add their own.
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

pki_revoke() {
	step "A device is revoked and the CRL shows it"
	run "$SPROV" ca revoke vendor --mac 00:0e:08:aa:bb:02 --reason keyCompromise
	run "$SPROV" ca crl vendor --ca device
	cat vendor/device-ca.crt vendor/device-ca.crl > crl-chain.pem
	printf '   $ openssl verify -crl_check -CAfile device-ca.crt+crl factory/000e08aabb02/client.crt\n'
	openssl verify -crl_check -CAfile crl-chain.pem factory/000e08aabb02/client.crt 2>&1 | sed 's/^/     /' || true
	run openssl verify -crl_check -CAfile crl-chain.pem factory/000e08aabb01/client.crt
	run "$SPROV" ca list vendor
}

pki_init
pki_req
pki_sign
pki_issue
pki_revoke
printf '\nDone: %d steps.  Everything above ran in %s, now removed.\n' "$STEP" "$D"
