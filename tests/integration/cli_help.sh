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
# sections TEXT: the sections of a --help into SECT[heading] (the heading
# without ':' or a parenthesis), and its examples into EXS, one a line,
# a line ending in a backslash joined with the next.  Plain bash: this runs
# for every command.
declare -A SECT
sections() {
	local line head="" ex=""
	SECT=()
	EXS=""
	while IFS= read -r line; do
		if [[ "$line" =~ ^([A-Z][A-Za-z ]*[a-z])( \(.*\))?:$ ]]; then
			head=${BASH_REMATCH[1]}
			SECT[$head]=""
			continue
		fi
		[ -n "$line" ] || { head=""; continue; }
		[ -z "$head" ] || SECT[$head]+="$line"$'\n'
		if [ "$head" = Examples ]; then
			line=${line#"${line%%[! ]*}"}
			if [[ "$line" == *\\ ]]; then
				ex+="${line%\\}"
			else
				EXS+="$ex$line"$'\n'
				ex=""
			fi
		fi
	done <<<"$1"
}
# walk WORDS...: check `sprov WORDS --help`, then the commands it lists.
WALKED=()
declare -A EXAMPLES
walk() {
	local words=("$@") w="$*" text st o n described=" "
	text=$(help_text "${words[@]}")
	WALKED+=("$w")
	[[ "$text" == "usage: sprov${w:+ }$w "* ]] || fail "'sprov $w --help' starts: ${text%%$'\n'*}"
	sections "$text"
	[ -n "$EXS" ] || fail "'sprov $w --help' has no Examples"
	EXAMPLES["=$w"]=$EXS
	while IFS= read -r o; do
		[[ "$o" == *"sprov $w"* || "$o" == *"sprov ${words[0]:-} help "* ||
		   "$o" == *"sprov help "* || -z "$w" ]] ||
			fail "an example of 'sprov $w' runs something else: $o"
	done <<<"${EXS%$'\n'}"
	st=${SECT[Exit status]:-}
	for n in 0 1 2; do
		[[ "$st" =~ (^|$'\n')"  $n  "[a-z] ]] || fail "'sprov $w --help': no exit status $n: $st"
		[[ ! "$st" =~ "  $n  ".*$'\n'"  $n  " ]] || fail "'sprov $w --help' names exit status $n twice: $st"
	done
	if [ -n "${SECT[Commands]:-}" ]; then
		local subs=()
		while read -r o _; do [ -z "$o" ] || subs+=("$o"); done <<<"${SECT[Commands]}"
		for o in "${subs[@]}"; do walk "${words[@]}" "$o"; done
		return
	fi
	[ -n "${SECT[Options]:-}" ] || fail "'sprov $w --help' has no Options"
	while IFS= read -r o; do
		[[ "$o" =~ ^\ \ (-[a-z],\ )?(--[a-z0-9-]+)(\ |$) ]] && described+="${BASH_REMATCH[2]} "
	done <<<"${SECT[Options]}"
	for o in $(help_opts "${words[@]}"); do
		[ "$o" = --help ] || [[ "$described" == *" $o "* ]] ||
			fail "'sprov $w --help' names $o but does not describe it under Options"
	done
}
walk
[ ${#WALKED[@]} -ge 35 ] || fail "walked only ${#WALKED[@]} commands: ${WALKED[*]}"
in_list() { # WORD LIST...: is WORD one of LIST?
	local w=$1 x
	shift
	for x in "$@"; do [ "$x" != "$w" ] || return 0; done
	return 1
}
for c in "${PKG_HELP_CMDS[@]}" "${PKG_HELP_GROUPS[@]}"; do
	in_list "$c" "${WALKED[@]}" || fail "'sprov $c' is not reachable from 'sprov --help'"
done
for c in "${WALKED[@]}"; do
	in_list "$c" "${PKG_HELP_CMDS[@]}" "${PKG_HELP_GROUPS[@]}" ||
		fail "'sprov $c' is not in PKG_HELP_CMDS or PKG_HELP_GROUPS (pkg_lib.bash): its man page goes unchecked"
done
echo "-- ${#WALKED[@]} commands walked"

note "the walk can fail: a help without Examples, an exit status or an option line"
# fake_walk HELP-TEXT [WANT]: walk a fake `sprov x` that prints HELP-TEXT;
# it must fail saying WANT, or pass without WANT.
fake_walk() {
	printf '#!/bin/sh\ncat <<"EOF"\n%s\nEOF\n' "$1" >"$T/fake"
	chmod +x "$T/fake"
	rm -rf "$T/.help"
	if (SPROV="$T/fake" walk x) >"$T/fake.out" 2>&1; then echo ok >"$T/fake.out"; fi
	rm -rf "$T/.help"
	local flag=-qF
	[ -n "${2:-}" ] || flag=-qx
	grep "$flag" -- "${2:-ok}" "$T/fake.out" ||
		fail "walking a fake help: want '${2:-ok}', got: $(cat "$T/fake.out")"
}
good=$'usage: sprov x [--y N]\n\nX.\n\nOptions:\n  --y N  why\n\nExamples:\n  sprov x --y 1 \\\n      --y 2\n\nExit status:\n  0  a\n  1  b\n  2  c'
fake_walk "$good"
fake_walk "${good/Examples:/Example:}" "has no Examples"
fake_walk "${good/  1  b/}" "no exit status 1"
fake_walk "${good/  2  c/  2  c$'\n'  2  d}" "names exit status 2 twice"
fake_walk "${good/  --y N  why/  why}" "names --y but does not describe it"
fake_walk "${good/sprov x --y 1/sprov y}" "runs something else"
fake_walk "${good/Options:/Usage:}" "has no Options"

note "the examples work, run in order in an empty directory"
# Each command's examples, in the order a vendor and then a provider would
# run them.  Not run (they need a running server): device resync, upgrade, run,
# fleet, and serve without --check-config.
# ca crl after db init: its --publish examples need a store.
RUN_ORDER=("" "req" "ca init" "ca" "ca sign" "ca sign-firmware" "ca issue" "ca revoke" "ca list"
	"ca policy" "ca set" "db init" "ca crl" "db" "db devices import" "db devices add" "db devices"
	"db devices list" "db devices show" "db devices disable" "db devices enable"
	"db devices rm" "db devices export" "db params set" "db params" "db params list"
	"db params unset" "db import" "db dump" "db restore" "db migrate"
	"db firmware" "db firmware add" "db firmware list" "db firmware rm" "rollout"
	"rollout create" "rollout status" "rollout list" "rollout pause" "rollout resume"
	"rollout rollback" "rollout tick" "db audit" "db audit list" "db audit verify"
	"admin" "admin token" "admin token add" "admin token list" "admin token revoke"
	"admin login-url" "serve"
	"device init" "device" "device rule"
	"device check-cert")
NOT_RUN=("device resync" "device upgrade" "device run" "fleet")
for c in "${WALKED[@]}"; do
	in_list "$c" "${RUN_ORDER[@]}" "${NOT_RUN[@]}" ||
		fail "the examples of 'sprov $c' are neither run nor listed as not run here"
done
E="$T/examples"
mkdir -p "$E/profiles"
# The inputs the examples name (the README's quick reference makes the same).
printf '000e08aabbcc,88012BA01234,SPA2102\n000e08aabbcd,88012BA01235,SPA2102\n' >"$E/devices.csv"
printf 'an image\n' >"$E/spa962-7.6.2.bin"
printf '<flat-profile>\n<Resync_Periodic>3600</Resync_Periodic>\n</flat-profile>\n' >"$E/profiles/_defaults.xml"
printf '<flat-profile>\n<User_ID_1_>1001</User_ID_1_>\n</flat-profile>\n' >"$E/profiles/000e08aabbcc.xml"
# Signed firmware images and their root (db firmware add, rollout create).
openssl ecparam -name prime256v1 -genkey -noout -out "$T/fw.key" 2>/dev/null
openssl req -new -x509 -key "$T/fw.key" -subj /CN=fw -days 2 -out "$E/firmware-ca.crt" 2>/dev/null
head -c 1000 /dev/urandom >"$T/fw.bin"
for v in 2.0.1 2.0.2; do
	bash "$SPROV_SRCDIR/tests/lib/mkfw.sh" build "$T/fw.key" "$T/fw.bin" SPA-962 $v "$E/SPA-962-$v.sfw"
done
sprov() { "$SPROV" "$@"; }
export -f sprov
# run_example COMMAND EXAMPLE: run it in $E as a user would type it.
run_example() {
	(cd "$E" && unset SPROV_STORE && bash -o pipefail -c "$2") >"$T/ex.out" 2>"$T/ex.err" ||
		fail "the example of 'sprov $1' failed: $2: $(cat "$T/ex.err")"
}
ran=0
for c in "${RUN_ORDER[@]}"; do
	while IFS= read -r ex; do
		[ "$c" != serve ] || [[ "$ex" == *--check-config* ]] || continue
		run_example "$c" "$ex"
		ran=$((ran + 1))
	done <<<"${EXAMPLES["=$c"]%$'\n'}"
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
(cd "$E" && unset SPROV_STORE && "$SPROV" db params list --device 000e08aabbcc) >"$T/p.out"
grep -q '^Password_1_ .* s3cret$' "$T/p.out" || fail "the --stdin example: $(cat "$T/p.out")"
grep -q '^User_ID_1_ .* 1001$' "$T/p.out" || fail "the db import example: $(cat "$T/p.out")"
(cd "$E" && "$SPROV" ca list vendor/ --revoked) | grep -q 000e08aabbcd || fail "the revoke example"

note "an example that fails is reported"
in_subshell() { ("$@"); }
expect_rc 1 in_subshell run_example "ca init" "sprov ca init vendor/ --org x"
expect_err_contains "FAIL: the example of 'sprov ca init' failed: sprov ca init vendor/ --org x: sprov ca init: "

note "ca init DIR/ names DIR/server-ca.crt"
expect_rc 0 "$SPROV" ca init "$T/vendor/" --org Test
expect_out_contains "  $T/vendor/server-ca.crt  server CA"
expect_out_contains "  $T/vendor/device-ca.crt  device CA"
case "$OUT" in *//*) fail "a doubled slash: $OUT" ;; esac
finish
