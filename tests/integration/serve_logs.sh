#!/bin/bash
# sprov serve's logs: access-log-format = json (one object per line, the
# text format's fields, a hostile User-Agent kept inside its string);
# SIGUSR1 reopens the access log (logrotate); log = syslog|journal also
# sends the server's own messages there, and stderr keeps them.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db

note "access-log-format = json: every line parses, the fields are the text format's"
serve_start --crl "$T/device-ca.crl" --access-log "$T/json.log" --access-log-format json
get "$DEV_A" /profiles/000e08aaaa01.xml -H $'User-Agent: evil"}, {"status": 999, "x\\": "\x01\xff'
expect_code 200
get "$DEV_A" /nope.xml -A 'plain agent'
expect_code 404
get "$DEV_B" /profiles/000e08aaaa01.xml
expect_code 403
serve_stop
python3 - "$T/json.log" <<'EOP' || fail "json access log: see above"
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
assert lines[-1] == b"", "no final newline"
recs = [json.loads(l) for l in lines[:-1]]
assert len(recs) == 3, "%d lines" % len(recs)
keys = ["time", "mac", "serial", "cert", "ip", "ua", "method", "path", "status", "bytes",
        "dur_us", "etag", "tls", "resumed"]
for r in recs:
    assert list(r)[:len(keys)] == keys, list(r)
a, b, c = recs
assert a["ua"] == 'evil"}, {"status": 999, "x\\": "\x01\ufffd', repr(a["ua"])
assert a["status"] == 200 and a["mac"] == "000e08aaaa01" and a["serial"] == "SNA01", a
assert a["path"] == "/profiles/000e08aaaa01.xml" and a["method"] == "GET", a
assert a["etag"] != "-" and a["bytes"] > 0 and a["resumed"] is False, a
assert "note" not in a, a
assert b["status"] == 404 and b["ua"] == "plain agent" and b["etag"] == "-", b
assert c["status"] == 403 and c["note"] == "identity-mismatch", c
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the text format is unchanged by default"
serve_start --crl "$T/device-ca.crl" --access-log "$T/text.log"
get "$DEV_A" /profiles/000e08aaaa01.xml -A 'x"y'
expect_code 200

note "SIGUSR1: after a rename, the next request goes to a new file (0640)"
mv "$T/text.log" "$T/text.log.1"
old=$(cat "$T/text.log.1")
grep -q '^[0-9TZ:-]* mac=000e08aaaa01 .* ua="x\\x22y" method=GET ' "$T/text.log.1" ||
	fail "text line: $old"
kill -USR1 "$SERVE_PID"
for i in $(seq 50); do grep -q 'access log reopened' "$T/serve.err" && break; sleep 0.1; done
grep -q 'sprov: info: serve: SIGUSR1: access log reopened' "$T/serve.err" || fail "no reopen logged"
[ -e "$T/text.log" ] || fail "no new access log after SIGUSR1"
[ "$(stat -c %a "$T/text.log")" = 640 ] || fail "new log mode $(stat -c %a "$T/text.log")"
[ ! -s "$T/text.log" ] || fail "the new log is not empty: $(cat "$T/text.log")"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
[ "$(wc -l <"$T/text.log")" = 1 ] || fail "new log: $(cat "$T/text.log")"
[ "$(cat "$T/text.log.1")" = "$old" ] || fail "the old log changed: $(cat "$T/text.log.1")"

note "SIGUSR1 when the file cannot be opened: the old one stays in use"
mv "$T/text.log" "$T/text.log.2"
mkdir "$T/text.log"
kill -USR1 "$SERVE_PID"
for i in $(seq 50); do grep -q 'logging on to the old file' "$T/serve.err" && break; sleep 0.1; done
grep -q "sprov: error: serve: SIGUSR1: access log $T/text.log: Is a directory; logging on to the old file" \
	"$T/serve.err" || fail "no refusal logged: $(tail -3 "$T/serve.err")"
[ -z "$(ls -A "$T/text.log")" ] || fail "something was written into the directory"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
[ "$(wc -l <"$T/text.log.2")" = 2 ] || fail "the old file did not get the line"
serve_stop

note "log = syslog | journal: accepted, and stderr still gets every message"
for to in syslog journal; do
	: >"$T/serve.err"
	serve_start --crl "$T/device-ca.crl" --access-log off --log "$to"
	grep -q 'sprov: info: serve: listening on' "$T/serve.err" || fail "log=$to: nothing on stderr"
	serve_stop
	grep -q 'sprov: info: serve: stopped' "$T/serve.err" || fail "log=$to: no stop message"
done
expect_rc 1 "$SPROV" serve --check-config --log file --listen 127.0.0.1:1 --cert a --key b --client-ca c
[ "$ERR" = "sprov serve: --log: log: 'file' is not stderr, syslog or journal" ] || fail "log=file: $ERR"
expect_rc 1 "$SPROV" serve --check-config --access-log-format xml --listen 127.0.0.1:1 \
	--cert a --key b --client-ca c
[ "$ERR" = "sprov serve: --access-log-format: access-log-format: 'xml' is not text or json" ] ||
	fail "format xml: $ERR"
printf '[serve]\nlog = journal\naccess-log-format = json\nreuse-port = no\n' >"$T/k.conf"
expect_rc 0 "$SPROV" serve --config "$T/k.conf" --check-config --listen "127.0.0.1:$PORT" \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
finish
