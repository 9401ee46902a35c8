#!/usr/bin/env bash
# The disk fills during a bulk issue: the bundles are written by a writer
# thread (one chunk behind the key and certificate making), and its error
# must end the run with a one-line message naming the file, exit 1, and
# leave only what a rerun resumes from: no bundle under a final name that
# is incomplete, nothing marked delivered that is not on disk.  After the
# space comes back, the same command completes the batch with every
# invariant of ca_invariants.py (as after a SIGKILL, ca_crash.sh).
# OUTDIR is a small tmpfs (mounting needs CAP_SYS_ADMIN: without it the test
# is skipped, except in CI, where it must run).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"
N=800
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=600
"$SPROV" ca init ca >/dev/null
{ echo "mac,serial,product"; for i in $(seq 1 "$N"); do
	printf '00:0e:09:%02x:%02x:%02x,SN%06d,SPA-962\n' $((i >> 16)) $(((i >> 8) & 255)) $((i & 255)) "$i"
done; } > devs.csv
tail -n +2 devs.csv | cut -d, -f1 | tr -d : > macs.txt

mkdir out
if ! mount -t tmpfs -o size=3m,mode=0755 sprov-test out 2>/dev/null; then
	[ -n "${CI:-}" ] && fail "cannot mount a tmpfs (CI must run this test)"
	note "SKIP: cannot mount a tmpfs here"
	exit 77
fi
MNT="$T/w/out"
trap '_rc=$?; umount "$MNT" 2>/dev/null; (exit $_rc); _cleanup' EXIT

note "a 3 MiB OUTDIR fills in the second chunk (8 KiB a bundle on tmpfs, 256 a chunk): exit 1, the file named"
expect_rc 1 "$SPROV" ca issue ca --csv devs.csv --out out
expect_err_contains "No space left on device"
msg=$(grep -v '^progress:' <<<"$ERR")
[ "$(wc -l <<<"$msg")" = 1 ] || fail "not one line: $msg"
grep -Eq "^sprov ca issue: .*/out/.*/client\.(crt|key): write: No space left on device$" <<<"$msg" ||
	fail "the message names no file: $msg"
have=$(find out -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' | wc -l)
[ "$have" -gt 0 ] && [ "$have" -lt "$N" ] || fail "$have bundles: the disk did not fill mid-run"
note "$have of $N bundles in place when the disk filled"
# Every bundle under a final name is whole, its key 0600, its certificate
# the database's: what ca_invariants.py says of the bundles in place, less
# what a dead run may leave (its temporary directories, rows committed
# before their bundle, bundles placed before their row was marked).
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db \
	<(find out -mindepth 1 -maxdepth 1 -name '[0-9a-f]*' -printf '%f\n') out 2>inv.err >/dev/null || true
if grep -E 'incomplete bundle|does not parse|not 0600|differs from|not a whole PEM|two bundles|not in the database|has [02-9] bundles' inv.err; then
	fail "a bundle in place is broken: $(head -3 inv.err)"
fi
delivered=$(sqlite3 ca/ca.db "select count(*) from certs where ca='device' and delivered=1")
[ "$delivered" -le "$have" ] || fail "$delivered rows delivered, $have bundles on disk"

note "space back: the same command completes the batch"
mount -o remount,size=64m out || fail "remount"
expect_rc 0 "$SPROV" ca issue ca --csv devs.csv --out out
python3 "$SPROV_SRCDIR/tests/integration/ca_invariants.py" ca/ca.db macs.txt out ||
	fail "invariants broken after the disk filled"
[ -z "$(ls -A out | grep '^\.')" ] || fail "leftovers in out: $(ls -A out | grep '^\.')"
[ "$(sqlite3 ca/ca.db 'pragma integrity_check')" = ok ] || fail "database integrity"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
