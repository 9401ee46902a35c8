#!/usr/bin/env bash
# The fleet's check 1 (the chain) with each device's files loaded once per
# round (src/fleet/creds.c): libcurl is told not to verify, so that it
# loads no CA file of its own, and the device's verify callback must still
# refuse a server whose certificate another server CA signed.  In every
# connection mode (a new connection per resync, --keepalive, --resume), one
# attempt each, two rounds: every device gives up twice with "check 1 (chain)", nothing is
# applied and no request reaches the server.  The same fleet against the
# right server succeeds, so the refusal is the chain's and nothing else's.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=12
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=6

fleet_pki $N
start_dns
# A second vendor's server CA signs a certificate for the same FQDN.
_q "$SPROV" ca init "$T/rogue" --org Rogue
_q "$SPROV" req --cn "$FQDN" --out "$T/rogue.csr" --key-out "$T/rogue.key"
_q "$SPROV" ca sign "$T/rogue" "$T/rogue.csr" -o "$T/rogue.crt"

fleet() { # fleet RC [OPTIONS...]
	local rc=$1
	shift
	expect_rc "$rc" "$SPROV" fleet --bundles "$T/bundles" --json --timeout 20 \
		--dns-server "$DNS" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" "$@"
}
served() { { wc -l <"$T/access.log"; } 2>/dev/null || echo 0; }

note "the right server: every device applies its own profile"
start_serve --access-log "$T/access.log"
fleet 0 --apply "$T/good"
[ "$(json_get successes)" = $N ] || fail "successes: $OUT"
check_applied $N "$T/good"
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a server certificate from another server CA, the same FQDN and device CA"
start_serve --access-log "$T/access.log" --cert "$T/rogue.crt" --key "$T/rogue.key"
before=$(served)
for mode in "" --keepalive --resume; do
	note "  refused with ${mode:-a new connection per resync}"
	rm -rf "$T/refused"
	# shellcheck disable=SC2086  # $mode is one option or none
	fleet 1 --retries 0 --rounds 2 $mode --apply "$T/refused"
	[ "$(jq -c .failure_reasons <<<"$OUT")" = "{\"check 1 (chain)\":$((2 * N))}" ] ||
		fail "${mode:-plain}: failure reasons $(jq -c .failure_reasons <<<"$OUT")"
	[ "$(json_get successes)" = 0 ] && [ "$(json_get gave_up)" = $((2 * N)) ] ||
		fail "${mode:-plain}: $OUT"
	expect_err_contains "server check 1 (chain)"
	[ ! -e "$T/refused" ] || fail "${mode:-plain}: something was applied"
	serve_alive
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
sleep 0.2
[ "$(served)" = "$before" ] || fail "a request reached the rogue server: $(tail -3 "$T/access.log")"
finish
