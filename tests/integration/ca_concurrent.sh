# Two `sprov ca issue` processes on the same CA at once: different CSVs into
# one OUTDIR, then the same MACs raced into one OUTDIR and into two.  The
# database must stay intact, no serial may repeat, and each MAC ends with
# exactly one valid certificate and one bundle.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"
N=${SPROV_CONC_DEVICES:-1500}
# Under the sanitizers each run is slower, so 500 devices still keep the two
# racing runs overlapping from start to end.
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=${SPROV_CONC_DEVICES:-500}
"$SPROV" ca init ca >/dev/null
mkcsv() { # mkcsv PREFIX FILE: N devices 00:0e:PREFIX:xx:xx:xx
	{ echo "mac,serial,product"; for i in $(seq 1 "$N"); do
		printf '00:0e:%s:%02x:%02x:%02x,SN%s%06d,PAP2T\n' "$1" $((i >> 16)) $(((i >> 8) & 255)) $((i & 255)) "$1" "$i"
	done; } > "$2"
}
mkcsv 0a a.csv
mkcsv 0b b.csv

note "different CSVs, same DIR and OUTDIR, at once"
bg_start "$SPROV" ca issue ca --csv a.csv --out out; pa=$BG_PID
bg_start "$SPROV" ca issue ca --csv b.csv --out out; pb=$BG_PID
wait "$pa" || fail "run A failed"
wait "$pb" || fail "run B failed"
{ tail -n +2 a.csv; tail -n +2 b.csv; } | cut -d, -f1 | tr -d : > macs-ab.txt
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db macs-ab.txt out || fail "invariants (A+B)"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where ca='device'")" = $((2 * N)) ] || fail "row count"
[ "$(sqlite3 ca/ca.db 'pragma integrity_check')" = ok ] || fail "database integrity"

note "the same MACs raced into one OUTDIR: one wins each, the other skips or refuses"
mkcsv 0c c.csv
tail -n +2 c.csv | cut -d, -f1 | tr -d : > macs-c.txt
set +e
"$SPROV" ca issue ca --csv c.csv --out race1 >c1.out 2>c1.err & p1=$!
"$SPROV" ca issue ca --csv c.csv --out race1 >c2.out 2>c2.err & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
set -e
note "exit statuses $r1 $r2"
[ $r1 -le 1 ] && [ $r2 -le 1 ] || fail "unexpected exit: $r1 $r2: $(cat c1.err c2.err)"
# Whatever a loser refused says why (every other stderr line is one of these).
for f in c1.err c2.err; do
	grep -v -e '^progress' -e 'by another sprov process right now' -e 'already' $f > $f.other || true
	[ ! -s $f.other ] || fail "unexpected refusal: $(cat $f.other)"
done
expect_rc 0 "$SPROV" ca issue ca --csv c.csv --out race1
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db macs-c.txt race1 || fail "invariants (same OUTDIR)"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where mac like '000e0c%'")" = "$N" ] || fail "a live run's rows were revoked"

note "the same MACs raced into two OUTDIRs: each MAC is issued once"
mkcsv 0d d.csv
tail -n +2 d.csv | cut -d, -f1 | tr -d : > macs-d.txt
set +e
"$SPROV" ca issue ca --csv d.csv --out raceA >d1.out 2>d1.err & p1=$!
"$SPROV" ca issue ca --csv d.csv --out raceB >d2.out 2>d2.err & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
set -e
note "exit statuses $r1 $r2"
[ $((r1 + r2)) -ge 1 ] || fail "both runs claim success for the same MACs"
mkdir -p raceA raceB
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db macs-d.txt raceA raceB || fail "invariants (two OUTDIRs)"
[ "$(sqlite3 ca/ca.db "select count(*) from certs where mac like '000e0d%' and status='valid'")" = "$N" ] || fail "valid rows"
[ "$(sqlite3 ca/ca.db 'pragma integrity_check')" = ok ] || fail "database integrity"
[ "$(sqlite3 ca/ca.db 'select count(*) - count(distinct serial) from certs')" = 0 ] || fail "duplicate serial"
finish
