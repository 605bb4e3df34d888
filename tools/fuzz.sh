#!/bin/sh
# Run a libFuzzer campaign on one qkv fuzz target.
#
#   tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags...]
#   TARGET: config | npy | safetensors | gguf | index | diff
#
# Configures build-fuzz (clang-14, ASan + UBSan, libFuzzer coverage on all code) if it is
# missing, builds the target, seeds a working corpus in fuzz-out/TARGET/corpus from
# tests/corpus, and fuzzes for SECONDS with one worker. Crashes, leaks and timeouts are
# written to fuzz-out/TARGET/ (crash-*, leak-*, timeout-*) and make the script fail.
# Needs: clang-14, libclang-rt-14-dev, libomp-14-dev (Debian 12).
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 config|npy|safetensors|gguf|index|diff SECONDS [libFuzzer flags...]" >&2
	exit 2
fi
target=$1
seconds=$2
shift 2
case $target in
config) seeds="config machine model" ;;
npy) seeds="npy data" ;;
safetensors) seeds="safetensors" ;;
gguf) seeds="gguf" ;;
index) seeds="index" ;;
diff) seeds="" ;;
*) echo "$0: unknown target '$target'" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/build_step.sh
. "$root/tools/build_step.sh"
build=${QKV_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang-14}

if [ ! -f "$build/build.ninja" ]; then
	# werror off: this build uses clang, whose warnings differ from the gcc CI build.
	CC=$cc meson setup "$build" "$root" -Dfuzz=true -Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false \
		-Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
# The target and every backend plugin (the differential target loads them all).
# shellcheck disable=SC2046 # target names have no spaces
build_step "$build" fuzz "tests/fuzz/fuzz_$target" $(backend_targets "$root")

out=$root/fuzz-out/$target
mkdir -p "$out/corpus"
for d in $seeds; do
	cp -n "$root/tests/corpus/$d"/* "$out/corpus/" 2>/dev/null || true
done

plugin_path=
for d in "$build"/backends/*/; do
	plugin_path=${plugin_path:+$plugin_path:}${d%/}
done
export QKV_PLUGIN_PATH=$plugin_path
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# libomp worker threads crash LeakSanitizer's TLS scan at exit (clang 14); use_tls=0
# only makes leak detection stricter (TLS is no longer a root).
export LSAN_OPTIONS=use_tls=0

dict=
[ -f "$root/tests/fuzz/$target.dict" ] && dict=-dict=$root/tests/fuzz/$target.dict
cd "$out"
exec "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
	-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/" \
	$dict "$@" "$out/corpus"
