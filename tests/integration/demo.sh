#!/usr/bin/env bash
# `make demo` keeps working: scripts/demo.sh runs the whole story (PKI, store,
# dnsmasq, sprov serve, three devices, the refusals) and cleans up after itself.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"

note "the demo runs end to end"
TMPDIR=$T expect_rc 0 bash "$SPROV_SRCDIR/scripts/demo.sh" "$SPROV"
for want in "HTTP 200, 4 parameters" "http_get failed: HTTP 403" "certificate revoked" \
	"alert bad certificate" "HTTP 304, not modified" \
	"server check 4 (address): server address 127.0.0.1 is not among the DNS answers" \
	"/login?t=" "Done: 12 steps."; do
	expect_out_contains "$want"
done
note "no password reaches the demo's output"
case "$OUT" in *secret-*) fail "a password was printed" ;; esac
note "the demo removed its directory and stopped its processes"
[ -z "$(ls -A "$T" | grep sprov-demo || true)" ] || fail "demo directory left behind"
sleep 0.2
left=$(for p in /proc/[0-9]*; do
	case "$(readlink "$p/cwd" 2>/dev/null)" in "$T"/sprov-demo.*) echo "${p#/proc/}" ;; esac
done)
[ -z "$left" ] || fail "demo processes still running: $left"
finish
