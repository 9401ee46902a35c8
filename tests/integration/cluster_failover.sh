#!/bin/bash
# Issue 13, cluster test 3: a fleet runs through HAProxy against three
# `sprov serve` nodes on one PostgreSQL database; one node is killed with
# SIGKILL mid-run.  Every device retries and finishes on the others, and the
# contact records in the database match the successes one for one.
#
# What "one for one" can mean with SIGKILL: a node queues contact records
# in memory and writes them every contact-flush (100 ms here); the ones
# still queued when it is killed are gone (keeping them across a crash is
# the contact spill's job, not this test's).  So the test compares the
# records with what the access logs (written and flushed per request) say
# each node served: every 200 of a surviving node has its record; every
# record is a device some node served; the only devices without a record
# are ones the killed node served last, and there are at most a flush
# interval's worth of them.  The count of those is printed.
SPROV_TEST_STORE=pg
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
. "$SPROV_SRCDIR/tests/lib/haproxy.sh"
. "$SPROV_SRCDIR/tests/lib/cluster.sh"
pg_use
export SPROV_STORE
SPROV_STORE=$(pg_createdb "cluster_$(basename "$T" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')")

N=300
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=120
RATE=$((N / 4)) # arrivals spread over about 4 s
KILLED=2

fleet_pki $N
start_dns
cluster_start 3 contact-flush=100ms handshakes-per-source=0
haproxy_start "127.0.0.1:${NODE_PORT[1]}" "127.0.0.1:${NODE_PORT[2]}" "127.0.0.1:${NODE_PORT[3]}"
haproxy_wait_up 3

served() { cat "$T"/node*.access 2>/dev/null | grep -c ' status=200 ' || true; }

note "$N devices arrive at $RATE/s through HAProxy; node $KILLED is killed when a third are served"
fleet_retrying_bg "$HA_PORT" $RATE
i=0
until [ "$(served)" -ge $((N / 3)) ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "the cluster served $(served) devices in 30 s"
	kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet ended early: $(cat "$T/fleet.err")"
	sleep 0.05
done
grep -q ' status=200 ' "$T/node$KILLED.access" || fail "node $KILLED served nothing before the kill"
node_kill $KILLED KILL
note "killed node $KILLED (SIGKILL) after $(served) devices were served"

fleet_wait_all "$FLEET_PID" $N
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the surviving nodes served the rest, and stop cleanly"
for i in 1 3; do
	grep -q ' status=200 ' "$T/node$i.access" || fail "node $i served nothing"
done
node_stop 1
node_stop 3 # both flushed their queues: every record they hold is written
haproxy_stop

# macs FILE...: the devices served 200 in these access logs, sorted, unique.
macs() { cat "$@" | awk '/ status=200 / { for (i = 1; i <= NF; i++) if ($i ~ /^mac=/) print substr($i, 5) }' | sort -u; }
macs "$T/node1.access" "$T/node3.access" >"$T/survivors"
macs "$T/node$KILLED.access" >"$T/killed"
psql -qAtX "$SPROV_STORE" -c "SELECT mac FROM contacts WHERE status = 200 ORDER BY mac" |
	tr -d ':' | tr 'A-Z' 'a-z' | sort -u >"$T/records"
[ "$(psql -qAtX "$SPROV_STORE" -c "SELECT count(*) FROM contacts")" = "$(wc -l <"$T/records")" ] ||
	fail "contact records that are not a 200: $(psql -qAtX "$SPROV_STORE" -c 'SELECT mac, status FROM contacts WHERE status <> 200')"
sort -u "$T/survivors" "$T/killed" >"$T/served"

note "the records match the successes: $(wc -l <"$T/records") records, $N devices, $(wc -l <"$T/served") served"
[ "$(wc -l <"$T/served")" = $N ] || fail "the access logs show $(wc -l <"$T/served") devices served, not $N"
missing=$(comm -23 "$T/survivors" "$T/records")
[ -z "$missing" ] || fail "served by a surviving node but no contact record: $(head -5 <<<"$missing")"
extra=$(comm -13 "$T/served" "$T/records")
[ -z "$extra" ] || fail "contact records for devices nobody served: $(head -5 <<<"$extra")"
lost=$(comm -23 "$T/served" "$T/records")
if [ -n "$lost" ]; then
	# Only the killed node's last requests: served there, nowhere else.
	[ -z "$(comm -12 <(echo "$lost") "$T/survivors")" ] || fail "a lost record of a surviving node"
	nlost=$(wc -l <<<"$lost")
	[ "$nlost" -le 16 ] || fail "$nlost records lost: more than one flush interval's worth"
	note "$nlost record(s) were still queued in node $KILLED when it was killed (the contact spill keeps them)"
fi
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
