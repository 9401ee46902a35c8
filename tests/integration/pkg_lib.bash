# Shared by the packaging tests (pkg_*.sh, man_*.sh, systemd_units.sh).

# The subcommands whose --help the man pages and the completion must match,
# as the words after `sprov`.
PKG_HELP_CMDS=(
	"ca init" "ca sign" "ca sign-firmware" "ca issue" "ca revoke" "ca crl" "ca list" "ca policy" "ca set"
	"req"
	"db init" "db devices add" "db devices list" "db devices show" "db devices rm"
	"db devices enable" "db devices disable" "db devices import" "db devices export"
	"db params set" "db params unset" "db params list" "db import" "db dump" "db restore"
	"db migrate" "db firmware add" "db firmware list" "db firmware rm"
	"db audit list" "db audit verify"
	"rollout create" "rollout status" "rollout list" "rollout pause" "rollout resume"
	"rollout rollback" "rollout tick"
	"admin token add" "admin token list" "admin token revoke" "admin login-url"
	"device init" "device resync" "device upgrade" "device rule" "device check-cert" "device run"
	"fleet" "serve"
)

# help_text WORDS...: the output of `sprov WORDS --help`, run once per test
# (kept in $T/.help/); a command whose --help fails fails the test.
help_text() {
	local k="$T/.help/_${*// /_}"
	if [ ! -f "$k" ]; then
		mkdir -p "$T/.help"
		"$SPROV" "$@" --help >"$k.tmp" || fail "'sprov $* --help' exited $?"
		mv "$k.tmp" "$k"
	fi
	cat "$k"
}

# help_opts WORDS...: the long options `sprov WORDS --help` names, one a line.
# A few help texts name another command's option in prose; those are not
# this command's and are left out (word:option).
PKG_HELP_PROSE=("fleet:--csv" "db devices import:--csv")
help_opts() {
	local words="$*" o p skip
	# shellcheck disable=SC2086
	for o in $(help_text $words | grep -o -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u); do
		skip=0
		for p in "${PKG_HELP_PROSE[@]}"; do
			[ "$p" = "$words:$o" ] && skip=1
		done
		[ $skip = 1 ] || echo "$o"
	done
}

# The groups: commands whose --help lists subcommands ("Commands:").
PKG_HELP_GROUPS=("" "ca" "db" "db devices" "db params" "db firmware" "db audit" "device" "rollout" "admin" "admin token")
in_groups() {
	local g
	for g in "${PKG_HELP_GROUPS[@]}"; do [ "$g" != "$1" ] || return 0; done
	return 1
}

# help_section WORDS... -- HEADING: the lines of one section of `sprov WORDS
# --help`, from the line "HEADING:" (or "HEADING (...):") to a blank line.
help_section() {
	local words=() head
	while [ "$1" != -- ]; do words+=("$1"); shift; done
	head=$2
	help_text "${words[@]}" | awk -v h="$head" '
		!on && !done && ($0 == h ":" || index($0, h " (") == 1 && /\):$/) { on = 1; next }
		on && $0 == "" { on = 0; done = 1 }
		on { print }'
}

# help_examples WORDS...: the commands of the Examples section, one a line,
# a line ending in a backslash joined with the next.
help_examples() {
	help_section "$@" -- Examples | awk '
		{ sub(/^ +/, ""); line = line $0 }
		/\\$/ { sub(/ *\\$/, " ", line); next }
		{ print line; line = "" }'
}

# Options the program accepts (getopt tables in src/cli) but its --help does
# not name (word:option).  The man pages and the completion follow the
# program; these are reported as gaps in --help.
PKG_HELP_GAPS=()
# real_opts WORDS...: help_opts plus the gaps: what the command accepts.
real_opts() {
	local p
	{
		help_opts "$@"
		for p in "${PKG_HELP_GAPS[@]}"; do
			[ "${p%%:*}" = "$*" ] && echo "${p#*:}"
		done
	} | LC_ALL=C sort -u
}

# install_root DIR [PREFIX]: cmake --install of the test build into DIR.
install_root() {
	DESTDIR="$1" cmake --install "$SPROV_BUILDDIR" --prefix "${2:-/usr}" >"$T/.install.log" 2>&1 ||
		fail "cmake --install failed: $(cat "$T/.install.log")"
}

# tree_modes DIR: "mode type path" of everything under DIR, sorted.
tree_modes() {
	(cd "$1" && find . -mindepth 1 -printf '%m %y %P\n' | LC_ALL=C sort -k3)
}
