#!/bin/bash
# sprov serve: session-ticket keys rotate.  With ticket-rotate = 2 s a ticket
# resumes at once (it lives two rotation periods); nine seconds later its key
# has rotated out (and its lifetime has passed): the device falls back to a full
# handshake and is still served, and the new ticket it gets resumes again.
# TLS 1.3 and TLS 1.2 tickets, on both TLS backends.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
serve_start --ticket-rotate 2

sclient() { # sclient OUTFILE [s_client args...]: one HTTP/1.0 request as device A
	local out=$1
	shift
	printf "GET /spa2102.cfg HTTP/1.0\r\n\r\n" |
		timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		-CAfile "$T/ca/server-ca.crt" -cert "$DEV_A/client.crt" -key "$DEV_A/client.key" \
		"$@" >"$out" 2>/dev/null || true
}
handshake() { grep -Eo '^(New|Reused)' "$1" | head -1; }

for v in tls1_3 tls1_2; do
	note "$v: a fresh ticket resumes"
	sclient "$T/o" -$v -sess_out "$T/sess.$v"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "$v first request: $(tail -3 "$T/o")"
	sclient "$T/o" -$v -sess_in "$T/sess.$v"
	[ "$(handshake "$T/o")" = Reused ] || fail "$v: fresh ticket not resumed: $(handshake "$T/o")"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "$v resumed request failed"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

sleep 9
for v in tls1_3 tls1_2; do
	note "$v: after the ticket's key rotated out, a full handshake, still served"
	sclient "$T/o" -$v -sess_in "$T/sess.$v" -sess_out "$T/sess2.$v"
	[ "$(handshake "$T/o")" = New ] || fail "$v: a ticket outlived its key: $(handshake "$T/o")"
	grep -q 'HTTP/1.0 200' "$T/o" || fail "$v: not served after the fallback: $(tail -3 "$T/o")"
	note "$v: the new ticket resumes"
	sclient "$T/o" -$v -sess_in "$T/sess2.$v"
	[ "$(handshake "$T/o")" = Reused ] || fail "$v: new ticket not resumed: $(handshake "$T/o")"
	_TESTS_RUN=$((_TESTS_RUN + 1))
done
serve_stop
finish
