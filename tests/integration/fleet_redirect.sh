#!/usr/bin/env bash
# The fleet follows 301/302 as the device does: nginx (the same certificate
# and device CA as sprov serve) sends each device on to sprov serve; every
# hop is a new connection with every server check run again against the new
# host; at most 5 hops; https only.  A redirect that fails is counted by its
# reason and nothing reaches sprov serve.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"
. "$SPROV_SRCDIR/tests/integration/fleet_lib.bash"

N=20
[ "${SPROV_SANITIZE:-0}" = 1 ] && N=10

fleet_pki $N
start_dns
start_serve --access-log "$T/access.log"

NPORT=$(free_port)
mkdir -p "$T/nginx/tmp"
cat >"$T/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; user root; pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log info;
events { worker_connections 256; }
http {
  access_log $T/nginx/access.log;
  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;
  fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $T/provserver.crt; ssl_certificate_key $T/privkey.pem;
    ssl_client_certificate $T/ca/device-ca.crt; ssl_verify_client on;
    location ~ ^/moved/(.*)\$ { return 302 https://$FQDN:$PORT/profiles/\$1; }
    location ~ ^/hop/(.*)\$ { return 302 /moved/\$1; }
    location ~ ^/perm/(.*)\$ { return 301 https://127.0.0.1:$PORT/profiles/\$1; }
    location = /loop.xml { return 302 /loop.xml; }
    location ~ ^/plain/(.*)\$ { return 302 http://$FQDN:$PORT/profiles/\$1; }
    location ~ ^/away/(.*)\$ { return 302 https://other.example.test:$PORT/profiles/\$1; }
    location ~ ^/nodns/(.*)\$ { return 302 https://nodns.example.test:$PORT/profiles/\$1; }
    location = /nowhere.xml { return 302; }
    location ~ ^/byid/[^/]*/[^/]*/[^/]*/(.*)\$ { return 302 https://$FQDN:$PORT/profiles/\$1; }
  }
}
CONF
bg_start nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -e "$T/nginx/error.log"
wait_port "$NPORT"

fleet() { # fleet RC PATH [OPTIONS...]: the devices start at nginx's PATH
	local rc=$1 path=$2
	shift 2
	expect_rc "$rc" "$SPROV" fleet --bundles "$T/bundles" --json --timeout 20 \
		--dns-server "$DNS" --rule "https://$FQDN:$NPORT$path" "$@"
}
served() { wc -l <"$T/access.log"; }
reasons() { jq -c .failure_reasons <<<"$OUT"; }

note "a 302 to sprov serve: each device follows it and applies its own profile"
fleet 0 "/moved/\$MA.xml" --apply "$T/moved"
[ "$(json_get successes)" = $N ] || fail "successes: $OUT"
[ "$(json_get redirects)" = $N ] || fail "redirects followed: $OUT"
[ "$(json_get attempts)" = $N ] || fail "a redirect counted as an attempt: $OUT"
[ "$(json_get handshakes.full)" = $((2 * N)) ] || fail "not one handshake per hop: $OUT"
check_applied $N "$T/moved"

note "two hops (a relative 302, then an absolute one)"
fleet 0 "/hop/\$MA.xml" --apply "$T/hop"
[ "$(json_get redirects)" = $((2 * N)) ] || fail "redirects followed: $OUT"
check_applied $N "$T/hop"

note "a 301 to an IP-literal URL: check 4 resolves the certificate's FQDN"
fleet 0 "/perm/\$MA.xml" --apply "$T/perm"
[ "$(json_get redirects)" = $N ] || fail "redirects followed: $OUT"
check_applied $N "$T/perm"

note "--keepalive --rounds 2 through the redirect"
fleet 0 "/moved/\$MA.xml" --keepalive --rounds 2
[ "$(json_get successes)" = $((2 * N)) ] || fail "successes: $OUT"
[ "$(json_get redirects)" = $((2 * N)) ] || fail "redirects followed: $OUT"
[ "$(json_get handshakes.reused_connection)" -gt 0 ] || fail "no kept connection: $OUT"

note "\$SN, \$PN and \$PSN come from each device's certificate"
fleet 0 "/byid/\$SN/\$PN/\$PSN/\$MA.xml" --apply "$T/byid"
check_applied $N "$T/byid"
bad=$(awk -v n=$N '{ for (i = 1; i <= NF; i++) if ($i ~ /^\/byid\//) seen[$i]++ }
	END {
		bad = 0
		for (k = 0; k < n; k++) {
			p = sprintf("/byid/SN%d/SPA2102/2102/0200%08x.xml", k, k)
			if (seen[p] != 1) { bad++; if (bad <= 3) print "no single " p > "/dev/stderr" }
		}
		print bad
	}' "$T/nginx/access.log")
[ "$bad" = 0 ] || fail "$bad devices did not ask with their own serial and product"
serve_alive
_TESTS_RUN=$((_TESTS_RUN + 1))

# Refusals: one attempt each (--retries 0), nothing reaches sprov serve,
# nothing is applied.
refuse() { # refuse PATH REASONS-JSON MESSAGE
	local before
	before=$(served)
	fleet 1 "$1" --retries 0 --apply "$T/refused"
	[ "$(reasons)" = "$2" ] || fail "$1: failure reasons $(reasons), expected $2"
	[ "$(json_get successes)" = 0 ] && [ "$(json_get gave_up)" = $N ] || fail "$1: $OUT"
	expect_err_contains "$3"
	[ ! -e "$T/refused" ] || fail "$1: something was applied"
	sleep 0.2
	[ "$(served)" = "$before" ] || fail "$1: a request reached sprov serve"
	serve_alive
	_TESTS_RUN=$((_TESTS_RUN + 1))
}
note "a redirect loop: given up after 5 hops"
refuse /loop.xml "{\"redirect\":$N}" "more than 5 redirects"
note "a redirect to plain http is refused"
refuse "/plain/\$MA.xml" "{\"redirect\":$N}" "scheme http refused"
note "a redirect to another host: check 3 (host) against the new host"
refuse "/away/\$MA.xml" "{\"check 3 (host)\":$N}" "server check 3 (host)"
note "a redirect to a name the DNS does not know"
refuse "/nodns/\$MA.xml" "{\"dns\":$N}" "redirect:"
note "a 302 without a Location is a failed status, as on the device"
refuse /nowhere.xml "{\"http 302\":$N}" "" 
finish
