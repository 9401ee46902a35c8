# Crash safety: SIGKILL a bulk issue at random moments, rerun the same
# command, and check every invariant (ca_invariants.py): the batch completes,
# no serial is reused or duplicated, every bundle on disk is in the database,
# no half-written file sits under a final name.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"
N=${SPROV_CRASH_DEVICES:-3000}
"$SPROV" ca init ca >/dev/null
{ echo "mac,serial,product"; for i in $(seq 1 "$N"); do
	printf '00:0e:08:%02x:%02x:%02x,SN%06d,SPA-962\n' $((i >> 16)) $(((i >> 8) & 255)) $((i & 255)) "$i"
done; } > devs.csv
tail -n +2 devs.csv | cut -d, -f1 | tr -d : > macs.txt

# Time one uninterrupted run of a small batch to aim the kills inside the run.
kills=0
for round in 1 2 3 4; do
	bg_start "$SPROV" ca issue ca --csv devs.csv --out out
	pid=$BG_PID
	# 50..1500 ms: early (first chunks, even before the first commit) to late.
	sleep "$(python3 -c 'import random; print(random.uniform(0.05, 1.5))')"
	if kill -KILL "$pid" 2>/dev/null; then
		kills=$((kills + 1))
		note "round $round: killed after $(ls out 2>/dev/null | wc -l) bundles"
	else
		note "round $round: finished before the kill"
	fi
	wait "$pid" 2>/dev/null || true
done
[ "$kills" -gt 0 ] || note "no kill landed (machine too fast for $N devices?)"

note "the rerun completes the batch and exits 0"
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out out
echo "$OUT" | tail -2
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db macs.txt out ||
	fail "invariants broken after $kills kills"
[ -z "$(ls -A out | grep '^\.')" ] || fail "leftovers in out: $(ls -A out | grep '^\.')"
[ "$(sqlite3 ca/ca.db 'pragma integrity_check')" = ok ] || fail "database integrity"

note "a second rerun skips everything"
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out out
expect_out_contains "issued 0, skipped $N"
finish
