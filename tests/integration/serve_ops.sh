#!/bin/bash
# sprov serve operations: config file and --check-config, SIGHUP reload of
# certificate and config (a bad config is refused, the old one serves on),
# configurable paths and identity, admin /healthz and /metrics, --user,
# SIGTERM drain.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
PORT=$(free_port)
APORT=$(free_port)
cat >"$T/sprov.conf" <<EOC
; sprov serve settings
[serve]
listen = 127.0.0.1:$PORT
admin = 127.0.0.1:$APORT
cert = $T/provserver.crt
key = $T/privkey.pem
client-ca = $T/ca/device-ca.crt
crl = $T/device-ca.crl
workers = 2
identity = auto
path = /cfg/\$MAU/\$SN.xml
path = /generic.xml
header-timeout = 5
idle-timeout = 1500ms
EOC

note "--check-config: a good config passes, bad ones are refused with a reason"
expect_rc 0 "$SPROV" serve --config "$T/sprov.conf" --check-config
expect_out_contains "configuration OK"
printf '[serve]\nworkers = lots\n' >"$T/bad1.conf"
expect_rc 1 "$SPROV" serve --config "$T/bad1.conf" --check-config --cert a --key b --client-ca c
expect_err_contains "workers"
printf '[serve]\nfrobnicate = 1\n' >"$T/bad2.conf"
expect_rc 1 "$SPROV" serve --config "$T/bad2.conf" --check-config
expect_err_contains "unknown setting 'frobnicate'"
printf '[serve]\npath = /p/$NOPE.xml\n' >"$T/bad3.conf"
expect_rc 1 "$SPROV" serve --config "$T/bad3.conf" --check-config
expect_err_contains "unknown macro"
expect_rc 1 "$SPROV" serve --config "$T/sprov.conf" --check-config --key "$T/ca/device-ca.key"
expect_err_contains "mismatch"
expect_rc 1 "$SPROV" serve --config "$T/sprov.conf" --check-config --store "sqlite:$T/none.db"
expect_err_contains "store sqlite:$T/none.db"
[ ! -e "$T/none.db" ] || fail "--check-config created a database"
expect_rc 2 "$SPROV" serve --check-config --listen 127.0.0.1:1
expect_err_contains "required"
expect_rc 2 "$SPROV" serve --bogus
expect_rc 0 "$SPROV" serve --help

note "serving from the config file: templates with \$MAU and \$SN, and a generic one"
bg_start "$SPROV" serve --config "$T/sprov.conf" >>"$T/access.log" 2>>"$T/serve.err"
SERVE_PID=$BG_PID
wait_port "$PORT" 20
get "$DEV_A" /cfg/000E08AAAA01/SNA01.xml
expect_code 200
get "$DEV_A" /cfg/000E08AAAA01/SNA02.xml
expect_code 403
get "$DEV_A" /cfg/000E08AAAA02/SNA02.xml
expect_code 403
get "$DEV_A" /generic.xml
expect_code 200
case "$BODY" in *secretAAAA*) ;; *) fail "generic path: not A's profile" ;; esac
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 404

note "admin: /healthz and /metrics"
[ "$(curl -s "http://127.0.0.1:$APORT/healthz")" = ok ] || fail "healthz"
curl -s "http://127.0.0.1:$APORT/metrics" >"$T/metrics"
for m in sprov_tls_handshakes_total sprov_tls_verify_failures_total sprov_requests_total \
	sprov_cache_hits_total sprov_renders_total sprov_crl_age_seconds \
	sprov_crl_next_update_seconds sprov_open_connections; do
	grep -q "^$m" "$T/metrics" || fail "metric $m missing"
done
_TESTS_RUN=$((_TESTS_RUN + 2))

note "SIGHUP with a broken config: refused, the old one keeps serving"
cp "$T/sprov.conf" "$T/good.conf"
printf 'workers = 0x10\n' >>"$T/sprov.conf"
hup_wait "$SERVE_PID" "$T/serve.err" 'reload refused'
get "$DEV_A" /cfg/000E08AAAA01/SNA01.xml
expect_code 200
[ "$(metric 'sprov_config_reloads_total{result="failed"}')" = 1 ] || fail "failed reload metric"

note "SIGHUP with a good new config and a new server certificate: both in force"
cp "$T/good.conf" "$T/sprov.conf"
sed -i 's|^path = /generic.xml|path = /other.xml|' "$T/sprov.conf"
"$SPROV" req --cn "$SRV_NAME" --out "$T/prov2.csr" --key-out "$T/privkey2.pem" >/dev/null
"$SPROV" ca sign "$T/ca" "$T/prov2.csr" -o "$T/provserver2.crt" >/dev/null
cp "$T/provserver2.crt" "$T/provserver.crt"
cp "$T/privkey2.pem" "$T/privkey.pem"
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
get "$DEV_A" /other.xml
expect_code 200
get "$DEV_A" /generic.xml
expect_code 404
served=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
	-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" </dev/null 2>/dev/null |
	openssl x509 -noout -fingerprint -sha256)
want=$(openssl x509 -in "$T/provserver2.crt" -noout -fingerprint -sha256)
[ "$served" = "$want" ] || fail "new server certificate not served"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "SIGTERM: an in-flight keep-alive exchange finishes, then the server exits 0"
# (-quiet reads on past the end of its input: the connection stays open,
# kept alive, until the server closes it)
( printf 'GET /other.xml HTTP/1.1\r\nHost: x\r\n\r\n' |
  timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
	-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" >"$T/drain.out" 2>/dev/null || true ) &
sleep 1
kill -TERM "$SERVE_PID"
t0=$(date +%s%N)
set +e
wait "$SERVE_PID"
rc=$?
set -e
t1=$(date +%s%N)
[ $rc -eq 0 ] || fail "exit status $rc after SIGTERM"
[ $(( (t1 - t0) / 1000000 )) -lt 5000 ] || fail "drain took too long"
grep -q '^HTTP/1.1 200' "$T/drain.out" || fail "in-flight request lost"
grep -q 'serve: stopped' "$T/serve.err" || fail "no stop line"
if grep -q 'Sanitizer\|runtime error' "$T/serve.err"; then fail "sanitizer: $(cat "$T/serve.err")"; fi
_TESTS_RUN=$((_TESTS_RUN + 1))
wait

note "identity = spa accepts only the spa subject style, identity = sprov the other"
serve_start --crl "$T/device-ca.crl" --identity spa
get "$DEV_A" /spa2102.cfg
expect_code 403
get "$DEV_B" /spa962.cfg
expect_code 200
serve_stop
serve_start --crl "$T/device-ca.crl" --identity sprov
get "$DEV_A" /spa2102.cfg
expect_code 200
get "$DEV_B" /spa962.cfg
expect_code 403
serve_stop

note "--user drops privileges after binding and loading the key"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	mkdir -m 0777 "$T/db2"
	SPROV_STORE="sqlite:$T/db2/sprov.db" "$SPROV" db init >/dev/null
	chown -R nobody "$T/db2"
	chmod 0711 "$T"
	cp "$T/good.conf" "$T/user.conf"
	serve_start --store "sqlite:$T/db2/sprov.db" --user nobody
	uid=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$(serving_pid)/status")
	[ "$uid" = "$(id -u nobody)$(id -u nobody)$(id -u nobody)$(id -u nobody)" ] ||
		fail "still uid $uid"
	get "$DEV_A" /profiles/000e08aaaa01.xml
	expect_code 404
	serve_stop
	chmod 0700 "$T"
else
	note "(skipped: not root or no 'nobody')"
fi
finish
