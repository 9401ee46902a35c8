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
#    The same on a private PostgreSQL 15 (fsync off, as in the tests;
#    CONSOLE_BENCH_PG=0 skips it; its large store, CONSOLE_BENCH_PG_BIG
#    devices, default CONSOLE_BENCH_BIG, takes minutes to fill: one
#    round trip per statement of each device added).
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
ratio() {
	awk -v a="$1" -v b="$2" -v n="$BIG" -v be="$3" 'BEGIN {
		printf "%s inventory page: %d devices / 1000 devices = %.2fx (target <= 3x)\n",
		    be, n, b / a }'
}
small=$("$TOOL" inventory "$T" 1000)
echo "$small"
rm -f "$T"/*
big=$("$TOOL" inventory "$T" "$BIG")
echo "$big"
rm -f "$T"/*
ratio "$(echo "$small" | us)" "$(echo "$big" | us)" SQLite
"$TOOL" contacts "$T" 10000 10000 5

# The same inventory figures on a private PostgreSQL (tests/lib/pg.sh).
if [ "${CONSOLE_BENCH_PG:-1}" = 1 ] && [ -x /usr/lib/postgresql/15/bin/initdb ]; then
	HERE=$(cd "$(dirname "$0")" && pwd)
	bash "$HERE/../tests/lib/pg.sh" start "$T/pg"
	trap 'bash "$HERE/../tests/lib/pg.sh" stop "$T/pg"; rm -rf "$T"' EXIT
	base=$(sed -n 1p "$T/pg")
	psql -q -X "$base/postgres" -c "CREATE DATABASE small" -c "CREATE DATABASE big"
	small=$("$TOOL" inventory "$base/small" 1000)
	echo "$small"
	BIG=${CONSOLE_BENCH_PG_BIG:-$BIG}
	big=$("$TOOL" inventory "$base/big" "$BIG")
	echo "$big"
	ratio "$(echo "$small" | us)" "$(echo "$big" | us)" PostgreSQL
fi
