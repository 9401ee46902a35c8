#!/usr/bin/env bash
# Issue 13, test 4: PostgreSQL stops for about ten seconds during a fleet
# run and restarts.  Devices whose profiles are cached are served
# throughout; the others get 503 with a jittered Retry-After, then succeed;
# /healthz says "degraded" (200) during and "ok" after; /metrics shows
# sprov_store_up 0 and counts the 503s; every contact record arrives (the
# rows written after the outage began = the fleet's successes).  A private
# PostgreSQL: this test stops and starts it.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"
. "$SPROV_SRCDIR/tests/integration/cluster_lib.bash" outage

N=120
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=60
CACHED=$((N / 2)) # devices 0 .. CACHED-1 are served once before the outage
DOWN=10           # seconds PostgreSQL is away


fleet_pki $N
start_dns
start_serve --admin "127.0.0.1:$APORT" --access-log "$T/access.log" --retry-after 1 \
	--contact-flush 100ms --contact-spill "$T/contacts.spill" --workers 2
wait_port "$APORT" 10
health() { curl -s -o "$T/health" -w '%{http_code}' "http://127.0.0.1:$APORT/healthz"; }

note "healthy: /healthz ok, sprov_store_up 1; $CACHED devices served once (cached)"
[ "$(health)" = 200 ] && [ "$(cat "$T/health")" = ok ] || fail "healthz: $(cat "$T/health")"
[ "$(metric sprov_store_up)" = 1 ] || fail "sprov_store_up: $(metric sprov_store_up)"
"$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" \
	--dns-server "$DNS" --devices $CACHED --storm --concurrency 16 --json \
	--time-scale 0.1 --timeout 5 >"$T/warm.out" 2>"$T/warm.err" ||
	fail "warm-up fleet: $(tail -3 "$T/warm.err")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "PostgreSQL stops: /healthz degraded (200), sprov_store_up 0, within 2 s"
pg_down
outage_start=$(date +%s)
down_at=$(date +%s.%N)
degraded() { [ "$(health)" = 200 ] && [ "$(cat "$T/health")" = degraded ]; }
wait_until 2 degraded || fail "healthz not degraded 2 s after the stop: $(cat "$T/health")"
[ "$(metric sprov_store_up)" = 0 ] || fail "sprov_store_up during the outage: $(metric sprov_store_up)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "during the outage: a cached device 200, an uncached one 503 + Retry-After"
dev_get 0
[ "$CODE" = 200 ] || fail "cached device: HTTP $CODE ($(cat "$T/curl.err"))"
dev_get $((N - 1))
[ "$CODE" = 503 ] || fail "uncached device: HTTP $CODE, expected 503"
ra=$(awk -F': ' 'tolower($1) == "retry-after" { print $2 + 0 }' "$T/hdr")
[ "$ra" = 2 ] || fail "Retry-After '$ra', expected 2 (retry-after 1: jittered in [2, 2])"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a fleet of $N runs through the outage (PostgreSQL back after ${DOWN}s)"
lines0=$(wc -l <"$T/access.log")
"$SPROV" fleet --bundles "$T/bundles" --rule "https://$FQDN:$PORT/profiles/\$MA.xml" \
	--dns-server "$DNS" --storm --concurrency 16 --json --time-scale 0.25 \
	--retries 1000 --timeout 5 >"$T/fleet.out" 2>"$T/fleet.err" &
FLEET_PID=$!
_BG_PIDS+=("$FLEET_PID")
# Every cached device is served while the database is still away, and
# only those: an uncached one cannot be rendered.
served_since() {
	tail -n +"$((lines0 + 1))" "$T/access.log" | grep ' status=200 ' |
		grep -o 'mac=[0-9a-f]*' | sort -u
}
cached_served() { [ "$(served_since | wc -l)" -ge $CACHED ]; }
wait_until $((DOWN - 2)) cached_served ||
	fail "cached devices not all served during the outage: $(served_since | wc -l) of $CACHED"
kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet ended while PostgreSQL was down: $(cat "$T/fleet.out")"
while read -r m; do
	[ $((16#${m#mac=0200})) -lt $CACHED ] || fail "uncached device ${m#mac=} served while PostgreSQL was down"
done < <(served_since)
[ "$(metric sprov_store_unavailable_total)" -gt 0 ] || fail "no 503 counted during the outage"
degraded || fail "healthz not degraded during the outage: $(cat "$T/health")"
_TESTS_RUN=$((_TESTS_RUN + 1))
sleep "$(awk -v s="$down_at" -v d=$DOWN -v n="$(date +%s.%N)" 'BEGIN { r = s + d - n; print (r > 0 ? r : 0) }')"
pg_up
note "PostgreSQL is back: /healthz ok within 6 s (the backoff is at most 5 s)"
healthy() { [ "$(health)" = 200 ] && [ "$(cat "$T/health")" = ok ]; }
wait_until 6 healthy || fail "healthz not ok 6 s after PostgreSQL returned: $(cat "$T/health")"
[ "$(metric sprov_store_up)" = 1 ] || fail "sprov_store_up after the outage"
_TESTS_RUN=$((_TESTS_RUN + 1))

set +e
wait "$FLEET_PID"
RC=$?
set -e
OUT=$(cat "$T/fleet.out")
note "$OUT"
[ "$RC" -eq 0 ] || fail "the fleet exited $RC: $(tail -5 "$T/fleet.err")"
[ "$(json_get devices_ok)" = $N ] || fail "not every device finished: $OUT"
[ "$(json_get successes)" = $N ] || fail "successes: $OUT"
[ "$(json_get 'failure_reasons.http 503')" -gt 0 ] || fail "no device saw a 503: $OUT"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

note "every contact record arrived: rows written since the outage = fleet successes"
rows() { sql "SELECT count(*) FROM contacts WHERE time >= $outage_start"; }
all_rows() { [ "$(rows)" = "$(json_get successes)" ]; }
wait_until 5 all_rows || fail "contact rows since the outage: $(rows), fleet successes $(json_get successes)"
[ "$(sql 'SELECT count(*) FROM contacts')" = $N ] || fail "contact rows: $(sql 'SELECT count(*) FROM contacts')"
[ "$(metric sprov_contacts_dropped_total)" = 0 ] || fail "records dropped"
[ "$(metric sprov_contacts_failed_total)" = 0 ] || fail "records failed"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the node stops cleanly (SIGTERM: exit 0), nothing left in the spill file"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" || fail "sprov serve exited $? after SIGTERM: $(tail -5 "$T/serve.err")"
[ ! -s "$T/contacts.spill" ] || fail "records left in the spill file"
if grep -q 'Sanitizer\|runtime error' "$T/serve.err"; then
	fail "sanitizer report: $(grep -A20 'Sanitizer\|runtime error' "$T/serve.err" | head -30)"
fi
grep -q 'unreachable' "$T/serve.err" || fail "the outage was not logged"
grep -q 'reachable again' "$T/serve.err" || fail "the return was not logged"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
