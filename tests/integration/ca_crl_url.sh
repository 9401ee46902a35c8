# sprov ca init/set --crl-url: the certificates the CA issues carry a CRL
# distribution point (BASE server-ca.crl / BASE device-ca.crl), the device's
# strict verifier still accepts them, and a bad URL is refused with one line
# and nothing written.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
mkdir "$T/w" && cd "$T/w"
BASE=https://pki.vendor.example/crl/
FQDN=prov.example.test

oreq() { openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-keyout "$1.key" -subj "/CN=$FQDN" -out "$1" 2>/dev/null || fail "openssl req"; }
# dp FILE: the CRL distribution point section of a certificate, one line.
dp() { openssl x509 -in "$1" -noout -text | grep -A3 'X509v3 CRL Distribution Points' | tr -s ' \n' ' '; }
has_dp() { # has_dp FILE URL: exactly that one URI
	local t
	t=$(dp "$1")
	case "$t" in
	*"Full Name: URI:$2 "*) ;;
	*) fail "$1: no CRL distribution point $2: '$t'" ;;
	esac
	[ "$(openssl x509 -in "$1" -noout -text | grep -c 'URI:')" = 1 ] || fail "$1: more than one URI"
}
no_dp() { [ -z "$(dp "$1")" ] || fail "$1 has a CRL distribution point: $(dp "$1")"; }
refused() { # refused MESSAGE CMD...: exit 1, exactly one line, nothing changed
	local msg=$1 h; shift
	h=$(tree_hash .)
	expect_rc 1 "$@"
	[ "$ERR" = "$msg" ] || fail "message: got '$ERR', want '$msg'"
	[ "$(tree_hash .)" = "$h" ] || fail "'$*' changed files"
}

note "init --crl-url refuses a bad URL, with one line, and writes nothing"
refused "sprov ca init: --crl-url 'ftp://pki.vendor.example/': not an http:// or https:// URL" \
	"$SPROV" ca init ca --crl-url ftp://pki.vendor.example/
refused "sprov ca init: --crl-url 'pki.vendor.example/': not an http:// or https:// URL" \
	"$SPROV" ca init ca --crl-url pki.vendor.example/
refused "sprov ca init: --crl-url 'https://pki.vendor.example/%s': a base URL holds no %, comma, query, fragment or quote" \
	"$SPROV" ca init ca --crl-url 'https://pki.vendor.example/%s'
refused "sprov ca init: --crl-url 'https://pki.vendor.example/a,b/': a base URL holds no %, comma, query, fragment or quote" \
	"$SPROV" ca init ca --crl-url 'https://pki.vendor.example/a,b/'
refused "sprov ca init: --crl-url 'https://pki.vendor.example/ca.crl': a base URL ends with '/' (certificates point at BASEserver-ca.crl and BASEdevice-ca.crl)" \
	"$SPROV" ca init ca --crl-url https://pki.vendor.example/ca.crl
expect_rc 1 "$SPROV" ca init ca --crl-url 'https://pki vendor.example/'
[ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ] || fail "more than one line: $ERR"
case "$ERR" in "sprov ca init: --crl-url 'https://pki vendor.example/'"*) ;; *) fail "message: $ERR" ;; esac
[ ! -e ca ] || fail "a refused init wrote ca/"
long=https://pki.vendor.example/$(printf 'a%.0s' $(seq 200))/
refused "sprov ca init: --crl-url: longer than 200 bytes" "$SPROV" ca init ca --crl-url "$long"
[ ! -e ca ] || fail "a refused init wrote ca/"

note "a CA made with --crl-url: server and device certificates point at their CA's CRL"
expect_rc 0 "$SPROV" ca init ca --crl-url "$BASE"
oreq s.csr
expect_rc 0 "$SPROV" ca sign ca s.csr -o s.crt
has_dp s.crt "${BASE}server-ca.crl"
expect_rc 0 "$SPROV" ca issue ca --mac 000e08aabbcc --serial 88012BA01234 --product SPA2102 --out out
has_dp out/000e08aabbcc/client.crt "${BASE}device-ca.crl"
openssl verify -x509_strict -purpose sslserver -CAfile ca/server-ca.crt s.crt >/dev/null ||
	fail "openssl verify refuses the server certificate"
openssl verify -x509_strict -purpose sslclient -CAfile ca/device-ca.crt \
	out/000e08aabbcc/client.crt >/dev/null || fail "openssl verify refuses the device certificate"
# The roots carry none: a CRL DP on a self-signed root points nowhere useful.
no_dp ca/server-ca.crt
no_dp ca/device-ca.crt

note "the device's strict verifier accepts such a server certificate"
expect_rc 0 "$SPROV" device check-cert --root ca/server-ca.crt --host "$FQDN" s.crt
expect_out_contains "accepted: a device would accept this certificate"

note "ca set --crl-url on an existing CA"
expect_rc 0 "$SPROV" ca init ca2
oreq s2.csr
expect_rc 0 "$SPROV" ca sign ca2 s2.csr -o s2-before.crt
no_dp s2-before.crt
refused "sprov ca set: --crl-url 'http://pki.vendor.example/x?y=1/': a base URL holds no %, comma, query, fragment or quote" \
	"$SPROV" ca set ca2 --crl-url 'http://pki.vendor.example/x?y=1/'
[ -z "$(sqlite3 ca2/ca.db "select value from meta where key = 'crl_url'")" ] || fail "refused set stored a URL"
expect_rc 2 "$SPROV" ca set ca2
expect_err_contains "nothing to set"
expect_rc 0 "$SPROV" ca set ca2 --crl-url http://crl.vendor.example/
expect_out_contains "CRL distribution point of server certificates: http://crl.vendor.example/server-ca.crl"
expect_out_contains "CRL distribution point of device certificates: http://crl.vendor.example/device-ca.crl"
expect_rc 0 "$SPROV" ca sign ca2 s2.csr -o s2-after.crt
has_dp s2-after.crt http://crl.vendor.example/server-ca.crl
expect_rc 0 "$SPROV" device check-cert --root ca2/server-ca.crt --host "$FQDN" s2-after.crt
expect_rc 0 "$SPROV" ca set ca2 --crl-url ''
expect_out_contains "CRL distribution point: none"
expect_rc 0 "$SPROV" ca sign ca2 s2.csr -o s2-removed.crt
no_dp s2-removed.crt
expect_rc 1 "$SPROV" ca set nowhere --crl-url "$BASE"
expect_err_contains "no CA here"
[ ! -e nowhere ] || fail "ca set on no CA wrote nowhere/"
finish
