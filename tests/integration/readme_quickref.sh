#!/bin/bash
# The README's quick reference, run as written: the ```sh block after the
# "<!-- quickref -->" marker, in an empty directory, with `sprov` being the
# binary under test and the loopback ports 18443 and 15353 swapped for free
# ones (parallel tests).  The device must fetch and apply its profile.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
[ -x /usr/sbin/dnsmasq ] || fail "dnsmasq is missing (scripts/deps.sh installs it)"

sed -n '/^<!-- quickref -->$/,/^```$/p' "$SPROV_SRCDIR/README.md" | sed '1,2d;$d' >"$T/quickref.sh"
[ "$(grep -c '^sprov ' "$T/quickref.sh")" -ge 15 ] || fail "no quick reference found: $(cat "$T/quickref.sh")"
grep -q -- '--crl vendor/device-ca.crl' "$T/quickref.sh" ||
	fail "the server does not read the CRL 'ca crl vendor/ --ca device' writes"
grep -q -- '--dns-server 127.0.0.1:15353' "$T/quickref.sh" || fail "no DNS step"
PORT=$(free_port)
DNS_PORT=$(free_port)
mkdir "$T/bin" "$T/run"
ln -s "$SPROV" "$T/bin/sprov"
ln -s /usr/sbin/dnsmasq "$T/bin/dnsmasq"
sed -i "s/18443/$PORT/g; s/15353/$DNS_PORT/g" "$T/quickref.sh"
# The servers it starts in the background are its shell's jobs: that shell
# stops them when it ends (a job list read from outside it is empty, and
# they would outlive the test).
sed -i '1i trap '"'"'for p in $(jobs -p); do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done'"'"' EXIT' "$T/quickref.sh"

note "running the quick reference"
set +e
(cd "$T/run" && PATH="$T/bin:$PATH" bash -e -x "$T/quickref.sh") >"$T/out" 2>"$T/err"
rc=$?
set -e
[ $rc -eq 0 ] || fail "the quick reference failed ($rc): $(tail -20 "$T/err")"
! grep -q 'Sanitizer\|runtime error' "$T/err" || fail "sanitizer report: $(grep -A20 Sanitizer "$T/err")"
! pgrep -f -- "--listen 127.0.0.1:$PORT " >/dev/null || fail "sprov serve outlived the quick reference"
! pgrep -f -- "--port=$DNS_PORT " >/dev/null || fail "dnsmasq outlived the quick reference"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "what it left behind"
R="$T/run"
for f in vendor/server-ca.crt vendor/device-ca.crt vendor/device-ca.crl provserver.crt privkey.pem \
	sprov.db bundles/000e08aabbcc/client.crt dev/params.xml; do
	[ -s "$R/$f" ] || fail "no $f"
done
[ ! -e "$R/device-ca.crl" ] || fail "a CRL outside vendor/"
grep -q 's3cret' "$R/dev/params.xml" || fail "the device did not apply its password"
grep -q 'sip.telco.net' "$R/dev/params.xml" || fail "the device did not apply the default"
grep -q "^+ sprov ca init vendor/" "$T/err" || fail "the trace lacks the first command"
grep -q "  vendor/server-ca.crt  server CA" "$T/out" || fail "ca init output: $(head -3 "$T/out")"
_TESTS_RUN=$((_TESTS_RUN + 1))
finish
