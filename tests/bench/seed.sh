#!/usr/bin/env bash
# make bench-seed: the afmalloc RFC's experiment (shared/anchors.md).  The
# Linux 6.1 tree onto ext4 (loop --direct-io=on, mount -o discard) on a
# 4 GiB device; extract, then remove drivers, arch, fs, sound, include,
# then the rest; ten cycles without restarting the store: 60 stages.  At
# each stage: sync, wait until mm_stat stops changing (at most 10 s),
# record.  Systems, one after the other in the same run: uzram with the
# shipped configuration in each arena mode asked for, uzram with automatic
# compaction off (THP arenas, for the extract-time comparison), and kernel
# zram (lz4) when zram0 is unused.
#
# Arena modes (--arena, comma-separated, default all):
#   hugetlb        a pool of huge pages large enough for the whole tree
#   hugetlb-short  a pool of 100 huge pages (200 MiB): it runs out during
#                  every extract, and the engine falls back to THP arenas
#   thp            transparent huge pages
#   plain          4 KiB pages
#   recompress     THP arenas, and at every stage, after the sync,
#                  `uzramctl idle all; uzramctl recompress idle` (zstd):
#                  the memory of a store whose cold pages are recompressed
# The hugetlb modes raise vm.nr_hugepages for their run and put it back.
#
# Usage: tests/bench/seed.sh [--arena LIST] [--uzram-only] [--no-compaction-run]
#                             [--cycles N] [--tar FILE] [--out DIR]
#        tests/bench/seed.sh --plot-only [--out DIR]   (redraw from DIR/seed.csv)
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
need_root
CYCLES=10 UZRAM_ONLY=0 OFF_RUN=1 OUT=$TOP/bench-out/seed TARARG="" PLOT_ONLY=0 ARENAS=all
usage() {
	echo "usage: $0 [--arena hugetlb,hugetlb-short,thp,plain,recompress|all] [--uzram-only] [--no-compaction-run]" >&2
	echo "          [--cycles N] [--tar FILE] [--out DIR] | --plot-only [--out DIR]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--arena) [ $# -ge 2 ] || usage; ARENAS=$2; shift ;;
	--uzram-only) UZRAM_ONLY=1 ;;
	--no-compaction-run) OFF_RUN=0 ;;
	--cycles) CYCLES=$2; shift ;;
	--tar) TARARG=$2; shift ;;
	--out) OUT=$2; shift ;;
	--plot-only) PLOT_ONLY=1 ;;
	*) usage ;;
	esac
	shift
done
[ "$ARENAS" = all ] && ARENAS=hugetlb,hugetlb-short,thp,plain,recompress
IFS=, read -ra MODES <<<"$ARENAS"
for m in "${MODES[@]}"; do
	case $m in
	hugetlb | hugetlb-short | thp | plain | recompress) ;;
	*) echo "bench-seed: unknown arena mode '$m' (hugetlb, hugetlb-short, thp, plain, recompress, all)" >&2; exit 2 ;;
	esac
done
[[ $CYCLES =~ ^[1-9][0-9]*$ ]] || { echo "bench-seed: --cycles takes a positive number, not '$CYCLES'" >&2; exit 2; }
CSV=$OUT/seed.csv
if [ "$PLOT_ONLY" = 1 ]; then
	eval "$(sed -n '/^plot() {/,/^}/p' "$0")"
	plot
	exit 0
fi
TAR=${TARARG:-$(linux_tar)} || exit 1
[ -r "$TAR" ] || { echo "bench-seed: cannot read $TAR" >&2; exit 1; }
TOPDIR=$(tar -tf "$TAR" | head -n1 | cut -d/ -f1)
mkdir -p "$OUT"
CSV=$OUT/seed.csv
echo "system,cycle,stage,orig_bytes,compr_bytes,used_bytes,overhead_bytes,overhead_ratio,real_bytes,real_ratio,rss_bytes,bound_bytes,extract_s,arenas_hugetlb,arenas_thp,arenas_plain" >"$CSV"
STAGES=(extract drivers arch fs sound include)

# mm_stat of the system under test: "orig compr used"
mm() {
	if [ "$SYS" = zram ]; then awk '{print $1, $2, $3}' /sys/block/zram0/mm_stat
	else uzctl "$SOCK" mm_stat | awk '{print $1, $2, $3}'; fi
}

wait_stable() {
	local prev="" cur
	for _ in $(seq 20); do
		cur=$(mm)
		# (and no dictionary training holding its scratch memory)
		[ "$SYS" != zram ] && [ "$(stat_of "$SOCK" dict_training)" = 1 ] && cur=""
		[ "$cur" = "$prev" ] && [ -n "$cur" ] && return
		prev=$cur
		sleep 0.5
	done
}

record() { # CYCLE STAGE EXTRACT_S
	local orig compr used real="" rss="" bound="" over ratio rratio="" ah="" at="" ap=""
	sync
	if [ "$SYS" = uzram-recompress ]; then
		uzctl "$SOCK" idle all >/dev/null
		uzctl "$SOCK" recompress idle >/dev/null || fail "[$SYS] recompress idle"
	fi
	wait_stable
	read -r orig compr used < <(mm)
	if [ "$SYS" != zram ]; then
		real=$(( $(stat_of "$SOCK" metadata_bytes) + $(stat_of "$SOCK" rounding_bytes) ))
		rss=$(( $(rss_kb "$DPID") * 1024 ))
		# what the daemon makes ahead (slot table, arena reserve, request
		# buffers), as the tests' RSS bound has it (lib.sh, made_ahead)
		bound=$(( used + $(made_ahead "$SOCK") + (32 << 20) ))
		rratio=$(echo "scale=4; 100 * $real / $compr" | bc)
		ah=$(stat_of "$SOCK" arenas_hugetlb) at=$(stat_of "$SOCK" arenas_thp) ap=$(stat_of "$SOCK" arenas_plain)
	fi
	over=$((used - compr))
	ratio=$(echo "scale=4; 100 * $over / $compr" | bc)
	echo "$SYS,$1,$2,$orig,$compr,$used,$over,$ratio,$real,$rratio,$rss,$bound,$3,$ah,$at,$ap" >>"$CSV"
	printf '  [%s] cycle %2d/%d %-8s orig %7.1f MB compr %6.1f MB used %6.1f MB overhead %5.2f %%%s%s\n' \
		"$SYS" "$1" "$CYCLES" "$2" "$(echo "$orig / 1048576" | bc -l)" "$(echo "$compr / 1048576" | bc -l)" \
		"$(echo "$used / 1048576" | bc -l)" "$ratio" "${rss:+  RSS $((rss >> 20)) MB}" \
		"${ah:+  arenas hugetlb/thp/plain $ah/$at/$ap}" >&2
}

run_cycles() { # DEVICE MOUNTPOINT
	local dev=$1 mnt=$2 c t0 t
	mkfs.ext4 -q "$dev"
	mount_dev "$dev" "$mnt" || return 1
	for c in $(seq "$CYCLES"); do
		t0=$(date +%s.%N)
		tar -xf "$TAR" -C "$mnt"
		sync
		t=$(since "$t0")
		record "$c" extract "$t"
		for d in drivers arch fs sound include; do
			rm -rf "${mnt:?}/$TOPDIR/$d"
			record "$c" "$d" ""
		done
		rm -rf "${mnt:?}/$TOPDIR"
	done
	umount "$mnt"
	check "[$SYS] e2fsck -fn clean after $CYCLES cycles" e2fsck -fn "$dev" >/dev/null 2>&1
}

run_uzram() { # NAME EXTRA-ARGS...
	SYS=$1; shift
	SOCK=$T/$SYS.sock
	echo "bench-seed: $SYS ($CYCLES cycles)" >&2
	start_daemon "$T/$SYS" --config "$TOP/conf/uzram.conf" --socket "$SOCK" "$@" || return 1
	local loop
	attach_loop "$T/$SYS" || return 1
	loop=$LOOP
	run_cycles "$loop" "$T/mnt-$SYS"
	losetup -d "$loop"
	stop_daemon "$DPID"
}

# Huge page pool: hp_reserve N makes N more pages free than the pool had
# free at the start (the old size is put back by hp_restore, also on exit).
NR=/proc/sys/vm/nr_hugepages
NR_OLD=$(cat "$NR")
hp_free() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
hp_restore() { echo "$NR_OLD" >"$NR"; }
trap 'hp_restore; cleanup' EXIT
hp_reserve() { # N
	local free0
	hp_restore
	free0=$(hp_free)
	echo $((NR_OLD + $1)) >"$NR"
	if [ "$(hp_free)" -lt $((free0 + $1)) ]; then
		echo "bench-seed: asked for $1 more huge pages, got $(($(hp_free) - free0)) (memory fragmented?)" >&2
	fi
	echo "bench-seed: huge page pool: $(hp_free) free (vm.nr_hugepages $(cat "$NR"))" >&2
}

for m in "${MODES[@]}"; do
	case $m in
	hugetlb) hp_reserve 320; run_uzram "uzram-$m" --arena hugetlb ;;
	hugetlb-short) hp_reserve 100; run_uzram "uzram-$m" --arena hugetlb ;;
	recompress) run_uzram "uzram-$m" --arena thp ;;
	*) run_uzram "uzram-$m" --arena "$m" ;;
	esac
	hp_restore
done
[ "$OFF_RUN" = 1 ] && run_uzram uzram-nocompact --arena thp --compaction off
if [ "$UZRAM_ONLY" = 0 ] && zram_up 4G; then
	SYS=zram
	echo "bench-seed: kernel zram0, lz4 ($CYCLES cycles)" >&2
	run_cycles /dev/zram0 "$T/mnt-zram"
	zram_down
else
	echo "bench-seed: kernel zram skipped (absent, in use, or --uzram-only)" >&2
fi

# The RFC's table, per system.
for sys in $(tail -n +2 "$CSV" | cut -d, -f1 | uniq); do
	echo
	echo "* $sys"
	echo "orig_size compr_size used_size overhead overhead_ratio   real real_ratio     RSS  arenas H/T/P extract"
	awk -F, -v s="$sys" '$1 == s {
		printf "%8.2fMB %8.2fMB %8.2fMB %7.2fMB %7.2f%% %7s %8s %9s %13s %6s\n",
			$4 / 1048576, $5 / 1048576, $6 / 1048576, $7 / 1048576, $8,
			($9 == "" ? "-" : sprintf("%.2fMB", $9 / 1048576)), ($10 == "" ? "-" : sprintf("%.2f%%", $10)),
			($11 == "" ? "-" : sprintf("%.1fMB", $11 / 1048576)),
			($14 == "" ? "-" : $14 "/" $15 "/" $16), ($13 == "" ? "" : sprintf("%.2fs", $13)) }' "$CSV"
done
echo
echo "Summary over $CYCLES cycles ($((CYCLES * 6)) stages):"
awk -F, 'NR > 1 {
	if (!($1 in n)) order[++ns] = $1
	n[$1]++; used[$1, n[$1]] = $6; if (!($1 in mx) || $8 > mx[$1]) mx[$1] = $8; if (!($1 in mn) || $8 < mn[$1]) mn[$1] = $8
	if ($8 > 2.0) over[$1]++
	if ($13 != "") { ex[$1] += $13; ne[$1]++ }
	if ($11 != "" && $11 + 0 >= $12 + 0) bad[$1]++
	if ($9 != "" && (!($1 in rmx) || $10 > rmx[$1])) rmx[$1] = $10
} END {
	for (i = 1; i <= ns; i++) {
		s = order[i]
		printf "  %-20s overhead_ratio %5.2f %% .. %6.2f %% (over 2.0 %%: %d of %d stages)", s, mn[s], mx[s], over[s], n[s]
		if (s in rmx) printf ", real <= %.2f %%", rmx[s]
		printf ", extract+sync mean %.2f s", ex[s] / ne[s]
		if (s != "zram") printf ", RSS bound %s", (bad[s] ? bad[s] " stages over" : "held at every stage")
		printf "\n"
		mean[s] = ex[s] / ne[s]
	}
	if ("zram" in n) {
		# memory beside zram, stage by stage
		for (i = 1; i <= ns; i++) {
			s = order[i]
			if (s == "zram" || s == "uzram-nocompact") continue
			worst = 0; sum = 0
			for (k = 1; k <= n[s]; k++) { r = used[s, k] / used["zram", k]; sum += r; if (r > worst) worst = r }
			printf "  mem_used_total, %s / kernel zram: mean %.3f, at most %.3f over the stages\n", s, sum / n[s], worst
		}
	}
	if (("uzram-thp" in mean) && ("uzram-nocompact" in mean))
		printf "  extract time, THP arenas, compaction on / off: %.3f\n", mean["uzram-thp"] / mean["uzram-nocompact"]
	for (i = 1; i <= ns; i++)
		if (order[i] != "zram" && order[i] != "uzram-nocompact" && ("zram" in mean))
			printf "  extract time, %s / kernel zram: %.3f\n", order[i], mean[order[i]] / mean["zram"]
}' "$CSV"
echo "CSV: $CSV"

plot() {
	local plots="" uzplots="" sys
	command -v gnuplot >/dev/null || { echo "gnuplot missing: no plot" >&2; return; }
	# uzram-nocompact is there for the extract-time comparison only: its
	# curve (hundreds of %) would flatten the others.
	for sys in $(tail -n +2 "$CSV" | cut -d, -f1 | uniq | grep -v nocompact); do
		awk -F, -v s="$sys" '$1 == s {print ++i, $8}' "$CSV" >"$OUT/$sys.dat"
		plots+="${plots:+, }'$OUT/$sys.dat' using 1:2 with linespoints title '$sys'"
		[ "$sys" != zram ] && uzplots+="${uzplots:+, }'$OUT/$sys.dat' using 1:2 with linespoints title '$sys'"
	done
	# Left: every system; right: the arena modes alone, at a scale where
	# they can be told apart.
	gnuplot <<-GP
		set terminal pngcairo size 1400,550 noenhanced
		set output '$OUT/seed.png'
		set multiplot layout 1,2 title 'Seed workload: overhead_ratio = (mem_used_total - compr_data_size) / compr_data_size'
		set xlabel 'stage (6 per cycle: extract, rm drivers, arch, fs, sound, include)'
		set ylabel 'overhead ratio (%)'
		set grid
		set key top left
		set title 'uzram arena modes and kernel zram'
		set yrange [0:*]
		plot $plots, 2 with lines dashtype 2 title 'target 2 %'
		set title 'uzram arena modes'
		set yrange [0:3]
		plot ${uzplots:-1/0 notitle}, 2 with lines dashtype 2 title 'target 2 %'
		unset multiplot
	GP
	echo "plot: $OUT/seed.png"
	# Memory over the stages: every system beside kernel zram.
	plots=""
	for sys in $(tail -n +2 "$CSV" | cut -d, -f1 | uniq | grep -v nocompact); do
		awk -F, -v s="$sys" '$1 == s {print ++i, $6 / 1048576}' "$CSV" >"$OUT/$sys.mem.dat"
		plots+="${plots:+, }'$OUT/$sys.mem.dat' using 1:2 with linespoints title '$sys'"
	done
	gnuplot <<-GP
		set terminal pngcairo size 1100,550 noenhanced
		set output '$OUT/seed-memory.png'
		set title 'Seed workload: mem_used_total at each stage'
		set xlabel 'stage (6 per cycle: extract, rm drivers, arch, fs, sound, include)'
		set ylabel 'mem_used_total (MiB)'
		set grid
		set key top right
		set yrange [0:*]
		plot $plots
	GP
	echo "plot: $OUT/seed-memory.png"
}
plot
bench_end
