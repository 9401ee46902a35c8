#!/usr/bin/env bash
# sprov device rule: offline, what each rule would do with the device's own
# macros (identity from client.crt, GPPs from device.conf and the store).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$T/pki/bundle" --swver "2.0.3(0412s)" \
	--rule 'https://prov.example.test/$MA.xml' \
	--set GPP_A=1 --set GPP_B=beta --set GPP_SA=topsecret \
	--set 'Profile_Rule_B=( $SWVER < 2.0.4 )? https://prov.example.test/old/$PSN.cfg | https://prov.example.test/new/$PSN.cfg' \
	--set 'Profile_Rule_C=[--key $SA] https://prov.example.test:8443/enc/$(MA:6).cfg'
H=$(tree_hash "$D")

rule() { expect_rc "$1" "$SPROV" device rule "$D" "${@:2}"; }

note "the device's four rules, with its own identity"
rule 0
expect_out_contains "Profile_Rule:"
expect_out_contains "url: https://prov.example.test/000e08aabbcc.xml"
expect_out_contains "Profile_Rule_B:"
expect_out_contains "url: https://prov.example.test/old/2102.cfg"
expect_out_contains "Profile_Rule_C:"
expect_out_contains "url: https://prov.example.test:8443/enc/aabbcc.cfg"
expect_out_contains "port: 8443"
expect_out_contains 'option: --key $SA'
case "$OUT" in *topsecret*) fail "a secret GPP was shown" ;; esac
[ "$(tree_hash "$D")" = "$H" ] || fail "device rule changed the directory"

# case RULE EXPECTED...: one rule, every expected line in the output.
case_() {
	local r=$1; shift
	rule 0 --rule "$r"
	for want in "$@"; do expect_out_contains "$want"; done
}
note "a table of rules"
case_ 'https://h.example.test/spa$PSN.cfg' "url: https://h.example.test/spa2102.cfg" "port: 443 (default)"
case_ 'https://h.example.test/$MAU/$SN' "path: /000E08AABBCC/88012BA01234"
case_ 'https://h.example.test/$(MAC)' "path: /00:0e:08:aa:bb:cc"
case_ 'https://h.example.test/$(MA:0:6)/$$x' "path: /000e08/\$x"
case_ 'https://h.example.test/$FOO' "path: /\$FOO"
case_ 'https://h.example.test/$PN-$HWVER' "path: /SPA2102-1.0"
case_ 'https://h.example.test/$CCERT' "path: /Installed"
case_ '( $A == 1 )? https://h.example.test/a | https://h.example.test/b' "chosen: alternative 1" "path: /a"
case_ '( $A == 2 )? https://h.example.test/a | https://h.example.test/b' "chosen: alternative 2" "path: /b"
case_ '( $B eq "beta" )? https://h.example.test/$B' "path: /beta"
case_ '( $SWVER >= 2.0.3(0412s) and $A < 10 )? https://h.example.test/v' "path: /v"
case_ '( $SWVER gt 2.0.3(0412s) )? https://h.example.test/x | https://h.example.test/y' "path: /y"
case_ '( $C != 1 )? ( $C = 1; $D = "two words" )! https://h.example.test/$C' \
	'assign: GPP_C = "1"' 'assign: GPP_D = "two words"' "chosen: alternative 1"
case_ '( $A == 9 )? https://h.example.test/x' "chosen: none"
case_ '[--post b] https://h.example.test/post' "option: --post b"
case_ 'https://h.example.test/x # a comment | https://other' "url: https://h.example.test/x"
case_ 'http://h.example.test/plain' "warning: a resync refuses scheme http"
case_ '/spa$PSN.cfg' "scheme: tftp"
note "refusals"
rule 1 --rule '( $A == 1 https://h.example.test/x'
rule 1 --rule '( $A == 1 )? https://h/a | ( $A == 2 )? https://h/b | ( $A == 3 '
rule 1 --rule 'https://h.example.test:99999/x'
rule 2 "$T/nope" --bogus
expect_rc 1 "$SPROV" device rule "$T/nope"
expect_err_contains "sprov device init"
finish
