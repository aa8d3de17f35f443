# ext4 on uzram through a direct-I/O loop device: extract the Linux 6.1
# tree (all of it, or UZ_TEST_SUBTREE=fs for a part), checksum every file,
# e2fsck, remount, verify, delete, fstrim, and watch memory go back.
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
SUB=${UZ_TEST_SUBTREE:-}
SOCK=$T/disk.sock
MNT=$T/mnt

start_daemon "$T/disk" --size 4G --socket "$SOCK" || { fail "uzramd start"; finish; }
attach_loop "$T/disk" || { fail "losetup --direct-io=on"; finish; }
check "loop device uses direct I/O" test "$(cat /sys/block/"${LOOP#/dev/}"/loop/dio)" = 1
check "mkfs.ext4" mkfs.ext4 -q "$LOOP"
mount_dev "$LOOP" "$MNT" || { fail "mount -o discard"; finish; }

start=$(date +%s.%N)
check "extract linux-source-6.1${SUB:+/$SUB}" tar -xf "$TAR" -C "$MNT" ${SUB:+linux-source-6.1/$SUB}
sync
log "extract + sync: $(since "$start") s"
settle "$SOCK"
read -r orig compr used limit maxu same compacted huge huges < <(uzctl "$SOCK" mm_stat)
table=$(stat_of "$SOCK" table_bytes)
rss=$(( $(rss_kb "$DPID") * 1024 ))
log "mm_stat: $orig $compr $used $limit $maxu $same $compacted $huge $huges"
log "table_bytes $table, RSS $rss, ratio $(echo "scale=3; $compr / $orig" | bc)"
check "data is stored compressed (compr < orig / 2)" test "$compr" -lt $((orig / 2))
check "mem_used_total >= compr_data_size" test "$used" -ge "$compr"
# (Sanitized builds carry shadow memory and quarantines: no bound there.)
[ -z "${SANITIZE:-}" ] && check "RSS < mem_used_total + what is made ahead (table, reserve, buffers) + 32 MiB" \
	test "$rss" -lt $((used + $(made_ahead "$SOCK") + (32 << 20)))
if [ -z "$SUB" ]; then
	# Kernel zram (lz4) stores this tree in 490 MiB (shared/anchors.md).
	check "compr_data_size within 2 % of zram's 490 MiB" \
		test "$compr" -ge $((490 * 1048576 * 98 / 100)) -a "$compr" -le $((490 * 1048576 * 102 / 100))
fi
page_cache_ok() {
	# direct_io: no page cache for the FUSE file (at most a few pages).
	[ "$(awk '/^Cached:/ {print $2}' /proc/meminfo)" -lt $((cached0 + orig / 2048)) ]
}

tree_sum "$MNT" "$T/sums"
nfiles=$(wc -l <"$T/sums")
log "$nfiles files checksummed"
check "umount" umount "$MNT"
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn is clean" "every checksum matches after remount"

rm -rf "$MNT/linux-source-6.1"
sync
check "fstrim" fstrim "$MNT"
settle "$SOCK"
read -r orig2 compr2 used2 _ < <(uzctl "$SOCK" mm_stat)
log "after rm -rf and fstrim: $(uzctl "$SOCK" mm_stat); io_stat $(uzctl "$SOCK" io_stat)"
check "orig_data_size below 100 MB after rm + fstrim" test "$orig2" -lt 100000000
check "mem_used_total fell with the data" test "$used2" -lt "$used"
check "pages were freed by discard (notify_free)" test "$(stat_of "$SOCK" notify_free)" -gt 0
read -r fr fw inv nf < <(uzctl "$SOCK" io_stat)
check "no failed I/O (io_stat $fr $fw $inv $nf: discards counted)" test "$fr $fw $inv" = "0 0 0" -a "$nf" -gt 0
check "umount" umount "$MNT"
check "e2fsck -fn is clean after the deletes" fsck_clean "$LOOP"
check "losetup -d" losetup -d "$LOOP"
stop_daemon "$DPID"
check "uzramd exits 0 on SIGTERM" test $? -eq 0
finish
