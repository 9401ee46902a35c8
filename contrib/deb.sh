#!/bin/sh
# Build the Debian package from a copy of the source tree, so that nothing
# lands next to the checkout (dpkg-buildpackage writes into ..).
#   contrib/deb.sh OUTDIR [PREBUILT_CMAKE_BUILDDIR]
# leaves OUTDIR/sprov_<version>_<arch>.deb (and the .buildinfo/.changes).
# With PREBUILT, the package takes that build's program instead of
# compiling again (debian/rules, SPROV_PREBUILT).
set -eu

[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [PREBUILT_BUILDDIR]" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
prebuilt=""
[ $# -ge 2 ] && prebuilt=$(cd "$2" && pwd)

rm -rf "$out/src"
mkdir -p "$out/src/sprov"
# The tracked and new files, without builds or git metadata.
(cd "$src" && tar -cf - --exclude=./build --exclude=./.git --exclude='./obj-*' \
	--exclude='./debian/sprov' --exclude='./debian/.debhelper' .) |
	(cd "$out/src/sprov" && tar -xf -)
cd "$out/src/sprov"
SPROV_PREBUILT="$prebuilt" \
DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2} ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -b -us -uc
cd "$out"
rm -rf "$out/src/sprov"
mv -f src/*.deb src/*.buildinfo src/*.changes .
rmdir src
ls "$out"/sprov_*.deb
