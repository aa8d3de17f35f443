#!/usr/bin/env bash
# make bench-swap: compressed swap side by side in one run, uzram against
# kernel zram (lz4, only when zram0 is unused: disksize 0; reset
# afterwards).  The workload of the compressed-swap anchors: swapfill fills
# MIB MiB (default 1200) of pages about 30 % compressible by LZ4 inside a
# memory cgroup of LIMIT MiB (default 256; v1: memory.limit_in_bytes and
# memory.swappiness = 100), then checks every page twice, once with the
# checks in order (forward, then backward) and once scattered (page faults
# one at a time).
#   uzram: uzramd (size = 2G, fs-type = swap) started outside the cgroup,
#     losetup --direct-io=on, mkswap, swapon --discard=pages -p 100;
#   zram:  zram0 of 2G, lz4, mkswap, swapon --discard=pages -p 100
#   (devices of MIB + 512 MiB when that is more than 2G).
# Each run gets a fresh device, so that one run's leftovers do not count in
# the next; the systems alternate within each order.
#
# What is measured, and how:
#   - time: swapfill's own fill + verify phase times (their sum);
#   - swap-out rate: pages swapped out during the fill / the fill's time,
#     swap-in rate: pages swapped in during both checks / their time.
#     swapfill reads pswpout and pswpin from /proc/vmstat itself at each
#     phase's start and end, so the counts match the phases exactly (a
#     script polling its output could not tell where one phase ends);
#   - memory per swapped byte: mem_used_total / orig_data_size (uzramctl
#     mm_stat; zram's /sys/block/zram0/mm_stat), read while the data is
#     still on the device: swapfill --hold keeps its pages mapped after
#     the last check and prints "holding"; the figures are read then, and
#     SIGUSR1 ends the hold.  The kernel frees a zram slot when its page
#     is swapped in (SWP_SYNCHRONOUS_IO) but keeps a loop device's slot in
#     the swap cache, so uzram's orig also counts pages that are back in
#     RAM: compare the ratio, not the amounts.  What the memory buys is
#     the second table: mem_used_total / the program's own pages out in
#     swap (VmSwap), which also counts data on the device that is no
#     longer anyone's: freed slots not yet discarded.
# The counters are system-wide: keep the machine otherwise idle.  Each
# swapfill run is bounded by a deadline (TIMEOUT s, then SIGKILL), other
# long steps by timeout(1): the bench cannot hang for good.  Prints a
# table of figures and ratios from this run only; not a pass/fail test
# (a page that does not verify is reported as a failed check).
# uzramd's transport follows io-uring = auto (the module parameter
# enable_uring, system-wide); UZ_IO_URING=yes|no (lib.sh) fixes it.  The
# table says which one each run had.
# Usage: tests/bench/swap.sh [--mib N] [--limit M] [--uzram-only]
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
CMD="$0${*:+ $*}"
MIB=1200 LIMIT=256 TIMEOUT=300 ONLY_UZRAM=0
usage() { echo "usage: $0 [--mib N] [--limit M] [--uzram-only]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--mib) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; MIB=$2; shift ;;
	--limit) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; LIMIT=$2; shift ;;
	--uzram-only) ONLY_UZRAM=1 ;;
	*) usage ;;
	esac
	shift
done
need_root
SWAPFILL=$TOOLS/swapfill
[ -x "$SWAPFILL" ] || { echo "missing $SWAPFILL (make $(basename "$TOOLS")/swapfill, or make bench-swap)" >&2; exit 2; }
# The device holds what does not fit in the cgroup; at least 2 GiB.
SIZE=$(( MIB + 512 > 2048 ? MIB + 512 : 2048 ))M
progress() { echo "bench-swap: $*" >&2; }

# Swap devices this script turned on, and the running swapfill: lib.sh's
# cleanup knows neither.  The program dies first (its pages would otherwise
# be read back by swapoff), then swapoff, then the loops, daemons, zram0
# and the cgroup as lib.sh undoes them.
SWAPS=()
SFPID=""
swap_on() { mkswap -q "$1" && swapon --discard=pages -p 100 "$1" && SWAPS+=("$1"); }
# swap_off DEV: off, and forgotten once it is off.
swap_off() {
	local d keep=()
	for d in "${SWAPS[@]}"; do
		if [ "$d" != "$1" ] || { grep -q "^${d}[[:space:]]" /proc/swaps && ! timeout 120 swapoff "$d"; }; then
			keep+=("$d")
		fi
	done
	SWAPS=("${keep[@]}")
}
bench_cleanup() {
	local d
	[ -n "$SFPID" ] && kill -KILL "$SFPID" 2>/dev/null && gone "$SFPID" 10
	for d in "${SWAPS[@]}"; do swap_off "$d"; done
	for d in "${SWAPS[@]}"; do
		echo "bench-swap: $d is still swapped on (a process stuck on it?): swapoff $d by hand" >&2
	done
	cleanup
}
trap bench_cleanup EXIT

# Swap devices not this script's at priority 100 or more: the kernel
# would spread swapfill's pages over them too (round robin at equal
# priority), which makes the figures meaningless and, if one of them is
# stuck, hangs the program.  Lower ones are used only once ours is full.
foreign_swaps() {
	local name prio mine d
	while read -r name _ _ _ prio; do
		mine=0
		for d in "${SWAPS[@]}"; do [ "$d" = "$name" ] && mine=1; done
		[ $mine = 0 ] && [ "$prio" -ge 100 ] && echo "$name (priority $prio)"
	done < <(tail -n +2 /proc/swaps)
}
if [ -n "$(foreign_swaps)" ]; then
	echo "bench-swap: other swap devices are on at priority >= 100, they would take pages too:" \
		"$(foreign_swaps | tr '\n' ' ')- swapoff them first" >&2
	exit 1
fi
memcg_make $((LIMIT << 20)) || { echo "no memory cgroup controller" >&2; exit 1; }
[ -e "$MEMCG/memory.swappiness" ] && echo 100 >"$MEMCG/memory.swappiness"
# cgroup v2: memcg_make forbids swap for the tests; this bench needs it.
[ -e "$MEMCG/memory.swap.max" ] && echo max >"$MEMCG/memory.swap.max"

ZRAM_WHY=""
if [ $ONLY_UZRAM = 1 ]; then ZRAM_WHY="--uzram-only"
elif [ ! -e /sys/block/zram0 ]; then ZRAM_WHY="no /sys/block/zram0"
elif [ "$(cat /sys/block/zram0/disksize)" != 0 ]; then ZRAM_WHY="zram0 is in use (disksize $(cat /sys/block/zram0/disksize))"
fi
SYSTEMS=(zram uzram)
[ -n "$ZRAM_WHY" ] && SYSTEMS=(uzram)

# Each system: up -> $DEV swapped on; down; mm_SYSTEM prints its mm_stat.
up_uzram() {
	conf "$T/swap.conf" "size = $SIZE" "fs-type = swap"
	start_daemon "$T/uz" --config "$T/swap.conf" --socket "$T/uz.sock" || return 1
	attach_loop "$T/uz" || return 1
	DEV=$LOOP
	swap_on "$DEV" || return 1
	TRANSPORTS+=("$(stat_of "$T/uz.sock" transport)")
	progress "uzram: $DEV over $T/uz, transport ${TRANSPORTS[-1]}," \
		"daemon's memory cgroup $(awk -F: '$2 == "memory" {print $3}' "/proc/$DPID/cgroup")"
}
down_uzram() { swap_off "$DEV"; losetup -d "$DEV"; stop_daemon "$DPID"; }
# mm_SYSTEM: orig_data_size compr_data_size mem_used_total ...
mm_uzram() { settle "$T/uz.sock"; uzctl -t 30 "$T/uz.sock" mm_stat; }
up_zram() {
	zram_up "$SIZE" || { ZRAM_WHY="zram_up failed"; return 1; }
	DEV=/dev/zram0
	swap_on "$DEV" || return 1
}
down_zram() { swap_off "$DEV"; zram_down; }
mm_zram() { cat /sys/block/zram0/mm_stat; }

# R[system,order,key]: the figures.
declare -A R
TRANSPORTS=()
# phase_sum FILE PREFIX KEY: the sum over swapfill's lines starting with
# PREFIX of the value after KEY (pswpout, pswpin) or before "s" (seconds).
phase_sum() {
	awk -v p="$2" -v k="$3" 'index($0, p) == 1 {
		for (i = 2; i <= NF; i++) if (k == "s" ? $i == "s" : $(i - 1) == k) v += $(k == "s" ? i - 1 : i)
	} END {printf "%.3f", v}' "$1"
}

# gone PID SECONDS: true once PID has ended, false if it is still there
# after SECONDS.
gone() {
	for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

run_one() { # SYSTEM ORDER
	local s=$1 o=$2 out=$T/$1-$2.out err=$T/$1-$2.err deadline rc orig compr used vmswap mixed=""
	if [ -n "$(foreign_swaps)" ]; then
		fail "$s, $o: not run: another swap device came on: $(foreign_swaps | tr '\n' ' ')"
		return 1
	fi
	"up_$s" || { fail "$s: no swap device"; "down_$s" 2>/dev/null; return 1; }
	progress "$s, $o: swapfill $MIB MiB in $LIMIT MiB ..."
	# memcg_run's line, inline so that $! is swapfill itself.
	bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$MEMCG" \
		"$SWAPFILL" --order "$o" --hold 120 "$MIB" >"$out" 2>"$err" &
	SFPID=$!
	deadline=$((SECONDS + TIMEOUT))
	while kill -0 "$SFPID" 2>/dev/null && ! grep -q '^holding' "$out"; do
		[ $SECONDS -ge $deadline ] && { progress "$s, $o: still running after $TIMEOUT s: killed"; kill -KILL "$SFPID"; break; }
		[ -z "$mixed" ] && mixed=$(foreign_swaps)
		sleep 0.2
	done
	if grep -q '^holding' "$out"; then
		read -r orig compr used _ < <("mm_$s")
		R[$s,$o,orig]=$orig R[$s,$o,compr]=$compr R[$s,$o,used]=$used
		vmswap=$(awk '/^VmSwap:/ {print $2}' "/proc/$SFPID/status")
		R[$s,$o,vmswap]=$(( ${vmswap:-0} << 10 ))
		kill -USR1 "$SFPID"
	fi
	if gone "$SFPID" 30 || { kill -KILL "$SFPID"; gone "$SFPID" 30; }; then
		wait "$SFPID"
		rc=$?
		SFPID=""
	else
		rc="none: the process is stuck (state $(awk '{print $3}' "/proc/$SFPID/stat"))"
	fi
	sed 's/^/    /' "$out" >&2
	[ -s "$err" ] && sed 's/^/    stderr: /' "$err" | head -n 20 >&2
	[ -z "$mixed" ] && mixed=$(foreign_swaps)
	if [ -n "$mixed" ]; then
		fail "$s, $o: figures dropped: another swap device came on during the run: $(tr '\n' ' ' <<<"$mixed")"
		unset "R[$s,$o,orig]" "R[$s,$o,compr]" "R[$s,$o,used]" "R[$s,$o,vmswap]"
	elif [ "$rc" = 0 ]; then
		R[$s,$o,fill_s]=$(phase_sum "$out" fill s)
		R[$s,$o,out]=$(phase_sum "$out" fill pswpout)
		R[$s,$o,verify_s]=$(phase_sum "$out" verify s)
		R[$s,$o,in]=$(phase_sum "$out" verify pswpin)
	else
		fail "$s, $o: swapfill exited with $rc ($(tail -n1 "$out"))"
	fi
	"down_$s"
}

progress "$MIB MiB in a $LIMIT MiB memory cgroup ($MEMCG), devices of $SIZE;" \
	"vm.page-cluster $(cat /proc/sys/vm/page-cluster), vm.swappiness $(cat /proc/sys/vm/swappiness)," \
	"the cgroup's $(cat "$MEMCG/memory.swappiness" 2>/dev/null || echo "(v2: none)")"
[ -n "$ZRAM_WHY" ] && progress "kernel zram skipped: $ZRAM_WHY"
for o in seq random; do
	for s in "${SYSTEMS[@]}"; do
		run_one "$s" "$o"
	done
done

# div A B SCALE FMT: A * SCALE / B, or "-" when A or B is missing or B is 0.
div() {
	awk -v a="$1" -v b="$2" -v k="$3" -v f="$4" \
		'BEGIN {if (a == "" || a == "-" || b == "" || b == "-" || b + 0 == 0) print "-"; else printf f "\n", a * k / b}'
}
# The figures of SYSTEM, ORDER: seconds (fill + checks), swap-out and
# swap-in MiB/s (4 KiB pages: 256 a MiB), memory per swapped byte.
total() {
	awk -v a="${R[$1,$2,fill_s]:-}" -v b="${R[$1,$2,verify_s]:-}" \
		'BEGIN {if (a == "" || b == "") print "-"; else printf "%.2f\n", a + b}'
}
rate() { div "${R[$1,$2,$3]:-}" "${R[$1,$2,$4]:-}" 0.00390625 '%.1f'; }
perbyte() { div "${R[$1,$2,used]:-}" "${R[$1,$2,orig]:-}" 1 '%.3f'; }
ratio() { div "$1" "$2" 1 '%.2f'; }

echo
echo "swapfill $MIB MiB in a $LIMIT MiB memory cgroup; swap on kernel zram0 (lz4) and on uzram (loop, direct I/O)"
echo
echo "| order  | zram s | uzram s | speed (zram s / uzram s) | out MiB/s zram | out uzram | in MiB/s zram | in uzram | used/orig zram | used/orig uzram | uzram / zram |"
echo "|--------|--------|---------|--------------------------|----------------|-----------|---------------|----------|----------------|-----------------|--------------|"
for o in seq random; do
	zt=$(total zram $o) ut=$(total uzram $o) zb=$(perbyte zram $o) ub=$(perbyte uzram $o)
	printf '| %-6s | %6s | %7s | %24s | %14s | %9s | %13s | %8s | %14s | %15s | %12s |\n' "$o" "$zt" "$ut" \
		"$(ratio "$zt" "$ut")" "$(rate zram $o out fill_s)" "$(rate uzram $o out fill_s)" \
		"$(rate zram $o in verify_s)" "$(rate uzram $o in verify_s)" "$zb" "$ub" "$(ratio "$ub" "$zb")"
done
echo
echo "s: fill + both checks (swapfill's phase times); out: pages swapped out during the fill / its time;"
echo "in: pages swapped in during the checks / their time; used/orig: mem_used_total / orig_data_size,"
echo "read while swapfill held its pages after the checks.  seq: checks forward, then backward; random:"
echo "in a scattered order; speed: zram's time over uzram's (uzram's speed as a share of zram's); the"
echo "last column: uzram's used/orig over zram's (lower is better).  Ratios from this run only."
echo "uzramd's transport, run by run: ${TRANSPORTS[*]:-none}"
echo
echo "| order  | used MiB zram | used MiB uzram | VmSwap MiB zram | VmSwap uzram | used/VmSwap zram | used/VmSwap uzram | uzram / zram |"
echo "|--------|---------------|----------------|-----------------|--------------|------------------|-------------------|--------------|"
for o in seq random; do
	zb=$(div "${R[zram,$o,used]:-}" "${R[zram,$o,vmswap]:-}" 1 '%.3f')
	ub=$(div "${R[uzram,$o,used]:-}" "${R[uzram,$o,vmswap]:-}" 1 '%.3f')
	printf '| %-6s | %13s | %14s | %15s | %12s | %16s | %17s | %12s |\n' "$o" \
		"$(div "${R[zram,$o,used]:-}" 1048576 1 '%.0f')" "$(div "${R[uzram,$o,used]:-}" 1048576 1 '%.0f')" \
		"$(div "${R[zram,$o,vmswap]:-}" 1048576 1 '%.0f')" "$(div "${R[uzram,$o,vmswap]:-}" 1048576 1 '%.0f')" \
		"$zb" "$ub" "$(ratio "$ub" "$zb")"
done
echo
echo "used: mem_used_total while swapfill held its pages; VmSwap: that program's pages out in swap then."
for o in seq random; do
	for s in "${SYSTEMS[@]}"; do
		[ -n "${R[$s,$o,orig]:-}" ] && printf '  %-5s %-6s: orig %d MiB, compr %d MiB, used %d MiB\n' "$s" "$o" \
			$((R[$s,$o,orig] >> 20)) $((R[$s,$o,compr] >> 20)) $((R[$s,$o,used] >> 20))
	done
done
[ -n "$ZRAM_WHY" ] && echo "kernel zram: not measured ($ZRAM_WHY)"
echo "command: $CMD"
bench_end
