#!/bin/sh
# The no-flake check: every conformance case on every in-tree backend, and the
# broken-plugin suite, under N different seeds (issue 3, issue 13). Not in CI: long.
# usage: flake_loop.sh BUILD_DIR [N [FIRST_SEED [CASES]]]
#   CASES: comma-separated globs as for `qkv conform --cases` (default: all)
#   QKV_FLAKE_TIMEOUT: seconds per case for `qkv conform --timeout` (default 30). Niced
#   beside builds (load 8-13 on 2 cores) every seed hit the 30 s limit: a starved case is
#   not a flake, so a shared machine needs a longer limit or a quiet one.
# Prints one line per seed and exits non-zero if any run failed; each failing run's
# output is kept as BUILD_DIR/meson-logs/flake-SEED-NAME.txt.
set -u
build=$1
n=${2:-20}
seed=${3:-1}
cases=${4:-}
qkv=$build/tools/qkv/qkv
broken=$build/tests/conformance/test_conformance_broken
logs=$build/meson-logs
mkdir -p "$logs"
plugins=$(find "$build/backends" -name 'qkv_*.so' | sort)
failed=0
i=1
while [ "$i" -le "$n" ]; do
	start=$(date +%s)
	result=ok
	for so in $plugins; do
		name=$(basename "$so" .so)
		if ! "$qkv" conform "$so" --seed "$seed" --timeout "${QKV_FLAKE_TIMEOUT:-30}" \
			${cases:+--cases "$cases"} \
			>"$logs/flake-$seed-$name.txt" 2>&1; then
			result="FAIL($name)"
			failed=$((failed + 1))
		else
			rm -f "$logs/flake-$seed-$name.txt"
		fi
	done
	if [ -z "$cases" ]; then # every defect must be caught under any seed
		if ! QKV_CONFORM_SEED=$seed QKV_CONFORM_BROKEN_DIR=$build/tests/conformance/broken \
			"$broken" -j2 >"$logs/flake-$seed-broken.txt" 2>&1; then
			result="$result FAIL(broken)"
			failed=$((failed + 1))
		else
			rm -f "$logs/flake-$seed-broken.txt"
		fi
	fi
	echo "run $i seed $seed: $result ($(($(date +%s) - start)) s)"
	i=$((i + 1))
	seed=$((seed * 6364136223846793005 + 1442695040888963407))
	seed=${seed#-}
done
echo "$failed failing runs in $n seeds"
[ "$failed" -eq 0 ]
