#!/bin/bash
# sprov serve at start-up: listen addresses by name, [::1]:PORT and what is
# wrong with a bad one; a second server on a taken port is refused unless
# reuse-port asks for sharing; a missing certificate, key or CA file is
# named (both TLS backends); a missing config file is named once.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
# What a refused start must not change: the files in $T (not the running
# server's logs or run_capture's output) and the database.
state() {
	(cd "$T" && ls -A | grep -v -x -e .out -e .err -e serve.err -e access.log
	 store_digest)
}
TLS=(--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
	--crl "$T/device-ca.crl")

note "--listen: a host name, [::1]:PORT and 127.0.0.1:PORT are accepted"
expect_rc 0 "$SPROV" serve --check-config --listen localhost:18445 "${TLS[@]}"
expect_out_contains "configuration OK: listen localhost:18445"
expect_rc 0 "$SPROV" serve --check-config --listen '[::1]:18445' "${TLS[@]}"
expect_rc 0 "$SPROV" serve --check-config --listen 127.0.0.1:18445 --admin localhost:9 "${TLS[@]}"

note "--listen: each mistake is named"
check_bad() {
	local addr=$1 want=$2
	expect_rc 2 "$SPROV" serve --check-config --listen "$addr" "${TLS[@]}"
	[ "$ERR" = "sprov serve: $want" ] || fail "--listen $addr: stderr was: $ERR"
	[ -z "$OUT" ] || fail "--listen $addr printed: $OUT"
}
check_bad localhost "listen address 'localhost': missing :PORT (write HOST:PORT)"
check_bad localhost: "listen address 'localhost:': missing :PORT (write HOST:PORT)"
check_bad :443 "listen address ':443': missing host before :PORT"
check_bad 127.0.0.1:99999 "listen address '127.0.0.1:99999': port '99999' is not a number from 1 to 65535"
check_bad 127.0.0.1:0 "listen address '127.0.0.1:0': port '0' is not a number from 1 to 65535"
check_bad 127.0.0.1:http "listen address '127.0.0.1:http': port 'http' is not a number from 1 to 65535"
check_bad ::1:443 "listen address '::1:443': an IPv6 address goes in brackets ([::1]:PORT)"
check_bad '[::1' "listen address '[::1': '[' without ']' (write [::1]:PORT)"
check_bad '[::1]' "listen address '[::1]': missing :PORT after ']'"
expect_rc 2 "$SPROV" serve --check-config --listen no-such-host.invalid:443 "${TLS[@]}"
expect_err_contains "sprov serve: listen address 'no-such-host.invalid:443': unknown host 'no-such-host.invalid' ("
expect_rc 2 "$SPROV" serve --check-config --listen 127.0.0.1:8443 --admin localhost "${TLS[@]}"
[ "$ERR" = "sprov serve: admin address 'localhost': missing :PORT (write HOST:PORT)" ] ||
	fail "--admin localhost: $ERR"

note "serving on localhost:PORT (resolved at start-up)"
PORT=$(free_port)
APORT=$(free_port)
bg_start "$SPROV" serve --listen "localhost:$PORT" --admin "localhost:$APORT" "${TLS[@]}" \
	--workers 2 >>"$T/access.log" 2>>"$T/serve.err"
SERVE_PID=$BG_PID
wait_listen "$PORT" "$SERVE_PID" 20 || fail "serve on localhost exited: $(cat "$T/serve.err")"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200

note "a second server on the same port is refused, naming the address"
before=$(state)
expect_rc 1 "$SPROV" serve --listen "localhost:$PORT" --admin off "${TLS[@]}"
[ "$ERR" = "sprov serve: listen on localhost:$PORT: address already in use: another server listens there (reuse-port = yes shares the port with it)" ] ||
	fail "second server: stderr was: $ERR"
[ "$before" = "$(state)" ] || fail "the refused server changed files"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200

note "--reuse-port yes: the operator asked, the second server starts"
bg_start "$SPROV" serve --listen "localhost:$PORT" --admin off --reuse-port yes "${TLS[@]}" \
	>/dev/null 2>"$T/serve2.err"
P2=$BG_PID
for i in $(seq 100); do grep -q 'listening on' "$T/serve2.err" && break; sleep 0.1; done
grep -q 'listening on' "$T/serve2.err" || fail "reuse-port: second server: $(cat "$T/serve2.err")"
kill -0 "$P2" || fail "reuse-port: second server exited"
bg_kill "$P2"
expect_rc 1 "$SPROV" serve --check-config --reuse-port maybe "${TLS[@]}" --listen 127.0.0.1:1
[ "$ERR" = "sprov serve: --reuse-port: reuse-port: 'maybe' is not yes or no" ] || fail "reuse-port maybe: $ERR"
serve_stop

note "missing TLS files are named (the TLS library would not say which)"
for which in cert key client-ca; do
	args=(--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
		--crl "$T/device-ca.crl")
	case $which in
	cert) args[1]="$T/missing.crt"; want="server certificate $T/missing.crt" ;;
	key) args[3]="$T/missing.pem"; want="server key $T/missing.pem" ;;
	client-ca) args[5]="$T/missing-ca.crt"; want="client CA $T/missing-ca.crt" ;;
	esac
	before=$(state)
	expect_rc 1 "$SPROV" serve --listen "127.0.0.1:$PORT" --admin off "${args[@]}"
	[ "$ERR" = "sprov serve: $want: No such file or directory" ] || fail "$which: $ERR"
	expect_rc 1 "$SPROV" serve --check-config --listen "127.0.0.1:$PORT" "${args[@]}"
	[ "$ERR" = "sprov serve: $want: No such file or directory" ] || fail "check $which: $ERR"
	[ "$before" = "$(state)" ] || fail "$which: files changed"
done

note "a missing config file is named once"
expect_rc 1 "$SPROV" serve --config "$T/nope.conf" --check-config
[ "$ERR" = "sprov serve: config file: $T/nope.conf: No such file or directory" ] ||
	fail "missing config: $ERR"
[ ! -e "$T/nope.conf" ] || fail "the config file was created"
finish
