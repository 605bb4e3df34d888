#!/bin/sh
# `--layer N` on qkv run/info/bench and `qkv bench --all-layers` (issue 17), on a 3-layer
# GGUF model and a 3-layer GPT-2-style fused checkpoint written by qkv-genweights:
# --layer N gives the same bytes as `layer: N` in the config, different layers give
# different outputs, out-of-range layers and misuse are refused naming the option, and
# --all-layers prints one line per layer, the totals and decode passes over the layers.
#   cli_layers.sh QKV GENWEIGHTS OUTDIR
set -eu
qkv=$1 gen=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
fail() {
	echo "FAIL: $*"
	exit 1
}
"$gen" --preset tiny --form gguf --layers 3 --out "$out/m.gguf" >/dev/null
"$gen" --preset tiny --form gpt2 --layers 3 --out "$out/g.safetensors" >/dev/null
names="  q: {tensor: 'blk.{layer}.attn_q.weight'}
  k: {tensor: 'blk.{layer}.attn_k.weight'}
  v: {tensor: 'blk.{layer}.attn_v.weight'}"
printf 'weights:\n  file: m.gguf\n%s\n' "$names" >"$out/gguf.yaml"
printf 'weights:\n  file: m.gguf\n  layer: 1\n%s\n' "$names" >"$out/gguf1.yaml"
cp "$(dirname "$0")/../cli/gpt2_layers.yaml" "$out/gpt2.yaml"
for cfg in gguf gpt2; do
	for l in 0 1 2; do
		"$qkv" run "$out/$cfg.yaml" --tokens 2 --threads 1 --backend scalar --layer "$l" \
			--out "$out/$cfg-$l" >/dev/null || fail "qkv run $cfg.yaml --layer $l"
	done
	cmp -s "$out/$cfg-0/q.npy" "$out/$cfg-1/q.npy" && fail "$cfg: layers 0 and 1 give the same Q"
	cmp -s "$out/$cfg-1/v.npy" "$out/$cfg-2/v.npy" && fail "$cfg: layers 1 and 2 give the same V"
	msg=$("$qkv" run "$out/$cfg.yaml" --layer 3 --backend scalar 2>&1) && fail "$cfg: --layer 3 accepted"
	case $msg in *"layer 3 is not below the model's 3 layers"*) ;; *) fail "$cfg: $msg" ;; esac
done
"$qkv" run "$out/gguf1.yaml" --tokens 2 --threads 1 --backend scalar --out "$out/cfg-1" >/dev/null
for p in q k v; do
	cmp "$out/cfg-1/$p.npy" "$out/gguf-1/$p.npy" || fail "layer: 1 and --layer 1 differ ($p)"
done
msg=$("$qkv" run "$out/gguf.yaml" --backend scalar 2>&1) && fail "a {layer} name ran without a layer"
case $msg in *"has {layer}: set weights.layer"*) ;; *) fail "no layer: $msg" ;; esac
"$qkv" info "$out/gguf.yaml" --layer 2 >/dev/null || fail "qkv info --layer 2"
bench=$("$qkv" bench "$out/gpt2.yaml" --all-layers --tokens 1,4,32 --backend scalar --threads 1 \
	--min-time 0.001 --no-reference --quiet) || fail "qkv bench --all-layers"
for l in 0 1 2; do
	n=$(echo "$bench" | grep -c "^$l  *scalar  *f32") || true
	[ "$n" = 3 ] || fail "layer $l: $n lines (want 3: T = 1, 4, 32)
$bench"
done
echo "$bench" | grep -q "^total over 3 layers" || fail "no total line
$bench"
n=$(echo "$bench" | grep -c "^scalar  *f32  *\(1\|4\|32\)  *1  *[0-9.]*  *3$") || true
[ "$n" = 3 ] || fail "totals: $n lines over 3 layers (want 3)
$bench"
# decode passes: T = 1 and 4 (not 32), pass time, time per layer (a third of it), GB/s
passes=$(echo "$bench" | sed -n '/^decode passes/,$p')
n=$(echo "$passes" |
	grep -c "^scalar  *f32  *[14]  *1  *[0-9.]*  *[0-9.]*  *[0-9.]*  *\([0-9]*%\|bw?\|-\)\(  noisy\)\?$") ||
	true
[ "$n" = 2 ] || fail "decode passes: $n lines (want 2: T = 1, 4)
$bench"
! echo "$passes" | grep -q "^scalar  *f32  *32 " || fail "decode pass at T = 32 (limit 16)
$bench"
echo "$passes" | awk '/^scalar/ { if (!($5 > 0 && $6 > 0 && $7 > 0) || $5 < 2.9 * $6 || $5 > 3.1 * $6) bad = 1 }
	END { exit bad }' || fail "decode passes: not a positive pass of 3 layers
$bench"
rc=0
"$qkv" bench --preset tiny --all-layers >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--all-layers with --preset: exit $rc, want 2"
rc=0
"$qkv" bench "$out/gpt2.yaml" --all-layers --layer 1 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--all-layers with --layer: exit $rc, want 2"
rc=0
"$qkv" run "$out/gpt2.yaml" --layer x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--layer x: exit $rc, want 2"
echo "cli_layers: ok"
