# SoftHSM2 for tests of PKCS#11 keys.  Source after testlib.sh:
#   . "$SPROV_SRCDIR/tests/lib/softhsm.sh"
# Gives: $MODULE (SoftHSM2's PKCS#11 module), SOFTHSM2_CONF pointing at a
# config whose token directory is $T/tokens (gone with $T), and
# softhsm_token LABEL PIN: a fresh token.
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -r "$MODULE" ] || fail "SoftHSM2 is not installed (scripts/deps.sh installs softhsm2)"
export SOFTHSM2_CONF="$T/softhsm2.conf"
mkdir "$T/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T/tokens" >"$SOFTHSM2_CONF"
softhsm_token() {
	softhsm2-util --init-token --free --label "$1" --pin "$2" --so-pin 13579135 >/dev/null
}
