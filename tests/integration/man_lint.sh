# The man pages: mandoc finds nothing at -W warning, each has the sections
# the project asks for, and each command's options are exactly those it
# accepts: every long option its --help names is in the page, and every
# option the page lists under that command is in --help (or is one of the
# known --help gaps in pkg_lib.bash, which this test prints).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/pkg_lib.bash"
command -v mandoc >/dev/null || fail "mandoc is missing (scripts/deps.sh installs it)"
M="$SPROV_SRCDIR/man"
PAGES=(sprov.1 sprov-ca.1 sprov-req.1 sprov-db.1 sprov-device.1 sprov-fleet.1 sprov-rollout.1 sprov-admin.1 sprov-serve.8 sprov.conf.5)

note "mandoc -T lint -W warning: nothing to say about any page"
for p in "${PAGES[@]}"; do
	[ -f "$M/$p" ] || fail "no man/$p"
	expect_rc 0 mandoc -T lint -W warning "$M/$p"
	[ -z "$OUT$ERR" ] || fail "mandoc on $p: $OUT $ERR"
done
[ "$(cd "$M" && ls | LC_ALL=C sort | tr '\n' ' ')" = "$(printf '%s\n' "${PAGES[@]}" | LC_ALL=C sort | tr '\n' ' ')" ] ||
	fail "man/ holds other pages than the ones checked: $(ls "$M")"

note "the linter can fail: a page with a bad macro is reported"
sed 's/^\.Sh DESCRIPTION/.Sh DESCRIPTION\n.Xx bogus/' "$M/sprov.1" >"$T/bad.1"
expect_rc 3 mandoc -T lint -W warning "$T/bad.1"
expect_out_contains "unknown macro"

note "sections: NAME DESCRIPTION OPTIONS EXIT STATUS EXAMPLES SEE ALSO in each"
for p in "${PAGES[@]}"; do
	for s in NAME DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		grep -qx "\.Sh $s" "$M/$p" || fail "$p has no section $s"
	done
	# Every page it refers to exists (ours) or is a system page.
	for x in $(grep -o '^\.Xr sprov[a-z.-]* [0-9]' "$M/$p" | awk '{print $2 "." $3}'); do
		[ -f "$M/$x" ] || fail "$p refers to $x, which does not exist"
	done
done
for p in sprov.1 sprov-db.1 sprov-serve.8; do grep -qx '\.Sh ENVIRONMENT' "$M/$p" || fail "$p: no ENVIRONMENT"; done
for p in sprov-ca.1 sprov-req.1 sprov-db.1 sprov-device.1 sprov-serve.8 sprov.conf.5; do
	grep -qx '\.Sh FILES' "$M/$p" || fail "$p: no FILES"
done

# man_opts PAGE [SUBSECTION]: the long options (.Fl -x) listed in PAGE's
# OPTIONS section, or in its subsection ".Ss SUBSECTION" there.
man_opts() {
	awk -v want="$2" '
		/^\.Sh / { inopt = ($0 == ".Sh OPTIONS"); sub_ = ""; next }
		/^\.Ss / { sub_ = substr($0, 5); next }
		inopt && (want == "" || sub_ == want) {
			n = split($0, w, /[ \t]+/)
			for (i = 1; i < n; i++)
				if (w[i] == "Fl" && w[i + 1] ~ /^-[a-z]/) {
					o = w[i + 1]; sub(/[,.;:]$/, "", o); print "-" o
				}
		}' "$1" | LC_ALL=C sort -u
}
page_of() {
	case "$1" in
	ca*) echo sprov-ca.1 ;; db*) echo sprov-db.1 ;; device*) echo sprov-device.1 ;;
	req) echo sprov-req.1 ;; fleet) echo sprov-fleet.1 ;; serve) echo sprov-serve.8 ;;
	rollout*) echo sprov-rollout.1 ;; admin*) echo sprov-admin.1 ;;
	esac
}

note "every command's options: --help and the man page agree"
checked=0
for c in "${PKG_HELP_CMDS[@]}"; do
	p=$(page_of "$c")
	case "$c" in req | fleet | serve) sect="" ;; *) sect="$c" ;; esac
	[ -z "$sect" ] || grep -qx "\.Ss $sect" "$M/$p" || fail "$p has no '.Ss $sect' under OPTIONS"
	man=$(man_opts "$M/$p" "$sect" | grep -vx -- '--help' || true)
	help=$(help_opts $c | grep -vx -- '--help' || true)
	real=$(real_opts $c | grep -vx -- '--help' || true)
	[ -n "$help" ] || fail "'sprov $c --help' names no option: the extraction is broken"
	for o in $help; do
		grep -qx -- "$o" <<<"$man" || fail "$p${sect:+ ($sect)} lacks $o, which 'sprov $c --help' names"
		checked=$((checked + 1))
	done
	for o in $man; do
		grep -qx -- "$o" <<<"$real" || fail "$p${sect:+ ($sect)} lists $o, which 'sprov $c' does not accept"
		grep -qx -- "$o" <<<"$help" || echo "GAP: 'sprov $c --help' does not name $o (the program accepts it; the man page lists it)"
	done
done
[ $checked -ge 130 ] || fail "only $checked options compared: the extraction is broken"
echo "-- $checked options compared"

note "every command's --help has Examples and Exit status; its page has the same"
# man_examples PAGE: the commands of PAGE's EXAMPLES as rendered, one a line,
# a line ending in a backslash joined with the next (as help_examples does).
man_examples() {
	mandoc -T ascii "$1" | col -bx | awk '
		/^[A-Z]/ { on = ($0 == "EXAMPLES"); next }
		on { sub(/^ +/, ""); line = line $0 }
		on && /\\$/ { sub(/ *\\$/, " ", line); next }
		on { print line; line = "" }'
}
man_exit() { mandoc -T ascii "$1" | col -bx | awk '/^[A-Z]/ { on = ($0 == "EXIT STATUS"); next } on'; }
for c in "${PKG_HELP_GROUPS[@]}" "${PKG_HELP_CMDS[@]}"; do
	st=$(help_section $c -- "Exit status")
	for n in 0 1 2; do
		grep -q "^  $n  " <<<"$st" || fail "'sprov $c --help' lacks EXIT STATUS (exit status $n): $st"
	done
	echo "$st" >"$T/exit.$(echo "${c:-top}" | tr ' ' _)"
done
# The exit status most leaves share is the standard; a command that differs
# must be named in its page's EXIT STATUS (req, fleet, serve have a page each).
std=$(cd "$T" && cat exit.ca_init)
own=0
for c in "${PKG_HELP_GROUPS[@]}" "${PKG_HELP_CMDS[@]}"; do
	p=$(page_of "${c:-x}"); p=${p:-sprov.1}
	ex=$(help_examples $c)
	[ -n "$ex" ] || fail "'sprov $c --help' lacks EXAMPLES"
	[ -f "$T/man_ex.$p" ] || man_examples "$M/$p" >"$T/man_ex.$p"
	while IFS= read -r e; do
		grep -qxF -- "$e" "$T/man_ex.$p" || fail "$p: EXAMPLES lacks '$e' of 'sprov $c --help'"
	done <<<"$ex"
	if [ "$(cat "$T/exit.$(echo "${c:-top}" | tr ' ' _)")" != "$std" ] && [ -n "$c" ] &&
	    ! in_groups "$c" && [ "$c" != "${c#* }" ]; then
		man_exit "$M/$p" | grep -qw -- "${c##* }" ||
			fail "$p: EXIT STATUS does not name ${c##* }, whose --help states its own exit status"
		own=$((own + 1))
	fi
done
[ $own -ge 4 ] || fail "only $own commands with their own exit status: the comparison is broken"

note "the example check can fail: a page missing an example is caught"
grep -v '^sprov ca crl vendor/ --ca device$' "$M/sprov-ca.1" >"$T/sprov-ca.1"
man_examples "$T/sprov-ca.1" >"$T/ex.cut"
! grep -qxF -- "sprov ca crl vendor/ --ca device" "$T/ex.cut" || fail "removing an example went unnoticed"
grep -qxF -- "sprov ca issue vendor/ --mac 00:0e:08:aa:bb:cc --serial 88012BA01234 --product SPA2102 --out bundles/" "$T/ex.cut" ||
	fail "a continued example is not joined: $(cat "$T/ex.cut")"

sed '/^\.It Cm check-cert$/d' "$M/sprov-device.1" >"$T/sprov-device-exit.1"
man_exit "$M/sprov-device.1" | grep -qw check-cert || fail "sprov-device.1: EXIT STATUS lacks check-cert"
! man_exit "$T/sprov-device-exit.1" | grep -qw check-cert || fail "removing check-cert from EXIT STATUS went unnoticed"

note "the group pages name every option of the group's own --help"
for c in "" ca db "db devices" "db params" device; do
	p=$(page_of "${c:-x}"); p=${p:-sprov.1}
	for o in $(help_opts $c); do
		grep -q -- "Fl ${o#-}" "$M/$p" || fail "$p lacks $o of 'sprov $c --help'"
	done
done

note "sprov.conf(5): every key, each accepted by the server and named by serve --help"
keys=$(grep -E '^(# )?[a-z-]+ = ' "$SPROV_SRCDIR/etc/sprov.conf" | sed -E 's/^# //; s/ = .*//' | LC_ALL=C sort -u)
doc=$(awk '/^\.Sh OPTIONS/{o=1;next} /^\.Sh /{o=0} o && /^\.It Cm /{print $3}' "$M/sprov.conf.5" | LC_ALL=C sort -u)
[ "$(echo "$keys" | wc -l)" -ge 29 ] || fail "sample config keys: $keys"
[ "$keys" = "$doc" ] || fail "sprov.conf.5 keys differ from etc/sprov.conf: $(diff <(echo "$keys") <(echo "$doc"))"
shelp=$(help_opts serve)
for k in $doc; do
	grep -qx -- "--$k" <<<"$shelp" || fail "sprov.conf.5 documents '$k', which serve --help does not name"
done

note "the man-page check can fail: a page missing an option is caught"
sed '/^\.It Fl -no-report$/d' "$M/sprov-device.1" >"$T/sprov-device.1"
man=$(man_opts "$T/sprov-device.1" "device resync")
! grep -qx -- --no-report <<<"$man" || fail "removing --no-report from the page went unnoticed"
grep -qx -- --no-report <<<"$(help_opts device resync)" || fail "device resync --help lost --no-report"

note "pages render"
for p in "${PAGES[@]}"; do
	mandoc -T utf8 "$M/$p" >"$T/r.txt" || fail "mandoc -T utf8 $p"
	[ "$(wc -l <"$T/r.txt")" -ge 25 ] || fail "$p renders to $(wc -l <"$T/r.txt") lines"
done
echo "man_lint: OK"
