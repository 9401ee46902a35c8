#!/bin/bash
# The operator console in a real browser: headless Chromium (Debian's),
# driven over the DevTools protocol (tests/lib/cdp.py).  It logs in through
# `sprov admin login-url`, finds a device by its MAC and opens its page,
# sees a revoked device's failure reason after it tried to connect, changes
# a parameter through the edit form and finds the change on the audit page,
# and the device's next resync gets the new value.  A screenshot of each
# page goes to $SPROV_BUILDDIR/console-artifacts/, and no request may leave
# the server: every URL the page asked for is on the admin listener.
# Chromium missing: skipped (77), except under CI, where it is a failure.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/serve_lib/common.sh"

CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
	[ -n "${CI:-}" ] && fail "chromium is not installed (scripts/deps.sh installs it)"
	echo "SKIP: chromium is not installed"
	exit 77
fi
/usr/bin/python3 -c 'import websocket' 2>/dev/null ||
	fail "Debian's python3-websocket is not installed (scripts/deps.sh installs it)"

ART="${SPROV_BUILDDIR:-$T}/console-artifacts"
rm -rf "$ART"
mkdir -p "$ART"

serve_pki
serve_db
MAC_A=000e08aaaa01
MAC_C=000e08aaaa05
"$SPROV" ca issue "$T/ca" --mac $MAC_C --serial SNC05 --product SPA2102 --out "$T/dev" >/dev/null
"$SPROV" db devices add $MAC_C --serial SNC05 --product SPA2102 >/dev/null
DEV_C="$T/dev/$MAC_C"
serve_start --crl "$T/device-ca.crl"

note "A and C have fetched their profiles; C is revoked and tries again"
get "$DEV_A" /profiles/$MAC_A.xml
expect_code 200
case "$BODY" in *sip2.example.net*) fail "A has the new proxy before the change" ;; esac
get "$DEV_C" /profiles/$MAC_C.xml
expect_code 200
"$SPROV" ca revoke "$T/ca" --mac $MAC_C --reason keyCompromise >/dev/null
"$SPROV" ca crl "$T/ca" --ca device -o "$T/device-ca.crl" >/dev/null
hup_wait "$SERVE_PID" "$T/serve.err" 'configuration reloaded'
get "$DEV_C" /profiles/$MAC_C.xml
[ "$CODE" = 000 ] || fail "revoked C was answered $CODE"

note "the login link"
run_capture "$SPROV" admin login-url --url "http://127.0.0.1:$APORT"
[ "$RC" = 0 ] || fail "sprov admin login-url exited $RC: $ERR"
LOGIN=$(printf '%s\n' "$OUT" | grep -o "http://127.0.0.1:$APORT/login?t=[A-Za-z0-9_-]*" | head -1)
[ -n "$LOGIN" ] || fail "no login link in: $OUT"

export ART APORT LOGIN MAC_A MAC_C CHROMIUM DEV_A SRV_NAME PORT T
export CDP_DIR="$SPROV_SRCDIR/tests/lib"
# audit_sets: how many param.set entries the store's audit trail holds for A.
audit_sets() {
	"$SPROV" db audit list --device $MAC_A --json | /usr/bin/python3 -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin) if e["action"] in ("param.set", "param-set")))'
}
before_audit=$(audit_sets)

/usr/bin/python3 - <<'PY' || fail "the browser scenario failed (screenshots in $ART)"
import json, os, subprocess, sys, time
sys.path.insert(0, os.environ["CDP_DIR"])
from cdp import Browser, CDPError

E = os.environ
BASE = "http://127.0.0.1:%s" % E["APORT"]
A, C = E["MAC_A"], E["MAC_C"]
colons = lambda m: ":".join(m[i:i + 2] for i in range(0, 12, 2))
ok = 0

def check(cond, what):
    global ok
    if not cond:
        raise SystemExit("FAIL: " + what)
    ok += 1

with Browser(chromium=E["CHROMIUM"], artifacts=E["ART"]) as b:
    try:
        # (1) the one-time link sets the session cookie and lands on /
        b.navigate(E["LOGIN"])
        check(b.evaluate("location.href") == BASE + "/", "the login link did not land on /")
        b.wait_for("document.querySelectorAll('#overview-status .tile').length == 7",
                   what="the overview's status tiles")
        b.wait_for("document.querySelector('#chart-resyncs rect.bar')", what="a bar in the resync chart")
        total = b.evaluate("document.querySelector('#overview-status .st-total .n').textContent")
        check(total == "3", "the overview counts %r devices, not 3" % total)
        b.screenshot("overview")

        # (2) search a MAC, open the device page from its row
        b.click("#nav a[data-route=devices]")
        b.wait_for("document.querySelectorAll('#inventory tbody tr').length == 3", what="the inventory")
        b.screenshot("inventory")
        b.type("#search", colons(A))
        b.click("#search-go")
        b.wait_for("(() => { const r = document.querySelectorAll('#inventory tbody tr');"
                   " return r.length == 1 && r[0].dataset.mac == %s; })()" % json.dumps(A),
                   what="one row, for " + A)
        b.click("#inventory tbody tr[data-mac='%s']" % A)
        b.wait_for("document.querySelector('#device-mac')?.dataset.mac == %s" % json.dumps(A),
                   what="the device page of " + A)
        check(b.text("#device-mac") == colons(A), "#device-mac reads %r" % b.text("#device-mac"))
        check(b.evaluate("location.hash") == "#/device/" + A, "the device page's route")
        # the secret is masked: its value is not on the page
        b.wait_for("document.querySelector(\"#params tr[data-name='Password_1_'] .badge.secret\")",
                   what="Password_1_ masked")
        check("secretAAAA" not in b.evaluate("document.body.textContent"), "a secret is on the page")
        b.screenshot_full("device")
        # an admin reveals it on request (audited as param-reveal)
        b.click("#params tr[data-name='Password_1_'] button.reveal")
        b.wait_for("document.querySelector(\"#params tr[data-name='Password_1_'] .revealed\")?.textContent"
                   " == 'secretAAAA'", what="Password_1_ revealed",
                   timeout=5)

        # (3) the revoked device's page shows why it is refused
        deadline = time.monotonic() + 15
        while True:
            b.evaluate("location.hash = '#/device/%s?r=' + Date.now()" % C)
            try:
                b.wait_for("document.querySelector('#device-mac')?.dataset.mac == '%s'" % C, timeout=3)
                if b.evaluate("!!document.querySelector('#failures li[data-reason=revoked]')"):
                    break
            except CDPError:
                pass
            if time.monotonic() > deadline:
                b.screenshot_full("device-revoked")
                raise SystemExit("FAIL: no 'revoked' in #failures of %s after 15 s" % C)
            b.pump(0.3)
        check(b.evaluate("document.querySelector('#device-status').dataset.status") == "revoked",
              "C's status badge is not 'revoked'")
        b.screenshot_full("device-revoked")

        # the inventory's filters and sort: revoked is C alone; no contact
        # for 24 hours is B alone (never seen); MAC descending puts C first
        rows = "[...document.querySelectorAll('#inventory tbody tr')].map(r => r.dataset.mac).join(',')"
        b.click("#nav a[data-route=devices]")
        b.wait_for(rows + " == '000e08aaaa01,000e08aaaa02,%s'" % C, what="the three devices, by MAC")
        b.click("#status-filter a[data-status=revoked]")
        b.wait_for(rows + " == '%s'" % C, what="the revoked filter: C alone")
        b.click("#status-filter a[data-status='']")
        b.wait_for(rows + " == '000e08aaaa01,000e08aaaa02,%s'" % C, what="all three again")
        b.evaluate("(() => { const s = document.querySelector('#seen-filter'); s.value = 'not-24h';"
                   " s.dispatchEvent(new Event('change')); })()")
        b.wait_for(rows + " == '000e08aaaa02'", what="no contact for 24 hours: B alone")
        b.click("#inventory th[data-sort=mac]")   # the filter stays, the order turns
        b.wait_for("document.querySelector('#inventory th[data-sort=mac].sorted.desc')"
                   " && " + rows + " == '000e08aaaa02'", what="MAC descending, still filtered")
        b.evaluate("(() => { const s = document.querySelector('#seen-filter'); s.value = '';"
                   " s.dispatchEvent(new Event('change')); })()")
        b.wait_for(rows + " == '%s,000e08aaaa02,000e08aaaa01'" % C, what="the three, MAC descending")

        # a change without the CSRF token is refused, and changes nothing
        # (the browser logs that 403 as an error: the one error allowed)
        mark = len(b.log)
        r = b.evaluate("fetch('/api/v1/params/device/%s/Proxy_1_', {method: 'PUT',"
                       " headers: {'Content-Type': 'application/json'},"
                       " body: JSON.stringify({value: 'csrf.example.net'})})"
                       ".then(async r => [r.status, await r.text()])" % A)
        check(r[0] == 403 and "missing or wrong CSRF token" in r[1], "PUT without CSRF: %r" % (r,))
        b.pump(0.2)
        b.log[mark:] = [e for e in b.log[mark:] if "status of 403" not in (e[2] or "")]

        # (4) change a parameter through the edit form
        b.evaluate("location.hash = '#/device/%s'" % A)
        b.wait_for("document.querySelector('#device-mac')?.dataset.mac == '%s'"
                   " && document.querySelector('#param-edit-name')" % A, what="A's edit form")
        b.type("#param-edit-name", "Proxy_1_")
        b.type("#param-edit-value", "sip2.example.net")
        b.click("#param-edit-save")
        b.wait_for("document.querySelector('#notice')", what="the change's notice")
        b.wait_for("(() => { const r = document.querySelector(\"#params tr[data-name='Proxy_1_']\");"
                   " return r && r.dataset.level == 'device' && r.textContent.includes('sip2.example.net'); })()",
                   what="Proxy_1_ = sip2.example.net at the device level")
        check("csrf.example.net" not in b.evaluate("document.body.textContent"), "the CSRF-less PUT took effect")
        b.click("#nav a[data-route=audit]")
        # the store names the action param.set (api14's example: param-set)
        sel = "#audit tbody tr[data-action^='param'][data-action$='set'][data-target='%s']" % A
        b.wait_for("document.querySelector(%s)" % json.dumps(sel), what="the param-set entry on #/audit")
        row = b.text(sel)
        check("console:" in row and "Proxy_1_" in row, "the audit row: %r" % row)
        b.click("#audit-verify")
        b.wait_for("document.querySelector('#verify-result [data-intact=true]')", what="an intact audit chain")
        b.screenshot("audit")

        b.click("#nav a[data-route=unknown]")
        b.wait_for("document.querySelector('#unknown')", what="the unknown devices page")
        b.screenshot("unknown")
        b.pump(0.3)
    except CDPError as e:
        b.screenshot("failure")
        raise SystemExit("FAIL: %s" % e)

    # nothing left the server, and the page kept to its CSP without errors
    others = [u for u, _ in b.requests if not (u == BASE or u.startswith(BASE + "/"))]
    check(not others, "requests that left the server: %r" % others)
    check(len(b.requests) > 10, "only %d requests seen" % len(b.requests))
    check(not b.exceptions, "page exceptions: %r" % b.exceptions)
    csp = [t for _, _, t in b.log if "Content Security Policy" in (t or "")]
    check(not csp, "CSP violations: %r" % csp)
    errs = [t for _, lvl, t in b.log if lvl == "error"]
    check(not errs, "browser errors: %r" % errs)
print("browser: %d checks passed, %d requests, all to %s" % (ok, len(b.requests), BASE))
PY
_TESTS_RUN=$((_TESTS_RUN + 1))
for p in overview inventory device device-revoked audit unknown; do
	[ -s "$ART/console-$p.png" ] || fail "no screenshot of $p"
done

note "(5) A's next resync gets the new value"
get "$DEV_A" /profiles/$MAC_A.xml
expect_code 200
case "$BODY" in *sip2.example.net*) ;; *) fail "A's profile lacks the new proxy: $BODY" ;; esac
case "$BODY" in *csrf.example.net*) fail "the CSRF-less change reached A's profile" ;; esac

note "the login link was for one use"
CODE=$(curl -s -o "$T/again" -w '%{http_code}' "$LOGIN")
[ "$CODE" = 403 ] || fail "the used login link answered $CODE"
grep -q "this login link was used or has expired" "$T/again" || fail "used link page: $(cat "$T/again")"
_TESTS_RUN=$((_TESTS_RUN + 1))

note "one param.set entry more in the store's audit trail"
after_audit=$(audit_sets)
[ "$after_audit" = $((before_audit + 1)) ] || fail "param.set entries for A: $before_audit -> $after_audit, expected one more"
_TESTS_RUN=$((_TESTS_RUN + 1))

serve_stop
finish
