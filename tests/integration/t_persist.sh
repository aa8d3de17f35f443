# Persistence (persist = PATH):
#  1. the tree's fs, kernel and include onto ext4 over uzram; umount,
#     detach, SIGTERM: a snapshot is written; a new uzramd restores it
#     before serving: e2fsck clean, every checksum matches; --json tells;
#  2. kill -9 in the middle of writing a snapshot: the previous one is
#     intact and restores;
#  3. a flipped byte, a truncated file, another device size: refused with
#     a message naming the file and the fault, nothing served;
#     persist-mismatch = discard starts empty and says so;
#  4. with a backing file: written-back pages come back, and go back;
#  5. a snapshot into a full file system: exit 1, the previous one kept.
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
TOPDIR=$(tar -tf "$TAR" | head -n1 | cut -d/ -f1)
SOCK=$T/p.sock
MNT=$T/mnt
SNAP=$T/state/snap
mkdir -p "$T/state"

# 1. Stop, start: the file system is back.
conf "$T/p.conf" "size = 2G" "persist = $SNAP"
start_daemon "$T/p" --config "$T/p.conf" --socket "$SOCK" || { fail "uzramd with persist"; finish; }
check "no snapshot yet: starts empty, says so" grep -q "persist: no snapshot at $SNAP yet: starting empty" "$T/uzramd.log"
ext4_on "$T/p" "$MNT" || { fail "losetup, mkfs and mount"; finish; }
check "fs, kernel and include extracted" tar -xf "$TAR" -C "$MNT" "$TOPDIR/fs" "$TOPDIR/kernel" "$TOPDIR/include"
tree_sum "$MNT" "$T/sums"
umount "$MNT"
losetup -d "$LOOP"
orig=$(stat_of "$SOCK" orig_data_size)
check "SIGTERM exits 0 after writing the snapshot" stop_daemon "$DPID"
check "the snapshot is there, mode 0600" test "$(stat -c %a "$SNAP")" = 600
check "no temporary file is left" test ! -e "$SNAP.tmp"
log "$(grep "persist: snapshot of" "$T/uzramd.log" | tail -n1)"
cp "$SNAP" "$T/snap.1"
start_daemon "$T/p" --config "$T/p.conf" --socket "$SOCK" || { fail "uzramd restoring"; finish; }
log "$(grep "persist: restored" "$T/uzramd.log" | tail -n1)"
check "restored before serving, and says so" grep -q "persist: restored .* from $SNAP" "$T/uzramd.log"
check "orig_data_size as it was" test "$(stat_of "$SOCK" orig_data_size)" = "$orig"
check "--json: persist, restored_bytes, last_snapshot_*" bash -c "uzctl '$SOCK' --json |
	grep -q '\"persist\": \"$SNAP\"' && test \"\$(uzctl '$SOCK' --json | grep -c 'restored_bytes\|last_snapshot_time\|last_snapshot_bytes\|last_snapshot_seconds')\" = 4"
check "restored_bytes > 0" test "$(stat_of "$SOCK" restored_bytes)" -gt 0
attach_loop "$T/p" || { fail "losetup"; finish; }
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean after the restart" "every checksum matches after the restart"

# 2. kill -9 while the snapshot is written: the previous one stays.
tar -xf "$TAR" -C "$MNT" "$TOPDIR/drivers" # more to write: a longer snapshot
umount "$MNT"
losetup -d "$LOOP"
kill -TERM "$DPID"
# (once its first blocks are written)
for _ in $(seq 4000); do [ "$(stat -c %s "$SNAP.tmp" 2>/dev/null || echo 0)" -gt 0 ] && break; sleep 0.002; done
seen=no
[ -e "$SNAP.tmp" ] && seen=yes && kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
log "the temporary file seen before kill -9: $seen ($(stat -c %s "$SNAP.tmp" 2>/dev/null || echo 0) bytes written)"
check "killed in the middle of the snapshot" test "$seen" = yes
check "the previous snapshot is untouched" cmp "$SNAP" "$T/snap.1"
umount -l "$T/p" 2>/dev/null
start_daemon "$T/p" --config "$T/p.conf" --socket "$SOCK" || { fail "uzramd after kill -9"; finish; }
check "... and restores" test "$(stat_of "$SOCK" orig_data_size)" = "$orig"
attach_loop "$T/p" || { fail "losetup"; finish; }
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean (the file system as at the previous stop)" "every checksum matches"
umount "$MNT"
losetup -d "$LOOP"
stop_daemon "$DPID"
rm -f "$SNAP.tmp"
cp "$SNAP" "$T/snap.2"

# 3. Refusals.
refused() { # DESCRIPTION SNAPSHOT WANT [KEY=VALUE...]
	local what=$1 snap=$2 want=$3 out rc
	shift 3
	conf "$T/r.conf" "persist = $snap" "$@"
	grep -q "^size" "$T/r.conf" || echo "size = 2G" >>"$T/r.conf"
	# (a daemon that wrongly starts is stopped after 60 s)
	out=$(timeout 60 "$UZRAMD" --foreground --config "$T/r.conf" --socket "$T/r.sock" "$T/r" 2>&1)
	rc=$?
	log "$what: $(grep persist <<<"$out" | tail -n1)"
	check "$what: refused (exit $rc)" test "$rc" -ne 0
	check "... naming the file and the fault" grep -q "persist: $snap: .*$want" <<<"$out"
	check "... nothing served" bash -c "! grep -qF ' $T/r fuse.uzram ' /proc/mounts && test ! -S '$T/r.sock'"
}
cp "$SNAP" "$T/flipped"
at=$(( $(stat -c %s "$SNAP") / 2 + 1000 ))
byte=$(dd if="$T/flipped" bs=1 skip="$at" count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $(( byte ^ 1 )))" | dd of="$T/flipped" bs=1 seek="$at" conv=notrunc status=none
check "one bit of the copy flipped" bash -c "! cmp -s '$SNAP' '$T/flipped'"
refused "one flipped byte" "$T/flipped" "is corrupt (checksum mismatch)"
cp "$SNAP" "$T/cut"
truncate -s $(( $(stat -c %s "$SNAP") - 1048576 )) "$T/cut"
refused "a truncated snapshot" "$T/cut" "truncated"
truncate -s $(( $(stat -c %s "$SNAP") / 2 + 12345 )) "$T/cut"
refused "one cut in the middle of a block" "$T/cut" "corrupt\|truncated"
refused "another device size" "$SNAP" "a snapshot of a 2147483648-byte device; this one is 1073741824 bytes" "size = 1G"
conf "$T/r.conf" "size = 1G" "persist = $SNAP" "persist-mismatch = discard"
start_daemon "$T/r" --config "$T/r.conf" --socket "$T/r.sock" || fail "persist-mismatch = discard starts"
check "persist-mismatch = discard: starts empty and says so" grep -q "persist-mismatch = discard: starting empty" "$T/uzramd.log"
check "... empty" test "$(stat_of "$T/r.sock" orig_data_size)" = 0
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; umount -l "$T/r" 2>/dev/null
check "... and the old snapshot is still there (killed: no new one)" cmp "$SNAP" "$T/snap.2"
conf "$T/bad.conf" "size = 64M" "persist = relative/path"
out=$("$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/x.sock" "$T/x" 2>&1)
check "persist needs an absolute path" grep -q "persist: 'relative/path' is not an absolute path" <<<"$out"
conf "$T/bad.conf" "size = 64M" "persist-mismatch = maybe"
out=$("$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/x.sock" "$T/x" 2>&1)
check "persist-mismatch takes refuse or discard" grep -q "persist-mismatch: 'maybe' is not refuse or discard" <<<"$out"

# 4. Written-back pages.
conf "$T/w.conf" "size = 256M" "persist = $T/state/w.snap" "backing-file = $T/state/backing"
start_daemon "$T/w" --config "$T/w.conf" --socket "$T/w.sock" || { fail "uzramd with persist and a backing file"; finish; }
tar_idle "$T/w.sock" "$T/w" 64
uzctl "$T/w.sock" writeback idle >/dev/null
wbp=$(stat_of "$T/w.sock" writeback_pages)
check "pages written back before the stop" test "$wbp" -gt 0
stop_daemon "$DPID"
start_daemon "$T/w" --config "$T/w.conf" --socket "$T/w.sock" || { fail "uzramd restoring with a backing file"; finish; }
check "the written-back pages are in the backing store again" test "$(stat_of "$T/w.sock" writeback_pages)" = "$wbp"
check "everything reads back" dev_same "$T/w" "$T/data"
stop_daemon "$DPID"
conf "$T/w.conf" "size = 256M" "persist = $T/state/w.snap"
start_daemon "$T/w" --config "$T/w.conf" --socket "$T/w.sock" || { fail "uzramd restoring without the backing file"; finish; }
check "without a backing file now, they come back into memory" test "$(stat_of "$T/w.sock" orig_data_size)" = $((64 << 20))
check "... and read back" dev_same "$T/w" "$T/data"
stop_daemon "$DPID"
# 5. A snapshot that does not fit its file system: a clear error, exit 1,
#    no temporary file left, the previous snapshot kept.
mkdir -p "$T/small"
mount -t tmpfs -o size=4M tmpfs "$T/small" && MOUNTS+=("$T/small")
conf "$T/s.conf" "size = 64M" "persist = $T/small/snap"
start_daemon "$T/s" --config "$T/s.conf" --socket "$T/s.sock" || { fail "uzramd with persist on a small tmpfs"; finish; }
echo "a small first state" | dd of="$T/s" bs=4k conv=notrunc,sync oflag=direct status=none
check "a small snapshot fits (3 blocks)" stop_daemon "$DPID"
cp "$T/small/snap" "$T/small.1"
start_daemon "$T/s" --config "$T/s.conf" --socket "$T/s.sock" || { fail "uzramd restoring from the small tmpfs"; finish; }
head -c $((16 << 20)) /dev/urandom >"$T/rnd"
dev_put "$T/rnd" "$T/s"
stop_daemon "$DPID"
rc=$?
check "a snapshot into a full file system: exit 1" test "$rc" = 1
check "... saying why" grep -q "persist: the snapshot failed: .*No space left on device (the previous snapshot, if any, is kept)" "$T/uzramd.log"
check "... no temporary file left" test ! -e "$T/small/snap.tmp"
check "... the previous snapshot kept" cmp "$T/small/snap" "$T/small.1"
finish
