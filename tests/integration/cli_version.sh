#!/bin/bash
# sprov --version: the program's version and the run-time versions of the
# libraries it uses, one "name version" line each.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

expect_rc 0 "$SPROV" --version
[ "$(sed -n 1p <<<"$OUT")" = "sprov 0.1.0" ] || fail "first line: $OUT"
[ "$(cut -d' ' -f1 <<<"$OUT" | tr '\n' ' ')" = "sprov openssl gnutls libevent sqlite libpq " ] ||
	fail "lines: $OUT"
want_openssl=$(openssl version | awk '{print $2}')
grep -qx "openssl $want_openssl" <<<"$OUT" || fail "openssl: want $want_openssl: $OUT"
want_sqlite=$(sqlite3 --version | awk '{print $1}')
grep -qx "sqlite $want_sqlite" <<<"$OUT" || fail "sqlite: want $want_sqlite: $OUT"
want_gnutls=$(gnutls-cli --version | sed -n 's/^gnutls-cli \([0-9.]*\).*/\1/p')
grep -qx "gnutls $want_gnutls" <<<"$OUT" || fail "gnutls: want $want_gnutls: $OUT"
grep -Eqx 'libevent 2\.[0-9]+\.[0-9]+-[a-z]+' <<<"$OUT" || fail "libevent: $OUT"
grep -Eqx 'libpq [0-9]+\.[0-9]+' <<<"$OUT" || fail "libpq: $OUT"
[ -z "$ERR" ] || fail "stderr: $ERR"
expect_rc 0 "$SPROV" version
[ "$(sed -n 1p <<<"$OUT")" = "sprov 0.1.0" ] || fail "sprov version: $OUT"
finish
