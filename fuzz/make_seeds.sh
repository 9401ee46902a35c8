#!/bin/bash
# Remake the openssl-CLI seed corpora of fuzz_crl, fuzz_certcheck and fuzz_fwimage:
#   bash fuzz/make_seeds.sh        (writes fuzz/corpus/{crl,certcheck}/)
# The seeds are committed; this records how they were made.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256"

# CRLs: an issuer as in the fuzzer's probe, empty and with two revocations.
C="$src/fuzz/corpus/crl"
mkdir -p "$C" db && touch db/index && echo 1000 > db/crlnumber
printf '%s\n' "[ca]" "default_ca=d" "[d]" "database=db/index" "crlnumber=db/crlnumber" \
    "default_md=sha256" "default_crl_days=30" "[crl_ext]" \
    "authorityKeyIdentifier=keyid:always" > ca.cnf
openssl req -x509 $EC -nodes -keyout ca.key -subj "/CN=Example Phones Device CA" \
    -days 3650 -out ca.crt 2>/dev/null
for s in 01 0A1B2C3D4E5F60718293A4B5C6D7E8F9; do
	openssl req -new $EC -nodes -keyout d.key -subj "/ST=001122334455" -out d.csr 2>/dev/null
	openssl x509 -req -in d.csr -CA ca.crt -CAkey ca.key -set_serial 0x$s -days 30 -out d$s.crt 2>/dev/null
done
gencrl() { openssl ca -config ca.cnf -gencrl -keyfile ca.key -cert ca.crt -out "$@" 2>/dev/null; }
gencrl "$C/empty.pem" -crlexts crl_ext
openssl ca -config ca.cnf -revoke d01.crt -keyfile ca.key -cert ca.crt -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -revoke d0A1B2C3D4E5F60718293A4B5C6D7E8F9.crt -keyfile ca.key -cert ca.crt 2>/dev/null
gencrl "$C/two-revoked.pem" -crlexts crl_ext
openssl ca -config <(sed '/crlnumber/d' ca.cnf) -gencrl -keyfile ca.key -cert ca.crt \
    -out "$C/no-crlnumber.pem" 2>/dev/null
openssl crl -in "$C/two-revoked.pem" -outform DER -out "$C/two-revoked.der"
openssl crl -in "$C/empty.pem" -outform DER -out "$C/empty.der"
cat "$C/empty.pem" "$C/two-revoked.pem" > "$C/bundle.pem"

# Self-signed DER certificates, one per device rule (the fuzzer makes each
# its own trust anchor).
D="$src/fuzz/corpus/certcheck"
mkdir -p "$D"
ss() { # ss NAME KEYOPTS EXT...
	local n=$1 k=$2; shift 2
	printf '%s\n' "[req]" "distinguished_name=d" "[d]" "[x]" "$@" > $n.cnf
	openssl req -x509 -new -nodes $k -keyout $n.key -subj "/CN=prov.example.test" \
	    -days 3650 -config $n.cnf -extensions x -out $n.pem 2>/dev/null
	openssl x509 -in $n.pem -outform DER -out "$D/$n.der"
}
ss good "$EC" "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:prov.example.test" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always"
ss noeku "$EC" "basicConstraints=critical,CA:FALSE" "subjectAltName=DNS:prov.example.test" \
    "subjectKeyIdentifier=hash"
ss anyeku "$EC" "extendedKeyUsage=anyExtendedKeyUsage" "subjectKeyIdentifier=hash"
ss ca "$EC" "basicConstraints=critical,CA:TRUE" \
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash"
ss critext "$EC" "extendedKeyUsage=serverAuth" "1.3.6.1.4.1.99999.1=critical,ASN1:NULL" \
    "subjectKeyIdentifier=hash"
ss nc "$EC" "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign" \
    "nameConstraints=critical,permitted;DNS:example.org" "subjectKeyIdentifier=hash"
ss rsa1024 "-newkey rsa:1024" "extendedKeyUsage=serverAuth" "subjectKeyIdentifier=hash"
ss sha1 "$EC -sha1" "extendedKeyUsage=serverAuth" "subjectKeyIdentifier=hash"
ss extra "$EC" "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:prov.example.test,DNS:other.example.test,IP:10.0.0.1"
openssl req -x509 -new -nodes $EC -keyout v1.key -subj "/CN=prov.example.test" -days 3650 \
    -config <(printf '[req]\ndistinguished_name=d\n[d]\n') -out v1.pem 2>/dev/null
openssl x509 -in v1.pem -outform DER -out "$D/v1.der"

# Firmware containers (fuzz_fwimage): built by the independent tests/lib/mkfw.sh.
F="$src/fuzz/corpus/fwimage"
mkdir -p "$F"
printf 'firmware payload bytes\n' >small
openssl req -x509 $EC -nodes -keyout fw.key -subj "/CN=fw" -days 10 -out fw.crt 2>/dev/null
openssl genrsa -out fwr.key 2048 2>/dev/null
bash "$src/tests/lib/mkfw.sh" build fw.key small SPA-962 "2.0.1(0412s)" "$F/ec-p256.sfw"
bash "$src/tests/lib/mkfw.sh" build fwr.key small ATA-191 11.3 "$F/rsa2048.sfw"
head -c 60 "$F/ec-p256.sfw" >"$F/cut-header.bin"
{ cat "$F/ec-p256.sfw"; echo; } >"$F/trailing.sfw"
