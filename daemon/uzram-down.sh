#!/usr/bin/env bash
# Undoes uzram-up.sh: unmounts the file system, detaches the loop device,
# and stops the daemon (by its PID, asked over its socket).
# Usage: daemon/uzram-down.sh [NAME]   (run by `make stop`)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
name=${1:-disk0}
file=/run/uzram/$name
sock=/run/uzram/$name.sock

pid=$("$top/uzramctl" --socket "$sock" --json 2>/dev/null | sed -n 's/^  "pid": \([0-9]*\),$/\1/p')
if [ -z "$pid" ]; then
	echo "uzram-down: no uzramd answers on $sock" >&2
	exit 1
fi
for loop in $(losetup -j "$file" -O NAME -n); do
	for m in $(findmnt -n -o TARGET --source "$loop"); do umount "$m" && echo "unmounted $m"; done
	losetup -d "$loop" && echo "detached $loop"
done
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { echo "stopped uzramd (pid $pid)"; exit 0; }; sleep 0.1; done
echo "uzram-down: uzramd (pid $pid) did not stop within 10 s" >&2
exit 1
