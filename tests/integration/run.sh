#!/usr/bin/env bash
# Runs every integration test (tests/integration/t_*.sh) and sums up.
cd "$(dirname "$0")" || exit 1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
pass=0 fail=0 skip=0 failed=()
# Every test as it is (uzramd's default transport), then the data-path
# tests and the service again with FUSE over io_uring (io-uring = yes: the daemon turns
# the module parameter on; each test puts it back as it was).
runs=(t_*.sh io_uring:t_io.sh io_uring:t_ext4.sh io_uring:t_verify.sh io_uring:t_backing.sh io_uring:t_systemd.sh)
for t in "${runs[@]}"; do
	echo "== $t"
	if [[ $t == io_uring:* ]]; then
		UZ_IO_URING=yes bash "${t#io_uring:}" 2>&1 | tee "$out"
	else
		bash "$t" 2>&1 | tee "$out"
	fi
	rc=${PIPESTATUS[0]}
	line=$(tail -n 1 "$out")
	if [ "$rc" -eq 77 ]; then
		skip=$((skip + 1))
		continue
	fi
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		pass=$((pass + BASH_REMATCH[1]))
		fail=$((fail + BASH_REMATCH[2]))
	else
		fail=$((fail + 1)) # died before its summary
	fi
	[ "$rc" -ne 0 ] && failed+=("$t")
done
echo "== integration: $pass passed, $fail failed, $skip skipped${failed[0]:+ (failing: ${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
