#!/usr/bin/env bash
# End to end with our own server: `sprov ca` PKI, `sprov db` parameters,
# `sprov serve`, dnsmasq, and `sprov device` resyncing two devices (sprov and
# spa certificate styles).  Refusals leave no request in serve's access log.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
export SPROV_STORE="sqlite:$T/sprov.db"

q() { "$@" >/dev/null || fail "$* failed"; }
q "$SPROV" ca init "$T/ca" --org Test
q "$SPROV" req --cn "$FQDN/mailto:admin@example.test" --out "$T/prov.csr" --key-out "$T/privkey.pem"
q "$SPROV" ca sign "$T/ca" "$T/prov.csr" -o "$T/provserver.crt"
q "$SPROV" ca issue "$T/ca" --mac 000e08aaaa01 --serial SNA01 --product SPA2102 --out "$T/bundles"
q "$SPROV" ca issue "$T/ca" --mac 000e08aaaa02 --serial SNA02 --product SPA-962 \
	--subject-style spa --out "$T/bundles"
q "$SPROV" db init
q "$SPROV" db devices add 000e08aaaa01 --serial SNA01 --product SPA2102
q "$SPROV" db devices add 000e08aaaa02 --serial SNA02 --product SPA-962
q "$SPROV" db params set --default Proxy_1_=sip.example.net --access na
echo secretAAAA | q "$SPROV" db params set --device 000e08aaaa01 Password_1_ --stdin
echo secretBBBB | q "$SPROV" db params set --device 000e08aaaa02 Password_1_ --stdin

start_dns
PORT=$(free_port)
bg_start "$SPROV" serve --listen "127.0.0.1:$PORT" --admin off --cert "$T/provserver.crt" \
	--key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt" --workers 1 \
	--access-log "$T/access.log" 2>"$T/serve.err"
wait_port "$PORT" 20
count() { if [ -f "$T/access.log" ]; then wc -l <"$T/access.log"; else echo 0; fi; }

A=$T/devA B=$T/devB
expect_rc 0 "$SPROV" device init "$A" --bundle "$T/bundles/000e08aaaa01" \
	--rule "https://$FQDN:$PORT/profiles/\$MA.xml" --set "Primary_DNS=$DNS"
expect_rc 0 "$SPROV" device init "$B" --bundle "$T/bundles/000e08aaaa02" \
	--rule "https://$FQDN:$PORT/spa\$PSN.cfg" --set "Primary_DNS=$DNS"
grep -q '^Product_Name = SPA-962$' "$B/device.conf" || fail "spa-style identity not derived"

note "each device gets and applies its own profile (DNS from Primary_DNS)"
expect_rc 0 "$SPROV" device resync "$A" --json
expect_out_contains '"changed":["Password_1_","Proxy_1_"]'
grep -q '<Password_1_>secretAAAA</Password_1_>' "$A/params.xml" || fail "A's profile: $(cat "$A/params.xml")"
grep -q 'Proxy_1_ ua="na">sip.example.net' "$A/params.xml" || fail "access attribute lost"
case "$ERR" in *secretAAAA*) fail "a parameter value was logged" ;; esac
expect_rc 0 "$SPROV" device resync "$B"
grep -q '<Password_1_>secretBBBB</Password_1_>' "$B/params.xml" || fail "B's profile"

note "unchanged profile: 304 through the stored ETag"
expect_rc 0 "$SPROV" device resync "$A" --json
expect_out_contains '"status":304'

note "a parameter changed on the server reaches the device on the next resync"
echo newsecret | q "$SPROV" db params set --device 000e08aaaa01 Password_1_ --stdin
expect_rc 0 "$SPROV" device resync "$A" --json
expect_out_contains '"changed":["Password_1_"]'
grep -q newsecret "$A/params.xml" || fail "new value not applied"

note "device A asking for B's profile is refused by the server; A's store is unchanged"
H=$(store_hash "$A")
expect_rc 1 "$SPROV" device resync "$A" --rule "https://$FQDN:$PORT/profiles/000e08aaaa02.xml"
expect_err_contains "http_get failed: HTTP 403"
[ "$(store_hash "$A")" = "$H" ] || fail "store changed after a 403"

note "a server whose DNS answer does not match is refused before any request"
DNS_GOOD=$DNS
start_dns_extra --address=/$FQDN/127.0.0.2
before=$(count)
expect_rc 1 "$SPROV" device resync "$A" --dns-server "$DNS_EXTRA" --json \
	--rule "https://127.0.0.1:$PORT/profiles/\$MA.xml"
expect_err_contains "server check 4 (address): server address 127.0.0.1 is not among the DNS answers for $FQDN"
expect_out_contains '"check":"address"'
[ "$(store_hash "$A")" = "$H" ] || fail "store changed after a DNS mismatch"
sleep 0.2
[ "$(count)" = "$before" ] || fail "a request reached sprov serve: $(tail -1 "$T/access.log")"
note "the same IP-literal URL with the right DNS is accepted"
expect_rc 0 "$SPROV" device resync "$A" --dns-server "$DNS_GOOD" \
	--rule "https://127.0.0.1:$PORT/profiles/\$MA.xml"
finish
