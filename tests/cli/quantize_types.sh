#!/bin/sh
# qkv quantize --type T (issue 22 item 7): a {layer} safetensors checkpoint written as GGUF of
# each block type, one layer and --all-layers; the printed config loads it with precision
# stored; the quant backend and the scalar reference give the same bytes; d_model that is
# not whole blocks and an unknown type are refused with a message.
set -eu
QKV=$1
GEN=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/cli/common.sh
. "$here/common.sh"
"$GEN" --preset tiny256 --layers 2 --out "$TMP/st.safetensors" >/dev/null
cat >"$TMP/st.yaml" <<'YAML'
model: {d_model: 256, n_heads: 4, n_kv_heads: 2, head_dim: 64, n_layers: 2}
weights:
  layout: out_in
  file: st.safetensors
  q: {tensor: 'model.layers.{layer}.self_attn.q_proj.weight'}
  k: {tensor: 'model.layers.{layer}.self_attn.k_proj.weight'}
  v: {tensor: 'model.layers.{layer}.self_attn.v_proj.weight'}
  q_bias: {tensor: 'model.layers.{layer}.self_attn.q_proj.bias'}
  k_bias: {tensor: 'model.layers.{layer}.self_attn.k_proj.bias'}
  v_bias: {tensor: 'model.layers.{layer}.self_attn.v_proj.bias'}
YAML
for t in q8_0 q4_0 q4_k q5_k q6_k; do
	for layers in "--layer 1" "--all-layers"; do
		# shellcheck disable=SC2086
		"$QKV" quantize "$TMP/st.yaml" --type "$t" $layers --out "$TMP/$t.gguf" \
			--config-out "$TMP/$t.yaml" >"$TMP/out.txt" || fail "quantize --type $t $layers"
		grep -q "layer [01] v: $t vs f32 on 32 Gaussian rows" "$TMP/out.txt" ||
			fail "no accuracy report for $t: $(cat "$TMP/out.txt")"
		for b in scalar quant; do
			"$QKV" run "$TMP/$t.yaml" --layer 1 --backend "$b" --strict --tokens 5 \
				--out "$TMP/out-$b" >/dev/null || fail "run $t on $b"
		done
		for p in q k v; do
			cmp -s "$TMP/out-scalar/$p.npy" "$TMP/out-quant/$p.npy" ||
				fail "$t $layers: quant's $p differs from scalar's"
		done
		"$QKV" info "$TMP/$t.yaml" --layer 1 | grep -q "q: held as $t, .* handed over in place" ||
			fail "info does not name $t in place"
	done
done
"$GEN" --preset tiny --out "$TMP/tiny.safetensors" >/dev/null
sed -e 's/d_model: 256, n_heads: 4, n_kv_heads: 2, head_dim: 64/d_model: 64, n_heads: 4, n_kv_heads: 2, head_dim: 16/' \
	-e 's/st.safetensors/tiny.safetensors/' "$TMP/st.yaml" >"$TMP/tiny.yaml"
if "$QKV" quantize "$TMP/tiny.yaml" --layer 0 --type q4_k --out "$TMP/x.gguf" 2>"$TMP/err.txt"; then
	fail "q4_k of d_model 64 accepted"
fi
grep -q "needs d_model a multiple of its block of 256" "$TMP/err.txt" || fail "$(cat "$TMP/err.txt")"
status=0
"$QKV" quantize "$TMP/st.yaml" --layer 0 --type q3_k --out "$TMP/x.gguf" 2>"$TMP/err.txt" || status=$?
[ "$status" = 2 ] || fail "unknown type: exit $status"
grep -q -- "--type: give one of" "$TMP/err.txt" || fail "$(cat "$TMP/err.txt")"
echo "quantize --type: q8_0 q4_0 q4_k q5_k q6_k written, loaded, quant = scalar bit for bit"
