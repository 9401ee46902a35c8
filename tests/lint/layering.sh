#!/usr/bin/env bash
# The module graph of docs/DEVELOPING.md, enforced:
#   common <- identity <- {pki, profile, keyproc, firmware} <- {ca, store, tls} <- {server, device}
#          <- {fleet, console} <- cli   (console: the admin API and dashboard, on server)
# A file in src/M may include a header of src/N only when N sits on a lower
# floor than M (or N is M).  A module's *_internal.h is for that module alone,
# and a module listed in `public` offers only those headers to the others
# (src/server's srv.h, render.h, ... are its internals: the console reaches
# the server through server.h's sp_serve_* calls).
# Fails naming every offending line; fails too when it checked nothing.
set -euo pipefail
src=${SPROV_SRCDIR:?}/src

declare -A floor=(
	[common]=0 [identity]=1 [pki]=2 [profile]=2 [firmware]=2 [ca]=3 [store]=3 [tls]=3 [keyproc]=2
	[server]=4 [device]=4 [fleet]=5 [console]=5 [cli]=6
)

declare -A public=(
	[server]="server.h config.h cluster.h admin.h"
)

bad=0
checked=0
while IFS= read -r f; do
	mod=${f#"$src"/}
	mod=${mod%%/*}
	if [[ -z ${floor[$mod]+x} ]]; then
		echo "layering: $f: module '$mod' has no floor in tests/lint/layering.sh" >&2
		bad=1
		continue
	fi
	lineno=0
	while IFS= read -r line; do
		lineno=$((lineno + 1))
		[[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([a-z0-9_]+)/([^\"]+)\" ]] || continue
		dep=${BASH_REMATCH[1]}
		hdr=${BASH_REMATCH[2]}
		checked=$((checked + 1))
		if [[ -z ${floor[$dep]+x} ]]; then
			echo "layering: ${f#"$src"/}:$lineno: includes unknown module '$dep/$hdr'" >&2
			bad=1
		elif [[ $dep != "$mod" && ${floor[$dep]} -ge ${floor[$mod]} ]]; then
			echo "layering: ${f#"$src"/}:$lineno: $mod (floor ${floor[$mod]}) includes $dep/$hdr (floor ${floor[$dep]}): a module may only include from lower floors" >&2
			bad=1
		elif [[ $dep != "$mod" && $hdr == *_internal.h ]]; then
			echo "layering: ${f#"$src"/}:$lineno: $dep/$hdr is internal to src/$dep" >&2
			bad=1
		elif [[ $dep != "$mod" && -n ${public[$dep]+x} && " ${public[$dep]} " != *" $hdr "* ]]; then
			echo "layering: ${f#"$src"/}:$lineno: $dep/$hdr is internal to src/$dep (its public headers: ${public[$dep]})" >&2
			bad=1
		fi
	done < "$f"
done < <(find "$src" -name '*.[ch]' | sort)

if [[ $checked -lt 100 ]]; then
	echo "layering: only $checked includes checked: is SPROV_SRCDIR right?" >&2
	exit 1
fi
[[ $bad -eq 0 ]] || exit 1
echo "layering: $checked includes checked, none points upward"
