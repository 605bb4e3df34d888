#!/bin/sh
# aarch64, built and run: cross-compile the library, every backend, the `qkv` command and
# the test suites with Debian's aarch64 gcc (tools/cross/aarch64-linux-gnu.ini, the :arm64
# libraries of tools/install-deps.sh), then run under qemu-user:
#   - every test of the unit, conformance and cli suites, with qemu's CPU `max` (NEON,
#     sdot, i8mm): the test programs (the conformance suite on every backend, the
#     broken plugins) and the tests that are shell scripts, which start the aarch64 `qkv`
#     and `qkv-genweights` through host wrappers (tools/cross/wrap_program.sh);
#   - the openmp, int8 and quant kernel tests once per emulated CPU model, each asserting
#     which kernels ran natively there: cortex-a53 (NEON only), cortex-a76 (+ sdot), max
#     (+ smmla);
#   - `qkv info` under each model, which must name the kernels the HWCAP bits select;
#   - `qkv conform` (the command) on every in-tree backend under cortex-a76, on int8 and
#     quant under cortex-a53 too, and on the plugin template built out of tree for
#     aarch64 against this build (pkg-config, qkv-uninstalled.pc).
# Emulated runs prove logic, never speed. Prints how many tests ran and were skipped, and
# how long it took (budget: 10 minutes on 2 cores, the build apart).
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
[properties]
run_wrapper = ['env', 'QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so', 'qemu-aarch64']
EOT
setup_aarch64() { # meson setup for aarch64 with the wrapper above: BUILD SOURCE OPTIONS...
	meson setup "$@" --cross-file "$root/tools/cross/aarch64-linux-gnu.ini" \
		--cross-file "$build/exe-wrapper.ini"
}
if [ ! -f "$build/build.ninja" ]; then
	setup_aarch64 "$build" "$root" -Donednn=disabled >"$build/check-aarch64.setup.log" 2>&1 || {
		tail -20 "$build/check-aarch64.setup.log" >&2
		fail "meson setup failed (log: $build/check-aarch64.setup.log)"
	}
fi
ninja -C "$build" >"$build/check-aarch64.build.log" 2>&1 || {
	grep -E 'error|FAILED' "$build/check-aarch64.build.log" | head -40 >&2
	fail "build FAILED (full log: $build/check-aarch64.build.log)"
}
built=$(date +%s)
echo "check-aarch64: built for aarch64 with -Werror in $((built - start)) s"

tests=0
skipped=0
nl='
'
# only_timeouts LOG: every test that did not pass in the meson log LOG timed out.
only_timeouts() {
	nfail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$1")
	ntime=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$1")
	ncrit=$(grep -c '^\[FAIL\] .*: Timed out\.' "$1") || true
	[ $((nfail + ntime)) -gt 0 ] && [ "$ncrit" -ge "$nfail" ] &&
		[ "$(grep -c '^\[FAIL\]' "$1")" = "$ncrit" ] &&
		! grep -q 'Assertion Failed\|CRASH\|^FAIL' "$1"
}
# run_tests CPU EXPECTED_NATIVE TEST...: meson test under QEMU_CPU=CPU; EXPECTED_NATIVE is
# the kernels the kernel tests must find usable there (QKV_TEST_NATIVE).
run_tests() {
	cpu=$1
	native=$2
	shift 2
	out=$build/check-aarch64.test-$cpu.log
	rm -f "$out.rerun"
	if ! QEMU_CPU=$cpu QKV_TEST_NATIVE=$native meson test -C "$build" --no-rebuild \
		--print-errorlogs --num-processes 2 --logbase "testlog-$cpu" \
		--timeout-multiplier 4 "$@" >"$out" 2>&1; then
		# A test that timed out (meson's limit, or a Criterion test's own) and none that
		# failed otherwise is run once more, said loudly: here one hang in about five
		# full runs (weights_load, 480 s against 30 s) inside qemu-user, and Criterion
		# limits of 60 s passed at load 15-35 on the 2 cores.
		if only_timeouts "$out"; then
			again=$(sed -n 's#^ *[0-9]*/[0-9]* qkv:[^ ]* / \(.*[^ ]\) *\(TIMEOUT\|FAIL\) .*#\1#p' "$out" | sort -u)
			echo "check-aarch64: RERUN once after a timeout under qemu -cpu $cpu:" \
				"$(printf '%s\n' "$again" | paste -sd,)"
			IFS=$nl
			# shellcheck disable=SC2086 # one test name per line
			set -- $again
			unset IFS
			QEMU_CPU=$cpu QKV_TEST_NATIVE=$native meson test -C "$build" --no-rebuild \
				--print-errorlogs --logbase "testlog-$cpu-rerun" --timeout-multiplier 4 \
				"$@" >"$out.rerun" 2>&1 || {
				tail -40 "$out.rerun" >&2
				fail "tests FAILED under qemu -cpu $cpu on rerun (log: $out.rerun)"
			}
		else
			tail -40 "$out" >&2
			fail "tests FAILED under qemu -cpu $cpu (log: $build/meson-logs/testlog-$cpu.txt)"
		fi
	fi
	n=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out")
	[ ! -f "$out.rerun" ] || n=$((n + $(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out.rerun")))
	echo "check-aarch64: qemu -cpu $cpu: $n tests passed"
	tests=$((tests + n))
}

run_qemu() { # qemu-aarch64 with the CPU model $1 and the shim
	cpu=$1
	shift
	QEMU_CPU=$cpu QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so qemu-aarch64 "$@"
}

# Every test of the unit, conformance and cli suites but the Criterion conformance runs
# (conformance-<backend>): their cases run below through `qkv conform`, the same case
# library, every case on every backend, once rather than twice. The suites stress,
# corpus, examples, python, install, bench, mpi and lint are not run here (time budget).
names=$(meson test -C "$build" --no-rebuild --list --suite unit --suite conformance \
	--suite cli 2>/dev/null | sed -n 's#^qkv:[^ ]* / ##p' |
	grep -vxE 'conformance-(scalar|openmp|blas|int8|quant|onednn)')
IFS=$nl
# shellcheck disable=SC2086 # one test name per line
set -- $names
unset IFS
run_tests max c,neon,neon_dot,neon_i8mm "$@"
# The one case test_broken skips under qemu-user, with its own reason.
why=$(QKV_CONFORM_BROKEN_DIR=$build/tests/conformance/broken run_qemu max \
	"$build/tests/conformance/test_conformance_broken" --filter 'broken13b/cache_w_ptr' \
	--verbose 2>&1 | sed -n 's/.*\[SKIP\] broken13b::cache_w_ptr: //p')
if [ -n "$why" ]; then
	echo "check-aarch64: skipped inside conformance-broken: cache_w_ptr: $why"
	skipped=$((skipped + 1))
fi
run_tests cortex-a76 c,neon,neon_dot int8 openmp quant
run_tests cortex-a53 c,neon int8 openmp quant

# `qkv info` names the kernels the HWCAP bits select on each CPU model: CPU, int8 kernel,
# quant kernel (openmp's neon fmla 8x12 on all three).
for row in cortex-a53:neon:c cortex-a76:neon_dot:neon_dot max:neon_i8mm:neon_dot; do
	cpu=${row%%:*}
	q=${row##*:}
	want=${row#*:}
	want=${want%:*}
	out=$(run_qemu "$cpu" "$build/tools/qkv/qkv" info "$root/configs/default.yaml" 2>&1) ||
		fail "qkv info failed under qemu -cpu $cpu: $out"
	echo "$out" | grep -q "int8 kernel $want " ||
		fail "qkv info under -cpu $cpu does not name int8 kernel $want: $out"
	echo "$out" | grep -q "neon fmla 8x12" ||
		fail "qkv info under -cpu $cpu does not name the openmp neon kernel: $out"
	echo "$out" | grep -q "^  quant .*: kernel $q " ||
		fail "qkv info under -cpu $cpu does not name quant kernel $q: $out"
	tests=$((tests + 1))
done
echo "check-aarch64: qkv info names the NEON kernels on cortex-a53, cortex-a76 and max"

# `qkv conform` (the command): every case on every in-tree backend under max (the x86
# suite's set: conformance-<backend> runs them all), and the cases that reach the kernels
# on int8 and quant, whose kernels differ on cortex-a76 (sdot, no smmla) and cortex-a53
# (plain NEON / C). A case's limit is 300 s, not 30: int8_random_sizes took ~44 s under
# qemu at load 14.
conform() { # conform CPU CASES PLUGIN...: each plugin passes
	cpu=$1
	cases=$2
	shift 2
	for so in "$@"; do
		log=$build/check-aarch64.conform-$cpu-$(basename "$so" .so).log
		run_qemu "$cpu" "$build/tools/qkv/qkv" conform "$so" --cases "$cases" \
			--timeout 300 >"$log" 2>&1 || {
			tail -20 "$log" >&2
			fail "qkv conform $(basename "$so") failed under qemu -cpu $cpu (log: $log)"
		}
		tests=$((tests + 1))
		echo "check-aarch64: qkv conform passed on $(basename "$so") (-cpu $cpu):" \
			"$(tail -n 2 "$log" | sed -n 's/.*: \([0-9]* passed.*\)/\1/p')"
	done
}
be=$build/backends
conform max '*' "$be/blas/qkv_blas.so" "$be/int8/qkv_int8.so" "$be/openmp/qkv_openmp.so" \
	"$be/quant/qkv_quant.so" "$be/scalar/qkv_scalar.so" # onednn: not built for aarch64
kernel_cases='abi_*,*_seed_example,int8_*,stored_block_types,edge_sizes'
for cpu in cortex-a76 cortex-a53; do
	conform $cpu "$kernel_cases" "$be/int8/qkv_int8.so" "$be/quant/qkv_quant.so"
done

# The plugin template, copied out of the tree and cross-built against this build with
# pkg-config only (qkv-uninstalled.pc), passes every case of `qkv conform` (case limit
# 300 s, as above: f32_rows took over 30 s here at load 9).
tmpl=$build/check-aarch64.template
rm -rf "$tmpl"
mkdir -p "$tmpl"
cp -r "$root/plugins/template" "$tmpl/src"
{ setup_aarch64 "$tmpl/build" "$tmpl/src" -Dpkg_config_path="$build/meson-uninstalled" &&
	ninja -C "$tmpl/build"; } >"$tmpl/build.log" 2>&1 || {
	tail -20 "$tmpl/build.log" >&2
	fail "the plugin template did not build for aarch64 (log: $tmpl/build.log)"
}
if ! run_qemu cortex-a76 "$build/tools/qkv/qkv" conform "$tmpl/build/qkv_template.so" \
	--timeout 300 --report "$tmpl/report.json" >"$tmpl/conform.log" 2>&1 ||
	! grep -q '"failed": 0' "$tmpl/report.json"; then
	tail -20 "$tmpl/conform.log" >&2
	fail "qkv conform on the plugin template failed under qemu -cpu cortex-a76"
fi
tests=$((tests + 1))
echo "check-aarch64: qkv conform passed on the plugin template built for aarch64:" \
	"$(tail -n 2 "$tmpl/conform.log" | sed -n 's/.*: \([0-9]* passed.*\)/\1/p')"
echo "check-aarch64: $tests tests ran on aarch64 under qemu-user, $skipped skipped," \
	"in $(($(date +%s) - built)) s after a $((built - start)) s build" \
	"(load average $(cut -d' ' -f1-3 /proc/loadavg))"
