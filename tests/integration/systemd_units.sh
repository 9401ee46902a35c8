# The systemd units: `systemd-analyze verify` passes without a word (binary
# and man pages resolvable: installed into a scratch root, ExecStart pointed
# at it), the settings the project asks for are there, and the exposure
# score of `systemd-analyze security` is printed (and held under a ceiling).
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/pkg_lib.bash"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (package systemd, scripts/deps.sh)"
CEILING=2.0

install_root "$T/root"
mkdir "$T/units"
for u in sprov-serve.service sprov-device@.service; do
	sed "s#/usr/bin/sprov#$T/root/usr/bin/sprov#g" "$T/root/lib/systemd/system/$u" >"$T/units/$u"
done
export MANPATH="$T/root/usr/share/man"

# verify FILE...: exit 0 and no output at all (unknown keys are only warnings).
verify() {
	run_capture systemd-analyze verify "$@"
	_TESTS_RUN=$((_TESTS_RUN + 1))
}

note "systemd-analyze verify: both units, the template as instance 000e08aabbcc"
verify "$T/units/sprov-serve.service" "$T/units/sprov-device@000e08aabbcc.service"
[ "$RC" = 0 ] && [ -z "$OUT$ERR" ] || fail "verify: rc $RC: $OUT $ERR"

note "verify can fail: a misspelt key, a missing binary, a missing man page"
sed 's/^NotifyAccess=/NotifyAcess=/' "$T/units/sprov-serve.service" >"$T/units/bad1.service"
verify "$T/units/bad1.service"
case "$ERR" in *"Unknown key 'NotifyAcess'"*) ;; *) fail "misspelt key not reported: $ERR" ;; esac
sed "s#^ExecStart=.*#ExecStart=$T/nonexistent serve#" "$T/units/sprov-serve.service" >"$T/units/bad2.service"
verify "$T/units/bad2.service"
[ "$RC" != 0 ] || fail "a missing binary passed verify"
MANPATH="$T/nowhere" verify "$T/units/sprov-serve.service"
[ "$RC" != 0 ] && [[ $ERR == *"sprov-serve(8)"* ]] || fail "a missing man page passed verify: $RC $ERR"

note "the settings asked for"
s="$T/root/lib/systemd/system/sprov-serve.service"
for l in Type=notify NotifyAccess=all KillMode=mixed WatchdogSec=30 \
    'ExecStart=/usr/bin/sprov serve --config /etc/sprov/sprov.conf' \
    'ExecReload=/bin/kill -HUP $MAINPID' User=sprov Group=sprov \
    StateDirectory=sprov LogsDirectory=sprov ConfigurationDirectory=sprov \
    NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes \
    CapabilityBoundingSet=CAP_NET_BIND_SERVICE AmbientCapabilities=CAP_NET_BIND_SERVICE \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
    SystemCallArchitectures=native MemoryDenyWriteExecute=yes LockPersonality=yes \
    RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
    ProtectControlGroups=yes ProtectClock=yes ProtectHostname=yes PrivateDevices=yes \
    UMask=0027 WantedBy=multi-user.target; do
	grep -qxF "$l" "$s" || fail "sprov-serve.service lacks '$l'"
done
d="$T/root/lib/systemd/system/sprov-device@.service"
for l in 'ExecStart=/usr/bin/sprov device run /var/lib/sprov/devices/%i --syslog' User=sprov \
    'StateDirectory=sprov/devices/%i' NoNewPrivileges=yes ProtectSystem=strict CapabilityBoundingSet=; do
	grep -qxF "$l" "$d" || fail "sprov-device@.service lacks '$l'"
done
grep -q 'sd_notify' "$s" || fail "the unit no longer explains what the server tells sd_notify"
! grep -q 'XXX' "$s" || fail "the unit still has an XXX note: $(grep XXX "$s")"

note "systemd-analyze security: the exposure score"
scored=0
for u in sprov-serve.service sprov-device@000e08aabbcc.service; do
	if systemd-analyze security --offline=true "$T/units/$u" >"$T/sec.txt" 2>&1; then :; fi
	line=$(grep 'Overall exposure level' "$T/sec.txt" || true)
	if [ -z "$line" ]; then
		echo "-- systemd-analyze security could not score $u here (needs systemd >= 252 --offline" \
			"or a running systemd): $(tail -2 "$T/sec.txt")"
		continue
	fi
	echo "-- $line"
	score=$(echo "$line" | grep -o ': [0-9.]*' | tr -d ': ')
	awk -v s="$score" -v c="$CEILING" 'BEGIN { exit !(s <= c) }' ||
		fail "$u exposure $score is above $CEILING: $(grep '✗' "$T/sec.txt")"
	scored=$((scored + 1))
done
if [ -d /run/systemd/system ]; then
	[ $scored = 2 ] || fail "systemd is running but the units were not scored"
fi
echo "systemd_units: OK"
