# Recompression of cold pages:
#  1. the whole Linux tree onto ext4; idle all; recompress idle: most
#     pages take zstd's form, memory falls by at least a fifth, the
#     counters agree, every checksum matches after drop_caches and a
#     remount (reads of zstd pages), e2fsck clean; pages read stay zstd,
#     pages rewritten are LZ4 again;
#  2. a reload switches to LZ4HC for what is still LZ4; both decode;
#  3. recompressed pages written back keep their algorithm and read back;
#  4. bad requests and settings: clear errors, the daemon serves on.
# dictionary = off throughout: the exact accounting of plain recompression
# (t_dict.sh tests recompression against trained dictionaries).
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }
SOCK=$T/r.sock
MNT=$T/mnt

# 1. The tree, recompressed.
conf "$T/r.conf" "size = 4G" "recomp-algorithm = zstd" "dictionary = off"
start_daemon "$T/r" --config "$T/r.conf" --socket "$SOCK" || { fail "uzramd with recomp-algorithm = zstd"; finish; }
ext4_on "$T/r" "$MNT" || { fail "losetup, mkfs and mount"; finish; }
check "the whole tree extracted" tar -xf "$TAR" -C "$MNT"
tree_sum "$MNT" "$T/sums"
# Quiesced: with the file system unmounted nothing but recompression
# writes to the device (no lazy inode-table init, journal commit or
# discard lands between the readings), so the counters must agree exactly.
umount "$MNT"
settle "$SOCK"
check "recomp_algorithm zstd:3 in --json" test "$(stat_of "$SOCK" recomp_algorithm)" = zstd:3
check "nothing recompressed before asked" test "$(stat_of "$SOCK" recomp_pages)" = 0
used0=$(stat_of "$SOCK" mem_used_total)
compr0=$(stat_of "$SOCK" compr_data_size)
lz40=$(stat_of "$SOCK" lz4_pages)
huge0=$(stat_of "$SOCK" huge_pages)
uzctl "$SOCK" idle all >/dev/null
out=$(uzctl "$SOCK" recompress idle)
log "recompress idle: $out"
check "recompress idle prints what it did" grep -Eq "^[1-9][0-9]* pages tried, [1-9][0-9]* kept in zstd:3" <<<"$out"
settle "$SOCK"
used1=$(stat_of "$SOCK" mem_used_total)
compr1=$(stat_of "$SOCK" compr_data_size)
log "mem_used_total $used0 -> $used1 ($((used1 * 1000 / used0)) per mille); compr_data_size $compr0 -> $compr1"
check "mem_used_total fell by at least a fifth" test "$used1" -le $((used0 * 80 / 100))
rp=$(stat_of "$SOCK" recomp_pages)
kept=$(sed -n 's/.* pages tried, \([0-9]*\) kept in .*/\1/p' <<<"$out")
check "recomp_pages = zstd_pages = the pages it kept" test "$rp" -gt 0 -a "$rp" = "$(stat_of "$SOCK" zstd_pages)" -a "$rp" = "$kept"
check "... and LZ4 plus raw pages fell by as many" \
	test $((lz40 - $(stat_of "$SOCK" lz4_pages) + huge0 - $(stat_of "$SOCK" huge_pages))) = "$kept"
saved=$(sed -n 's/.*kept in [^:]*:[0-9]*: \([0-9]*\) compressed bytes saved.*/\1/p' <<<"$out")
check "recomp_saved_bytes is what it printed" test "$(stat_of "$SOCK" recomp_saved_bytes)" = "$saved"
check "... and exactly the fall of compr_data_size ($((compr0 - compr1)))" test $((compr0 - compr1)) = "$saved"
check "idle marks stay (the pages were not used)" test "$(stat_of "$SOCK" idle_pages)" -gt 0
dd if="$T/r" of=/dev/null bs=1M iflag=direct status=none
check "pages read stay zstd (the whole device read)" test "$(stat_of "$SOCK" zstd_pages)" = "$rp"
check "... and are no longer idle" test "$(stat_of "$SOCK" idle_pages)" = 0
check "... and reading wrote nothing (compr_data_size unchanged)" test "$(stat_of "$SOCK" compr_data_size)" = "$compr1"
check "mm_stat is still zram's nine numbers" test "$(uzctl "$SOCK" mm_stat | wc -w)" = 9
remount_verify "$LOOP" "$MNT" "$T/sums" "e2fsck -fn clean" "every checksum matches after drop_caches and remount"
# (the mount itself rewrites a few pages: the superblock, the journal)
lz0=$(stat_of "$SOCK" lz4_pages)
rp=$(stat_of "$SOCK" zstd_pages)
src=$(echo "$MNT"/*/fs/ext4)
cp -r "$src" "$MNT/ext4.copy" && rm -rf "$src" && sync
settle "$SOCK"
check "pages rewritten are LZ4 again (lz4_pages grew)" test "$(stat_of "$SOCK" lz4_pages)" -gt "$lz0"
check "... and zstd ones were freed (zstd_pages fell)" test "$(stat_of "$SOCK" zstd_pages)" -lt "$rp"

# 2. Reload to LZ4HC: what is LZ4 now takes its form; zstd pages stay.
z0=$(stat_of "$SOCK" zstd_pages)
conf "$T/r.conf" "size = 4G" "recomp-algorithm = lz4hc:9" "dictionary = off"
out=$(uzctl "$SOCK" reload)
check "reload applies recomp-algorithm" grep -q "applied.* recompression" <<<"$out"
uzctl "$SOCK" idle all >/dev/null
out=$(uzctl "$SOCK" recompress all threshold=64)
log "recompress all threshold=64 with lz4hc: $out"
check "LZ4HC takes the LZ4 pages" test "$(stat_of "$SOCK" lz4hc_pages)" -gt 0
check "zstd pages stay zstd" test "$(stat_of "$SOCK" zstd_pages)" = "$z0"
tree_sum "$MNT" "$T/sums2"
remount_verify "$LOOP" "$MNT" "$T/sums2" "e2fsck -fn clean with three algorithms" \
	"every checksum matches: each page decodes with its own algorithm"
umount "$MNT"
losetup -d "$LOOP"
check "SIGTERM exits 0" stop_daemon "$DPID"

# 3. Written back, recompressed pages keep their algorithm.
conf "$T/w.conf" "size = 256M" "backing-file = $T/backing"
start_daemon "$T/w" --config "$T/w.conf" --socket "$T/w.sock" || { fail "uzramd with a backing file"; finish; }
tar_idle "$T/w.sock" "$T/w" 48
uzctl "$T/w.sock" recompress idle >/dev/null
zp=$(stat_of "$T/w.sock" zstd_pages)
cb=$(stat_of "$T/w.sock" compr_data_size)
out=$(uzctl "$T/w.sock" writeback idle)
log "writeback idle after recompress idle ($zp zstd pages): $out"
check "the recompressed pages are written back (all idle pages)" test "$(stat_of "$T/w.sock" writeback_pages)" -ge "$zp"
check "... in their zstd form (writeback_bytes = compr_data_size before)" test "$(stat_of "$T/w.sock" writeback_bytes)" = "$cb"
check "... and stay zstd pages" test "$(stat_of "$T/w.sock" zstd_pages)" = "$zp"
check "everything reads back through the backing file" dev_same "$T/w" "$T/data"

# 4. Bad requests.
out=$(uzctl "$T/w.sock" recompress sometimes 2>&1)
check "an unknown type is refused, naming the valid ones" grep -q "'sometimes' is not idle, huge, huge_idle or all" <<<"$out"
out=$(uzctl "$T/w.sock" recompress idle threshold=5000 2>&1)
check "a threshold beyond a page is refused" grep -q "is not threshold=BYTES" <<<"$out"
out=$(uzctl "$T/w.sock" recompress idle threshold=lots 2>&1)
check "a malformed threshold is refused" grep -q "is not threshold=BYTES" <<<"$out"
out=$(uzctl "$T/w.sock" recompress 2>&1)
check "recompress without a type: usage" grep -q "recompress needs a type" <<<"$out"
conf "$T/w.conf" "size = 256M" "backing-file = $T/backing" "recomp-algorithm = off"
uzctl "$T/w.sock" reload >/dev/null
out=$(uzctl "$T/w.sock" recompress all 2>&1)
check "recomp-algorithm = off: recompress says so" grep -q "recompression is off" <<<"$out"
check "--json says off" test "$(stat_of "$T/w.sock" recomp_algorithm)" = off
conf "$T/w.conf" "size = 256M" "backing-file = $T/backing" "recomp-algorithm = gzip"
out=$(uzctl "$T/w.sock" reload 2>&1)
check "a reload with an unknown algorithm is refused, nothing changed" grep -q "'gzip' is not a recompression algorithm" <<<"$out"
check "the daemon serves on" dev_same "$T/w" "$T/data"
stop_daemon "$DPID"
for bad in "recomp-algorithm = lz4" "recomp-algorithm = zstd:30" "recompress-after = 5s" "compression-algorithm = lz4 brotli"; do
	conf "$T/bad.conf" "size = 64M" "$bad"
	out=$("$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/bad.sock" "$T/bad" 2>&1)
	rc=$?
	check "'$bad': refused at start (exit $rc)" test "$rc" -ne 0
	check "... naming the key and the value" grep -q "${bad%% *}" <<<"$out"
done
finish
