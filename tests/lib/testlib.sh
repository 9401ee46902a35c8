# Shared helpers for integration tests.  Source it first:
#   . "$SPROV_SRCDIR/tests/lib/testlib.sh"
# Gives: $T (a fresh temporary directory, removed at exit), $SPROV,
# bg_start/bg_kill for background processes (all killed at exit), and
# assertions that print what went wrong and exit 1.
set -euo pipefail

: "${SPROV:?run me through ctest (SPROV is the sprov binary)}"
: "${SPROV_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export SPROV SPROV_SRCDIR
T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-test.XXXXXX")
_BG_PIDS=()
_TESTS_RUN=0
_PYBIN=""

_cleanup() {
	local rc=$?
	for p in "${_BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${_BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -z "$_PYBIN" ] || rm -rf "$_PYBIN"
	if [ $rc -ne 0 ] && [ -n "${KEEP_TMP:-}" ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap _cleanup EXIT

# python3 looked up once, and first on PATH from then on: a version
# manager's shim (pyenv's, where PATH has one) starts a dozen processes to
# pick the interpreter, half a second of CPU each time, and the tests start
# python3 often (free_port, the test peers): that halved the CPU time of
# device_resync.  The same interpreter the shim picks.  Beside $T, not in it:
# tests hash trees under $T.
_PYBIN=$(mktemp -d "${TMPDIR:-/tmp}/sprov-py.XXXXXX")
ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$_PYBIN/python3"
PATH="$_PYBIN:$PATH"

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "-- $*"; }

# hup_wait PID LOG PATTERN [SECONDS]: send PID a SIGHUP and wait (10 s by
# default) until LOG has one more line matching PATTERN than before; fail
# naming both otherwise.  A fixed sleep after SIGHUP raced a slow reload, and
# a plain grep for the pattern matched an earlier reload's line.
hup_wait() {
	local pid=$1 log=$2 pat=$3 secs=${4:-10} n i
	n=$(grep -c -- "$pat" "$log" || true)
	kill -HUP "$pid"
	for i in $(seq $((secs * 20))); do
		[ "$(grep -c -- "$pat" "$log" || true)" -gt "$n" ] && return 0
		sleep 0.05
	done
	fail "no new '$pat' in $log within $secs s of SIGHUP: $(tail -3 "$log")"
}

# Start a command in the background; its pid is in $BG_PID.
bg_start() { "$@" & BG_PID=$!; _BG_PIDS+=("$BG_PID"); }
# bg_kill PID [SIGNAL]: send SIGNAL (TERM, KILL, -KILL...; default TERM), reap.
bg_kill() {
	local sig=${2:-TERM}
	kill -s "${sig#-}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# run_capture CMD...: runs it, sets $RC, $OUT, $ERR (never exits).
run_capture() {
	set +e
	"$@" >"$T/.out" 2>"$T/.err"
	RC=$?
	set -e
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
}

# expect_rc N CMD...: the command must exit with status N.
expect_rc() {
	local want=$1; shift
	run_capture "$@"
	[ "$RC" -eq "$want" ] || fail "'$*' exited $RC, expected $want; stderr: $ERR; stdout: $OUT"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

# expect_err_contains TEXT: the last command's stderr contains TEXT.
expect_err_contains() {
	case "$ERR" in *"$1"*) ;; *) fail "stderr lacks '$1'; stderr was: $ERR" ;; esac
}
expect_out_contains() {
	case "$OUT" in *"$1"*) ;; *) fail "stdout lacks '$1'; stdout was: $OUT" ;; esac
}

# A hash of a directory's names, modes and contents: compare before/after a
# refused command to show nothing was written or changed.
tree_hash() {
	(cd "$1" && find . -printf '%p %m %s\n' | LC_ALL=C sort && \
	 find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT.
wait_port() {
	local port=$1 secs=${2:-10} i=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $((secs * 20)) ] || fail "nothing listens on port $port after ${secs}s"
		sleep 0.05
	done
}

# wait_listen PORT PID [SECONDS]: until something listens on 127.0.0.1:PORT
# (status 0), or the process PID has exited (status 1).
wait_listen() {
	local port=$1 pid=$2 secs=${3:-10} i=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || return 1
		i=$((i + 1))
		[ $i -lt $((secs * 20)) ] || fail "nothing listens on port $port after ${secs}s"
		sleep 0.05
	done
}

# Call at the end: prints the plain closing line.
finish() { echo "$_TESTS_RUN passed, 0 failed"; }
