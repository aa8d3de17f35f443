# uzram@.service under a real systemd: this machine's /usr booted in a
# container (systemd-nspawn --volatile=yes), with `make install`'s tree at
# /usr/local.  Inside: start reaches active only after READY, the
# configured ext4 is mounted, data reads back, reload applies a new
# mem-limit, stop leaves nothing behind, a bad config fails to start with
# FILE:LINE in the journal.  Outside: the install tree, verify, exposure.
source "$(dirname "$0")/lib.sh"
need_root
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn missing (make deps installs systemd-container)"; exit 77; }

# The install tree.
make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr/local ${SANITIZE:+SANITIZE=$SANITIZE} >/dev/null
for f in sbin/uzramd bin/uzramctl libexec/uzram/uzram-mount lib/systemd/system/uzram@.service \
	libexec/uzram/uzram-metrics lib/systemd/system/uzram-metrics.service lib/systemd/system/uzram-metrics.timer \
	share/uzram/uzram.conf share/man/man8/uzramd.8 share/man/man8/uzramctl.8; do
	[ -e "$T/root/usr/local/$f" ] || fail "make install DESTDIR: missing /usr/local/$f"
done
pass "make install DESTDIR=... PREFIX=/usr/local lays out binaries, unit, helper, example config, man pages"
check "the installed unit names the installed paths" grep -q "^ExecStart=/usr/local/sbin/uzramd --foreground --instance %i$" \
	"$T/root/usr/local/lib/systemd/system/uzram@.service"
make -s -C "$TOP" install PREFIX="$T/pfx" >/dev/null
check "systemd-analyze verify is clean" bash -c \
	"MANPATH='$T/pfx/share/man:' systemd-analyze verify '$T/pfx/lib/systemd/system/uzram@.service' \
	'$T/pfx/lib/systemd/system/uzram-metrics.service' '$T/pfx/lib/systemd/system/uzram-metrics.timer' 2>&1 |
	tee '$T/verify.log' | (! grep -q .)"
cp "$T/root/usr/local/lib/systemd/system/uzram@.service" "$T/uzram@t0.service"
exposure=$(systemd-analyze security --offline=yes "$T/uzram@t0.service" 2>/dev/null | sed -n 's/.*Overall exposure level for uzram@t0.service: \([0-9.]*\).*/\1/p')
log "systemd-analyze security --offline=yes: exposure $exposure"
check "exposure at most 2.0" bash -c "[ -n '$exposure' ] && echo '$exposure <= 2.0' | bc | grep -q 1"
make -s -C "$TOP" uninstall PREFIX="$T/pfx" >/dev/null
check "make uninstall removes every file" test -z "$(find "$T/pfx" -type f)"

# Inside the container.
mkdir -p "$T/etc" "$T/results"
cat >"$T/etc/t0.conf" <<-CONF
	size = 256M
	mem-limit = 128M
	mount-point = /mnt/t0
	backing-file = /var/lib/uzram/t0.backing
CONF
printf 'size = 64M\nmem-limit = 12Q\n' >"$T/etc/t1.conf"
# The shipped swap sample, smaller.
sed -e 's/^size = .*/size = 256M/' -e 's/^reserve = .*/reserve = 8M/' "$TOP/conf/swap.conf" >"$T/etc/s0.conf"
printf 'size = 128M\nmount-point = /mnt/t2\npersist = /var/lib/uzram/t2.snapshot\n' >"$T/etc/t2.conf"
cat >"$T/selftest.service" <<-UNIT
	[Unit]
	Description=uzram self-test
	[Service]
	Type=oneshot
	ExecStart=/bin/bash /uzram-test/inside.sh
	ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
# UZ_IO_URING=yes: the service runs with enable_uring on (set here, put
# back by cleanup: the unit itself may not write /sys) and must be served
# over io_uring, its queue threads pinned despite the system-call filter.
want_transport="/dev/fuse"
if [ "$UZ_IO_URING" = yes ]; then
	uring_param_set Y || { fail "cannot turn on $URING_PARAM"; finish; }
	want_transport="io_uring"
elif [ -e "$URING_PARAM" ] && [ "$(cat "$URING_PARAM")" = Y ]; then
	want_transport="io_uring"
fi
cat >"$T/inside.sh" <<-SH
	SANITIZE='${SANITIZE:-}' # sanitizers ignore mlockall
	WANT_TRANSPORT='$want_transport'
SH
cat >>"$T/inside.sh" <<-'SH'
	export PATH=/usr/local/sbin:/usr/local/bin:$PATH
	R=/results/log
	chk() { local d=$1; shift; if "$@" >>/results/cmd.log 2>&1; then echo "ok   $d" >>$R; else echo "FAIL $d" >>$R; fi; }
	S=/run/uzram/t0.sock
	chk "systemctl start uzram@t0" systemctl start uzram@t0
	chk "uzram@t0 is active" systemctl is-active uzram@t0
	journalctl -u uzram@t0 -o short-monotonic --no-pager >/results/journal-start
	ready=$(grep -n 'ready:' /results/journal-start | head -n1 | cut -d: -f1)
	started=$(grep -n 'Started uzram@t0' /results/journal-start | head -n1 | cut -d: -f1)
	chk "the journal names the transport: $WANT_TRANSPORT" grep -q "ready: .* transport $WANT_TRANSPORT" /results/journal-start
	if [ "$WANT_TRANSPORT" = io_uring ]; then
		pid=$(systemctl show -p MainPID --value uzram@t0)
		# A thread pinned to one CPU lists a single number.
		chk "io_uring queue threads pinned to their CPU" bash -c \
			"grep -q '^Cpus_allowed_list:[[:space:]]*[0-9]*\$' /proc/$pid/task/*/status"
	fi
	chk "READY came before systemd called it started" test -n "$ready" -a -n "$started" -a "${ready:-9999}" -lt "${started:-0}"
	chk "STATUS= shows DATA/COMPR/TOTAL" bash -c "systemctl show -p StatusText --value uzram@t0 | grep -q '^DATA .* COMPR .* TOTAL'"
	chk "ext4 mounted at the mount-point" test "$(findmnt -n -o FSTYPE /mnt/t0)" = ext4
	chk "the mount is a direct-I/O loop device over the block file" bash -c \
		"losetup -n -O BACK-FILE,DIO \$(cat /run/uzram/t0.loop) | grep -q '/run/uzram/t0 *1'"
	head -c 20M /dev/urandom >/tmp/data
	cp /tmp/data /mnt/t0/data && sync
	chk "data written there reads back" cmp /tmp/data /mnt/t0/data
	# (no awk here: /etc/alternatives is empty under --volatile)
	chk "uzramctl sees the data" test "$(uzramctl --socket $S mm_stat | cut -d' ' -f1)" -gt 20000000
	# The backing file in the unit's StateDirectory, under ProtectSystem=strict.
	chk "the backing file is in /var/lib/uzram, mode 0600" test "$(stat -c %a /var/lib/uzram/t0.backing)" = 600
	uzramctl --socket $S idle all >>/results/cmd.log 2>&1
	chk "writeback all under the hardened unit" bash -c "uzramctl --socket $S writeback all | grep -q '^[1-9][0-9]* pages written back'"
	chk "bd_stat counts the blocks written" test "$(uzramctl --socket $S bd_stat | cut -d' ' -f3)" -gt 4000
	chk "the data reads back from the backing file (O_DIRECT)" bash -c "dd if=/mnt/t0/data iflag=direct bs=1M status=none | cmp - /tmp/data"
	[ -z "$SANITIZE" ] && chk "memory locked (lock-memory = yes; VmLck)" bash -c \
		"grep -q '^VmLck:[[:space:]]*[1-9]' /proc/\$(systemctl show -p MainPID --value uzram@t0)/status"
	chk "mem-limit from the config" test "$(uzramctl --socket $S mm_stat | cut -d' ' -f4)" = 134217728
	sed -i 's/^mem-limit.*/mem-limit = 96M/' /etc/uzram/t0.conf
	chk "systemctl reload" systemctl reload uzram@t0
	chk "reload applied the new mem-limit" test "$(uzramctl --socket $S mm_stat | cut -d' ' -f4)" = 100663296
	chk "still active after reload" systemctl is-active uzram@t0
	# Metrics for node_exporter's textfile collector.
	chk "uzram-metrics.service runs" systemctl start uzram-metrics.service
	# (t0's pages are all in its backing file now: mem_used_total may be 0)
	chk "... and writes uzram.prom with t0's counters" \
		grep -q '^uzram_mem_used_total_bytes{device="t0"} [0-9]' /var/lib/prometheus/node-exporter/uzram.prom
	chk "... atomically: no temporary file left" test "$(ls -A /var/lib/prometheus/node-exporter)" = uzram.prom
	chk "uzram-metrics.timer can be enabled and started" systemctl enable --now uzram-metrics.timer
	chk "... and is active" systemctl is-active uzram-metrics.timer
	chk "systemctl stop uzram@t0" systemctl stop uzram@t0
	chk "after stop: nothing mounted at the mount-point" bash -c "! findmnt /mnt/t0"
	chk "after stop: no loop device left" bash -c "! losetup -a | grep -q /run/uzram/t0"
	chk "after stop: no uzramd process" bash -c "! pidof uzramd"
	chk "after stop: socket removed" test ! -e $S
	# Killed: the unit cleans up, a restart works (with a new, empty file system).
	chk "start again" systemctl start uzram@t0
	cp /tmp/data /mnt/t0/data && sync
	kill -KILL "$(systemctl show -p MainPID --value uzram@t0)"
	for i in $(seq 100); do
		case $(systemctl show -p ActiveState --value uzram@t0) in failed | inactive) break ;; esac
		sleep 0.2
	done
	chk "SIGKILL: the unit ends up failed" test "$(systemctl show -p ActiveState --value uzram@t0)" = failed
	chk "SIGKILL: the mount-point was unmounted" bash -c "! findmnt /mnt/t0"
	chk "SIGKILL: no loop device left" bash -c "! losetup -a | grep -q /run/uzram/t0"
	chk "SIGKILL: cleanup said what it did" bash -c "journalctl -u uzram@t0 -o cat --no-pager | grep -q 'the daemon died: lazily unmounted /mnt/t0'"
	chk "SIGKILL: a restart works" systemctl restart uzram@t0
	chk "... and mounts a new file system" test "$(findmnt -n -o FSTYPE /mnt/t0)" = ext4
	chk "... which is empty: the data went with the daemon, as with zram" test ! -e /mnt/t0/data
	chk "stop after the restart" systemctl stop uzram@t0
	# persist: stop snapshots after the unmount; start restores and mounts
	# the file system as it was, without making a new one.
	chk "persist: start uzram@t2" systemctl start uzram@t2
	cp /tmp/data /mnt/t2/data && sync
	chk "persist: stop" systemctl stop uzram@t2
	chk "persist: the snapshot is in /var/lib/uzram" test -s /var/lib/uzram/t2.snapshot
	chk "persist: start again" systemctl start uzram@t2
	chk "persist: the mount is back with the data" cmp /tmp/data /mnt/t2/data
	chk "persist: restored before READY, no new file system made" bash -c \
		"journalctl -u uzram@t2 -o cat --no-pager | grep -q 'persist: restored' &&
		 test \$(journalctl -u uzram@t2 -o cat --no-pager | grep -c 'new device: making') = 1"
	chk "persist: uzramctl shows what was restored" bash -c "uzramctl --socket /run/uzram/t2.sock --json | grep -q '\"restored_bytes\": [1-9]'"
	chk "persist: stop again" systemctl stop uzram@t2
	# Swap: mkswap and swapon at start, swapoff first at stop.
	# (/proc/swaps names a loop device "/" in a container: count lines)
	nsw=$(grep -c . /proc/swaps)
	chk "swap: systemctl start uzram@s0" systemctl start uzram@s0
	journalctl -u uzram@s0 -o cat --no-pager >/results/journal-s0
	sl=$(head -n 1 /run/uzram/s0.loop 2>/dev/null)
	chk "swap: a swap area more in /proc/swaps, at priority 100" bash -c \
		"test \$(grep -c . /proc/swaps) = $((nsw + 1)) && tail -n 1 /proc/swaps | grep -Eq '[[:space:]]100\$'"
	chk "swap: uzramctl shows [SWAP] as MOUNTPOINT" bash -c \
		"uzramctl --socket /run/uzram/s0.sock -o NAME,MOUNTPOINT -n -r | grep -qx 's0 \[SWAP\]'"
	# (-1000, or the journal says why it could not be lowered: no
	# CAP_SYS_RESOURCE in this container)
	chk "swap: the daemon's oom_score_adj is -1000, or the journal says why not" bash -c \
		"test \$(cat /proc/\$(systemctl show -p MainPID --value uzram@s0)/oom_score_adj) = -1000 ||
		 journalctl -u uzram@s0 -o cat --no-pager | grep -q 'cannot lower it here (no CAP_SYS_RESOURCE)'"
	chk "swap: the slot table is made whole at start (16 B a page)" test \
		"$(uzramctl --socket /run/uzram/s0.sock --json | sed -n 's/^  "table_bytes": \([0-9]*\),$/\1/p')" -ge 1048576
	chk "swap: systemctl stop uzram@s0" systemctl stop uzram@s0
	chk "swap: stop ran swapoff and said how long it took" bash -c \
		"journalctl -u uzram@s0 -o cat --no-pager | grep -q 'swapoff $sl: every page back in memory in [0-9.]* s'"
	chk "swap: after stop: no swap area more, no loop device left" bash -c \
		"test \$(grep -c . /proc/swaps) = $nsw && ! losetup -a | grep -q /run/uzram/s0"
	chk "swap: start again" systemctl start uzram@s0
	sl=$(head -n 1 /run/uzram/s0.loop 2>/dev/null)
	spid=$(systemctl show -p MainPID --value uzram@s0)
	[ "${spid:-0}" -gt 0 ] && kill -KILL "$spid"
	for i in $(seq 100); do
		case $(systemctl show -p ActiveState --value uzram@s0) in failed | inactive) break ;; esac
		sleep 0.2
	done
	chk "swap: SIGKILL: cleanup swapped off and detached" bash -c \
		"test \$(grep -c . /proc/swaps) = $nsw && ! losetup -a | grep -q /run/uzram/s0"
	chk "swap: SIGKILL: cleanup said so" bash -c \
		"journalctl -u uzram@s0 -o cat --no-pager | grep -q 'the daemon died: swapped .* off'"
	chk "swap: a restart is a fresh swap device" bash -c "systemctl restart uzram@s0 && test \$(grep -c . /proc/swaps) = $((nsw + 1))"
	chk "swap: stop after the restart" systemctl stop uzram@s0
	journalctl -u uzram@s0 -o short-monotonic --no-pager >>/results/journal-s0
	journalctl -u uzram@t2 -o short-monotonic --no-pager >/results/journal-t2
	journalctl -u uzram@t0 -o short-monotonic --no-pager >/results/journal-t0
	chk "a bad config: start fails" bash -c "! systemctl start uzram@t1"
	journalctl -u uzram@t1 -o cat --no-pager >/results/journal-t1
	chk "a bad config: FILE:LINE: KEY in the journal" grep -q "/etc/uzram/t1.conf:2: mem-limit: '12Q' is not a size" /results/journal-t1
	chk "journald got the error at priority err (<3> prefix)" bash -c \
		"journalctl -u uzram@t1 -p err -o cat --no-pager | grep -q 't1.conf:2: mem-limit'"
	chk "no timestamps of its own in the log lines" bash -c "! grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}' /results/journal-t1"
	chk "a bad config: nothing runs" bash -c "! pidof uzramd && ! test -e /run/uzram/t1.sock"
	uzramctl --socket $S mm_stat >>/results/cmd.log 2>&1
	echo done >>$R
SH
# Sanitized builds: LeakSanitizer stops all threads with ptrace, which the
# unit's system-call filter forbids; ASan and UBSan themselves stay on.
dropin=()
if [ -n "${SANITIZE:-}" ]; then
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >"$T/sanitize.conf"
	dropin=(--bind-ro="$T/sanitize.conf:/etc/systemd/system/uzram@.service.d/sanitize.conf")
fi
# The container has no udev: bind the loop device nodes, making sure
# (losetup -f creates the next node when all are busy) a free one exists.
losetup -f >/dev/null
loops=()
for l in /dev/loop[0-9]*; do loops+=(--bind="$l"); done
# CAP_IPC_LOCK: not in nspawn's default set; the unit locks its memory.
# swapon/swapoff: not in nspawn's default system-call filter (the swap instance needs them).
container_loops_mark
timeout 300 systemd-nspawn -q --keep-unit --register=no -D / --volatile=yes --capability=CAP_IPC_LOCK \
	--system-call-filter="swapon swapoff" \
	--bind=/dev/fuse --bind=/dev/loop-control "${loops[@]}" \
	--bind-ro="$T/root/usr/local:/usr/local" --bind="$T/etc:/etc/uzram" --bind="$T/results:/results" \
	--bind-ro="$T/inside.sh:/uzram-test/inside.sh" \
	--bind-ro="$T/selftest.service:/etc/systemd/system/uzram-selftest.service" "${dropin[@]}" \
	-b systemd.firstboot=off systemd.unit=uzram-selftest.service >"$T/console.log" 2>&1
rc=$?
container_loops_reap
container_results "$T/results/log" "$T/console.log" "$rc" systemd
echo "  --- journal of uzram@t0 (start, READY, mount, reload, stop) ---"
sed 's/^/  /' "$T/results/journal-t0" 2>/dev/null | grep -vE 'Deactivated|Consumed' | tail -30
[ "$FAILED" -gt 0 ] && { cp -r "$T/results" /tmp/sysd-results 2>/dev/null; echo "  --- commands ---"; tail -80 "$T/results/cmd.log"; sed 's/^/  /' "$T/results/journal-t2" 2>/dev/null | tail -20;
	sed 's/^/  /' "$T/results/journal-s0" 2>/dev/null | tail -20; }
finish
