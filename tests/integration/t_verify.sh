# fio verify on uzram, through a direct-I/O loop device (as people use it;
# the loop device turns trims into FUSE punch-holes): random writes of
# mixed sizes (512 B - 1 MiB) with crc32c headers by four jobs at once -
# compressible, incompressible and zero buffers, and trim-then-write -
# beside a fifth that trims at random, while compactions run throughout.  Then data whose slab pages were thinned out by a discard is
# compacted, moved, and verified again.  Zero verify errors, or it fails.
source "$(dirname "$0")/lib.sh"
need_root
cd "$T" || exit 1 # fio leaves its verify state files in the working folder
command -v fio >/dev/null || { fail "fio missing (make deps installs it)"; finish; }
MB=${UZ_VERIFY_MB:-192} # per job
SOCK=$T/v.sock
start_daemon "$T/v" --size 1G --compaction off --socket "$SOCK" || { fail "uzramd start"; finish; }
attach_loop "$T/v" || { fail "losetup"; finish; }

# jobs FILE EXTRA...: the three verify jobs, each in a region of its own.
jobs() {
	local f=$1; shift
	{
		printf '[global]\nfilename=%s\ndirect=1\nioengine=libaio\niodepth=8\nrw=randwrite\n' "$LOOP"
		printf 'bsrange=512-1m\nsize=%dm\nverify=crc32c\nverify_fatal=1\nrandrepeat=1\n' "$MB"
		printf '%s\n' "$@"
		printf '[compressible]\noffset=0\nbuffer_compress_percentage=50\nrefill_buffers=1\n'
		printf '[incompressible]\noffset=%dm\nrefill_buffers=1\n' "$MB"
		printf '[zeros]\noffset=%dm\nzero_buffers=1\n' $((2 * MB))
		printf '[trimwrite]\noffset=%dm\nrw=trimwrite\nbuffer_compress_percentage=50\nrefill_buffers=1\n' $((3 * MB))
	} >"$f"
}

# 1. Writes, trims, verify, compactions all the while.
jobs "$T/a.fio" loops=3
printf '[randtrim]\noffset=%dm\nrw=randtrim\nbs=64k\nverify=0\nloops=4\n' $((4 * MB)) >>"$T/a.fio"
( while :; do uzctl "$SOCK" compact >/dev/null 2>&1; sleep 0.3; done ) &
COMPACTOR=$!
PIDS+=("$COMPACTOR")
fio --output="$T/a.out" "$T/a.fio"
rc=$?
kill "$COMPACTOR"; wait "$COMPACTOR" 2>/dev/null
log "I/Os issued (read, write, trim): $(sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),\([0-9]*\).*/\1 \2 \3/p' "$T/a.out" | awk '{r += $1; w += $2; t += $3} END {print r, w, t}')"
check "fio write + trim + verify, compacting throughout: exit 0" test $rc -eq 0
check "... no verify error reported" bash -c "! grep -qiE 'verify failed|bad magic|crc32c: wanted' '$T/a.out'"
check "... the jobs did trim" grep -q "trim: IOPS=" "$T/a.out"
log "compactions during the run: $(stat_of "$SOCK" compactions); failed_reads $(stat_of "$SOCK" failed_reads), failed_writes $(stat_of "$SOCK" failed_writes)"
check "... compactions ran" test "$(stat_of "$SOCK" compactions)" -gt 3
check "no failed reads or writes" test "$(stat_of "$SOCK" failed_reads):$(stat_of "$SOCK" failed_writes)" = 0:0

# 2. Write the three regions again (no verify yet) with a fourth job
# interleaving junk, discard the junk: the data's slab pages go sparse.
jobs "$T/b.fio" do_verify=0
printf '[junk]\noffset=%dm\nrefill_buffers=1\nbuffer_compress_percentage=50\nverify=0\n' $((4 * MB)) >>"$T/b.fio"
check "write pass for the verify-after-compaction run" quiet fio --output="$T/b.out" "$T/b.fio"
blkdiscard -o $((4 * MB << 20)) -l $((MB << 20)) "$LOOP"
settle "$SOCK"
out=$(uzctl "$SOCK" compact)
log "compaction after the discard: $out"
check "compaction moved objects of the data to verify" test "$(sed -n 's/.* \([0-9]*\) objects moved.*/\1/p' <<<"$out")" -gt 0
jobs "$T/c.fio" verify_only=1
fio --output="$T/c.out" "$T/c.fio"
check "verify-only pass after the compaction: exit 0" test $? -eq 0
check "... no verify error reported" bash -c "! grep -qiE 'verify failed|bad magic|crc32c: wanted' '$T/c.out'"
check "the daemon is alive" kill -0 "$DPID"
finish
