# Swap on uzram, and forward progress when memory is short:
#  1. swapfill (tests/swapfill.c) fills more than its memory cgroup allows
#     with pages of known content, swapped out to uzram through a loop
#     device, and checks every page twice; uzramd outside the cgroup;
#  2. discard frees the memory of the slots the kernel freed, swap staying
#     on; swapoff brings every page back and orig_data_size falls to 0;
#  3. two uzram swap devices at once, both used;
#  4. uzramd inside the same memory cgroup as swapfill (the deadlock case),
#     with hugetlb arenas (a pool reserved in advance: not charged to the
#     cgroup), over /dev/fuse and over io_uring: swapfill ends within a
#     bound, every page verified or swapfill OOM-killed by the kernel, never
#     a hang, and the daemon alive and serving afterwards;
#  5. bad settings: fs-type = swap with a mount-point, with lock-memory = no
#     or persist, a bad swap-priority, a reserve beyond mem-limit.
# A hang is broken by aborting the FUSE connection, so the test always ends.
source "$(dirname "$0")/lib.sh"
need_root
command -v swapon >/dev/null && command -v mkswap >/dev/null || { echo "SKIP: no swapon/mkswap"; exit 77; }
SWAPFILL=$TOOLS/swapfill
[ -x "$SWAPFILL" ] || { fail "$SWAPFILL missing (make $SWAPFILL)"; finish; }
[ -d /sys/fs/cgroup/memory ] || grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null ||
	{ echo "SKIP: no memory cgroup controller"; exit 77; }

SWAPS=()
CONNS=()
NR=/proc/sys/vm/nr_hugepages
old_nr=$(cat "$NR")
swap_cleanup() {
	local l i
	for ((i = ${#SWAPS[@]} - 1; i >= 0; i--)); do
		l=${SWAPS[i]}
		grep -q "^$l[[:space:]]" /proc/swaps || continue
		# A device whose daemon hangs would hang swapoff: abort its
		# connections first (reads then fail, swapoff marks the pages).
		swapoff_bounded "$l"
	done
	cleanup
	echo "$old_nr" >"$NR"
}
trap swap_cleanup EXIT

# The FUSE connection of the file a daemon serves (its minor device
# number), kept so that a hang can be broken even once unmounted.
record_conn() { CONNS+=("$(mountpoint -d "$1" | cut -d: -f2)"); }
# Aborts the FUSE connections of every daemon this test started: every
# waiting request fails (swap reads then mark their pages lost).
abort_fuse() {
	local c
	mountpoint -q /sys/fs/fuse/connections || mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	for c in "${CONNS[@]}"; do
		[ -e "/sys/fs/fuse/connections/$c/abort" ] && echo 1 >"/sys/fs/fuse/connections/$c/abort"
	done
}
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$s" != Z ]; }
# bounded SECONDS CMD...: CMD's status, or 124 if it has not ended by then
# (it is left behind: a process in uninterruptible sleep cannot be killed,
# and the test must end all the same).
bounded() {
	local n=$(($1 * 10)) p
	shift
	"$@" &
	p=$!
	for _ in $(seq "$n"); do alive "$p" || { wait "$p"; return; }; sleep 0.1; done
	return 124
}
# swapoff_bounded DEV: swapoff; if it hangs (a daemon that cannot serve),
# the connections are aborted and it is tried once more.
swapoff_bounded() {
	bounded 60 swapoff "$1" && return 0
	abort_fuse
	bounded 60 swapoff "$1"
}

# swap_memcg BYTES: a memory cgroup in $MEMCG that may swap (v1: swappiness
# 100; v2: swap allowed), removed by cleanup.
swap_memcg() {
	memcg_make "$1" || return 1
	if [ -e "$MEMCG/memory.swappiness" ]; then
		echo 100 >"$MEMCG/memory.swappiness"
	elif [ -e "$MEMCG/memory.swap.max" ]; then
		echo max >"$MEMCG/memory.swap.max"
	fi
}
memcg_set_limit() {
	if [ -e "$MEMCG/memory.max" ]; then echo "$1" >"$MEMCG/memory.max"; else echo "$1" >"$MEMCG/memory.limit_in_bytes"; fi
}
oom_kills() {
	if [ -e "$MEMCG/memory.events" ]; then awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.events"
	else awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.oom_control"; fi
}

# swap_on FILE SOCKET: a loop device over FILE made swap, in $LOOP.
swap_on() {
	attach_loop "$1" || return 1
	mkswap "$LOOP" >/dev/null || return 1
	swapon --discard=pages -p 100 "$LOOP" || return 1
	SWAPS+=("$LOOP")
}
# bg_in_memcg OUT CMD...: CMD inside $MEMCG, in the background, output to
# OUT; its PID (CMD's own: exec'd) in BG.
bg_in_memcg() {
	local out=$1
	shift
	bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$MEMCG" "$@" >"$out" 2>&1 &
	BG=$!
	PIDS+=("$BG")
}
# wait_bounded PID SECONDS: PID's exit status; if it has not ended by then,
# the FUSE connections are aborted (every waiting request fails) and the
# status is 124: a hang, broken.
wait_bounded() {
	local pid=$1
	for _ in $(seq $(($2 * 10))); do
		alive "$pid" || { wait "$pid"; return; }
		sleep 0.1
	done
	abort_fuse
	for _ in $(seq 600); do alive "$pid" || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	alive "$pid" || wait "$pid" 2>/dev/null
	return 124
}
pswpout() { awk '$1 == "pswpout" {print $2}' /proc/vmstat; }
# wait_for SECONDS COMMAND...: polls until the command succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
below() { [ "$(stat_of "$1" "$2")" -lt "$3" ]; }

conf "$T/s.conf" "size = 2G" "fs-type = swap" "reserve = 16M" "recomp-algorithm = off"

# 1. uzramd outside the cgroup.
start_daemon "$T/s" --config "$T/s.conf" --socket "$T/s.sock" || { fail "uzramd with fs-type = swap"; finish; }
record_conn "$T/s"
check "a swap device: its slot table made whole at start (2 GiB: 8 MiB)" test "$(stat_of "$T/s.sock" table_bytes)" -ge $((8 << 20))
check "... its reserve full" test "$(stat_of "$T/s.sock" reserve_bytes)" = $((16 << 20))
check "the journal says whether PR_SET_IO_FLUSHER is in force" grep -q "PR_SET_IO_FLUSHER: " "$T/uzramd.log"
swap_on "$T/s" || { fail "mkswap and swapon on the loop device"; finish; }
check "uzramctl: [SWAP] as MOUNTPOINT" test "$(uzctl "$T/s.sock" -o MOUNTPOINT -n -r)" = "[SWAP]"
swap_memcg $((256 << 20)) || { fail "a memory cgroup"; finish; }
out0=$(pswpout)
t0=$SECONDS
bg_in_memcg "$T/fill1" "$SWAPFILL" --order seq 600
wait_bounded "$BG" 300
rc=$?
log "swapfill 600 MiB in a 256 MiB cgroup, uzramd outside: exit $rc in $((SECONDS - t0)) s, $(( ($(pswpout) - out0) / 256 )) MiB swapped out"
sed 's/^/  | /' "$T/fill1"
check "every page verified twice" test "$rc" = 0
check "... and swapped out on the way" test $(( $(pswpout) - out0 )) -gt $((256 * 256))
# (A write that finds the reserve empty fails at once and the kernel keeps
# the page; nothing else may fail.)
log "failed_writes $(stat_of "$T/s.sock" failed_writes), reserve_misses $(stat_of "$T/s.sock" reserve_misses)"
check "every failed write was a reserve miss, retried by the kernel" \
	test "$(stat_of "$T/s.sock" failed_writes)" = "$(stat_of "$T/s.sock" reserve_misses)"
# 2. Discard: the program's pages are gone, so are the slots' contents.
check "discard frees the memory with swap on (orig_data_size under 4 MiB)" \
	wait_for 30 below "$T/s.sock" orig_data_size $((4 << 20))
bg_in_memcg "$T/fill2" "$SWAPFILL" --order random --passes 1 --hold 60 400
FILL=$BG
check "a random-order fill verified, then holding" wait_for 120 grep -q "^holding" "$T/fill2"
held=$(stat_of "$T/s.sock" orig_data_size)
log "held in uzram: orig_data_size $held, mem_used_total $(stat_of "$T/s.sock" mem_used_total)"
check "... with its pages in uzram" test "$held" -gt $((64 << 20))
memcg_set_limit $((2 << 30)) # room for what swapoff brings back
t0=$(date +%s.%N)
check "swapoff brings every page back" swapoff_bounded "$LOOP"
log "swapoff of $((held >> 20)) MiB: $(since "$t0") s"
check "... the program still alive, holding them" kill -0 "$FILL"
# (swapoff discards nothing: the area's contents stay until discarded)
check "... and a discard of the whole device frees it all (orig_data_size 0)" \
	bash -c "blkdiscard -f '$LOOP' && [ \"\$(uzctl '$T/s.sock' mm_stat | cut -d' ' -f1)\" = 0 ]"
kill "$FILL" 2>/dev/null
wait "$FILL" 2>/dev/null
memcg_set_limit $((256 << 20))

# 3. Two devices at once.
mkswap "$LOOP" >/dev/null && swapon --discard=pages -p 100 "$LOOP" || fail "swapon again"
start_daemon "$T/s2" --config "$T/s.conf" --socket "$T/s2.sock" || { fail "a second swap device"; finish; }
record_conn "$T/s2"
swap_on "$T/s2" || { fail "swapon on the second device"; finish; }
bg_in_memcg "$T/fill3" "$SWAPFILL" --order seq --passes 1 --hold 60 600
FILL=$BG
check "two swap devices: the fill verified" wait_for 120 grep -q "^holding" "$T/fill3"
log "orig_data_size: $(stat_of "$T/s.sock" orig_data_size) and $(stat_of "$T/s2.sock" orig_data_size)"
check "... both devices hold pages" test "$(stat_of "$T/s.sock" orig_data_size)" -gt $((16 << 20)) -a \
	"$(stat_of "$T/s2.sock" orig_data_size)" -gt $((16 << 20))
kill "$FILL" 2>/dev/null
wait "$FILL" 2>/dev/null
for l in "${SWAPS[@]}"; do swapoff_bounded "$l"; done
stop_daemon "$DPID" # the second
check "SIGTERM exits 0 (first device)" stop_daemon "${PIDS[0]}"
for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done

# 4. uzramd inside the same cgroup (1 GiB) as a fill of 1100 MiB.  Its
# arenas are hugetlb pages from a pool reserved now: what it stores is not
# charged to the cgroup (cgroup v1; v2 without memory_hugetlb_accounting),
# as kernel zram's memory is not.  (THP arenas would be: then each page
# swapped out makes room for only 1 - its compression ratio, and once the
# reserve is used up the kernel retries failed swap writes rather than
# OOM-kill: see README, "Swap".)
echo $((old_nr + 480)) >"$NR"
conf "$T/h.conf" "size = 2G" "fs-type = swap" "reserve = 16M" "recomp-algorithm = off" "arena = hugetlb"
for transport in dev io_uring; do
	if [ "$(cat "$NR")" -lt $((old_nr + 480)) ]; then
		log "cannot reserve 480 huge pages (got $(( $(cat "$NR") - old_nr ))): the in-cgroup runs need them"
		fail "hugetlb pool for the in-cgroup runs"
		break
	fi
	if [ "$transport" = io_uring ]; then
		[ -e "$URING_PARAM" ] || { log "no FUSE over io_uring on this kernel: io_uring run skipped"; continue; }
		UZ_IO_URING=yes
	fi
	rm -f "$T/in"
	swap_memcg $((1 << 30)) || { fail "a memory cgroup"; finish; }
	DAEMON_MEMCG=$MEMCG
	start_daemon "$T/in" --config "$T/h.conf" --socket "$T/in.sock" || { fail "$transport: uzramd inside the cgroup"; finish; }
	DAEMON_MEMCG=
	record_conn "$T/in"
	check "$transport: uzramd runs inside the cgroup" grep -qx "$DPID" "$MEMCG/cgroup.procs"
	check "$transport: ... on hugetlb arenas" test "$(stat_of "$T/in.sock" arena_kind)" = hugetlb
	swap_on "$T/in" || { fail "$transport: swapon"; finish; }
	t0=$SECONDS
	bg_in_memcg "$T/fill4" "$SWAPFILL" --order seq 1100
	wait_bounded "$BG" 300
	rc=$?
	took=$((SECONDS - t0))
	log "$transport: swapfill 1100 MiB with uzramd in the same 1 GiB cgroup: exit $rc in $took s;" \
		"reserve_misses $(stat_of "$T/in.sock" reserve_misses), failed_writes $(stat_of "$T/in.sock" failed_writes)," \
		"oom kills $(oom_kills), cgroup peak $(memcg_peak)"
	sed 's/^/  | /' "$T/fill4"
	if [ "$rc" = 124 ]; then
		fail "$transport: swapfill hung (300 s): the FUSE connection was aborted"
	else
		check "$transport: every page verified, or swapfill OOM-killed by the kernel (exit $rc)" \
			bash -c "[ $rc = 0 ] || { [ $rc = 137 ] && [ '$(oom_kills)' -gt 0 ]; }"
	fi
	check "$transport: the daemon is alive" kill -0 "$DPID"
	check "$transport: ... and answers" quiet uzctl "$T/in.sock" mm_stat
	check "$transport: swapoff" swapoff_bounded "$LOOP"
	check "$transport: SIGTERM exits 0" stop_daemon "$DPID"
	losetup -d "$LOOP" 2>/dev/null
	UZ_IO_URING=
done
echo "$old_nr" >"$NR"

# 5. Bad settings: refused at start, naming the keys.
for bad in "mount-point = /mnt/x" "lock-memory = no" "persist = /var/lib/uzram/x.snapshot" "reserve = 0" \
	"options = discard,sometimes" "swap-priority = 40000" "swap-priority = high"; do
	conf "$T/bad.conf" "size = 64M" "fs-type = swap" "$bad"
	out=$("$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/bad.sock" "$T/bad" 2>&1)
	rc=$?
	check "swap with '$bad': refused (exit $rc)" test "$rc" -ne 0
	check "... naming the key" grep -q "${bad%% *}" <<<"$out"
	log "$(head -n1 <<<"$out")"
done
conf "$T/bad.conf" "size = 64M" "mem-limit = 32M" "reserve = 64M"
out=$("$UZRAMD" --foreground --config "$T/bad.conf" --socket "$T/bad.sock" "$T/bad" 2>&1)
check "a reserve beyond mem-limit: refused" grep -q "reserve 67108864 is more than mem-limit 33554432" <<<"$out"
finish
