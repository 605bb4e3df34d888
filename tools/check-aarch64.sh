#!/bin/sh
# aarch64, built and run: cross-compile the library, every backend, the `qkv` command and
# the test suites with Debian's aarch64 gcc (tools/cross/aarch64-linux-gnu.ini, the :arm64
# libraries of tools/install-deps.sh), then run the suites that exercise what differs on
# ARM under qemu-user:
#   - unit, conformance (every backend), the template plugin and `qkv conform`, with
#     qemu's default CPU (max: NEON, sdot, i8mm);
#   - the openmp and int8 kernel tests once per emulated CPU model, each asserting which
#     kernels ran natively there: cortex-a53 (NEON only), cortex-a76 (+ sdot), max (+ smmla);
#   - `qkv info` under each model, which must name the kernel the HWCAP bits select.
# Emulated runs prove logic, never speed. Prints how many tests ran and how long it took.
#
#   tools/check-aarch64.sh [BUILD_DIR]      (default: build-aarch64)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-aarch64}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fail() {
	echo "check-aarch64: $*" >&2
	exit 1
}
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (tools/install-deps.sh installs it)"
done
[ -f /usr/lib/aarch64-linux-gnu/libyaml.so ] || fail "libyaml-dev:arm64 is missing (tools/install-deps.sh)"
[ -f /usr/lib/aarch64-linux-gnu/libopenblas.so ] ||
	fail "the arm64 libraries are missing (tools/install-deps.sh installs them)"
[ -f /opt/qkv-aarch64/usr/lib/aarch64-linux-gnu/pkgconfig/criterion.pc ] ||
	fail "Criterion for arm64 is missing in /opt/qkv-aarch64 (tools/install-deps.sh)"

start=$(date +%s)
mkdir -p "$build"
aarch64-linux-gnu-gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$build/qemu_exec_shim.so" \
	"$root/tools/cross/qemu_exec_shim.c"
cat >"$build/exe-wrapper.ini" <<EOT
[binaries]
exe_wrapper = ['env', 'QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so', 'qemu-aarch64']
EOT
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$root" --cross-file "$root/tools/cross/aarch64-linux-gnu.ini" \
		--cross-file "$build/exe-wrapper.ini" -Donednn=disabled >"$build.setup.log" 2>&1 || {
		tail -20 "$build.setup.log" >&2
		fail "meson setup failed (log: $build.setup.log)"
	}
fi
ninja -C "$build" >"$build.log" 2>&1 || {
	grep -E 'error|FAILED' "$build.log" | head -40 >&2
	fail "build FAILED (full log: $build.log)"
}
built=$(date +%s)
echo "check-aarch64: built for aarch64 with -Werror in $((built - start)) s"

tests=0
# run_suites CPU EXPECTED_NATIVE SUITE...: meson test under QEMU_CPU=CPU
run_suites() {
	cpu=$1
	native=$2
	shift 2
	args=""
	for s in "$@"; do args="$args --suite $s"; done
	log=$build/meson-logs/testlog-$cpu.txt
	# shellcheck disable=SC2086 # one --suite NAME per word
	QEMU_CPU=$cpu QKV_TEST_NATIVE=$native meson test -C "$build" --no-rebuild \
		--print-errorlogs --num-processes 2 --logbase "testlog-$cpu" $args \
		--timeout-multiplier 4 >"$build.test-$cpu.log" 2>&1 || {
		tail -40 "$build.test-$cpu.log" >&2
		fail "tests FAILED under qemu -cpu $cpu (log: $log)"
	}
	n=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$build.test-$cpu.log")
	echo "check-aarch64: qemu -cpu $cpu: $n tests passed ($*)"
	tests=$((tests + n))
}
run_suites max c,neon,neon_dot,neon_i8mm unit conformance
run_suites cortex-a76 c,neon,neon_dot int8 openmp
run_suites cortex-a53 c,neon int8 openmp

# `qkv info` names the kernels the HWCAP bits select on each CPU model.
for pair in cortex-a53:neon cortex-a76:neon_dot max:neon_i8mm; do
	cpu=${pair%%:*}
	want=${pair#*:}
	out=$(QEMU_CPU=$cpu QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so \
		qemu-aarch64 "$build/tools/qkv/qkv" info "$root/configs/default.yaml" 2>&1) ||
		fail "qkv info failed under qemu -cpu $cpu: $out"
	echo "$out" | grep -q "int8 kernel $want " ||
		fail "qkv info under -cpu $cpu does not name int8 kernel $want: $out"
	echo "$out" | grep -q "neon fmla 8x12" ||
		fail "qkv info under -cpu $cpu does not name the openmp neon kernel: $out"
	tests=$((tests + 1))
done
echo "check-aarch64: qkv info names the NEON kernels on cortex-a53, cortex-a76 and max"
echo "check-aarch64: $tests tests ran on aarch64 under qemu-user in $(($(date +%s) - start)) s"
