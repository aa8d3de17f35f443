#!/usr/bin/env bash
# make bench: the Linux 6.1 tree extracted onto ext4 (loop --direct-io=on,
# mount -o discard) on a 4 GiB uzram file and, side by side in the same
# run, on kernel zram (lz4) when /sys/block/zram0 is free (disksize 0; it
# is reset afterwards).  Prints extract+sync time and memory per system.
# Then, on uzram: `uzramctl idle all; uzramctl recompress idle` (zstd),
# its memory beside zram's, the time it took, and the tree checked after
# drop_caches and a remount (tar -d compares every file's content) and
# e2fsck; once with dictionary = off, once more on a fresh device with a
# dictionary trained on the tree (`uzramctl train`) before recompressing,
# and once more with dictionary-lz4 = yes: the daemon trains by itself
# during the extract (once dictionary-sample pages are stored) and new
# writes use LZ4 against it while it pays (the extract row "dict LZ4"),
# then the same recompression.
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
	t=$(since "$start")
	printf '%.2f' "$t"
}

echo "bench: extracting $(basename "$TAR") ($(($(stat -c %s "$TAR") >> 20)) MiB) onto each system" >&2
# uzram_run DICTIONARY LABEL: a fresh device with dictionary = off or auto
# (auto: `uzramctl train` on the whole tree before recompressing, so that
# the dictionary learns from all of it, not from what the automatic
# training saw midway); the tree extracted (the first run's figures are
# the "uzram" row), then idle all + recompress idle (a row LABEL), then
# checked after drop_caches and a remount.  Sets used_rc, recomp, checked.
uzram_run() {
	local dict=$1 label=$2 t orig compr used rss train="" lz4=no
	[ "$dict" = lz4 ] && dict=auto lz4=yes
	conf "$T/disk.conf" "size = 4G" "dictionary = $dict" "dictionary-lz4 = $lz4"
	start_daemon "$T/disk" --config "$T/disk.conf" --socket "$T/disk.sock" || return 1
	attach_loop "$T/disk"
	echo "bench: uzram (dictionary = $dict) ..." >&2
	t=$(run_on "$LOOP" uzram) || return 1
	settle "$T/disk.sock"
	read -r orig compr used _ < <(uzctl "$T/disk.sock" mm_stat)
	rss=$(( $(rss_kb "$DPID") * 1024 ))
	table=$(stat_of "$T/disk.sock" table_bytes)
	[ "$dict" = off ] && results+=("$(row uzram "$t" "$(mib "$orig")" "$(mib "$compr")" "$(mib "$used")" \
		"$(echo "scale=2; 100 * ($used - $compr) / $compr" | bc)" "$(mib "$rss")")") &&
		extract_plain=$t compr_plain=$compr
	if [ "$lz4" = yes ]; then
		results+=("$(row "uzram, dict LZ4" "$t" "$(mib "$orig")" "$(mib "$compr")" "$(mib "$used")" \
			"$(echo "scale=2; 100 * ($used - $compr) / $compr" | bc)" "$(mib "$rss")")")
		extract_lz4=$t compr_lz4=$compr
		lz4_writes="$(stat_of "$T/disk.sock" dict_lz4_writes) of the writes used LZ4 against the dictionary"
		lz4_writes+=" ($(stat_of "$T/disk.sock" dict_lz4_probes) probes; paying at the end: $(stat_of "$T/disk.sock" dict_lz4_paying))"
	fi
	if [ "$dict" = auto ] && [ "$lz4" = no ]; then
		echo "bench: uzram: train ..." >&2
		train=$(uzctl "$T/disk.sock" train) || return 1
	fi
	echo "bench: uzram: idle all; recompress idle ..." >&2
	uzctl "$T/disk.sock" idle all >/dev/null
	recomp=$(uzctl "$T/disk.sock" recompress idle) || return 1
	settle "$T/disk.sock"
	read -r orig compr used_rc _ < <(uzctl "$T/disk.sock" mm_stat)
	rss=$(( $(rss_kb "$DPID") * 1024 ))
	results+=("$(row "$label" "-" "$(mib "$orig")" "$(mib "$compr")" "$(mib "$used_rc")" \
		"$(echo "scale=2; 100 * ($used_rc - $compr) / $compr" | bc)" "$(mib "$rss")")")
	umount "$T/mnt-uzram"
	echo 3 >/proc/sys/vm/drop_caches
	local fsck_ok same
	if e2fsck -fn "$LOOP" >/dev/null 2>&1; then fsck_ok="e2fsck clean"; else fsck_ok="e2fsck FAILED"; fi
	mount_dev "$LOOP" "$T/mnt-uzram"
	if tar -df "$TAR" -C "$T/mnt-uzram" >/dev/null 2>&1; then same="every file matches the tar"; else same="files DIFFER from the tar"; fi
	umount "$T/mnt-uzram"; losetup -d "$LOOP"; stop_daemon "$DPID"
	checked="${train:+train: $train; }recompress idle: $recomp; then, after drop_caches and a remount: $same, $fsck_ok"
}
uzram_run off "uzram, zstd idle" || exit 1
used_plain=$used_rc checked_plain=$checked
uzram_run auto "+ dictionary" || exit 1
used_dict=$used_rc checked_dict=$checked
uzram_run lz4 "+ dict LZ4, zstd idle" || exit 1
used_lz4=$used_rc checked_lz4=$checked

if [ $only_uzram = 0 ] && zram_up 4G; then
	echo "bench: kernel zram0 (lz4) ..." >&2
	t=$(run_on /dev/zram0 zram) || exit 1
	sleep 2
	read -r orig compr used _ </sys/block/zram0/mm_stat
	zram_used=$used zram_compr=$compr
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
echo "dictionary = off: $checked_plain"
echo "dictionary = auto: $checked_dict"
echo "dictionary-lz4 = yes: $checked_lz4"
echo "dictionary-lz4 = yes: $lz4_writes; extract+sync time against plain LZ4's:" \
	"$(echo "scale=3; $extract_lz4 / $extract_plain" | bc), compr_data_size $(echo "scale=3; $compr_lz4 / $compr_plain" | bc)"
if [ -n "${zram_used:-}" ]; then
	echo "mem_used_total after recompress idle / kernel zram (lz4): $(echo "scale=3; $used_plain / $zram_used" | bc)" \
		"without a dictionary, $(echo "scale=3; $used_dict / $zram_used" | bc) with one," \
		"$(echo "scale=3; $used_lz4 / $zram_used" | bc) with dictionary-lz4"
	echo "compr_data_size after the extract / kernel zram's: $(echo "scale=3; $compr_plain / $zram_compr" | bc) plain LZ4," \
		"$(echo "scale=3; $compr_lz4 / $zram_compr" | bc) with dictionary-lz4"
fi
