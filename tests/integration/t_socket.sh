# uzramctl and the control socket of a real daemon: the table, mm_stat,
# io_stat, --json; wrong paths and garbage get clear errors; the daemon
# keeps serving I/O and other clients throughout.
source "$(dirname "$0")/lib.sh"
need_root
SOCK=$T/s.sock
start_daemon "$T/s" --size 1G --socket "$SOCK" || { fail "uzramd start"; finish; }
head -c $((8 << 20)) /dev/urandom | base64 >"$T/text"
dd if="$T/text" of="$T/s" bs=1M conv=notrunc status=none

out=$(uzctl "$SOCK")
log "$(head -n1 <<<"$out")"
log "$(tail -n1 <<<"$out")"
check "table header as zramctl's" test "$(head -n1 <<<"$out" | tr -s ' ')" = \
	"NAME DISKSIZE DATA COMPR TOTAL ALGORITHM MOUNTPOINT"
check "table row: name, 1G, lz4, the file's path" bash -c \
	"tail -n1 <<<'$out' | awk '{exit !(\$1 == \"s\" && \$2 == \"1G\" && \$6 == \"lz4\" && \$7 == \"$T/s\")}'"
check "-b prints bytes" bash -c "uzctl '$SOCK' -b | tail -n1 | awk '{exit \$2 != 1073741824}'"
mm=$(uzctl "$SOCK" mm_stat)
log "mm_stat: $mm"
check "mm_stat has zram's 9 numbers" bash -c "[[ '$mm' =~ ^[0-9]+(\ [0-9]+){8}$ ]]"
check "mm_stat orig_data_size counts the data" bash -c "awk '{exit \$1 < 11000000}' <<<'$mm'"
check "io_stat has 4 numbers" bash -c "[[ \"\$(uzctl '$SOCK' io_stat)\" =~ ^[0-9]+(\ [0-9]+){3}$ ]]"
json=$(uzctl "$SOCK" --json)
for k in orig_data_size compr_data_size mem_used_total mem_limit mem_used_max same_pages pages_compacted \
	huge_pages huge_pages_since failed_reads failed_writes invalid_io notify_free disksize algorithm \
	arena_kind arenas table_bytes metadata_bytes pid version; do
	grep -q "\"$k\": " <<<"$json" || fail "--json lacks $k"
done
pass "--json has every counter"
check "--json is one valid object" bash -c "uzctl '$SOCK' --json | perl -MJSON::PP -e 'local \$/; decode_json(<STDIN>)'"
check "--json pid is the daemon's" test "$(stat_of "$SOCK" pid)" = "$DPID"
# One version (debian/changelog's) in both programs and the daemon's stats.
v=$("$UZRAMCTL" --version)
check "--version: '$v', the same in uzramd and in --json (a string)" bash -c \
	"[[ '$v' =~ ^uzramctl\ [0-9][^\ ]*\$ ]] && test \"\$('$UZRAMD' --version)\" = 'uzramd ${v#uzramctl }' &&
	 uzctl '$SOCK' --json | grep -qx '  \"version\": \"${v#uzramctl }\",'"
check "metrics: the version a label of uzram_info, not a sample" bash -c \
	"uzctl '$SOCK' metrics | grep -q '^uzram_info{.*,version=\"${v#uzramctl }\"' && ! uzctl '$SOCK' metrics | grep -q '^uzram_version'"
# zramctl's options: -o, --output-all, -n, --raw, -b.
settle "$SOCK" # (a compaction would change mem_used_total between the readings)
o=$(stat_of "$SOCK" orig_data_size) tot=$(stat_of "$SOCK" mem_used_total) cmp_=$(stat_of "$SOCK" compr_data_size)
want="$(stat_of "$SOCK" name) lz4 $o $cmp_ $(awk -v d="$o" -v t="$tot" 'BEGIN {printf "%.4f", d / t}')"
out=$(uzctl "$SOCK" -o NAME,ALGORITHM,DATA,COMPR,COMP-RATIO -n -r -b)
check "-o NAME,ALGORITHM,DATA,COMPR,COMP-RATIO -n -r -b: '$out'" test "$out" = "$want"
out=$(uzctl "$SOCK" -o name,algorithm,data,compr,comp-ratio --noheadings --raw)
check "... without -b: sizes human-readable, as zramctl ('$out')" \
	bash -c "[[ '$out' =~ ^[^\ ]+\ lz4\ [0-9.]+[KMG]\ [0-9.]+[KMG]\ [0-9]+\.[0-9]{4}$ ]]"
check "--output-all: every column, zramctl's and uzram's" test "$(uzctl "$SOCK" --output-all | head -n1 | wc -w)" = 18
check "-o +STREAMS: added to the defaults" test "$(uzctl "$SOCK" -o +STREAMS | head -n1 | tr -s ' ')" = \
	"NAME DISKSIZE DATA COMPR TOTAL ALGORITHM MOUNTPOINT STREAMS"
check "STREAMS is the worker threads or queues" test "$(uzctl "$SOCK" -o STREAMS -n -r)" = "$(stat_of "$SOCK" streams)"
check "BACKING is empty without a backing file" test "$(uzctl "$SOCK" -o NAME,BACKING -n -r)" = "$(stat_of "$SOCK" name) "
# metrics: Prometheus's text format, checked by Prometheus's own parser,
# for every device in /run/uzram when no socket is named.
name2=uzt$$
D1=$DPID
start_daemon "$T/$name2" --size 64M --socket "/run/uzram/$name2.sock" || fail "a second daemon"
D2=$DPID
DPID=$D1
uzctl "$SOCK" --json >"$T/stats.json"
uzctl "$SOCK" metrics >"$T/one.prom"
out=$(/usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$T/one.prom" "$T/stats.json" "$(stat_of "$SOCK" name)" 2>&1)
log "metrics --socket: $out"
check "metrics: parsed by prometheus_client, every --json number covered, device labels, counters _total" \
	/usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$T/one.prom" "$T/stats.json" "$(stat_of "$SOCK" name)"
check "metrics: mem_used_total as the README shows it" bash -c \
	"grep -Eq '^uzram_mem_used_total_bytes\\{device=\"$(stat_of "$SOCK" name)\"\\} [1-9][0-9]*\$' '$T/one.prom'"
"$UZRAMCTL" metrics >"$T/all.prom"
check "metrics without --socket: every device in /run/uzram, one family each" \
	/usr/bin/python3 "$(dirname "$0")/metrics_check.py" "$T/all.prom" "$T/stats.json" "$name2"
stop_daemon "$D2"
out=$(uzctl "$SOCK" -o NAME,SIZE 2>&1)
rc=$?
check "an unknown column: exit 2" test "$rc" = 2
check "... naming it and listing the valid ones" grep -q "unknown column 'SIZE'; valid columns: NAME, DISKSIZE, DATA, COMPR, ALGORITHM, STREAMS, ZERO-PAGES, TOTAL, MEM-LIMIT, MEM-USED, MIGRATED, COMP-RATIO, MOUNTPOINT, ARENA, IDLE, BACKING, RECOMP, TRANSPORT" <<<"$out"

# Clear errors.
out=$(uzctl "$T/nope.sock" 2>&1); rc=$?
check "wrong socket path: non-zero status" test $rc -ne 0
check "wrong socket path: says why" grep -q "cannot connect to $T/nope.sock: No such file or directory" <<<"$out"
out=$(uzctl "$SOCK" frobnicate 2>&1); rc=$?
check "unknown command: non-zero status" test $rc -ne 0
check "unknown command: says so" grep -q "unknown command 'frobnicate'" <<<"$out"

# Garbage straight at the socket.
check "binary garbage: error reply" bash -c "head -c 200 /dev/urandom | tr -d '\n' | timeout 10 '$TOOLS/uzsock' '$SOCK' | grep -q '^error: '"
check "1 MiB request: error reply" bash -c "head -c 1048576 /dev/zero | tr '\0' 'a' | timeout 10 '$TOOLS/uzsock' '$SOCK' | grep -q '^error: request too long'"
check "unknown command: error reply" bash -c "echo 'drop tables' | timeout 10 '$TOOLS/uzsock' '$SOCK' | grep -q \"^error: unknown command 'drop'\""
check "empty request: error reply" bash -c "printf '\n' | timeout 10 '$TOOLS/uzsock' '$SOCK' | grep -q '^error: empty request'"
check "stats with an argument: error reply" bash -c "echo 'stats now' | timeout 10 '$TOOLS/uzsock' '$SOCK' | grep -q '^error: .stats. takes no argument'"
# Many clients at once, some silent, while I/O goes on.
storm=()
for i in $(seq 100); do
	(head -c 20 /dev/urandom | timeout 3 "$TOOLS/uzsock" "$SOCK" >/dev/null 2>&1) &
	storm+=($!)
done
sleep 0.2
check "I/O continues during the storm" dd if="$T/text" of="$T/s" bs=1M seek=100 conv=notrunc status=none
wait "${storm[@]}"
check "data written during the storm reads back" cmp <(dd if="$T/s" bs=1M skip=100 count=$(( $(stat -c %s "$T/text") >> 20 )) status=none) \
	<(head -c $(( ($(stat -c %s "$T/text") >> 20) << 20 )) "$T/text")
check "uzramctl still answers" quiet uzctl "$SOCK" mm_stat

# Hostile clients: 400 connections held open at once (a third of them
# stopping mid-word), then 300 that send a request and hang up before the
# reply.  Others are still answered at once, and I/O goes on.
perl -MIO::Socket::UNIX -e '
	my @held;
	for my $i (1 .. 400) {
		my $c = IO::Socket::UNIX->new(Peer => $ARGV[0]) or next;
		syswrite($c, "sta") if $i % 3 == 0;
		push @held, $c;
	}
	print STDERR scalar(@held), " connections held\n";
	sleep 6;' "$SOCK" 2>"$T/held.log" &
HOLDER=$!
PIDS+=("$HOLDER")
sleep 1
t0=$(date +%s%N)
check "a client is answered while 400 others hold connections" quiet uzctl -t 5 "$SOCK" mm_stat
log "answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms; $(cat "$T/held.log")"
check "... in under 2 s" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000
check "I/O goes on meanwhile" dd if="$T/text" of="$T/s" bs=1M seek=200 conv=notrunc,fsync status=none
wait "$HOLDER"
check "dropped mid-reply, 300 times" perl -MIO::Socket::UNIX -e '
	for (1 .. 300) {
		my $c = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
		syswrite($c, "stats\n");
		close($c);
	}' "$SOCK"
check "oversized line then silence: told so" bash -c "
	perl -MIO::Socket::UNIX -e '
		my \$c = IO::Socket::UNIX->new(Peer => \$ARGV[0]) or exit 1;
		syswrite(\$c, \"x\" x 4096);
		my \$r = \"\"; sysread(\$c, \$r, 200); print \$r;' '$SOCK' | grep -q '^error: request too long'"
check "uzramctl answers after all of it" quiet uzctl -t 5 "$SOCK" mm_stat
check "data written meanwhile reads back" cmp <(dd if="$T/s" bs=1M skip=200 count=$(( $(stat -c %s "$T/text") >> 20 )) status=none) \
	<(head -c $(( ($(stat -c %s "$T/text") >> 20) << 20 )) "$T/text")
check "the daemon is alive" kill -0 "$DPID"
finish
