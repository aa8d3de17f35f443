# uzramd's command line and life cycle: bad input gives one clear line and
# a non-zero status; without --foreground it returns only when the file is
# ready; SIGTERM and SIGINT unmount, remove the socket, exit 0.
source "$(dirname "$0")/lib.sh"
need_root

# expect_error DESCRIPTION PATTERN ARGS...: uzramd fails, saying PATTERN.
expect_error() {
	local d=$1 pat=$2 out rc; shift 2
	out=$(timeout 20 "$UZRAMD" "$@" 2>&1); rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -- "$pat" <<<"$out"; then
		pass "$d"
	else
		fail "$d (status $rc, said: $out)"
	fi
}

S=(--socket "$T/x.sock")
expect_error "size not a multiple of 4096" "size: 4097: not a multiple of 4096" --size 4097 "${S[@]}" "$T/d"
expect_error "size with a bad suffix" "'12Q' is not a size" --size 12Q "${S[@]}" "$T/d"
expect_error "size zero" "size: 0:" --size 0 "${S[@]}" "$T/d"
expect_error "bad mem-limit" "mem-limit: 'lots' is not a size" --mem-limit lots "${S[@]}" "$T/d"
expect_error "bad arena" "'giant' is not an arena kind" --arena giant "${S[@]}" "$T/d"
expect_error "bad lock-memory" "lock-memory: 'maybe' is not yes or no" --lock-memory maybe "${S[@]}" "$T/d"
expect_error "missing PATH" "missing PATH" --size 1M
expect_error "two PATHs" "one PATH only" --size 1M "$T/a" "$T/b"
expect_error "unknown option" "unrecognized option" --frobnicate "$T/d"
mkdir "$T/dir"
expect_error "PATH is a directory" "exists and is not a regular file" --size 1M "${S[@]}" "$T/dir"
ln -s "$T/target" "$T/link"
expect_error "PATH is a symlink" "is a symbolic link" --size 1M "${S[@]}" "$T/link"
expect_error "PATH in a missing directory" "directory $T/nodir: No such file" --size 1M "${S[@]}" "$T/nodir/d"
expect_error "missing config file" "$T/none.conf: No such file or directory" --config "$T/none.conf" "${S[@]}" "$T/d"
printf 'size = 1G\n# fine so far\nmem-limit = 12Q\n' >"$T/bad.conf"
expect_error "bad config names file, line, key" "$T/bad.conf:3: mem-limit: '12Q' is not a size" \
	--config "$T/bad.conf" "${S[@]}" "$T/d"
printf 'size = 1G\ncolour = blue\n' >"$T/bad2.conf"
expect_error "unknown config key" "$T/bad2.conf:2: colour: unknown key" --config "$T/bad2.conf" "${S[@]}" "$T/d"
check "failed starts leave no file behind" test ! -e "$T/d"
check "failed starts leave no socket behind" test ! -e "$T/x.sock"

# Background mode: returns once usable; the file has exactly SIZE bytes.
"$UZRAMD" --size 64M --socket "$T/bg.sock" "$T/bg" >"$T/bg.log" 2>&1
check "uzramd returns 0 in background mode" test $? -eq 0
BGPID=$(stat_of "$T/bg.sock" pid)
[ -n "$BGPID" ] && PIDS+=("$BGPID")
check "file is ready on return: exact size" test "$(stat -c %s "$T/bg")" = $((64 << 20))
check "file is usable at once (dd)" dd if=/dev/zero of="$T/bg" bs=1M count=4 conv=notrunc,fsync status=none
check "file is mode 0600 regular" test "$(stat -c %f:%a "$T/bg")" = "8180:600"
check "socket is mode 0600" test "$(stat -c %a "$T/bg.sock")" = 600
check "config file settings apply (config, then command line)" bash -c "
	printf 'size = 8M\nmem-limit = 64M\n' >'$T/ok.conf'
	'$UZRAMD' --config '$T/ok.conf' --mem-limit 32M --socket '$T/ok.sock' '$T/ok' &&
	test \$(stat -c %s '$T/ok') = 8388608 &&
	uzctl '$T/ok.sock' mm_stat | awk '{exit \$4 != 33554432}'"
OKPID=$(stat_of "$T/ok.sock" pid)
[ -n "$OKPID" ] && PIDS+=("$OKPID")
expect_error "second daemon on a mounted PATH is refused" "already a mount point" --size 1M \
	--socket "$T/other.sock" "$T/bg"
expect_error "second daemon on a live socket is refused" "in use by another running uzramd" --size 1M \
	--socket "$T/bg.sock" "$T/third"
check "the first daemon still serves" uzctl "$T/bg.sock" mm_stat
# (ASan and TSan ignore mlockall: nothing to see in sanitized builds.)
[ -z "${SANITIZE:-}" ] && check "memory locked by default (VmLck)" test "$(vmlck_kb "$BGPID")" -gt 0
start_daemon "$T/nolock" --size 16M --lock-memory no --socket "$T/nl.sock"
check "--lock-memory no: nothing locked" test "$(vmlck_kb "$DPID")" -eq 0
stop_daemon "$DPID"

# --instance NAME: settings from a config file, PATH from its 'path' key.
mkdir -p "$T/inst"
printf 'size = 8M\npath = %s\nmem-limit = 40M\n' "$T/inst/dev" >"$T/inst/i0.conf"
"$UZRAMD" --instance i0 --config "$T/inst/i0.conf" --socket "$T/i0.sock" >"$T/i0.log" 2>&1
check "--instance starts with the config's path" test "$(stat -c %s "$T/inst/dev" 2>/dev/null)" = 8388608
I0PID=$(stat_of "$T/i0.sock" pid)
[ -n "$I0PID" ] && PIDS+=("$I0PID")
check "--instance: name in the table" bash -c "uzctl '$T/i0.sock' | tail -n1 | grep -q '^i0 '"
# Reload outside systemd: SIGHUP and uzramctl reload.
printf 'size = 16M\npath = %s\nmem-limit = 24M\ncompaction = off\n' "$T/inst/dev" >"$T/inst/i0.conf"
kill -HUP "$I0PID"
# (the daemon applies one key after the other: wait for both)
for _ in $(seq 50); do
	[ "$(stat_of "$T/i0.sock" mem_limit)" = 25165824 ] &&
		[ "$(stat_of "$T/i0.sock" compaction_threshold_ppm)" = 0 ] && break
	sleep 0.1
done
check "SIGHUP applies a new mem-limit" test "$(stat_of "$T/i0.sock" mem_limit)" = 25165824
check "SIGHUP applies a new compaction threshold" test "$(stat_of "$T/i0.sock" compaction_threshold_ppm)" = 0
check "SIGHUP does not stop the daemon" kill -0 "$I0PID"
printf 'size = 16M\npath = %s\nmem-limit = 32M\n' "$T/inst/dev" >"$T/inst/i0.conf"
out=$(uzctl "$T/i0.sock" reload)
check "uzramctl reload says what it applied (the default reserve follows mem-limit)" grep -q "^applied mem-limit reserve compaction$" <<<"$out"
check "uzramctl reload says what needs a restart" grep -q "^needs_restart size$" <<<"$out"
printf 'mem-limit = 12Q\n' >"$T/inst/i0.conf"
out=$(uzctl "$T/i0.sock" reload 2>&1); rc=$?
check "reload of a bad file fails, naming file and line" refused "$rc" "i0.conf:1: mem-limit" "$out"
check "... and changes nothing" test "$(stat_of "$T/i0.sock" mem_limit)" = 33554432
kill -TERM "$I0PID" 2>/dev/null

# Ctrl-C in the foreground, SIGTERM in the background: a clean stop.
check "SIGTERM stops the background daemon with status 0" bash -c "
	kill -TERM $BGPID; for i in \$(seq 100); do kill -0 $BGPID 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
check "unmounted after SIGTERM" bash -c "! grep -qF ' $T/bg ' /proc/mounts"
check "socket removed after SIGTERM" test ! -e "$T/bg.sock"
check "file uzramd created is removed" test ! -e "$T/bg"
kill -TERM "$OKPID" 2>/dev/null

: >"$T/kept"
start_daemon "$T/kept" --size 16M --socket "$T/fg.sock"
kill -INT "$DPID"
wait "$DPID"
check "SIGINT: exit status 0" test $? -eq 0
check "SIGINT: unmounted" bash -c "! grep -qF ' $T/kept ' /proc/mounts"
check "a file that existed before is kept" test -f "$T/kept"

# SIGKILL: the file answers ENOTCONN (the kernel's doing); a new uzramd
# over the same PATH clears the dead mount and starts.
start_daemon "$T/killed" --size 16M --socket "$T/k.sock"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
out=$(dd if="$T/killed" of=/dev/null bs=4k count=1 2>&1)
# (ECONNABORTED while the kernel still tears the connection down: with
# io_uring the rings outlive the process for a moment.)
check "after SIGKILL the file answers ENOTCONN" grep -Eq "Transport endpoint is not connected|Software caused connection abort" <<<"$out"
start_daemon "$T/killed" --size 16M --socket "$T/k2.sock" # (the dead mount looks ready: wait for the log)
for _ in $(seq 100); do grep -q "$T/killed ready" "$T/uzramd.log" && break; sleep 0.1; done
check "a restart over the dead mount works" dd if=/dev/zero of="$T/killed" bs=4k count=4 conv=notrunc status=none
check "... saying what it cleared" grep -q "killed: stale mount of a uzramd that died (its data was lost with it): unmounted" "$T/uzramd.log"
check "... and only one mount is left there" test "$(grep -cF " $T/killed fuse.uzram " /proc/mounts)" = 1
stop_daemon "$DPID"

# A write in flight when SIGTERM arrives completes.
start_daemon "$T/inflight" --size 256M --socket "$T/if.sock"
dd if=/dev/zero of="$T/inflight" bs=1M count=200 oflag=direct status=none 2>"$T/dd.err" &
DD=$!
sleep 0.3
kill -TERM "$DPID"
wait "$DPID"
check "SIGTERM during writes: exit status 0" test $? -eq 0
wait "$DD"
log "dd during shutdown ended with status $? ($(cat "$T/dd.err"))"
finish
