# HAProxy for tests: TCP mode, send-proxy-v2, in front of sprov serve nodes.
# Source after testlib.sh.  The configuration is examples/cluster/haproxy.cfg
# with its placeholders filled in; haproxy runs in the foreground (-db) as a
# background job of the test (stopped at exit with the others), with its
# pid file and config in $T.  Never the system service.
#
#   haproxy_start PORT:ADDR...   listen on a free port ($HA_PORT) of
#                                127.0.0.1, one server line per node address
#                                (127.0.0.1:PORT); pid in $HA_PID
#   haproxy_wait_up N            until HAProxy's checks see N nodes up
#   haproxy_stat PX SV FIELD     one figure of HAProxy's `show stat`
#   haproxy_stop                 SIGTERM, and wait
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}

haproxy_start() {
	local n=0 a servers="" try
	[ -x "$HAPROXY" ] || fail "haproxy is missing (scripts/deps.sh installs it)"
	for a in "$@"; do
		n=$((n + 1))
		servers+="    server node$n $a"$'\n'
	done
	HA_SOCK="$T/haproxy.sock"
	for try in 1 2 3; do
		HA_PORT=$(free_port)
		sed -e "s#@PIDFILE@#$T/haproxy.pid#" -e "s#@BIND@#127.0.0.1:$HA_PORT#" \
			-e "/@SERVERS@/{r /dev/stdin" -e "d}" \
			"$SPROV_SRCDIR/examples/cluster/haproxy.cfg" <<<"${servers%$'\n'}" >"$T/haproxy.cfg"
		# The stats socket: haproxy_wait_up asks it which nodes are up.
		sed -i "/^global/a\\    stats socket $HA_SOCK level admin" "$T/haproxy.cfg"
		"$HAPROXY" -c -q -f "$T/haproxy.cfg" >"$T/haproxy.check" 2>&1 ||
			fail "haproxy refused its config: $(cat "$T/haproxy.check")"
		bg_start "$HAPROXY" -db -f "$T/haproxy.cfg" 2>>"$T/haproxy.err"
		HA_PID=$BG_PID
		wait_listen "$HA_PORT" "$HA_PID" 10 && return 0
		grep -q 'cannot bind\|Address already in use' "$T/haproxy.err" ||
			fail "haproxy exited at start: $(tail -5 "$T/haproxy.err")"
	done
	fail "haproxy found no free port in 3 tries: $(tail -3 "$T/haproxy.err")"
}

# haproxy_up: how many nodes HAProxy's health checks see up.
haproxy_up() {
	python3 - "$HA_SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
lines = s.makefile(encoding="utf-8").read().splitlines()
hdr = lines[0].lstrip("# ").split(",")
up = 0
for l in lines[1:]:
    f = dict(zip(hdr, l.split(",")))
    if f.get("svname", "").startswith("node") and f.get("status") == "UP":
        up += 1
print(up)
PY
}

# haproxy_stat PROXY SVNAME FIELD: one figure of `show stat` (FIELD as in
# its header: stot, dreq, ...); exits 1 if there is no such row or field.
haproxy_stat() {
	python3 - "$HA_SOCK" "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
lines = s.makefile(encoding="utf-8").read().splitlines()
hdr = lines[0].lstrip("# ").split(",")
for l in lines[1:]:
    f = dict(zip(hdr, l.split(",")))
    if f.get("pxname") == sys.argv[2] and f.get("svname") == sys.argv[3]:
        v = f.get(sys.argv[4], "")
        sys.exit(print(v or 0) if sys.argv[4] in f else f"no field {sys.argv[4]}")
sys.exit(f"no row {sys.argv[2]}/{sys.argv[3]}")
PY
}

# haproxy_wait_up N [SECONDS]
haproxy_wait_up() {
	local want=$1 secs=${2:-10} i=0
	until [ "$(haproxy_up)" = "$want" ]; do
		i=$((i + 1))
		[ $i -lt $((secs * 20)) ] || fail "HAProxy sees $(haproxy_up) nodes up, not $want, after ${secs}s"
		sleep 0.05
	done
}

haproxy_stop() {
	bg_kill "$HA_PID" TERM
}
