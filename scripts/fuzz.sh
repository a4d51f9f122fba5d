#!/usr/bin/env bash
# Runs every fuzz target of weft for DURATION (default 30s) each, one after
# the other, and says which found a failure. Go writes a failing input under
# the package's testdata/fuzz/<Target>/: commit it as a regression seed (go
# test runs it from then on) and fix the bug.
#
# Usage: scripts/fuzz.sh [DURATION] [TARGET-REGEXP]
#   FUZZ_PARALLEL sets -parallel (default 1: the machine is shared).
set -u
cd "$(dirname "$0")/.."
duration="${1:-30s}"
only="${2:-.}"
parallel="${FUZZ_PARALLEL:-1}"

# Every "func FuzzX(" in a _test.go file, as "package-dir target".
mapfile -t targets < <(grep -rl --include='*_test.go' '^func Fuzz' ./pkg ./internal 2>/dev/null |
	xargs grep -ho '^func Fuzz[A-Za-z0-9_]*' -H | sed 's#^\(.*\)/[^/]*:func #\1 #' | sort -u)

failed=()
for t in "${targets[@]}"; do
	dir="${t% *}"
	name="${t#* }"
	[[ "$name" =~ $only ]] || continue
	echo "=== $name ($dir) for $duration"
	if ! nice -n 19 go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" -parallel "$parallel" "$dir"; then
		failed+=("$name ($dir)")
	fi
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo
	echo "FAILED: ${failed[*]}"
	echo "The failing inputs are under each package's testdata/fuzz/: commit them and fix the bug."
	exit 1
fi
echo "all fuzz targets passed"
