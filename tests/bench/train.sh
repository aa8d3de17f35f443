#!/usr/bin/env bash
# make bench-train: what a dictionary training costs the I/O that runs
# beside it.  uzramd (conf/uzram.conf, dictionary = off so that nothing
# trains unless asked) holds the first 1 GiB of the linux-source-6.1 tar,
# written onto its file; then fio reads it in 4 KiB random reads (libaio,
# direct), one run with nothing else going on and one while `uzramctl
# train` trains dictionaries back to back (dictionary-sample pages each,
# the shipped default; the first training is timed alone beforehand), the
# two alternating ROUNDS times.  Per run: IOPS, the completion latency's
# median, 99.9th and 99.99th percentiles and maximum, and the share of
# reads that took 10 ms or more (fio's latency_ms buckets); also the
# trainings done within the run and how long each took (at nice 19 it
# takes what CPU the I/O leaves), and the daemon's RSS during them
# against before.  Figures, not a
# pass/fail test.
# Usage: tests/bench/train.sh [--rounds N] [--runtime SECONDS] [--iodepth N]
#   defaults: 2 rounds, 10 s runs, iodepth 1 (how a single reader sees
#   the daemon; --iodepth 16 adds two jobs and loads both cores)
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
ROUNDS=2 RUNTIME=10 DEPTH=1
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--runtime) RUNTIME=$2; shift 2 ;;
	--iodepth) DEPTH=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--runtime SECONDS] [--iodepth N]" >&2; exit 2 ;;
	esac
done
need_root
command -v fio >/dev/null || { echo "fio missing (make bench-deps installs it)" >&2; exit 2; }
TRAINER=""
trap '[ -n "$TRAINER" ] && kill "$TRAINER" 2>/dev/null && wait "$TRAINER"; cleanup' EXIT
TAR=$(linux_tar) || exit 1
JOBS=1
[ "$DEPTH" -gt 1 ] && JOBS=2

{ grep -v '^dictionary *=' "$TOP/conf/uzram.conf"; echo "dictionary = off"; } >"$T/uz.conf"
start_daemon "$T/uz" --config "$T/uz.conf" --size 2G --socket "$T/uz.sock" || exit 1
head -c 1G "$TAR" | dd of="$T/uz" bs=1M oflag=direct conv=notrunc status=none
settle "$T/uz.sock"
echo "uzram over $(stat_of "$T/uz.sock" transport): 1 GiB of the tar stored in" \
	"$(($(stat_of "$T/uz.sock" mem_used_total) >> 20)) MiB"
t0=$(date +%s.%N)
uzctl "$T/uz.sock" train >"$T/train.out" || { cat "$T/train.out"; exit 1; }
echo "one training alone: $(since "$t0") s: $(cat "$T/train.out")"

# Trains again and again until killed; each reply on a line of its own.
trainer() {
	while :; do uzctl "$T/uz.sock" train >>"$T/trainings" 2>&1; done
}
# fio_run NAME: one run; its JSON in $T/NAME.json.
fio_run() {
	fio --name=r --filename="$T/uz" --ioengine=libaio --direct=1 --rw=randread --bs=4k --size=1G \
		--iodepth="$DEPTH" --numjobs="$JOBS" --group_reporting --runtime="$RUNTIME" --time_based \
		--randrepeat=0 --output-format=json >"$T/$1.json" 2>/dev/null
}
# The figures of one run, from its JSON.
fio_figures() {
	/usr/bin/python3 - "$T/$1.json" <<-'PY'
	import json, sys
	j = json.load(open(sys.argv[1]))["jobs"][0]
	r, lat = j["read"], j["latency_ms"]
	p = r["clat_ns"]["percentile"]
	slow = sum(v for k, v in lat.items() if k.lstrip(">=").isdigit() and int(k.lstrip(">=")) >= 10)
	print("%9.0f %9.1f %9.1f %9.1f %9.1f %8.4f" % (r["iops"], p["50.000000"] / 1e3, p["99.900000"] / 1e3,
	      p["99.990000"] / 1e3, r["clat_ns"]["max"] / 1e3, slow))
	PY
}
rss_mib() { echo $(($(rss_kb "$DPID") / 1024)); }

printf '\n4K random reads, iodepth %s, %s job(s), %s s a run\n' "$DEPTH" "$JOBS" "$RUNTIME"
printf '%-20s %9s %9s %9s %9s %9s %8s %s\n' run IOPS 'p50 us' 'p99.9 us' 'p99.99 us' 'max us' '>=10ms %' notes
for round in $(seq "$ROUNDS"); do
	rss0=$(rss_mib)
	fio_run quiet
	printf '%-20s %s  RSS %s MiB\n' "quiet $round" "$(fio_figures quiet)" "$rss0"
	: >"$T/trainings"
	trainer &
	TRAINER=$!
	peak=0
	fio_run training &
	fpid=$!
	while kill -0 "$fpid" 2>/dev/null; do
		r=$(rss_mib)
		[ "$r" -gt "$peak" ] && peak=$r
		sleep 0.2
	done
	wait "$fpid"
	kill "$TRAINER" 2>/dev/null
	wait "$TRAINER" 2>/dev/null
	TRAINER=""
	# the training under way goes on in the daemon: let it end before the
	# next quiet run
	for _ in $(seq 600); do [ "$(stat_of "$T/uz.sock" dict_training)" = 0 ] && break; sleep 0.2; done
	n=$(grep -c 'trained' "$T/trainings")
	times=$(sed -n 's/.*pages, \([0-9.]*\) s;.*/\1/p' "$T/trainings" | tr '\n' ' ')
	printf '%-20s %s  %s trainings done (%ss); RSS up to %s MiB\n' "training $round" "$(fio_figures training)" \
		"$n" "${times:- }" "$peak"
	grep -v 'trained' "$T/trainings" | sort | uniq -c | sed 's/^/    train refused: /'
done
echo
echo "command: $0${*:+ $*}"
