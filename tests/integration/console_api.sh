#!/bin/bash
# The console's JSON API (docs/CONSOLE.md) with curl against a real
# `sprov serve` on SQLite: authentication (none, wrong, revoked, read on a
# change, 429), parameter changes and their audit entries (actor, hashed
# value), every inventory filter, paging by cursor, bad parameters, masking
# and an audited reveal, the one-time login link (twice, expired), cookie
# flags, CSRF, the security headers, and audit verify on a tampered trail.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

DB=${SPROV_STORE#sqlite:}
sq() { sqlite3 "$DB" "$@"; }

. "$SPROV_SRCDIR/tests/integration/console_api_lib.bash"

serve_pki
serve_db
"$SPROV" db devices add 000e08aaaa03 --serial SNC03 --product SPA2102 --group sales >/dev/null
"$SPROV" db devices add 000e08aaaa04 --serial SND04 --product P4 --disabled >/dev/null
"$SPROV" db devices add 000e08aaaa05 --serial SNE05 --product P5 --group sales >/dev/null
ADM=$("$SPROV" admin token add ops --role admin 2>/dev/null)
RD=$("$SPROV" admin token add viewer --role read 2>/dev/null)
OLD=$("$SPROV" admin token add gone --role admin 2>/dev/null)
"$SPROV" admin token revoke gone >/dev/null
[[ $ADM =~ ^spv_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$ ]] || fail "token form: $ADM"
[ "$(sq "SELECT count(*) FROM tokens WHERE hash LIKE '%${ADM##*_}%'")" = 0 ] ||
	fail "the token is stored in clear"
note "the admin listener off loopback is accepted (served over TLS: serve_admin_tls)"
SRVARGS=(--listen 127.0.0.1:1 --cert "$T/provserver.crt" --key "$T/privkey.pem"
	--client-ca "$T/ca/device-ca.crt" --check-config)
expect_rc 0 "$SPROV" serve "${SRVARGS[@]}" --admin 0.0.0.0:9443
expect_rc 0 "$SPROV" serve "${SRVARGS[@]}" --admin '[::1]:9443'
expect_rc 0 "$SPROV" serve "${SRVARGS[@]}" --admin 127.0.0.2:9443

serve_start --crl "$T/device-ca.crl"
A=(-H "Authorization: Bearer $ADM")
R=(-H "Authorization: Bearer $RD")

note "no credentials, wrong, malformed and revoked tokens: 401"
api GET /api/v1/summary
expect 401 "no token" .error "authentication required"
api GET /api/v1/summary -H "Authorization: Bearer $(other_last "$ADM")"
expect 401 "wrong secret" .error "invalid or revoked token"
api GET /api/v1/summary -H "Authorization: Bearer spv_nothing"
expect 401 "malformed" .error "invalid or revoked token"
api GET /api/v1/summary -H "Authorization: Bearer $OLD"
expect 401 "revoked" .error "invalid or revoked token"

note "the security headers, on the API and the page"
api GET /api/v1/summary "${R[@]}"
expect 200 "summary" '.by_status | keys | length' 6
[ "$(jq '.series.resyncs | length' <<<"$BODY")" = 288 ] || fail "series: $BODY"
[ "$(jq -r .failures_24h.revoked <<<"$BODY")" = 0 ] || fail "failures_24h: $BODY"
[ "$(jq -r '.server.crls[0].issuer' <<<"$BODY")" != null ] || fail "no CRL in the summary: $BODY"
# The server certificate's notAfter, as openssl reads it from the file served.
NA=$(date -d "$(openssl x509 -in "$T/provserver.crt" -noout -enddate | cut -d= -f2)" +%s)
[ "$(jq -r .server.cert_not_after <<<"$BODY")" = "$NA" ] ||
	fail "cert_not_after is not the server certificate's ($NA): $BODY"
[ "$(jq -r '.nodes[0].name == .server.node and (.nodes[0].seen | type) == "number"' <<<"$BODY")" = true ] ||
	fail "this node is not in the summary's nodes: $BODY"
hdr Content-Security-Policy | grep -q "^default-src 'none'; script-src 'self'; .*frame-ancestors 'none'$" ||
	fail "no CSP on the API"
[ "$(hdr Cache-Control)" = no-store ] || fail "API not no-store"
[ "$(hdr Content-Type)" = application/json ] || fail "API content type"
api GET /
expect 200 "the page"
hdr Content-Security-Policy | grep -q "default-src 'none'" || fail "no CSP on /"
[ "$(hdr X-Content-Type-Options)" = nosniff ] || fail "no nosniff"
[ "$(hdr Referrer-Policy)" = no-referrer ] || fail "no Referrer-Policy"
etag=$(hdr ETag)
api GET / -H "If-None-Match: $etag"
expect 304 "If-None-Match"
api GET /metrics
expect 200 "/metrics stays open"
api POST /healthz
expect 405 "/healthz stays GET only"

note "a read token reads, and is refused a change with nothing written"
api PUT /api/v1/params/device/000e08aaaa01/Proxy_1_ "${R[@]}" -d '{"value":"x.example.net"}'
expect 403 "read PUT" .error "token 'viewer' has role read"
[ "$(sq "SELECT count(*) FROM device_params WHERE name = 'Proxy_1_'")" = 0 ] ||
	fail "a read token changed a parameter"

note "admin PUT and DELETE; the audit trail names api:ops and hashes the value"
api PUT /api/v1/params/device/00:0E:08:AA:AA:01/Proxy_1_ "${A[@]}" -d '{"value":"x.example.net","access":"rw"}'
expect 200 "admin PUT" .ok true
[ "$(sq "SELECT value FROM device_params WHERE mac = '000e08aaaa01' AND name = 'Proxy_1_'")" = x.example.net ] ||
	fail "PUT did not set the parameter"
api PUT /api/v1/params/group/sales/Line_1_ "${A[@]}" -d '{"value":"7"}'
expect 200 "group PUT"
api GET '/api/v1/audit?device=000e08aaaa01&limit=1' "${R[@]}"
expect 200 "audit" '.entries[0].actor' api:ops
[ "$(jq -r '.entries[0].action' <<<"$BODY")" = param.set ] || fail "audit: $BODY"
grep -q hmac-sha256: <<<"$BODY" || fail "audit value not hashed: $BODY"
grep -q x.example.net <<<"$BODY" && fail "audit shows the value: $BODY"
api DELETE /api/v1/params/device/000e08aaaa01/Proxy_1_ "${A[@]}"
expect 200 "DELETE"
api DELETE /api/v1/params/device/000e08aaaa01/Proxy_1_ "${A[@]}"
expect 404 "DELETE again"
api PUT /api/v1/params/device/000e08aaaa99/Proxy_1_ "${A[@]}" -d '{"value":"y"}'
expect 404 "PUT on an unknown device"
api PUT /api/v1/params/defaults/Proxy_1_ "${A[@]}" -d '{"value":1}'
expect 400 "value not a string" .error 'body: "value" must be a string'
api PUT /api/v1/params/defaults/Proxy_1_ "${A[@]}" -d '{"value":"a","x":1}'
expect 400 "unknown member"
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
api PUT /api/v1/params/defaults/Proxy_1_ "${A[@]}" --data-binary @"$T/big"
expect 413 "body over 64 KiB"
[ "$(sq "SELECT value FROM params WHERE level = 0 AND name = 'Proxy_1_'")" = sip.example.net ] ||
	fail "a refused PUT changed the default"

note "inventory filters, sorting, bad parameters"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
for i in $(seq 100); do   # the contact is written behind
	[ "$(sq "SELECT count(*) FROM contacts")" = 1 ] && break
	sleep 0.05
done
api GET '/api/v1/devices?q=SNC' "${R[@]}"
expect 200 "q serial" '[.devices[].mac] | join(",")' 000e08aaaa03
api GET '/api/v1/devices?q=00:0E:08:AA:AA:0' "${R[@]}"
expect 200 "q mac" '.devices | length' 5
api GET '/api/v1/devices?q=sales' "${R[@]}"
expect 200 "q group" '[.devices[].mac] | join(",")' 000e08aaaa03,000e08aaaa05
api GET '/api/v1/devices?status=disabled' "${R[@]}"
expect 200 "status" '[.devices[].mac] | join(",")' 000e08aaaa04
api GET '/api/v1/devices?status=never-seen' "${R[@]}"
expect 200 "never-seen" '[.devices[].mac] | join(",")' 000e08aaaa02,000e08aaaa03,000e08aaaa05
api GET "/api/v1/devices?seen_after=$(($(date +%s) - 600))" "${R[@]}"
expect 200 "seen_after" '[.devices[].mac] | join(",")' 000e08aaaa01
[ "$(jq -r '.devices[0].last_http' <<<"$BODY")" = 200 ] || fail "last_http: $BODY"
api GET "/api/v1/devices?seen_before=$(($(date +%s) - 600))&status=never-seen&limit=1" "${R[@]}"
expect 200 "seen_before" '.devices[0].mac' 000e08aaaa02
api GET '/api/v1/devices?sort=serial&order=desc' "${R[@]}"
expect 200 "sort serial desc" '[.devices[].serial] | join(",")' SNE05,SND04,SNC03,SNA02,SNA01
api GET '/api/v1/devices?status=lost' "${R[@]}"
expect 400 "bad status" .error "status: not one of ok, behind, failing, never-seen, disabled, revoked"
api GET '/api/v1/devices?sort=ip' "${R[@]}"
expect 400 "bad sort" .error "sort: not one of mac, last-seen, serial"
api GET '/api/v1/devices?limit=501' "${R[@]}"
expect 400 "bad limit"
grep -q limit <<<"$BODY" || fail "bad limit not named: $BODY"
api GET '/api/v1/devices?after=not*a*cursor' "${R[@]}"
expect 400 "bad cursor" .error "after: not a cursor this API returned"
api GET '/api/v1/devices?after=AAAA' "${R[@]}"
expect 400 "undecodable cursor"
grep -q '"after: ' <<<"$BODY" || fail "cursor error not named: $BODY"

note "paging with a cursor through every device"
seen= next=
while :; do
	api GET "/api/v1/devices?limit=2${next:+&after=$next}" "${R[@]}"
	expect 200 "page"
	seen="$seen$(jq -r '.devices[].mac' <<<"$BODY" | tr '\n' ' ')"
	next=$(jq -r '.next // empty' <<<"$BODY")
	[ -n "$next" ] || break
done
[ "$seen" = "000e08aaaa01 000e08aaaa02 000e08aaaa03 000e08aaaa04 000e08aaaa05 " ] ||
	fail "paging saw: $seen"

note "one device: secrets masked; reveal is audited"
api GET /api/v1/devices/00:0E:08:AA:AA:01 "${R[@]}"
expect 200 "device" '.params[] | select(.name == "Password_1_") | .value' null
[ "$(jq -r '.params[] | select(.name == "Password_1_") | .secret' <<<"$BODY")" = true ] || fail "secret flag"
[ "$(jq -r '.params[] | select(.name == "Proxy_1_") | .value' <<<"$BODY")" = sip.example.net ] ||
	fail "a plain value is masked: $BODY"
[ "$(jq -r '.params[] | select(.name == "Proxy_1_") | .level' <<<"$BODY")" = defaults ] || fail "level"
[ "$(jq -r '.drift.fetched_etag == .drift.current_etag' <<<"$BODY")" = true ] ||
	fail "drift: $BODY"
[ "$(jq -r '.events[0].kind + " " + (.events[0].http | tostring)' <<<"$BODY")" = "contact 200" ] ||
	fail "events: $BODY"
grep -q secretAAAA <<<"$BODY" && fail "the secret reached the API"
api GET /api/v1/devices/000e08aaaa99 "${R[@]}"
expect 404 "unknown device" .error "no device 000e08aaaa99 in the database"
api GET /api/v1/devices/zz "${R[@]}"
expect 400 "not a MAC"
api POST /api/v1/devices/000e08aaaa01/params/Password_1_/reveal "${R[@]}"
expect 403 "read reveal"
api POST /api/v1/devices/000e08aaaa01/params/Password_1_/reveal "${A[@]}"
expect 200 "reveal" .value secretAAAA
api GET '/api/v1/audit?device=000e08aaaa01&limit=1' "${R[@]}"
expect 200 "reveal audited" '.entries[0].action + " " + .entries[0].actor + " " + .entries[0].detail.name' \
	"param.reveal api:ops Password_1_"

note "the login link: once, not twice, not after it expired"
URL=$("$SPROV" admin login-url --url "http://127.0.0.1:$APORT/")
[[ $URL =~ ^http://127\.0\.0\.1:$APORT/login\?t=[A-Za-z0-9_-]{43}$ ]] || fail "login-url: $URL"
api GET "${URL#http://127.0.0.1:$APORT}"
expect 303 "login"
[ "$(hdr Location)" = / ] || fail "Location: $(hdr Location)"
cookie=$(hdr Set-Cookie)
[[ $cookie =~ ^sprov_session=([A-Za-z0-9_-]{43})\;\ Path=/\;\ HttpOnly\;\ SameSite=Strict\;\ Max-Age=28800$ ]] ||
	fail "Set-Cookie: $cookie"
SESS=${BASH_REMATCH[1]}
api GET "${URL#http://127.0.0.1:$APORT}"
expect 403 "the link again"
grep -q "this login link was used or has expired: run 'sprov admin login-url' again" <<<"$BODY" ||
	fail "used link: $BODY"
URL2=$("$SPROV" admin login-url --url "http://127.0.0.1:$APORT")
sq "UPDATE logins SET expires = expires - 61"
api GET "${URL2#http://127.0.0.1:$APORT}"
expect 403 "an expired link"
[ -z "$(hdr Set-Cookie)" ] || fail "an expired link set a cookie"

note "the session: actor, CSRF refused without the header, accepted with it"
C=(-H "Cookie: sprov_session=$SESS")
api GET /api/v1/session "${C[@]}"
expect 200 "session" .role admin
actor=$(jq -r .actor <<<"$BODY")
[[ $actor == console:cli:* ]] || fail "session actor: $actor"
CSRF=$(jq -r .csrf <<<"$BODY")
api GET /api/v1/session "${A[@]}"
expect 200 "bearer session" .csrf null
api PUT /api/v1/params/defaults/NTP_Server "${C[@]}" -d '{"value":"ntp.example.net"}'
expect 403 "no CSRF" .error "missing or wrong CSRF token"
api PUT /api/v1/params/defaults/NTP_Server "${C[@]}" -H "X-CSRF-Token: $(other_last "$CSRF")" -d '{"value":"ntp.example.net"}'
expect 403 "wrong CSRF" .error "missing or wrong CSRF token"
[ "$(sq "SELECT count(*) FROM params WHERE name = 'NTP_Server'")" = 0 ] || fail "CSRF-less PUT wrote"
api PUT /api/v1/params/defaults/NTP_Server "${C[@]}" -H "X-CSRF-Token: $CSRF" -d '{"value":"ntp.example.net"}'
expect 200 "CSRF"
api GET '/api/v1/audit?limit=1' "${C[@]}"
expect 200 "cookie audit" '.entries[0].actor' "$actor"
api POST /api/v1/logout "${C[@]}" -H "X-CSRF-Token: $CSRF"
expect 200 "logout"
[[ $(hdr Set-Cookie) == "sprov_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" ]] ||
	fail "logout cookie: $(hdr Set-Cookie)"
api GET /api/v1/session "${C[@]}"
expect 401 "after logout"

note "unknown devices and audit verify, intact and tampered"
api GET /api/v1/unknown "${R[@]}"
expect 200 "unknown" '.unknown | type' array
api GET /api/v1/audit/verify "${R[@]}"
expect 200 "verify" .intact true
sq "UPDATE audit SET actor = 'cli:mallory' WHERE seq = 2"
api GET /api/v1/audit/verify "${R[@]}"
expect 200 "tampered" .error "audit: entry 2 was changed"
[ "$(jq -r .intact <<<"$BODY")" = false ] || fail "tampered: $BODY"

note "failed attempts from one address: 429 with Retry-After"
for i in $(seq 11); do   # the failures above count too
	api GET /api/v1/summary -H "Authorization: Bearer $(other_last "$ADM")"
	[ "$CODE" = 429 ] && break
	[ "$CODE" = 401 ] || fail "failure $i: HTTP $CODE"
done
[ "$i" -ge 2 ] && [ "$i" -le 10 ] || fail "429 after $i failures here"
api GET /api/v1/summary "${A[@]}"
expect 429 "rate limited, a good token too"
ra=$(hdr Retry-After)
[ "$ra" -ge 1 ] && [ "$ra" -le 60 ] || fail "Retry-After: $ra"
api GET /healthz
expect 200 "/healthz is not limited"

serve_stop
finish
