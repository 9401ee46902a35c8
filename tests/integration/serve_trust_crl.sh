#!/bin/bash
# sprov serve: only a CRL the device CA signed, read whole, and not older
# than the one in force, is loaded.  A forged CRL, another CA's CRL, DER
# with trailing bytes, PEM with a bad later block, a certificate where a CRL
# should be: each refused by --check-config (exit 1, the file and the
# reason) and by hot reload (the old CRL stays in force: the revoked device
# is still refused; logged; counted as a failed reload).  Replaying an older
# CRL (lower crlNumber) is refused on reload too.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
"$SPROV" ca issue "$T/ca" --mac 000e08aaaa05 --serial SN05 --product SPA2102 --out "$T/dev" >/dev/null
"$SPROV" db devices add 000e08aaaa05 --serial SN05 --product SPA2102 >/dev/null
DEV_C="$T/dev/000e08aaaa05"
mkdir -p "$T/bad"
cp "$T/device-ca.crl" "$T/bad/older.crl" # crlNumber 1, nothing revoked
"$SPROV" ca revoke "$T/ca" --mac 000e08aaaa05 >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
cp "$T/device-ca.crl" "$T/good.crl"

note "the bad CRLs"
openssl crl -in "$T/good.crl" -outform DER -out "$T/good.der"
# forged: the signature's last byte changed
python3 - "$T/good.der" "$T/bad/forged.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-1] ^= 0x01
open(sys.argv[2], 'wb').write(d)
PY
"$SPROV" ca init "$T/ca2" --org Other >/dev/null
"$SPROV" ca crl "$T/ca2" --ca device -o "$T/bad/other.crl" >/dev/null
{ cat "$T/good.der"; printf 'junk'; } >"$T/bad/trailing.der"
{ cat "$T/good.crl"; printf -- '-----BEGIN X509 CRL-----\nMIIBAAAAAAAA\n-----END X509 CRL-----\n'; } >"$T/bad/block2.crl"
{ cat "$T/good.crl"; printf -- '-----BEGIN X509 CRL-----\n!!!notbase64!!!\n-----END X509 CRL-----\n'; } >"$T/bad/base64.crl"
{ cat "$T/good.crl" "$T/ca/device-ca.crt"; } >"$T/bad/cert.crl"
BAD="forged.der:is not signed by a CA of
other.crl:is not signed by a CA of
trailing.der:not one whole DER CRL
block2.crl:PEM block 2 is not one whole CRL
base64.crl:PEM block 2 is not a readable PEM block
cert.crl:PEM block 2 is a CERTIFICATE, not an X509 CRL"

note "the good ones pass --check-config, PEM and DER"
for f in "$T/good.crl" "$T/good.der"; do
	expect_rc 0 "$SPROV" serve --check-config --listen 127.0.0.1:1 --cert "$T/provserver.crt" \
		--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" --crl "$f"
done

note "each bad one is refused by --check-config, naming the file and the reason"
before=$(tree_hash "$T/bad")
while IFS=: read -r f why; do
	expect_rc 1 "$SPROV" serve --check-config --listen 127.0.0.1:1 --cert "$T/provserver.crt" \
		--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" --crl "$T/bad/$f"
	expect_err_contains "$T/bad/$f"
	expect_err_contains "$why"
done <<<"$BAD"
[ "$(tree_hash "$T/bad")" = "$before" ] || fail "--check-config changed a file"

serve_start --crl "$T/device-ca.crl" --crl-poll 1
get "$DEV_A" /spa2102.cfg
expect_code 200
get "$DEV_C" /spa2102.cfg
[ "$CODE" != 200 ] || fail "revoked C served"

# reload_refused FILE REASON: FILE replaces the CRL; the reload must fail
# with REASON, be counted, and leave the old CRL in force.
reload_refused() {
	local f=$1 why=$2 failed0 mark i
	failed0=$(metric 'sprov_tls_reloads_total{result="failed"}')
	mark=$(wc -l <"$T/serve.err")
	cp "$f" "$T/device-ca.crl"
	for i in $(seq 50); do
		tail -n +"$((mark + 1))" "$T/serve.err" | grep -qF "$why" && break
		sleep 0.1
	done
	tail -n +"$((mark + 1))" "$T/serve.err" | grep -F "CRL reload" | grep -F "$T/device-ca.crl" |
		grep -qF "$why" || fail "reload of $f not refused with '$why': $(tail -3 "$T/serve.err")"
	tail -n +"$((mark + 1))" "$T/serve.err" | grep -q 'previous CRL stays in force' ||
		fail "refusal of $f does not say the old CRL stays"
	[ "$(metric 'sprov_tls_reloads_total{result="failed"}')" -gt "$failed0" ] ||
		fail "refused reload of $f not counted"
	get "$DEV_C" /spa2102.cfg
	[ "$CODE" != 200 ] || fail "revoked C served after $f replaced the CRL"
	get "$DEV_A" /spa2102.cfg
	expect_code 200
}

note "each bad one is refused by hot reload: the old CRL stays in force"
while IFS=: read -r f why; do
	reload_refused "$T/bad/$f" "$why"
done <<<"$BAD"

note "an older CRL (lower crlNumber), valid and signed, is refused on reload"
reload_refused "$T/bad/older.crl" "crlNumber 1 of"
grep -q 'is lower than 2, the one in force' "$T/serve.err" || fail "replay message"

note "the good CRL again, then a newer one, are taken"
ok0=$(metric 'sprov_tls_reloads_total{result="ok"}')
cp "$T/good.der" "$T/device-ca.crl"
for i in $(seq 50); do [ "$(metric 'sprov_tls_reloads_total{result="ok"}')" -gt "$ok0" ] && break; sleep 0.1; done
[ "$(metric 'sprov_tls_reloads_total{result="ok"}')" -gt "$ok0" ] || fail "good DER CRL not reloaded"
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
for i in $(seq 50); do [ "$(metric 'sprov_tls_reloads_total{result="ok"}')" -gt "$((ok0 + 1))" ] && break; sleep 0.1; done
[ "$(metric 'sprov_tls_reloads_total{result="ok"}')" -gt "$((ok0 + 1))" ] || fail "newer CRL not reloaded"
_TESTS_RUN=$((_TESTS_RUN + 2))
get "$DEV_C" /spa2102.cfg
[ "$CODE" != 200 ] || fail "revoked C served after the newer CRL"
get "$DEV_A" /spa2102.cfg
expect_code 200
serve_stop
finish
