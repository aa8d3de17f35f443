# The FUSE file itself: unaligned I/O against a reference, holes, zeroing,
# incompressible pages, the end of the device, and what may not change.
source "$(dirname "$0")/lib.sh"
need_root
SOCK=$T/io.sock
F=$T/io
start_daemon "$F" --size 64M --socket "$SOCK" || { fail "uzramd start"; finish; }

check "random unaligned pwrite/pread across pages, 4 threads, match a reference" \
	"$TOOLS/io_verify" "$F" $((64 << 20)) 4 100000 7

# Incompressible pages are stored raw and read back intact.
head -c $((1 << 20)) /dev/urandom >"$T/rnd"
before=$(stat_of "$SOCK" huge_pages_since)
dd if="$T/rnd" of="$F" bs=1M seek=10 conv=notrunc status=none
check "random data reads back" cmp <(dd if="$F" bs=1M skip=10 count=1 status=none) "$T/rnd"
check "random pages counted as huge_pages" test "$(stat_of "$SOCK" huge_pages_since)" -ge $((before + 256))

# Same-filled pages take no memory.
uzctl "$SOCK" mm_stat >/dev/null
perl -e 'print "\xab\xcd\xef\x01\x23\x45\x67\x89" x 131072' >"$T/pat"
fallocate --punch-hole --keep-size -o $((20 << 20)) -l $((1 << 20)) "$F"
same0=$(stat_of "$SOCK" same_pages)
dd if="$T/pat" of="$F" bs=1M seek=20 conv=notrunc status=none
check "same-filled pages counted" test "$(stat_of "$SOCK" same_pages)" -ge $((same0 + 256))
check "same-filled pages read back" cmp <(dd if="$F" bs=1M skip=20 count=1 status=none) "$T/pat"

# Punch hole and zero range free pages and read as zeros.
used0=$(stat_of "$SOCK" orig_data_size)
free0=$(stat_of "$SOCK" notify_free)
check "fallocate --punch-hole" fallocate --punch-hole --keep-size -o $((10 << 20)) -l $((1 << 20)) "$F"
check "punched range reads as zeros" cmp <(dd if="$F" bs=1M skip=10 count=1 status=none) <(head -c 1M /dev/zero)
check "punch hole freed 256 pages" test "$(stat_of "$SOCK" notify_free)" -eq $((free0 + 256))
check "fallocate --zero-range, unaligned" fallocate --zero-range --keep-size -o $(((20 << 20) + 1000)) -l 10000 "$F"
check "zeroed bytes read as zeros" cmp <(dd if="$F" bs=1 skip=$(((20 << 20) + 1000)) count=10000 status=none) \
	<(head -c 10000 /dev/zero)
check "bytes before the zeroed range kept" cmp \
	<(dd if="$F" bs=1000 count=1 iflag=skip_bytes skip=$((20 << 20)) status=none) \
	<(dd if="$T/pat" bs=1000 count=1 status=none)
check "bytes after the zeroed range kept" cmp \
	<(dd if="$F" bs=1000 count=5 iflag=skip_bytes skip=$(((20 << 20) + 11000)) status=none) \
	<(dd if="$T/pat" bs=1000 count=5 iflag=skip_bytes skip=11000 status=none)
check "orig_data_size fell" test "$(stat_of "$SOCK" orig_data_size)" -lt "$used0"
check "sizes stay: truncate refused" bash -c "! truncate -s 1M '$F' 2>/dev/null"
check "sizes stay: growing fallocate refused" bash -c "! fallocate -o 64M -l 1M '$F' 2>/dev/null"
check "size still 64 MiB" test "$(stat -c %s "$F")" = $((64 << 20))
check "chmod refused" bash -c "! chmod 644 '$F' 2>/dev/null"

# The end of the device: reads stop there, writes past it fail.
check "read at the end returns nothing" test "$(dd if="$F" bs=4096 skip=$((16384)) count=1 status=none | wc -c)" = 0
check "write past the end fails (ENOSPC)" bash -c \
	"! dd if=/dev/zero of='$F' bs=4096 seek=16384 count=1 conv=notrunc status=none 2>'$T/enospc'"
check "... saying No space left on device" grep -q "No space left on device" "$T/enospc"
check "statfs reports 4096-byte blocks" test "$(stat -f -c %S "$F")" = 4096
check "a direct-I/O read of 1 MiB works" dd if="$F" of=/dev/null bs=1M count=8 iflag=direct status=none

# The page cache never holds the file's data (direct_io): fincore counts
# the file's own resident pages.
head -c $((48 << 20)) /dev/urandom | dd of="$F" bs=1M conv=notrunc status=none
cat "$F" >/dev/null
res=$(fincore --bytes --noheadings --output RES "$F")
log "page cache holding the FUSE file after writing and reading it: $res bytes"
check "no page cache for the file" test "$res" -eq 0

# Memory limit: full means ENOSPC, nothing lost, room again after a discard.
# (New data gets the limit less its reserve for rewrites: 6 MiB of 8.)
start_daemon "$T/lim" --size 64M --mem-limit 8M --socket "$T/lim.sock" || { fail "uzramd with a limit"; finish; }
head -c $((4 << 20)) /dev/urandom >"$T/four"
check "4 MiB of random data fit under an 8 MiB limit" \
	dd if="$T/four" of="$T/lim" bs=1M conv=notrunc oflag=direct status=none
check "writes beyond mem-limit fail" bash -c \
	"! head -c 16M /dev/urandom | dd of='$T/lim' bs=1M seek=8 conv=notrunc oflag=direct status=none 2>'$T/full.err'"
log "$(tail -n1 "$T/full.err")"
check "failed_writes counted" test "$(stat_of "$T/lim.sock" failed_writes)" -gt 0
check "mem_used_total within the limit" test "$(stat_of "$T/lim.sock" mem_used_total)" -le $((8 << 20))
check "data stored before the limit intact" cmp <(head -c $((4 << 20)) "$T/lim") "$T/four"
check "at the limit, stored pages can be rewritten" \
	dd if="$T/four" of="$T/lim" bs=1M conv=notrunc oflag=direct status=none
fallocate --punch-hole --keep-size -o 0 -l $((4 << 20)) "$T/lim"
fallocate --punch-hole --keep-size -o $((8 << 20)) -l $((16 << 20)) "$T/lim"
check "after a discard writes succeed again" dd if="$T/four" of="$T/lim" bs=1M seek=30 conv=notrunc status=none
check "the daemon is still serving" uzctl "$T/lim.sock" mm_stat
finish
