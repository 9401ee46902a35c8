# make install: cmake --install with DESTDIR and a prefix puts every file in
# its place with its mode, never replaces an existing sprov.conf, and the
# sample sprov.conf (every key of src/server/config.c) passes
# `sprov serve --check-config` once its certificate and key exist.
. "$SPROV_SRCDIR/tests/lib/testlib.sh"
. "$SPROV_SRCDIR/tests/integration/pkg_lib.bash"

note "prefix /usr: every file and directory, with its mode, and nothing else"
install_root "$T/root"
cat >"$T/want" <<'LIST'
755 d etc
755 d etc/logrotate.d
644 f etc/logrotate.d/sprov
755 d etc/sprov
644 f etc/sprov/sprov.conf
755 d lib
755 d lib/systemd
755 d lib/systemd/system
644 f lib/systemd/system/sprov-device@.service
644 f lib/systemd/system/sprov-serve.service
755 d usr
755 d usr/bin
755 f usr/bin/sprov
755 d usr/share
755 d usr/share/bash-completion
755 d usr/share/bash-completion/completions
644 f usr/share/bash-completion/completions/sprov
755 d usr/share/man
755 d usr/share/man/man1
644 f usr/share/man/man1/sprov-admin.1
644 f usr/share/man/man1/sprov-ca.1
644 f usr/share/man/man1/sprov-db.1
644 f usr/share/man/man1/sprov-device.1
644 f usr/share/man/man1/sprov-fleet.1
644 f usr/share/man/man1/sprov-req.1
644 f usr/share/man/man1/sprov-rollout.1
644 f usr/share/man/man1/sprov.1
755 d usr/share/man/man5
644 f usr/share/man/man5/sprov.conf.5
755 d usr/share/man/man8
644 f usr/share/man/man8/sprov-serve.8
LIST
tree_modes "$T/root" >"$T/got"
diff -u "$T/want" "$T/got" || fail "installed tree differs from the list above"
cmp -s "$SPROV" "$T/root/usr/bin/sprov" || fail "usr/bin/sprov is not the built program"
cmp -s "$SPROV_SRCDIR/etc/sprov.conf" "$T/root/etc/sprov/sprov.conf" || fail "sprov.conf is not etc/sprov.conf"
cmp -s "$SPROV_SRCDIR/etc/logrotate/sprov" "$T/root/etc/logrotate.d/sprov" || fail "logrotate.d/sprov"
cmp -s "$SPROV_SRCDIR/etc/bash-completion/sprov" "$T/root/usr/share/bash-completion/completions/sprov" ||
	fail "completion is not etc/bash-completion/sprov"
for u in sprov-serve.service sprov-device@.service; do
	cmp -s "$SPROV_SRCDIR/systemd/$u" "$T/root/lib/systemd/system/$u" ||
		fail "$u changed on the way to prefix /usr"
done
expect_rc 0 "$T/root/usr/bin/sprov" --version
expect_out_contains "sprov "

note "an existing sprov.conf is kept; the other files are put back"
echo "# the operator's" >>"$T/root/etc/sprov/sprov.conf"
mine=$(sha256sum <"$T/root/etc/sprov/sprov.conf")
echo "damaged" >"$T/root/etc/logrotate.d/sprov"
install_root "$T/root"
grep -q "Kept: $T/root/etc/sprov/sprov.conf" "$T/.install.log" || fail "no 'Kept' line: $(cat "$T/.install.log")"
[ "$(sha256sum <"$T/root/etc/sprov/sprov.conf")" = "$mine" ] || fail "sprov.conf was replaced"
cmp -s "$SPROV_SRCDIR/etc/logrotate/sprov" "$T/root/etc/logrotate.d/sprov" || fail "logrotate not reinstalled"

note "another prefix keeps everything under it; the units name the binary and config there"
install_root "$T/opt" /opt/sprov
[ "$(cd "$T/opt" && ls)" = opt ] || fail "prefix /opt/sprov wrote outside it: $(cd "$T/opt" && ls)"
for f in bin/sprov etc/sprov/sprov.conf etc/logrotate.d/sprov lib/systemd/system/sprov-serve.service \
    share/man/man8/sprov-serve.8 share/bash-completion/completions/sprov; do
	[ -f "$T/opt/opt/sprov/$f" ] || fail "prefix /opt/sprov: no $f"
done
u="$T/opt/opt/sprov/lib/systemd/system/sprov-serve.service"
grep -qx 'ExecStart=/opt/sprov/bin/sprov serve --config /opt/sprov/etc/sprov/sprov.conf' "$u" ||
	fail "unit not rewritten for the prefix: $(grep ^Exec "$u")"
! grep -v '^#' "$u" | grep -Eq '(^|[ =])/(usr/bin|etc)/' ||
	fail "unit still names /usr/bin or /etc: $(grep -n 'usr/bin\|/etc/' "$u")"
grep -qx 'ExecStart=/opt/sprov/bin/sprov device run /var/lib/sprov/devices/%i --syslog' \
	"$T/opt/opt/sprov/lib/systemd/system/sprov-device@.service" || fail "device unit not rewritten"

note "the sample sprov.conf names every key src/server/config.c knows"
keys=$(grep -o '\(S\|I\|MS\)("[a-z-]*"\|{ "[a-z-]*", K_' "$SPROV_SRCDIR/src/server/config.c" |
	grep -o '"[a-z-]*"' | tr -d '"'
	grep -o 'strcmp(name, "[a-z-]*")' "$SPROV_SRCDIR/src/server/config.c" | grep -o '"[a-z-]*"' | tr -d '"')
n=0
for k in $keys; do
	grep -Eq "^(# )?$k = " "$T/root/etc/sprov/sprov.conf" || fail "sample config lacks key '$k'"
	n=$((n + 1))
done
[ $n -ge 29 ] || fail "found only $n keys in config.c: the key pattern no longer matches"

note "the sample passes --check-config once its files exist (made by ca init, req, ca sign, ca crl)"
mkdir -p "$T/pki/etc" "$T/pki/lib" "$T/pki/log"
cd "$T/pki"
expect_rc 0 "$SPROV" ca init ca
expect_rc 0 "$SPROV" req --cn prov.example.com --out etc/provserver.csr --key-out etc/privkey.pem
expect_rc 0 "$SPROV" ca sign ca etc/provserver.csr -o etc/provserver.crt
expect_rc 0 "$SPROV" ca crl ca --ca device -o etc/device-ca.crl
cp ca/device-ca.crt etc/
expect_rc 0 "$SPROV" db init --store "sqlite:$T/pki/lib/sprov.db"
# The same file with /etc/sprov, /var/lib/sprov and /var/log/sprov moved here.
sed -e "/^#/!{s#/etc/sprov/#$T/pki/etc/#; s#/var/lib/sprov/#$T/pki/lib/#; s#/var/log/sprov/#$T/pki/log/#}" \
	"$T/root/etc/sprov/sprov.conf" >sample.conf
[ "$(diff "$T/root/etc/sprov/sprov.conf" sample.conf | grep -c '^>')" -eq 6 ] ||
	fail "expected 6 paths moved (cert key client-ca crl store access-log): $(diff "$T/root/etc/sprov/sprov.conf" sample.conf)"
expect_rc 0 "$SPROV" serve --config sample.conf --check-config
expect_out_contains "configuration OK: listen 0.0.0.0:443, 2 path template(s), identity auto"
# Every commented default, uncommented (user aside: no such user here).
sed -E 's/^# ([a-z-]+ = )/\1/' sample.conf | grep -v '^user = ' >all.conf
[ "$(grep -cE '^[a-z-]+ = ' all.conf)" -ge 28 ] || fail "too few keys uncommented: $(grep -cE '^[a-z-]+ = ' all.conf)"
expect_rc 0 "$SPROV" serve --config all.conf --check-config
grep -q '^# user = sprov$' sample.conf || fail "sample lost its '# user = sprov' line"
note "... and is refused, naming the file, while the key is missing"
mv etc/privkey.pem etc/privkey.pem.away
expect_rc 1 "$SPROV" serve --config sample.conf --check-config
expect_err_contains "privkey.pem"
mv etc/privkey.pem.away etc/privkey.pem
cd "$T"

note "logrotate: the snippet rotates the access log, recreates it 0640 and runs postrotate"
lr="$T/root/etc/logrotate.d/sprov"
grep -qxF '		systemctl kill -s USR1 --kill-whom=main sprov-serve.service >/dev/null 2>&1 || true' "$lr" ||
	fail "postrotate does not send SIGUSR1 to sprov-serve: $(cat "$lr")"
grep -q 'SIGUSR1' "$lr" || fail "the snippet no longer says what SIGUSR1 does"
! grep -q 'XXX' "$lr" || fail "the snippet still has an XXX note"
mkdir -p "$T/lr/log" && echo "a line" >"$T/lr/log/access.log"
# Here: this directory, root (no user sprov), and a marker instead of systemctl.
sed -e "/^#/!{s#/var/log/sprov/#$T/lr/log/#; s/ sprov sprov/ root root/; s#systemctl kill .*#echo rotated >>$T/lr/post#}" \
	"$lr" >"$T/lr/conf"
[ "$(diff "$lr" "$T/lr/conf" | grep -c '^>')" -eq 4 ] || fail "logrotate test rewrite: $(diff "$lr" "$T/lr/conf")"
expect_rc 0 logrotate -f -s "$T/lr/state" "$T/lr/conf"
[ "$(cat "$T/lr/log/access.log.1")" = "a line" ] || fail "access.log not rotated: $(ls -l "$T/lr/log")"
[ "$(stat -c %a "$T/lr/log/access.log")" = 640 ] && [ ! -s "$T/lr/log/access.log" ] ||
	fail "new access.log: $(ls -l "$T/lr/log")"
[ "$(cat "$T/lr/post")" = rotated ] || fail "postrotate did not run once"

note "bash completion: the options of every command are those it accepts (--help and its gaps)"
(
	# Stand-ins for bash-completion's helpers, enough to drive _sprov.
	_init_completion() {
		words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
		cur=${words[cword]}; prev=${words[cword - 1]}
	}
	_filedir() { COMPREPLY=(FILES); }
	complete() { :; }
	. "$T/root/usr/share/bash-completion/completions/sprov"
	comp() {
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		_sprov
		printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort | tr '\n' ' '
	}
	for c in "${PKG_HELP_CMDS[@]}"; do
		want=$(real_opts $c | tr '\n' ' ')
		# shellcheck disable=SC2086
		got=$(_sprov_opts "$c" | tr ' \t' '\n\n' | grep . | LC_ALL=C sort -u | tr '\n' ' ')
		# The completion adds --help everywhere; help texts name it only sometimes.
		got=${got/--help /}; want=${want/--help /}
		[ "$got" = "$want" ] || fail "completion of '$c': '$got', --help names '$want'"
		# shellcheck disable=SC2086
		got=$(comp sprov $c --)
		[ "${got/--help /}" = "$want" ] || fail "completing 'sprov $c --': '$got'"
	done
	[ "$(comp sprov d)" = "db device " ] || fail "sprov d<TAB>: $(comp sprov d)"
	[ "$(comp sprov db devices "")" = "--help add disable enable export import list rm show " ] ||
		fail "sprov db devices <TAB>: $(comp sprov db devices "")"
	[ "$(comp sprov ca issue ca --key-type "")" = "ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096 " ] ||
		fail "--key-type <TAB>: $(comp sprov ca issue ca --key-type "")"
	[ "$(comp sprov serve --config "")" = "FILES " ] || fail "--config <TAB>: $(comp sprov serve --config "")"
) || exit 1
echo "pkg_install: OK"
