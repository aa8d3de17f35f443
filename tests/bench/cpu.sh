#!/usr/bin/env bash
# make bench-cpu: the daemon's CPU time per GiB moved, over each FUSE
# transport, alternating (io_uring, /dev/fuse) ROUNDS times: fio on the raw
# file (libaio, direct, iodepth 16, 2 jobs of 1 GiB each, 60 % compressible
# buffers) for 1M writes, 4K random writes and 1M reads.  CPU time is the
# daemon's utime + stime from /proc/PID/stat.  Prints figures; not a test.
# Usage: tests/bench/cpu.sh [ROUNDS]   (default 2)
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
need_root
ROUNDS=${1:-2}
uring_param_save
HZ=$(getconf CLK_TCK)
one() { # MODE RW BS
	local t0 t1 r
	start_daemon "$T/c" --size 4G --io-uring "$1" --socket "$T/c.sock" || exit 1
	[ "$2" != write ] && fio --name=f --filename="$T/c" --ioengine=libaio --direct=1 --iodepth=16 --rw=write \
		--bs=1m --size=2g --buffer_compress_percentage=60 --refill_buffers >/dev/null 2>&1
	t0=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
	r=$(fio --name=w --filename="$T/c" --ioengine=libaio --direct=1 --iodepth=16 --numjobs=2 --offset_increment=1g \
		--rw="$2" --bs="$3" --size=1g --buffer_compress_percentage=60 --refill_buffers --group_reporting \
		--output-format=terse --terse-version=3 2>/dev/null | tail -n1)
	t1=$(awk '{print $14 + $15}' "/proc/$DPID/stat")
	stop_daemon "$DPID"
	printf '%-9s %-10s %-3s  %6d ms of daemon CPU per GiB  (%s MB/s)\n' "$1" "$2" "$3" \
		$(( (t1 - t0) * 1000 / HZ / 2 )) \
		"$(awk -F';' -v rw="$2" '{printf "%.0f", (rw ~ /write/ ? $48 : $7) / 1024}' <<<"$r")"
}
echo "io-uring   load       bs   (yes: FUSE over io_uring, no: /dev/fuse)"
for load in "write 1m" "randwrite 4k" "read 1m"; do
	for _ in $(seq "$ROUNDS"); do
		one yes $load
		one no $load
	done
done
bench_end
