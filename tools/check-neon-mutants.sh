#!/bin/sh
# Do the tests bite on the NEON kernels (openmp, int8, quant)? Each mutant below breaks
# one kernel the way a blocked kernel typically goes wrong (a row or column remainder
# dropped, a k remainder dropped, the dot-product / matrix-multiply / FMA accumulation
# replaced by a plain product). quant's neon_dot rows take one weight row and up to 4 X
# rows per call (the weight-row loop is quant.c's, the same C on every ISA), so its row
# remainder is X rows past a multiple of 4 and its k remainders are the last block, the
# second 16 bytes of a 32-value block and the last sub-block of a super-block. For each: patch the source, rebuild the module and the test in the aarch64
# build (tools/check-aarch64.sh made it), run the kernel test under qemu-user with a CPU
# that has the extension (QEMU_CPU=max), and expect it to FAIL; the source is restored
# after every mutant (and on exit). Prints one line per mutant; exit 1 if one survived.
#
#   tools/check-neon-mutants.sh [BUILD_DIR [NAME_PREFIX]]   (default: build-aarch64, all)
# NAME_PREFIX runs only the mutants whose name starts with it (e.g. "quant").
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-aarch64}
only=${2:-}
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -f "$build/build.ninja" ] || {
	echo "check-neon-mutants: no aarch64 build in $build (run tools/check-aarch64.sh)" >&2
	exit 1
}
src() { # the NEON kernel source of int8|omp|quant
	[ "$1" = omp ] && set -- openmp
	echo "$root/backends/$1/kernel_neon.c"
}
save=$(mktemp -d)
for k in int8 omp quant; do
	cp "$(src $k)" "$save/$k.c"
done
restore() {
	for k in int8 omp quant; do
		cp "$save/$k.c" "$(src $k)"
	done
}
trap 'restore; rm -rf "$save"' EXIT INT TERM

# name | file (int8|omp|quant) | sed expression (must change the file)
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
openmp neon: matrix-vector accumulation dropped|omp|s/acc\[r\]\[j\] = vfmaq_f32(acc\[r\]\[j\], a, b\[j\]);/acc[r][j] = vfmaq_f32(vdupq_n_f32(0.0f), a, b[j]);/
quant neon_dot: X-row remainder (rows past a multiple of 4) dropped, _0 types|quant|/^INLINE void blocks_0/,/^}/s/for (int i = 0; i < nt; i++) {/for (int i = 0; i < (nt \& ~3); i++) {/
quant neon_dot: X-row remainder dropped, Q4_K/Q5_K|quant|/^INLINE void super_k/,/^}/s/for (int i = 0; i < nt; i++) {/for (int i = 0; i < (nt \& ~3); i++) {/
quant neon_dot: last block of a Q8_0 row dropped (k remainder)|quant|/row_q8_0(/,/^}/s/for (size_t b = 0; b < nb; b++) {/for (size_t b = 0; b + 1 < nb; b++) {/
quant neon_dot: last sub-block of a Q4_K/Q5_K super-block dropped|quant|/^INLINE void super_k/,/s = vmlaq_n_s32(s, dot32/s/for (int j = 0; j < 8; j++)$/for (int j = 0; j < 7; j++)/
quant neon_dot: last sub-block of a Q6_K super-block dropped|quant|/row_q6_k(/,/^}/s/for (int j = 0; j < 16; j++)$/for (int j = 0; j < 15; j++)/
quant neon_dot: sdot accumulation of the two halves of a block dropped (first half lost)|quant|s/return vdotq_s32(s, w1, vld1q_s8(x + 16));/return vdotq_s32(vmulq_n_s32(s, 0), w1, vld1q_s8(x + 16));/
quant neon_dot: sub-block accumulation (K types) dropped|quant|s/s = vmlaq_n_s32(s, dot32(/s = vmlaq_n_s32(vdupq_n_s32(0), dot32(/
quant neon_dot: sub-block accumulation (Q6_K) dropped|quant|s/^\([\t ]*\)s, vdotq_s32(vdupq_n_s32(0), q\[j\],/\1vdupq_n_s32(0), vdotq_s32(vdupq_n_s32(0), q[j],/'

run_test() { # $1: int8|omp|quant
	case $1 in
	int8)
		targets="backends/int8/qkv_int8.so backends/int8/int8_simde_test.so backends/int8/test_int8"
		test=$build/backends/int8/test_int8
		filter='int8/kernels_equal_scalar_reference'
		;;
	omp)
		targets="backends/openmp/test_openmp backends/openmp/openmp_simde_test.so"
		test=$build/backends/openmp/test_openmp
		filter='openmp/kernels_neon'
		;;
	quant) # the native module only: the test forces neon_dot (QKV_QUANT_KERNEL)
		targets="backends/quant/qkv_quant.so backends/quant/test_quant"
		test=$build/backends/quant/test_quant
		filter='quant/native_kernels_equal_scalar'
		;;
	esac
	ran="$ran $targets"
	# shellcheck disable=SC2086 # one target per word
	ninja -C "$build" $targets >"$build/check-neon-mutants.log" 2>&1 || return 99
	QEMU_CPU=max QEMU_SET_ENV=LD_PRELOAD=$build/qemu_exec_shim.so \
		timeout 600 qemu-aarch64 "$test" --filter "$filter" >>"$build/check-neon-mutants.log" 2>&1
}

survived=0
total=0
ran=''
nl='
'
# The unmutated kernels must pass first, or every mutant would look caught.
for which in $(printf '%s\n' "$mutants" | grep "^$only" | cut -d'|' -f2 | sort -u); do
	run_test "$which" || {
		echo "check-neon-mutants: the unmutated $which kernel fails its test (log: $build/check-neon-mutants.log)" >&2
		exit 1
	}
done
IFS=$nl
for m in $mutants; do
	unset IFS
	name=${m%%|*}
	rest=${m#*|}
	which=${rest%%|*}
	expr=${rest#*|}
	case $name in "$only"*) ;; *) continue ;; esac
	file=$(src "$which")
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
# Rebuild what the mutants rebuilt, unmutated, so the build dir is left as the source says.
# shellcheck disable=SC2086,SC2046 # one target per word
[ -z "$ran" ] || ninja -C "$build" $(printf '%s\n' $ran | sort -u) >/dev/null
echo "check-neon-mutants: $((total - survived)) of $total mutants caught by the tests under qemu -cpu max"
[ "$survived" -eq 0 ]
