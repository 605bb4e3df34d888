#!/bin/sh
# `qkv quantize` on configs whose tensor names hold {layer} (issue 26 item 1): --layer N
# and --all-layers write the names as the file spells them (model.layers.1...qweight),
# the printed config runs, and each layer of it gives the same bytes as quantizing that
# layer of the f32 model at load time (int8 and scalar backends). Three forms: separate
# safetensors (HF names), GPT-2's fused c_attn (q, k, v share a tensor) with biases, and
# a sharded index.
#   quantize_layers.sh QKV GENWEIGHTS
set -eu
qkv=$1 gen=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/common.sh
. "$here/common.sh"
"$gen" --preset tiny --form separate --layers 3 --out "$TMP/hf.safetensors" >/dev/null
"$gen" --preset tiny --form gpt2 --layers 3 --out "$TMP/g.safetensors" >/dev/null
"$gen" --preset tiny --form sharded --layers 3 --out "$TMP/model.safetensors.index.json" >/dev/null
cat >"$TMP/hf.yaml" <<'YAML'
model: {d_model: 64, n_heads: 4, n_kv_heads: 2, n_layers: 3}
weights:
  layout: out_in
  file: hf.safetensors
  q: {tensor: 'model.layers.{layer}.self_attn.q_proj.weight'}
  k: {tensor: 'model.layers.{layer}.self_attn.k_proj.weight'}
  v: {tensor: 'model.layers.{layer}.self_attn.v_proj.weight'}
YAML
sed 's/hf.safetensors/model.safetensors.index.json/' "$TMP/hf.yaml" >"$TMP/sh.yaml"
cp "$here/gpt2_layers.yaml" "$TMP/gpt2.yaml"

# run CONFIG LAYER BACKEND DIR: project 5 fixed rows, outputs in DIR
run() {
	mkdir -p "$4"
	"$qkv" run "$1" --layer "$2" --backend "$3" --strict --threads 1 --tokens 5 --seed 7 \
		--out "$4" >/dev/null || fail "qkv run $1 --layer $2 --backend $3"
}
same() { # same A B: q, k, v identical
	for p in q k v; do
		cmp -s "$1/$p.npy" "$2/$p.npy" || fail "$p differs: $1 vs $2"
	done
}

for m in hf gpt2 sh; do
	sed 's/^\(model:.*\)}/\1, precision: int8}/' "$TMP/$m.yaml" >"$TMP/$m-int8.yaml"
	grep -q 'precision: int8' "$TMP/$m-int8.yaml" || fail "$m: no int8 config"
	# One layer: its real names, and a config that runs that layer.
	"$qkv" quantize "$TMP/$m.yaml" --layer 1 --out "$TMP/$m-l1.safetensors" \
		--config-out "$TMP/$m-l1.yaml" >"$TMP/$m-l1.out" || fail "$m: quantize --layer 1"
	grep -q 'layer: 1' "$TMP/$m-l1.yaml" || fail "$m: config lacks layer: 1"
	if grep -q '{layer}' "$TMP/$m-l1.safetensors"; then fail "$m: {layer} in the file's names"; fi
	case $m in
	gpt2) grep -q 'h\.1\.attn\.c_attn\.weight\.q\.qweight' "$TMP/$m-l1.safetensors" ;;
	*) grep -q 'model\.layers\.1\.self_attn\.q_proj\.weight\.qweight' "$TMP/$m-l1.safetensors" ;;
	esac || fail "$m: the file lacks layer 1's real tensor names"
	for be in int8 scalar; do
		run "$TMP/$m-int8.yaml" 1 "$be" "$TMP/a-$m-$be"
		"$qkv" run "$TMP/$m-l1.yaml" --backend "$be" --strict --threads 1 --tokens 5 \
			--seed 7 --out "$TMP/b-$m-$be" >/dev/null || fail "$m: the --layer 1 config does not run"
		same "$TMP/a-$m-$be" "$TMP/b-$m-$be"
	done
	# Every layer in one file: each one through the printed config and --layer N.
	"$qkv" quantize "$TMP/$m.yaml" --all-layers --out "$TMP/$m-all.safetensors" \
		--config-out "$TMP/$m-all.yaml" >"$TMP/$m-all.out" || fail "$m: quantize --all-layers"
	[ "$(grep -c 'within the worst-case bound: yes' "$TMP/$m-all.out")" -eq 3 ] ||
		fail "$m: not 3 accuracy reports: $(cat "$TMP/$m-all.out")"
	if [ "$m" = hf ]; then # --json: one entry per layer and projection, for scripts
		"$qkv" quantize "$TMP/$m.yaml" --all-layers --out "$TMP/$m-j.safetensors" --json - \
			>"$TMP/$m.json" 2>/dev/null || fail "$m: quantize --json -"
		python3 - "$TMP/$m.json" <<'PY' || fail "$m: --json: $(cat "$TMP/$m.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [e["layer"] for e in d["layers"]] == [0, 1, 2], d
assert all(0 < e[p]["err_over_bound"] <= 1 for e in d["layers"] for p in "qkv"), d
PY
	fi
	for l in 0 2; do
		run "$TMP/$m-int8.yaml" "$l" int8 "$TMP/c-$m-$l"
		run "$TMP/$m-all.yaml" "$l" int8 "$TMP/d-$m-$l"
		same "$TMP/c-$m-$l" "$TMP/d-$m-$l"
	done
	cmp -s "$TMP/d-$m-0/q.npy" "$TMP/d-$m-2/q.npy" && fail "$m: layers 0 and 2 give the same q"
	echo "ok: $m: --layer 1 and --all-layers"
done

# Misuse: no layer for a {layer} config, both options, a layer option on one layer.
set +e
msg=$("$qkv" quantize "$TMP/hf.yaml" --out "$TMP/x.safetensors" 2>&1)
[ $? -eq 1 ] || fail "a {layer} config without a layer was quantized"
case $msg in *"give --layer N or --all-layers"*) ;; *) fail "no layer: $msg" ;; esac
msg=$("$qkv" quantize "$TMP/hf.yaml" --layer 1 --all-layers --out "$TMP/x.safetensors" 2>&1)
[ $? -eq 2 ] || fail "--layer with --all-layers accepted"
msg=$("$qkv" quantize "$TMP/hf.yaml" --layer 3 --out "$TMP/x.safetensors" 2>&1)
[ $? -eq 1 ] || fail "--layer 3 of 3 accepted"
case $msg in *"layer 3 is not below the model's 3 layers"*) ;; *) fail "--layer 3: $msg" ;; esac
echo "ok: misuse refused"
echo PASS
