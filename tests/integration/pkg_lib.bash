# Shared by the packaging tests (pkg_*.sh, man_*.sh, systemd_units.sh).

# The subcommands whose --help the man pages and the completion must match,
# as the words after `sprov`.
PKG_HELP_CMDS=(
	"ca init" "ca sign" "ca issue" "ca revoke" "ca crl" "ca list" "ca policy" "ca set"
	"req"
	"db init" "db devices add" "db devices list" "db devices show" "db devices rm"
	"db devices enable" "db devices disable" "db devices import" "db devices export"
	"db params set" "db params unset" "db params list" "db import" "db dump" "db restore"
	"db migrate"
	"device init" "device resync" "device rule" "device check-cert" "device run"
	"fleet" "serve"
)

# help_opts WORDS...: the long options `sprov WORDS --help` names, one a line.
# A few help texts name another command's option in prose; those are not
# this command's and are left out (word:option).
PKG_HELP_PROSE=("fleet:--csv" "db devices import:--csv")
help_opts() {
	local words="$*" o p skip
	# shellcheck disable=SC2086
	for o in $("$SPROV" $words --help | grep -o -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u); do
		skip=0
		for p in "${PKG_HELP_PROSE[@]}"; do
			[ "$p" = "$words:$o" ] && skip=1
		done
		[ $skip = 1 ] || echo "$o"
	done
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
