#!/bin/sh
# `qkv quantize` round trip: the int8 file it writes, loaded through the config it prints,
# gives bit-identical outputs to quantizing the f32 model at load time, on the int8 and
# scalar backends, for a safetensors model (out_in, GQA, biases) and an npy model
# (in_out, no tensor names). Also: accuracy within the worst-case bound, usage errors.
# usage: quantize_test.sh QKV SOURCE_ROOT
set -eu
QKV=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Model name, then a sed script making the shipped config int8 with absolute paths.
check_model() {
	name=$1
	sed -e "$2" -e 's/precision: f32/precision: int8/' "$SRC/configs/$name.yaml" \
		> "$TMP/$name-int8.yaml"
	"$QKV" quantize "$SRC/configs/$name.yaml" --out "$TMP/$name.safetensors" \
		--config-out "$TMP/$name-q.yaml" > "$TMP/$name.report" ||
		fail "$name: qkv quantize exited $?"
	grep -q 'within the worst-case bound: yes' "$TMP/$name.report" ||
		fail "$name: accuracy report: $(cat "$TMP/$name.report")"
	grep -q 'q_scale: {tensor:' "$TMP/$name-q.yaml" || fail "$name: no q_scale in config"
	for be in int8 scalar; do
		mkdir -p "$TMP/a-$name-$be" "$TMP/b-$name-$be"
		"$QKV" run "$TMP/$name-int8.yaml" --backend "$be" --strict --tokens 7 --seed 3 \
			--out "$TMP/a-$name-$be" > /dev/null || fail "$name: run f32 file on $be"
		"$QKV" run "$TMP/$name-q.yaml" --backend "$be" --strict --tokens 7 --seed 3 \
			--out "$TMP/b-$name-$be" > /dev/null || fail "$name: run int8 file on $be"
		for p in q k v; do
			cmp -s "$TMP/a-$name-$be/$p.npy" "$TMP/b-$name-$be/$p.npy" ||
				fail "$name: $be: $p differs between load-time and file quantization"
		done
	done
	echo "ok: $name"
}

check_model default "s#file: weights/#file: $SRC/configs/weights/#"
check_model seed-example "s#{file: seed-example/#{file: $SRC/configs/seed-example/#"

# Usage errors: exit 2 without --out; exit 1 for a missing config or an int8 source.
set +e
"$QKV" quantize "$SRC/configs/default.yaml" > /dev/null 2>&1
[ $? -eq 2 ] || fail "missing --out should exit 2"
"$QKV" quantize "$TMP/none.yaml" --out "$TMP/x.safetensors" > /dev/null 2>&1
[ $? -eq 1 ] || fail "missing config should exit 1"
"$QKV" quantize "$TMP/default-q.yaml" --out "$TMP/y.safetensors" 2> "$TMP/err" > /dev/null
[ $? -eq 1 ] && grep -q 'already int8' "$TMP/err" || fail "int8 source should be refused"
echo "ok: usage errors"
