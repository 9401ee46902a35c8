#!/usr/bin/env bash
# sprov device check-cert: a table of server certificates, each accepted or
# refused with the check that failed named.  The same code runs in a resync.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
P=$T/pki
cat "$P/other-ca.crt" "$P/server-ca.crt" >"$P/two-roots.crt"

cc() { # cc RC CERT [ARGS...]: check-cert against the server CA
	local rc=$1 cert=$2; shift 2
	expect_rc "$rc" "$SPROV" device check-cert --root "$P/server-ca.crt" "$@" "$P/$cert.crt"
}
refused() { # refused N NAME: the check that failed, on both streams
	expect_out_contains "check $1 ($2): FAILED"
	expect_out_contains "refused: a device would refuse this certificate"
	expect_err_contains "server check $1 ($2): "
}

note "accepted"
cc 0 good --host "$FQDN"
expect_out_contains "check 1 (chain): ok"
expect_out_contains "check 2 (cn): ok: FQDN $FQDN"
expect_out_contains "check 3 (host): ok: $FQDN"
expect_out_contains "check 4 (address): skipped"
expect_out_contains "accepted: a device would accept this certificate"
cc 0 good --host PROV.EXAMPLE.TEST.
cc 0 good
expect_out_contains "check 3 (host): skipped (no --host)"
cc 0 good --host 127.0.0.1
expect_out_contains "is an IP address; a device passes it to check 4"
cc 0 good --host ::1
cc 0 extra --host "$FQDN"
expect_out_contains "check 2 (cn): ok: FQDN $FQDN"
cc 0 good --at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
cc 0 good --at "$(($(date +%s) + 86400))"
expect_rc 0 "$SPROV" device check-cert --root "$P/two-roots.crt" --host "$FQDN" "$P/good.crt"
note "intermediates: from --chain or after the leaf in SERVER.pem"
cc 1 viainter
refused 1 chain
cc 0 viainter --chain "$P/inter.crt"
cc 0 chained --host "$FQDN"

note "check 1: chain and purpose"
cc 1 wrongca
refused 1 chain
expect_err_contains "unable to get local issuer certificate"
cc 1 selfsigned
refused 1 chain
expect_err_contains "self-signed certificate"
cc 1 expired
refused 1 chain
expect_err_contains "certificate has expired"
cc 1 good --at 2099-01-01
refused 1 chain
expect_err_contains "certificate has expired"
cc 1 clientonly --host "$FQDN"
refused 1 chain
expect_rc 1 "$SPROV" device check-cert --root "$P/other-ca.crt" "$P/good.crt"
refused 1 chain

note "check 2: the CN rule"
cc 1 nofqdn
refused 2 cn
expect_err_contains "CN 'provisioning server'"
cc 1 sanbad --host "$FQDN"
refused 2 cn
expect_err_contains "is not among the certificate's 1 SAN DNS names"

note "check 3: the host"
cc 1 othername --host "$FQDN"
refused 3 host
expect_err_contains "the URL host '$FQDN' is not the certificate's FQDN 'other.example.test'"
cc 1 good --host other.example.test
refused 3 host

note "usage errors"
expect_rc 2 "$SPROV" device check-cert "$P/good.crt"
expect_err_contains "--root ROOTS.pem is required"
expect_rc 2 "$SPROV" device check-cert --root "$P/server-ca.crt" --at yesterday "$P/good.crt"
expect_err_contains "neither UNIX seconds nor ISO 8601"
expect_rc 1 "$SPROV" device check-cert --root "$P/server-ca.crt" "$T/missing.pem"
expect_rc 1 "$SPROV" device check-cert --root "$P/server-ca.key" "$P/good.crt"
finish
