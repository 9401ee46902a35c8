# make deb: the package builds with debhelper (reusing this build's program),
# lintian reports no error and no warning that debian/sprov.lintian-overrides
# does not justify, and the .deb holds the right files with the right modes,
# conffiles, disabled units, and maintainer scripts that create the user
# sprov and its 0750 directories.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
for t in dpkg-buildpackage dh lintian systemd-sysusers systemd-tmpfiles; do
	command -v $t >/dev/null || fail "$t is missing: scripts/deps.sh installs it"
done

note "build the .deb (contrib/deb.sh, program from $SPROV_BUILDDIR)"
DEB_BUILD_OPTIONS=noddebs JOBS=2 sh "$SPROV_SRCDIR/contrib/deb.sh" "$T/deb" "$SPROV_BUILDDIR" \
	>"$T/build.log" 2>&1 || fail "package build failed: $(tail -30 "$T/build.log")"
debs=("$T"/deb/sprov_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "expected one sprov_*.deb: $(ls "$T/deb")"
deb=${debs[0]}
[ ! -e "$SPROV_SRCDIR/debian/sprov" ] && [ ! -e "$SPROV_SRCDIR/../sprov_0.1.0_amd64.deb" ] ||
	fail "the build wrote into the source tree or beside it"

note "lintian: no E:, no W: (overridden tags carry a comment in debian/sprov.lintian-overrides)"
lintian --pedantic --display-info "$deb" >"$T/lintian.txt" 2>&1 || true
grep -v '^running with root privileges' "$T/lintian.txt" | sed 's/^/   lintian: /' || true
! grep -q '^[EW]: ' "$T/lintian.txt" || fail "lintian: $(grep '^[EW]: ' "$T/lintian.txt")"
grep -q 'internal error\|Cannot\|^Usage' "$T/lintian.txt" && fail "lintian did not run: $(cat "$T/lintian.txt")"
if [ -f "$SPROV_SRCDIR/debian/sprov.lintian-overrides" ]; then
	# Each override has a comment line just above it.
	awk '!/^#/ && NF && prev !~ /^#/ { print; bad = 1 } { prev = $0 } END { exit bad }' \
		"$SPROV_SRCDIR/debian/sprov.lintian-overrides" || fail "an override without a comment"
fi
note "the lintian gate can fail: a package with a known defect is flagged"
mkdir -p "$T/bad" && dpkg-deb -R "$deb" "$T/bad/pkg"
chmod 0777 "$T/bad/pkg/usr/bin/sprov"
dpkg-deb -b "$T/bad/pkg" "$T/bad/bad.deb" >/dev/null 2>&1 || fail "could not build the bad package"
lintian --tags non-standard-executable-perm "$T/bad/bad.deb" >"$T/lintian-bad.txt" 2>&1 || true
grep -q '^[EW]: sprov: .*usr/bin/sprov' "$T/lintian-bad.txt" || fail "lintian missed a 0777 binary: $(cat "$T/lintian-bad.txt")"

note "contents and modes (dpkg-deb -x)"
dpkg-deb -x "$deb" "$T/root"
cat >"$T/want" <<'LIST'
644 f etc/logrotate.d/sprov
644 f etc/sprov/sprov.conf
644 f lib/systemd/system/sprov-device@.service
644 f lib/systemd/system/sprov-serve.service
755 f usr/bin/sprov
644 f usr/lib/sysusers.d/sprov.conf
644 f usr/lib/tmpfiles.d/sprov.conf
644 f usr/share/bash-completion/completions/sprov
644 f usr/share/doc/sprov/changelog.gz
644 f usr/share/doc/sprov/copyright
644 f usr/share/man/man1/sprov-admin.1.gz
644 f usr/share/man/man1/sprov-ca.1.gz
644 f usr/share/man/man1/sprov-db.1.gz
644 f usr/share/man/man1/sprov-device.1.gz
644 f usr/share/man/man1/sprov-fleet.1.gz
644 f usr/share/man/man1/sprov-req.1.gz
644 f usr/share/man/man1/sprov-rollout.1.gz
644 f usr/share/man/man1/sprov.1.gz
644 f usr/share/man/man5/sprov.conf.5.gz
644 f usr/share/man/man8/sprov-serve.8.gz
LIST
if [ -f "$SPROV_SRCDIR/debian/sprov.lintian-overrides" ]; then
	echo "644 f usr/share/lintian/overrides/sprov" >>"$T/want"
	LC_ALL=C sort -k3 -o "$T/want" "$T/want"
fi
(cd "$T/root" && find . -mindepth 1 -type f -printf '%m %y %P\n' | LC_ALL=C sort -k3) >"$T/got"
diff -u "$T/want" "$T/got" || fail "package files differ from the list above"
bad=$(cd "$T/root" && find . -mindepth 1 -type d ! -perm 755)
[ -z "$bad" ] || fail "directories not 0755: $bad"
dpkg-deb -c "$deb" | awk '$2 != "root/root" { print; bad = 1 } END { exit bad }' || fail "files not owned by root"
"$T/root/usr/bin/sprov" --version | grep -q '^sprov ' || fail "the packaged program does not run"
cmp -s "$SPROV_SRCDIR/etc/sprov.conf" "$T/root/etc/sprov/sprov.conf" || fail "sprov.conf differs from etc/sprov.conf"

note "control: conffiles, dependencies"
dpkg-deb -e "$deb" "$T/ctl"
[ "$(cat "$T/ctl/conffiles")" = "$(printf '/etc/logrotate.d/sprov\n/etc/sprov/sprov.conf')" ] ||
	fail "conffiles: $(cat "$T/ctl/conffiles")"
dep=$(dpkg-deb -f "$deb" Depends)
for d in libssl3 libevent libcurl4 libgnutls30 libsqlite3-0 "systemd | systemd-standalone-sysusers"; do
	case "$dep" in *"$d"*) ;; *) fail "Depends lacks $d: $dep" ;; esac
done

note "maintainer scripts: the user and directories are made, the units neither enabled nor started"
grep -q 'systemd-sysusers .*sprov.conf' "$T/ctl/postinst" || fail "postinst does not run systemd-sysusers"
grep -q 'systemd-tmpfiles .*--create sprov.conf' "$T/ctl/postinst" || fail "postinst does not run systemd-tmpfiles"
s=$(grep -n 'systemd-sysusers' "$T/ctl/postinst" | cut -d: -f1)
t=$(grep -n 'systemd-tmpfiles .*--create' "$T/ctl/postinst" | cut -d: -f1)
[ "$s" -lt "$t" ] || fail "postinst makes the directories before the user"
! grep -Eq 'deb-systemd-invoke (start|restart)|systemctl (start|restart)' "$T/ctl/postinst" ||
	fail "postinst starts a unit: $(grep -E 'invoke|systemctl' "$T/ctl/postinst")"
grep -q "was-enabled 'sprov-serve.service'" "$T/ctl/postinst" || fail "postinst lacks the disabled-unit handling"

note "the user and the directories, made in a scratch root as postinst makes them"
sr="$T/sysroot"
mkdir -p "$sr/etc" "$sr/usr/lib" && cp -r "$T/root/usr/lib/sysusers.d" "$T/root/usr/lib/tmpfiles.d" "$sr/usr/lib/"
systemd-sysusers --root="$sr" sprov.conf || fail "systemd-sysusers refused the package's file"
pw=$(grep '^sprov:' "$sr/etc/passwd") || fail "no user sprov: $(cat "$sr/etc/passwd")"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] || fail "sprov is not a system user: $pw"
[ "$(echo "$pw" | cut -d: -f6-7)" = "/var/lib/sprov:/usr/sbin/nologin" ] || fail "home/shell: $pw"
grep -q '^sprov:' "$sr/etc/group" || fail "no group sprov"
systemd-tmpfiles --root="$sr" --create sprov.conf || fail "systemd-tmpfiles refused the package's file"
gid=$(grep '^sprov:' "$sr/etc/group" | cut -d: -f3)
for d in var/lib/sprov var/lib/sprov/devices var/log/sprov; do
	[ "$(stat -c '%a %u %g' "$sr/$d")" = "750 $uid $gid" ] ||
		fail "$d: $(stat -c '%a %u %g' "$sr/$d"), want 750 $uid $gid"
done
echo "pkg_deb: OK"
