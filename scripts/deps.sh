#!/bin/sh
# Install every Debian package sprov needs to build, test, run the demo and
# the benchmarks. Idempotent: does nothing when all are present. Only apt-get.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libssl-dev openssl libevent-dev libcurl4-openssl-dev curl libc-ares-dev
libexpat1-dev libsqlite3-dev sqlite3 libpq-dev postgresql libinih-dev
libcmocka-dev zlib1g-dev libgnutls28-dev libsystemd-dev libseccomp-dev gnutls-bin dnsmasq-base nginx-light
python3 python3-prometheus-client python3-websocket chromium fonts-dejavu-core procps psmisc iproute2 testssl.sh
debhelper dpkg-dev fakeroot lintian logrotate mandoc systemd
libp11-dev libp11-kit-dev p11-kit-modules softhsm2 haproxy"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
