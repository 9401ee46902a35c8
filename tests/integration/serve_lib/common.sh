# Shared setup for tests/integration/serve_*.sh: a vendor PKI made with
# `sprov ca`, a device database made with `sprov db`, helpers to start
# `sprov serve` and to ask it for profiles with curl, openssl, gnutls-cli
# and Python.  Source after testlib.sh.

SRV_NAME=prov.test.example
# The store: SQLite in $T, or with SPROV_TEST_STORE=pg (the int_serve_*_pg
# variants) a fresh database on the test PostgreSQL (tests/lib/pg.sh).
if [ "${SPROV_TEST_STORE:-sqlite}" = pg ]; then
	. "$SPROV_SRCDIR/tests/lib/pg.sh"
	pg_use
	export SPROV_STORE
	SPROV_STORE=$(pg_createdb "serve_$(basename "$T" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')")
else
	export SPROV_STORE="sqlite:$T/sprov.db"
fi

# store_digest: a hash of the store's content, to show a refusal changed
# nothing in it.  Left out: what a running server writes as a matter of
# course, the contact records and the console's records that go with them
# (device state, event rings, the five-minute series), the failure records
# (a refusal is recorded: serve_failures checks those), and each node's
# published state (cluster data node:NAME, rewritten every 10 s).
STORE_DIGEST_SKIP="contacts devstate devevents series failcounts failsrc"
store_digest() {
	local t dump skip
	skip=$(echo $STORE_DIGEST_SKIP | tr ' ' '|')
	case "$SPROV_STORE" in
	sqlite:*)
		dump=$(sqlite3 "${SPROV_STORE#sqlite:}" .dump) || dump="" ;;
	*)
		dump=$(pg_dump --data-only $(for t in $STORE_DIGEST_SKIP; do
			echo "--exclude-table-data=$t"; done) "$SPROV_STORE") || dump="" ;;
	esac
	# A dump that failed never matches anything, not even another failure.
	if [ -z "$dump" ]; then
		echo "store_digest: could not dump $SPROV_STORE" >&2
		echo "no-dump-$$-$RANDOM$RANDOM"
		return
	fi
	printf '%s\n' "$dump" |
		grep -Ev "^(--|\\\\(un)?restrict |node:|INSERT INTO \"?($skip)\"? |INSERT INTO \"?cluster_data\"? VALUES\\('node:)" |
		sha256sum | cut -d' ' -f1
}

# serve_pki: CA, server certificate, devices A (sprov style) and B (spa
# style), and the first (empty) CRL.
serve_pki() {
	"$SPROV" ca init "$T/ca" --org Test >/dev/null
	"$SPROV" req --cn "$SRV_NAME" --out "$T/prov.csr" --key-out "$T/privkey.pem" >/dev/null
	"$SPROV" ca sign "$T/ca" "$T/prov.csr" -o "$T/provserver.crt" >/dev/null
	"$SPROV" ca issue "$T/ca" --mac 000e08aaaa01 --serial SNA01 --product SPA2102 \
		--out "$T/dev" >/dev/null
	"$SPROV" ca issue "$T/ca" --mac 000e08aaaa02 --serial SNA02 --product SPA-962 \
		--subject-style spa --out "$T/dev" >/dev/null
	"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
	DEV_A="$T/dev/000e08aaaa01"
	DEV_B="$T/dev/000e08aaaa02"
}

# serve_db: both devices known, a default, a secret per device.
serve_db() {
	"$SPROV" db init >/dev/null
	"$SPROV" db devices add 000e08aaaa01 --serial SNA01 --product SPA2102 >/dev/null
	"$SPROV" db devices add 000e08aaaa02 --serial SNA02 --product SPA-962 >/dev/null
	"$SPROV" db params set --default Proxy_1_=sip.example.net --access na >/dev/null
	"$SPROV" db params set --device 000e08aaaa01 Password_1_=secretAAAA >/dev/null
	"$SPROV" db params set --device 000e08aaaa02 Password_1_=secretBBBB >/dev/null
}

# serve_start [ARGS...]: start the server on a free port ($PORT, admin
# $APORT); access log in $T/access.log, diagnostics in $T/serve.err.
# A port free_port found can be taken before serve binds it (by the source
# port of another test's outgoing connection): then try other ports.
serve_start() {
	local try mark
	for try in 1 2 3; do
		PORT=$(free_port)
		APORT=$(free_port)
		mark=$({ wc -l <"$T/serve.err"; } 2>/dev/null || echo 0)
		bg_start "$SPROV" serve --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$APORT" \
			--cert "$T/provserver.crt" --key "$T/privkey.pem" \
			--client-ca "$T/ca/device-ca.crt" --workers 2 "$@" \
			>>"$T/access.log" 2>>"$T/serve.err"
		SERVE_PID=$BG_PID
		if wait_listen "$PORT" "$SERVE_PID" 20 && wait_listen "$APORT" "$SERVE_PID" 20; then
			# The ports are bound before the stores open (a PostgreSQL
			# store takes a moment): ready once it says so.
			wait_ready "$mark"
			return 0
		fi
		tail -n +"$((mark + 1))" "$T/serve.err" | grep -q 'in use' ||
			fail "sprov serve exited at start: $(tail -n +"$((mark + 1))" "$T/serve.err" | tail -5)"
	done
	fail "sprov serve found no free port in 3 tries: $(tail -3 "$T/serve.err")"
}

# wait_ready [MARK]: until serve.err, past line MARK, says the server
# listens (its stores open, its signal handlers set).
wait_ready() {
	local i
	for i in $(seq 200); do
		tail -n +"$((${1:-0} + 1))" "$T/serve.err" 2>/dev/null |
			grep -q 'serve: listening on' && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "sprov serve did not get ready: $(tail -5 "$T/serve.err")"
}

# serve_stop: SIGTERM; the server must drain and exit 0, and (in the
# sanitizer build) report nothing.
serve_stop() {
	local rc=0
	kill -TERM "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" 2>/dev/null || rc=$?
	[ $rc -eq 0 ] || fail "sprov serve exited $rc; stderr: $(tail -20 "$T/serve.err")"
	# A crash the supervising parent restarted would go unseen otherwise.
	if [ -z "${SERVE_RESTARTS_OK:-}" ] && grep -q 'serving process .*; restarting in' "$T/serve.err"; then
		fail "the serving process was restarted: $(grep -B5 'restarting in' "$T/serve.err" | head -20)"
	fi
	if grep -q 'Sanitizer\|runtime error' "$T/serve.err"; then
		fail "sanitizer report: $(grep -A20 'Sanitizer\|runtime error' "$T/serve.err" | head -40)"
	fi
}

# get DEVDIR PATH [CURL ARGS...]: curl with a device certificate; sets
# $CODE, $BODY (file $T/body), headers in $T/hdr.
get() {
	local dev=$1 path=$2
	shift 2
	rm -f "$T/body" "$T/hdr"
	set +e
	CODE=$(curl -sS --max-time 10 --resolve "$SRV_NAME:$PORT:127.0.0.1" \
		--cacert "$T/ca/server-ca.crt" --cert "$dev/client.crt" --key "$dev/client.key" \
		-D "$T/hdr" -o "$T/body" -w '%{http_code}' "$@" \
		"https://$SRV_NAME:$PORT$path" 2>"$T/curl.err")
	CURL_RC=$?
	set -e
	BODY=$(cat "$T/body" 2>/dev/null || true)
}

expect_code() {
	[ "$CODE" = "$1" ] || fail "expected HTTP $1, got '$CODE' (curl rc $CURL_RC: $(cat "$T/curl.err"))"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

# The profile the server must send: rendered from the database by hand.
metric() {
	curl -s "http://127.0.0.1:$APORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

# openssl_ca_conf DIR: a minimal `openssl ca` setup signing with the
# device CA (for certificates `sprov ca` rightly refuses to make).
openssl_ca_conf() {
	local d=$1
	mkdir -p "$d"
	: >"$d/index.txt"
	echo 1000 >"$d/serial"
	cat >"$d/ca.cnf" <<EOC
[ca]
default_ca = dca
[dca]
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = leaf
[anything]
organizationName = optional
organizationalUnitName = optional
commonName = optional
serialNumber = optional
localityName = optional
stateOrProvinceName = optional
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ica]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
EOC
}

# make_cert OUTDIR SUBJECT CACERT CAKEY [openssl ca args...]
make_cert() {
	local out=$1 subj=$2 cacert=$3 cakey=$4
	shift 4
	mkdir -p "$out"
	openssl ecparam -name prime256v1 -genkey -noout -out "$out/client.key" 2>/dev/null
	openssl req -new -key "$out/client.key" -subj "$subj" -multivalue-rdn \
		-out "$out/client.csr" 2>/dev/null
	openssl ca -batch -config "$T/oca/ca.cnf" -cert "$cacert" -keyfile "$cakey" \
		-in "$out/client.csr" -out "$out/client.crt" -notext "$@" 2>"$out/ca.err" ||
		fail "openssl ca: $(cat "$out/ca.err")"
}

# serving_pid: the serving process of the server $SERVE_PID: its child
# sprov-serve under the supervising parent, else $SERVE_PID itself.
serving_pid() {
	local c
	c=$(pgrep -P "$SERVE_PID" -x sprov-serve | head -1)
	echo "${c:-$SERVE_PID}"
}
