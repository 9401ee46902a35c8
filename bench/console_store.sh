#!/bin/bash
# bench/console_store.sh: the console records at scale (issue 14, "Scale";
# `make bench`).  Not a test: figures are noisy.
#
#   bash bench/console_store.sh BUILD_DIR
#
# 1. The inventory's typical filtered page (status ok, q a product prefix,
#    sort last-seen newest first, 3rd page of 50) on SQLite stores of
#    1 000 and 100 000 devices: its median server time on both and the
#    ratio 100k/1k (the issue's target: at most 3x).
# 2. sp_store_contact_batch of 10 000 contacts of known devices, SQLite on
#    disk (what the console records add to a storm's flush; compare with
#    the same tool built before schema 7, bench/RESULTS.md).
# Environment: CONSOLE_BENCH_BIG (devices of the large store, 100000).
set -euo pipefail

B=${1:?usage: bench/console_store.sh BUILD_DIR}
TOOL=$B/bench_console_store
[ -x "$TOOL" ] || { echo "bench: no $TOOL" >&2; exit 2; }
BIG=${CONSOLE_BENCH_BIG:-100000}
T=$(mktemp -d "${TMPDIR:-/tmp}/sprov-console-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

us() { sed -n 's/.*: \([0-9]*\) us median.*/\1/p'; }
small=$("$TOOL" inventory "$T" 1000)
echo "$small"
rm -f "$T"/*
big=$("$TOOL" inventory "$T" "$BIG")
echo "$big"
rm -f "$T"/*
a=$(echo "$small" | us) b=$(echo "$big" | us)
awk -v a="$a" -v b="$b" -v n="$BIG" 'BEGIN {
	printf "inventory page: %d devices / 1000 devices = %.2fx (target <= 3x)\n",
	    n, b / a }'
"$TOOL" contacts "$T" 10000 10000 5
