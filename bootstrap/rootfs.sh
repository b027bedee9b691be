#!/usr/bin/env bash
# Makes a minimal Debian root file system (debootstrap --variant=minbase: no libcurl, no OpenSSL,
# no Lua, no cJSON) in which the packaging tests run a function zip, to prove that it needs
# nothing from the build machine but glibc. Run as root.
#
#   bootstrap/rootfs.sh x86_64|arm64 DIR
#
# arm64: only debootstrap's first stage (the packages unpacked, not configured, which needs no
# arm64 code to run) plus qemu-aarch64-static, which runs the arm64 bootstrap inside the chroot.
# A finished root file system is kept: a second call returns at once.
set -euo pipefail

arch=${1:?usage: rootfs.sh x86_64|arm64 DIR}
dir=${2:?usage: rootfs.sh x86_64|arm64 DIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
case "$arch" in x86_64) debarch=amd64 ;; arm64) debarch=arm64 ;;
*) echo "rootfs.sh: unknown architecture '$arch' (x86_64 or arm64)" >&2; exit 2 ;;
esac
[ -f "$dir/.complete" ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "rootfs.sh: debootstrap and chroot need root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir"
log=$dir.log
host=$(uname -m | sed 's/aarch64/arm64/')
if [ "$arch" = "$host" ]; then
    debootstrap --variant=minbase --arch="$debarch" bookworm "$dir" "$mirror" >"$log" 2>&1 ||
        { echo "rootfs.sh: debootstrap failed; see $log" >&2; exit 1; }
else
    command -v qemu-aarch64-static >/dev/null ||
        { echo "rootfs.sh: qemu-aarch64-static not found (apt-get install qemu-user-static)" >&2; exit 1; }
    debootstrap --foreign --variant=minbase --arch="$debarch" bookworm "$dir" "$mirror" >"$log" 2>&1 ||
        { echo "rootfs.sh: debootstrap (first stage) failed; see $log" >&2; exit 1; }
    install -m 0755 "$(command -v qemu-aarch64-static)" "$dir/usr/bin/qemu-aarch64-static"
fi
rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/cache/apt/archives/partial"
touch "$dir/.complete"
