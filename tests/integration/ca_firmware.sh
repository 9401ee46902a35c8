#!/bin/bash
# The firmware-signing root and `ca sign-firmware`, file keys and SoftHSM2:
# ca init makes firmware-ca.crt (CA:FALSE, digitalSignature, codeSigning;
# key 0600 or in the token); --add-firmware-key gives it to a CA made
# before it and refuses a second time; bundles carry firmware-ca.crt when
# the CA has it; sign-firmware writes a container that the independent
# verifier (tests/lib/mkfw.sh: python3 + openssl) accepts, byte for byte the
# layout mkfw.sh builds.  Every refusal: exact status and message, nothing
# written (files, ca.db, token objects).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"
MKFW="$SPROV_SRCDIR/tests/lib/mkfw.sh"

. "$SPROV_SRCDIR/tests/lib/softhsm.sh"
softhsm_token fw-ca 2468
URI='pkcs11:token=fw-ca'

# What a refusal must leave alone: files here and the token's objects.
state() { tree_hash .; (cd "$T/tokens" && find . -name '*.object' | LC_ALL=C sort); }
# refused STATUS MESSAGE CMD...: exact status and one-line stderr, nothing changed.
refused() {
	local st=$1 msg=$2 before; shift 2
	before=$(state)
	expect_rc "$st" "$@"
	[ "$ERR" = "$msg" ] || fail "message: got '$ERR', want '$msg'"
	[ -z "$OUT" ] || fail "'$*' printed: $OUT"
	[ "$(state)" = "$before" ] || fail "'$*' changed files or token objects"
}

note "ca init: the third root, a code-signing end entity that is no CA; key 0600"
expect_rc 0 "$SPROV" ca init ca --org Acme
expect_out_contains "ca/firmware-ca.crt  firmware-signing key: give it to every device (it signs firmware images)"
[ "$(stat -c %a ca/firmware-ca.key)" = 600 ] || fail "firmware-ca.key mode"
[ "$(stat -c %a ca/firmware-ca.crt)" = 644 ] || fail "firmware-ca.crt mode"
openssl x509 -in ca/firmware-ca.crt -noout -text >fw.txt
grep -A1 'Basic Constraints: critical' fw.txt | grep -qx ' *CA:FALSE' || fail "not CA:FALSE: $(cat fw.txt)"
grep -A1 'Key Usage: critical' fw.txt | grep -qx ' *Digital Signature' || fail "keyUsage: $(cat fw.txt)"
grep -A1 'Extended Key Usage' fw.txt | grep -qx ' *Code Signing' || fail "EKU: $(cat fw.txt)"
grep -q 'Public-Key: (384 bit)' fw.txt || fail "not P-384"
grep -q 'Subject: O = Acme, CN = Acme Firmware Signing' fw.txt || fail "subject"
grep -q 'Not After : Dec 31 23:59:59 9999 GMT' fw.txt || fail "notAfter"
[ "$(openssl x509 -in ca/firmware-ca.crt -noout -pubkey)" = "$(openssl pkey -in ca/firmware-ca.key -pubout)" ] ||
	fail "firmware key does not match its certificate"
# It cannot act as a CA: a certificate it signs does not chain to it.
openssl req -new -nodes -keyout srv.key -subj /CN=pv.example.net -newkey ec \
	-pkeyopt ec_paramgen_curve:P-256 -out srv.csr 2>/dev/null
openssl x509 -req -in srv.csr -CA ca/firmware-ca.crt -CAkey ca/firmware-ca.key -days 1 \
	-out forged.crt 2>/dev/null
! openssl verify -CAfile ca/firmware-ca.crt forged.crt >/dev/null 2>&1 ||
	fail "a certificate signed by the firmware key verifies against firmware-ca.crt"
rm -f srv.key srv.csr forged.crt fw.txt

note "bundles carry firmware-ca.crt next to server-ca.crt"
expect_rc 0 "$SPROV" ca issue ca --mac 000e08fa0001 --out bundles
[ "$(ls bundles/000e08fa0001 | tr '\n' ' ')" = "client.crt client.key firmware-ca.crt server-ca.crt " ] ||
	fail "bundle: $(ls bundles/000e08fa0001)"
cmp -s bundles/000e08fa0001/firmware-ca.crt ca/firmware-ca.crt || fail "bundle firmware-ca.crt"

note "sign-firmware: the independent verifier accepts it; the payload is the image"
head -c 300000 /dev/urandom >spa962-7.6.2.bin
expect_rc 0 "$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version 7.6.2 \
	-o spa962-7.6.2.sfw
sum=$(sha256sum spa962-7.6.2.bin | cut -d' ' -f1)
[ "$OUT" = "signed spa962-7.6.2.sfw
product: SPA-962
version: 7.6.2
length:  300000 bytes
sha256:  $sum" ] || fail "report: $OUT"
[ "$(stat -c %a spa962-7.6.2.sfw)" = 644 ] || fail "container mode"
[ "$(bash "$MKFW" verify ca/firmware-ca.crt spa962-7.6.2.sfw)" = "SPA-962 7.6.2 300000" ] ||
	fail "mkfw.sh does not verify it"
cmp -s <(tail -c 300000 spa962-7.6.2.sfw) spa962-7.6.2.bin || fail "payload is not the image"
# The signed header is byte for byte what mkfw.sh lays out (ECDSA signatures differ).
bash "$MKFW" build ca/firmware-ca.key spa962-7.6.2.bin SPA-962 7.6.2 ref.sfw
n=$((8 + 1 + 7 + 1 + 5 + 8 + 32))   # the signed header: magic, SPA-962, 7.6.2, length, digest
cmp -s <(head -c "$n" ref.sfw) <(head -c "$n" spa962-7.6.2.sfw) || fail "signed header differs from mkfw.sh's"
rm ref.sfw
# The signature, checked with nothing but openssl.
read -r hi lo < <(od -An -tu1 -j "$n" -N2 spa962-7.6.2.sfw)
head -c "$n" spa962-7.6.2.sfw >hdr
dd if=spa962-7.6.2.sfw of=sig bs=1 skip=$((n + 2)) count=$((hi * 256 + lo)) status=none
openssl x509 -in ca/firmware-ca.crt -pubkey -noout >fw.pub
openssl dgst -sha256 -verify fw.pub -signature sig hdr >/dev/null || fail "openssl dgst does not verify the header"
rm hdr sig fw.pub
# Default output IMAGE.sfw, version in the rules' syntax.
expect_rc 0 "$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version '2.0.3(0412s)'
expect_out_contains "signed spa962-7.6.2.bin.sfw
product: SPA-962
version: 2.0.3(0412s)"
[ "$(head -c 29 spa962-7.6.2.bin.sfw | tail -c 12)" = "2.0.3(0412s)" ] || fail "default output"
rm spa962-7.6.2.bin.sfw

note "docs/FIRMWARE.md's openssl-only check: accepts it, refuses every broken copy"
awk '/^## Checking a container with openssl alone/ { on = 1 }
	on && /^```sh$/ { b = 1; next } b && /^```$/ { exit } b' "$SPROV_SRCDIR/docs/FIRMWARE.md" >check.sh
[ -s check.sh ] || fail "no openssl check in docs/FIRMWARE.md"
mkdir doc && cp ca/firmware-ca.crt doc/
# doc_check MESSAGE: the documented check in doc/ on doc/spa962-7.6.2.sfw says MESSAGE.
doc_check() {
	local want=$1 rc=1
	[ "${want#OK}" = "$want" ] || rc=0
	expect_rc $rc bash -c "cd doc && bash ../check.sh"
	[ "$OUT" = "$want" ] || fail "documented check: got '$OUT', want '$want'"
}
cp spa962-7.6.2.sfw doc/
doc_check "OK: SPA-962 7.6.2, 300000 bytes"
head -c -1 spa962-7.6.2.sfw >doc/spa962-7.6.2.sfw
doc_check "truncated, or trailing bytes"
{ cat spa962-7.6.2.sfw; printf x; } >doc/spa962-7.6.2.sfw
doc_check "truncated, or trailing bytes"
cp spa962-7.6.2.sfw doc/
# The payload is random: write the byte's complement, which always differs.
b=$(od -An -tu1 -j1000 -N1 doc/spa962-7.6.2.sfw)
printf "\\$(printf %03o $((255 - b)))" | dd of=doc/spa962-7.6.2.sfw bs=1 seek=1000 conv=notrunc status=none
cmp -s spa962-7.6.2.sfw doc/spa962-7.6.2.sfw && fail "byte 1000 was not changed"
doc_check "payload digest mismatch"
cp spa962-7.6.2.sfw doc/
printf 'X' | dd of=doc/spa962-7.6.2.sfw bs=1 seek=10 conv=notrunc status=none   # SPA-962 -> SXA-962
doc_check "not signed by the firmware key"
rm -r doc check.sh

note "sign-firmware refusals: syntax, existing output, missing image, no CA; nothing written"
refused 2 "sprov ca sign-firmware: --product 'SPA 962': 1-64 of A-Z a-z 0-9 . _ - (the container's product syntax)" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product 'SPA 962' --version 7.6.2 -o x.sfw
refused 2 "sprov ca sign-firmware: --product '$(printf 'P%.0s' {1..65})': 1-64 of A-Z a-z 0-9 . _ - (the container's product syntax)" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product "$(printf 'P%.0s' {1..65})" --version 7.6.2 -o x.sfw
refused 2 "sprov ca sign-firmware: --version '7.6/2': 1-32 of A-Z a-z 0-9 . _ ( ) - (the container's version syntax)" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version 7.6/2 -o x.sfw
refused 2 "sprov ca sign-firmware: --version '': 1-32 of A-Z a-z 0-9 . _ ( ) - (the container's version syntax)" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version '' -o x.sfw
refused 2 "sprov ca sign-firmware: --product and --version are required (see 'sprov ca sign-firmware --help')" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 -o x.sfw
refused 1 "sprov ca sign-firmware: spa962-7.6.2.sfw: file exists (use --force to replace it)" \
	"$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version 7.6.3 -o spa962-7.6.2.sfw
refused 1 "sprov ca sign-firmware: none.bin: No such file or directory" \
	"$SPROV" ca sign-firmware ca none.bin --product SPA-962 --version 7.6.2 -o x.sfw
: >empty.bin
refused 1 "sprov ca sign-firmware: empty.bin: empty image" \
	"$SPROV" ca sign-firmware ca empty.bin --product SPA-962 --version 7.6.2 -o x.sfw
rm empty.bin
refused 1 "sprov ca sign-firmware: nope: no CA here (missing ca.db; run 'sprov ca init nope' first)" \
	"$SPROV" ca sign-firmware nope spa962-7.6.2.bin --product SPA-962 --version 7.6.2 -o x.sfw
expect_rc 0 "$SPROV" ca sign-firmware ca spa962-7.6.2.bin --product SPA-962 --version 7.6.3 \
	-o spa962-7.6.2.sfw --force
[ "$(head -c 22 spa962-7.6.2.sfw | tail -c 5)" = "7.6.3" ] || fail "--force did not replace the container"

note "a CA made before firmware signing: no key, bundles without it, then --add-firmware-key"
expect_rc 0 "$SPROV" ca init old --org Old
rm old/firmware-ca.crt old/firmware-ca.key   # the layout ca init wrote before issue 16
refused 1 "sprov ca sign-firmware: old: the CA has no firmware-signing key (no firmware-ca.crt); add it with 'sprov ca init old --add-firmware-key'" \
	"$SPROV" ca sign-firmware old spa962-7.6.2.bin --product SPA-962 --version 7.6.2 -o x.sfw
expect_rc 0 "$SPROV" ca issue old --mac 000e08fb0001 --out oldb
[ "$(ls oldb/000e08fb0001 | tr '\n' ' ')" = "client.crt client.key server-ca.crt " ] ||
	fail "bundle of a CA without the key: $(ls oldb/000e08fb0001)"
refused 2 "sprov ca init: --add-firmware-key takes only --pin-file (the CA in DIR keeps its settings and its token) (see 'sprov ca init --help')" \
	"$SPROV" ca init old --add-firmware-key --org Other
refused 1 "sprov ca init: nope: no CA here (missing ca.db; run 'sprov ca init nope' first)" \
	"$SPROV" ca init nope --add-firmware-key
[ ! -e nope ] || fail "--add-firmware-key created a directory"
# A stray key file (an interrupted run) is not overwritten.
printf 'stray\n' >old/firmware-ca.key
refused 1 "sprov ca init: old: firmware-ca.key is there without firmware-ca.crt (left by an interrupted run?); nothing changed: move it away and run again" \
	"$SPROV" ca init old --add-firmware-key
rm old/firmware-ca.key
expect_rc 0 "$SPROV" ca init old/ --add-firmware-key
[ "$OUT" = "added the firmware-signing key to old/
  old/firmware-ca.crt  firmware-signing key: give it to every device (it signs firmware images)" ] ||
	fail "report: $OUT"
[ "$(stat -c %a old/firmware-ca.key)" = 600 ] || fail "added key mode"
openssl x509 -in old/firmware-ca.crt -noout -subject | grep -qx 'subject=O = Old, CN = Old Firmware Signing' ||
	fail "added certificate's subject"
refused 1 "sprov ca init: old: the CA already has a firmware-signing key (firmware-ca.crt); nothing changed" \
	"$SPROV" ca init old --add-firmware-key
expect_rc 0 "$SPROV" ca issue old --mac 000e08fb0002 --out oldb
cmp -s oldb/000e08fb0002/firmware-ca.crt old/firmware-ca.crt || fail "bundle after --add-firmware-key"
expect_rc 0 "$SPROV" ca sign-firmware old spa962-7.6.2.bin --product SPA-962 --version 1.0 -o old.sfw
# Signed by the added key: another vendor's certificate does not verify it.
expect_rc 1 bash "$MKFW" verify ca/firmware-ca.crt old.sfw
[ "$ERR" = "mkfw: bad signature" ] || fail "another key's container: $ERR"

note "PKCS#11: init makes the key in the token; --add-firmware-key adds it to the same token"
printf '2468\n' >"$T/pin"
chmod 600 "$T/pin"
expect_rc 0 "$SPROV" ca init tok --pkcs11 "$URI" --pkcs11-module "$MODULE" --pin-file "$T/pin"
[ ! -e tok/firmware-ca.key ] || fail "a firmware key file for a token CA"
# Back to the layout of a token CA made before issue 16: no firmware key anywhere.
GNUTLS_PIN=2468 p11tool --provider "$MODULE" --login --batch --delete \
	"$URI;object=sprov-firmware-ca" >/dev/null 2>&1 || fail "p11tool could not delete the key"
sqlite3 tok/ca.db "delete from meta where key='pkcs11_firmware_key'"
rm tok/firmware-ca.crt
[ "$(find "$T/tokens" -name '*.object' ! -name token.object | wc -l)" = 4 ] || fail "not two key pairs left"
export SPROV_PKCS11_PIN=2468
refused 1 "sprov ca sign-firmware: tok: the CA has no firmware-signing key (no firmware-ca.crt); add it with 'sprov ca init tok --add-firmware-key'" \
	"$SPROV" ca sign-firmware tok spa962-7.6.2.bin --product SPA-962 --version 7.6.2 -o x.sfw
SPROV_PKCS11_PIN=1111 refused 1 "sprov ca init: token 'fw-ca': login refused: wrong PIN, or the PIN is locked" \
	"$SPROV" ca init tok --add-firmware-key
expect_rc 0 "$SPROV" ca init tok --add-firmware-key --pin-file "$T/pin"
[ "$(sqlite3 tok/ca.db "select value from meta where key='pkcs11_firmware_key'")" = \
	"pkcs11:token=fw-ca;object=sprov-firmware-ca;type=private" ] || fail "firmware key URI"
[ ! -e tok/firmware-ca.key ] || fail "a firmware key file for a token CA"
GNUTLS_PIN=2468 p11tool --provider "$MODULE" --login --list-privkeys "$URI" >keys.txt 2>/dev/null
grep -B2 -A2 'Label: sprov-firmware-ca' keys.txt >fwkey.txt || fail "no firmware key in the token"
grep -q 'ECDSA-SECP384R1' fwkey.txt && grep -q CKA_SENSITIVE fwkey.txt &&
	grep -q CKA_NEVER_EXTRACTABLE fwkey.txt || fail "firmware key: $(cat fwkey.txt)"
rm keys.txt fwkey.txt
refused 1 "sprov ca init: tok: the CA already has a firmware-signing key (firmware-ca.crt); nothing changed" \
	"$SPROV" ca init tok --add-firmware-key
expect_rc 0 "$SPROV" ca sign-firmware tok spa962-7.6.2.bin --product SPA-962 --version 7.6.2 -o tok.sfw
[ "$(bash "$MKFW" verify tok/firmware-ca.crt tok.sfw)" = "SPA-962 7.6.2 300000" ] ||
	fail "mkfw.sh does not verify the token-signed container"
SPROV_PKCS11_PIN=1111 refused 1 "sprov ca sign-firmware: token 'fw-ca': login refused: wrong PIN, or the PIN is locked" \
	"$SPROV" ca sign-firmware tok spa962-7.6.2.bin --product SPA-962 --version 7.6.2 -o x.sfw
expect_rc 0 "$SPROV" ca issue tok --mac 000e08fc0001 --out tokb
cmp -s tokb/000e08fc0001/firmware-ca.crt tok/firmware-ca.crt || fail "token CA's bundle"
finish
