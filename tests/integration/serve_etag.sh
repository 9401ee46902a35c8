#!/bin/bash
# sprov serve: the ETag is keyed (HMAC-SHA256), so a logged ETag does not
# let anyone test guesses of a profile; nodes sharing etag-key-file agree;
# the access log is created mode 0640.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
printf '%s\n' 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20 \
	>"$T/etag.key"
chmod 600 "$T/etag.key"
etag() { awk 'tolower($1) == "etag:" { print $2 }' "$T/hdr" | tr -d '\r'; }

note "a bad key file is refused at start, naming the file"
expect_rc 1 "$SPROV" serve --check-config --etag-key-file "$T/nokey" \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
expect_err_contains "etag-key-file $T/nokey"
echo 0102 >"$T/short.key"
expect_rc 1 "$SPROV" serve --check-config --etag-key-file "$T/short.key" \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
expect_err_contains "expected 64 hex digits"

note "the ETag is not the SHA-256 of the profile"
serve_start --etag-key-file "$T/etag.key" --access-log "$T/acc1.log"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
E1=$(etag)
SHA=$(sha256sum "$T/body" | cut -c1-32)
[ -n "$E1" ] || fail "no ETag"
[ "$E1" != "\"$SHA\"" ] || fail "ETag $E1 is the unkeyed SHA-256 of the body"
_TESTS_RUN=$((_TESTS_RUN + 1))
HMAC=$(openssl dgst -sha256 -mac HMAC \
	-macopt hexkey:0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20 \
	<"$T/body" | awk '{ print substr($NF, 1, 32) }')
[ "$E1" = "\"$HMAC\"" ] || fail "ETag $E1 is not HMAC-SHA256 under the key file ($HMAC)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "the access log is created mode 0640"
[ "$(stat -c %a "$T/acc1.log")" = 640 ] || fail "access log mode $(stat -c %a "$T/acc1.log")"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "a second server with the same key file gives the same ETag"
serve_start --etag-key-file "$T/etag.key" --access-log off
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
[ "$(etag)" = "$E1" ] || fail "same key, other ETag: $(etag) vs $E1"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop

note "without a key file each start draws its own key"
serve_start --access-log off
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
R1=$(etag)
serve_stop
serve_start --access-log off
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
[ "$(etag)" != "$R1" ] && [ "$R1" != "$E1" ] || fail "random keys gave the ETag $R1 twice"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
