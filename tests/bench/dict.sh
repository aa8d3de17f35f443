#!/usr/bin/env bash
# make bench-dict: what a dictionary trained on the device's kind of data
# buys per page, measured in the codec alone (no FUSE, no store): pages
# sampled evenly across the seed's kernel tar, trained on every second
# page, tested on the others (dictbench.c says how).  Prints a table;
# not a pass/fail test.
# Usage: tests/bench/dict.sh [PAGES [DICT_BYTES]]
set -uo pipefail
source "$(dirname "$0")/../integration/lib.sh"
trap cleanup EXIT
BENCH=$TOOLS/dictbench
[ -x "$BENCH" ] || { echo "missing $BENCH (make bench-dict builds it)" >&2; exit 2; }
tar=$(linux_tar) || exit 1
"$BENCH" "$tar" "$@"
echo "command: $0${*:+ $*}"
