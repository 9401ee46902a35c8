# A throwaway PostgreSQL 15 for tests: initdb in a temp dir, run as the
# unprivileged `postgres` user when we are root (CI), on a unix socket in
# that dir plus a free loopback port, fsync off.
#
# As a library (source after testlib.sh):
#   pg_use             $PG_BASE = the server's base URI: the ctest fixture's
#                      (its file is $SPROV_PG_FIXTURE), else a private
#                      server started now and stopped at exit
#   pg_createdb NAME   a fresh database; prints its URI
# As a command (the ctest fixture, and the unit tests' wrapper):
#   bash pg.sh start FILE      start a server, write its base URI and dir to FILE
#   bash pg.sh stop FILE       stop it and remove its dir
#   bash pg.sh exec FILE CMD.. run CMD with SPROV_TEST_PG_URI set to a fresh
#                              database (dropped afterwards)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

_pg_as() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# _pg_start DIR: prints the base URI.
_pg_start() {
	local d=$1 port try
	mkdir -p "$d"
	[ "$(id -u)" = 0 ] && chown postgres: "$d"
	_pg_as "$PG_BIN/initdb" -D "$d/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 ||
		{ cat "$d/initdb.log" >&2; return 1; }
	for try in 1 2 3; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
		if _pg_as "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $d -c fsync=off \
			-c synchronous_commit=off -c full_page_writes=off \
			-c max_connections=200" start >/dev/null 2>&1; then
			echo "postgresql://postgres@127.0.0.1:$port"
			return 0
		fi
	done
	tail -5 "$d/server.log" >&2
	return 1
}

_pg_stop() {
	_pg_as "$PG_BIN/pg_ctl" -D "$1/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$1"
}

# pg_createdb NAME: prints NAME's URI (fresh: dropped first if it exists).
pg_createdb() {
	PGOPTIONS="-c client_min_messages=warning" psql -q -X -v ON_ERROR_STOP=1 "$PG_BASE/postgres" \
		-c "DROP DATABASE IF EXISTS \"$1\"" -c "CREATE DATABASE \"$1\"" >/dev/null
	echo "$PG_BASE/$1"
}

pg_use() {
	if [ -n "${SPROV_PG_FIXTURE:-}" ] && [ -s "$SPROV_PG_FIXTURE" ]; then
		PG_BASE=$(sed -n 1p "$SPROV_PG_FIXTURE")
		return 0
	fi
	_PG_OWN=$(mktemp -d /tmp/sprov-pg.XXXXXX)
	PG_BASE=$(_pg_start "$_PG_OWN") || fail "could not start PostgreSQL"
	# testlib's EXIT trap kills background jobs; stop ours there too. The
	# trap runs under set -e: nothing in it may fail before _cleanup runs,
	# and _cleanup must see the status the test ended with (it exits $?).
	_pg_own_stop() { _pg_stop "$_PG_OWN"; }
	trap '_pg_rc=$?; set +e; _pg_own_stop; (exit $_pg_rc); _cleanup' EXIT
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case "${1:-}" in
	start)
		d=$(mktemp -d /tmp/sprov-pgfix.XXXXXX)
		base=$(_pg_start "$d")
		printf '%s\n%s\n' "$base" "$d" >"$2"
		;;
	stop)
		[ -s "$2" ] && _pg_stop "$(sed -n 2p "$2")"
		rm -f "$2"
		;;
	exec)
		[ -s "$2" ] || { echo "pg.sh: no PostgreSQL fixture ($2)" >&2; exit 1; }
		PG_BASE=$(sed -n 1p "$2")
		shift 2
		db="t_$$_$RANDOM"
		uri=$(pg_createdb "$db")
		rc=0
		SPROV_TEST_PG_URI=$uri "$@" || rc=$?
		psql -q -X "$PG_BASE/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" \
			>/dev/null 2>&1 || true
		exit $rc
		;;
	*)
		echo "usage: pg.sh start|stop|exec FILE [CMD...]" >&2
		exit 2
		;;
	esac
fi
