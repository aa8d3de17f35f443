# Where arena memory comes from, and that it goes back: hugetlb pages when
# reserved (HugePages_Free falls, then rises again as arenas empty), THP or
# plain pages otherwise (RSS falls as arenas are unmapped).
source "$(dirname "$0")/lib.sh"
need_root
NR=/proc/sys/vm/nr_hugepages
hp_free() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
text() { # N MiB of compressible text
	yes "uzram keeps pages compressed in 2 MiB arenas; $(date +%N)" | head -c $(($1 << 20))
}

old_nr=$(cat "$NR")
restore_nr() { echo "$old_nr" >"$NR"; }
trap 'restore_nr; cleanup' EXIT

echo $((old_nr + 64)) >"$NR"
if [ "$(cat "$NR")" -lt $((old_nr + 32)) ]; then
	log "could not reserve huge pages (got $(cat "$NR")): hugetlb part skipped"
else
	free0=$(hp_free)
	# (one arena made ahead, in the reserve: a hugetlb page too)
	conf "$T/h.conf" "reserve = 2M"
	start_daemon "$T/h" --config "$T/h.conf" --size 256M --arena hugetlb --socket "$T/h.sock" ||
		{ fail "uzramd --arena hugetlb"; finish; }
	check "arena_kind is hugetlb" test "$(stat_of "$T/h.sock" arena_kind)" = hugetlb
	check "--json shows hugetlb_pool_free, the pool's free pages" \
		test "$(stat_of "$T/h.sock" hugetlb_pool_free)" = "$(hp_free)"
	grep -q "arenas: hugetlb" "$T/uzramd.log" && pass "the daemon logged its arena kind" || fail "arena kind logged"
	head -c $((32 << 20)) /dev/urandom >"$T/rnd"
	dd if="$T/rnd" of="$T/h" bs=1M conv=notrunc status=none
	ah=$(stat_of "$T/h.sock" arenas_hugetlb)
	log "after 32 MiB of random data: $ah hugetlb arenas, HugePages_Free $free0 -> $(hp_free)"
	# 16 arenas of data: hugetlb, but for a tail that a compaction may
	# have moved to a THP arena while the data came in
	check "arenas are hugetlb pages (a THP tail aside)" \
		test "$ah" -ge 14 -a $((ah + $(stat_of "$T/h.sock" arenas_thp))) -ge 16
	check "HugePages_Free fell by the arenas" test "$(hp_free)" -le $((free0 - ah))
	rss=$(( $(rss_kb "$DPID") * 1024 ))
	used=$(stat_of "$T/h.sock" mem_used_total)
	[ -z "${SANITIZE:-}" ] && # (sanitizers' shadow memory: no bound there)
		check "RSS (hugetlb included) within mem_used_total + what is made ahead + 32 MiB" \
		test "$rss" -lt $((used + $(made_ahead "$T/h.sock") + (32 << 20)))
	check "data reads back" cmp <(head -c $((32 << 20)) "$T/h") "$T/rnd"
	fallocate --punch-hole --keep-size -o 0 -l $((32 << 20)) "$T/h"
	check "all arenas unmapped after discarding everything" test "$(stat_of "$T/h.sock" arenas)" = 0
	check "... and the reserve back at its one arena" reserve_settled "$T/h.sock"
	check "HugePages_Free back where it was, but for the reserve's arena" test "$(hp_free)" -eq $((free0 - 1))
	# More than is reserved: arenas fall back to THP; nothing fails.
	head -c $((160 << 20)) /dev/urandom | dd of="$T/h" bs=1M conv=notrunc status=none
	check "beyond the reservation: writes still succeed" test "$(stat_of "$T/h.sock" failed_writes)" = 0
	check "... with THP arenas past the reserved pages" test "$(stat_of "$T/h.sock" arenas_thp)" -gt 0
	check "hugetlb_pool_free is 0 once the pool is used up" test "$(stat_of "$T/h.sock" hugetlb_pool_free)" = 0
	stop_daemon "$DPID"
	check "HugePages_Free restored after the daemon stops" test "$(hp_free)" -eq "$free0"
fi
restore_nr

for kind in thp plain; do
	start_daemon "$T/$kind" --size 512M --arena "$kind" --socket "$T/$kind.sock" || { fail "uzramd --arena $kind"; continue; }
	check "$kind: arena_kind reported" test "$(stat_of "$T/$kind.sock" arena_kind)" = "$kind"
	check "$kind: no hugetlb_pool_free without hugetlb arenas" \
		test -z "$(stat_of "$T/$kind.sock" hugetlb_pool_free)"
	head -c $((64 << 20)) /dev/urandom | dd of="$T/$kind" bs=1M conv=notrunc status=none
	rss1=$(rss_kb "$DPID")
	check "$kind: arenas are $kind" test "$(stat_of "$T/$kind.sock" arenas_$kind)" -ge 32
	fallocate --punch-hole --keep-size -o 0 -l $((64 << 20)) "$T/$kind"
	check "$kind: the reserve back at its target (what it got back beyond is unmapped)" reserve_settled "$T/$kind.sock"
	log "$kind: reserve_bytes $(stat_of "$T/$kind.sock" reserve_bytes) of $(stat_of "$T/$kind.sock" reserve_target)"
	rss2=$(rss_kb "$DPID")
	log "$kind: RSS $rss1 kB with 64 MiB stored, $rss2 kB after discarding it"
	check "$kind: RSS fell by most of the data" test "$rss2" -lt $((rss1 - (48 << 10)))
	check "$kind: no arena left" test "$(stat_of "$T/$kind.sock" arenas)" = 0
	stop_daemon "$DPID"
done

# A device far larger than one engine's 64 GiB page space: data written
# past 64 GiB and past 1 TiB lands in engines of its own and reads back.
start_daemon "$T/big" --size 2T --arena plain --socket "$T/big.sock" || { fail "uzramd --size 2T"; finish; }
head -c $((4 << 20)) /dev/urandom >"$T/rnd4"
for gib in 0 100 1100 2047; do
	dd if="$T/rnd4" of="$T/big" bs=1M seek=$((gib << 10)) conv=notrunc status=none
done
check "2 TiB device: one engine per 32 GiB span written (4)" test "$(stat_of "$T/big.sock" engines)" = 4
ok=1
for gib in 0 100 1100 2047; do
	cmp -s <(dd if="$T/big" bs=1M skip=$((gib << 10)) count=4 status=none) "$T/rnd4" || ok=0
done
check "data at 0, 100 GiB, 1100 GiB and the last 4 MiB reads back" test "$ok" = 1
check "mm_stat counts it all: 16 MiB stored" test "$(stat_of "$T/big.sock" orig_data_size)" = $((16 << 20))
stop_daemon "$DPID"
finish
