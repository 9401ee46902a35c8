# Helpers for the device_*.sh tests (not a test itself: no .sh suffix).
# Source after testlib.sh.  Builds a test PKI with the openssl CLI, and starts
# dnsmasq and nginx on loopback ports inside $T.

FQDN=prov.example.test

# ---- PKI -------------------------------------------------------------------
_ossl() { openssl "$@" 2>>"$T/openssl.log" || fail "openssl $* failed: $(tail -3 "$T/openssl.log")"; }

_key() { _ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; chmod 600 "$1"; }

# _root DIR/NAME SUBJECT: a self-signed CA.
_root() {
	_key "$1.key"
	_ossl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -out "$1.crt" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

# _leaf OUT CA SUBJECT EXTFILE [START END]: a certificate signed by CA.
_leaf() {
	local out=$1 ca=$2 subj=$3 ext=$4
	_key "$out.key"
	_ossl req -new -key "$out.key" -subj "$subj" -out "$out.csr"
	if [ $# -ge 6 ]; then
		mkdir -p "$T/pki/ca-db/new"
		: >"$T/pki/ca-db/index.txt"
		[ -f "$T/pki/ca-db/serial" ] || echo 1000 >"$T/pki/ca-db/serial"
		cat >"$T/pki/ca-db/ca.cnf" <<CNF
[ca]
default_ca = tca
[tca]
database = $T/pki/ca-db/index.txt
new_certs_dir = $T/pki/ca-db/new
serial = $T/pki/ca-db/serial
default_md = sha256
policy = pol
unique_subject = no
[pol]
commonName = supplied
CNF
		_ossl ca -batch -config "$T/pki/ca-db/ca.cnf" -cert "$ca.crt" -keyfile "$ca.key" \
			-in "$out.csr" -out "$out.crt" -startdate "$5" -enddate "$6" \
			-extfile "$ext" -notext
	else
		_ossl x509 -req -in "$out.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
			-days 365 -extfile "$ext" -out "$out.crt"
	fi
}

_ext() { # _ext FILE LINES...
	local f=$1; shift
	printf '%s\n' "$@" >"$f"
}

# make_pki_bundle: $T/pki with a server CA, a device CA, another CA and the
# device bundle (no server certificate).
make_pki_bundle() {
	local p=$T/pki
	mkdir -p "$p/bundle"
	_root "$p/server-ca" "/O=Test Vendor/CN=Test Server CA"
	_root "$p/device-ca" "/O=Test Vendor/CN=Test Device CA"
	_root "$p/other-ca" "/O=Evil/CN=Other CA"

	_ext "$p/client.ext" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=clientAuth"
	_leaf "$p/device" "$p/device-ca" \
		"/O=Test Vendor/OU=SPA2102/CN=000e08aabbcc/serialNumber=88012BA01234" "$p/client.ext"
	cp "$p/device.crt" "$p/bundle/client.crt"
	cp "$p/device.key" "$p/bundle/client.key"
	cp "$p/server-ca.crt" "$p/bundle/server-ca.crt"
}

# make_pki: make_pki_bundle, and server certificates for every case of the matrix.
make_pki() {
	local p=$T/pki
	make_pki_bundle

	_srv_ext() { # _srv_ext FILE SAN [EKU]
		_ext "$1" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=${3:-serverAuth}" ${2:+"subjectAltName=$2"}
	}
	_srv_ext "$p/srv.ext" "DNS:$FQDN"
	_srv_ext "$p/srv-nosan.ext" ""
	_srv_ext "$p/srv-mismatch.ext" "DNS:mismatch.example.test"
	_srv_ext "$p/srv-nodns.ext" "DNS:nodns.example.test"
	_srv_ext "$p/srv-sanother.ext" "DNS:other.example.test"
	_srv_ext "$p/srv-client.ext" "DNS:$FQDN" "clientAuth"

	_leaf "$p/good" "$p/server-ca" "/O=Provider/CN=$FQDN" "$p/srv.ext"
	_leaf "$p/extra" "$p/server-ca" "/O=Provider/CN=$FQDN\/mailto:admin@example.test" "$p/srv.ext"
	_leaf "$p/nofqdn" "$p/server-ca" "/O=Provider/CN=provisioning server" "$p/srv-nosan.ext"
	_leaf "$p/othername" "$p/server-ca" "/O=Provider/CN=other.example.test" "$p/srv-sanother.ext"
	_leaf "$p/sanbad" "$p/server-ca" "/O=Provider/CN=$FQDN" "$p/srv-sanother.ext"
	_leaf "$p/mismatch" "$p/server-ca" "/O=Provider/CN=mismatch.example.test" "$p/srv-mismatch.ext"
	_leaf "$p/nodns" "$p/server-ca" "/O=Provider/CN=nodns.example.test" "$p/srv-nodns.ext"
	_leaf "$p/wrongca" "$p/other-ca" "/O=Provider/CN=$FQDN" "$p/srv.ext"
	_leaf "$p/clientonly" "$p/server-ca" "/O=Provider/CN=$FQDN" "$p/srv-client.ext"
	_leaf "$p/expired" "$p/server-ca" "/O=Provider/CN=$FQDN" "$p/srv.ext" \
		20200101000000Z 20200201000000Z
	# A leaf under an intermediate CA; nginx sends the chain.
	_ext "$p/inter.ext" "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign"
	_leaf "$p/inter" "$p/server-ca" "/O=Test Vendor/CN=Intermediate" "$p/inter.ext"
	_leaf "$p/viainter" "$p/inter" "/O=Provider/CN=$FQDN" "$p/srv.ext"
	cat "$p/viainter.crt" "$p/inter.crt" >"$p/chained.crt"
	cp "$p/viainter.key" "$p/chained.key"
	_key "$p/selfsigned.key"
	_ossl req -x509 -new -key "$p/selfsigned.key" -subj "/O=Provider/CN=$FQDN" -days 365 \
		-addext "subjectAltName=DNS:$FQDN" -addext "extendedKeyUsage=serverAuth" \
		-out "$p/selfsigned.crt"
}

# ---- dnsmasq ------------------------------------------------------------------
# start_dns: answers $FQDN and other.example.test with 127.0.0.1,
# mismatch.example.test with 127.0.0.2; nodns.example.test does not exist.
start_dns() {
	DNS_PORT=$(free_port)
	bg_start /usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user=root \
		--port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts --no-negcache \
		--address=/$FQDN/127.0.0.1 --address=/other.example.test/127.0.0.1 \
		--address=/mismatch.example.test/127.0.0.2 \
		--address=/nodns.example.test/ \
		--log-facility="$T/dnsmasq.log" 2>>"$T/dnsmasq.err"
	DNS_PID=$BG_PID
	DNS="127.0.0.1:$DNS_PORT"
	local i=0
	until dig_ok; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "dnsmasq did not start: $(cat "$T/dnsmasq.err")"
		sleep 0.05
	done
}
# start_dns_extra DNSMASQ-ARGS...: another resolver; its "IP:PORT" in $DNS_EXTRA.
start_dns_extra() {
	local port i=0
	port=$(free_port)
	bg_start /usr/sbin/dnsmasq --no-daemon --conf-file=/dev/null --user=root \
		--port="$port" --listen-address=127.0.0.1 --bind-interfaces \
		--no-resolv --no-hosts "$@" 2>>"$T/dnsmasq.err"
	until DNS_PORT=$port dig_ok; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "dnsmasq did not start: $(cat "$T/dnsmasq.err")"
		sleep 0.05
	done
	DNS_EXTRA=127.0.0.1:$port
}
dig_ok() {
	python3 - "$DNS_PORT" <<'PY' 2>/dev/null
import socket, sys
q = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' + b''.join(
    bytes([len(l)]) + l.encode() for l in 'prov.example.test'.split('.')) + b'\x00\x00\x01\x00\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(q, ('127.0.0.1', int(sys.argv[1]))); s.recv(512)
PY
}

# ---- nginx ---------------------------------------------------------------------
# start_nginx NAME... : one server block per certificate name in $T/pki, each on
# its own port ($PORT_<name>), all serving $T/www with client certificates required.
start_nginx() {
	local conf=$T/nginx/nginx.conf name port
	for name in "$@"; do
		eval "PORT_$name=$(free_port)"
	done
	mkdir -p "$T/nginx/tmp" "$T/www/auth"
	# user alice, password wonderland (basic auth for --uid/--pwd)
	echo "alice:$(openssl passwd -apr1 wonderland)" >"$T/nginx/htpasswd"
	{
		echo "worker_processes 1; daemon off; user root; pid $T/nginx/nginx.pid;"
		echo "error_log $T/nginx/error.log info;"
		echo "events { worker_connections 64; }"
		echo "http {"
		echo "  access_log $T/nginx/access.log;"
		echo "  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;"
		echo "  fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;"
		echo "  default_type application/xml;"
		for name in "$@"; do
			eval "port=\$PORT_$name"
			echo "  server {"
			echo "    listen 127.0.0.1:$port ssl;"
			echo "    ssl_certificate $T/pki/$name.crt; ssl_certificate_key $T/pki/$name.key;"
			echo "    ssl_client_certificate $T/pki/device-ca.crt; ssl_verify_client on;"
			echo "    root $T/www;"
			echo "    location = /err500.xml { return 500; }"
			echo "    location = /moved.xml { return 302 https://$FQDN:\$server_port/good.xml; }"
			echo "    location = /moved-ip.xml { return 301 https://127.0.0.1:\$server_port/good.xml; }"
			echo "    location = /loop.xml { return 302 /loop.xml; }"
			echo "    location = /away.xml { return 302 https://other.example.test:${PORT_othername:-1}/auth/good.xml; }"
			echo "    location /auth/ { auth_basic sprov; auth_basic_user_file $T/nginx/htpasswd; }"
			echo "    location = /report { client_body_buffer_size 1m; client_body_in_file_only on; return 200 'ok'; }"
			echo "  }"
		done
		echo "}"
	} >"$conf"
	bg_start nginx -c "$conf" -p "$T/nginx" -e "$T/nginx/error.log"
	NGINX_PID=$BG_PID
	for name in "$@"; do
		eval "port=\$PORT_$name"
		wait_port "$port"
	done
}

# access_count: requests nginx has logged so far.
access_count() { if [ -f "$T/nginx/access.log" ]; then wc -l <"$T/nginx/access.log"; else echo 0; fi; }

# ---- device ----------------------------------------------------------------------
# store_hash DIR: the applied store, by hash ("none" if absent).
store_hash() { if [ -f "$1/params.xml" ]; then sha256sum "$1/params.xml" | cut -d' ' -f1; else echo none; fi; }
