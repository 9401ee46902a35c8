#!/usr/bin/env bash
# sprov device upgrade: Upgrade_Rule through the resync's four server checks,
# images built by the independent tests/lib/mkfw.sh.  Every refusal (other
# signer or none, other product, below Downgrade_Rev_Limit, truncated,
# trailing bytes, the no-loop rule, a failed server check, 404) leaves
# firmware.img and device.conf unchanged by hash and no temporary file;
# success flashes atomically and the next User-Agent reports the version.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

MKFW=$SPROV_SRCDIR/tests/lib/mkfw.sh
# The bundle, a good server and one under another CA: the part of
# make_pki's matrix this test needs.
make_pki_bundle
_ext "$T/pki/srv.ext" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=serverAuth" "subjectAltName=DNS:$FQDN"
_leaf "$T/pki/good" "$T/pki/server-ca" "/O=Provider/CN=$FQDN" "$T/pki/srv.ext"
_leaf "$T/pki/wrongca" "$T/pki/other-ca" "/O=Provider/CN=$FQDN" "$T/pki/srv.ext"
start_dns
start_nginx good wrongca
W=$T/www
P=$T/pki
printf '<flat-profile><GPP_B>one</GPP_B></flat-profile>\n' >"$W/p.xml"

# The vendor's firmware-signing root, and another key nobody trusts.
_root "$P/fw" "/O=Test Vendor/CN=Test Firmware Signing"
_key "$P/evil.key"
cp "$P/fw.crt" "$P/bundle/firmware-ca.crt"

mkdir -p "$W/fw/SPA2102"
head -c 200000 /dev/urandom >"$T/payload"
bash "$MKFW" build "$P/fw.key" "$T/payload" SPA2102 2.0.1 "$W/fw/SPA2102/2.0.1.sfw"
bash "$MKFW" build "$P/fw.key" "$T/payload" SPA2102 2.5 "$W/fw/loop.sfw"
bash "$MKFW" build "$P/fw.key" "$T/payload" SPA2102 0.9.9 "$W/fw/old.sfw"
bash "$MKFW" build "$P/fw.key" "$T/payload" SPA962 2.0.1 "$W/fw/product.sfw"
bash "$MKFW" build "$P/evil.key" "$T/payload" SPA2102 2.0.1 "$W/fw/evil.sfw"
cp "$T/payload" "$W/fw/unsigned.sfw"
head -c -1 "$W/fw/SPA2102/2.0.1.sfw" >"$W/fw/truncated.sfw"
{ cat "$W/fw/SPA2102/2.0.1.sfw"; printf 'x'; } >"$W/fw/trailing.sfw"
bash "$MKFW" verify "$P/fw.crt" "$W/fw/SPA2102/2.0.1.sfw" >/dev/null || fail "mkfw image does not verify"

note "device init refuses a bundle whose firmware-ca.crt is not a certificate, writing nothing"
mkdir -p "$T/badbundle"
cp "$P/bundle/"* "$T/badbundle/"
printf 'not a certificate\n' >"$T/badbundle/firmware-ca.crt"
expect_rc 1 "$SPROV" device init "$T/baddev" --bundle "$T/badbundle"
expect_err_contains "$T/badbundle/firmware-ca.crt: not a PEM certificate"
[ ! -e "$T/baddev" ] || fail "a refused init left $(ls -A "$T/baddev")"

D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$P/bundle" \
	--rule "https://$FQDN:$PORT_good/p.xml" --set Downgrade_Rev_Limit=1.0
cmp -s "$D/firmware-ca.crt" "$P/fw.crt" || fail "device init did not copy firmware-ca.crt"
printf 'factory image\n' >"$D/firmware.img"
URL=https://$FQDN:$PORT_good/fw
H_IMG=$(sha256sum <"$D/firmware.img")
H_CONF=$(sha256sum <"$D/device.conf")

upgrade() { expect_rc "$1" "$SPROV" device upgrade "$D" --dns-server "$DNS" "${@:2}"; }
unchanged() {
	[ "$(sha256sum <"$D/firmware.img")" = "$H_IMG" ] || fail "firmware.img changed after: $1"
	[ "$(sha256sum <"$D/device.conf")" = "$H_CONF" ] || fail "device.conf changed after: $1"
	if ls -a "$D" | grep -q '\.tmp'; then fail "temporary file left after: $1"; fi
	return 0
}
# refuse IMAGE MESSAGE [RULE-CONDITION]: the upgrade fails with MESSAGE, nothing changes.
refuse() {
	upgrade 1 --rule "${3:-(! 2.0.1)?} $URL/$1"
	expect_err_contains "$2"
	expect_err_contains "SPA2102 00:0e:08:aa:bb:cc -- Upgrade failed: "
	unchanged "$1"
}

note "refusals: firmware.img and device.conf stay byte for byte"
refuse evil.sfw "image refused: " 
expect_err_contains "not signed by the firmware key"
refuse unsigned.sfw "bad magic at offset 0"
refuse product.sfw "image refused: the image is for product SPA962, this device is SPA2102"
refuse old.sfw "image refused: the image's version 0.9.9 is below Downgrade_Rev_Limit 1.0"
refuse truncated.sfw "truncated"
refuse trailing.sfw "1 trailing bytes after the payload"
note "no loop: the image must not satisfy the condition that chose it"
refuse loop.sfw "image refused: the image's version 2.5 still satisfies the condition that chose it (alternative 1 of --rule)" "(< 3.0)?"
note "a failed server check, a 404, no firmware-ca.crt"
upgrade 1 --rule "(! 2.0.1)? https://$FQDN:$PORT_wrongca/fw/SPA2102/2.0.1.sfw" --json
expect_err_contains "server check 1 (chain)"
expect_out_contains '"check":"chain"'
unchanged "wrong CA"
refuse missing.sfw "http_get failed: HTTP 404 (file not found)"
mv "$D/firmware-ca.crt" "$T/fwca.saved"
refuse SPA2102/2.0.1.sfw "firmware-ca.crt: No such file or directory (the device has no firmware-signing certificate"
mv "$T/fwca.saved" "$D/firmware-ca.crt"
grep -q '^Last_Upgrade_Result = fail$' "$D/state" || fail "state does not record the failure"

note "Upgrade_Error_Retry_Delay = 0: a failure is final until the rule changes"
echo "Upgrade_Error_Retry_Delay = 0" >>"$D/device.conf"
H_CONF=$(sha256sum <"$D/device.conf")
upgrade 1 --rule "(! 2.0.1)? $URL/product.sfw" --json
expect_out_contains '"retry_delay":-1'
upgrade 0 --rule "(! 2.0.1)? $URL/product.sfw"
expect_out_contains "no upgrade: this --rule was tried already"
unchanged "retry delay 0"
sed -i '/^Upgrade_Error_Retry_Delay/d' "$D/device.conf"
H_CONF=$(sha256sum <"$D/device.conf")

note "device rule shows what Upgrade_Rule would do, the server from Profile_Rule"
echo 'Upgrade_Rule = (! 2.0.1)? /fw/$PN/2.0.1.sfw' >>"$D/device.conf"
expect_rc 0 "$SPROV" device rule "$D"
expect_out_contains "Upgrade_Rule:"
expect_out_contains 'alternative 1: "1.0.0" != "2.0.1" (version): true'
expect_out_contains "url: /fw/SPA2102/2.0.1.sfw"
expect_out_contains "server: $FQDN port $PORT_good, from Profile_Rule"
expect_rc 0 "$SPROV" device rule "$D" --upgrade-rule '(<1.0)? /old.sfw'
expect_out_contains "chosen: none"

note "success: the four checks, verified, flashed atomically, the User-Agent follows"
H_CONF=$(sha256sum <"$D/device.conf")
upgrade 0 --json
expect_out_contains '"ok":true,"check":null,"error":"","result":"SPA2102 2.0.1 flashed (was 1.0.0)","rule":"Upgrade_Rule"'
expect_out_contains '"upgraded":true,"from":"1.0.0","product":"SPA2102","version":"2.0.1","retry_delay":-1}'
expect_out_contains "\"url\":\"https://$FQDN:$PORT_good/fw/SPA2102/2.0.1.sfw\""
expect_err_contains "SPA2102 00:0e:08:aa:bb:cc -- Requesting upgrade https://127.0.0.1:$PORT_good/fw/SPA2102/2.0.1.sfw"
expect_err_contains "Successful upgrade https://127.0.0.1:$PORT_good/fw/SPA2102/2.0.1.sfw -- SPA2102 2.0.1 flashed (was 1.0.0)"
cmp -s "$D/firmware.img" "$W/fw/SPA2102/2.0.1.sfw" || fail "firmware.img is not the image"
grep -q '^Software_Version = 2.0.1$' "$D/device.conf" || fail "Software_Version not set"
grep -q '^# sprov device' "$D/device.conf" || fail "device.conf lost its comment"
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS"
tail -1 "$T/nginx/access.log" | grep -q 'Sprov/SPA2102-2.0.1 (000E08AABBCC)(88012BA01234)' ||
	fail "User-Agent after the upgrade: $(tail -1 "$T/nginx/access.log")"
note "the condition no longer holds: nothing to do"
H_IMG=$(sha256sum <"$D/firmware.img")
H_CONF=$(sha256sum <"$D/device.conf")
upgrade 0
expect_out_contains "no upgrade: no condition holds"
unchanged "second upgrade"

note "an unconditional URL is tried once until the rule text changes"
n=$(grep -c 'GET /fw/' "$T/nginx/access.log")
upgrade 0 --rule "$URL/SPA2102/2.0.1.sfw"
expect_out_contains "SPA2102 2.0.1 flashed (was 2.0.1)"
upgrade 0 --rule "$URL/SPA2102/2.0.1.sfw"
expect_out_contains "no upgrade: this --rule was tried already; it is tried again when its text changes"
[ "$(grep -c 'GET /fw/' "$T/nginx/access.log")" = $((n + 1)) ] || fail "the unconditional URL was fetched again"
upgrade 0 --rule "$URL/SPA2102/2.0.1.sfw # again"
expect_out_contains "flashed"

note "Upgrade_Enable = No"
echo "Upgrade_Enable = No" >>"$D/device.conf"
upgrade 1
expect_err_contains "upgrades are disabled (Upgrade_Enable = No)"
sed -i '/^Upgrade_Enable/d' "$D/device.conf"

note "a URL without a server, and a Profile_Rule without one either"
D3=$T/dev3
expect_rc 0 "$SPROV" device init "$D3" --bundle "$P/bundle" --rule '/spa$PSN.cfg'
expect_rc 1 "$SPROV" device upgrade "$D3" --dns-server "$DNS" --rule '(! 2.0.1)? /fw/$PN/2.0.1.sfw'
expect_err_contains "--rule: the URL '/fw/SPA2102/2.0.1.sfw' names no server, and Profile_Rule gives none to take"
[ ! -e "$D3/firmware.img" ] || fail "firmware.img written after a refusal"
grep -q '^Software_Version = 1.0.0$' "$D3/device.conf" || fail "Software_Version changed after a refusal"

note "an image signed by sprov ca sign-firmware, trusted through the CA's firmware-ca.crt"
expect_rc 0 "$SPROV" ca init "$T/ca" --org Acme
expect_rc 0 "$SPROV" ca sign-firmware "$T/ca" "$T/payload" --product SPA2102 --version 2.0.2 \
	-o "$W/fw/sprov.sfw"
D5=$T/dev5
mkdir -p "$T/bundle5"
cp "$P/bundle/client.crt" "$P/bundle/client.key" "$P/bundle/server-ca.crt" "$T/bundle5/"
cp "$T/ca/firmware-ca.crt" "$T/bundle5/"
expect_rc 0 "$SPROV" device init "$D5" --bundle "$T/bundle5" --rule "https://$FQDN:$PORT_good/p.xml"
expect_rc 1 "$SPROV" device upgrade "$D5" --dns-server "$DNS" --rule "(< 2.0.2)? $URL/SPA2102/2.0.1.sfw"
expect_err_contains "not signed by the firmware key"
expect_rc 0 "$SPROV" device upgrade "$D5" --dns-server "$DNS" --rule "(< 2.0.2)? $URL/sprov.sfw"
expect_out_contains "SPA2102 2.0.2 flashed (was 1.0.0)"
cmp -s "$D5/firmware.img" "$W/fw/sprov.sfw" || fail "the sprov-signed image was not flashed"

note "sprov device run: after a successful resync the upgrade timer runs Upgrade_Rule"
D2=$T/dev2
expect_rc 0 "$SPROV" device init "$D2" --bundle "$P/bundle" \
	--rule "https://$FQDN:$PORT_good/p.xml" --set Resync_Random_Delay=0 \
	--set 'Upgrade_Rule=(! 2.0.1)? /fw/$PN/2.0.1.sfw'
expect_rc 0 timeout 20 "$SPROV" device run "$D2" --dns-server "$DNS" --time-scale 3600 --rounds 2
expect_err_contains "Successful upgrade"
cmp -s "$D2/firmware.img" "$W/fw/SPA2102/2.0.1.sfw" || fail "the daemon did not flash"
grep -q '^Software_Version = 2.0.1$' "$D2/device.conf" || fail "daemon: Software_Version not set"
tail -1 "$T/nginx/access.log" | grep -q 'Sprov/SPA2102-2.0.1 ' ||
	fail "the resync after the daemon's upgrade: $(tail -1 "$T/nginx/access.log")"
note "sprov device run: a failed upgrade is retried after Upgrade_Error_Retry_Delay"
D4=$T/dev4
expect_rc 0 "$SPROV" device init "$D4" --bundle "$P/bundle" \
	--rule "https://$FQDN:$PORT_good/p.xml" --set Resync_Random_Delay=0 \
	--set Upgrade_Error_Retry_Delay=600 --set "Upgrade_Rule=(! 2.0.1)? /fw/product.sfw"
printf 'factory image\n' >"$D4/firmware.img"
expect_rc 0 timeout 20 "$SPROV" device run "$D4" --dns-server "$DNS" --time-scale 3600 --rounds 2
[ "$(grep -c 'Upgrade failed: image refused: the image is for product SPA962' <<<"$ERR")" -ge 2 ] ||
	fail "the failed upgrade was not retried: $ERR"
expect_err_contains "next upgrade attempt in 600 s"
[ "$(cat "$D4/firmware.img")" = "factory image" ] || fail "the daemon changed firmware.img"
finish
