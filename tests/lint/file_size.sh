#!/usr/bin/env bash
# No code file (src/, and the tests, benches, fuzz targets and scripts
# around it) grows past 1000 lines: a file that big holds several jobs.
set -euo pipefail
top=${SPROV_SRCDIR:?}
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
done < <(cd "$top" && find src tests bench fuzz scripts contrib -path fuzz/corpus -prune -o \
	-type f \( -name '*.[ch]' -o -name '*.sh' -o -name '*.bash' -o -name '*.py' -o -name '*.js' \
	-o -name '*.css' -o -name '*.html' \) -print | sort | sed "s|^|$top/|")
[[ $n -gt 0 ]] || { echo "file_size: no source files under $top" >&2; exit 1; }
[[ $bad -eq 0 ]] || exit 1
echo "file_size: $n files, none over $max lines"
