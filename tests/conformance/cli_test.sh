#!/bin/sh
# `qkv conform` end to end: a good backend passes (exit 0); each broken plugin fails
# (exit 1) on the case named for its defect, with the message that explains it; a
# crashing and a hanging plugin are reported, not fatal; the JSON report is written.
# usage: cli_test.sh QKV BROKEN_DIR SCALAR_SO
set -u
QKV=$1
BROKEN=$2
SCALAR=$3
REPORT=${TMPDIR:-/tmp}/qkv-conform-cli-$$.json
status=0
# the flake loop varies the seed; every defect must be caught under any seed
SEED_ARGS=${QKV_CONFORM_SEED:+--seed $QKV_CONFORM_SEED}

# expect NAME EXIT CASE MESSAGE ARGS...: exit status EXIT, and the table row of CASE
# holds MESSAGE (a fixed string).
expect() {
	name=$1 want=$2 case=$3 msg=$4
	shift 4
	# shellcheck disable=SC2086 # SEED_ARGS is empty or two words
	out=$("$QKV" conform $SEED_ARGS "$@" 2>&1)
	rc=$?
	row=$(printf '%s\n' "$out" | grep "^$case ")
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL $name: exit status $rc, want $want"
	elif ! printf '%s\n' "$row" | grep -qF -- "$msg"; then
		echo "FAIL $name: row of $case lacks \"$msg\""
	else
		echo "ok   $name: $row"
		return
	fi
	printf '%s\n' "$out"
	status=1
}

expect scalar 0 f32_seed_example pass "$SCALAR" --report "$REPORT" \
	--cases 'abi_metadata,refuse_*,release_*,*_seed_example,f32_guard_bytes,int8_saturation'
if ! grep -q '"result": "pass"' "$REPORT" || grep -q '"result": "fail"' "$REPORT"; then
	echo "FAIL report: $REPORT does not show the passes"
	status=1
fi
rm -f "$REPORT"

expect drop_tail 1 f32_random_sizes "was not written" \
	"$BROKEN/qkv_broken_drop_tail.so" --cases f32_random_sizes
expect ignore_bias 1 f32_bias "differs" "$BROKEN/qkv_broken_ignore_bias.so" --cases f32_bias
expect ignore_stride 1 f32_strides "into the gap after q[0]" \
	"$BROKEN/qkv_broken_ignore_stride.so" --cases f32_strides
expect write_past 1 f32_guard_bytes "wrote 1 float past q[T-1] end" \
	"$BROKEN/qkv_broken_write_past.so" --cases f32_guard_bytes
expect static_scratch 1 f32_concurrency "not bit-identical" \
	"$BROKEN/qkv_broken_static_scratch.so" --cases f32_concurrency
expect nan_flush 1 f32_nan_inf "want NaN" "$BROKEN/qkv_broken_nan_flush.so" --cases f32_nan_inf
expect int8_saturate 1 int8_saturation "exact int8 reference" \
	"$BROKEN/qkv_broken_int8_saturate.so" --cases int8_saturation
expect wrong_abi 1 abi_metadata "ABI major" "$BROKEN/qkv_broken_wrong_abi.so" --cases abi_metadata
expect over_read 1 f32_x_bounds "a read outside X hit a guard page" \
	"$BROKEN/qkv_broken_over_read.so" --cases f32_x_bounds
expect crash 1 f32_seed_example "crashed (signal 11" "$BROKEN/qkv_broken_crash.so" \
	--cases 'abi_metadata,f32_seed_example'
expect hang 1 f32_seed_example "timed out after 2 s" "$BROKEN/qkv_broken_hang.so" \
	--cases f32_seed_example --timeout 2
expect not_found 2 "" "" no_such_backend
exit $status
