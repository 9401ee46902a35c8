#!/usr/bin/env bash
# A contact batch that fails because PostgreSQL went away is kept, never
# dropped as "refused for good".  The store thread tells the two apart by
# asking the store again right after the failure; it asked for the
# generation, which the PostgreSQL backend answers from its cache while its
# LISTEN connection has not yet seen the server go (a stop ends the
# connections one by one).  Seen once in CI as int_cluster_outage's
# "records failed".  Made deterministic here: the server's connection is
# ended while its batch's transaction waits for a row lock we hold, and new
# connections are refused (ALLOW_CONNECTIONS false), while its LISTEN
# connection stays up.  (Ended between batches, the next one reconnects
# first and finds the store unreachable: that path was right.)
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"
. "$SPROV_SRCDIR/tests/integration/cluster_lib.bash" contactloss

DB=contactloss
admin_sql() { psql -qAtX "$PG_BASE/postgres" -c "$1"; }

fleet_pki 2
start_serve --admin "127.0.0.1:$APORT" --contact-flush 100ms --workers 1
wait_port "$APORT" 10
written() { metric sprov_contacts_written_total; }
written_is() { [ "$(written)" = "$1" ]; }

note "healthy: device 0 served, its contact written"
dev_get 0
[ "$CODE" = 200 ] || fail "device 0: HTTP $CODE ($(cat "$T/curl.err"))"
wait_until 5 written_is 1 || fail "contacts written: $(written)"
[ "$(sql 'SELECT count(*) FROM contacts')" = 1 ] || fail "contact rows"
[ "$(metric sprov_contacts_failed_total)" = 0 ] || fail "failed before the test"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the server's connection ends inside its contact batch, new ones are refused, LISTEN stays up"
# A session of ours holds device 0's contact row, so the server's next batch
# waits inside its transaction; that connection is then ended while new
# ones are refused.
PGAPPNAME=locker psql -qAtX "$SPROV_STORE" -c "BEGIN" \
	-c "SELECT 1 FROM contacts FOR UPDATE" -c "SELECT pg_sleep(60)" >/dev/null 2>"$T/locker.err" &
LOCKER=$!
locked() { [ "$(admin_sql "SELECT count(*) FROM pg_stat_activity WHERE
	application_name = 'locker' AND query LIKE '%pg_sleep%'")" = 1 ]; }
wait_until 5 locked || fail "the locking session did not start: $(cat "$T/locker.err")"
dev_get 0   # cached: only its contact needs the store
[ "$CODE" = 200 ] || fail "cached device 0: HTTP $CODE"
waiting() { [ "$(admin_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'
	AND wait_event_type = 'Lock' AND application_name <> 'locker'")" = 1 ]; }
wait_until 5 waiting || fail "the server's batch is not waiting for the row"
admin_sql "ALTER DATABASE \"$DB\" ALLOW_CONNECTIONS false" >/dev/null
n=$(admin_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = '$DB' AND pid <> pg_backend_pid() AND application_name <> 'locker'
	AND query NOT LIKE 'LISTEN%'")
[ "$n" -ge 1 ] || fail "no connection of the server's to end"
[ "$(admin_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND
	query LIKE 'LISTEN%'")" = 1 ] || fail "the LISTEN connection is not up"
# Either the batch is dropped as refused (the bug) or the store is marked
# unreachable and the contact kept.
decided() { [ "$(metric sprov_contacts_failed_total)" != 0 ] || grep -q 'unreachable' "$T/serve.err"; }
wait_until 5 decided || fail "the batch was neither kept nor dropped: $(tail -3 "$T/serve.err")"
[ "$(metric sprov_contacts_failed_total)" = 0 ] ||
	fail "the contact was dropped as refused: $(grep 'refused' "$T/serve.err" | tail -1)"
[ "$(metric sprov_contacts_dropped_total)" = 0 ] || fail "the contact was dropped"
[ "$(written)" = 1 ] || fail "written during the failure: $(written)"
kill "$LOCKER" 2>/dev/null || true
admin_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE application_name = 'locker'" >/dev/null
_TESTS_RUN=$((_TESTS_RUN + 1))

note "connections allowed again: the kept contact is written"
admin_sql "ALTER DATABASE \"$DB\" ALLOW_CONNECTIONS true" >/dev/null
wait_until 10 written_is 2 || fail "contacts written after the store came back: $(written)"
[ "$(metric sprov_contacts_failed_total)" = 0 ] || fail "records failed"
[ "$(sql 'SELECT count(*) FROM contacts')" = 1 ] || fail "contact rows"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))
