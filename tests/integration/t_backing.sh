# The backing store:
#  1. the whole Linux tree onto ext4 with mem-limit = 128M and a backing
#     file: the extract succeeds by spilling the coldest pages, the limit
#     holds, every checksum matches after drop_caches and a remount,
#     e2fsck clean;
#  2. idle all, writeback idle: the file holds about the compressed bytes
#     written (du <= 1.10 x), memory falls to what is left, everything reads
#     back through the backing file, bd_stat and --json agree;
#  3. a backing file that fails on demand (fuseram with FUSERAM_FAULTS):
#     EIO and ENOSPC during writeback and during spill, EIO on read back:
#     nothing lost, the request fails alone, the daemon serves on;
#  4. a backing file on a tmpfs too small for it: what fits is written,
#     the rest stays in memory.
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
SOCK=$T/b.sock
MNT=$T/mnt
used_kb() { du -k "$1" | cut -f1; }

# 1. Spill.
conf "$T/b.conf" "size = 4G" "mem-limit = 128M" "backing-file = $T/backing" "backing-size = 2G"
start_daemon "$T/b" --config "$T/b.conf" --socket "$SOCK" || { fail "uzramd with a backing file"; finish; }
check "the backing file is created, mode 0600" test "$(stat -c %a "$T/backing")" = 600
ext4_on "$T/b" "$MNT" || { fail "losetup, mkfs and mount"; finish; }
check "the whole tree extracted through a 128 MiB limit" tar -xf "$TAR" -C "$MNT"
sync
settle "$SOCK"
log "mm_stat $(uzctl "$SOCK" mm_stat); bd_stat $(uzctl "$SOCK" bd_stat); spills $(stat_of "$SOCK" spills)"
check "mem_used_total never above 128 MiB (mem_used_max)" test "$(stat_of "$SOCK" mem_used_max)" -le $((128 << 20))
check "the limit was reached and pages spilled" test "$(stat_of "$SOCK" spills)" -gt 0
check "no write failed" test "$(stat_of "$SOCK" failed_writes)" = 0
tree_sum "$MNT" "$T/sums"
check "the tree equals the tar" tar -df "$TAR" -C "$MNT"
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean" "every checksum matches after drop_caches and remount"

# 2. Idle writeback, dense; with the file system unmounted, so that
# nothing else writes while the counters and the file are compared.
umount "$MNT"
settle "$SOCK"
wb0=$(stat_of "$SOCK" writeback_bytes)
out=$(uzctl "$SOCK" idle all)
check "idle all marks pages" grep -q "pages marked idle" <<<"$out"
check "idle_pages counted" test "$(stat_of "$SOCK" idle_pages)" -gt 0
out=$(uzctl "$SOCK" writeback idle)
log "writeback idle: $out"
check "writeback idle writes pages" grep -Eq "^[1-9][0-9]* pages written back" <<<"$out"
wb=$(stat_of "$SOCK" writeback_bytes)
du_b=$(( $(used_kb "$T/backing") * 1024 ))
log "backing file: du $du_b bytes for $wb compressed bytes written back ($wb0 by spills)"
check "dense: du of the backing file <= 1.10 x the compressed bytes written" test "$du_b" -le $((wb * 110 / 100))
check "backing_bytes agrees with du (within 1 %: du counts the file's extent blocks too)" \
	test "$(stat_of "$SOCK" backing_bytes)" -le $((du_b + du_b / 100)) -a "$(stat_of "$SOCK" backing_bytes)" -ge $((du_b - du_b / 100))
check "bd_count is backing_bytes in 4 KiB blocks" \
	test "$(( $(stat_of "$SOCK" bd_count) * 4096 ))" = "$(stat_of "$SOCK" backing_bytes)"
read -r bdc bdr bdw < <(uzctl "$SOCK" bd_stat)
check "bd_stat's three columns are --json's" test "$bdc $bdr $bdw" = "$(stat_of "$SOCK" bd_count) $(stat_of "$SOCK" bd_reads) $(stat_of "$SOCK" bd_writes)"
check "idle pages are written back: none left idle" test "$(stat_of "$SOCK" idle_pages)" = 0
check "memory fell to what is left (< 32 MiB)" test "$(stat_of "$SOCK" mem_used_total)" -lt $((32 << 20))
echo 3 >/proc/sys/vm/drop_caches
mount_dev "$LOOP" "$MNT"
r0=$(stat_of "$SOCK" writeback_reads)
check "every checksum matches, read back through the backing file" tree_same "$MNT" "$T/sums"
check "... which was read (writeback_reads grew)" test "$(stat_of "$SOCK" writeback_reads)" -gt "$r0"
rm -rf "${MNT:?}"/*
sync
fstrim "$MNT"
settle "$SOCK"
log "after deleting the tree and fstrim: du $(( $(used_kb "$T/backing") >> 10 )) MiB (was $((du_b >> 20)) MiB), backing_bytes $(stat_of "$SOCK" backing_bytes)"
# (what stays is file system metadata written back and not rewritten since)
check "deleting the tree frees most of the backing file (du below a quarter)" \
	test "$(( $(used_kb "$T/backing") * 1024 ))" -lt $((du_b / 4))
check "... and backing_bytes says so" test "$(stat_of "$SOCK" backing_bytes)" -lt $((du_b / 4))
umount "$MNT"
losetup -d "$LOOP"
stop_daemon "$DPID"

# 3. A backing file that fails on demand.
mkdir -p "$T/faults" "$T/fr"
touch "$T/fr/f"
FUSERAM_FAULTS=$T/faults "$TOOLS/fuseram" $((256 << 20)) 2 "$T/fr/f" >>"$T/fuseram.log" 2>&1 &
FPID=$!
PIDS+=("$FPID")
for _ in $(seq 50); do grep -q " $T/fr/f fuse" /proc/mounts && break; sleep 0.1; done
conf "$T/f.conf" "size = 256M" "backing-file = $T/fr/f"
start_daemon "$T/d" --config "$T/f.conf" --socket "$T/f.sock" || { fail "uzramd over a failing backing file"; finish; }
yes "uzram writes cold pages back $RANDOM" | head -c $((32 << 20)) >"$T/data"
head -c $((8 << 20)) /dev/urandom >>"$T/data"
dev_put "$T/data" "$T/d"
uzctl "$T/f.sock" idle all >/dev/null
touch "$T/faults/write-eio"
out=$(uzctl "$T/f.sock" writeback idle 2>&1)
log "writeback into EIO: $out"
check "writeback into EIO fails, with a clear error" grep -q "Input/output error" <<<"$out"
check "failed_writeback counts the pages left in memory" test "$(stat_of "$T/f.sock" failed_writeback)" -gt 0
check "nothing was written back" test "$(stat_of "$T/f.sock" writeback_pages)" = 0
check "the data reads back" dev_same "$T/d" "$T/data"
rm "$T/faults/write-eio"
touch "$T/faults/write-enospc"
uzctl "$T/f.sock" idle all >/dev/null # (reading cleared the marks)
out=$(uzctl "$T/f.sock" writeback idle 2>&1)
check "writeback into ENOSPC fails, with a clear error" grep -q "No space left on device" <<<"$out"
rm "$T/faults/write-enospc"
out=$(uzctl "$T/f.sock" writeback idle 2>&1)
check "once the backing file is well again, writeback works" grep -Eq "^[1-9][0-9]* pages written back" <<<"$out"
touch "$T/faults/read-eio"
check "a written-back page whose read fails: EIO to that request" \
	bash -c "! dd if='$T/d' of=/dev/null bs=4k count=1 skip=100 iflag=direct status=none 2>/dev/null"
check "... counted in failed_reads" test "$(stat_of "$T/f.sock" failed_reads)" -gt 0
printf 'fresh page' | dd of="$T/d" bs=4k seek=20000 oflag=direct conv=notrunc,sync status=none
check "... while pages in memory read fine" bash -c "dd if='$T/d' bs=4k skip=20000 count=1 iflag=direct status=none | grep -q 'fresh page'"
rm "$T/faults/read-eio"
check "the data reads back once the backing file reads again" \
	dev_same "$T/d" "$T/data"
# Spill into a failing backing file: the write fails (ENOSPC), nothing else.
uzctl "$T/f.sock" mem-limit 12M >/dev/null
touch "$T/faults/write-eio"
dd if=/dev/urandom of="$T/more" bs=1M count=24 status=none
check "past the limit, spill into a failing backing file: the write fails" \
	bash -c "! dd if='$T/more' of='$T/d' bs=1M seek=100 oflag=direct conv=notrunc status=none 2>/dev/null"
check "... with ENOSPC, counted" test "$(stat_of "$T/f.sock" failed_writes)" -gt 0
check "... mem_used_total within the limit" test "$(stat_of "$T/f.sock" mem_used_total)" -le $((12 << 20))
rm "$T/faults/write-eio"
check "the old data is intact" dev_same "$T/d" "$T/data"
check "with the backing file well again, the same write spills and succeeds" \
	dd if="$T/more" of="$T/d" bs=1M seek=100 oflag=direct conv=notrunc status=none
check "... and reads back" cmp <(dd if="$T/d" bs=1M skip=100 count=24 iflag=direct status=none) "$T/more"
check "the daemon never exited" kill -0 "$DPID"
stop_daemon "$DPID"
kill -TERM "$FPID"
wait "$FPID"

# 4. A backing file on a tmpfs too small for what is written back.
mkdir -p "$T/small"
mount -t tmpfs -o size=4M tmpfs "$T/small" && MOUNTS+=("$T/small")
conf "$T/s.conf" "size = 64M" "backing-file = $T/small/backing" "backing-size = 64M"
start_daemon "$T/s" --config "$T/s.conf" --socket "$T/s.sock" || { fail "uzramd over a small tmpfs"; finish; }
head -c $((16 << 20)) /dev/urandom >"$T/rnd"
dev_put "$T/rnd" "$T/s"
out=$(uzctl "$T/s.sock" writeback huge 2>&1)
log "writeback of 16 MiB into 4 MiB of tmpfs: $out"
check "what fits is written back" test "$(stat_of "$T/s.sock" writeback_pages)" -gt 0
check "the rest stays in memory (failed_writeback)" test "$(stat_of "$T/s.sock" failed_writeback)" -gt 0
check "all of it reads back" dev_same "$T/s" "$T/rnd"
check "the daemon serves on" kill -0 "$DPID"
stop_daemon "$DPID"
finish
