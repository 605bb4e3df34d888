#!/bin/sh
# Quick start 2: install what is needed, build, and run the whole test suite:
# unit, conformance and every other suite in a release build, then the same suite
# under ASan+UBSan, the core tests under valgrind, the aarch64 build with its tests
# run under qemu-user, and the NEON mutants that those tests must catch (tools/check-*.sh).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build
meson test -C build --print-errorlogs --num-processes 2
for check in tools/check-sanitizers.sh tools/check-valgrind.sh tools/check-aarch64.sh \
	tools/check-neon-mutants.sh; do
	if [ -f "$check" ]; then
		echo "== $check"
		sh "$check"
	fi
done
echo "qkv: all test suites passed"
