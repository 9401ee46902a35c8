#!/bin/sh
# Run each libFuzzer target for a while.  New inputs go to a scratch corpus
# under the build directory; crashes are left there as crash-* files.
set -eu
build=$1
secs=${2:-60}
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for t in "$build"/fuzz_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t" | sed 's/^fuzz_//')
	work="$build/fuzz-work/$name"
	mkdir -p "$work/corpus"
	echo "== fuzz $name for ${secs}s"
	if ! (cd "$work" && "$t" -max_total_time="$secs" -print_final_stats=1 \
	    corpus "$src/fuzz/corpus/$name" 2>&1 | tail -n 12); then
		status=1
	fi
done
exit $status
