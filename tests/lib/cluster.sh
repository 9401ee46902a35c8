# Several `sprov serve` nodes on one store (a PostgreSQL database), for the
# cluster_*.sh tests.  Source after testlib.sh; the PKI ($T/provserver.crt,
# $T/privkey.pem, $T/ca/device-ca.crt) and $SPROV_STORE are the test's.
#
#   node_start I [KEY=VALUE...]  write $T/nodeI.conf (free ports, access log
#                                $T/nodeI.access, messages $T/nodeI.err,
#                                proxy-from = 127.0.0.1 unless given) and
#                                start node I; NODE_PORT[I], NODE_APORT[I],
#                                NODE_PID[I]
#   cluster_start N [KEY=VALUE...]  nodes 1..N
#   node_kill I [SIG]            signal it (default KILL) and reap it
#   node_stop I                  SIGTERM: it must drain and exit 0, with no
#                                sanitizer report
#   node_metric I NAME           a value of its /metrics
declare -a NODE_PORT NODE_APORT NODE_PID

node_start() {
	local i=$1 try mark kv
	shift
	for try in 1 2 3; do
		NODE_PORT[$i]=$(free_port)
		NODE_APORT[$i]=$(free_port)
		{
			echo "[serve]"
			echo "listen = 127.0.0.1:${NODE_PORT[$i]}"
			echo "admin = 127.0.0.1:${NODE_APORT[$i]}"
			echo "cert = $T/provserver.crt"
			echo "key = $T/privkey.pem"
			echo "client-ca = $T/ca/device-ca.crt"
			echo "store = $SPROV_STORE"
			echo "access-log = $T/node$i.access"
			echo "workers = 2"
			case " $* " in *" proxy-from="*) ;; *) echo "proxy-from = 127.0.0.1" ;; esac
			for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
		} >"$T/node$i.conf"
		mark=$({ wc -l <"$T/node$i.err"; } 2>/dev/null || echo 0)
		bg_start "$SPROV" serve --config "$T/node$i.conf" 2>>"$T/node$i.err"
		NODE_PID[$i]=$BG_PID
		if wait_listen "${NODE_PORT[$i]}" "${NODE_PID[$i]}" 20 &&
			wait_listen "${NODE_APORT[$i]}" "${NODE_PID[$i]}" 20; then
			_node_ready "$i" "$mark"
			return 0
		fi
		tail -n +"$((mark + 1))" "$T/node$i.err" | grep -q 'in use' ||
			fail "node $i exited at start: $(tail -n +"$((mark + 1))" "$T/node$i.err" | tail -5)"
	done
	fail "node $i found no free port in 3 tries: $(tail -3 "$T/node$i.err")"
}

# _node_ready I MARK: until nodeI.err, past line MARK, says it listens.
_node_ready() {
	local i
	for i in $(seq 200); do
		tail -n +"$(($2 + 1))" "$T/node$1.err" 2>/dev/null | grep -q 'serve: listening on' &&
			return 0
		kill -0 "${NODE_PID[$1]}" 2>/dev/null || break
		sleep 0.05
	done
	fail "node $1 did not get ready: $(tail -5 "$T/node$1.err")"
}

cluster_start() {
	local n=$1 i
	shift
	for ((i = 1; i <= n; i++)); do node_start "$i" "$@"; done
}

node_kill() {
	bg_kill "${NODE_PID[$1]}" "${2:-KILL}"
}

node_stop() {
	local rc=0
	kill -TERM "${NODE_PID[$1]}" 2>/dev/null || true
	wait "${NODE_PID[$1]}" 2>/dev/null || rc=$?
	[ $rc -eq 0 ] || fail "node $1 exited $rc: $(tail -20 "$T/node$1.err")"
	if grep -q 'Sanitizer\|runtime error' "$T/node$1.err"; then
		fail "node $1: sanitizer report: $(grep -A20 'Sanitizer\|runtime error' "$T/node$1.err" | head -40)"
	fi
}

node_metric() {
	curl -s "http://127.0.0.1:${NODE_APORT[$1]}/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}
