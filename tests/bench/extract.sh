#!/usr/bin/env bash
# make bench: the Linux 6.1 tree extracted onto ext4 (loop --direct-io=on,
# mount -o discard) on a 4 GiB uzram file and, side by side in the same
# run, on kernel zram (lz4) when /sys/block/zram0 is free (disksize 0; it
# is reset afterwards).  Prints extract+sync time and memory per system.
# Usage: tests/bench/extract.sh [--uzram-only]
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
need_root
TAR=$(linux_tar) || exit 1
only_uzram=0
[ "${1:-}" = "--uzram-only" ] && only_uzram=1

mib() { echo "scale=1; $1 / 1048576" | bc; }
row() { printf '| %-16s | %10s s | %9s | %9s | %9s | %7s %% | %9s |\n' "$@"; }
results=()

run_on() { # DEVICE NAME STATS_CMD
	local dev=$1 name=$2 start t
	mkfs.ext4 -q "$dev"
	mount_dev "$dev" "$T/mnt-$name" || return 1
	sync; echo 3 >/proc/sys/vm/drop_caches
	start=$(date +%s.%N)
	tar -xf "$TAR" -C "$T/mnt-$name"
	sync
	t=$(echo "$(date +%s.%N) - $start" | bc)
	printf '%.2f' "$t"
}

echo "bench: extracting $(basename "$TAR") ($(($(stat -c %s "$TAR") >> 20)) MiB) onto each system" >&2
start_daemon "$T/disk" --size 4G --socket "$T/disk.sock" || exit 1
attach_loop "$T/disk"
echo "bench: uzram ..." >&2
t=$(run_on "$LOOP" uzram) || exit 1
settle "$T/disk.sock"
read -r orig compr used _ < <("$UZRAMCTL" --socket "$T/disk.sock" mm_stat)
rss=$(( $(rss_kb "$DPID") * 1024 ))
table=$(stat_of "$T/disk.sock" table_bytes)
results+=("$(row uzram "$t" "$(mib "$orig")" "$(mib "$compr")" "$(mib "$used")" \
	"$(echo "scale=2; 100 * ($used - $compr) / $compr" | bc)" "$(mib "$rss")")")
umount "$T/mnt-uzram"; losetup -d "$LOOP"; stop_daemon "$DPID"

if [ $only_uzram = 0 ] && zram_up 4G; then
	echo "bench: kernel zram0 (lz4) ..." >&2
	t=$(run_on /dev/zram0 zram) || exit 1
	sleep 2
	read -r orig compr used _ </sys/block/zram0/mm_stat
	results+=("$(row "kernel zram" "$t" "$(mib "$orig")" "$(mib "$compr")" "$(mib "$used")" \
		"$(echo "scale=2; 100 * ($used - $compr) / $compr" | bc)" "-")")
	umount "$T/mnt-zram"
	zram_down
else
	echo "bench: kernel zram skipped (absent, busy, or --uzram-only)" >&2
fi

echo
echo "| system           | extract+sync | orig MiB  | compr MiB | used MiB  | overhead  | RSS MiB   |"
echo "|------------------|--------------|-----------|-----------|-----------|-----------|-----------|"
printf '%s\n' "${results[@]}"
echo
echo "used = mem_used_total; overhead = (used - compr) / compr; uzram's table_bytes: $(mib "$table") MiB"
