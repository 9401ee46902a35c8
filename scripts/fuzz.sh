#!/bin/sh
# Run each libFuzzer target for a while:  scripts/fuzz.sh BUILD_DIR [SECONDS]
#
# New inputs go to a scratch corpus under BUILD_DIR/fuzz-work/<name>/ (the
# checked-in corpus is read, never grown).  Exits non-zero when a target
# that fuzz/fuzz_<name>.c promises is missing from the build, or when a
# target finds a crash, leak, timeout or out-of-memory: each such input is
# copied to fuzz/corpus/<name>/crash-<sha1>, where `make check` replays it
# from then on.  The full libFuzzer output of each run is kept in
# BUILD_DIR/fuzz-work/<name>/log; nothing is piped, so no status is lost.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [SECONDS]" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
secs=${2:-60}
status=0

for c in "$src"/fuzz/fuzz_*.c; do
	name=$(basename "$c" .c)
	name=${name#fuzz_}
	t="$build/fuzz_$name"
	if [ ! -x "$t" ]; then
		echo "== fuzz $name: FAILED: $t is missing (configure with -DSPROV_FUZZ=ON and build)" >&2
		status=1
		continue
	fi
	work="$build/fuzz-work/$name"
	mkdir -p "$work/corpus" "$work/artifacts"
	rm -f "$work/artifacts/"*
	echo "== fuzz $name for ${secs}s (log: $work/log)"
	rc=0
	"$t" -max_total_time="$secs" -print_final_stats=1 \
	    -artifact_prefix="$work/artifacts/" \
	    "$work/corpus" "$src/fuzz/corpus/$name" >"$work/log" 2>&1 || rc=$?
	tail -n 12 "$work/log"
	found=0
	# slow-unit-* are reports, not failures.
	for a in "$work/artifacts/"crash-* "$work/artifacts/"leak-* \
	    "$work/artifacts/"timeout-* "$work/artifacts/"oom-*; do
		[ -f "$a" ] || continue
		found=1
		sum=$(sha1sum "$a" | cut -d' ' -f1)
		dest="$src/fuzz/corpus/$name/crash-$sum"
		cp "$a" "$dest"
		echo "== fuzz $name: $(basename "$a" | cut -d- -f1) input saved as $dest" >&2
	done
	if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
		echo "== fuzz $name: FAILED (exit status $rc; full output in $work/log)" >&2
		status=1
	fi
done
exit $status
