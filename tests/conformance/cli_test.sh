#!/bin/sh
# `qkv conform` end to end: a good backend passes (exit 0); each broken plugin fails
# (exit 1) on the case named for its defect, with the message that explains it; a
# crashing and a hanging plugin are reported, not fatal; the JSON report is written
# and stays valid JSON whatever bytes a plugin's messages hold.
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
expect hang 1 f32_seed_example "timed out after 2 s during: f32 T=1 K=2" \
	"$BROKEN/qkv_broken_hang.so" --cases f32_seed_example --timeout 2
# after one hang, no other case runs: the verdict comes after one timeout
expect hang_rest 1 f32_exact_integers "not run: f32_seed_example timed out" \
	"$BROKEN/qkv_broken_hang.so" --cases 'abi_metadata,f32_seed_example,f32_exact_integers' \
	--timeout 2

# issue 13: the runner's own checks
expect writes_x 1 f32_x_readonly "crashed (signal 11" "$BROKEN/qkv_broken_writes_x.so" \
	--cases f32_x_readonly
expect writes_x_where 1 f32_x_readonly "X read-only: project rows" \
	"$BROKEN/qkv_broken_writes_x.so" --cases f32_x_readonly
expect out_rmw 1 f32_out_pages "outputs end at a guard page: project" \
	"$BROKEN/qkv_broken_out_rmw.so" --cases f32_out_pages
expect x_block8_t128 1 f32_guards_by_size "T=128 K=33 heads=2/1 head_dim=8 in_out bias X ends at a guard page" \
	"$BROKEN/qkv_broken_x_block8_t128.so" --cases f32_guards_by_size
expect free_on_fail 1 prepare_failures "did prepare free its half-built handle" \
	"$BROKEN/qkv_broken_free_on_fail.so" --cases prepare_failures
expect prints 1 f32_bias "the plugin printed" "$BROKEN/qkv_broken_prints.so" --cases f32_bias
expect exports 1 exports "broken_helper_dot" "$BROKEN/qkv_broken_exports.so" --cases exports

# A message with quotes, backslashes, control characters, a newline and invalid UTF-8:
# the table row stays one line, the JSON report is valid JSON in valid UTF-8.
expect bad_message 1 f32_seed_example 'bad "quote" back\slash new line tab' \
	"$BROKEN/qkv_broken_bad_message.so" --cases 'f32_seed_example,f32_bias' \
	--report "$REPORT"
rows=$("$QKV" conform "$BROKEN/qkv_broken_bad_message.so" --cases 'f32_seed_example' |
	grep -c '')
if [ "$rows" -ne 6 ]; then # title, header, one row, summary, replay, blank line
	echo "FAIL bad_message: the table has $rows lines, want 6 (a newline broke a row)"
	status=1
fi
if ! python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.decode("utf-8", errors="strict"))
msg = doc["plugins"][0]["cases"][0]["message"]
assert "\"quote\"" in msg and "back\\slash" in msg and "\n" in msg and "\x01" in msg, msg
assert "\ufffd" in msg, msg
' "$REPORT"; then
	echo "FAIL bad_message: $REPORT is not valid JSON / UTF-8 with the message kept"
	status=1
else
	echo "ok   bad_message report: valid JSON, message kept, invalid bytes replaced"
fi
rm -f "$REPORT"
expect not_found 2 "" "" no_such_backend
exit $status
