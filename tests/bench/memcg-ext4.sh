#!/usr/bin/env bash
# A file-system device under memory pressure: uzramd and tar inside one
# memory cgroup (1 GiB by default; --limit MiB), extracting the Linux 6.1
# tree onto ext4 through a direct-I/O loop device, then e2fsck and the
# tree compared with the tar.  Prints the time, how often and how long
# writes waited for the arena reserve, and what failed.  The same extract
# outside any cgroup runs first, for the ratio.  A benchmark: it prints
# figures and ends without a test-runner summary.
#   usage: tests/bench/memcg-ext4.sh [--limit MIB]
source "$(dirname "$0")/../integration/lib.sh"
need_root
LIMIT=1024
[ "${1:-}" = --limit ] && LIMIT=$2
TAR=$(linux_tar) || exit 1
cat "$TAR" >/dev/null # (the tar in the page cache before either run)

# run NAME: one extract with the daemon and tar in $MEMCG (or none).
run() {
	local name=$1 dev=$T/$1 mnt=$T/$1.mnt t0 rc
	start_daemon "$dev" --size 4G --socket "$T/$name.sock" || { fail "$name: uzramd"; return; }
	ext4_on "$dev" "$mnt" || { fail "$name: losetup, mkfs, mount"; return; }
	t0=$(date +%s.%N)
	if [ -n "${DAEMON_MEMCG:-}" ]; then
		timeout 900 bash -c 'echo $$ >"$0/cgroup.procs" && exec tar -xf "$1" -C "$2" && sync' "$DAEMON_MEMCG" "$TAR" "$mnt"
	else
		timeout 900 tar -xf "$TAR" -C "$mnt" && sync
	fi
	rc=$?
	secs=$(since "$t0")
	printf '%-22s extract + sync %7.1f s (exit %d); reserve_waits %s, longest %s s; reserve_misses %s; failed_writes %s\n' \
		"$name" "$secs" "$rc" "$(stat_of "$T/$name.sock" reserve_waits)" "$(stat_of "$T/$name.sock" reserve_wait_max_seconds)" \
		"$(stat_of "$T/$name.sock" reserve_misses)" "$(stat_of "$T/$name.sock" failed_writes)"
	umount "$mnt"
	e2fsck -fn "$LOOP" >/dev/null 2>&1 && echo "  e2fsck -fn clean" || { fail "$name: e2fsck"; echo "  e2fsck -fn FAILED"; }
	losetup -d "$LOOP"
	stop_daemon "$DPID"
}

run outside
memcg_make $((LIMIT << 20)) || { echo "no memory cgroup controller"; exit 1; }
DAEMON_MEMCG=$MEMCG
run "inside-${LIMIT}M"
echo "cgroup: limit ${LIMIT} MiB, peak $(memcg_peak), limit hit $(memcg_hits) times"
echo "command: tests/bench/memcg-ext4.sh --limit $LIMIT"
bench_end
