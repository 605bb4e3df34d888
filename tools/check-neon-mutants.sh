#!/bin/sh
# Do the tests bite on the NEON kernels? Each mutant below breaks one kernel the way a
# blocked kernel typically goes wrong (a row or column remainder dropped, a k remainder
# dropped, the dot-product / matrix-multiply / FMA accumulation replaced by a plain
# product). For each: patch the source, rebuild the module and the test in the aarch64
# build (tools/check-aarch64.sh made it), run the kernel test under qemu-user with a CPU
# that has the extension (QEMU_CPU=max), and expect it to FAIL; the source is restored
# after every mutant (and on exit). Prints one line per mutant; exit 1 if one survived.
#
#   tools/check-neon-mutants.sh [BUILD_DIR]      (default: build-aarch64)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-aarch64}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -f "$build/build.ninja" ] || {
	echo "check-neon-mutants: no aarch64 build in $build (run tools/check-aarch64.sh)" >&2
	exit 1
}
int8_src=$root/backends/int8/kernel_neon.c
omp_src=$root/backends/openmp/kernel_neon.c
save=$(mktemp -d)
cp "$int8_src" "$save/int8.c"
cp "$omp_src" "$save/omp.c"
restore() {
	cp "$save/int8.c" "$int8_src"
	cp "$save/omp.c" "$omp_src"
}
trap 'restore; rm -rf "$save"' EXIT INT TERM

# name | file (int8|omp) | sed expression (must change the file)
mutants='int8 neon: 1-row remainder tile dropped|int8|s/^\t\tneon_tile(x, ldx, panel, kg, acc, 1);/\t\t(void)0;/
int8 neon: smull2+sadalp accumulation dropped|int8|s/vpadalq_s16(a\[r\]\[2 \* i + 1\],/vpadalq_s16(vdupq_n_s32(0),/
int8 neon_dot: sdot accumulation dropped|int8|s/a\[r\]\[0\] = vdotq_laneq_s32(a\[r\]\[0\],/a[r][0] = vdotq_laneq_s32(vdupq_n_s32(0),/
int8 neon_dot: k remainder (last 1-3 groups) dropped|int8|s/for (; g < kg; g++) {/for (; g < kg \&\& 0; g++) {/
int8 neon_dot: row remainder (3-row tile) dropped|int8|/^\tcase 3:$/,/break;/s/dot_tile(x, ldx, panel, kg, acc, 3);/dot_tile(x, ldx, panel, kg, acc, 2);/
int8 neon_i8mm: smmla accumulation dropped|int8|s/c\[p\]\[j\] = vmmlaq_s32(c\[p\]\[j\],/c[p][j] = vmmlaq_s32(vdupq_n_s32(0),/
int8 neon_i8mm: odd last k group dropped|int8|s/for (size_t g = 0; g < kg; g += 2) {/for (size_t g = 0; g + 1 < kg; g += 2) {/
int8 neon_i8mm: odd last row dropped|int8|s/const size_t pairs = (rows + 1) \/ 2;/const size_t pairs = rows \/ 2;/
openmp neon: FMA accumulation dropped|omp|s/acc\[r\]\[0\] = vfmaq_laneq_f32(acc\[r\]\[0\],/acc[r][0] = vfmaq_laneq_f32(vdupq_n_f32(0.0f),/
openmp neon: column remainder stored as full tile|omp|s/if (m == MR_NEON \&\& n == NR_NEON) {/if (m == MR_NEON) {/
openmp neon: last row of an edge tile dropped|omp|0,/for (size_t r = 0; r < m; r++) {$/s//for (size_t r = 0; r + 1 < m; r++) {/
openmp neon: matrix-vector accumulation dropped|omp|s/acc\[r\]\[j\] = vfmaq_f32(acc\[r\]\[j\], a, b\[j\]);/acc[r][j] = vfmaq_f32(vdupq_n_f32(0.0f), a, b[j]);/'

run_test() { # $1: int8|omp
	if [ "$1" = int8 ]; then
		targets="backends/int8/qkv_int8.so backends/int8/int8_simde_test.so backends/int8/test_int8"
		test=$build/backends/int8/test_int8
		filter='int8/kernels_equal_scalar_reference'
	else
		targets="backends/openmp/test_openmp backends/openmp/openmp_simde_test.so"
		test=$build/backends/openmp/test_openmp
		filter='openmp/kernels_neon'
	fi
	# shellcheck disable=SC2086 # one target per word
	ninja -C "$build" $targets >"$build/check-neon-mutants.log" 2>&1 || return 99
	QEMU_CPU=max QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so \
		timeout 600 qemu-aarch64 "$test" --filter "$filter" >>"$build/check-neon-mutants.log" 2>&1
}

survived=0
total=0
nl='
'
IFS=$nl
for m in $mutants; do
	unset IFS
	name=${m%%|*}
	rest=${m#*|}
	which=${rest%%|*}
	expr=${rest#*|}
	file=$int8_src
	[ "$which" = omp ] && file=$omp_src
	restore
	sed -i "$expr" "$file"
	if cmp -s "$file" "$save/$which.c"; then
		echo "check-neon-mutants: '$name': the sed expression matched nothing" >&2
		exit 1
	fi
	total=$((total + 1))
	if run_test "$which"; then
		echo "SURVIVED  $name"
		survived=$((survived + 1))
	elif [ $? -eq 99 ]; then
		echo "BUILD FAILED  $name (log: $build/check-neon-mutants.log)" >&2
		exit 1
	else
		echo "caught    $name"
	fi
done
restore
# Rebuild the unmutated kernels, so the build dir is left as the source says.
ninja -C "$build" backends/int8/qkv_int8.so backends/int8/int8_simde_test.so \
	backends/openmp/test_openmp backends/int8/test_int8 >/dev/null
echo "check-neon-mutants: $((total - survived)) of $total mutants caught by the tests under qemu -cpu max"
[ "$survived" -eq 0 ]
