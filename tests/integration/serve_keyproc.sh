#!/bin/bash
# The server key in its own process (src/keyproc, docs/SECURITY.md):
# the key types `sprov req` makes (rsa-3072 is rsa-2048's path) serve TLS 1.3 (ECDSA / RSA-PSS) and
# TLS 1.2 (ECDSA / RSA PKCS#1) through the key process; a key that does
# not match the certificate is refused as before; a new key in the same
# file is picked up on SIGHUP, a new key path is refused until a restart;
# and (as root) the memory of the process that owns the listening socket
# holds none of the private key's bytes while the key process does; a key
# process stopped long enough to break every channel costs a serving
# process restart, not an outage.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

serve_pki
serve_db
BACKEND=${SPROV_TLS_BACKEND:-openssl}

# server_key TYPE NAME: a key of TYPE in $T/NAME.key and its certificate $T/NAME.crt.
server_key() {
	"$SPROV" req --cn "$SRV_NAME" --key-type "$1" --out "$T/$2.csr" \
		--key-out "$T/$2.key" --force >/dev/null
	"$SPROV" ca sign "$T/ca" "$T/$2.csr" -o "$T/$2.crt" >/dev/null
}

# start_with NAME [ARGS...]: serve with $T/NAME.crt and $T/NAME.key.
start_with() {
	local name=$1
	shift
	cp "$T/$name.crt" "$T/provserver.crt"
	cp "$T/$name.key" "$T/privkey.pem"
	serve_start --crl "$T/device-ca.crl" "$@"
}

keyproc_pid() { pgrep -P "$SERVE_PID" -x sprov-keyproc | head -1; }

# s_client_sig VERSION SIGALGS: handshake with device A; prints the
# server's signature type ("ECDSA", "RSA", "RSA-PSS") or fails.
s_client_sig() {
	local out
	out=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		"-$1" -sigalgs "$2" -CAfile "$T/ca/server-ca.crt" -verify_return_error \
		-cert "$DEV_A/client.crt" -key "$DEV_A/client.key" </dev/null 2>&1) ||
		fail "$1 $2 handshake failed: $(echo "$out" | tail -5)"
	echo "$out" | sed -n 's/^Peer signature type: //p'
}

# fp: the SHA-256 fingerprint of the certificate the server shows now.
fp() {
	openssl s_client -connect "127.0.0.1:$PORT" -servername "$SRV_NAME" \
		-CAfile "$T/ca/server-ca.crt" -cert "$DEV_A/client.crt" -key "$DEV_A/client.key" \
		</dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}

KTS=(ec-p256 ec-p384 rsa-2048 rsa-4096)
for kt in "${KTS[@]}"; do
	server_key "$kt" "k_$kt"
done
note "[$BACKEND] each key type signs through the key process, TLS 1.3 and 1.2;"
note "a new key in the same file is picked up on SIGHUP"
start_with k_ec-p256
[ -n "$(keyproc_pid)" ] || fail "no sprov-keyproc child of $SERVE_PID"
for kt in "${KTS[@]}"; do
	if [ "$kt" != ec-p256 ]; then
		cp "$T/k_$kt.crt" "$T/provserver.crt"
		cp "$T/k_$kt.key" "$T/privkey.pem"
		kill -HUP "$SERVE_PID"
	fi
	want=$(openssl x509 -in "$T/k_$kt.crt" -noout -fingerprint -sha256)
	for _ in $(seq 100); do [ "$(fp)" = "$want" ] && break; sleep 0.1; done
	[ "$(fp)" = "$want" ] || fail "$kt: the server shows $(fp), not $want"
	get "$DEV_A" /profiles/000e08aaaa01.xml --tlsv1.3
	expect_code 200
	get "$DEV_A" /profiles/000e08aaaa01.xml --tlsv1.2 --tls-max 1.2
	expect_code 200
	case $kt in
	ec-*)
		[ "$(s_client_sig tls1_3 'ECDSA+SHA256:ECDSA+SHA384')" = ECDSA ] ||
			fail "$kt: TLS 1.3 not signed with ECDSA"
		[ "$(s_client_sig tls1_2 'ECDSA+SHA256:ECDSA+SHA384')" = ECDSA ] ||
			fail "$kt: TLS 1.2 not signed with ECDSA";;
	rsa-*)
		# Each PSS digest: the key process checks OpenSSL's padded block
		# for its MGF1 and salt before it signs.
		for h in sha256 sha384 sha512; do
			[ "$(s_client_sig tls1_3 "rsa_pss_rsae_$h:ECDSA+SHA256")" = RSA-PSS ] ||
				fail "$kt: TLS 1.3 not signed with RSA-PSS $h"
		done
		[ "$(s_client_sig tls1_2 'rsa_pss_rsae_sha384:ECDSA+SHA256')" = RSA-PSS ] ||
			fail "$kt: TLS 1.2 not signed with RSA-PSS"
		[ "$(s_client_sig tls1_2 'RSA+SHA256:ECDSA+SHA256')" = RSA ] ||
			fail "$kt: TLS 1.2 not signed with RSA PKCS#1"
		[ "$(s_client_sig tls1_2 'RSA+SHA512:ECDSA+SHA256')" = RSA ] ||
			fail "$kt: TLS 1.2 not signed with RSA PKCS#1 SHA-512";;
	esac
	_TESTS_RUN=$((_TESTS_RUN + 1))
done

note "[$BACKEND] the key process' memory: the key; the listening process': none of it"
if [ "$(id -u)" != 0 ]; then
	note "SKIP: the memory scan needs root (/proc/PID/mem of both processes)"
else
	# Every process holding the listening socket: the serving process and
	# the supervising parent that bound it.
	LPIDS=$(ss -Hltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
	KPID=$(keyproc_pid)
	[ -n "$LPIDS" ] && [ -n "$KPID" ] || fail "no listening process ($LPIDS) or key process ($KPID)"
	echo "$LPIDS" | grep -qx "$(serving_pid)" || fail "the serving process does not listen"
	echo "$LPIDS" | grep -qx "$KPID" && fail "the key process owns the listening socket"
	ls -l "/proc/$KPID/fd" | grep -q 'socket:' || fail "the key process has no socketpair"
	# The key process holds no network socket: every socket it has is AF_UNIX.
	for ino in $(ls -l "/proc/$KPID/fd" | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
		awk -v i="$ino" '$7 == i { f = 1 } END { exit !f }' "/proc/$KPID/net/unix" || fail "key process socket $ino is not AF_UNIX"
	done
	cat >"$T/scan.py" <<'EOF'
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# scan.py PID KEYFILE...: which bytes of these private keys PID's memory holds.
pid, needles = int(sys.argv[1]), []
for keyfile in sys.argv[2:]:
    pem = open(keyfile, 'rb').read()
    key = load_pem_private_key(pem, None)
    nums = []
    if isinstance(key, ec.EllipticCurvePrivateKey):
        nums.append(('EC private scalar', key.private_numbers().private_value))
    else:
        pn = key.private_numbers()
        nums += [('RSA d', pn.d), ('RSA p', pn.p), ('RSA q', pn.q)]
    for name, v in nums:
        b = v.to_bytes((v.bit_length() + 7) // 8, 'big')
        needles.append((name + ' (big-endian)', b))
        needles.append((name + ' (little-endian, as BIGNUM limbs)', b[::-1]))
    # The PEM text: each full base64 line of the body.
    for i, line in enumerate(pem.splitlines()):
        if len(line) == 64:
            needles.append(('PEM line %d' % i, line))
found, skipped, scanned = set(), 0, 0
with open('/proc/%d/maps' % pid) as maps, open('/proc/%d/mem' % pid, 'rb', 0) as mem:
    for l in maps:
        f = l.split()
        lo, hi = (int(x, 16) for x in f[0].split('-'))
        if f[1][0] != 'r' or (len(f) > 5 and f[5] in ('[vvar]', '[vsyscall]')):
            continue
        if hi - lo > (1 << 30):   # sanitizer shadow: reserved, never the heap
            skipped += 1
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        scanned += len(data)
        for name, n in needles:
            if n in data:
                found.add(name)
print('scanned %d bytes, skipped %d regions, found: %s' %
      (scanned, skipped, ', '.join(sorted(found)) or 'nothing'))
EOF
	kout=$(python3 "$T/scan.py" "$KPID" "$T/privkey.pem") || fail "scan of the key process failed"
	echo "$kout" | grep -q 'found: nothing' &&
		fail "positive control: the key process' memory shows no key bytes: $kout"
	echo "$kout" | grep -q 'RSA [dpq]' || fail "key process: RSA numbers not found: $kout"
	for LPID in $LPIDS; do
		lout=$(python3 "$T/scan.py" "$LPID" "$T"/k_*.key) || fail "scan of $LPID failed"
		echo "$lout" | grep -q 'found: nothing$' ||
			fail "listening process $LPID holds bytes of a key it served with: $lout"
		[ "${SPROV_SANITIZE:-0}" = 1 ] || echo "$lout" | grep -q 'skipped 0 regions' ||
			fail "the scan skipped regions: $lout"
	done
	note "key process: ${kout#*found: }"
	_TESTS_RUN=$((_TESTS_RUN + 1))
fi
serve_stop

if [ "$(id -u)" = 0 ]; then
	note "[$BACKEND] a serving process left running as root has no CAP_SYS_PTRACE:"
	note "it cannot open the key process' memory (the test build's trigger tries)"
	export SPROV_TEST_TRIGGERS=1
	start_with k_ec-p256
	unset SPROV_TEST_TRIGGERS
	CPID=$(serving_pid)
	KPID=$(keyproc_pid)
	[ "$CPID" != "$SERVE_PID" ] && [ -n "$KPID" ] || fail "no serving ($CPID) or key process ($KPID)"
	# Capabilities are per thread: every thread of the serving process.
	for st in /proc/"$CPID"/task/*/status; do
		for f in CapEff CapPrm CapBnd; do
			v=$(awk -v f="$f:" '$1 == f { print $2 }' "$st")
			[ -n "$v" ] && (((0x$v & (1 << 19)) == 0)) || fail "$st has CAP_SYS_PTRACE in $f ($v)"
		done
	done
	get "$DEV_A" "/__sprov_test/mem/$KPID"
	expect_code 500
	grep -qx "sprov: warning: serve: test trigger: open /proc/$KPID/mem: Permission denied" "$T/serve.err" ||
		fail "the key process' memory: $(grep "/proc/$KPID/mem" "$T/serve.err" || tail -3 "$T/serve.err")"
	get "$DEV_A" /profiles/000e08aaaa01.xml
	expect_code 200
	_TESTS_RUN=$((_TESTS_RUN + 1))
	serve_stop
fi

note "[$BACKEND] key-process = off still loads the key here (the bench's baseline)"
start_with k_ec-p256 --key-process off
[ -z "$(keyproc_pid)" ] || fail "key-process off still forked a key process"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
serve_stop

note "[$BACKEND] a key that does not match the certificate is refused at start"
cp "$T/k_ec-p256.crt" "$T/provserver.crt"
cp "$T/k_ec-p384.key" "$T/privkey.pem"
before=$(ls "$T" | sort | sha256sum)
expect_rc 1 "$SPROV" serve --listen "127.0.0.1:$(free_port)" --admin off \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
[ "$ERR" = "sprov serve: TLS: server key $T/privkey.pem does not match certificate $T/provserver.crt (key values mismatch)" ] ||
	fail "mismatch: stderr was: $ERR"
[ "$(ls "$T" | sort | sha256sum)" = "$before" ] || fail "a refused start wrote a file"
pgrep -f -- "--key $T/privkey.pem" >/dev/null && fail "a refused start left a key process behind"
cp "$T/k_ec-p256.key" "$T/privkey.pem"

note "[$BACKEND] SIGHUP: a new key path is refused until a restart"
# The key path from a file (options are applied again on SIGHUP and win).
PORT=$(free_port)
conf() {
	cat >"$T/srv.conf" <<EOF
listen = 127.0.0.1:$PORT
admin = off
cert = $T/$1
key = $T/$2
client-ca = $T/ca/device-ca.crt
EOF
}
conf provserver.crt privkey.pem
mark=$(wc -l <"$T/serve.err")
bg_start "$SPROV" serve --config "$T/srv.conf" >>"$T/access.log" 2>>"$T/serve.err"
SERVE_PID=$BG_PID
wait_listen "$PORT" "$SERVE_PID" 20 || fail "serve --config: $(tail -5 "$T/serve.err")"
# The parent listens before the serving process has read the file: rewrite
# it only once that process says it serves (else it starts on the new one).
wait_ready "$mark"
conf k_rsa-2048.crt k_rsa-2048.key
mark=$(wc -l <"$T/serve.err")
hup_wait "$SERVE_PID" "$T/serve.err" 'reload refused'
tail -n +"$((mark + 1))" "$T/serve.err" | grep -qF "reload refused, old configuration keeps serving: TLS: server key $T/k_rsa-2048.key: the key process holds $T/privkey.pem; a new key path takes a restart" ||
	fail "a new key path on SIGHUP: $(tail -n +"$((mark + 1))" "$T/serve.err")"
get "$DEV_A" /profiles/000e08aaaa01.xml
expect_code 200
serve_stop

# Client and server code the backends share: run once.
if [ "$BACKEND" = openssl ]; then
	note "[$BACKEND] a stopped key process: each round-trip times out and closes its channel;"
	note "with none left the serving process drains and a new one takes fresh channels"
	: >"$T/serve.err"
	start_with k_ec-p256 --workers 1
	CPID=$(serving_pid)
	KPID=$(keyproc_pid)
	kill -STOP "$KPID"
	for _ in 1 2 3 4; do
		get "$DEV_A" /profiles/000e08aaaa01.xml --tlsv1.3
		[ "$CODE" = 000 ] || fail "signed with the key process stopped: HTTP $CODE"
		grep -q 'a channel failed and is closed; 0 of [0-9]* left: no handshake can be signed' \
			"$T/serve.err" && break
	done
	grep -q 'a channel failed and is closed; 0 of [0-9]* left' "$T/serve.err" ||
		fail "the channels were not closed: $(tail -5 "$T/serve.err")"
	kill -CONT "$KPID"
	want="serve: serving process $CPID exited with status 1; restarting in 1 s (restart 1)"
	for _ in $(seq 100); do grep -qF "$want" "$T/serve.err" && break; sleep 0.1; done
	grep -qF "$want" "$T/serve.err" || fail "no restart: $(tail -5 "$T/serve.err")"
	grep -q 'serve: no channel to the key process is left; draining, then a new serving process takes fresh ones' \
		"$T/serve.err" || fail "the drain was not logged: $(tail -5 "$T/serve.err")"
	for _ in $(seq 100); do
		get "$DEV_A" /profiles/000e08aaaa01.xml --tlsv1.3
		[ "$CODE" = 200 ] && break
		sleep 0.1
	done
	expect_code 200
	[ "$(serving_pid)" != "$CPID" ] || fail "the same serving process serves"
	[ "$(keyproc_pid)" = "$KPID" ] || fail "the key process changed: $KPID -> $(keyproc_pid)"
	_TESTS_RUN=$((_TESTS_RUN + 1))
	SERVE_RESTARTS_OK=1 serve_stop
fi
finish
