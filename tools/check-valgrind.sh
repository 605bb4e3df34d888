#!/bin/sh
# Valgrind memcheck of the core unit tests (suite 'unit', or the suites given).
#
#   tools/check-valgrind.sh [BUILD_DIR [SUITE...]]   (default: build-rel unit)
#
# Criterion runs each test in a re-executed child process, so valgrind must follow
# children (--trace-children=yes), and a child's report comes after its result has been
# sent: the exit status alone would miss it. Every process logs to
# BUILD_DIR/valgrind-logs/vg.PID.log and the script fails when any log holds an error
# (invalid access, uninitialised use, definite or indirect leak). Needs: valgrind.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-rel}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ $# -gt 0 ] && shift
suites=${*:-unit}
start=$(date +%s)

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" >"$build/check-valgrind-build.log" 2>&1 || {
	tail -30 "$build/check-valgrind-build.log" >&2
	echo "check-valgrind: build failed" >&2
	exit 1
}

logs=$build/valgrind-logs
rm -rf "$logs"
mkdir -p "$logs"
wrapper="valgrind --quiet --trace-children=yes --child-silent-after-fork=no"
wrapper="$wrapper --leak-check=full --errors-for-leak-kinds=definite,indirect"
wrapper="$wrapper --show-leak-kinds=definite,indirect --track-origins=yes"
wrapper="$wrapper --error-exitcode=99 --log-file=$logs/vg.%p.log"

suite_args=
for s in $suites; do
	suite_args="$suite_args --suite $s"
done
status=0
# Valgrind is 20-50x slower: stretch the per-test timeouts.
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
	--timeout-multiplier 8 --wrapper "$wrapper" $suite_args || status=1

bad=0
for f in "$logs"/*.log; do
	[ -s "$f" ] || continue
	if grep -q -E "ERROR SUMMARY: [1-9]|definitely lost|indirectly lost|Invalid (read|write|free)|uninitialised" "$f"; then
		echo "==== $f" >&2
		cat "$f" >&2
		bad=1
	fi
done
[ $bad = 0 ] || status=1
echo "check-valgrind: $( [ $status = 0 ] && echo passed || echo FAILED ) ($suites) in $(( $(date +%s) - start )) s"
exit $status
