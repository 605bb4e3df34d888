#!/bin/sh
# `--shard R/W` on the qkv command (no MPI needed): qkv run writes the slice's Q, K, V and
# they are the whole model's columns of its heads, byte for byte; qkv info reports the
# slice; qkv bench measures the slice's shape; bad shards are refused naming the option.
#   cli_shard.sh QKV GEN_MODELS.PY OUTDIR
set -eu
qkv=$1 gen=$2 out=$3
python3 "$gen" "$out" >/dev/null
cfg=$out/gqa-in_out-f32.yaml # 8 query heads, 2 K/V heads
fail() {
	echo "FAIL: $*"
	exit 1
}
"$qkv" run "$cfg" --tokens 3 --threads 1 --backend scalar --out "$out/whole" >/dev/null
for s in 0/2 1/2 0/4 3/4 5/8; do
	d=$out/slice-$(echo "$s" | tr / -)
	"$qkv" run "$cfg" --tokens 3 --threads 1 --backend scalar --shard "$s" --out "$d" >/dev/null
	python3 - "$out/whole" "$d" "$s" <<'PY' || fail "qkv run --shard $s: not the whole model's columns"
import struct, sys
def npy(path):
    b = open(path, "rb").read()
    hl = struct.unpack("<H", b[8:10])[0]
    hdr = b[10:10 + hl].decode()
    shape = tuple(int(x) for x in hdr.split("(")[1].split(")")[0].split(",") if x.strip())
    return shape, b[10 + hl:]
whole, part, shard = sys.argv[1], sys.argv[2], sys.argv[3]
r, w = (int(x) for x in shard.split("/"))
H, KV, hd = 8, 2, 8
heads = {"q": (r * H // w, H // w)}
kv = (r * KV // w, KV // w) if w <= KV else (r // (w // KV), 1)
heads["k"] = heads["v"] = kv
for p in "qkv":
    (T, n), a = npy(f"{whole}/{p}.npy")
    (T2, m), b = npy(f"{part}/{p}.npy")
    h0, nh = heads[p]
    assert T2 == T and m == nh * hd, (p, T2, m)
    for t in range(T):
        row = a[4 * (t * n + h0 * hd):4 * (t * n + (h0 + nh) * hd)]
        assert row == b[4 * t * m:4 * (t + 1) * m], (p, t)
PY
done
info=$("$qkv" info "$cfg" --shard 3/4 --backend scalar)
echo "$info" | grep -q "shard 3/4: query heads 6-7 of 8, kv heads 1-1 of 2 (replicated)" ||
	fail "qkv info --shard 3/4 does not report the slice: $info"
echo "$info" | grep -q "weights: .* (this slice only)" || fail "qkv info: no weight bytes: $info"
for bad in 0/3 2/2 1 x/2 0/0; do
	if msg=$("$qkv" run "$cfg" --shard "$bad" 2>&1); then
		fail "qkv run --shard $bad was accepted"
	fi
	echo "$msg" | grep -q "shard" || fail "qkv run --shard $bad: message names no shard: $msg"
done
msg=$("$qkv" run "$cfg" --shard 0/3 2>&1 || true)
echo "$msg" | grep -q 'shard_world.*world 3 does not divide n_heads 8' || fail "qkv run --shard 0/3: $msg"
msg=$("$qkv" bench "$cfg" --shard 0/3 --tokens 1 2>&1 || true)
echo "$msg" | grep -q 'world 3 does not divide n_heads' || fail "qkv bench --shard 0/3: $msg"
msg=$("$qkv" bench "$cfg" --shard 1/2 --tokens 1 --threads 1 --backend scalar --no-reference \
	--min-time 0.001 --quiet 2>&1) || fail "qkv bench --shard 1/2: $msg"
echo "$msg" | grep -q "shard 1/2  d_model=64 heads=4 kv_heads=1" || fail "qkv bench --shard 1/2: $msg"
echo "ok: qkv run/info/bench --shard"
