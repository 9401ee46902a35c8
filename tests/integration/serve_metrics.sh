#!/bin/bash
# /metrics: the exposition parses with prometheus_client's own parser, every
# family has HELP and TYPE, the latency histograms count requests and
# handshakes, sprov_build_info names the library versions, the server
# certificate's notAfter is there, the CRL's nextUpdate and crlNumber per
# issuer agree with `openssl crl`, and docs/SERVER.md's metric table names
# exactly the families /metrics exports.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"
# The Debian package installs for the system's python3, which a PATH
# python3 (pyenv, venv) may not be.
PY=
for p in python3 /usr/bin/python3; do
	"$p" -c 'import prometheus_client' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || fail "python3-prometheus-client is missing (scripts/deps.sh installs it)"

serve_pki
serve_db
serve_start --crl "$T/device-ca.crl" --access-log off
for i in 1 2 3; do
	get "$DEV_A" /profiles/000e08aaaa01.xml
	expect_code 200
done
get "$DEV_A" /nope.xml
expect_code 404
curl -sf "http://127.0.0.1:$APORT/metrics" >"$T/metrics" || fail "GET /metrics"
notafter=$(date -d "$(openssl x509 -in "$T/provserver.crt" -noout -enddate | cut -d= -f2)" +%s)
crlnext=$(date -d "$(openssl crl -in "$T/device-ca.crl" -noout -nextupdate | cut -d= -f2)" +%s)
crlnum=$(openssl crl -in "$T/device-ca.crl" -noout -crlnumber | cut -d= -f2)
crlcn=$(openssl crl -in "$T/device-ca.crl" -noout -issuer -nameopt RFC2253,-esc_msb |
	sed -n 's/^issuer=.*CN=\([^,]*\).*/\1/p')
[ -n "$crlcn" ] && [ -n "$crlnum" ] || fail "openssl crl: no CN or crlNumber"
"$SPROV" --version >"$T/version"

note "prometheus_client parses it; HELP and TYPE everywhere; the values"
"$PY" - "$T/metrics" "$notafter" "$T/version" "$crlnext" "$crlnum" "$crlcn" <<'EOP' || fail "metrics: see above"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
# Every family has its own HELP and TYPE lines (the parser invents neither
# when they are missing: check the text itself).
for f in fams.values():
    base = f.name + ("_total" if f.type == "counter" and not f.name.endswith("_total") else "")
    names = {base, f.name}
    assert any("# HELP %s " % n in text for n in names), "no HELP for " + f.name
    assert any("# TYPE %s %s" % (n, f.type) in text for n in names), "no TYPE for " + f.name
    assert f.documentation, "empty HELP for " + f.name
    assert f.type != "unknown", "untyped " + f.name
for line in text.splitlines():
    if line.startswith("# TYPE "):
        assert line.split()[2] in text.replace("# TYPE", ""), line
def samples(name):
    return {tuple(sorted(s.labels.items())): s.value for f in fams.values()
            for s in f.samples if s.name == name}
req = samples("sprov_request_duration_seconds_count")
assert list(req.values()) == [4.0], req
inf = samples("sprov_request_duration_seconds_bucket")[(("le", "+Inf"),)]
assert inf == 4.0, inf
hs = samples("sprov_tls_handshake_duration_seconds_count")
assert list(hs.values())[0] >= 4.0, hs
assert fams["sprov_request_duration_seconds"].type == "histogram"
assert fams["sprov_tls_handshake_duration_seconds"].type == "histogram"
na = samples("sprov_server_cert_not_after_seconds")
assert list(na.values()) == [float(sys.argv[2])], (na, sys.argv[2])
bi = samples("sprov_build_info")
(labels, v), = bi.items()
labels = dict(labels)
assert v == 1.0
ver = dict(l.split(" ", 1) for l in open(sys.argv[3]).read().splitlines())
assert labels == {"version": ver["sprov"], "openssl": ver["openssl"], "gnutls": ver["gnutls"],
    "libevent": ver["libevent"], "sqlite": ver["sqlite"], "libpq": ver["libpq"]}, labels
assert samples("sprov_requests_total")[(("status", "200"),)] == 3.0
# One series per CRL issuer: openssl's nextUpdate (Unix time) and crlNumber.
nu = samples("sprov_crl_next_update_timestamp_seconds")
assert nu == {(("issuer", sys.argv[6]),): float(sys.argv[4])}, (nu, sys.argv[4:])
cn = samples("sprov_crl_number")
assert cn == {(("issuer", sys.argv[6]),): float(int(sys.argv[5], 16))}, (cn, sys.argv[5:])
assert fams["sprov_crl_number"].type == "gauge"
open(sys.argv[1] + ".names", "w").write("\n".join(sorted(
    f.name + ("_total" if f.type == "counter" else "") for f in fams.values())) + "\n")
EOP
_TESTS_RUN=$((_TESTS_RUN + 1))

note "docs/SERVER.md's metric table names exactly these families"
sed -n '/^<!-- metrics table -->$/,/^<!-- end metrics table -->$/p' "$SPROV_SRCDIR/docs/SERVER.md" |
	grep -o '^| `sprov_[a-z_]*`' | tr -d '|` ' | LC_ALL=C sort >"$T/doc.names"
[ "$(wc -l <"$T/doc.names")" -ge 20 ] || fail "docs/SERVER.md: no metric table found"
LC_ALL=C sort "$T/metrics.names" >"$T/m.names"
diff -u "$T/doc.names" "$T/m.names" || fail "docs/SERVER.md and /metrics differ (- doc, + /metrics)"
_TESTS_RUN=$((_TESTS_RUN + 1))
serve_stop
finish
