#!/usr/bin/env bash
# No file in src/ grows past 1000 lines: a file that big holds several jobs.
set -euo pipefail
src=${SPROV_SRCDIR:?}/src
max=1000
n=0
bad=0
while IFS= read -r f; do
	n=$((n + 1))
	lines=$(wc -l < "$f")
	if [[ $lines -gt $max ]]; then
		echo "file_size: ${f#"$SPROV_SRCDIR"/}: $lines lines (limit $max): split it along its seams" >&2
		bad=1
	fi
done < <(find "$src" -name '*.[ch]' | sort)
[[ $n -gt 0 ]] || { echo "file_size: no source files under $src" >&2; exit 1; }
[[ $bad -eq 0 ]] || exit 1
echo "file_size: $n files, none over $max lines"
