#!/bin/sh
# qkv info names each weight file it read with the types its tensors have on disk, in the
# text and --json (issue 26 item 3): a single safetensors file, a sharded index and its
# shards, a GGUF of block types with an f32 bias, and .npy files. Weight .npy files of a
# well-formed dtype qkv does not read are refused naming the dtypes weights take.
# usage: info_files.sh QKV GENWEIGHTS SOURCE_ROOT
set -eu
QKV=$1
GEN=$2
SRC=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/common.sh
. "$here/common.sh"
# info_has CONFIG LINE...: `qkv info CONFIG` exits 0 and prints each LINE (fixed string)
info_has() {
	cfg=$1
	shift
	"$QKV" info "$cfg" >"$TMP/out" 2>"$TMP/err" || fail "info $cfg: $(cat "$TMP/err")"
	for line in "$@"; do
		grep -qxF -- "$line" "$TMP/out" || fail "info $cfg lacks '$line': $(cat "$TMP/out")"
	done
}
# json_files CONFIG EXPECTED: the model's "files" as [[path, [types]], ...] in Python syntax
json_files() {
	"$QKV" info "$1" --json - >"$TMP/json" 2>"$TMP/err" || fail "info --json $1: $(cat "$TMP/err")"
	python3 - "$TMP/json" "$2" <<'PY' || fail "info --json $1: files are not $2: $(cat "$TMP/json")"
import ast, json, sys
got = [[f["path"], f["types"]] for f in json.load(open(sys.argv[1]))["model"]["files"]]
sys.exit(got != ast.literal_eval(sys.argv[2]))
PY
}

# A single safetensors file (the shipped default: BF16 on disk, widened at open).
info_has "$SRC/configs/default.yaml" "  file $SRC/configs/weights/tiny.safetensors: BF16"
json_files "$SRC/configs/default.yaml" "[['$SRC/configs/weights/tiny.safetensors', ['BF16']]]"

# A sharded checkpoint, F16: the index, then each shard in first-use order.
"$GEN" --preset tiny --dtype f16 --form sharded --shards 2 \
	--out "$TMP/model.safetensors.index.json" >/dev/null
cat >"$TMP/sharded.yaml" <<'YAML'
model: {d_model: 64, n_heads: 4, n_kv_heads: 2, head_dim: 16}
weights:
  layout: out_in
  file: model.safetensors.index.json
  q: {tensor: model.layers.0.self_attn.q_proj.weight}
  k: {tensor: model.layers.0.self_attn.k_proj.weight}
  v: {tensor: model.layers.0.self_attn.v_proj.weight}
  v_bias: {tensor: model.layers.0.self_attn.v_proj.bias}
YAML
shard() { grep -o "\"model.layers.0.self_attn.$1\": \"[^\"]*\"" "$TMP/model.safetensors.index.json" | cut -d'"' -f4; }
s1=$(shard q_proj.weight)
s2=$(shard v_proj.bias)
[ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ] || fail "genweights' shards: '$s1' '$s2'"
info_has "$TMP/sharded.yaml" "  file $TMP/model.safetensors.index.json: index" \
	"  file $TMP/$s1: F16" "  file $TMP/$s2: F16"
json_files "$TMP/sharded.yaml" \
	"[['$TMP/model.safetensors.index.json', ['index']], ['$TMP/$s1', ['F16']], ['$TMP/$s2', ['F16']]]"

# GGUF: Q4_K for q and k, Q6_K for v, and q's bias in F32, as stored (precision stored).
"$GEN" --preset tiny256 --form gguf --wtype q4_k,q4_k,q6_k --out "$TMP/m.gguf" >/dev/null
cat >"$TMP/gguf.yaml" <<'YAML'
model: {precision: stored}
weights:
  file: m.gguf
  q: {tensor: blk.0.attn_q.weight}
  k: {tensor: blk.0.attn_k.weight}
  v: {tensor: blk.0.attn_v.weight}
  q_bias: {tensor: blk.0.attn_q.bias}
YAML
info_has "$TMP/gguf.yaml" "  file $TMP/m.gguf: Q4_K, F32, Q6_K"
json_files "$TMP/gguf.yaml" "[['$TMP/m.gguf', ['Q4_K', 'F32', 'Q6_K']]]"

# .npy: one file per projection, each with its own dtype.
npy() { python3 "$SRC/tests/cli/write_npy.py" "$1" "$2" "$3" "(8, 8)"; } # zeros
npy "$TMP/wq.npy" '<f4' 4
npy "$TMP/wk.npy" '<f2' 2
npy "$TMP/wv.npy" '<f4' 4
cat >"$TMP/npy.yaml" <<'YAML'
model: {d_model: 8, n_heads: 2, head_dim: 4}
weights:
  layout: in_out
  q: {file: wq.npy}
  k: {file: wk.npy}
  v: {file: wv.npy}
YAML
info_has "$TMP/npy.yaml" "  file $TMP/wq.npy: F32" "  file $TMP/wk.npy: F16" "  file $TMP/wv.npy: F32"
json_files "$TMP/npy.yaml" "[['$TMP/wq.npy', ['F32']], ['$TMP/wk.npy', ['F16']], ['$TMP/wv.npy', ['F32']]]"
echo "ok: info lists the weight files and their on-disk types"

# A weight .npy of a well-formed dtype qkv does not read: the dtypes weights take, and
# int8 with the condition under which it is read.
for d in '<i4:4:int32' '|u1:1:uint8' '<f8:8:float64'; do
	descr=${d%%:*}
	rest=${d#*:}
	npy "$TMP/wv.npy" "$descr" "${rest%%:*}"
	if "$QKV" run "$TMP/npy.yaml" >"$TMP/out" 2>"$TMP/err"; then fail "run with a $descr weight"; fi
	grep -qF "weights.v: $TMP/wv.npy: dtype '$descr' (${rest#*:}) is not supported for weights (supported: '<f4' float32, '<f2' float16, '|i1' int8 (pre-quantized weights: model.precision int8, with scales))" "$TMP/err" ||
		fail "$descr weight: $(cat "$TMP/err")"
done
echo "ok: unsupported weight dtypes name what weights take"
