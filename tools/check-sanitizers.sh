#!/bin/sh
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).
#
#   tools/check-sanitizers.sh [BUILD_DIR]      (default: build-asan)
#
# Configures BUILD_DIR with -Db_sanitize=address,undefined -Db_lundef=false if needed,
# builds, runs `meson test` (every suite but 'bench', 'slow' and 'install': timings mean
# nothing under ASan, 'slow' is the long install check, and the exported-symbol check
# sees ASan's own __odr_asan.* symbols), and fails on any failing test or on ANY
# sanitizer report, except crashes inside the deliberately broken plugins of
# tests/conformance/broken/, which the conformance suite expects to crash. Reports go to BUILD_DIR/sanitizer-logs/ through log_path, because
# Criterion runs each test in a child process whose leak report comes after the test's
# result and would otherwise be lost. Needs gcc with libasan/libubsan (Debian: gcc).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/build_step.sh
. "$root/tools/build_step.sh"
build=${1:-$root/build-asan}
case $build in /*) ;; *) build=$PWD/$build ;; esac
start=$(date +%s)

# werror off here only: gcc's instrumentation makes flow warnings (stringop-overread,
# maybe-uninitialized) fire on correct code; the normal build keeps -Werror.
opts="-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized -Dwerror=false"
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" $opts >/dev/null
else
	meson configure "$build" $opts >/dev/null
fi
build_step "$build" check-sanitizers

logs=$build/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
# halt_on_error + abort_on_error: the first report ends the process with SIGABRT (Criterion
# and the conformance harness then see a crash, as they would without ASan);
# handle_segv=0: a plain segfault stays SIGSEGV, which the conformance harness expects from
# its deliberately broken plugins (ASan's own checks do not depend on it);
# detect_leaks: LeakSanitizer at every process exit; log_path: reports land in $logs.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:handle_segv=0:log_path=$logs/asan:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
# The one suppression: the deliberately broken conformance plugin that stores through NULL
# to crash (the harness expects SIGSEGV from it). qkv's own code is never suppressed.
printf 'null:tests/conformance/broken/broken.c\n' >"$build/ubsan.supp"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan:suppressions=$build/ubsan.supp"
# Python is not built with ASan: the python suite preloads nothing, so let ASan start late.
export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
# intercept_tls_get_addr=0: gcc 12's LeakSanitizer records bogus dynamic-TLS ranges for
# OpenMP worker threads that touched libdnnl's thread_local data (Debian 12, glibc
# 2.36), and its stop-the-world tracer then faults ("Tracer caught signal 11",
# "LeakSanitizer has encountered a fatal error") at every exit after a oneDNN call.
# Leak checking itself stays on; only blocks referenced solely from dynamic TLS
# would go unscanned (they would be reported, not hidden).
export ASAN_OPTIONS="$ASAN_OPTIONS:intercept_tls_get_addr=0"

status=0
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
	--no-suite bench --no-suite slow --no-suite install || status=1

expected=0
for f in "$logs"/*; do
	[ -e "$f" ] || continue
	# The faulting frame (#0) in a deliberately broken plugin: an expected crash.
	if grep -m1 -E '^ +#0 ' "$f" | grep -q 'tests/conformance/broken/'; then
		expected=$((expected + 1))
		continue
	fi
	echo "==== $f" >&2
	cat "$f" >&2
	status=1
done
[ $expected = 0 ] || echo "check-sanitizers: $expected expected crash(es) of tests/conformance/broken plugins ignored"
echo "check-sanitizers: $( [ $status = 0 ] && echo passed || echo FAILED ) in $(( $(date +%s) - start )) s"
exit $status
