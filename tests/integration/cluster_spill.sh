#!/usr/bin/env bash
# Contact records survive a database outage longer than the queue, and a
# restart of the node: with contact-queue 5 and PostgreSQL down, records
# spill to the contact-spill file; SIGTERM spills the rest; a restarted node
# replays the file once PostgreSQL is back and empties it, and every record
# is in the database.  SIGKILL: what was spilled arrives (at most the queue
# is lost).  A torn tail is dropped with a warning, the records before it
# kept; an unusable contact-spill stops the start with one line naming it.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"
. "$SPROV_SRCDIR/tests/integration/cluster_lib.bash" spill

N=40
Q=5

SPILL="$T/contacts.spill"

fleet_pki $N
start_dns
node() {
	start_serve --admin "127.0.0.1:$APORT" --contact-queue $Q --contact-flush 100ms \
		--contact-spill "$SPILL" --workers 2
	wait_port "$APORT" 10
}
health() { curl -s "http://127.0.0.1:$APORT/healthz"; }
# spilled: good records in the spill file (the format of src/server/spill.h).
spilled() {
	python3 - "$SPILL" <<'PY'
import struct, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
try:
    d = open(sys.argv[1], "rb").read()
except FileNotFoundError:
    d = b""
n = off = 0
while len(d) - off >= 16 and d[off:off + 4] in (b"SPC1", b"SPC2"):
    ln = struct.unpack_from("<I", d, off + 4)[0]
    if len(d) - off < 16 + ln or struct.unpack_from("<Q", d, off + 8 + ln)[0] != fnv(d[off + 4:off + 8 + ln]):
        break
    n += 1
    off += 16 + ln
print(n)
PY
}
fleet() {
	"$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" \
		--dns-server "$DNS" --storm --concurrency 8 --json --time-scale 0.1 --timeout 5 \
		>"$T/fleet.out" 2>"$T/fleet.err" || fail "fleet: $(tail -3 "$T/fleet.err")"
	OUT=$(cat "$T/fleet.out")
	[ "$(json_get successes)" = $N ] || fail "fleet successes: $OUT"
}
rows_since() { sql "SELECT count(*) FROM contacts WHERE time >= $1"; }
# new_epoch: a second boundary after every record so far (times are seconds).
new_epoch() { sleep 1.1; EPOCH=$(date +%s); }

node
note "warm-up with the database up: $N devices, $N contact rows, nothing spilled"
fleet
all() { [ "$(sql 'SELECT count(*) FROM contacts')" = $N ]; }
wait_until 5 all || fail "contact rows: $(sql 'SELECT count(*) FROM contacts')"
[ ! -s "$SPILL" ] || fail "spilled with the database up"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "database down: $N devices served from the cache, all but $Q records spilled"
new_epoch
E1=$EPOCH
pg_down
wait_until 3 eval '[ "$(health)" = degraded ]' || fail "not degraded: $(health)"
fleet
spilled_most() { [ "$(spilled)" -ge $((N - Q)) ] && [ "$(metric sprov_contact_queue)" -le $Q ]; }
wait_until 5 spilled_most || fail "spilled $(spilled), queued $(metric sprov_contact_queue)"
[ "$(stat -c %a "$SPILL")" = 600 ] || fail "spill file mode $(stat -c %a "$SPILL")"
[ "$(metric sprov_contacts_dropped_total)" = 0 ] || fail "records dropped"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "SIGTERM with the database still down: the queue is spilled too (all $N), exit 0"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "sprov serve exited $?: $(tail -5 "$T/serve.err")"
[ "$(spilled)" = $N ] || fail "spill file holds $(spilled) records, expected $N"
cp "$SPILL" "$T/spill.saved"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "database up, node restarted: the spill file is replayed and emptied"
pg_up
node
replayed() { [ "$(rows_since "$E1")" = $N ] && [ ! -s "$SPILL" ]; }
wait_until 10 replayed || fail "rows since the outage $(rows_since "$E1"), spill $(stat -c %s "$SPILL")"
grep -q "contact-spill $SPILL: $N records written to the store" "$T/serve.err" ||
	fail "no replay message: $(tail -3 "$T/serve.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "SIGKILL variant: database down, spill, kill -9; every spilled record arrives"
fleet # the restarted node's cache is empty: fill it first
new_epoch
E2=$EPOCH
pg_down
wait_until 3 eval '[ "$(health)" = degraded ]' || fail "not degraded: $(health)"
fleet
wait_until 5 spilled_most || fail "spilled $(spilled), queued $(metric sprov_contact_queue)"
K=$(spilled)
bg_kill "$SERVE_PID" KILL
pg_up
node
replayed2() { [ "$(rows_since "$E2")" -ge "$K" ] && [ ! -s "$SPILL" ]; }
wait_until 10 replayed2 || fail "rows since the outage $(rows_since "$E2") < $K spilled"
[ "$(rows_since "$E2")" -ge $((N - Q)) ] || fail "more than the queue ($Q) lost: $(rows_since "$E2")"
# Exactly the spilled ones: a graceful stop would have spilled the queue too.
[ "$(rows_since "$E2")" = "$K" ] || fail "$(rows_since "$E2") arrived, $K spilled: was it a SIGKILL?"
note "$K spilled, $(rows_since "$E2") of $N arrived"
_TESTS_RUN=$((_TESTS_RUN + 1))
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "sprov serve exited $?"

note "a torn tail: warning naming the file and offset, the $N records before it kept"
sql "DELETE FROM contacts" >/dev/null
{ cat "$T/spill.saved"; printf 'SPC1\040\000\000\000partial'; } >"$SPILL"
good=$(stat -c %s "$T/spill.saved")
node
wait_until 10 eval '[ "$(sql "SELECT count(*) FROM contacts")" = $N ] && [ ! -s "$SPILL" ]' ||
	fail "rows $(sql 'SELECT count(*) FROM contacts'), spill $(stat -c %s "$SPILL")"
grep -q "contact-spill $SPILL: 15 bytes after record $N (offset $good) are torn or corrupt" \
	"$T/serve.err" || fail "no torn-tail warning: $(grep spill "$T/serve.err" | tail -3)"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "sprov serve exited $?"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "an unusable contact-spill: exit 1, one line naming it, nothing created"
: >"$T/notadir"
run_capture "$SPROV" serve --listen "127.0.0.1:$(free_port)" --admin off \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" \
	--contact-spill "$T/notadir/x.spill"
[ "$RC" = 1 ] || fail "exit $RC: $ERR"
[ "$(grep -v 'warning' <<<"$ERR")" = "sprov serve: contact-spill $T/notadir/x.spill: Not a directory" ] ||
	fail "message: $ERR"
[ -f "$T/notadir" ] && [ ! -s "$T/notadir" ] || fail "notadir changed"
_TESTS_RUN=$((_TESTS_RUN + 1))

if grep -q 'Sanitizer\|runtime error' "$T/serve.err"; then
	fail "sanitizer report: $(grep -A20 'Sanitizer\|runtime error' "$T/serve.err" | head -30)"
fi
finish
