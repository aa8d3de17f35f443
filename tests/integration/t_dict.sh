# Trained dictionaries for zstd recompression, through the daemon:
#  1. dictionary = auto trains none while nothing would use it, then one
#     by itself before the first recompression, once the whole Linux
#     tree is stored; idle all + recompress idle puts pages on it,
#     memory falls, --json and metrics show it; checksums after
#     drop_caches and a remount, e2fsck clean;
#  2. train by hand: a new id; train again while the retired one has
#     pages: refused, naming it; recompressed onto the new one, the old
#     one is freed;
#  3. train and recompress, twice, while fio writes and verifies a file
#     on the same file system: fio verify clean, the tree's checksums too;
#  4. pages on a dictionary written back (backing-file) read back right;
#  5. reload to dictionary = off: new recompressions use none; refusals;
#  6. dictionary = auto trains by itself under the recompression policy,
#     then retrains once the data moved on (source text first, then as much
#     again and more of executables); on noise it keeps none;
#  7. persist: a clean stop writes the dictionary into the snapshot, the
#     next start restores it with its pages; a snapshot whose dictionary
#     block is corrupt is refused, naming it.
source "$(dirname "$0")/lib.sh"
need_root
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$T" || exit 1 # fio leaves its verify state files in the working folder
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
command -v fio >/dev/null || { fail "fio missing (make deps installs it)"; finish; }
SOCK=$T/d.sock
MNT=$T/mnt
# json_dicts SOCKET: the --json "dictionaries" array, one object a line
json_dicts() { uzctl "$1" --json | python3 -c 'import json,sys
for d in json.load(sys.stdin)["dictionaries"]: print(" ".join(f"{k}={v}" for k, v in d.items()))'; }
# trainings: how many trainings the daemon logged
trainings() { grep -c "dictionary [0-9]* trained" "$T/uzramd.log"; }

# 1. The automatic training, and recompression against it.
conf "$T/d.conf" "size = 2G" "recomp-algorithm = zstd" "recompress-after = off" "dictionary = auto" \
	"dictionary-sample = 4096" "dictionary-size = 64K" "backing-file = $T/backing" "backing-size = 1G"
start_daemon "$T/d" --config "$T/d.conf" --socket "$SOCK" || { fail "uzramd with dictionary = auto"; finish; }
ext4_on "$T/d" "$MNT" || { fail "losetup, mkfs and mount"; finish; }
check "the whole tree extracted" tar -xf "$TAR" -C "$MNT"
tree_sum "$MNT" "$T/sums"
sync
check "dictionary auto in --json" test "$(stat_of "$SOCK" dictionary)" = auto
sleep 6 # a housekeeping tick (5 s) with the pages there
check "no dictionary while nothing would use it (dict_bytes 0)" test "$(stat_of "$SOCK" dict_bytes)" = 0
umount "$MNT"
settle "$SOCK"
used0=$(stat_of "$SOCK" mem_used_total)
uzctl "$SOCK" idle all >/dev/null
out=$(uzctl "$SOCK" recompress idle)
log "recompress idle: $out"
settle "$SOCK"
check "dictionary = auto trained one before the recompression (dict_bytes > 0)" \
	test "$(stat_of "$SOCK" dict_bytes)" -gt 0
check "... and logged it: id, size, sample, time" \
	grep -Eq "dictionary 1 trained \(before a recompression\): [0-9]+ bytes .* sample of 4096 pages, [0-9.]+ s" \
	"$T/uzramd.log"
used1=$(stat_of "$SOCK" mem_used_total)
log "mem_used_total $used0 -> $used1, dict_bytes $(stat_of "$SOCK" dict_bytes)"
check "pages on the dictionary (dict_pages > 0)" test "$(stat_of "$SOCK" dict_pages)" -gt 0
check "recomp_dict_pages > 0" test "$(stat_of "$SOCK" recomp_dict_pages)" -gt 0
check "mem_used_total fell (its dictionary included)" test "$used1" -lt "$used0"
d=$(json_dicts "$SOCK")
log "dictionaries: $d"
check "--json dictionaries: id 1, current, its pages, bytes saved" \
	grep -Eq "^id=1 size=[1-9][0-9]* mem=[1-9][0-9]* pages=$(stat_of "$SOCK" dict_pages) current=1 saved_bytes=[1-9]" <<<"$d"
uzctl "$SOCK" metrics >"$T/m.prom"
check "metrics: uzram_dict_bytes, uzram_dict_pages, uzram_recomp_dict_pages_total" \
	bash -c "grep -q '^uzram_dict_bytes{' $T/m.prom && grep -q '^uzram_dict_pages{' $T/m.prom && grep -q '^uzram_recomp_dict_pages_total{' $T/m.prom"
check "metrics: uzram_dictionary_pages with an id label" grep -Eq '^uzram_dictionary_pages\{device="[^"]*",id="1"\} [1-9]' "$T/m.prom"
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
	uzctl "$SOCK" --json >"$T/s.json"
	check "metrics_check.py: parses, every number of --json there" \
		quiet /usr/bin/python3 "$HERE/metrics_check.py" "$T/m.prom" "$T/s.json" "$(stat_of "$SOCK" name)"
fi
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean" "every checksum matches after drop_caches and remount"

# 2. By hand: a second one; a third is refused while the first has pages.
out=$(uzctl "$SOCK" train sample=2048 2>&1)
log "train: $out"
check "train prints the new dictionary: id 2, size, time" \
	grep -Eq "^dictionary 2 trained: [1-9][0-9]* bytes \([0-9]+ in memory\), sample of 2048 pages, [0-9.]+ s" <<<"$out"
out=$(uzctl "$SOCK" train 2>&1)
rc=$?
log "train again: $out"
check "train refused while the retired one has pages, naming it" \
	refused $rc "both dictionary slots are in use: dictionary 1 (retired) still has [1-9][0-9]* pages" "$out"
uzctl "$SOCK" idle all >/dev/null
quiet uzctl "$SOCK" recompress all
d=$(json_dicts "$SOCK")
log "dictionaries: $d"
check "recompressed onto dictionary 2; dictionary 1 freed" \
	bash -c "grep -q '^id=2 .* current=1' <<<'$d' && ! grep -q '^id=1 ' <<<'$d'"
tree_sum "$MNT" "$T/sums"

# 3. Train and recompress, twice, while fio writes and verifies.
printf '[global]\nfilename=%s\ndirect=1\nioengine=libaio\niodepth=8\nrw=randwrite\nbsrange=4k-256k\n' \
	"$MNT/fio.dat" >"$T/v.fio"
printf 'size=96m\nverify=crc32c\nverify_fatal=1\nrefill_buffers=1\nbuffer_compress_percentage=60\nloops=2\n' >>"$T/v.fio"
printf '[v]\n' >>"$T/v.fio"
fio --output="$T/v.out" "$T/v.fio" &
FIO=$!
PIDS+=("$FIO")
n0=$(trainings)
for _ in 1 2; do
	uzctl "$SOCK" train sample=2048 >>"$T/cycle.log" 2>&1
	uzctl "$SOCK" idle all >/dev/null
	uzctl "$SOCK" recompress all >>"$T/cycle.log" 2>&1
done
wait "$FIO"
rc=$?
[ $rc -eq 0 ] || tail -n 20 "$T/v.out"
check "fio write + verify while training and recompressing: exit 0" test $rc -eq 0
check "... with no verify error" bash -c "! grep -q 'verify:.*bad\|crc32c: verify failed' $T/v.out"
check "two trainings happened meanwhile" test $(($(trainings) - n0)) -eq 2
rm -f "$MNT/fio.dat"
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean after the retrainings" \
	"every checksum matches after the retrainings"

# 4. Pages on a dictionary, written back, read back.
umount "$MNT"
uzctl "$SOCK" idle all >/dev/null
quiet uzctl "$SOCK" recompress all
dp=$(stat_of "$SOCK" dict_pages)
uzctl "$SOCK" idle all >/dev/null
out=$(uzctl "$SOCK" writeback idle)
log "writeback idle: $out"
check "pages on a dictionary written back" grep -Eq "^[1-9][0-9]* pages written back" <<<"$out"
check "... and they still count as on it (dict_pages unchanged)" test "$(stat_of "$SOCK" dict_pages)" = "$dp"
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean, read back from the backing file" \
	"every checksum matches, read back from the backing file"
check "pages were read back" test "$(stat_of "$SOCK" writeback_reads)" -gt 0

# 5. dictionary = off at a reload; refusals.
sed -i 's/^dictionary = auto/dictionary = off/' "$T/d.conf"
out=$(uzctl "$SOCK" reload)
check "reload applies dictionary" grep -q "applied.* dictionary" <<<"$out"
check "dictionary off in --json" test "$(stat_of "$SOCK" dictionary)" = off
rdp=$(stat_of "$SOCK" recomp_dict_pages)
cp -r "$MNT/linux-source-6.1/kernel" "$MNT/kernel.copy" && sync
uzctl "$SOCK" idle all >/dev/null
quiet uzctl "$SOCK" recompress idle
check "with dictionary = off no page goes onto one" test "$(stat_of "$SOCK" recomp_dict_pages)" = "$rdp"
out=$(uzctl "$SOCK" train sample=10 2>&1)
check "train sample=10: refused, with the bounds" refused $? "is not sample=PAGES (64 to 1048576)" "$out"
out=$(uzctl "$SOCK" train size=2M 2>&1)
check "train size=2M: refused" refused $? "is not sample=PAGES .* or size=BYTES (1K to 1M" "$out"
out=$(uzctl "$SOCK" train frob 2>&1)
check "train frob: refused" refused $? "'frob' is not sample=PAGES" "$out"
check "the daemon still serves" tree_same "$MNT" "$T/sums"
umount "$MNT"
losetup -d "$LOOP"
stop_daemon "$DPID"

# 6. The data moves on: the automatic retraining.
: >"$T/uzramd.log"
# Noise first (pages of 1 KiB of random bytes, 4 times: LZ4 halves them
# but they have nothing in common): no dictionary kept.
conf "$T/m.conf" "size = 256M" "recomp-algorithm = zstd" "recompress-after = off" "dictionary = auto" \
	"dictionary-sample = 1024" "dictionary-size = 32K"
start_daemon "$T/m" --config "$T/m.conf" --socket "$T/m.sock" || { fail "uzramd for the retraining"; finish; }
/usr/bin/python3 -c 'import os, sys
for _ in range(6144): sys.stdout.buffer.write(os.urandom(1024) * 4)' >"$T/noise"
dev_put "$T/noise" "$T/m"
uzctl "$T/m.sock" idle all >/dev/null
quiet uzctl "$T/m.sock" recompress all
log "$(grep "no training before" "$T/uzramd.log" | tail -n 1)"
check "on noise dictionary = auto keeps no dictionary" test "$(stat_of "$T/m.sock" dict_bytes)" = 0
check "... and logs why" grep -q "no training before the recompression: " "$T/uzramd.log"
stop_daemon "$DPID"
# The tree recompressed without a dictionary, then dictionary = auto: the
# housekeeping thread trains one (recompression has begun).
: >"$T/uzramd.log"
sed -i 's/^dictionary = .*/dictionary = off/' "$T/m.conf"
start_daemon "$T/m" --config "$T/m.conf" --socket "$T/m.sock" || { fail "uzramd for the retraining"; finish; }
tar_idle "$T/m.sock" "$T/m" 16
quiet uzctl "$T/m.sock" recompress all
sed -i 's/^dictionary = .*/dictionary = auto/' "$T/m.conf"
quiet uzctl "$T/m.sock" reload
for _ in $(seq 40); do [ "$(trainings)" -ge 1 ] && break; sleep 0.5; done
check "trained by itself once recompression had begun" grep -q "dictionary 1 trained (none yet)" "$T/uzramd.log"
find /usr/bin /usr/sbin /usr/lib -type f -size +64k 2>/dev/null | sort | head -n 400 | xargs cat 2>/dev/null |
	head -c 48M >"$T/bin"
dd if="$T/bin" of="$T/m" bs=1M seek=64 oflag=direct conv=notrunc status=none
uzctl "$T/m.sock" idle all >/dev/null
quiet uzctl "$T/m.sock" recompress all
for _ in $(seq 60); do grep -q "dictionary 2 trained (the data moved on" "$T/uzramd.log" && break; sleep 0.5; done
log "$(grep "trained" "$T/uzramd.log" | tail -n 1)"
check "retrained by itself once the data moved on" grep -q "dictionary 2 trained (the data moved on" "$T/uzramd.log"
both_same() { dev_same "$T/m" "$T/data" && cmp <(dd if="$T/m" bs=1M skip=64 count=48 iflag=direct status=none) "$T/bin"; }
check "... and both still read right" both_same

# 7. A snapshot carries the dictionary; a corrupt dictionary block is refused.
stop_daemon "$DPID"
: >"$T/uzramd.log"
conf "$T/p.conf" "size = 256M" "recomp-algorithm = zstd" "recompress-after = off" "dictionary = auto" \
	"dictionary-sample = 1024" "dictionary-size = 32K" "persist = $T/p.snap"
start_daemon "$T/p" --config "$T/p.conf" --socket "$T/p.sock" || { fail "uzramd with persist"; finish; }
tar_idle "$T/p.sock" "$T/p" 16
quiet uzctl "$T/p.sock" train
quiet uzctl "$T/p.sock" recompress idle
dpages=$(stat_of "$T/p.sock" dict_pages) dbytes=$(stat_of "$T/p.sock" dict_bytes)
check "pages on a dictionary before the stop" test "$dpages" -gt 0
check "SIGTERM writes the snapshot" stop_daemon "$DPID"
log "$(grep "persist: snapshot of" "$T/uzramd.log" | tail -n1)"
start_daemon "$T/p" --config "$T/p.conf" --socket "$T/p.sock" || { fail "uzramd restoring"; finish; }
check "restored" grep -q "persist: restored .* from $T/p.snap" "$T/uzramd.log"
check "... the dictionary with its pages (dict_pages $dpages, dict_bytes $dbytes)" \
	test "$(stat_of "$T/p.sock" dict_pages)" = "$dpages" -a "$(stat_of "$T/p.sock" dict_bytes)" = "$dbytes"
check "... and every page reads back" dev_same "$T/p" "$T/data"
stop_daemon "$DPID"
# Block 1, the dictionary's (1 MiB blocks): one byte of its content flipped.
cp "$T/p.snap" "$T/bad.snap"
at=$((1048576 + 100))
byte=$(dd if="$T/bad.snap" bs=1 skip="$at" count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf %o $((byte ^ 1)))" | dd of="$T/bad.snap" bs=1 seek="$at" conv=notrunc status=none
conf "$T/bad.conf" "size = 256M" "persist = $T/bad.snap"
out=$(timeout 60 "$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/bad.sock" "$T/bad" 2>&1)
rc=$?
log "$(grep persist <<<"$out" | tail -n1)"
check "a corrupt dictionary block: refused (exit $rc)" test "$rc" -ne 0
check "... naming the dictionary block" grep -q "persist: .*corrupt.*a dictionary block" <<<"$out"
finish
