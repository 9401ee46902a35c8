# One wording for option errors in every subcommand (src/cli/cli.c): unknown
# options, missing values, values given to flags and bad numbers exit 2 with
# "sprov CMD: ... (see 'sprov CMD --help')" on one line, and change nothing.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
unset SPROV_STORE
mkdir "$T/w" && cd "$T/w"
"$SPROV" ca init ca >/dev/null

# usage WHAT MESSAGE ARGS...: `sprov ARGS` exits 2 with exactly
# "sprov WHAT: MESSAGE (see 'sprov WHAT --help')", no stdout, no new file.
usage() {
	local what=$1 msg=$2 h; shift 2
	h=$(tree_hash .)
	expect_rc 2 "$SPROV" "$@"
	[ "$ERR" = "sprov $what: $msg (see 'sprov $what --help')" ] ||
		fail "'$*': got '$ERR', want 'sprov $what: $msg (see 'sprov $what --help')'"
	[ -z "$OUT" ] || fail "'$*' printed on stdout: $OUT"
	[ "$(tree_hash .)" = "$h" ] || fail "'$*' changed files"
}

note "unknown options"
usage "db devices list" "unknown option '--foo'" db devices list --foo
usage "db devices list" "unknown option '--foo'" db devices list --foo=bar
usage "db init" "unknown option '-x'" db init -x
usage "ca sign" "unknown option '--bogus'" ca sign ca x.csr --bogus
usage "ca issue" "unknown option '-z'" ca issue ca -z
usage "req" "unknown option '--bogus'" req --cn a.example.com --bogus
usage "device resync" "unknown option '--nope'" device resync dev --nope
usage "fleet" "unknown option '--nope'" fleet --nope

note "missing values"
usage "db devices add" "option '--serial' needs a value" db devices add 000e08000001 --serial
usage "db params list" "option '--store' needs a value" db params list --default --store
usage "ca sign" "option '--days' needs a value" ca sign ca x.csr --days
usage "ca sign" "option '-o' needs a value" ca sign ca x.csr -o
usage "device run" "option '--rounds' needs a value" device run dev --rounds
usage "serve" "option '--listen' needs a value" serve --listen

note "a value for a flag"
usage "db devices list" "option '--json' takes no value" db devices list --json=yes
usage "ca list" "option '--revoked' takes no value" ca list ca --revoked=1

note "bad numbers"
usage "ca sign" "--days: 'x' is not a number" ca sign ca x.csr --days x
usage "ca issue" "--days: 0 is out of range (1 to 36500)" ca issue ca --mac 000e08000001 --out o --days 0
usage "ca crl" "--next-update-days: '1d' is not a number" ca crl ca --ca device --next-update-days 1d
usage "device run" "--time-scale: empty number" device run dev --time-scale=
usage "fleet" "--devices: 'many' is not a number" fleet --devices many
usage "fleet" "--rate: 'fast' is not a number in [0.001, 1e+07]" fleet --rate fast

note "--help still prints help and exits 0"
for c in "db devices list" "ca sign" "req" "device run" "fleet"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" $c --help
	expect_out_contains "usage: sprov $c"
done
echo "ok ($_TESTS_RUN checks)"
