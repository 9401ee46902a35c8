#!/bin/bash
# --help texts: `sprov help A B C` is `sprov A B C --help`; every command
# reachable from `sprov --help` has a usage line, a description line for
# each option, Examples and an Exit status with the codes 0, 1 and 2; the
# examples work (run offline in a temporary directory, in the order a
# vendor and a provider would run them); `device run` names --rounds;
# `ca init DIR/` prints DIR/server-ca.crt without '//'.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/pkg_lib.bash"

note "sprov help WORDS... prints the help of that very command"
for words in "db params set" "db params" "db devices import" "ca issue" "serve" "device run"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" help $words
	help_out=$OUT
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" $words --help
	[ "$help_out" = "$OUT" ] || fail "'sprov help $words' differs from 'sprov $words --help'"
done
expect_rc 0 "$SPROV" help db params set
expect_out_contains "usage: sprov db params set LEVEL"
expect_rc 2 "$SPROV" help nope
[ "$ERR" = "sprov: unknown command 'nope' (see 'sprov --help')" ] || fail "help nope: $ERR"
[ -z "$OUT" ] || fail "help nope printed: $OUT"
expect_rc 2 "$SPROV" help db nope
[ "$ERR" = "sprov db: unknown command 'nope' (see 'sprov db --help')" ] || fail "help db nope: $ERR"

# described WORDS -- OPTS...: each option starts an indented description line.
described() {
	local words=() o
	while [ "$1" != -- ]; do words+=("$1"); shift; done
	shift
	expect_rc 0 "$SPROV" "${words[@]}" --help
	for o in "$@"; do
		grep -Eq -- "^  (-[a-z], )?$o( |$)" <<<"$OUT" ||
			fail "'sprov ${words[*]} --help' does not describe $o"
	done
}
note "the options each command's help was missing are described"
described ca crl -- --ca --out --next-update-days
described ca issue -- --mac --serial --product --csv --subject-style --reissue --out --days --key-type
described fleet -- --bundles --rule --dns-server --devices --seed --storm --rate --rounds
described device run -- --dns-server --time-scale --rounds --syslog
for c in set unset list; do
	expect_rc 0 "$SPROV" db params $c --help
	expect_out_contains "--default (or --defaults)"
done

note "device run's usage line names --rounds; examples and exit status"
expect_rc 0 "$SPROV" device run --help
sed -n '1,/^$/p' <<<"$OUT" | grep -q -- '\[--rounds N\]' || fail "device run usage: $OUT"

note "every command: usage, options described, Examples, Exit status"
# walk WORDS...: check `sprov WORDS --help`, then the commands it lists.
WALKED=()
walk() {
	local words=("$@") sub opts ex st o n
	OUT=$(help_text "${words[@]}")
	WALKED+=("${words[*]}")
	[[ "$OUT" == "usage: sprov${1:+ }${words[*]} "* ]] || fail "'sprov ${words[*]} --help' starts: ${OUT%%$'\n'*}"
	ex=$(help_examples "${words[@]}")
	[ -n "$ex" ] || fail "'sprov ${words[*]} --help' has no Examples"
	while IFS= read -r o; do
		[[ "$o" == *"sprov ${words[*]}"* || "$o" == *"sprov help"* || -z "${words[*]}" ]] ||
		[[ "$o" == "sprov ${words[0]} help "* ]] || [[ "$o" == "sprov ${words[0]} ${words[1]:-} "* ]] ||
			fail "an example of 'sprov ${words[*]}' runs something else: $o"
	done <<<"$ex"
	st=$(help_section "${words[@]}" -- "Exit status")
	for n in 0 1 2; do
		grep -q "^  $n  [a-z]" <<<"$st" || fail "'sprov ${words[*]} --help': no exit status $n: $st"
	done
	! grep -E '^  [0-9]  ' <<<"$st" | cut -c3 | uniq -d | grep -q . ||
		fail "'sprov ${words[*]} --help' names an exit status twice: $st"
	sub=$(help_section "${words[@]}" -- Commands | awk '{print $1}')
	if [ -n "$sub" ]; then
		for o in $sub; do walk "${words[@]}" "$o"; done
		return
	fi
	opts=$(help_section "${words[@]}" -- Options)
	[ -n "$opts" ] || fail "'sprov ${words[*]} --help' has no Options"
	for o in $(help_opts "${words[@]}" | grep -vx -- --help); do
		grep -Eq -- "^  (-[a-z], )?$o( |$)" <<<"$opts" ||
			fail "'sprov ${words[*]} --help' names $o but does not describe it under Options"
	done
}
walk
[ ${#WALKED[@]} -ge 35 ] || fail "walked only ${#WALKED[@]} commands: ${WALKED[*]}"
for c in "${PKG_HELP_CMDS[@]}" "${PKG_HELP_GROUPS[@]}"; do
	printf '%s\n' "${WALKED[@]}" | grep -qx -- "$c" || fail "'sprov $c' is not reachable from 'sprov --help'"
done
for c in "${WALKED[@]}"; do
	printf '%s\n' "${PKG_HELP_CMDS[@]}" "${PKG_HELP_GROUPS[@]}" | grep -qx -- "$c" ||
		fail "'sprov $c' is not in PKG_HELP_CMDS or PKG_HELP_GROUPS (pkg_lib.bash): its man page goes unchecked"
done
echo "-- ${#WALKED[@]} commands walked"

note "the walk can fail: a help without Examples, an exit status or an option line"
fake_walk() { # HELP-TEXT: walk a fake `sprov x` that prints it
	printf '#!/bin/sh\ncat <<"EOF"\n%s\nEOF\n' "$1" >"$T/fake"
	chmod +x "$T/fake"
	rm -rf "$T/.help"
	(SPROV="$T/fake" walk x) >"$T/fake.out" 2>&1 && fail "the walk passed: $1"
	rm -rf "$T/.help"
}
good=$'usage: sprov x [--y N]\n\nX.\n\nOptions:\n  --y N  why\n\nExamples:\n  sprov x --y 1\n\nExit status:\n  0  a\n  1  b\n  2  c'
(SPROV="$T/fake" ; printf '#!/bin/sh\ncat <<"EOF"\n%s\nEOF\n' "$good" >"$T/fake"; chmod +x "$T/fake"
 rm -rf "$T/.help"; SPROV="$T/fake" walk x) || fail "the walk refused a good help"
rm -rf "$T/.help"
fake_walk "${good/Examples:/Example:}"; grep -q "has no Examples" "$T/fake.out" || fail "$(cat "$T/fake.out")"
fake_walk "${good/  1  b/}"; grep -q "no exit status 1" "$T/fake.out" || fail "$(cat "$T/fake.out")"
fake_walk "${good/  --y N  why/  why}"; grep -q "names --y but does not describe it" "$T/fake.out" || fail "$(cat "$T/fake.out")"
fake_walk "${good/sprov x --y 1/sprov y}"; grep -q "runs something else" "$T/fake.out" || fail "$(cat "$T/fake.out")"

note "the examples work, run in order in an empty directory"
# Each command's examples, in the order a vendor and then a provider would
# run them.  Not run (they need a running server): device resync, device run,
# fleet, and serve without --check-config.
RUN_ORDER=("" "req" "ca init" "ca" "ca sign" "ca issue" "ca revoke" "ca crl" "ca list"
	"ca policy" "ca set" "db init" "db" "db devices import" "db devices add" "db devices"
	"db devices list" "db devices show" "db devices disable" "db devices enable"
	"db devices rm" "db devices export" "db params set" "db params" "db params list"
	"db params unset" "db import" "serve" "device init" "device" "device rule"
	"device check-cert")
NOT_RUN=("device resync" "device run" "fleet")
for c in "${WALKED[@]}"; do
	printf '%s\n' "${RUN_ORDER[@]}" "${NOT_RUN[@]}" | grep -qx -- "$c" ||
		fail "the examples of 'sprov $c' are neither run nor listed as not run here"
done
E="$T/examples"
mkdir -p "$E/bin" "$E/profiles"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$SPROV" >"$E/bin/sprov"
chmod +x "$E/bin/sprov"
# The inputs the examples name (the README's quick reference makes the same).
printf '000e08aabbcc,88012BA01234,SPA2102\n000e08aabbcd,88012BA01235,SPA2102\n' >"$E/devices.csv"
printf '<flat-profile>\n<Resync_Periodic>3600</Resync_Periodic>\n</flat-profile>\n' >"$E/profiles/_defaults.xml"
printf '<flat-profile>\n<User_ID_1_>1001</User_ID_1_>\n</flat-profile>\n' >"$E/profiles/000e08aabbcc.xml"
ran=0
for c in "${RUN_ORDER[@]}"; do
	# shellcheck disable=SC2086
	while IFS= read -r ex; do
		[ "$c" != serve ] || [[ "$ex" == *--check-config* ]] || continue
		(cd "$E" && env -u SPROV_STORE PATH="$E/bin:$PATH" bash -o pipefail -c "$ex") \
			>"$T/ex.out" 2>"$T/ex.err" ||
			fail "the example of 'sprov $c' failed: $ex: $(cat "$T/ex.err")"
		ran=$((ran + 1))
	done < <(help_examples $c)
done
[ $ran -ge 40 ] || fail "only $ran examples ran"
echo "-- $ran examples ran"
# What they made: the files and rows the later examples and a reader expect.
for f in privkey.pem provserver.csr provserver.crt pv.crt vendor/device-ca.crl \
	server-ca.crl bundles/000e08aabbcd/client.crt dev/device.conf; do
	[ -s "$E/$f" ] || fail "the examples did not make $f"
done
[ "$(cat "$E/export.csv")" = "mac,serial,product,group
000e08aabbcc,88012BA01234,SPA2102,
000e08aabbcd,88012BA01235,SPA2102," ] || fail "export.csv: $(cat "$E/export.csv")"
(cd "$E" && env -u SPROV_STORE "$SPROV" db params list --device 000e08aabbcc) >"$T/p.out"
grep -q '^Password_1_ .* s3cret$' "$T/p.out" || fail "the --stdin example: $(cat "$T/p.out")"
grep -q '^User_ID_1_ .* 1001$' "$T/p.out" || fail "the db import example: $(cat "$T/p.out")"
(cd "$E" && "$SPROV" ca list vendor/ --revoked) | grep -q 000e08aabbcd || fail "the revoke example"

note "an example that fails is reported"
expect_rc 1 bash -c "cd '$E' && PATH='$E/bin:\$PATH' sprov ca init vendor/ --org x"

note "ca init DIR/ names DIR/server-ca.crt"
expect_rc 0 "$SPROV" ca init "$T/vendor/" --org Test
expect_out_contains "  $T/vendor/server-ca.crt  server CA"
expect_out_contains "  $T/vendor/device-ca.crt  device CA"
case "$OUT" in *//*) fail "a doubled slash: $OUT" ;; esac
finish
