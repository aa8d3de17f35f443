# The Debian package.  Outside: make deb builds it (in a copy of the
# working tree, into this test's folder), the .deb holds the layout the
# package promises, and lintian finds no error or warning.  Inside a
# container booted from this machine's root under a copy-on-write overlay
# (a tmpfs upper layer: nothing reaches the real root): apt-get install
# ./uzram_*.deb, nothing enabled; uzram@test started from
# /etc/uzram/test.conf, ext4 at its mount-point, files written and read
# back, stopped; an upgrade leaves a running device alone; removal with
# the device running stops it cleanly and leaves nothing but the config
# and /var/lib/uzram; purge keeps a user's config, deletes /var/lib/uzram,
# and deletes /etc/uzram when it is empty.
source "$(dirname "$0")/lib.sh"
need_root
for tool in dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian systemd-nspawn:systemd-container; do
	command -v "${tool%%:*}" >/dev/null ||
		{ echo "SKIP: ${tool%%:*} missing (make deps installs ${tool#*:})"; exit 77; }
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
	{ echo "SKIP: no overlayfs on this machine (the container's root is an overlay)"; exit 77; }

# The build, once.  (MAKEFLAGS from make check would reach the package's
# own make: SANITIZE=... among them.)  The unit suites are make check's.
t0=$(date +%s.%N)
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL DEB_BUILD_OPTIONS=nocheck \
	make -C "$TOP" deb DEB_BUILD="$T/deb" DEB_OUT="$T/deb" >"$T/build.log" 2>&1; then
	pass "make deb builds the package ($(since "$t0") s)"
else
	fail "make deb"
	tail -n 40 "$T/build.log" | sed 's/^/  | /'
	finish
fi
deb=$(ls "$T"/deb/uzram_*.deb)
version=$(dpkg-deb -f "$deb" Version)
log "$(basename "$deb"), beside: $(cd "$T/deb" && ls uzram-dbgsym_*.deb uzram_*.dsc 2>/dev/null | tr '\n' ' ')"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' >"$T/contents"
missing=""
for f in /usr/sbin/uzramd /usr/bin/uzramctl /usr/lib/systemd/system/uzram@.service \
	/usr/lib/systemd/system/uzram-metrics.service /usr/lib/systemd/system/uzram-metrics.timer \
	/usr/libexec/uzram/uzram-mount /usr/libexec/uzram/uzram-metrics /usr/share/doc/uzram/examples/uzram.conf \
	/usr/share/doc/uzram/examples/swap.conf /usr/share/man/man8/uzramd.8.gz /usr/share/man/man8/uzramctl.8.gz \
	/usr/share/man/man5/uzram.conf.5.gz /usr/share/doc/uzram/copyright /usr/share/doc/uzram/changelog.gz /etc/uzram; do
	grep -qxF "$f" "$T/contents" || missing="$missing $f"
done
check "the .deb holds programs, units, helpers, examples (uncompressed), man pages, /etc/uzram${missing:+ (missing:$missing)}" \
	test -z "$missing"
check "nothing but /etc/uzram under /etc" test "$(grep '^/etc/' "$T/contents")" = /etc/uzram
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/uzram@.service >"$T/unit"
check "the unit runs /usr/sbin/uzramd and /usr/libexec/uzram/uzram-mount" bash -c \
	"grep -qx 'ExecStart=/usr/sbin/uzramd --foreground --instance %i' '$T/unit' &&
	 grep -qx 'ExecStartPost=+/usr/libexec/uzram/uzram-mount %i start' '$T/unit'"
depends=$(dpkg-deb -f "$deb" Depends)
log "Depends: $depends"
check "Depends: fuse3, e2fsprogs, and the libraries (shlibs)" bash -c \
	"grep -qw fuse3 <<<'$depends' && grep -qw e2fsprogs <<<'$depends' && grep -q 'libfuse3-3 (' <<<'$depends'"

# Lintian: no error or warning (make lintian fails on either).
make -C "$TOP" lintian DEB_BUILD="$T/deb" DEB_OUT="$T/deb" >"$T/lintian.log" 2>&1
rc=$?
grep -E '^[EWIPX]: ' "$T/lintian.log" | sed 's/^/  lintian: /' | head -20
check "make lintian: no error, no warning" test "$rc" -eq 0
check "lintian: no hardening tag at any level" bash -c "! grep -q 'hardening-no' '$T/lintian.log'"

# The container's root: this machine's, read-only below a tmpfs.
mkdir -p "$T/ovl" "$T/root"
mount -t tmpfs -o mode=0755 uzram-deb-upper "$T/ovl" && MOUNTS+=("$T/ovl") &&
	mkdir "$T/ovl/upper" "$T/ovl/work" &&
	mount -t overlay uzram-deb-root -o "lowerdir=/,upperdir=$T/ovl/upper,workdir=$T/ovl/work" "$T/root" &&
	MOUNTS+=("$T/root") || { echo "SKIP: cannot mount an overlay over / here"; exit 77; }
mkdir -p "$T/root/deb" "$T/root/results" "$T/root/uzram-test"
cp "$deb" "$T/root/deb/"
cat >"$T/root/etc/systemd/system/pkgtest.service" <<-UNIT
	[Unit]
	Description=uzram package test
	[Service]
	Type=oneshot
	ExecStart=/bin/bash /uzram-test/inside.sh
	ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
printf "VERSION='%s'\nDEB='%s'\n" "$version" "$(basename "$deb")" >"$T/root/uzram-test/inside.sh"
cat >>"$T/root/uzram-test/inside.sh" <<-'SH'
	export DEBIAN_FRONTEND=noninteractive
	R=/results/log
	chk() { local d=$1; shift; if "$@" >>/results/cmd.log 2>&1; then echo "ok   $d" >>$R; else echo "FAIL $d" >>$R; fi; }
	S=/run/uzram/test.sock
	# A fresh machine: no uzram from this machine's own root.
	if dpkg -s uzram >/dev/null 2>&1; then dpkg --purge uzram >>/results/cmd.log 2>&1; fi
	rm -rf /etc/uzram /var/lib/uzram
	# (the files are root's: apt's _apt user cannot read them, which it says)
	chk "apt-get install ./$DEB" bash -c "cd /deb && apt-get install -y --no-install-recommends ./$DEB"
	chk "installed" test "$(dpkg-query -W -f='${Status}' uzram)" = "install ok installed"
	chk "uzramd --version: $VERSION" test "$(uzramd --version)" = "uzramd $VERSION"
	chk "uzramctl --version: $VERSION" test "$(uzramctl --version)" = "uzramctl $VERSION"
	chk "/etc/uzram is the package's, and empty" bash -c "dpkg -S /etc/uzram | grep -q '^uzram: ' && test -z \"\$(ls -A /etc/uzram)\""
	chk "man uzramd, uzramctl, uzram.conf" man -w uzramd uzramctl uzram.conf
	chk "the metrics timer is installed disabled, and not running" bash -c \
		"test \"\$(systemctl is-enabled uzram-metrics.timer)\" = disabled && ! systemctl -q is-active uzram-metrics.timer"
	chk "nothing of uzram enabled" bash -c "! ls /etc/systemd/system/*.wants 2>/dev/null | grep -q uzram"
	cat >/etc/uzram/test.conf <<-CONF
		size = 256M
		mount-point = /mnt/test
		persist = /var/lib/uzram/test.snapshot
	CONF
	chk "systemctl start uzram@test" systemctl start uzram@test
	chk "uzram@test is active" systemctl is-active uzram@test
	chk "ext4 mounted at /etc/uzram/test.conf's mount-point" test "$(findmnt -n -o FSTYPE /mnt/test)" = ext4
	chk "uzramctl --json: the daemon's version" bash -c "uzramctl --socket $S --json | grep -qx '  \"version\": \"$VERSION\",'"
	head -c 20M /dev/urandom >/tmp/data
	mkdir -p /mnt/test/tree
	cp /tmp/data /mnt/test/data && cp -r /usr/share/doc/uzram /usr/share/man/man8 /mnt/test/tree/ && sync
	chk "files written read back" bash -c "cmp /tmp/data /mnt/test/data && diff -r /usr/share/doc/uzram /mnt/test/tree/uzram &&
		diff -r /usr/share/man/man8 /mnt/test/tree/man8"
	chk "uzramctl sees the data" test "$(uzramctl --socket $S mm_stat | cut -d' ' -f1)" -gt 20000000
	chk "systemctl stop uzram@test" systemctl stop uzram@test
	chk "after stop: nothing mounted, no loop device, no daemon" bash -c \
		"! findmnt /mnt/test && ! losetup -a | grep -q /run/uzram/test && ! pidof uzramd"
	chk "after stop: the snapshot in /var/lib/uzram" test -s /var/lib/uzram/test.snapshot
	chk "start again: the files are back (persist)" bash -c "systemctl start uzram@test && cmp /tmp/data /mnt/test/data"
	# An upgrade (here: the same version again) leaves running devices alone.
	pid=$(systemctl show -p MainPID --value uzram@test)
	chk "reinstall over a running device (dpkg -i, as an upgrade)" dpkg -i /deb/$DEB
	chk "... which keeps running: same daemon, still mounted" bash -c \
		"test \"\$(systemctl show -p MainPID --value uzram@test)\" = '$pid' && findmnt /mnt/test && cmp /tmp/data /mnt/test/data"
	chk "the metrics timer can be enabled and started" systemctl enable --now uzram-metrics.timer
	chk "... and writes the metrics" bash -c "systemctl start uzram-metrics.service &&
		test -s /var/lib/prometheus/node-exporter/uzram.prom"
	# Removal, with the device running.
	dpkg -L uzram | sort >/results/files
	touch /results/before-remove
	chk "dpkg --remove uzram, with uzram@test running" dpkg --remove uzram
	journalctl -u uzram@test -o cat --no-pager >/results/journal
	chk "remove: the device was stopped: no daemon, nothing mounted, no loop device" bash -c \
		"! pidof uzramd && ! findmnt /mnt/test && ! losetup -a | grep -q /run/uzram/test"
	chk "remove: ... cleanly (unmounted by the unit, a new snapshot written)" bash -c \
		"test \$(grep -c 'uzram-mount: unmounted /mnt/test' /results/journal) = 2 &&
		 ! grep -q 'the daemon died' /results/journal && test /var/lib/uzram/test.snapshot -nt /results/before-remove"
	chk "remove: the metrics timer stopped, its file gone" bash -c \
		"! systemctl -q is-active uzram-metrics.timer && test ! -e /var/lib/prometheus/node-exporter/uzram.prom"
	left=$(while read -r f; do [ -e "$f" ] && [ ! -d "$f" ] && echo "$f"; done </results/files)
	chk "remove: none of the package's files left${left:+: $left}" test -z "$left"
	chk "remove: its directories gone (/usr/libexec/uzram, /usr/share/doc/uzram)" bash -c \
		"test ! -e /usr/libexec/uzram && test ! -e /usr/share/doc/uzram"
	chk "remove: the config and the state kept" bash -c "test -s /etc/uzram/test.conf && test -s /var/lib/uzram/test.snapshot"
	chk "remove: dpkg keeps the package's config state" test "$(dpkg-query -W -f='${Status}' uzram)" = "deinstall ok config-files"
	chk "dpkg --purge uzram" dpkg --purge uzram
	chk "purge: the package is gone" bash -c \
		"! dpkg-query -W -f='\${Status}\n' uzram 2>/dev/null | grep -qE ' (installed|config-files|unpacked|half-[a-z]*)\$'"
	chk "purge: the user's config kept, and /etc/uzram with it" test -s /etc/uzram/test.conf
	chk "purge: /var/lib/uzram deleted" test ! -e /var/lib/uzram
	chk "purge: no uzram link left in /etc/systemd" bash -c "! find /etc/systemd -name '*uzram*' | grep -q ."
	# Again, with no config left: purge removes the empty /etc/uzram.
	chk "install again (dpkg -i)" dpkg -i /deb/$DEB
	rm /etc/uzram/test.conf
	chk "remove and purge with /etc/uzram empty" bash -c "dpkg --remove uzram && dpkg --purge uzram"
	chk "purge: the empty /etc/uzram deleted" test ! -e /etc/uzram
	echo done >>$R
SH
# The container has no udev: bind the loop device nodes, making sure
# (losetup -f creates the next node when all are busy) a free one exists.
losetup -f >/dev/null
loops=()
for l in /dev/loop[0-9]*; do loops+=(--bind="$l"); done
# CAP_IPC_LOCK: not in nspawn's default set; the unit locks its memory.
container_loops_mark
timeout 300 systemd-nspawn -q --keep-unit --register=no -D "$T/root" --capability=CAP_IPC_LOCK \
	--bind=/dev/fuse --bind=/dev/loop-control "${loops[@]}" \
	-b systemd.firstboot=off systemd.unit=pkgtest.service >"$T/console.log" 2>&1
rc=$?
container_loops_reap
res=$T/root/results
container_results "$res/log" "$T/console.log" "$rc" container
if [ "$FAILED" -gt 0 ]; then
	echo "  --- commands ---"; tail -n 60 "$res/cmd.log" 2>/dev/null | sed 's/^/  | /'
	echo "  --- journal of uzram@test ---"; tail -n 30 "$res/journal" 2>/dev/null | sed 's/^/  | /'
fi
finish
