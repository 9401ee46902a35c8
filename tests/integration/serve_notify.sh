#!/bin/bash
# sprov serve and systemd, without systemd: NOTIFY_SOCKET points at a unix
# datagram socket a Python script listens on; the server must say READY=1
# once it listens, RELOADING=1 then READY=1 on SIGHUP (also when the new
# config is refused), WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on
# SIGTERM, with STATUS= lines, in that order.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
SOCK="$T/notify.sock"
cat >"$T/listen.py" <<'EOP'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out, open(sys.argv[3], "a", buffering=1) as wd:
    while True:
        msg = s.recv(4096).decode()
        # One line per message, fields joined by '|'.
        out.write("|".join(msg.split("\n")) + "\n")
        if msg == "WATCHDOG=1":
            wd.write("%.3f\n" % time.monotonic())
EOP
bg_start python3 "$T/listen.py" "$SOCK" "$T/notes" "$T/wd.times"
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || fail "the listener did not start"

wait_note() { # wait_note REGEX: until a message matches
	for i in $(seq 100); do grep -q -E "$1" "$T/notes" 2>/dev/null && return 0; sleep 0.1; done
	fail "no message matching '$1'; got: $(cat "$T/notes" 2>/dev/null)"
}

PORT=$(free_port)
cat >"$T/sprov.conf" <<EOC
[serve]
listen = 127.0.0.1:$PORT
admin = off
cert = $T/provserver.crt
key = $T/privkey.pem
client-ca = $T/ca/device-ca.crt
crl = $T/device-ca.crl
workers = 1
EOC
cp "$T/sprov.conf" "$T/good.conf"

note "READY=1 once listening, with a STATUS; WATCHDOG=1 every 200 ms"
NOTIFY_SOCKET="$SOCK" WATCHDOG_USEC=400000 bg_start "$SPROV" serve --config "$T/sprov.conf" \
	>"$T/access.log" 2>"$T/serve.err"
SERVE_PID=$BG_PID
wait_listen "$PORT" "$SERVE_PID" 20 || fail "serve exited: $(cat "$T/serve.err")"
wait_note "^READY=1\|STATUS=listening on 127.0.0.1:$PORT with 1 worker thread\(s\)$"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
sleep 1
# The median gap between pings: 200 ms, give or take a loaded machine.
python3 - "$T/wd.times" <<'EOP' || fail "watchdog pings not every 200 ms: $(cat "$T/wd.times")"
import sys
t = [float(x) for x in open(sys.argv[1])]
gaps = sorted(b - a for a, b in zip(t, t[1:]))
assert len(gaps) >= 4, gaps
assert 0.15 <= gaps[len(gaps) // 2] <= 0.3, gaps
EOP
_TESTS_RUN=$((_TESTS_RUN + 2))

note "SIGHUP: RELOADING=1, then READY=1 (reloaded)"
kill -HUP "$SERVE_PID"
wait_note "^READY=1\|STATUS=configuration reloaded; serving$"

note "SIGHUP with a broken config: RELOADING=1, then READY=1 (refused, old one serves)"
printf 'workers = lots\n' >>"$T/sprov.conf"
kill -HUP "$SERVE_PID"
wait_note "^READY=1\|STATUS=reload refused, the old configuration keeps serving$"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200

note "SIGTERM: STOPPING=1"
serve_stop
wait_note "^STOPPING=1\|STATUS=draining connections$"

note "the messages, watchdog pings left out, in order"
grep -v '^WATCHDOG=1$' "$T/notes" | sed 's/MONOTONIC_USEC=[0-9]*/MONOTONIC_USEC=N/' >"$T/got"
cat >"$T/want" <<EOW
READY=1|STATUS=listening on 127.0.0.1:$PORT with 1 worker thread(s)
RELOADING=1|MONOTONIC_USEC=N|STATUS=reloading
READY=1|STATUS=configuration reloaded; serving
RELOADING=1|MONOTONIC_USEC=N|STATUS=reloading
READY=1|STATUS=reload refused, the old configuration keeps serving
STOPPING=1|STATUS=draining connections
EOW
diff -u "$T/want" "$T/got" || fail "notifications differ"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "without WATCHDOG_USEC no WATCHDOG=1; without NOTIFY_SOCKET nothing at all"
: >"$T/notes"
NOTIFY_SOCKET="$SOCK" bg_start "$SPROV" serve --config "$T/good.conf" >/dev/null 2>"$T/serve.err"
SERVE_PID=$BG_PID
wait_note "^READY=1"
sleep 0.5
serve_stop
wait_note "^STOPPING=1"
! grep -q WATCHDOG "$T/notes" || fail "watchdog pings without WATCHDOG_USEC"
: >"$T/notes"
bg_start "$SPROV" serve --config "$T/good.conf" >/dev/null 2>"$T/serve.err"
SERVE_PID=$BG_PID
wait_listen "$PORT" "$SERVE_PID" 20 || fail "serve exited: $(cat "$T/serve.err")"
wait_ready
serve_stop
sleep 0.2
[ ! -s "$T/notes" ] || fail "messages without NOTIFY_SOCKET: $(cat "$T/notes")"
_TESTS_RUN=$((_TESTS_RUN + 2))
finish
