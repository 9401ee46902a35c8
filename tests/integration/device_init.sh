#!/usr/bin/env bash
# sprov device init: identity from the bundle's certificate, overrides,
# --set, and refusals that write nothing.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
B=$T/pki/bundle
D=$T/dev

note "identity from client.crt, defaults, modes"
expect_rc 0 "$SPROV" device init "$D" --bundle "$B" --rule 'https://prov.example.test/$MA.xml'
expect_out_contains "created device in $D"
for f in client.crt client.key server-ca.crt device.conf; do [ -f "$D/$f" ] || fail "$f missing"; done
[ "$(stat -c %a "$D/client.key")" = 600 ] || fail "client.key mode"
[ "$(stat -c %a "$D/device.conf")" = 600 ] || fail "device.conf mode"
[ "$(stat -c %a "$D")" = 700 ] || fail "directory mode"
cmp -s "$B/server-ca.crt" "$D/server-ca.crt" || fail "server-ca.crt differs"
grep -qx 'Product_Series = 2102' "$D/device.conf" || fail "series not derived"
grep -qx 'Profile_Rule = https://prov.example.test/$MA.xml' "$D/device.conf" || fail "rule"
[ ! -e "$D/params.xml" ] || fail "a store before any resync"

note "an existing device directory is refused unless --force"
H=$(tree_hash "$D")
expect_rc 1 "$SPROV" device init "$D" --bundle "$B"
expect_err_contains "already a device directory (use --force to replace it)"
[ "$(tree_hash "$D")" = "$H" ] || fail "refused init changed the directory"
expect_rc 0 "$SPROV" device init "$D" --bundle "$B" --force --serial OTHER1 --product PAP2T \
	--swver 5.1.6 --set GPP_A=1 --set 'Primary_DNS=127.0.0.1:53'
grep -qx 'Serial_Number = OTHER1' "$D/device.conf" || fail "--serial override"
grep -qx 'Product_Series = PAP2T' "$D/device.conf" || fail "series of PAP2T (no trailing digits: the whole name)"
grep -qx 'Software_Version = 5.1.6' "$D/device.conf" || fail "--swver"
grep -qx 'GPP_A = 1' "$D/device.conf" || fail "--set"

note "refusals write nothing"
E=$T/nodev
expect_rc 2 "$SPROV" device init "$E"
expect_err_contains "--bundle BUNDLEDIR is required"
expect_rc 2 "$SPROV" device init "$E" --bundle "$B" --set novalue
expect_err_contains "--set wants NAME=VALUE"
expect_rc 1 "$SPROV" device init "$E" --bundle "$T/missing"
expect_err_contains "$T/missing/client.crt"
expect_rc 1 "$SPROV" device init "$E" --bundle "$B" --mac 00:11
expect_err_contains "MAC"
expect_rc 1 "$SPROV" device init "$E" --bundle "$B" --set '1bad=x'
expect_rc 1 "$SPROV" device init "$E" --bundle "$B" --serial 'a b'
expect_err_contains "Serial_Number"
[ ! -e "$E" ] || fail "a refused init left files: $(ls -R "$E")"

note "a certificate that names no device needs --mac"
mkdir -p "$T/anon"
cp "$B/client.key" "$B/server-ca.crt" "$T/anon/"
cp "$T/pki/good.crt" "$T/anon/client.crt"
expect_rc 2 "$SPROV" device init "$T/anondev" --bundle "$T/anon"
expect_err_contains "client.crt names no device"
expect_rc 0 "$SPROV" device init "$T/anondev" --bundle "$T/anon" --mac 000e08000001 --product SPA962
grep -qx 'MAC = 000e08000001' "$T/anondev/device.conf" || fail "--mac"
finish
