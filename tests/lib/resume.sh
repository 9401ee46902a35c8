# Resumption helpers for tests/integration/serve_trust*.sh: one HTTP/1.0
# request with openssl s_client, saving or offering a session.  Source
# after serve_lib/common.sh; $SCLIENT_CAFILE names the server's CA(s)
# (default: the test PKI's server CA).

# sclient DEV OUTFILE [s_client args...]: one HTTP/1.0 request as DEV.
sclient() {
	local dev=$1 out=$2
	shift 2
	printf "GET /spa2102.cfg HTTP/1.0\r\n\r\n" |
		timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		-CAfile "${SCLIENT_CAFILE:-$T/ca/server-ca.crt}" -cert "$dev/client.crt" \
		-key "$dev/client.key" "$@" >"$out" 2>/dev/null || true
}

# The s_client arguments for a kind of session: TLS 1.3 ticket, TLS 1.2
# ticket, TLS 1.2 session ID.
RESUME_KINDS="t13 t12 id12"
kind_args() {
	case $1 in
	t13) echo "-tls1_3" ;;
	t12) echo "-tls1_2" ;;
	id12) echo "-tls1_2 -no_ticket" ;;
	esac
}

# resumed OUTFILE: did that s_client run resume its session?
resumed() { grep -q '^Reused' "$1"; }

# sessions_save DEV TAG: for each kind, a request that saves its session to
# $T/sess.TAG.KIND and one that resumes it; both served.
sessions_save() {
	local dev=$1 tag=$2 k
	for k in $RESUME_KINDS; do
		sclient "$dev" "$T/o" $(kind_args $k) -sess_out "$T/sess.$tag.$k"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$tag $k first: $(tail -3 "$T/o")"
		sclient "$dev" "$T/o" $(kind_args $k) -sess_in "$T/sess.$tag.$k"
		resumed "$T/o" || fail "$tag $k not resumed: $(grep -E '^(New|Reused)' "$T/o")"
		grep -q 'HTTP/1.0 200' "$T/o" || fail "$tag $k resumed request failed"
		_TESTS_RUN=$((_TESTS_RUN + 1))
	done
}

# sessions_refused DEV TAG WHAT: none of TAG's saved sessions gets DEV served.
sessions_refused() {
	local dev=$1 tag=$2 what=$3 k
	for k in $RESUME_KINDS; do
		sclient "$dev" "$T/o" $(kind_args $k) -sess_in "$T/sess.$tag.$k"
		if grep -q 'HTTP/1.0 200' "$T/o"; then
			fail "$what served by resuming a $k session: $(grep -E '^(New|Reused)' "$T/o")"
		fi
		_TESTS_RUN=$((_TESTS_RUN + 1))
	done
}

# keepalive_open DEV SECONDS: an HTTP/1.1 keep-alive connection as DEV whose
# first request is served; its second request is sent once $T/go exists
# (keepalive_next).  Output in $T/ka.out; the connection lasts SECONDS at most.
keepalive_open() {
	local dev=$1 secs=$2 i
	( { printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n'
	    while [ ! -e "$T/go" ] && [ -d "$T" ]; do sleep 0.1; done
	    printf 'GET /spa2102.cfg HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1; } |
	  timeout "$secs" openssl s_client -quiet -connect "127.0.0.1:$PORT" \
		-servername "$SRV_NAME" -CAfile "${SCLIENT_CAFILE:-$T/ca/server-ca.crt}" \
		-cert "$dev/client.crt" -key "$dev/client.key" >"$T/ka.out" 2>/dev/null || true ) &
	KA_PID=$!
	_BG_PIDS+=("$KA_PID")
	for i in $(seq 50); do grep -q '^HTTP/1.1 200' "$T/ka.out" 2>/dev/null && break; sleep 0.1; done
	grep -q '^HTTP/1.1 200' "$T/ka.out" || fail "keep-alive first request"
}

# keepalive_next: send the second request and wait for the connection's end.
keepalive_next() {
	touch "$T/go"
	wait "$KA_PID" 2>/dev/null || true
}
