#!/bin/bash
# --help texts: `sprov help A B C` is `sprov A B C --help`; the options the
# part-1 review found undescribed are described (an indented line starting
# with the option); `device run` names --rounds; examples and exit status
# where added; `ca init DIR/` prints DIR/server-ca.crt without '//'.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

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
for words in "ca crl" "ca issue" "fleet" "device run"; do
	# shellcheck disable=SC2086
	expect_rc 0 "$SPROV" $words --help
	expect_out_contains "Example: sprov $words "
	expect_out_contains "Exit status: 0 "
done

note "ca init DIR/ names DIR/server-ca.crt"
expect_rc 0 "$SPROV" ca init "$T/vendor/" --org Test
expect_out_contains "  $T/vendor/server-ca.crt  server CA"
expect_out_contains "  $T/vendor/device-ca.crt  device CA"
case "$OUT" in *//*) fail "a doubled slash: $OUT" ;; esac
finish
