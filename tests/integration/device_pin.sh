#!/usr/bin/env bash
# Provision_Domain (finding 10): an IP-literal rule names no server, so any
# server certificate of the vendor whose FQDN resolves to the address passes;
# `device rule` and the resync warn, and the pin refuses a server whose CN is
# outside it before a request is sent.  A profile may only narrow the pin.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
start_dns
start_nginx good othername
P=$T/pki
printf '<flat-profile><SIP_User_ID_1_>alice</SIP_User_ID_1_></flat-profile>\n' >"$T/www/good.xml"
printf '<flat-profile><Provision_Domain>prov.example.test</Provision_Domain></flat-profile>\n' \
	>"$T/www/narrow.xml"
printf '<flat-profile><Provision_Domain>example.test</Provision_Domain></flat-profile>\n' \
	>"$T/www/widen.xml"
printf '<flat-profile><Provision_Domain></Provision_Domain></flat-profile>\n' >"$T/www/clear.xml"
GOOD_IP="https://127.0.0.1:$PORT_good/good.xml"
OTHER_IP="https://127.0.0.1:$PORT_othername/good.xml"
PIN_MSG="server check 2 (cn): Provision_Domain rule: the server certificate's FQDN 'other.example.test' is not within Provision_Domain (prov.example.test)"

note "device rule warns about an IP-literal rule, and says how to pin"
D0=$T/dev0
expect_rc 0 "$SPROV" device init "$D0" --bundle "$P/bundle" --rule "$OTHER_IP"
expect_rc 0 "$SPROV" device rule "$D0"
expect_out_contains "warning: the URL host 127.0.0.1 is an IP address: any server certificate of the vendor whose FQDN resolves to it is accepted; set Provision_Domain to pin the server's domain"
expect_rc 0 "$SPROV" device rule "$D0" --rule "https://$FQDN/x.xml"
case "$OUT" in *"is an IP address"*) fail "a host-name rule was warned about" ;; esac

note "without a pin, the seed's behaviour: the other server is accepted for an IP-literal rule"
expect_rc 0 "$SPROV" device resync "$D0" --dns-server "$DNS"
expect_err_contains "Profile_Rule: the URL host 127.0.0.1 is an IP address"

note "init refuses a pin that is no domain list, and writes nothing"
for bad in "not a domain" "a..b" "prov.example.test,,x.example"; do
	expect_rc 1 "$SPROV" device init "$T/bad" --bundle "$P/bundle" --rule "$GOOD_IP" \
		--provision-domain "$bad"
	expect_err_contains "sprov device init: Provision_Domain"
	[ ! -e "$T/bad" ] || fail "device init wrote $T/bad for pin '$bad'"
done
expect_rc 1 "$SPROV" device init "$T/bad" --bundle "$P/bundle" --set "Provision_Domain=a b"
expect_err_contains "Provision_Domain"
[ ! -e "$T/bad" ] || fail "device init wrote $T/bad for --set Provision_Domain"

note "with a pin: a CN outside it is refused before any request, nothing applied"
D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$P/bundle" --rule "$GOOD_IP" \
	--provision-domain prov.example.test
grep -qx "Provision_Domain = prov.example.test" "$D/device.conf" || fail "pin not in device.conf"
expect_rc 0 "$SPROV" device rule "$D"
expect_out_contains "Provision_Domain: prov.example.test"
expect_out_contains "warning: the URL host 127.0.0.1 is an IP address: only Provision_Domain (prov.example.test) limits"
refused() { # refused DIR: a resync of $OTHER_IP is refused by the pin
	local before h st
	before=$(access_count)
	h=$(store_hash "$1")
	st=$(sha256sum <"$1/device.conf")
	expect_rc 1 "$SPROV" device resync "$1" --dns-server "$DNS" --json --rule "$OTHER_IP"
	expect_err_contains "$PIN_MSG"
	expect_out_contains '"check":"cn"'
	expect_out_contains '"ok":false'
	[ "$(store_hash "$1")" = "$h" ] || fail "$1: the device applied something"
	[ "$(sha256sum <"$1/device.conf")" = "$st" ] || fail "$1: device.conf changed"
	[ "$(access_count)" = "$before" ] || fail "$1: a request reached the refused server"
}
refused "$D"

note "a CN inside the pin passes (also below it: example.test pins prov.example.test)"
before=$(access_count)
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS"
grep -q '<SIP_User_ID_1_>alice</SIP_User_ID_1_>' "$D/params.xml" || fail "good profile not applied"
[ "$(access_count)" -gt "$before" ] || fail "no request reached the pinned server"
D2=$T/dev2
expect_rc 0 "$SPROV" device init "$D2" --bundle "$P/bundle" --rule "$GOOD_IP" \
	--provision-domain " nothing.example, example.test. "
expect_rc 0 "$SPROV" device resync "$D2" --dns-server "$DNS"

note "a profile may set the pin when device.conf has none"
D3=$T/dev3
expect_rc 0 "$SPROV" device init "$D3" --bundle "$P/bundle" --rule "${GOOD_IP%good.xml}narrow.xml"
expect_rc 0 "$SPROV" device resync "$D3" --dns-server "$DNS"
grep -q '<Provision_Domain>prov.example.test</Provision_Domain>' "$D3/params.xml" ||
	fail "the profile's pin was not stored"
refused "$D3"

note "a profile may narrow device.conf's pin"
D4=$T/dev4
expect_rc 0 "$SPROV" device init "$D4" --bundle "$P/bundle" --rule "${GOOD_IP%good.xml}narrow.xml" \
	--provision-domain example.test
expect_rc 0 "$SPROV" device resync "$D4" --dns-server "$DNS" --rule "$OTHER_IP"
expect_rc 0 "$SPROV" device resync "$D4" --dns-server "$DNS"
refused "$D4"

note "a profile may neither widen nor clear device.conf's pin"
for p in widen clear; do
	Dp=$T/dev-$p
	expect_rc 0 "$SPROV" device init "$Dp" --bundle "$P/bundle" \
		--rule "${GOOD_IP%good.xml}$p.xml" --provision-domain prov.example.test
	expect_rc 0 "$SPROV" device resync "$Dp" --dns-server "$DNS"
	grep -q '<Provision_Domain' "$Dp/params.xml" || fail "$p: the profile's pin was not stored"
	refused "$Dp"
	expect_err_contains "Provision_Domain: the profile's value is ignored"
done
finish
