#!/bin/bash
# Database failover (issue 13, test 5): a PostgreSQL primary and a
# streaming standby made with `pg_basebackup -R`, two `sprov serve` nodes
# whose store URI names both hosts with target_session_attrs=read-write.
# The primary is stopped and the standby promoted (`pg_ctl promote`): the
# nodes follow without a configuration change, a parameter set on the new
# primary is served by both, and every contact record is there.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
export SPROV_STORE="sqlite:$T/unused.db" # replaced below, before any use
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

PGD=$(mktemp -d /tmp/sprov-pgha.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres: "$PGD"
# At exit: both servers stopped, their directory gone, then testlib's
# _cleanup (the nodes) with the test's own exit status. The trap runs under
# set -e: nothing in it may fail before _cleanup.
pgha_stop() {
	local d
	for d in "$PGD"/p1 "$PGD"/p2; do
		[ -d "$d" ] && { _pg_as "$PG_BIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1 || true; }
	done
	rm -rf "$PGD"
}
trap '_ha_rc=$?; set +e; pgha_stop; (exit $_ha_rc); _cleanup' EXIT

# pg_up DIR PORT: start the server in DIR on PORT (unix socket in $PGD).
pg_up() {
	_pg_as "$PG_BIN/pg_ctl" -D "$1" -l "$1.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $2 -k $PGD -c fsync=off \
		-c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
		start >/dev/null || fail "PostgreSQL in $1 did not start: $(tail -3 "$1.log")"
}

note "a primary, and a standby streaming from it (pg_basebackup -R)"
P1=$(free_port)
P2=$(free_port)
_pg_as "$PG_BIN/initdb" -D "$PGD/p1" -U postgres --auth=trust --encoding=UTF8 \
	--locale=C.UTF-8 >"$PGD/initdb.log" 2>&1 || fail "initdb: $(tail -3 "$PGD/initdb.log")"
pg_up "$PGD/p1" "$P1"
_pg_as "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$P1" -U postgres -D "$PGD/p2" -R -X stream \
	>"$PGD/basebackup.log" 2>&1 || fail "pg_basebackup: $(tail -3 "$PGD/basebackup.log")"
pg_up "$PGD/p2" "$P2"
[ "$(psql -qAtX "postgresql://postgres@127.0.0.1:$P2/postgres" -c 'SELECT pg_is_in_recovery()')" = t ] ||
	fail "the standby is not in recovery"
psql -qX "postgresql://postgres@127.0.0.1:$P1/postgres" -c 'CREATE DATABASE sprov' >/dev/null
export SPROV_STORE="postgresql://postgres@127.0.0.1:$P1,127.0.0.1:$P2/sprov?target_session_attrs=read-write&connect_timeout=3"

serve_pki
serve_db

note "two nodes on the multi-host URI serve both devices"
# Contacts are flushed every 100 ms, so several flushes fall in the gap.
serve_start --contact-flush 100ms
N1_PORT=$PORT N1_APORT=$APORT N1_PID=$SERVE_PID
serve_start --contact-flush 100ms
N2_PORT=$PORT N2_APORT=$APORT N2_PID=$SERVE_PID
ok=0
for port in "$N1_PORT" "$N2_PORT"; do
	PORT=$port
	get "$DEV_A" /profiles/000e08aaaa01.xml
	expect_code 200
	get "$DEV_B" /profiles/000e08aaaa02.xml
	expect_code 200
	ok=$((ok + 2))
done

# contacts_in_db: the number of contact records in the current primary.
contacts_in_db() {
	psql -qAtX "$SPROV_STORE" -c 'SELECT count(*) FROM contacts' 2>/dev/null
}
# Contact records are written behind, every contact-flush interval.
for _ in $(seq 100); do [ "$(contacts_in_db)" = 2 ] && break; sleep 0.1; done
[ "$(contacts_in_db)" = 2 ] || fail "contact records before the failover: $(contacts_in_db)"

note "the primary stops and the standby is promoted"
_pg_as "$PG_BIN/pg_ctl" -D "$PGD/p1" -m fast -w stop >/dev/null || fail "the primary did not stop"
note "between the two, no primary: device B (cached) is still served by node 2"
PORT=$N2_PORT
GAP=$(date +%s)
get "$DEV_B" /profiles/000e08aaaa02.xml
expect_code 200
sleep 1.5 # the flushes of B's contact fail meanwhile: no primary
PROMOTED=$(date +%s)
_pg_as "$PG_BIN/pg_ctl" -D "$PGD/p2" -w promote >/dev/null || fail "pg_ctl promote failed"
[ "$(psql -qAtX "postgresql://postgres@127.0.0.1:$P2/postgres" -c 'SELECT pg_is_in_recovery()')" = f ] ||
	fail "the standby is still in recovery"

note "a change on the new primary, through the same URI, is served by both nodes"
expect_rc 0 "$SPROV" db params set --device 000e08aaaa01 Password_1_=promotedAAAA
for port in "$N1_PORT" "$N2_PORT"; do
	PORT=$port
	deadline=$(($(date +%s) + 15))
	while :; do
		get "$DEV_A" /profiles/000e08aaaa01.xml
		case "$CODE $BODY" in "200 "*"<Password_1_>promotedAAAA</Password_1_>"*) break ;; esac
		[ "$(date +%s)" -lt "$deadline" ] || fail "node on $port: not the new value after 15 s ($CODE): $BODY"
		sleep 0.2
	done
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "no contact record lost: A's after the promotion, and B's from the gap without a primary"
# The store keeps one contact per device (its last). A's last fetch came
# after the promotion; B's only one since came while no primary existed,
# so it waited in node 2's queue and reached the new primary afterwards.
for _ in $(seq 150); do
	a=$(psql -qAtX "$SPROV_STORE" -c "SELECT count(*) FROM contacts
		WHERE mac = '000e08aaaa01' AND time >= $PROMOTED AND status = 200" 2>/dev/null || echo 0)
	b=$(psql -qAtX "$SPROV_STORE" -c "SELECT count(*) FROM contacts
		WHERE mac = '000e08aaaa02' AND time >= $GAP AND status = 200" 2>/dev/null || echo 0)
	[ "$a$b" = 11 ] && break
	sleep 0.1
done
[ "$a$b" = 11 ] || fail "contacts in the new primary: A $a, B $b (of 1 each); $(psql -qAtX "$SPROV_STORE" -c 'SELECT mac, time, status FROM contacts' 2>&1)"
_TESTS_RUN=$((_TESTS_RUN + 1))

PORT=$N1_PORT APORT=$N1_APORT SERVE_PID=$N1_PID
serve_stop
PORT=$N2_PORT APORT=$N2_APORT SERVE_PID=$N2_PID
serve_stop
finish
