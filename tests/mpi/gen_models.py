#!/usr/bin/env python3
"""Write the small models tests/mpi shards: safetensors weights (with biases) and configs.

    gen_models.py OUTDIR

For each shape (mha: 8 query and 8 K/V heads; gqa: 8 query and 2 K/V heads, so 4 ranks
replicate K/V heads), each layout (out_in, in_out) and each precision (f32; int8 with f32
weights quantized by the backend; int8 from pre-quantized I8 weights with per-column
scales) one config OUTDIR/<shape>-<layout>-<precision>.yaml. Values are a deterministic
function of the element index (no randomness, no numpy).
"""
import json
import os
import struct
import sys

SHAPES = {"mha": (64, 8, 8, 8), "gqa": (64, 8, 2, 8)}  # d_model, n_heads, n_kv_heads, head_dim


def val(t, i):
    x = (i * 2654435761 ^ (t * 40503 + 977)) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0x5BD1E995) & 0xFFFFFFFF
    x ^= x >> 15
    return ((x % 2001) - 1000) / 1000.0


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for shape, (dm, h, kv, hd) in SHAPES.items():
        d_out = [h * hd, kv * hd, kv * hd]
        for layout in ("out_in", "in_out"):
            for prec in ("f32", "int8", "i8"):
                tensors, names = [], "qkv"
                for p in range(3):
                    rows, cols = (d_out[p], dm) if layout == "out_in" else (dm, d_out[p])
                    vals = []
                    for r in range(rows):
                        for c in range(cols):
                            i, j = (c, r) if layout == "out_in" else (r, c)
                            vals.append(val(p, i * d_out[p] + j))
                    if prec == "i8":
                        data = struct.pack(f"<{len(vals)}b", *[round(v * 127) for v in vals])
                        tensors.append((names[p], "I8", [rows, cols], data))
                        sc = [0.001 * (1 + j % 7) for j in range(d_out[p])]
                        tensors.append((names[p] + "_scale", "F32", [d_out[p]],
                                        struct.pack(f"<{d_out[p]}f", *sc)))
                    else:
                        tensors.append((names[p], "F32", [rows, cols],
                                        struct.pack(f"<{len(vals)}f", *vals)))
                    b = [val(10 + p, j) for j in range(d_out[p])]
                    tensors.append((names[p] + "_bias", "F32", [d_out[p]],
                                    struct.pack(f"<{d_out[p]}f", *b)))
                tag = f"{shape}-{layout}-{prec}"
                write_safetensors(os.path.join(out, tag + ".safetensors"), tensors)
                lines = [
                    f"model: {{d_model: {dm}, n_heads: {h}, n_kv_heads: {kv}, head_dim: {hd}, "
                    f"precision: {'f32' if prec == 'f32' else 'int8'}}}",
                    "weights:",
                    f"  layout: {layout}",
                    f"  file: {tag}.safetensors",
                ]
                for p in names:
                    lines.append(f"  {p}: {{tensor: {p}}}")
                    lines.append(f"  {p}_bias: {{tensor: {p}_bias}}")
                    if prec == "i8":
                        lines.append(f"  {p}_scale: {{tensor: {p}_scale}}")
                with open(os.path.join(out, tag + ".yaml"), "w") as f:
                    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
