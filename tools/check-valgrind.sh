#!/bin/sh
# Valgrind memcheck of the core unit tests.
#
#   tools/check-valgrind.sh [BUILD_DIR [TEST...]]
#
# BUILD_DIR defaults to build-rel (debugoptimized, no sanitizers). TESTs are meson test
# names; the default is the core's parts: config, weights_npy, weights_safetensors,
# weights_raw, registry, model, alloc_fail. Left out by default: e2e and weights_load
# (they generate Llama-sized weight files: hours under valgrind) and the backends' kernel
# tests (not core; the ASan run covers them). Extra valgrind flags: VALGRIND_EXTRA, e.g.
# VALGRIND_EXTRA=--track-origins=yes to find where an uninitialised value came from.
#
# Criterion runs each test in a re-executed child process, so valgrind must follow
# children (--trace-children=yes), and a child's report comes after its result has been
# sent: the exit status alone would miss it. Every process logs to
# BUILD_DIR/valgrind-logs/vg.PID.log and the script fails when any log holds an error
# (invalid access, uninitialised use, definite or indirect leak). Needs: valgrind.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/build_step.sh
. "$root/tools/build_step.sh"
build=${1:-$root/build-rel}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ $# -gt 0 ] && shift
tests=${*:-config weights_npy weights_safetensors weights_raw registry model alloc_fail}
start=$(date +%s)

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" -Dbuildtype=debugoptimized >/dev/null
fi
build_step "$build" check-valgrind

logs=$build/valgrind-logs
rm -rf "$logs"
mkdir -p "$logs"
wrapper="valgrind --quiet --trace-children=yes --child-silent-after-fork=no"
wrapper="$wrapper --leak-check=full --errors-for-leak-kinds=definite,indirect"
wrapper="$wrapper --show-leak-kinds=definite,indirect ${VALGRIND_EXTRA:-}"
wrapper="$wrapper --error-exitcode=99 --log-file=$logs/vg.%p.log"

status=0
# Valgrind is 20-50x slower: stretch the per-test timeouts.
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
	--timeout-multiplier 8 --wrapper "$wrapper" $tests || status=1

bad=0
for f in "$logs"/*.log; do
	[ -s "$f" ] || continue
	if grep -q -E "ERROR SUMMARY: [1-9]|are (definitely|indirectly) lost|Invalid (read|write|free)|uninitialised|Mismatched free|overlap in" "$f"; then
		echo "==== $f" >&2
		cat "$f" >&2
		bad=1
	fi
done
[ $bad = 0 ] || status=1
echo "check-valgrind: $( [ $status = 0 ] && echo passed || echo FAILED ) ($tests) in $(( $(date +%s) - start )) s"
exit $status
