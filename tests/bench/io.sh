#!/usr/bin/env bash
# make bench-io: speed, side by side in one run, for uzram over FUSE's
# io_uring transport and over /dev/fuse (uzram-dev), kernel zram (lz4,
# only when zram0 is unused; reset afterwards), nbdkit's memory plugin with
# allocator=zstd through nbdfuse, and tests/bench/fuseram (an uncompressed
# FUSE RAM file served by the same fuse/ code: the FUSE ceiling, both
# transports).  The io_uring runs turn the module parameter enable_uring
# on; it is put back as it was at the end.
#   1. extract + sync of the linux-source-6.1 tree onto ext4 (loop
#      --direct-io=on, -o discard), then rm -rf + sync, three times each;
#   2. fio on the raw file or device (libaio, direct, iodepth 16, 2 jobs,
#      60 % compressible buffers): 1M write, 1M read, 4K randwrite, 4K
#      randread, and 4K randread at iodepth 1 (p50/p99 latency);
#   3. growth: 1, 2, 4, 8 GiB written to a 16 GiB uzram device; a 1 TiB
#      device's start time and RSS;
#   4. recompression: the tar written onto a uzram file, fio 4K randread
#      (iodepth 16 and 1) and 1M read over its LZ4 pages, `uzramctl idle
#      all; uzramctl recompress idle` timed (MB/s of pages processed), the
#      same reads over the zstd pages; then the same on a fresh device with
#      dictionary = auto (the recompression trains one first): the reads
#      over zstd pages against the dictionary;
#   5. persistence: the whole tree on ext4 over uzram with persist; umount,
#      detach, SIGTERM timed (the snapshot, to the temp folder's disk),
#      then a new uzramd timed until it serves (the restore);
#   6. writeback to a backing file on the machine's disk (the temp folder):
#      2 GiB written, then `uzramctl writeback all` timed, then fio 4K
#      randread and 1M read over the written-back data.
# Prints tables of figures and ratios; writes bench-out/io/io.csv and a
# chart, io.png (every figure relative to kernel zram; higher is better).
# Usage: tests/bench/io.sh [--quick | --report-only | --recompress-only]
#   --quick: one extract round, 4 s fio runs
#   --report-only: tables and chart again from the last run's CSV
#   --recompress-only: section 4 alone (8 s fio runs), into
#      bench-out/io/rc.csv
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
OUT=$TOP/bench-out/io
mkdir -p "$OUT"
CSV=$OUT/io.csv
ROUNDS=3 RUNTIME=8 MODE=run ONLY=""
case ${1:-} in
--quick) ROUNDS=1 RUNTIME=4 ;;
--report-only) MODE=report ;;
--recompress-only) ONLY=recompress CSV=$OUT/rc.csv ;;
"") ;;
*) echo "usage: $0 [--quick | --report-only | --recompress-only]" >&2; exit 2 ;;
esac
# The last value recorded for uzram's TEST in this run.
val_now() { awk -F, -v t="$1" '$1 == "uzram" && $2 == t {v = $3} END {print v}' "$CSV"; }
measure() {
	TAR=$(linux_tar) || exit 1
	TOPDIR=$(tar -tf "$TAR" | head -n1 | cut -d/ -f1)
	# The tar in the page cache for everyone, not only for the systems
	# after the first.
	cat "$TAR" >/dev/null
	NBD_MNT=""
	nbd_stop() { [ -n "$NBD_MNT" ] && mountpoint -q "$NBD_MNT" && umount "$NBD_MNT"; NBD_MNT=""; }
	trap 'nbd_stop; cleanup' EXIT
	echo "system,test,value,unit" >"$CSV"
	rec() { echo "$1,$2,$3,$4" >>"$CSV"; }
	progress() { echo "bench-io: $*" >&2; }

	# Each system: bring up -> $DEV (a file or block device), tear down.
	uzram_on() { # io-uring mode
		start_daemon "$T/uz" --config "$TOP/conf/uzram.conf" --io-uring "$1" --socket "$T/uz.sock" && DEV=$T/uz || return 1
		progress "uzram transport: $(stat_of "$T/uz.sock" transport)"
	}
	up_uzram() { uzram_on yes; }
	up_uzram-dev() { uzram_on no; }
	down_uzram() { stop_daemon "$DPID"; }
	down_uzram-dev() { stop_daemon "$DPID"; }
	fuseram_on() { # io-uring mode
		: >"$T/ram"
		"$TOOLS/fuseram" $((4 << 30)) "$(grep -E '^threads' "$TOP/conf/uzram.conf" | tr -dc 0-9)" "$T/ram" "$1" \
			2>>"$T/fuseram.log" &
		RPID=$!
		PIDS+=("$RPID")
		for _ in $(seq 50); do grep -q "ready" "$T/fuseram.log" 2>/dev/null && break; sleep 0.1; done
		progress "$(tail -n1 "$T/fuseram.log")"
		: >"$T/fuseram.log"
		DEV=$T/ram
	}
	up_fuseram() { fuseram_on yes; }
	up_fuseram-dev() { fuseram_on no; }
	down_fuseram() { kill -TERM "$RPID"; wait "$RPID"; }
	down_fuseram-dev() { down_fuseram; }
	up_nbdkit() {
		mkdir -p "$T/nbd"
		# nbdfuse stays in the foreground until its mount goes away.
		nbdfuse "$T/nbd/disk" [ nbdkit memory 4G allocator=zstd ] &
		NPID=$!
		PIDS+=("$NPID")
		NBD_MNT=$T/nbd
		for _ in $(seq 100); do [ -s "$T/nbd/disk" ] && break; sleep 0.1; done
		[ -s "$T/nbd/disk" ] || return 1
		DEV=$T/nbd/disk
	}
	down_nbdkit() { nbd_stop; wait "$NPID"; }
	up_zram() { zram_up 4G && DEV=/dev/zram0; }
	down_zram() { zram_down; }

	SYSTEMS=(uzram uzram-dev zram nbdkit fuseram fuseram-dev)
	command -v nbdfuse >/dev/null && command -v nbdkit >/dev/null || { progress "nbdkit/nbdfuse missing: skipped"; SYSTEMS=(uzram uzram-dev zram fuseram fuseram-dev); }
	uring_param_save

	extract_on() { # SYSTEM
		local dev mnt=$T/mnt-$1 t0 i
		if [ -b "$DEV" ]; then dev=$DEV; else attach_loop "$DEV" || return 1; dev=$LOOP; fi
		mkfs.ext4 -q "$dev" && mount_dev "$dev" "$mnt" || return 1
		for i in $(seq "$ROUNDS"); do
			t0=$(date +%s.%N)
			tar -xf "$TAR" -C "$mnt" && sync
			rec "$1" extract_sync "$(since "$t0")" s
			t0=$(date +%s.%N)
			rm -rf "${mnt:?}/$TOPDIR" && sync
			rec "$1" rm_sync "$(since "$t0")" s
			progress "$1 round $i: extract+sync $(tail -n2 "$CSV" | head -n1 | cut -d, -f3) s"
		done
		umount "$mnt"
		[ -b "$DEV" ] || losetup -d "$dev"
	}

	fio_on() { # SYSTEM
		local spec name rw bs depth r
		for spec in "write_1m write 1m 16" "read_1m read 1m 16" "randwrite_4k randwrite 4k 16" \
			"randread_4k randread 4k 16" "randread_4k_qd1 randread 4k 1"; do
			read -r name rw bs depth <<<"$spec"
			r=$(fio --name=b --filename="$DEV" --ioengine=libaio --direct=1 --iodepth="$depth" \
				--numjobs=$([ "$depth" = 1 ] && echo 1 || echo 2) --rw="$rw" --bs="$bs" --size=2g \
				--runtime="$RUNTIME" --time_based --group_reporting --buffer_compress_percentage=60 \
				--refill_buffers --output-format=terse --terse-version=3 2>/dev/null | tail -n1)
			# terse v3: 7 read KiB/s, 8 read IOPS, 48 write KiB/s, 49 write IOPS;
			# read completion-latency percentiles from field 18 on (1, 5, 10, 20,
			# 30, 40, 50, 60, 70, 80, 90, 95, 99 ...): 50 % is field 24, 99 % 30
			case $rw in
			*write) rec "$1" "${name}_MBps" "$(cut -d';' -f48 <<<"$r" | awk '{printf "%.0f", $1 / 1024}')" MB/s
				rec "$1" "${name}_IOPS" "$(cut -d';' -f49 <<<"$r")" IOPS ;;
			*) rec "$1" "${name}_MBps" "$(cut -d';' -f7 <<<"$r" | awk '{printf "%.0f", $1 / 1024}')" MB/s
				rec "$1" "${name}_IOPS" "$(cut -d';' -f8 <<<"$r")" IOPS ;;
			esac
			if [ "$depth" = 1 ]; then
				rec "$1" p50_us "$(cut -d';' -f24 <<<"$r" | cut -d= -f2)" us
				rec "$1" p99_us "$(cut -d';' -f30 <<<"$r" | cut -d= -f2)" us
			fi
			progress "$1 fio $name: $(grep "^$1,${name}_" "$CSV" | cut -d, -f3,4 | tr '\n' ' ')"
		done
	}

	[ -n "$ONLY" ] && SYSTEMS=()
	for sys in "${SYSTEMS[@]}"; do
		progress "$sys ..."
		"up_$sys" || { progress "$sys unavailable (zram0 absent or in use?): skipped"; continue; }
		extract_on "$sys"
		fio_on "$sys"
		"down_$sys"
	done

	[ -z "$ONLY" ] && growth
	recompression
	[ -n "$ONLY" ] && return
	persistence
	writeback
}

# Growth: cost follows the data, not the disk size.
growth() {
	progress "growth on a 16 GiB uzram device ..."
	start_daemon "$T/big" --config "$TOP/conf/uzram.conf" --size 16G --socket "$T/big.sock" || exit 1
	done_gib=0
	for gib in 1 2 4 8; do
		t0=$(date +%s.%N)
		fio --name=g --filename="$T/big" --ioengine=libaio --direct=1 --iodepth=16 --rw=write --bs=1m \
			--offset=$((done_gib << 30)) --size=$(((gib - done_gib) << 30)) --buffer_compress_percentage=60 \
			--refill_buffers >/dev/null 2>&1
		t=$(since "$t0")
		rec uzram "growth_${gib}G_MBps" "$(echo "($gib - $done_gib) * 1024 / $t" | bc)" MB/s
		rec uzram "growth_${gib}G_mem_used_total" "$(stat_of "$T/big.sock" mem_used_total)" B
		rec uzram "growth_${gib}G_table_bytes" "$(stat_of "$T/big.sock" table_bytes)" B
		rec uzram "growth_${gib}G_rss" "$(( $(rss_kb "$DPID") * 1024 ))" B
		done_gib=$gib
		progress "growth ${gib} GiB: $(grep "growth_${gib}G" "$CSV" | cut -d, -f2,3 | tr '\n' ' ')"
	done
	stop_daemon "$DPID"
	t0=$(date +%s.%N)
	"$UZRAMD" --size 1T --socket "$T/tib.sock" "$T/tib" 2>/dev/null
	rec uzram tib_start_s "$(since "$t0")" s
	TPID=$(stat_of "$T/tib.sock" pid)
	PIDS+=("$TPID")
	rec uzram tib_rss "$(( $(rss_kb "$TPID") * 1024 ))" B
	rec uzram tib_table_bytes "$(stat_of "$T/tib.sock" table_bytes)" B
	kill -TERM "$TPID"
}

# Recompression: reads over LZ4 pages, the recompression, the same reads
# over zstd pages; then over zstd pages against a trained dictionary.
recompression() {
	progress "recompression ..."
	{ grep -v '^dictionary *=' "$TOP/conf/uzram.conf"; echo "dictionary = off"; } >"$T/rc.conf"
	start_daemon "$T/rc" --config "$T/rc.conf" --size 2G --socket "$T/rc.sock" || exit 1
	dd if="$TAR" of="$T/rc" bs=1M oflag=direct conv=notrunc status=none
	rcsize=$(( $(stat -c %s "$TAR") >> 20 ))M
	rc_reads() { # PREFIX
		local spec name rw bs depth jobs r
		for spec in "randread_4k randread 4k 16 2" "randread_4k_qd1 randread 4k 1 1" "read_1m read 1m 16 2"; do
			read -r name rw bs depth jobs <<<"$spec"
			r=$(fio --name=b --filename="$T/rc" --ioengine=libaio --direct=1 --iodepth="$depth" --numjobs="$jobs" \
				--rw="$rw" --bs="$bs" --size="$rcsize" --runtime="$RUNTIME" --time_based --group_reporting \
				--output-format=terse --terse-version=3 2>/dev/null | tail -n1)
			rec uzram "${1}_${name}_MBps" "$(cut -d';' -f7 <<<"$r" | awk '{printf "%.0f", $1 / 1024}')" MB/s
			rec uzram "${1}_${name}_IOPS" "$(cut -d';' -f8 <<<"$r")" IOPS
		done
		progress "$1 reads: $(grep "^uzram,${1}_" "$CSV" | cut -d, -f2,3 | tr '\n' ' ')"
	}
	rc_reads lz4
	rec uzram rc_lz4_mem_used_total "$(stat_of "$T/rc.sock" mem_used_total)" B
	uzctl "$T/rc.sock" idle all >/dev/null
	uzctl "$T/rc.sock" recompress idle >"$T/rc.out"
	settle "$T/rc.sock"
	rec uzram rc_zstd_mem_used_total "$(stat_of "$T/rc.sock" mem_used_total)" B
	rec uzram recompress_MBps "$(sed -n 's/.*, \([0-9]*\) MB\/s)$/\1/p' "$T/rc.out")" MB/s
	progress "recompress idle: $(cat "$T/rc.out")"
	rc_reads zstd
	stop_daemon "$DPID"
	{ grep -v '^dictionary *=' "$TOP/conf/uzram.conf"; echo "dictionary = auto"; } >"$T/rc.conf"
	start_daemon "$T/rc" --config "$T/rc.conf" --size 2G --socket "$T/rc.sock" || exit 1
	dd if="$TAR" of="$T/rc" bs=1M oflag=direct conv=notrunc status=none
	uzctl "$T/rc.sock" idle all >/dev/null
	uzctl "$T/rc.sock" recompress idle >"$T/rc.out"
	settle "$T/rc.sock"
	rec uzram rc_zdict_mem_used_total "$(stat_of "$T/rc.sock" mem_used_total)" B
	rec uzram rc_zdict_pages "$(stat_of "$T/rc.sock" dict_pages)" pages
	progress "with a dictionary: recompress idle: $(cat "$T/rc.out"), $(stat_of "$T/rc.sock" dict_pages) pages on it"
	rc_reads zdict
	stop_daemon "$DPID"
}

# Persistence: snapshot at stop, restore at start, the whole tree.
persistence() {
	progress "persist: snapshot and restore of the whole tree ..."
	{ cat "$TOP/conf/uzram.conf"; echo "persist = $T/ps.snap"; } >"$T/ps.conf"
	start_daemon "$T/ps" --config "$T/ps.conf" --size 4G --socket "$T/ps.sock" || exit 1
	ext4_on "$T/ps" "$T/mnt-ps" || exit 1
	tar -xf "$TAR" -C "$T/mnt-ps"
	umount "$T/mnt-ps"
	losetup -d "$LOOP"
	rec uzram persist_compr_bytes "$(stat_of "$T/ps.sock" compr_data_size)" B
	t0=$(date +%s.%N)
	stop_daemon "$DPID"
	t=$(since "$t0")
	rec uzram snapshot_stop_s "$t" s
	rec uzram snapshot_file_bytes "$(stat -c %s "$T/ps.snap")" B
	t0=$(date +%s.%N)
	"$UZRAMD" --config "$T/ps.conf" --size 4G --socket "$T/ps.sock" "$T/ps" || exit 1
	t=$(since "$t0")
	PSPID=$(stat_of "$T/ps.sock" pid)
	PIDS+=("$PSPID")
	rec uzram restore_ready_s "$t" s
	rec uzram restore_s "$(stat_of "$T/ps.sock" restore_seconds)" s
	rec uzram snapshot_s "$(stat_of "$T/ps.sock" last_snapshot_seconds)" s
	rec uzram snapshot_MBps "$(echo "$(stat -c %s "$T/ps.snap") / 1000000 / $(val_now snapshot_s)" | bc)" MB/s
	rec uzram restore_MBps "$(echo "$(stat -c %s "$T/ps.snap") / 1000000 / $(val_now restore_s)" | bc)" MB/s
	# The disk itself, the same way (1 MiB O_DIRECT blocks), the same size.
	t0=$(date +%s.%N)
	dd if="$T/ps.snap" of="$T/disk-speed" bs=1M oflag=direct conv=fsync status=none
	rec uzram disk_write_MBps "$(echo "$(stat -c %s "$T/ps.snap") / 1000000 / ($(date +%s.%N) - $t0)" | bc)" MB/s
	t0=$(date +%s.%N)
	dd if="$T/disk-speed" of=/dev/null bs=1M iflag=direct status=none
	rec uzram disk_read_MBps "$(echo "$(stat -c %s "$T/ps.snap") / 1000000 / ($(date +%s.%N) - $t0)" | bc)" MB/s
	rm -f "$T/disk-speed"
	progress "persist: snapshot $(val_now snapshot_s) s, restore $(val_now restore_s) s, ready after $(val_now restore_ready_s) s; the disk: $(val_now disk_write_MBps) MB/s written, $(val_now disk_read_MBps) MB/s read"
	kill -TERM "$PSPID"
	while kill -0 "$PSPID" 2>/dev/null; do sleep 0.1; done
}

# Writeback to a backing file on disk, and reading it back.
writeback() {
	progress "writeback to a backing file on $(df --output=source "$T" | tail -n1) ..."
	{ cat "$TOP/conf/uzram.conf"; echo "backing-file = $T/backing"; } >"$T/wb.conf"
	start_daemon "$T/wb" --config "$T/wb.conf" --socket "$T/wb.sock" || exit 1
	progress "uzram transport: $(stat_of "$T/wb.sock" transport)"
	fio --name=w --filename="$T/wb" --ioengine=libaio --direct=1 --iodepth=16 --rw=write --bs=1m --size=2g \
		--buffer_compress_percentage=60 --refill_buffers >/dev/null 2>&1
	uzctl "$T/wb.sock" idle all >/dev/null
	orig=$(stat_of "$T/wb.sock" orig_data_size)
	t0=$(date +%s.%N)
	uzctl "$T/wb.sock" writeback all >"$T/wb.out"
	t=$(since "$t0")
	wb=$(stat_of "$T/wb.sock" writeback_bytes)
	rec uzram writeback_s "$t" s
	rec uzram writeback_MBps "$(echo "$wb / 1048576 / $t" | bc)" MB/s
	rec uzram writeback_orig_MBps "$(echo "$orig / 1048576 / $t" | bc)" MB/s
	rec uzram writeback_du_ratio "$(echo "scale=3; $(du -k "$T/backing" | cut -f1) * 1024 / $wb" | bc)" x
	progress "writeback all: $(cat "$T/wb.out") in $t s"
	for spec in "wb_randread_4k randread 4k 16" "wb_read_1m read 1m 16"; do
		read -r name rw bs depth <<<"$spec"
		r=$(fio --name=b --filename="$T/wb" --ioengine=libaio --direct=1 --iodepth="$depth" --numjobs=2 \
			--rw="$rw" --bs="$bs" --size=2g --runtime="$RUNTIME" --time_based --group_reporting \
			--output-format=terse --terse-version=3 2>/dev/null | tail -n1)
		rec uzram "${name}_MBps" "$(cut -d';' -f7 <<<"$r" | awk '{printf "%.0f", $1 / 1024}')" MB/s
		rec uzram "${name}_IOPS" "$(cut -d';' -f8 <<<"$r")" IOPS
		progress "read back $name: $(grep "^uzram,${name}_" "$CSV" | cut -d, -f3,4 | tr '\n' ' ')"
	done
	stop_daemon "$DPID"
}

# Tables and chart, from the CSV.
report() {
	val() { awk -F, -v s="$1" -v t="$2" '$1 == s && $2 == t {n++; v += $3} END {if (n) printf "%.2f", v / n}' "$CSV"; }
	ratio() { local a b; a=$(val "$1" "$3"); b=$(val "$2" "$3"); [ -n "$a" ] && [ -n "$b" ] && echo "scale=2; $a / $b" | bc; }
	echo
	if [ -n "$ONLY" ]; then
		rc_report
		echo "CSV: $CSV"
		return
	fi
	local cols=(uzram uzram-dev zram nbdkit fuseram fuseram-dev) sys
	printf '| %-20s |' test; for sys in "${cols[@]}"; do printf ' %11s |' "$sys"; done; echo
	printf '|%s' "----------------------"; for sys in "${cols[@]}"; do printf '|%s' "-------------"; done; echo '|'
	for t in extract_sync rm_sync write_1m_MBps read_1m_MBps randwrite_4k_IOPS randread_4k_IOPS randread_4k_qd1_IOPS p50_us p99_us; do
		printf '| %-20s |' "$t"; for sys in "${cols[@]}"; do printf ' %11s |' "$(val "$sys" "$t")"; done; echo
	done
	echo
	echo "uzram is served over io_uring, uzram-dev over /dev/fuse; fuseram likewise."
	echo "io_uring against /dev/fuse, uzram (targets in brackets):"
	echo "  4K randwrite       $(ratio uzram uzram-dev randwrite_4k_IOPS)   (>= 1.3)"
	echo "  4K randread        $(ratio uzram uzram-dev randread_4k_IOPS)   (>= 1.3)"
	echo "  4K randread QD1    $(ratio uzram uzram-dev randread_4k_qd1_IOPS)   (>= 1.3)"
	echo "  1M write           $(ratio uzram uzram-dev write_1m_MBps)   (>= 0.95)"
	echo "  1M read            $(ratio uzram uzram-dev read_1m_MBps)   (>= 0.95)"
	echo "  extract+sync time  $(ratio uzram uzram-dev extract_sync)   (<= 1.0)"
	echo "io_uring against /dev/fuse, fuseram (the FUSE ceiling):"
	for t in randwrite_4k_IOPS randread_4k_IOPS randread_4k_qd1_IOPS write_1m_MBps read_1m_MBps; do
		printf '  %-18s %s\n' "$t" "$(ratio fuseram fuseram-dev $t)"
	done
	echo "uzram (io_uring) against kernel zram (direction: 4K random >= 0.5, 1M write >= 0.9):"
	for t in randwrite_4k_IOPS randread_4k_IOPS randread_4k_qd1_IOPS write_1m_MBps read_1m_MBps; do
		printf '  %-18s %s\n' "$t" "$(ratio uzram zram $t)"
	done
	echo "  extract+sync time  $(ratio uzram zram extract_sync)"
	echo "uzram against the FUSE ceiling, same transport (io_uring):"
	for t in randwrite_4k_IOPS randread_4k_IOPS write_1m_MBps read_1m_MBps; do
		printf '  %-18s %s\n' "$t" "$(ratio uzram fuseram $t)"
	done
	echo "  extract+sync time  $(ratio uzram fuseram extract_sync)"
	echo "  extract+sync time, uzram / nbdkit: $(ratio uzram nbdkit extract_sync)"
	echo
	echo "Growth (16 GiB device):"
	for gib in 1 2 4 8; do
		echo "  ${gib} GiB written: $(val uzram growth_${gib}G_MBps) MB/s, mem_used_total $(( $(val uzram growth_${gib}G_mem_used_total | cut -d. -f1) >> 20 )) MiB, table $(( $(val uzram growth_${gib}G_table_bytes | cut -d. -f1) >> 20 )) MiB, RSS $(( $(val uzram growth_${gib}G_rss | cut -d. -f1) >> 20 )) MiB"
	done
	echo "1 TiB device: ready in $(val uzram tib_start_s) s, RSS $(( $(val uzram tib_rss | cut -d. -f1) >> 20 )) MiB, table $(( $(val uzram tib_table_bytes | cut -d. -f1) >> 10 )) KiB"
	rc_report
	if [ -n "$(val uzram snapshot_MBps)" ]; then
		echo "Persistence, the whole tree ($(( $(val uzram persist_compr_bytes | cut -d. -f1) >> 20 )) MiB compressed; snapshot file $(( $(val uzram snapshot_file_bytes | cut -d. -f1) >> 20 )) MiB):" \
			"snapshot $(val uzram snapshot_s) s ($(val uzram snapshot_MBps) MB/s; SIGTERM to exit $(val uzram snapshot_stop_s) s)," \
			"restore $(val uzram restore_s) s ($(val uzram restore_MBps) MB/s), serving $(val uzram restore_ready_s) s after the start;" \
			"the same file copied by dd (1 MiB, O_DIRECT): $(val uzram disk_write_MBps) MB/s written, $(val uzram disk_read_MBps) MB/s read"
	fi
	if [ -n "$(val uzram writeback_MBps)" ]; then
		echo "Writeback of 2 GiB (60 % compressible) to a backing file on disk: $(val uzram writeback_s) s," \
			"$(val uzram writeback_MBps) MB/s compressed ($(val uzram writeback_orig_MBps) MB/s of pages), du $(val uzram writeback_du_ratio)x the bytes written"
		echo "Read back from it: 4K randread $(val uzram wb_randread_4k_IOPS) IOPS ($(echo "scale=2; $(val uzram wb_randread_4k_IOPS) / $(val uzram randread_4k_IOPS)" | bc)x in memory)," \
			"1M read $(val uzram wb_read_1m_MBps) MB/s ($(echo "scale=2; $(val uzram wb_read_1m_MBps) / $(val uzram read_1m_MBps)" | bc)x in memory)"
	fi
	echo "CSV: $CSV"
}

# The recompression section's lines (report's val and ratio).
rc_report() {
	if [ -n "$(val uzram recompress_MBps)" ]; then
		echo "Recompression of the tar's pages (LZ4 -> zstd): $(val uzram recompress_MBps) MB/s of pages," \
			"mem_used_total $(( $(val uzram rc_lz4_mem_used_total | cut -d. -f1) >> 20 )) -> $(( $(val uzram rc_zstd_mem_used_total | cut -d. -f1) >> 20 )) MiB"
		echo "Reads over zstd pages / over LZ4 pages (same file, same run):"
		for t in randread_4k_IOPS randread_4k_qd1_IOPS read_1m_MBps; do
			printf '  %-22s %10s / %10s = %s\n' "$t" "$(val uzram "zstd_$t")" "$(val uzram "lz4_$t")" \
				"$(echo "scale=2; $(val uzram "zstd_$t") / $(val uzram "lz4_$t")" | bc)"
		done
		if [ -n "$(val uzram zdict_read_1m_MBps)" ]; then
			echo "With a dictionary (a fresh device, dictionary = auto): mem_used_total" \
				"$(( $(val uzram rc_zdict_mem_used_total | cut -d. -f1) >> 20 )) MiB," \
				"$(val uzram rc_zdict_pages | cut -d. -f1) pages on it; reads over them / over LZ4 pages:"
			for t in randread_4k_IOPS randread_4k_qd1_IOPS read_1m_MBps; do
				printf '  %-22s %10s / %10s = %s\n' "$t" "$(val uzram "zdict_$t")" "$(val uzram "lz4_$t")" \
					"$(echo "scale=2; $(val uzram "zdict_$t") / $(val uzram "lz4_$t")" | bc)"
			done
		fi
	fi
}

chart() {
	local t sys v z dat=$OUT/io.dat
	command -v gnuplot >/dev/null || { echo "gnuplot missing: no chart" >&2; return; }
	# Each figure over zram's: throughput and IOPS as they are, times inverted.
	for t in extract_sync write_1m_MBps read_1m_MBps randwrite_4k_IOPS randread_4k_IOPS randread_4k_qd1_IOPS; do
		case $t in
		extract_sync) printf 'extract+sync' ;;
		randread_4k_qd1_IOPS) printf '4K-randread-QD1' ;;
		*) printf '%s' "$t" | sed -E 's/^([a-z]+)_([0-9][a-zA-Z])_.*/\U\2\E-\1/' ;;
		esac
		for sys in uzram uzram-dev zram nbdkit fuseram fuseram-dev; do
			v=$(val "$sys" "$t"); z=$(val zram "$t")
			if [ -z "$v" ] || [ -z "$z" ]; then printf ' 0'
			elif [ "$t" = extract_sync ]; then echo " $z $v" | awk '{printf " %.3f", $1 / $2}'
			else echo " $v $z" | awk '{printf " %.3f", $1 / $2}'; fi
		done
		echo
	done >"$dat"
	gnuplot <<-GP
		set terminal pngcairo size 1100,500 noenhanced
		set output '$OUT/io.png'
		set title 'make bench-io: speed relative to kernel zram (1.0); higher is better'
		set style data histogram
		set style histogram cluster gap 1
		set style fill solid 0.8 border -1
		set ylabel 'relative to zram'
		set yrange [0:*]
		set grid ytics
		set key outside top center horizontal
		plot '$dat' using 2:xtic(1) title 'uzram (io_uring)', '' using 3 title 'uzram (/dev/fuse)', \
			'' using 4 title 'zram', '' using 5 title 'nbdkit zstd', '' using 6 title 'fuseram (io_uring)', \
			'' using 7 title 'fuseram (/dev/fuse)', 1 with lines dashtype 2 lc rgb 'black' notitle
	GP
	echo "chart: $OUT/io.png"
}

if [ "$MODE" = run ]; then
	need_root
	measure
fi
report
[ -z "$ONLY" ] && chart
[ "$MODE" = run ] && bench_end
exit 0
