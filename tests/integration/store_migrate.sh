#!/bin/bash
# sprov db migrate on both backends: a version-1 store (made by the
# version-1 SQL: today's schema without what version 2 added) is upgraded
# and used; a current one is left alone; a newer one and an empty
# PostgreSQL database are refused with one line, unchanged.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/lib/pg.sh"
pg_use

# Per backend: raw SQL, the schema version, a digest of everything.
sq_sql() { sqlite3 "$T/m.db" "$1"; }
pg_sql() { psql -qAtX -v ON_ERROR_STOP=1 "$PGURI" -c "$1"; }
digest() {
	case $1 in
	sqlite) sqlite3 "$T/m.db" .dump | sha256sum ;;
	pg) pg_dump "$PGURI" | grep -Ev '^(--|\\(un)?restrict )' | sha256sum ;;
	esac
}
PGURI=$(pg_createdb "migrate_$$")
# What versions 7 (console records), 5 (the audit trail) and 4 (firmware
# images, rollouts) added; their triggers go with them.
V7_DROP="DROP TABLE devstate; DROP TABLE failcounts; DROP TABLE devevents; DROP TABLE failsrc; DROP TABLE levelgen; DROP TABLE series"
V6_DROP="DROP TABLE tokens; DROP TABLE logins; DROP TABLE sessions"
V5_DROP="$V7_DROP; $V6_DROP; DROP TABLE audit; DROP TABLE audit_head"
V4_DROP="$V5_DROP; DROP TABLE firmware; DROP TABLE firmware_chunks; DROP TABLE rollouts"

note "--help: options, examples, exit status; usage errors exit 2"
expect_rc 0 "$SPROV" db migrate --help
expect_out_contains "usage: sprov db migrate [--store URI]"
expect_out_contains "Examples:"
expect_out_contains "  0  the schema is current (upgraded, or already so)"
expect_out_contains "  1  refused (a newer or an empty store) or failed: nothing changed"
expect_rc 2 "$SPROV" db migrate extra
expect_err_contains "unexpected argument 'extra'"
expect_rc 2 "$SPROV" db migrate --frob

for be in sqlite pg; do
	if [ $be = sqlite ]; then S="sqlite:$T/m.db"; SQL=sq_sql; VER='PRAGMA user_version'
		SETV() { sq_sql "PRAGMA user_version = $1"; }
	else S=$PGURI; SQL=pg_sql; VER='SELECT version FROM schema_version'
		SETV() { pg_sql "UPDATE schema_version SET version = $1"; }
	fi
	export SPROV_STORE=$S

	note "$be: an empty store is refused, and not created"
	expect_rc 1 "$SPROV" db migrate
	expect_err_contains "run 'sprov db init'"
	[ "$(echo "$ERR" | wc -l)" = 1 ] || fail "more than one line: $ERR"
	if [ $be = sqlite ]; then
		[ ! -e "$T/m.db" ] || fail "migrate created the file"
	else
		[ "$(pg_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] ||
			fail "migrate created tables"
	fi

	note "$be: a version-1 store with data is upgraded to 7 and used"
	expect_rc 0 "$SPROV" db init
	expect_rc 0 "$SPROV" db devices add 000e08aabbcc --product P
	expect_rc 0 "$SPROV" db params set --device 000e08aabbcc Password_1_=pw1
	$SQL "DROP INDEX contacts_time" >/dev/null
	$SQL "DROP TABLE cluster_data" >/dev/null
	$SQL "$V4_DROP" >/dev/null
	SETV 1 >/dev/null
	expect_rc 0 "$SPROV" db migrate
	[ "$OUT" = "schema version 7: migrated from version 1" ] || fail "migrate said: $OUT"
	[ "$($SQL "$VER")" = 7 ] || fail "version is $($SQL "$VER")"
	[ "$($SQL "SELECT count(*) FROM cluster_data")" = 0 ] ||
		fail "the version-3 table cluster_data is missing"
	if [ $be = sqlite ]; then
		[ "$(sq_sql "SELECT count(*) FROM sqlite_schema WHERE name = 'contacts_time'")" = 1 ]
	else
		[ "$(pg_sql "SELECT count(*) FROM pg_indexes WHERE indexname = 'contacts_time'")" = 1 ]
	fi || fail "the version-2 index is missing"
	expect_rc 0 "$SPROV" db params set --device 000e08aabbcc Password_2_=pw2
	expect_rc 0 "$SPROV" db devices show 000e08aabbcc
	expect_out_contains "<Password_1_>pw1</Password_1_>"
	expect_out_contains "<Password_2_>pw2</Password_2_>"

	note "$be: a version-2 store is upgraded to 7; its data stays"
	$SQL "DROP TABLE cluster_data" >/dev/null
	$SQL "$V4_DROP" >/dev/null
	SETV 2 >/dev/null
	expect_rc 0 "$SPROV" db migrate
	[ "$OUT" = "schema version 7: migrated from version 2" ] || fail "migrate said: $OUT"
	[ "$($SQL "SELECT count(*) FROM cluster_data")" = 0 ] || fail "no cluster_data"
	expect_rc 0 "$SPROV" db devices show 000e08aabbcc
	expect_out_contains "<Password_2_>pw2</Password_2_>"

	note "$be: a version-3 store is upgraded to 7: firmware and rollouts work"
	$SQL "$V4_DROP" >/dev/null
	SETV 3 >/dev/null
	g=$($SQL "SELECT v FROM meta WHERE k = 'generation'")
	expect_rc 0 "$SPROV" db migrate
	[ "$OUT" = "schema version 7: migrated from version 3" ] || fail "migrate said: $OUT"
	for t in firmware firmware_chunks rollouts; do
		[ "$($SQL "SELECT count(*) FROM $t")" = 0 ] || fail "no table $t"
	done
	[ "$($SQL "SELECT v FROM meta WHERE k = 'generation'")" = "$g" ] ||
		fail "the migration moved the generation"
	expect_rc 0 "$SPROV" db devices show 000e08aabbcc
	expect_out_contains "<Password_2_>pw2</Password_2_>"
	expect_rc 0 "$SPROV" rollout create mig --param Proxy_1_=new.example.net \
		--defaults --waves 100 --success-window 1h
	[ "$($SQL "SELECT count(*) FROM rollouts")" = 1 ] || fail "no rollout row"
	expect_rc 0 "$SPROV" db devices show 000e08aabbcc
	expect_out_contains "<Proxy_1_>new.example.net</Proxy_1_>"
	$SQL "DELETE FROM rollouts" >/dev/null

	note "$be: a version-4 store is upgraded to 7: changes are audited"
	$SQL "$V5_DROP" >/dev/null
	SETV 4 >/dev/null
	expect_rc 0 "$SPROV" db migrate
	[ "$OUT" = "schema version 7: migrated from version 4" ] || fail "migrate said: $OUT"
	[ "$($SQL "SELECT count(*) FROM audit")" = 0 ] || fail "no audit table"
	# Version 7 starts every device's console record: never seen.
	[ "$($SQL "SELECT inv || ' ' || status FROM devstate WHERE mac = '000e08aabbcc'")" = "1 3" ] ||
		fail "no console record for the device"
	expect_rc 0 "$SPROV" db devices disable 000e08aabbcc
	expect_rc 0 "$SPROV" db audit verify
	[ "$OUT" = "audit: 1 entries, chain intact" ] || fail "verify said: $OUT"

	note "$be: a current store: nothing to do, nothing changed"
	h=$(digest $be)
	expect_rc 0 "$SPROV" db migrate
	[ "$OUT" = "schema version 7: already current" ] || fail "migrate said: $OUT"
	[ "$(digest $be)" = "$h" ] || fail "a current store changed"

	note "$be: a newer store is refused in one line, unchanged"
	SETV 9 >/dev/null
	h=$(digest $be)
	expect_rc 1 "$SPROV" db migrate
	case "$ERR" in
	"sprov db migrate: "*"has schema version 9, newer than this sprov knows (7): upgrade sprov") ;;
	*) fail "newer store: stderr was: $ERR" ;;
	esac
	[ "$(echo "$ERR" | wc -l)" = 1 ] || fail "more than one line: $ERR"
	[ "$(digest $be)" = "$h" ] || fail "a refused migrate changed the store"
done
finish
