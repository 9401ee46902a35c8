# Helpers for the cluster_*.sh tests (not a test itself: no .sh suffix).
# Source after testlib.sh, pg.sh, device_lib.bash and fleet_lib.bash.  A
# private PostgreSQL (these tests stop and start it), its database as
# $SPROV_STORE, and the node's admin port $APORT.
unset SPROV_PG_FIXTURE # our own server: we stop it
pg_use
PG_PORT=${PG_BASE##*:}
pg_ctl_() { _pg_as "$PG_BIN/pg_ctl" -D "$_PG_OWN/data" -l "$_PG_OWN/server.log" "$@"; }
pg_down() { pg_ctl_ -m fast -w stop >/dev/null || fail "pg_ctl stop failed"; }
pg_up() {
	pg_ctl_ -w -t 30 -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $_PG_OWN \
		-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
		-c max_connections=200" start >/dev/null || fail "pg_ctl start failed"
}
export SPROV_STORE
SPROV_STORE=$(pg_createdb "$1")
sql() { psql -qAtX "$SPROV_STORE" -c "$1"; }
APORT=$(free_port)
metric() { curl -s "http://127.0.0.1:$APORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# wait_until SECS CMD...: until CMD succeeds; 1 after SECS.
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt $end ] || return 1
		sleep 0.1
	done
}

# dev_get I: curl as fleet device I (fleet_lib.bash's bundles, $FQDN on
# $PORT); sets CODE, the headers in $T/hdr.
dev_get() {
	local mac d
	mac=$(printf '0200%08x' "$1")
	d="$T/bundles/$mac"
	CODE=$(curl -sS --max-time 10 --resolve "$FQDN:$PORT:127.0.0.1" \
		--cacert "$d/server-ca.crt" --cert "$d/client.crt" --key "$d/client.key" \
		-D "$T/hdr" -o /dev/null -w '%{http_code}' "https://$FQDN:$PORT/profiles/$mac.xml" \
		2>"$T/curl.err") || true
}
