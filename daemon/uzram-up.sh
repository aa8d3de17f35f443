#!/usr/bin/env bash
# Starts a uzram device with the shipped configuration, puts ext4 on it
# through a direct-I/O loop device, mounts it, and shows uzramctl's table.
# Usage: daemon/uzram-up.sh [NAME] [MOUNTPOINT]   (run by `make run`)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-disk0}
mnt=${2:-/mnt/uzram-$name}
file=/run/uzram/$name
sock=/run/uzram/$name.sock

if [ -S "$sock" ] && "$top/uzramctl" --socket "$sock" mm_stat >/dev/null 2>&1; then
	echo "uzram-up: $name is already running (stop it with: make stop NAME=$name)" >&2
	exit 1
fi
mkdir -p /run/uzram "$mnt"
"$top/uzramd" --config "$top/conf/uzram.conf" "$file"
loop=$(losetup --direct-io=on -f --show "$file")
mkfs.ext4 -q -L "uzram-$name" "$loop"
mount -o discard "$loop" "$mnt"
echo "uzram: $file (ext4 on $loop) mounted at $mnt"
echo
"$top/uzramctl" --socket "$sock"
echo
echo "Statistics: $top/uzramctl [mm_stat|io_stat|--json] --socket $sock"
echo "Stop it:    make stop NAME=$name   (umount, detach $loop, stop uzramd; the data is gone, as with zram)"
