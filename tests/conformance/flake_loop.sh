#!/bin/sh
# Run the conformance suite N times with different seeds (the no-flake check of
# issue 3). usage: flake_loop.sh BUILD_DIR [N] [FIRST_SEED]
# Prints one line per run and exits non-zero if any run failed; each failing run's
# log is kept as BUILD_DIR/meson-logs/flake-SEED.txt.
set -u
build=$1
n=${2:-20}
seed=${3:-1}
failed=0
i=1
while [ "$i" -le "$n" ]; do
	start=$(date +%s)
	if QKV_CONFORM_SEED=$seed meson test -C "$build" --suite conformance --no-rebuild \
		>/dev/null 2>&1; then
		result=ok
	else
		result=FAIL
		failed=$((failed + 1))
		cp "$build/meson-logs/testlog.txt" "$build/meson-logs/flake-$seed.txt"
	fi
	echo "run $i seed $seed: $result ($(($(date +%s) - start)) s)"
	i=$((i + 1))
	seed=$((seed * 6364136223846793005 + 1442695040888963407))
	seed=${seed#-}
done
echo "$failed of $n runs failed"
[ "$failed" -eq 0 ]
