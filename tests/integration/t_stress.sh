# ext4 on uzram under load and faults:
#  1. several processes extracting and deleting trees at once, for
#     UZ_STRESS_SECONDS (default 40); then the last trees compared with
#     the tar after a remount (tar --compare), e2fsck -fn clean;
#  2. the Linux tree extracted by a process in a memory cgroup of 64 MiB,
#     so that the kernel must write dirty pages back through the loop
#     device while it is short of memory: no deadlock (timeout), tree
#     intact, e2fsck clean;
#  3. a full memory limit: fsync fails with ENOSPC, the failure is counted,
#     what was stored reads back intact, and after deleting files and
#     fstrim, writes succeed again; the daemon never exits;
#  4. the same with the journal inside the device, four times over: ext4
#     is never aborted to read-only (overwrites use the limit's reserve).
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
SECONDS_LOAD=${UZ_STRESS_SECONDS:-40}
TOPDIR=linux-source-6.1
SOCK=$T/s.sock
MNT=$T/mnt
start_daemon "$T/s" --size 6G --socket "$SOCK" || { fail "uzramd start"; finish; }
ext4_on "$T/s" "$MNT" || { fail "losetup, mkfs and mount"; finish; }

# remount: later reads come from the device, not the page cache.
remount() { umount "$MNT" && mount -o discard "$LOOP" "$MNT"; }

# 1. Concurrent writers and deleters.
SUBTREES=(fs net sound drivers/net)
worker() { # N SUBTREE: extract, delete, again, until time is up; extract a last time
	local n=0 end=$((SECONDS + SECONDS_LOAD))
	mkdir -p "$MNT/w$1"
	while [ $SECONDS -lt "$end" ]; do
		tar -xf "$TAR" -C "$MNT/w$1" "$TOPDIR/$2" || return 1
		rm -rf "${MNT:?}/w$1/$TOPDIR" || return 1
		n=$((n + 1))
	done
	tar -xf "$TAR" -C "$MNT/w$1" "$TOPDIR/$2" || return 1
	echo "$n" >"$T/cycles.$1"
}
WORKERS=()
for i in "${!SUBTREES[@]}"; do
	worker "$i" "${SUBTREES[i]}" &
	WORKERS+=($!)
done
ok=0
for w in "${WORKERS[@]}"; do wait "$w" || ok=1; done
sync
cycles=$(cat "$T"/cycles.* 2>/dev/null | paste -sd+ | bc)
files=0
for s in "${SUBTREES[@]}"; do files=$((files + $(tar -tf "$TAR" "$TOPDIR/$s" | grep -vc '/$'))); done
log "${#SUBTREES[@]} processes, ${SECONDS_LOAD} s: $cycles extract+delete cycles of ${SUBTREES[*]}"
check "concurrent extracts and deletes all succeeded" test "$ok" = 0
check "... and kept going (at least one cycle each)" test "${cycles:-0}" -ge "${#SUBTREES[@]}"
remount || fail "remount"
for i in "${!SUBTREES[@]}"; do
	check "tree ${SUBTREES[i]} matches the tar after the load" tar -df "$TAR" -C "$MNT/w$i" "$TOPDIR/${SUBTREES[i]}"
done
log "$files files compared; mm_stat $(uzctl "$SOCK" mm_stat)"
rm -rf "${MNT:?}"/w*
umount "$MNT" && MOUNTS=()
check "e2fsck -fn clean after the load" fsck_clean "$LOOP"

# 2. Writeback under memory pressure.
mount_dev "$LOOP" "$MNT"
fstrim "$MNT"
if memcg_make $((64 << 20)); then
	t0=$(date +%s.%N)
	memcg_run timeout 600 tar -xf "$TAR" -C "$MNT"
	rc=$?
	log "extract in a 64 MiB memory cgroup: $(since "$t0") s, peak $(memcg_peak) B, limit hit $(memcg_hits) times"
	check "extract in a 64 MiB memory cgroup finished (no deadlock)" test $rc -eq 0
	check "... under real pressure: the limit was hit" test "$(memcg_hits)" -gt 0
	sync
	remount || fail "remount"
	check "... the tree matches the tar" tar -df "$TAR" -C "$MNT" "$TOPDIR"
	umount "$MNT" && MOUNTS=()
	check "... e2fsck -fn clean" fsck_clean "$LOOP"
else
	fail "cannot make a memory cgroup (neither cgroup v2 memory nor v1 memory here)"
fi
check "the daemon is alive" kill -0 "$DPID"
stop_daemon "$DPID"

# 3. A full memory limit under ext4.
SOCK=$T/f.sock
start_daemon "$T/f" --size 256M --mem-limit 24M --socket "$SOCK" || { fail "uzramd with a limit"; finish; }
# ext4's journal on a device of its own (a loop device over a plain file):
# on the full store, a journal write would need new memory like any
# overwrite (zram, too, allocates before it frees), and its failure aborts
# ext4 to read-only (one run in six here).  Metadata waits in the journal
# until the checkpoint, after the space is back.
truncate -s 32M "$T/journal"
attach_loop "$T/journal"
JLOOP=$LOOP
attach_loop "$T/f"
mkfs.ext4 -q -b 4096 -O journal_dev "$JLOOP" && mkfs.ext4 -q -b 4096 -J device="$JLOOP" "$LOOP" &&
	mount_dev "$LOOP" "$T/fm" || { fail "mkfs and mount"; finish; }
for i in 1 2 3 4 5 6; do
	head -c 8M /dev/urandom >"$T/fm/f$i"
	sync "$T/fm/f$i" 2>>"$T/full.err" || break
	cp "$T/fm/f$i" "$T/kept$i"
done
log "stored $(ls "$T"/kept* | wc -l) files of 8 MiB before the limit; $(head -n1 "$T/full.err")"
check "fsync past the limit fails with ENOSPC" grep -q "No space left on device" "$T/full.err"
check "failed_writes counted" test "$(stat_of "$SOCK" failed_writes)" -gt 0
check "mem_used_total within the limit" test "$(stat_of "$SOCK" mem_used_total)" -le $((24 << 20))
# Read through O_DIRECT: from the device, not the page cache.  (No
# remount while full: ext4's own superblock write would fail too.)
for k in "$T"/kept*; do
	check "$(basename "$k"): stored before the limit, intact" \
		cmp "$k" <(dd if="$T/fm/f${k##*kept}" iflag=direct bs=1M status=none)
done
rm -f "$T"/fm/f*
sync
fstrim "$T/fm"
settle "$SOCK" # ext4 sends its discards after the commit, in the background
log "after deleting and fstrim: mem_used_total $(stat_of "$SOCK" mem_used_total)"
head -c 8M /dev/urandom >"$T/new"
cp "$T/new" "$T/fm/new"
check "after deleting files and fstrim, writes succeed again" sync "$T/fm/new"
umount "$T/fm" && mount -o discard "$LOOP" "$T/fm"
check "... and read back" cmp "$T/new" "$T/fm/new"
umount "$T/fm"
check "e2fsck -fn clean after the limit" fsck_clean -j "$JLOOP" "$LOOP"
check "the daemon never exited" kill -0 "$DPID"
stop_daemon "$DPID"

# 4. The same with ext4's journal inside the device, as mkfs makes it by
# default: pages already stored (the journal, bitmaps, inode tables, the
# superblock) may use the limit's reserve when rewritten, so ext4 is never
# aborted; only new data gets ENOSPC.  Four rounds of filling up.
SOCK=$T/j.sock
start_daemon "$T/j" --size 256M --mem-limit 24M --socket "$SOCK" || { fail "uzramd with a limit"; finish; }
ext4_on "$T/j" "$T/jm" -b 4096 || { fail "losetup, mkfs and mount"; finish; }
aborted=0 enospc=0
# An aborted ext4 refuses new files (EROFS), whatever /proc/mounts says.
writable() { echo probe 2>/dev/null >"$T/jm/probe" && sync "$T/jm/probe" 2>/dev/null && rm -f "$T/jm/probe"; }
for round in 1 2 3 4; do
	for i in 1 2 3 4 5 6; do
		head -c 8M /dev/urandom >"$T/jm/r$round-$i" 2>/dev/null
		if ! sync "$T/jm/r$round-$i" 2>"$T/jfull.err"; then
			grep -q "No space left on device" "$T/jfull.err" && enospc=$((enospc + 1))
			break
		fi
	done
	rm -f "$T"/jm/r*
	sync
	fstrim "$T/jm" 2>/dev/null
	settle "$SOCK"
	writable || aborted=1
done
check "journal inside: every round ran into the limit (ENOSPC)" test "$enospc" = 4
check "journal inside: ext4 never went read-only" test "$aborted" = 0
check "journal inside: a file written after the rounds" bash -c "echo ok >'$T/jm/after' && sync '$T/jm/after'"
check "journal inside: clean unmount (the superblock written at the limit's edge)" umount "$T/jm"
check "journal inside: e2fsck -fn clean" fsck_clean "$LOOP"
check "mem_used_total never above the limit" test "$(stat_of "$SOCK" mem_used_max)" -le $((24 << 20))
check "the daemon never exited" kill -0 "$DPID"
finish
