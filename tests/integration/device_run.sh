#!/usr/bin/env bash
# sprov device run: timers on a fast clock (--time-scale 3600: an hour is a
# second), SIGHUP, Report_Rule, parameters taking effect on the next round,
# error retry, and a clean SIGTERM.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/device_lib.bash"

make_pki
start_dns
start_nginx good
W=$T/www
printf '<flat-profile><GPP_B>one</GPP_B></flat-profile>\n' >"$W/p.xml"

D=$T/dev
expect_rc 0 "$SPROV" device init "$D" --bundle "$T/pki/bundle" \
	--rule "https://$FQDN:$PORT_good/p.xml" \
	--set Resync_Random_Delay=0 --set Resync_Periodic=3600 \
	--set Resync_Error_Retry_Delay=1800 \
	--set "Report_Rule=https://$FQDN:$PORT_good/report"
LOG=$T/run.log
bg_start "$SPROV" device run "$D" --dns-server "$DNS" --time-scale 3600 2>"$LOG"
RUN=$BG_PID

# wait_log PATTERN COUNT SECONDS: until PATTERN occurs COUNT times in the log.
wait_log() {
	local i=0
	while [ "$(grep -c -- "$1" "$LOG" || true)" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -lt $(($3 * 20)) ] || fail "'$1' not seen $2 times in $3 s; log: $(cat "$LOG")"
		kill -0 "$RUN" 2>/dev/null || fail "the daemon died: $(cat "$LOG")"
		sleep 0.05
	done
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

note "resync at start, then every Resync_Periodic (3600 s = 1 s here)"
wait_log "Successful resync" 1 10
grep -q '<GPP_B>one</GPP_B>' "$D/params.xml" || fail "first profile not applied"
wait_log "next resync in 3600 s" 1 5
wait_log "Successful resync" 3 10

note "Report_Rule posts the parameters after a success"
wait_log "report sent to $FQDN: HTTP 200" 1 5
grep -q '"POST /report HTTP/1.1" 200' "$T/nginx/access.log" || fail "no report in the access log"

note "a profile's Resync_Periodic takes effect for the next round"
printf '<flat-profile><GPP_B>two</GPP_B><Resync_Periodic>72000</Resync_Periodic></flat-profile>\n' >"$W/p.xml"
wait_log "next resync in 72000 s" 1 10
grep -q '<GPP_B>two</GPP_B>' "$D/params.xml" || fail "second profile not applied"

note "SIGHUP resyncs now"
n=$(grep -c "Requesting resync" "$LOG")
kill -HUP "$RUN"
wait_log "Requesting resync" $((n + 1)) 5

note "a failure retries after Resync_Error_Retry_Delay"
H=$(store_hash "$D")
ok=$(grep -c "Successful resync" "$LOG")
rm "$W/p.xml"
kill -HUP "$RUN"
wait_log "Resync failed: http_get failed: HTTP 404" 1 5
wait_log "next resync in 1800 s" 1 5
[ "$(store_hash "$D")" = "$H" ] || fail "store changed by a failed round"
printf '<flat-profile><GPP_B>three</GPP_B><Resync_Periodic>72000</Resync_Periodic></flat-profile>\n' >"$W/p.xml"
wait_log "Successful resync" $((ok + 1)) 5
for _ in $(seq 40); do grep -q three "$D/params.xml" && break; sleep 0.05; done
grep -q '<GPP_B>three</GPP_B>' "$D/params.xml" || fail "retry did not apply the profile"

note "SIGTERM stops cleanly"
kill -TERM "$RUN"
set +e
wait "$RUN"
rc=$?
set -e
[ $rc -eq 0 ] || fail "daemon exited $rc: $(tail -5 "$LOG")"
grep -q "device stopped" "$LOG" || fail "no clean stop message"

note "Resync_At (local HHmm) replaces Resync_Periodic after a success"
AT=$(date -d '+3 hours' +%H%M)
cat >>"$D/device.conf" <<CONF
Resync_At = $AT
Resync_At_Random_Delay = 0
CONF
printf '<flat-profile><GPP_B>four</GPP_B></flat-profile>\n' >"$W/p.xml"
LOG=$T/run2.log
bg_start "$SPROV" device run "$D" --dns-server "$DNS" --time-scale 3600 2>"$LOG"
RUN=$BG_PID
wait_log "next resync in" 1 10
secs=$(grep -m1 -o 'next resync in [0-9]* s' "$LOG" | grep -o '[0-9][0-9]*')
# Three hours ahead, minus the current minute's seconds and the device time
# the run took (an hour of device time per real second); never the 72000 s
# of Resync_Periodic that the store holds.
[ "$secs" -gt 3600 ] && [ "$secs" -le $((3 * 3600)) ] ||
	fail "Resync_At $AT: next resync in $secs s, expected a little under 10800"
bg_kill "$RUN" TERM
finish
