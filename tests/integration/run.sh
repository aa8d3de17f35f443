#!/usr/bin/env bash
# Runs every integration test (tests/integration/t_*.sh) and sums up.
cd "$(dirname "$0")" || exit 1
pass=0 fail=0 skip=0 failed=()
for t in t_*.sh; do
	echo "== $t"
	out=$(bash "$t" 2>&1 | tee /dev/stderr; exit "${PIPESTATUS[0]}")
	rc=$?
	line=$(printf '%s\n' "$out" | tail -n 1)
	if [ $rc -eq 77 ]; then
		skip=$((skip + 1))
		continue
	fi
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		pass=$((pass + BASH_REMATCH[1]))
		fail=$((fail + BASH_REMATCH[2]))
	fi
	if [ $rc -ne 0 ]; then
		failed+=("$t")
		[[ $line =~ passed ]] || fail=$((fail + 1))
	fi
done
echo "== integration: $pass passed, $fail failed, $skip skipped${failed:+ (failing: ${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
