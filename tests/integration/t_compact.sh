# Compaction through the whole stack: ext4 on uzram, most files deleted,
# fstrim.  With automatic compaction off, `uzramctl compact` frees the
# stranded memory and says how much; with the shipped default, it happens
# by itself.  Files that remain are intact, e2fsck is clean.
source "$(dirname "$0")/lib.sh"
need_root
TAR=$(linux_tar) || { fail "linux-source-6.1 tar"; finish; }

# churn SOCK MNT: extract fs/, delete 4 files in 5, checksum the rest.
churn() {
	tar -xf "$TAR" -C "$2" linux-source-6.1/fs
	sync # else ext4's delayed allocation never writes what is deleted
	(cd "$2" && find . -type f | sort | awk 'NR % 5' | xargs rm -f)
	tree_sum "$2" "$T/sums"
	sync
	fstrim "$2"
	settle "$1"
}
ratio() { # SOCK: overhead ratio in hundredths of a percent
	local o c u
	read -r o c u _ < <(uzctl "$1" mm_stat)
	echo $(( (u - c) * 10000 / c ))
}

# 1. Asked for.
SOCK=$T/m.sock
start_daemon "$T/m" --size 1G --compaction off --socket "$SOCK" || { fail "uzramd start"; finish; }
ext4_on "$T/m" "$T/mnt-m" || { fail "losetup, mkfs and mount"; finish; }
churn "$SOCK" "$T/mnt-m"
used0=$(stat_of "$SOCK" mem_used_total)
str0=$(stat_of "$SOCK" stranded_bytes)
rss0=$(rss_kb "$DPID")
log "before: mem_used_total $used0, stranded $str0, overhead $(ratio "$SOCK") / 10000, RSS $rss0 kB"
check "compaction off: nothing compacted by itself" test "$(stat_of "$SOCK" compactions)" = 0
check "deleting files stranded memory" test "$str0" -gt $((1 << 20))
out=$(uzctl "$SOCK" compact)
log "uzramctl compact: $out"
freed=$(awk '{print $1}' <<<"$out")
used1=$(stat_of "$SOCK" mem_used_total)
check "uzramctl compact prints the bytes freed" test "$freed" -gt 0
check "mem_used_total fell by what it printed" test $((used0 - used1)) -eq "$freed"
check "stranded space is gone (< 80 KiB)" test "$(stat_of "$SOCK" stranded_bytes)" -lt $((80 << 10))
check "pages_compacted in mm_stat" test "$(uzctl "$SOCK" mm_stat | awk '{print $7}')" -gt 0
# A 5 MB store: a partly filled page per chunk size and the directory page
# weigh more than on the seed benchmark's 90-500 MB (under 2 % there).
check "overhead under 2.5 % after compaction" test "$(ratio "$SOCK")" -lt 250
rss1=$(rss_kb "$DPID")
log "after: mem_used_total $used1, overhead $(ratio "$SOCK") / 10000, RSS $rss1 kB"
check "RSS fell too" test "$rss1" -lt "$rss0"
[ -z "${SANITIZE:-}" ] && # (sanitizers ignore mlockall)
	check "... although the daemon's memory is locked (VmLck)" test "$(vmlck_kb "$DPID")" -gt 0
[ -z "${SANITIZE:-}" ] && # (sanitizers' shadow memory: no bound there)
	check "RSS within mem_used_total + what is made ahead (table, reserve, buffers) + 32 MiB" \
	test $((rss1 * 1024)) -lt $((used1 + $(made_ahead "$SOCK") + (32 << 20)))
json=$(uzctl "$SOCK" --json)
for k in stranded_bytes metadata_bytes rounding_bytes arenas chunks_16_used chunks_16_free chunks_4096_used \
	chunks_1024_free released_bytes compactions; do
	grep -q "\"$k\": [0-9]" <<<"$json" || fail "--json lacks $k"
done
pass "--json shows per-chunk-size use, stranded, metadata and rounding bytes"
check "remaining files intact after compaction" tree_same "$T/mnt-m" "$T/sums"
umount "$T/mnt-m"
check "e2fsck -fn clean after compaction" fsck_clean "$LOOP"

# 2. By itself, with the shipped configuration.
SOCK=$T/a.sock
start_daemon "$T/a" --config "$TOP/conf/uzram.conf" --size 1G --socket "$SOCK" || { fail "uzramd start"; finish; }
ext4_on "$T/a" "$T/mnt-a" || { fail "losetup, mkfs and mount"; finish; }
churn "$SOCK" "$T/mnt-a"
sleep 2
settle "$SOCK"
log "default config: $(uzctl "$SOCK" mm_stat), $(stat_of "$SOCK" compactions) compactions"
check "automatic compaction ran" test "$(stat_of "$SOCK" compactions)" -gt 0
check "overhead under 2.5 % without being asked" test "$(ratio "$SOCK")" -lt 250
check "remaining files intact" tree_same "$T/mnt-a" "$T/sums"
umount "$T/mnt-a"
check "e2fsck -fn clean" fsck_clean "$LOOP"
finish
