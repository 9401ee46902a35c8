#!/bin/bash
# sprov serve: firmware images (firmware-path) to authenticated devices of
# the image's product only, with ETag/If-None-Match, single byte ranges
# (206, 416; a list of ranges gets the whole image), HEAD, streaming in
# chunks across the store's rows; against curl and Python's ssl.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
MKFW="$SPROV_SRCDIR/tests/lib/mkfw.sh"

serve_pki
serve_db
# A firmware-signing root of our own (openssl), images built by the
# independent builder: 300 000 bytes of payload, five store chunks.
openssl ecparam -name prime256v1 -genkey -noout -out "$T/fw.key" 2>/dev/null
openssl req -new -x509 -key "$T/fw.key" -subj /CN=fw -days 30 -out "$T/fw.crt" 2>/dev/null
head -c 300000 /dev/urandom >"$T/payload"
bash "$MKFW" build "$T/fw.key" "$T/payload" SPA2102 2.0.1 "$T/a.sfw"
bash "$MKFW" build "$T/fw.key" "$T/payload" SPA-962 2.0.1 "$T/b.sfw"
"$SPROV" db firmware add "$T/a.sfw" --firmware-ca "$T/fw.crt" >/dev/null
"$SPROV" db firmware add "$T/b.sfw" --firmware-ca "$T/fw.crt" >/dev/null
LEN=$(stat -c %s "$T/a.sfw")
SHA=$(sha256sum "$T/a.sfw" | cut -d' ' -f1)
hdr() { awk -v k="$(echo "$1" | tr 'A-Z' 'a-z')" 'tolower($1) == k ":" { $1 = ""; sub(/^ /, ""); print }' "$T/hdr" | tr -d '\r'; }
IMG=/firmware/SPA2102/2.0.1.sfw
# get for binary bodies: bash warns that $BODY drops their NUL bytes.
fget() { get "$@" 2>/dev/null; }

serve_start --access-log "$T/acc.log"

note "the device's own image: 200, every byte, a strong ETag from its SHA-256"
fget "$DEV_A" "$IMG"
expect_code 200
cmp -s "$T/body" "$T/a.sfw" || fail "the body is not the image ($(stat -c %s "$T/body") bytes)"
[ "$(hdr ETag)" = "\"$SHA\"" ] || fail "ETag $(hdr ETag), want \"$SHA\""
[ "$(hdr Content-Length)" = "$LEN" ] || fail "Content-Length $(hdr Content-Length)"
[ "$(hdr Accept-Ranges)" = bytes ] || fail "Accept-Ranges $(hdr Accept-Ranges)"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "If-None-Match with its ETag: 304 and no body"
fget "$DEV_A" "$IMG" -H "If-None-Match: \"$SHA\""
expect_code 304
[ ! -s "$T/body" ] || fail "a 304 with a body"
fget "$DEV_A" "$IMG" -H 'If-None-Match: "other"'
expect_code 200

note "one byte range: 206 with Content-Range, across a chunk boundary"
fget "$DEV_A" "$IMG" -H 'Range: bytes=65530-65545'
expect_code 206
[ "$(hdr Content-Range)" = "bytes 65530-65545/$LEN" ] || fail "Content-Range $(hdr Content-Range)"
cmp -s "$T/body" <(tail -c +65531 "$T/a.sfw" | head -c 16) || fail "the range's bytes differ"
fget "$DEV_A" "$IMG" -H 'Range: bytes=-10'
expect_code 206
cmp -s "$T/body" <(tail -c 10 "$T/a.sfw") || fail "the last 10 bytes differ"
fget "$DEV_A" "$IMG" -H "Range: bytes=1000-"
expect_code 206
cmp -s "$T/body" <(tail -c +1001 "$T/a.sfw") || fail "the tail from byte 1000 differs"

note "an unsatisfiable range: 416 naming the length; a list of ranges: the whole image"
fget "$DEV_A" "$IMG" -H "Range: bytes=$LEN-"
expect_code 416
[ "$(hdr Content-Range)" = "bytes */$LEN" ] || fail "Content-Range $(hdr Content-Range)"
fget "$DEV_A" "$IMG" -H 'Range: bytes=0-1,5-6'
expect_code 200
cmp -s "$T/body" "$T/a.sfw" || fail "a multi-range request did not get the whole image"
note "If-Range with another ETag: the whole image"
fget "$DEV_A" "$IMG" -H 'Range: bytes=0-9' -H 'If-Range: "other"'
expect_code 200
cmp -s "$T/body" "$T/a.sfw" || fail "If-Range with another ETag did not get the whole image"

note "HEAD: the headers a GET gets, no body"
fget "$DEV_A" "$IMG" -I
expect_code 200
[ "$(hdr Content-Length)" = "$LEN" ] || fail "HEAD Content-Length $(hdr Content-Length)"

note "another product's image: 403, logged; an image not stored: 404"
fget "$DEV_A" /firmware/SPA-962/2.0.1.sfw
expect_code 403
expect_rc 0 grep -q 'firmware-other-product' "$T/acc.log"
fget "$DEV_B" /firmware/SPA2102/2.0.1.sfw
expect_code 403
fget "$DEV_A" /firmware/SPA2102/9.9.9.sfw
expect_code 404
expect_rc 0 grep -q 'firmware-unknown' "$T/acc.log"
fget "$DEV_B" /firmware/SPA-962/2.0.1.sfw
expect_code 200
cmp -s "$T/body" "$T/b.sfw" || fail "device B's image differs"

note "no client certificate: no image"
set +e
curl -sS --max-time 10 --resolve "$SRV_NAME:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
	-o "$T/nocert" -w '%{http_code}' "https://$SRV_NAME:$PORT$IMG" >"$T/nocert.code" 2>/dev/null
set -e
[ ! -s "$T/nocert" ] || fail "an image went to a client without a certificate"
[ "$(cat "$T/nocert.code")" != 200 ] || fail "200 without a client certificate"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "Python's ssl: the image in pieces with ranges, kept-alive, reassembled"
python3 - "$SRV_NAME" "$PORT" "$T" "$DEV_A" "$IMG" "$SHA" <<'PY' || fail "python client failed"
import hashlib, http.client, socket, ssl, sys
name, port, t, dev, path, sha = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=t + "/ca/server-ca.crt")
ctx.load_cert_chain(dev + "/client.crt", dev + "/client.key")
class Conn(http.client.HTTPSConnection):
    def connect(self):
        raw = socket.create_connection(("127.0.0.1", int(port)))
        self.sock = ctx.wrap_socket(raw, server_hostname=name)
c = Conn(name, int(port), context=ctx)
c.request("HEAD", path)
r = c.getresponse(); r.read()
n = int(r.getheader("Content-Length"))
got, off = b"", 0
while off < n:
    c.request("GET", path, headers={"Range": "bytes=%d-%d" % (off, off + 99999)})
    r = c.getresponse()
    assert r.status == 206, r.status
    got += r.read()
    off += 100000
assert len(got) == n and hashlib.sha256(got).hexdigest() == sha, "reassembled image differs"
PY
_TESTS_RUN=$((_TESTS_RUN + 1))

note "concurrent whole images on many connections: every byte right"
pids=()
for i in 1 2 3 4 5 6; do
	curl -sS --max-time 20 --resolve "$SRV_NAME:$PORT:127.0.0.1" --cacert "$T/ca/server-ca.crt" \
		--cert "$DEV_A/client.crt" --key "$DEV_A/client.key" -o "$T/par$i" \
		"https://$SRV_NAME:$PORT$IMG" &
	pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4 5 6; do
	cmp -s "$T/par$i" "$T/a.sfw" || fail "concurrent fetch $i differs"
done
_TESTS_RUN=$((_TESTS_RUN + 1))

note "a device that stops reading a stream is cut after idle-timeout (phase send)"
serve_stop
# Larger than the server's socket send buffer can grow (tcp_wmem max, 4 MiB here).
head -c 16000000 /dev/urandom >"$T/big"
bash "$MKFW" build "$T/fw.key" "$T/big" SPA2102 3.0 "$T/big.sfw"
"$SPROV" db firmware add "$T/big.sfw" --firmware-ca "$T/fw.crt" >/dev/null
serve_start --access-log off --idle-timeout 1000ms
[ "$(metric 'sprov_timeouts_total{phase="send"}')" = 0 ] || fail "send timeouts before the test"
python3 - "$SRV_NAME" "$PORT" "$T" "$DEV_A" "$(stat -c %s "$T/big.sfw")" <<'PY' || fail "stalled reader"
import socket, ssl, sys, time
name, port, t, dev, n = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=t + "/ca/server-ca.crt")
ctx.load_cert_chain(dev + "/client.crt", dev + "/client.key")
raw = socket.socket()
raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # small, so the server blocks soon
raw.connect(("127.0.0.1", int(port)))
s = ctx.wrap_socket(raw, server_hostname=name)
s.sendall(b"GET /firmware/SPA2102/3.0.sfw HTTP/1.1\r\nHost: " + name.encode() + b"\r\n\r\n")
got = len(s.recv(1000))
time.sleep(3)   # not reading: the server's buffers and ours fill, then it waits
s.settimeout(10)
try:
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
except (ConnectionResetError, ssl.SSLError):
    pass
assert 0 < got < int(n), "got %d of %s bytes: the stalled stream was not cut" % (got, n)
PY
[ "$(metric 'sprov_timeouts_total{phase="send"}')" = 1 ] ||
	fail "send timeouts: $(metric 'sprov_timeouts_total{phase="send"}'), want 1"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "firmware-path: another template routes, a bad one is refused at start"
serve_stop
serve_start --access-log off --firmware-path '/fw/$VERSION/$PN.bin'
fget "$DEV_A" /fw/2.0.1/SPA2102.bin
expect_code 200
cmp -s "$T/body" "$T/a.sfw" || fail "the image under another template differs"
fget "$DEV_A" "$IMG"
expect_code 404
serve_stop
expect_rc 1 "$SPROV" serve --check-config --firmware-path '/fw/$PN.bin' \
	--cert "$T/provserver.crt" --key "$T/privkey.pem" --client-ca "$T/ca/device-ca.crt"
expect_err_contains "firmware-path '/fw/\$PN.bin' needs \$PN and \$VERSION"
finish
