#!/bin/sh
# ThreadSanitizer run of the concurrency stress test (tests/stress).
#
#   tools/tsan.sh [BACKEND|all [THREADS [CALLS]]]     (default: all 16 1000)
#
# Builds build-tsan with clang-14 -fsanitize=thread (OpenMP from LLVM's libomp, which
# TSan understands through the Archer OMPT tool: /usr/lib/llvm-14/lib/libarcher.so from
# libomp-14-dev, loaded with OMP_TOOL_LIBRARIES) and runs the standalone stress binary
# (Criterion's forking runner does not mix with TSan): 16 threads x 1000 calls on one
# model per in-tree backend, bit-identical to serial results, then calls from inside an
# OpenMP parallel region. Any race report fails the run (exitcode 66).
# OpenBLAS is not instrumented: its internal thread pool is suppressed in
# tests/stress/tsan.supp (races inside it are invisible to TSan either way).
# Needs: clang-14, libclang-rt-14-dev, libomp-14-dev.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/build_step.sh
. "$root/tools/build_step.sh"
build=${QKV_TSAN_BUILD:-$root/build-tsan}
start=$(date +%s)

if [ ! -f "$build/build.ninja" ]; then
	CC=${CC:-clang-14} meson setup "$build" "$root" -Db_sanitize=thread -Db_lundef=false \
		-Dbuildtype=debugoptimized -Dwerror=false >/dev/null
fi
# shellcheck disable=SC2046 # target names have no spaces
build_step "$build" tsan tests/stress/stress $(backend_targets "$root")

archer=/usr/lib/llvm-14/lib/libarcher.so
if [ -f "$archer" ]; then
	export OMP_TOOL_LIBRARIES=$archer
	export ARCHER_OPTIONS="verbose=0"
	echo "tsan: OpenMP checked through Archer ($archer)"
else
	echo "tsan: Archer not found ($archer): OpenMP-internal sync may show as false races" >&2
fi
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:ignore_noninstrumented_modules=1:second_deadlock_stack=1:suppressions=$root/tests/stress/tsan.supp"

status=0
"$build/tests/stress/stress" "${1:-all}" "${2:-16}" "${3:-1000}" || status=$?
echo "tsan: $( [ $status = 0 ] && echo passed || echo "FAILED ($status)" ) in $(( $(date +%s) - start )) s"
exit $status
