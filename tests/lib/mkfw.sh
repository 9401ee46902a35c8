#!/usr/bin/env bash
# An independent implementation of the signed firmware container
# (docs/FIRMWARE.md, src/firmware/image.h) for tests: python3 lays out the
# bytes, the openssl CLI signs and verifies.  It shares no code with sprov, so
# a test that builds with one and checks with the other tests the format.
#
#   mkfw.sh build KEY.pem PAYLOAD PRODUCT VERSION OUT.sfw
#   mkfw.sh verify CERT.pem IMAGE.sfw      prints "PRODUCT VERSION LENGTH", exit 0;
#                                          exit 1 with a reason on stderr
set -euo pipefail

die() { echo "mkfw: $*" >&2; exit 1; }

build() {
	local key=$1 payload=$2 product=$3 version=$4 out=$5 tmp
	tmp=$(mktemp -d)
	python3 - "$payload" "$product" "$version" "$tmp/hdr" <<'PY'
import hashlib, struct, sys
payload, product, version, hdr = sys.argv[1:5]
data = open(payload, 'rb').read()
p, v = product.encode(), version.encode()
h = b'SPROVFW1' + bytes([len(p)]) + p + bytes([len(v)]) + v
h += struct.pack('>Q', len(data)) + hashlib.sha256(data).digest()
open(hdr, 'wb').write(h)
PY
	openssl dgst -sha256 -sign "$key" -out "$tmp/sig" "$tmp/hdr"
	python3 - "$tmp/hdr" "$tmp/sig" "$payload" "$out" <<'PY'
import struct, sys
hdr, sig, payload, out = sys.argv[1:5]
h, s = open(hdr, 'rb').read(), open(sig, 'rb').read()
with open(out, 'wb') as f:
    f.write(h + struct.pack('>H', len(s)) + s + open(payload, 'rb').read())
PY
	rm -rf "$tmp"
}

verify() {
	local cert=$1 image=$2 tmp rc=0
	tmp=$(mktemp -d)
	python3 - "$image" "$tmp" <<'PY' || rc=$?
import hashlib, struct, sys
image, tmp = sys.argv[1:3]
b = open(image, 'rb').read()
def fail(msg):
    print('mkfw: ' + msg, file=sys.stderr); sys.exit(1)
if b[:8] != b'SPROVFW1': fail('bad magic')
o = 8
pl = b[o]; o += 1; product = b[o:o+pl]; o += pl
vl = b[o]; o += 1; version = b[o:o+vl]; o += vl
(n,) = struct.unpack('>Q', b[o:o+8]); o += 8
digest = b[o:o+32]; o += 32
signed = b[:o]
(sl,) = struct.unpack('>H', b[o:o+2]); o += 2
sig = b[o:o+sl]; o += sl
if len(b) != o + n: fail('length %d, header says %d' % (len(b), o + n))
if hashlib.sha256(b[o:]).digest() != digest: fail('digest mismatch')
open(tmp + '/signed', 'wb').write(signed)
open(tmp + '/sig', 'wb').write(sig)
open(tmp + '/info', 'w').write('%s %s %d\n' % (product.decode(), version.decode(), n))
PY
	if [[ $rc -eq 0 ]]; then
		openssl x509 -in "$cert" -pubkey -noout >"$tmp/pub"
		if openssl dgst -sha256 -verify "$tmp/pub" -signature "$tmp/sig" "$tmp/signed" >/dev/null; then
			cat "$tmp/info"
		else
			echo "mkfw: bad signature" >&2
			rc=1
		fi
	fi
	rm -rf "$tmp"
	return "$rc"
}

case ${1:-} in
build) [[ $# -eq 6 ]] || die "usage: mkfw.sh build KEY PAYLOAD PRODUCT VERSION OUT"; shift; build "$@" ;;
verify) [[ $# -eq 3 ]] || die "usage: mkfw.sh verify CERT IMAGE"; shift; verify "$@" ;;
*) die "usage: mkfw.sh build|verify ..." ;;
esac
