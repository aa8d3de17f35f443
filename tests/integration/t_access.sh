# Who may do what.  The control socket: its mode and group as configured
# (socket-mode, socket-group); read-only commands for whoever can connect;
# compact, reload and mem-limit only for root or the admin-group, checked
# with SO_PEERCRED; a refusal is answered clearly and logged.  The block
# file: 0600, owned by the daemon's user, other users kept out (no
# allow_other unless configured, and then the mode still applies).
source "$(dirname "$0")/lib.sh"
need_root
command -v setpriv >/dev/null || { echo "SKIP: setpriv (util-linux) missing"; exit 77; }
chmod 0755 "$T" # other users must reach the socket to be refused by it
NOBODY=65534
GRP=$(getent group users | cut -d: -f3)
GRP=${GRP:-100}
# as_user [--groups G] CMD...: runs CMD as uid/gid nobody.
as_user() {
	local groups=(--clear-groups)
	[ "$1" = --groups ] && { groups=(--groups "$2"); shift 2; }
	setpriv --reuid "$NOBODY" --regid "$NOBODY" "${groups[@]}" "$@"
}

# 1. Defaults: a 0600 socket and file, root's only.
start_daemon "$T/d" --size 64M --socket "$T/d.sock" || { fail "uzramd start"; finish; }
check "default socket mode 0600, owner root" test "$(stat -c %a:%u "$T/d.sock")" = 600:0
out=$(as_user "$UZRAMCTL" --socket "$T/d.sock" mm_stat 2>&1); rc=$?
check "another user cannot connect to a 0600 socket" refused "$rc" "Permission denied" "$out"
check "block file: 0600, owner root" test "$(stat -c %a:%u "$T/d")" = 600:0
check "no allow_other by default" bash -c "! grep -F ' $T/d fuse.uzram ' /proc/mounts | grep -q allow_other"
out=$(as_user dd if="$T/d" of=/dev/null bs=4k count=1 2>&1); rc=$?
check "another user cannot open the block file" refused "$rc" "Permission denied" "$out"
check "root can: mem-limit over the socket" quiet uzctl "$T/d.sock" mem-limit 48M
check "... and it applies" test "$(stat_of "$T/d.sock" mem_limit)" = $((48 << 20))
out=$(uzctl "$T/d.sock" mem-limit lots 2>&1); rc=$?
check "mem-limit with a bad size: clear error" refused "$rc" "'lots' is not a size" "$out"
stop_daemon "$DPID"

# 2. An open socket with an admin group.
cat >"$T/open.conf" <<CONF
size = 64M
socket-mode = 0666
admin-group = $GRP
allow-other = yes
CONF
start_daemon "$T/o" --config "$T/open.conf" --socket "$T/o.sock" || { fail "uzramd start (open)"; finish; }
check "socket-mode 0666 applied" test "$(stat -c %a "$T/o.sock")" = 666
check "anyone may read the statistics" quiet as_user "$UZRAMCTL" --socket "$T/o.sock" mm_stat
check "anyone may ask for help" bash -c "echo help | '$TOOLS/uzsock' '$T/o.sock' | grep -q '^compact: .*(admin)'"
for cmd in compact reload "mem-limit 1G"; do
	# shellcheck disable=SC2086
	out=$(as_user "$UZRAMCTL" --socket "$T/o.sock" $cmd 2>&1); rc=$?
	check "'$cmd' refused to a user outside the admin group" \
		refused "$rc" "permission denied: '${cmd%% *}' changes state (root or the admin-group only)" "$out"
done
check "... and logged, with uid and pid" grep -q "refused 'compact' from uid $NOBODY gid $NOBODY (pid [0-9]*): not an admin" "$T/uzramd.log"
check "the refused mem-limit changed nothing" test "$(stat_of "$T/o.sock" mem_limit)" = 0
check "a member of the admin group may compact" quiet as_user --groups "$GRP" "$UZRAMCTL" --socket "$T/o.sock" compact
check "... and set mem-limit" quiet as_user --groups "$GRP" "$UZRAMCTL" --socket "$T/o.sock" mem-limit 32M
check "... which applies" test "$(stat_of "$T/o.sock" mem_limit)" = $((32 << 20))
check "primary group counts too" quiet setpriv --reuid "$NOBODY" --regid "$GRP" --clear-groups \
	"$UZRAMCTL" --socket "$T/o.sock" compact
check "allow-other = yes: mounted with allow_other" bash -c "grep -F ' $T/o fuse.uzram ' /proc/mounts | grep -q allow_other"
check "... but the file's 0600 mode still keeps others out" bash -c "! setpriv --reuid $NOBODY --regid $NOBODY --clear-groups dd if='$T/o' of=/dev/null bs=4k count=1 2>/dev/null"
check "root still reads and writes it" dd if=/dev/zero of="$T/o" bs=4k count=4 conv=notrunc status=none
stop_daemon "$DPID"

# 3. A group-owned socket.
printf 'size = 64M\nsocket-mode = 0660\nsocket-group = %s\n' "$GRP" >"$T/grp.conf"
start_daemon "$T/g" --config "$T/grp.conf" --socket "$T/g.sock" || { fail "uzramd start (group)"; finish; }
check "socket-group and socket-mode 0660 applied" test "$(stat -c %a:%g "$T/g.sock")" = "660:$GRP"
check "a member of socket-group may read the statistics" quiet as_user --groups "$GRP" "$UZRAMCTL" --socket "$T/g.sock" mm_stat
check "others may not connect" bash -c "! setpriv --reuid $NOBODY --regid $NOBODY --clear-groups '$UZRAMCTL' --socket '$T/g.sock' mm_stat 2>/dev/null"
out=$(as_user --groups "$GRP" "$UZRAMCTL" --socket "$T/g.sock" compact 2>&1); rc=$?
check "socket-group alone does not make an admin" refused "$rc" "permission denied" "$out"
stop_daemon "$DPID"

# 4. Bad access settings are refused at start with file, line and key.
printf 'socket-mode = 0755\n' >"$T/bad1.conf"
out=$("$UZRAMD" --config "$T/bad1.conf" --socket "$T/x.sock" "$T/x" 2>&1)
check "socket-mode with execute bits refused" grep -q "bad1.conf:1: socket-mode: '0755' is not a socket mode" <<<"$out"
printf 'size = 1M\nadmin-group = no-such-group-here\n' >"$T/bad2.conf"
out=$("$UZRAMD" --config "$T/bad2.conf" --socket "$T/x.sock" "$T/x" 2>&1)
check "unknown admin-group refused" grep -q "bad2.conf:2: admin-group: 'no-such-group-here' is not a group" <<<"$out"
finish
