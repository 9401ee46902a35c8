#!/bin/bash
# tools/embed_assets.cmake, the build step that puts the console's files in
# the binary: a C array per file with its type and an ETag from its
# SHA-256; a missing file or one without a known type stops the build and
# writes nothing.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

EMBED="$SPROV_SRCDIR/tools/embed_assets.cmake"
mkdir -p "$T/a"
printf '<!doctype html><p>x</p>\n' >"$T/a/index.html"
printf 'console.log(1);\n' >"$T/a/app.js"
: >"$T/a/empty.css"
printf 'notes\n' >"$T/a/notes.txt"

note "a missing file stops it, naming the file; nothing is written"
expect_rc 1 cmake -DOUT="$T/out.h" -DSRCDIR="$T/a" -DFILES=index.html,nope.js -P "$EMBED"
expect_err_contains "embed_assets: $T/a/nope.js does not exist"
[ ! -e "$T/out.h" ] || fail "out.h written"

note "a file without a known Content-Type stops it; nothing is written"
expect_rc 1 cmake -DOUT="$T/out.h" -DSRCDIR="$T/a" -DFILES=index.html,notes.txt -P "$EMBED"
expect_err_contains "embed_assets: notes.txt: no Content-Type for '.txt'"
[ ! -e "$T/out.h" ] || fail "out.h written"

note "the table: index.html at /, the others under /assets/, ETags from SHA-256"
expect_rc 0 cmake -DOUT="$T/out.h" -DSRCDIR="$T/a" -DFILES=index.html,app.js,empty.css -P "$EMBED"
h=$(sha256sum "$T/a/index.html" | cut -c1-20)
j=$(sha256sum "$T/a/app.js" | cut -c1-20)
e=$(sha256sum "$T/a/empty.css" | cut -c1-20)
grep -qF "{ \"/\", asset_0, 24, \"text/html; charset=utf-8\", \"\\\"$h\\\"\" }," "$T/out.h" ||
	fail "index.html row: $(grep '{ "/' "$T/out.h")"
grep -qF "{ \"/assets/app.js\", asset_1, 16, \"text/javascript; charset=utf-8\", \"\\\"$j\\\"\" }," "$T/out.h" ||
	fail "app.js row: $(grep 'app.js' "$T/out.h")"
grep -qF "{ \"/assets/empty.css\", asset_2, 0, \"text/css; charset=utf-8\", \"\\\"$e\\\"\" }," "$T/out.h" ||
	fail "empty.css row: $(grep 'empty.css' "$T/out.h")"
_TESTS_RUN=$((_TESTS_RUN + 3))

note "it compiles, and the arrays hold the files' bytes"
cat >"$T/t.c" <<'EOC'
#include <stdio.h>
#include <string.h>
#include "console/assets.h"
#include "out.h"
int main(void) {
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		fwrite(assets[i].data, 1, assets[i].len, stdout);
	return 0;
}
EOC
cc -std=c11 -Wall -Wextra -Werror -I"$SPROV_SRCDIR/src" -I"$T" -o "$T/t" "$T/t.c" ||
	fail "the generated table does not compile"
"$T/t" >"$T/bytes"
cat "$T/a/index.html" "$T/a/app.js" | cmp - "$T/bytes" || fail "the embedded bytes differ"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
