# FUSE over io_uring: which transport each io-uring setting gives with the
# module parameter off and on, the clear refusal of io-uring = yes when it
# cannot be had, the counters, the RSS bound with the ring buffers, and
# teardown under load (SIGTERM during fio; SIGKILL, then a restart over the
# same PATH; an unmount).  The parameter is put back as it was.
source "$(dirname "$0")/lib.sh"
need_root
cd "$T" || exit 1 # fio leaves its verify state files in the working folder
[ -e "$URING_PARAM" ] || { echo "SKIP: this kernel has no FUSE over io_uring ($URING_PARAM)"; exit 77; }
command -v fio >/dev/null || { fail "fio missing (make deps installs it)"; finish; }
command -v setpriv >/dev/null || { fail "setpriv (util-linux) missing"; finish; }
uring_param_save
NQ=$(getconf _NPROCESSORS_CONF)
SOCK=$T/u.sock
# queue_threads PID: the daemon's threads beyond main, libfuse's and the
# housekeeping ones are the queues' (named after the daemon; count them).
nthreads() { ls "/proc/$1/task" | wc -l; }
logline() { grep -F "$1" "$T/uzramd.log" | tail -n 1; }
json() { stat_of "$SOCK" "$1"; }

echo "-- enable_uring off"
uring_param_set N
start_daemon "$T/a" --size 64M --socket "$SOCK" || { fail "uzramd start"; finish; }
check "auto with the parameter off: /dev/fuse" test "$(json transport)" = dev
check "... io_uring_queues 0" test "$(json io_uring_queues)" = 0
check "... ring_bytes 0" test "$(json ring_bytes)" = 0
check "... the journal line says why" grep -q "transport /dev/fuse (io-uring = auto: $URING_PARAM is off" "$T/uzramd.log"
check "... serves I/O" quiet dd if=/dev/urandom of="$T/a" bs=64k count=16 oflag=direct conv=notrunc status=none
stop_daemon "$DPID"
check "... SIGTERM: exit 0" test $? -eq 0
: >"$T/b"
NOBODY=$(id -u nobody)
chown nobody "$T" "$T/b"
out=$(setpriv --reuid "$NOBODY" --regid "$(id -g nobody)" --clear-groups "$UZRAMD" --foreground --io-uring yes \
	--lock-memory no --size 64M --socket "$T/b.sock" "$T/b" 2>&1)
rc=$?
log "$out"
check "yes without the right to turn it on: refused" test $rc -ne 0
check "... saying why" grep -q "io-uring = yes: cannot turn on $URING_PARAM: Permission denied (root only)" <<<"$out"
check "... the parameter still off" test "$(cat "$URING_PARAM")" = N
check "... nothing mounted" sh -c "! grep -qF ' $T/b ' /proc/mounts"
"$UZRAMD" --foreground --io-uring maybe --size 64M "$T/c" >"$T/c.out" 2>&1
check "a bad io-uring value: refused" grep -q "^uzramd: --io-uring: 'maybe' is not auto, yes or no" "$T/c.out"
"$UZRAMD" --foreground --io-uring-depth 0 --size 64M "$T/c" >"$T/c.out" 2>&1
check "a bad io-uring-depth: refused" grep -q "^uzramd: --io-uring-depth: '0' is not a queue depth (1 to 256)" "$T/c.out"
printf 'io-uring = sometimes\n' >"$T/bad.conf"
"$UZRAMD" --foreground --config "$T/bad.conf" --size 64M "$T/c" >"$T/c.out" 2>&1
check "... in a config file: FILE:LINE: key" grep -q "$T/bad.conf:1: io-uring: 'sometimes' is not auto, yes or no" "$T/c.out"

echo "-- io-uring = yes turns it on"
start_daemon "$T/a" --size 256M --io-uring yes --socket "$SOCK" || { fail "uzramd --io-uring yes"; finish; }
check "yes as root: the parameter is on" test "$(cat "$URING_PARAM")" = Y
check "... logged, as it is system-wide" grep -q "io-uring = yes: turned on $URING_PARAM" "$T/uzramd.log"
for _ in $(seq 300); do [ "$(json transport)" = io_uring ] && break; sleep 0.1; done
check "... transport io_uring" test "$(json transport)" = io_uring
check "... one queue per possible CPU ($NQ)" test "$(json io_uring_queues)" = "$NQ"
check "... depth 8 by default" test "$(json io_uring_depth)" = 8
check "... ring_bytes counts $NQ x 8 MiB payloads and more" test "$(json ring_bytes)" -gt $((NQ * 8 << 20))
check "... the journal line says so" grep -q "transport io_uring ($NQ queues of 8 entries" "$T/uzramd.log"
dd if=/dev/urandom of="$T/ref" bs=1M count=32 status=none
check "1M writes over io_uring" quiet dd if="$T/ref" of="$T/a" bs=1M oflag=direct conv=notrunc status=none
check "... read back equal" dev_same "$T/a" "$T/ref"
fio --name=w --filename="$T/a" --ioengine=libaio --direct=1 --iodepth=16 --numjobs=2 --rw=write --bs=1m \
	--size=200m --buffer_compress_percentage=60 --refill_buffers >/dev/null 2>&1
rss=$(( $(rss_kb "$DPID") * 1024 ))
bound=$(( $(json mem_used_total) + $(made_ahead "$SOCK") + (32 << 20) ))
log "RSS $((rss >> 20)) MiB, bound $((bound >> 20)) MiB (mem_used_total + table, reserve and buffers + 32 MiB)"
if [ -n "${SANITIZE:-}" ]; then log "sanitized build: RSS bound not checked"; else
	check "RSS within mem_used_total + what is made ahead + 32 MiB after 1M writes" test "$rss" -le "$bound"; fi
check "the daemon has its queue threads ($(nthreads "$DPID") threads)" test "$(nthreads "$DPID")" -gt "$NQ"
fio --name=load --filename="$T/a" --ioengine=libaio --direct=1 --iodepth=16 --numjobs=2 --rw=randrw --bs=4k \
	--size=200m --time_based --runtime=30 --buffer_compress_percentage=60 >/dev/null 2>&1 &
FIO=$!
PIDS+=("$FIO")
sleep 2
t0=$(date +%s)
stop_daemon "$DPID"
rc=$?
check "SIGTERM during fio: exit 0" test $rc -eq 0
check "... within 10 s" test $(( $(date +%s) - t0 )) -le 10
check "... nothing left mounted" sh -c "! grep -qF ' $T/a ' /proc/mounts"
wait "$FIO"

echo "-- enable_uring on"
start_daemon "$T/a" --size 256M --socket "$SOCK" || { fail "uzramd start"; finish; }
for _ in $(seq 300); do [ "$(json transport)" = io_uring ] && break; sleep 0.1; done
check "auto with the parameter on: io_uring" test "$(json transport)" = io_uring
stop_daemon "$DPID"
start_daemon "$T/a" --size 256M --io-uring no --socket "$SOCK" || { fail "uzramd --io-uring no"; finish; }
check "no with the parameter on: /dev/fuse" test "$(json transport)" = dev
check "... the journal line says why" grep -q "transport /dev/fuse (io-uring = no)" "$T/uzramd.log"
stop_daemon "$DPID"
# Queues that cannot be built (their 512 MiB of buffers beyond the address
# space allowed): auto falls back and says why, yes refuses.  (Not in
# sanitized builds: their shadow memory needs far more address space.)
if [ -n "${SANITIZE:-}" ]; then log "sanitized build: no address-space limit"; else
(ulimit -v 400000; start_daemon "$T/a" --size 64M --io-uring-depth 256 --socket "$SOCK" &&
	stat_of "$SOCK" transport >"$T/fallback" && stop_daemon "$DPID")
check "queues that cannot be built: auto serves over /dev/fuse" test "$(cat "$T/fallback" 2>/dev/null)" = dev
check "... saying why" grep -q "transport /dev/fuse (io-uring = auto: cannot map 512 MiB of io_uring buffers" "$T/uzramd.log"
out=$(ulimit -v 400000; "$UZRAMD" --foreground --io-uring yes --io-uring-depth 256 --size 64M --socket "$T/y.sock" "$T/y" 2>&1)
check "... yes refuses to start" test $? -ne 0
check "... saying why" grep -q "^uzramd: io-uring = yes: cannot map 512 MiB of io_uring buffers: Cannot allocate memory" <<<"$out"
check "... and leaves nothing mounted" sh -c "! grep -qF ' $T/y ' /proc/mounts"
fi
start_daemon "$T/a" --size 256M --io-uring-depth 2 --socket "$SOCK" || { fail "uzramd --io-uring-depth 2"; finish; }
for _ in $(seq 300); do [ "$(json transport)" = io_uring ] && break; sleep 0.1; done
check "io-uring-depth 2" test "$(json io_uring_depth)" = 2
check "... still serves 1M I/O (2 jobs, verified)" quiet fio --name=d --filename="$T/a" --ioengine=libaio --direct=1 \
	--iodepth=16 --numjobs=2 --offset_increment=64m --rw=randwrite --bs=1m --size=64m --verify=crc32c \
	--buffer_compress_percentage=60
fio --name=load --filename="$T/a" --ioengine=libaio --direct=1 --iodepth=16 --numjobs=2 --rw=randrw --bs=4k \
	--size=200m --time_based --runtime=30 >/dev/null 2>&1 &
FIO=$!
PIDS+=("$FIO")
sleep 2
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
wait "$FIO"
check "SIGKILL during fio: the file answers ENOTCONN" sh -c "stat '$T/a' 2>&1 | grep -Eq 'not connected|connection abort'"
# (The dead mount and the killed daemon's socket look ready at once: wait
# for the new daemon's own ready line.)
nready=$(grep -c " ready: " "$T/uzramd.log")
start_daemon "$T/a" --size 256M --socket "$SOCK" || { fail "restart over the dead mount"; finish; }
for _ in $(seq 300); do [ "$(grep -c " ready: " "$T/uzramd.log")" -gt "$nready" ] && break; sleep 0.1; done
check "a new uzramd over the same PATH: io_uring again" test "$(json transport)" = io_uring
check "... it cleared the dead mount" grep -q "stale mount of a uzramd that died" "$T/uzramd.log"
check "... serves I/O" quiet fio --name=v --filename="$T/a" --ioengine=libaio --direct=1 --iodepth=16 --rw=randwrite \
	--bs=4k --size=32m --verify=crc32c
check "umount of the file: the daemon ends by itself" umount "$T/a"
for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
check "... within 5 s" sh -c "! kill -0 $DPID 2>/dev/null"
wait "$DPID"
check "... exit 0" test $? -eq 0
finish
