# tests/integration/lib.sh - shared by the shell integration tests.
#
# Each test sources this, gets its own temp folder ($T), and registers
# what it starts (daemons by PID, loop devices, mounts); the EXIT trap
# undoes all of it in reverse order, also when the test fails.  Checks
# are counted; the test ends with "N passed, N failed".

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${UZ_BIN:-$TOP/}
UZRAMD=${BIN%/}/uzramd
UZRAMCTL=${BIN%/}/uzramctl
TOOLS=${UZ_TOOLS:-$TOP/build/tests}
CACHE=${UZ_CACHE:-/var/cache/uzram}
T=$(mktemp -d /tmp/uzram-test.XXXXXX)
PASSED=0
FAILED=0
PIDS=()
LOOPS=()
MOUNTS=()
CGROUPS=()

log() { printf '  %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL %s\n' "$*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# quiet COMMAND...: the command with its standard output dropped; silent:
# with both outputs dropped.
quiet() { "$@" >/dev/null; }
silent() { "$@" >/dev/null 2>&1; }

# Kernel zram for side-by-side benchmarks: only when zram0 is unused
# (disksize 0); zram_up returns 1 otherwise.  Reset by zram_down and, at
# the latest, by cleanup.
ZRAM_USED=0
zram_up() { # SIZE
	[ -e /sys/block/zram0 ] && [ "$(cat /sys/block/zram0/disksize)" = 0 ] || return 1
	ZRAM_USED=1
	echo lz4 >/sys/block/zram0/comp_algorithm
	echo "$1" >/sys/block/zram0/disksize
}
zram_down() {
	[ "$ZRAM_USED" = 1 ] && echo 1 >/sys/block/zram0/reset
	ZRAM_USED=0
}

# FUSE over io_uring's switch (system-wide).  A test that may change it
# calls uring_param_save first; cleanup puts the saved value back.
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_SAVED=""
uring_param_save() {
	[ -z "$URING_SAVED" ] && [ -e "$URING_PARAM" ] && URING_SAVED=$(cat "$URING_PARAM")
	return 0
}
uring_param_set() { uring_param_save; echo "$1" >"$URING_PARAM"; }
# UZ_IO_URING=yes|no|auto: the transport of every daemon start_daemon
# starts (run.sh runs the data-path tests once more with yes).
UZ_IO_URING=${UZ_IO_URING:-}

cleanup() {
	local i pid
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		mountpoint -q "${MOUNTS[i]}" && umount "${MOUNTS[i]}" 2>/dev/null
	done
	for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do
		losetup "${LOOPS[i]}" >/dev/null 2>&1 && losetup -d "${LOOPS[i]}" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	zram_down
	[ -n "$URING_SAVED" ] && echo "$URING_SAVED" >"$URING_PARAM"
	for ((i = ${#CGROUPS[@]} - 1; i >= 0; i--)); do
		rmdir "${CGROUPS[i]}" 2>/dev/null
	done
	# A daemon that died leaves its FUSE mount behind (ENOTCONN).
	grep -F " $T/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m"; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A benchmark's end: what failed on the way (a check), else nothing; no
# test-runner summary line.
bench_end() {
	[ "$FAILED" -eq 0 ] && exit 0
	printf '%d checks failed\n' "$FAILED"
	exit 1
}

finish() {
	if [ "$FAILED" -gt 0 ] && [ -s "$T/uzramd.log" ]; then
		echo "  -- the last lines of the daemons' log:"
		tail -n 40 "$T/uzramd.log" | sed 's/^/  | /'
	fi
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
	exit $?
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (FUSE mounts, loop devices)"; exit 77; fi
	[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse on this machine"; exit 77; }
}

# start_daemon PATH ARGS...: runs uzramd in the foreground (as a child we
# can kill by PID) and waits until PATH is served.  Sets DPID.  With
# DAEMON_MEMCG set, the daemon starts inside that memory cgroup.
start_daemon() {
	local path=$1; shift
	local transport
	if [ -n "$UZ_IO_URING" ]; then
		uring_param_save
		set -- --io-uring "$UZ_IO_URING" "$@"
	fi
	if [ -n "${DAEMON_MEMCG:-}" ]; then # started inside that memory cgroup
		bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$DAEMON_MEMCG" "$UZRAMD" --foreground "$@" "$path" \
			>>"$T/uzramd.log" 2>&1 &
	else
		"$UZRAMD" --foreground "$@" "$path" >>"$T/uzramd.log" 2>&1 &
	fi
	DPID=$!
	PIDS+=("$DPID")
	for _ in $(seq 100); do
		if grep -qF " $path fuse.uzram " /proc/mounts && [ -S "$(sock_of "$path" "$@")" ]; then
			[ "$UZ_IO_URING" = yes ] || return 0
			# The socket answers before INIT: wait for the transport.
			for _ in $(seq 300); do
				transport=$(stat_of "$(sock_of "$path" "$@")" io_uring_queues)
				[ "${transport:-0}" != 0 ] && return 0
				sleep 0.1
			done
			echo "uzramd is not serving over io_uring"; cat "$T/uzramd.log"; return 1
		fi
		kill -0 "$DPID" 2>/dev/null || { cat "$T/uzramd.log"; return 1; }
		sleep 0.1
	done
	echo "uzramd did not become ready"; return 1
}

# The socket a daemon started with these arguments uses.
sock_of() {
	local path=$1; shift
	local prev=""
	for a in "$@"; do
		[ "$prev" = "--socket" ] && { echo "$a"; return; }
		prev=$a
	done
	echo "/run/uzram/$(basename "$path").sock"
}

# stop_daemon PID: SIGTERM and wait; returns the daemon's exit status.
stop_daemon() {
	kill -TERM "$1"
	wait "$1"
}

# memcg_make BYTES: a new memory cgroup limited to BYTES, in $MEMCG: cgroup
# v2 (memory.max, no swap) when its memory controller is there, else v1
# (memory.limit_in_bytes) under this process's own memory cgroup.
# Removed by cleanup.  Not called in $(...).
memcg_make() {
	local own
	if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
		MEMCG_N=$((${MEMCG_N:-0} + 1))
		MEMCG=/sys/fs/cgroup/uzram-test.$$.$MEMCG_N
		mkdir "$MEMCG" || return 1
		CGROUPS+=("$MEMCG")
		echo "$1" >"$MEMCG/memory.max" || return 1
		echo 0 >"$MEMCG/memory.swap.max" 2>/dev/null
	elif [ -d /sys/fs/cgroup/memory ]; then
		own=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
		MEMCG_N=$((${MEMCG_N:-0} + 1))
		MEMCG=/sys/fs/cgroup/memory${own%/}/uzram-test.$$.$MEMCG_N
		mkdir "$MEMCG" || return 1
		CGROUPS+=("$MEMCG")
		echo "$1" >"$MEMCG/memory.limit_in_bytes" || return 1
	else
		return 1
	fi
}
# memcg_run CMD...: CMD inside $MEMCG.
memcg_run() { bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$MEMCG" "$@"; }
# memcg_hits: how often the limit was hit; memcg_peak: the peak usage.
memcg_hits() {
	if [ -e "$MEMCG/memory.max" ]; then awk '$1 == "max" {print $2}' "$MEMCG/memory.events"
	else cat "$MEMCG/memory.failcnt"; fi
}
memcg_peak() {
	if [ -e "$MEMCG/memory.max" ]; then cat "$MEMCG/memory.peak" 2>/dev/null || echo "?"
	else cat "$MEMCG/memory.max_usage_in_bytes"; fi
}

# attach_loop FILE: a direct-I/O loop device over FILE, in $LOOP.  Not
# called in $(...): the device must be recorded in this shell for cleanup.
attach_loop() {
	LOOP=$(losetup --direct-io=on -f --show "$1") || return 1
	LOOPS+=("$LOOP")
}

mount_dev() {
	mkdir -p "$2"
	mount -o discard "$1" "$2" || return 1
	MOUNTS+=("$2")
}

# ext4_on FILE MNT [MKFS_OPTION...]: a loop device over FILE (in $LOOP), a
# new ext4 on it, mounted on MNT.  Not called in $(...), as attach_loop.
ext4_on() {
	local file=$1 mnt=$2
	shift 2
	attach_loop "$file" && mkfs.ext4 -q "$@" "$LOOP" && mount_dev "$LOOP" "$mnt"
}

# conf FILE KEY=VALUE...: a config file of those lines.
conf() {
	local f=$1
	shift
	printf '%s\n' "$@" >"$f"
}

# uzctl [-t SECONDS] SOCKET ARGS...: uzramctl with that daemon's socket;
# with -t, killed after SECONDS.  Exported, for checks run in bash -c.
uzctl() {
	local limit=()
	[ "$1" = -t ] && { limit=(timeout "$2"); shift 2; }
	"${limit[@]}" "$UZRAMCTL" --socket "$@"
}
export UZRAMCTL
export -f uzctl

# refused STATUS PATTERN OUTPUT: a command failed (STATUS not 0) and its
# OUTPUT says PATTERN (grep).
refused() { [ "$1" -ne 0 ] && grep -q -- "$2" <<<"$3"; }

# tree_sum DIR SUMS: the sha256 of every file below DIR, into SUMS.
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$2"; }
# tree_same DIR SUMS: every file of SUMS below DIR still has its sum.
tree_same() { (cd "$1" && sha256sum --quiet -c "$2"); }

# remount_verify LOOP MNT SUMS FSCK_CHECK SAME_CHECK: unmounts MNT (when
# mounted), drops the page cache, e2fsck -fn on LOOP, mounts it again and
# compares the tree with SUMS: two checks, with those descriptions.
remount_verify() {
	mountpoint -q "$2" && umount "$2"
	echo 3 >/proc/sys/vm/drop_caches
	check "$4" fsck_clean "$1"
	mount_dev "$1" "$2"
	check "$5" tree_same "$2" "$3"
}

# dev_put FILE DEV: FILE onto DEV from its start, in 1 MiB direct writes.
dev_put() { dd if="$1" of="$2" bs=1M oflag=direct status=none; }
# dev_same DEV FILE: DEV begins with FILE (whole MiB), read with direct I/O.
dev_same() { cmp <(dd if="$1" bs=1M count=$(($(stat -c %s "$2") >> 20)) iflag=direct status=none) "$2"; }

# tar_idle SOCKET DEV MIB: the first MIB MiB of $TAR (the test's
# linux_tar) into $T/data and onto DEV, then every page marked idle.
tar_idle() {
	head -c $(($3 << 20)) "$TAR" >"$T/data"
	dev_put "$T/data" "$2"
	uzctl "$1" idle all >/dev/null
}

# stat_of SOCKET KEY: one counter from the daemon.
stat_of() {
	uzctl "$1" --json | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p"
}

# settle SOCKET: waits (at most 30 s) until mm_stat stops changing and no
# dictionary training holds its scratch memory (RSS checks follow this).
settle() {
	local prev="" cur
	for _ in $(seq 60); do
		cur="$(uzctl "$1" mm_stat) $(stat_of "$1" dict_training)"
		[ "$cur" = "$prev" ] && [ "${cur##* }" != 1 ] && return 0
		prev=$cur
		sleep 0.5
	done
}

# made_ahead SOCKET: memory the daemon makes and touches before it serves,
# beside what it stores: the slot table, the arena reserve, the request
# buffers (the bound of the RSS checks adds this to mem_used_total).
made_ahead() {
	local k v sum=0
	for k in table_bytes reserve_bytes buffer_bytes; do
		v=$(stat_of "$1" "$k")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# reserve_settled SOCKET: waits (at most 10 s) until the daemon's arena
# reserve holds its target again: arenas given back beyond the target are
# unmapped by its own thread, a moment after they come back.
reserve_settled() {
	for _ in $(seq 100); do
		[ "$(stat_of "$1" reserve_bytes)" = "$(stat_of "$1" reserve_target)" ] && return 0
		sleep 0.1
	done
	return 1
}

# since T0: the seconds since T0 (a `date +%s.%N`), with the fraction.
since() { echo "$(date +%s.%N) - $1" | bc; }

# vmlck_kb PID: locked memory (mlock, mlockall).
vmlck_kb() { awk '/^VmLck:/ {print $2}' "/proc/$1/status"; }
# rss_kb PID: resident memory, hugetlb pages included.
rss_kb() {
	awk '/^Rss:|_Hugetlb:/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"
}

# fsck_clean [E2FSCK OPTIONS] DEV: e2fsck -fn finds nothing; when it
# does, what it found is shown (its last lines), so that a failure says why.
fsck_clean() {
	local out rc
	out=$(e2fsck -fn "$@" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && return 0
	printf '  e2fsck -fn %s: exit %d\n' "$*" "$rc"
	tail -n 15 <<<"$out" | sed 's/^/    | /'
	return 1
}

# The Linux 6.1 source as a plain tar, decompressed once and cached.
linux_tar() {
	local tar=$CACHE/linux-source-6.1.tar xz=/usr/src/linux-source-6.1.tar.xz
	if [ ! -s "$tar" ]; then
		[ -r "$xz" ] || { echo "missing $xz (make deps installs linux-source-6.1)" >&2; return 1; }
		mkdir -p "$CACHE"
		echo "  decompressing $xz once into $tar" >&2
		xz -dc -T0 "$xz" >"$tar.tmp.$$" && mv "$tar.tmp.$$" "$tar" || { rm -f "$tar.tmp.$$"; return 1; }
	fi
	echo "$tar"
}

# Containers (t_systemd, t_deb).  container_loops_mark, before booting
# one: the loop devices attached now.  container_loops_reap, after it:
# detaches those attached since, swapped off first (bounded: never hang
# on a dead device).  The service attaches them from its own mount
# namespace, so outside it their backing file shows as "/" and cannot be
# matched by name; each one left is said.
container_loops_mark() { LOOPS_BEFORE=$(losetup -n -O NAME 2>/dev/null | sort); }
container_loops_reap() {
	local l
	for l in $(comm -13 <(echo "${LOOPS_BEFORE:-}") <(losetup -n -O NAME 2>/dev/null | sort)); do
		swapoff "$l" 2>/dev/null &
		for _ in $(seq 600); do kill -0 $! 2>/dev/null || break; sleep 0.1; done
		losetup -d "$l" && log "$l: left attached by the container, detached"
	done
}

# container_results LOG CONSOLE STATUS LABEL: the in-container test's
# "ok|FAIL description" lines counted as this test's, and a check that it
# ran to its end ("done").  With no LOG, exits 77 when the console says
# the machine cannot boot a container (and it did not time out: STATUS
# 124), else fails.
container_results() {
	local log=$1 console=$2 rc=$3 label=$4 st desc
	if [ ! -s "$log" ]; then
		if grep -qiE "not supported|permission denied|failed to" "$console" && [ "$rc" -ne 124 ]; then
			cat "$console"; echo "SKIP: systemd-nspawn cannot boot a container on this machine"; exit 77
		fi
		fail "the container ran no test (status $rc)"; tail -20 "$console"
	fi
	while read -r st desc; do
		case $st in ok) pass "[$label] $desc" ;; FAIL) fail "[$label] $desc" ;; esac
	done <"$log"
	check "[$label] the in-container test ran to its end" grep -q '^done$' "$log"
}
