#!/usr/bin/env bash
# sprov device resync against nginx (ssl_verify_client on) and dnsmasq: the
# good paths (plain, gzip, encrypted, 304, redirect, IP literal, /extra CN),
# then the negative matrix.  Every refusal must name its check, leave no trace
# in the server's access log, and leave the store unchanged by hash.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
start_dns
start_nginx good extra nofqdn othername sanbad mismatch nodns wrongca clientonly expired selfsigned chained

# Profiles.
W=$T/www
printf '<flat-profile>\n <SIP_User_ID_1_>alice</SIP_User_ID_1_>\n <Display_Name_1_ ua="rw">Alice</Display_Name_1_>\n <Resync_Periodic>7200</Resync_Periodic>\n</flat-profile>\n' >"$W/good.xml"
printf '<flat-profile><Gzip_Param>zipped</Gzip_Param></flat-profile>\n' | gzip -c >"$W/gz.xml"
printf '<flat-profile><Enc_Param>md5</Enc_Param></flat-profile>\n' |
	openssl enc -e -aes-256-cbc -md md5 -k s3cret -out "$W/enc-md5.xml" 2>/dev/null
printf '<flat-profile><Enc_Param>sha256</Enc_Param></flat-profile>\n' | gzip -c |
	openssl enc -e -aes-256-cbc -md sha256 -k s3cret -out "$W/enc-sha.xml" 2>/dev/null
printf '<flat-profile><Enc_Param>pbkdf2</Enc_Param></flat-profile>\n' |
	openssl enc -e -aes-256-cbc -pbkdf2 -k s3cret -out "$W/enc-pbkdf2.xml" 2>/dev/null
printf '<flat-profile><Broken>1</flat-profile>\n' >"$W/bad.xml"
printf '<flat-profile><Other_Param>x</Other_Param></flat-profile>\n' >"$W/other.xml"
head -c 20000 /dev/urandom | base64 -w 76 | sed 's/.*/<P>&<\/P>/' |
	{ echo '<flat-profile>'; cat; echo '</flat-profile>'; } >"$W/big.xml"

D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$T/pki/bundle" \
	--rule "https://$FQDN:$PORT_good/good.xml" --set GPP_SA=s3cret
[ "$(stat -c %a "$D/client.key")" = 600 ] || fail "client.key mode"
grep -q '^MAC = 000e08aabbcc$' "$D/device.conf" || fail "MAC not derived from client.crt"
grep -q '^Serial_Number = 88012BA01234$' "$D/device.conf" || fail "serial not derived"
grep -q '^Product_Name = SPA2102$' "$D/device.conf" || fail "product not derived"

resync() { expect_rc "$1" "$SPROV" device resync "$D" --dns-server "$DNS" "${@:2}"; }

note "good resync: profile applied, Log_Resync messages"
resync 0
expect_err_contains "SPA2102 00:0e:08:aa:bb:cc -- Requesting resync https://127.0.0.1:$PORT_good/good.xml"
expect_err_contains "Successful resync https://127.0.0.1:$PORT_good/good.xml"
grep -q '<SIP_User_ID_1_>alice</SIP_User_ID_1_>' "$D/params.xml" || fail "profile not applied: $(cat "$D/params.xml")"
[ "$(stat -c %a "$D/params.xml")" = 600 ] || fail "store mode"
grep -q 'Sprov/SPA2102-1.0.0 (000E08AABBCC)(88012BA01234)' "$T/nginx/access.log" || fail "User-Agent: $(tail -1 "$T/nginx/access.log")"

note "304: the ETag is sent back, nothing changes"
H=$(store_hash "$D")
resync 0 --json
expect_out_contains '"ok":true'
expect_out_contains '"status":304'
expect_out_contains '"changed":[]'
[ "$(store_hash "$D")" = "$H" ] || fail "store changed on 304"
tail -1 "$T/nginx/access.log" | grep -q '" 304 ' || fail "no 304 in access log"

note "gzip, encrypted (md5 and sha256 key derivation, key from a secret macro)"
resync 0 --rule "https://$FQDN:$PORT_good/gz.xml"
grep -q 'zipped' "$D/params.xml" || fail "gzip profile not applied"
resync 0 --rule "[--key s3cret] https://$FQDN:$PORT_good/enc-md5.xml"
grep -q '<Enc_Param>md5</Enc_Param>' "$D/params.xml" || fail "md5 profile not applied"
resync 0 --rule "[--key \$SA] https://$FQDN:$PORT_good/enc-sha.xml"
grep -q '<Enc_Param>sha256</Enc_Param>' "$D/params.xml" || fail "sha256 profile not applied"
case "$ERR" in *s3cret*) fail "the key was logged: $ERR" ;; esac
resync 0 --rule "[--key \$SA] https://$FQDN:$PORT_good/enc-pbkdf2.xml"
grep -q '<Enc_Param>pbkdf2</Enc_Param>' "$D/params.xml" || fail "openssl enc -pbkdf2 profile not applied"

note "redirect: followed with every check; JSON lists changed names"
resync 0 --json --rule "https://$FQDN:$PORT_good/moved.xml"
expect_out_contains '"status":200'
note "redirect to an IP literal whose address is in DNS"
resync 0 --rule "https://$FQDN:$PORT_good/moved-ip.xml"
note "redirect loop is bounded"
resync 1 --rule "https://$FQDN:$PORT_good/loop.xml"
expect_err_contains "more than 5 redirects"

note "IP-literal URL whose address is among the DNS answers for the FQDN: accepted"
resync 0 --rule "https://127.0.0.1:$PORT_good/other.xml" --json
expect_out_contains '"changed":["Other_Param"]'
note "CN with /extra information: accepted"
resync 0 --rule "https://$FQDN:$PORT_extra/good.xml"
note "several DNS answers: an address that refuses the connection, then the server"
# (dnsmasq answers host-records last-first, so 127.0.0.3 is tried first)
start_dns_extra --host-record=$FQDN,127.0.0.1 --host-record=$FQDN,127.0.0.3
expect_rc 0 "$SPROV" device resync "$D" --dns-server "$DNS_EXTRA" --json --rule "https://$FQDN:$PORT_good/good.xml"
expect_out_contains '"address":"127.0.0.1"'
expect_err_contains "Requesting resync https://127.0.0.3:$PORT_good/good.xml"
note "a server certificate under an intermediate CA (nginx sends the chain)"
resync 0 --rule "https://$FQDN:$PORT_chained/good.xml"
note "assignments are stored with the round and steer the next one"
R='( $C != 1 )? ( $C = 1 )! https://'$FQDN:$PORT_good'/gz.xml | https://'$FQDN:$PORT_good'/other.xml'
resync 0 --rule "$R" --json
expect_out_contains '"url":"https://'$FQDN:$PORT_good'/gz.xml"'
grep -q '<GPP_C>1</GPP_C>' "$D/params.xml" || fail "assignment not stored"
resync 0 --rule "$R" --json
expect_out_contains '"url":"https://'$FQDN:$PORT_good'/other.xml"'
note "assignments to any parameter and to a..p are stored the same way"
resync 0 --rule '( User_ID_1_ = "uid$MA" ; d = 4 )! https://'$FQDN:$PORT_good'/other.xml'
grep -q '<User_ID_1_>uid000e08aabbcc</User_ID_1_>' "$D/params.xml" || fail "User_ID_1_ assignment not stored"
grep -q '<GPP_D>4</GPP_D>' "$D/params.xml" || fail "d assignment not stored as GPP_D"
note "HTTP authentication with --uid/--pwd (never sent to a redirect's other host)"
cp "$W/good.xml" "$W/auth/good.xml"
resync 0 --rule "[--uid alice --pwd wonderland] https://$FQDN:$PORT_good/auth/good.xml"
case "$ERR" in *wonderland*) fail "the password was logged" ;; esac
resync 1 --rule "https://$FQDN:$PORT_good/auth/good.xml"
expect_err_contains "http_get failed: HTTP 401"
resync 1 --rule "[--uid alice --pwd wrong] https://$FQDN:$PORT_good/auth/good.xml"
expect_err_contains "http_get failed: HTTP 401"
before=$(grep -c 'alice' "$T/nginx/access.log" || true)
resync 1 --rule "[--uid alice --pwd wonderland] https://$FQDN:$PORT_good/away.xml"
expect_err_contains "http_get failed: HTTP 401"
tail -1 "$T/nginx/access.log" | grep -q '"GET /auth/good.xml HTTP/1.1" 401' || fail "redirect not followed to the other host"
tail -1 "$T/nginx/access.log" | grep -q alice && fail "credentials sent to the redirect's host"
note "Log_Resync_* messages also go to Syslog_Server (UDP) and use the templates"
SPORT=$(free_port)
bg_start python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d = s.recv(2048)
    with open(sys.argv[2], "ab") as f:
        f.write(d + b"\n")
' "$SPORT" "$T/syslog.txt"
SYSLOG_PID=$BG_PID
for _ in $(seq 100); do [ -n "$(ss -Hlun "sport = :$SPORT" 2>/dev/null)" ] && break; sleep 0.05; done
cat >>"$D/device.conf" <<CONF
Syslog_Server = 127.0.0.1:$SPORT
Log_Resync_Failure_Msg = \$MA failed (\$PRVST): \$ERR \$SA
CONF
resync 0 --rule "[--key \$SA] https://$FQDN:$PORT_good/enc-sha.xml"
resync 1 --rule "https://$FQDN:$PORT_good/err500.xml"
expect_err_contains 'error: 000e08aabbcc failed (-1): http_get failed: HTTP 500 $SA'
for _ in $(seq 100); do [ "$(wc -l <"$T/syslog.txt" 2>/dev/null || echo 0)" -ge 4 ] && break; sleep 0.05; done
grep -q '^<30>sprov-device\[[0-9]*\]: SPA2102 00:0e:08:aa:bb:cc -- Requesting resync https://127.0.0.1:' "$T/syslog.txt" || fail "no request message in syslog: $(cat "$T/syslog.txt")"
grep -q '^<30>sprov-device\[[0-9]*\]: SPA2102 00:0e:08:aa:bb:cc -- Successful resync' "$T/syslog.txt" || fail "no success message in syslog"
grep -q '^<27>sprov-device\[[0-9]*\]: 000e08aabbcc failed (-1): http_get failed: HTTP 500 \$SA$' "$T/syslog.txt" || fail "no failure message in syslog: $(cat "$T/syslog.txt")"
grep -q s3cret "$T/syslog.txt" && fail "a secret reached syslog"
bg_kill "$SYSLOG_PID"
sed -i '/^Syslog_Server/d; /^Log_Resync_Failure_Msg/d' "$D/device.conf"
note "Resync_Fails_On_FNF = No turns a 404 into a success"
echo "Resync_Fails_On_FNF = No" >>"$D/device.conf"
resync 0 --rule "https://$FQDN:$PORT_good/missing.xml"
sed -i '/^Resync_Fails_On_FNF/d' "$D/device.conf"

# ---- the negative matrix ----
# refuse RC CHECK MESSAGE ARGS...: exit RC, message, no request logged, store unchanged.
refuse() {
	local check=$1 msg=$2; shift 2
	local before h
	before=$(access_count)
	h=$(store_hash "$D")
	resync 1 --json "$@"
	expect_err_contains "$msg"
	expect_out_contains "\"check\":$check"
	expect_out_contains '"ok":false'
	[ "$(store_hash "$D")" = "$h" ] || fail "store changed after: $*"
	ls "$D" | grep -q 'tmp' && fail "temporary file left: $(ls "$D")"
	if [ "$check" != null ]; then
		[ "$(access_count)" = "$before" ] || fail "a request reached the server after a failed check: $(tail -1 "$T/nginx/access.log")"
	fi
	return 0
}

note "check 1: a server certificate from another CA"
refuse '"chain"' "server check 1 (chain): unable to get local issuer certificate" \
	--rule "https://$FQDN:$PORT_wrongca/good.xml"
note "check 1: a self-signed server"
refuse '"chain"' "server check 1 (chain): self-signed certificate" \
	--rule "https://$FQDN:$PORT_selfsigned/good.xml"
note "check 1: an expired server certificate"
refuse '"chain"' "server check 1 (chain): certificate has expired" \
	--rule "https://$FQDN:$PORT_expired/good.xml"
note "check 1: a leaf not for TLS server use"
refuse '"chain"' "server check 1 (chain)" \
	--rule "https://$FQDN:$PORT_clientonly/good.xml"
note "check 2: a CN with no FQDN"
refuse '"cn"' "server check 2 (cn): CN 'provisioning server'" \
	--rule "https://$FQDN:$PORT_nofqdn/good.xml"
note "check 2: SAN disagrees with the CN"
refuse '"cn"' "server check 2 (cn): the CN's FQDN 'prov.example.test' is not among" \
	--rule "https://$FQDN:$PORT_sanbad/good.xml"
note "check 3: the URL host is not the CN's FQDN"
refuse '"host"' "server check 3 (host): the URL host 'prov.example.test' is not the certificate's FQDN 'other.example.test'" \
	--rule "https://$FQDN:$PORT_othername/good.xml"
note "check 3 after a redirect to a host that is not the CN's FQDN"
refuse '"host"' "server check 3 (host): the URL host 'other.example.test' is not the certificate's FQDN 'prov.example.test'" \
	--rule "https://other.example.test:$PORT_good/good.xml"
note "check 4: DNS mismatch (the FQDN resolves to 127.0.0.2)"
refuse '"address"' "server address 127.0.0.1 is not among the DNS answers for mismatch.example.test" \
	--rule "https://127.0.0.1:$PORT_mismatch/good.xml"
note "check 4: IP-literal URL whose address is not in DNS"
refuse '"address"' "server check 4 (address)" \
	--rule "https://127.0.0.1:$PORT_nodns/good.xml"
note "HTTP 404"
refuse null "http_get failed: HTTP 404" --rule "https://$FQDN:$PORT_good/missing.xml"
expect_err_contains "Resync failed: http_get failed: HTTP 404"
note "HTTP 500"
refuse null "http_get failed: HTTP 500" --rule "https://$FQDN:$PORT_good/err500.xml"
note "malformed XML"
refuse null "profile decode failed" --rule "https://$FQDN:$PORT_good/bad.xml"
note "wrong --key"
refuse null "profile decode failed" --rule "[--key wrong] https://$FQDN:$PORT_good/enc-md5.xml"
note "encrypted profile without a key"
refuse null "profile decode failed" --rule "https://$FQDN:$PORT_good/enc-md5.xml"
note "plain http and tftp are refused"
refuse null "https only" --rule "http://$FQDN:$PORT_good/good.xml"
refuse null "https only" --rule "tftp://$FQDN/good.xml"
note "a name that does not resolve"
refuse null "DNS lookup of nodns.example.test" --rule "https://nodns.example.test:$PORT_good/good.xml"
note "Profile_Rule_B failure stops the round and nothing of rule A is applied"
H=$(store_hash "$D")
cat >>"$D/device.conf" <<CONF
Profile_Rule = https://$FQDN:$PORT_good/big.xml
Profile_Rule_B = https://$FQDN:$PORT_good/err500.xml
Profile_Rule_C = https://$FQDN:$PORT_good/gz.xml
CONF
before=$(access_count)
resync 1
expect_err_contains "Resync failed: http_get failed: HTTP 500"
[ "$(store_hash "$D")" = "$H" ] || fail "store changed after a failed Profile_Rule_B"
[ $(( $(access_count) - before )) = 2 ] || fail "Profile_Rule_C ran after _B failed"
sed -i '/^Profile_Rule_[BC]/d' "$D/device.conf"
resync 0
grep -q '<P>' "$D/params.xml" || fail "big profile not applied"
finish
