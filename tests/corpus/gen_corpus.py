#!/usr/bin/env python3
"""Write the bad-input corpus (tests/corpus/*/...) and its manifest cases.txt.

Run from anywhere: python3 tests/corpus/gen_corpus.py. The outputs are committed, so the
test suite never needs Python; rerun this after editing a case. Standard library only.

Manifest line:  SURFACE  PATH  STATUS  SUBSTRING  [ARGS...]
  SURFACE    config | machine | npy | safetensors | raw | model
  STATUS     OK, CONFIG, FORMAT, IO, ... ; alternatives with '|' (FORMAT|UNSUPPORTED)
  SUBSTRING  case-insensitive text the message must contain; alternatives with '|';
             '-' for none. The runner also requires the file's name in every message.
  ARGS       raw: DTYPE COUNT ; safetensors: optional tensor name to look up
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
cases = []


def put(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


def case(surface, rel, data, status, sub="-", *args):
    if data is not None:
        put(rel, data)
    cases.append((surface, rel, status, sub) + tuple(str(a) for a in args))


# ---- valid weights shared by the config and model cases ------------------------------
# d_model 4, n_heads 2, n_kv_heads 1, head_dim 2: d_q 4, d_kv 2; in_out layout.
def npy(descr, shape, payload, version=1, fortran=False, header=None):
    if header is None:
        header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
            descr, "True" if fortran else "False", shape)
    hb = header.encode("latin1" if version < 3 else "utf8")
    lenfmt = "<H" if version == 1 else "<I"
    pre = 6 + 2 + struct.calcsize(lenfmt)
    pad = (64 - (pre + len(hb) + 1) % 64) % 64
    hb = hb + b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(hb)) + hb + payload


def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)


put("data/wq.npy", npy("<f4", "(4, 4)", f32([0.25 * i for i in range(16)])))
put("data/wk.npy", npy("<f4", "(4, 2)", f32([0.5 - 0.125 * i for i in range(8)])))
put("data/wv.npy", npy("<f4", "(4, 2)", f32([1.0 + i for i in range(8)])))
put("data/wk.bin", f32([0.5 - 0.125 * i for i in range(8)]))
put("data/wv.bin", f32([1.0 + i for i in range(8)]))

GOOD_MODEL = """model:
  d_model: 4
  n_heads: 2
  n_kv_heads: 1
  head_dim: 2
  precision: f32
"""
GOOD_WEIGHTS = """weights:
  layout: in_out
  q: {file: ../data/wq.npy}
  k: {file: ../data/wk.npy}
  v: {file: ../data/wv.npy}
"""
GOOD = GOOD_MODEL + GOOD_WEIGHTS


def cfg(name, text, status="CONFIG", sub="-"):
    case("config", "config/" + name, text, status, sub)


cfg("ok.yaml", GOOD, "OK")
cfg("empty.yaml", "", sub="empty|model")
cfg("comments_only.yaml", "# nothing here\n", sub="empty|model")
cfg("two_documents.yaml", "---\n" + GOOD + "---\n" + GOOD, sub="document")
cfg("invalid_utf8.yaml", GOOD.encode() + b"# \xff\xfe bad bytes\n", sub="utf-8|utf8")
cfg("control_byte.yaml", GOOD.replace("precision: f32", "precision: f\x0132"), sub="control")
cfg("nul_byte.yaml", GOOD.encode().replace(b"f32", b"f\x0032"), sub="control|nul|invalid")
bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
for i in range(1, 9):
    prev = chr(ord("a") + i - 1)
    cur = chr(ord("a") + i)
    bomb += "%s: &%s [%s]\n" % (cur, cur, ", ".join(["*" + prev] * 9))
cfg("alias_bomb.yaml", bomb, sub="alias|anchor")
cfg("self_alias.yaml", "model: &a [*a]\n", sub="alias|anchor")
cfg("anchor_value.yaml", GOOD.replace("d_model: 4", "d_model: &four 4")
    .replace("n_heads: 2", "n_heads: *four"), sub="alias|anchor")
cfg("merge_key.yaml", "base: &b {d_model: 4}\nmodel:\n  <<: *b\n", sub="alias|anchor")
cfg("deep_flow.yaml", "model: " + "[" * 100 + "]" * 100 + "\n", sub="depth|deep|nest")
cfg("dup_key.yaml", GOOD.replace("d_model: 4\n", "d_model: 4\n  d_model: 4\n"),
    sub="duplicate")
cfg("dup_section.yaml", GOOD_MODEL + GOOD_MODEL + GOOD_WEIGHTS, sub="duplicate")
cfg("unknown_key.yaml", GOOD.replace("head_dim: 2", "head_dim: 2\n  d_modle: 4"),
    sub="d_modle")
cfg("unknown_section.yaml", GOOD + "modle:\n  d_model: 4\n", sub="modle")
cfg("misspelled_layout_key.yaml", GOOD.replace("layout:", "layuot:"), sub="layuot")
for name, val in [("string", '"4"'), ("negative", "-4"), ("zero", "0"), ("fraction", "4.5"),
                  ("hex", "0x4"), ("octal", "0o4"), ("huge", "99999999999999999999999999"),
                  ("2pow32", "4294967296"), ("exponent", "4e0"), ("bool", "true"),
                  ("null", "~"), ("empty", "''"), ("list", "[4]"), ("map", "{a: 4}"),
                  ("plus", "+4"), ("space", "'4 '"), ("inf", ".inf")]:
    cfg("number_%s.yaml" % name, GOOD.replace("d_model: 4", "d_model: " + val), sub="d_model")
cfg("tag_str.yaml", GOOD.replace("d_model: 4", "d_model: !!str 4"), sub="tag|d_model")
cfg("tag_custom.yaml", GOOD.replace("precision: f32", "precision: !weird f32"),
    sub="tag|precision")
cfg("precision_bad.yaml", GOOD.replace("precision: f32", "precision: f64"), sub="precision")
cfg("layout_bad.yaml", GOOD.replace("layout: in_out", "layout: rows"), sub="layout")
cfg("heads_not_dividing.yaml", GOOD.replace("n_heads: 2", "n_heads: 3")
    .replace("n_kv_heads: 1", "n_kv_heads: 3").replace("  head_dim: 2\n", ""),
    sub="n_heads|head_dim")
cfg("kv_heads_not_dividing.yaml", GOOD.replace("n_kv_heads: 1", "n_kv_heads: 3"),
    sub="n_kv_heads")
cfg("kv_heads_more.yaml", GOOD.replace("n_kv_heads: 1", "n_kv_heads: 4"), sub="n_kv_heads")
cfg("dims_overflow.yaml", GOOD.replace("d_model: 4", "d_model: 4000000000")
    .replace("head_dim: 2", "head_dim: 4000000000"), sub="d_model|head_dim|overflow|large")
cfg("missing_model.yaml", GOOD_WEIGHTS, sub="model")
cfg("missing_d_model.yaml", GOOD.replace("  d_model: 4\n", ""), sub="d_model")
cfg("missing_q.yaml", GOOD.replace("  q: {file: ../data/wq.npy}\n", ""), sub="weights.q|`q`")
cfg("model_is_list.yaml", "model: [1, 2]\n" + GOOD_WEIGHTS, sub="model")
cfg("root_scalar.yaml", "hello\n", sub="-")
cfg("root_list.yaml", "- model\n- weights\n", sub="-")
cfg("tensor_ref_scalar.yaml", GOOD.replace("q: {file: ../data/wq.npy}", "q: 5"), sub="q")
cfg("tensor_ref_unknown.yaml", GOOD.replace("q: {file: ../data/wq.npy}",
                                            "q: {file: ../data/wq.npy, tensr: a}"), sub="tensr")
cfg("raw_without_dtype.yaml", GOOD.replace("../data/wq.npy", "../data/wq.bin")
    .replace("weights:\n", "weights:\n  format: raw\n"), sub="dtype")
cfg("dtype_bad.yaml", GOOD.replace("q: {file: ../data/wq.npy}",
                                   "q: {file: ../data/wq.npy, dtype: f128}"), sub="dtype")
cfg("unterminated_flow.yaml", GOOD.replace("{file: ../data/wq.npy}", "{file: ../data/wq.npy"))
cfg("tab_indent.yaml", GOOD.replace("  d_model", "\td_model"))
cfg("bad_backend_name.yaml", GOOD + "backend:\n  prefer: [BLAS!]\n", sub="prefer|name")
cfg("long_backend_name.yaml", GOOD + "backend:\n  prefer: [%s]\n" % ("a" * 40),
    sub="prefer|name")
cfg("too_many_prefer.yaml", GOOD + "backend:\n  prefer: [%s]\n" % ", ".join(["scalar"] * 65),
    sub="prefer")
cfg("threads_negative.yaml", GOOD + "backend:\n  threads: -2\n", sub="threads")
cfg("strict_not_bool.yaml", GOOD + "backend:\n  strict: maybe\n", sub="strict")
# shard: GOOD has 2 query heads and 1 K/V head
cfg("shard_world_not_dividing.yaml", GOOD + "shard: {rank: 0, world: 3}\n", sub="shard.world")
cfg("shard_rank_not_below.yaml", GOOD + "shard: {rank: 2, world: 2}\n", sub="shard.rank")
cfg("shard_world_zero.yaml", GOOD + "shard: {rank: 0, world: 0}\n", sub="shard.world")
cfg("shard_missing_world.yaml", GOOD + "shard: {rank: 0}\n", sub="shard.world")
cfg("shard_scalar.yaml", GOOD + "shard: 2\n", sub="shard")
cfg("shard_unknown_key.yaml", GOOD + "shard: {rank: 0, world: 2, size: 2}\n", sub="size")
cfg("shard_ok.yaml", GOOD + "shard: {rank: 1, world: 2}\n", "OK")
cfg("plugin_dirs_scalar.yaml", GOOD + "backend:\n  plugin_dirs: here\n", sub="plugin_dirs")
cfg("long_key.yaml", GOOD + "x" * 5000 + ": 1\n", sub="-")

# ---- machine profiles --------------------------------------------------------------
case("machine", "machine/ok.yaml", "backend:\n  prefer: [scalar]\n  threads: 1\n", "OK")
case("machine", "machine/has_model.yaml", GOOD_MODEL + "backend:\n  threads: 1\n", "CONFIG",
     "model")
case("machine", "machine/bad_threads.yaml", "backend:\n  threads: lots\n", "CONFIG", "threads")
case("machine", "machine/empty.yaml", "", "CONFIG", "empty|backend")
case("machine", "machine/alias.yaml", "backend: &b\n  threads: 1\nx: *b\n", "CONFIG",
     "alias|anchor")

# ---- .npy ----------------------------------------------------------------------------
P16 = f32([1.0] * 16)


def np_case(name, data, status="FORMAT", sub="-"):
    case("npy", "npy/" + name, data, status, sub)


np_case("ok_v1.npy", npy("<f4", "(4, 4)", P16), "OK")
np_case("ok_v2.npy", npy("<f4", "(4, 4)", P16, version=2), "OK")
np_case("ok_v3.npy", npy("<f4", "(4, 4)", P16, version=3), "OK")
np_case("ok_f2.npy", npy("<f2", "(4,)", b"\x00\x3c" * 4), "OK")
np_case("ok_1d.npy", npy("<f4", "(16,)", P16), "OK")
np_case("empty.npy", b"", sub="short|small|empty|magic|truncated")
np_case("short_magic.npy", b"\x93NUM", sub="short|small|magic|truncated")
np_case("bad_magic.npy", b"\x93NUMPX" + npy("<f4", "(4, 4)", P16)[6:], sub="magic")
np_case("version0.npy", npy("<f4", "(4, 4)", P16)[:6] + b"\x00\x00" +
        npy("<f4", "(4, 4)", P16)[8:], sub="version")
np_case("version4.npy", npy("<f4", "(4, 4)", P16, version=2)[:6] + b"\x04\x00" +
        npy("<f4", "(4, 4)", P16, version=2)[8:], sub="version")
good = npy("<f4", "(4, 4)", P16)
np_case("header_len_past_eof.npy", good[:8] + struct.pack("<H", 60000) + good[10:],
        sub="header")
g2 = npy("<f4", "(4, 4)", P16, version=2)
np_case("header_len_huge_v2.npy", g2[:8] + struct.pack("<I", 0xFFFFFFF0) + g2[12:],
        sub="header")
long_hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), 'pad': '%s'}" % (
    "x" * 70000)
np_case("header_too_long.npy", npy("<f4", "", P16, version=2, header=long_hdr),
        sub="header")
np_case("header_not_dict.npy", npy("<f4", "", P16, header="[1, 2, 3]"), sub="header|dict|{")
np_case("header_no_newline.npy", good[:10] + good[10:10 + struct.unpack("<H", good[8:10])[0] - 1]
        + b" " + P16, "OK|FORMAT")
np_case("header_unterminated.npy", npy("<f4", "", P16,
        header="{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4"), sub="header|shape")
np_case("missing_shape.npy", npy("<f4", "", P16,
        header="{'descr': '<f4', 'fortran_order': False, }"), sub="shape")
np_case("missing_descr.npy", npy("<f4", "", P16,
        header="{'fortran_order': False, 'shape': (4, 4), }"), sub="descr")
# well-formed dtypes qkv does not read: UNSUPPORTED, naming the dtype (not a broken file)
np_case("pickle_dtype.npy", npy("|O", "(4, 4)", P16), "UNSUPPORTED", sub="pickle")
np_case("big_endian.npy", npy(">f4", "(4, 4)", P16), "UNSUPPORTED", sub="endian")
np_case("f8_dtype.npy", npy("<f8", "(2, 4)", P16), "UNSUPPORTED", sub="'<f8' (float64)")
np_case("i4_dtype.npy", npy("<i4", "(4, 4)", P16), "UNSUPPORTED", sub="'<i4' (int32)")
np_case("unicode_dtype.npy", npy("<U4", "(4,)", P16), "UNSUPPORTED", sub="'<U4'")
np_case("struct_dtype.npy", npy("", "", P16,
        header="{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (16,), }"),
        sub="descr|dtype")
np_case("fortran_order.npy", npy("<f4", "(4, 4)", P16, fortran=True), sub="fortran")
np_case("fortran_bad_value.npy", npy("<f4", "", P16,
        header="{'descr': '<f4', 'fortran_order': 0, 'shape': (4, 4), }"), sub="fortran")
np_case("negative_shape.npy", npy("<f4", "(-1, 4)", P16), sub="shape")
np_case("overflow_shape.npy", npy("<f4", "(4611686018427387904, 4611686018427387904)", P16),
        sub="shape|overflow|large")
np_case("overflow_bytes.npy", npy("<f4", "(4611686018427387904, 2)", P16),
        sub="shape|overflow|large|size|short")
np_case("huge_digit_shape.npy", npy("<f4", "(99999999999999999999999999999, 1)", P16),
        sub="shape|overflow|large")
np_case("3d_shape.npy", npy("<f4", "(2, 2, 4)", P16), sub="shape|dim")
np_case("float_shape.npy", npy("<f4", "(4.0, 4)", P16), sub="shape")
np_case("short_data.npy", npy("<f4", "(4, 4)", P16[:-1]), sub="short|size|bytes|63|64")
np_case("no_data.npy", npy("<f4", "(4, 4)", b""), sub="short|size|bytes|0|64")

# ---- safetensors -------------------------------------------------------------------------


def st(header, data, raw_header=None):
    hb = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(hb)) + hb + data


D64 = f32([1.0] * 16)
T44 = {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}


def st_case(name, data, status="FORMAT", sub="-", *args):
    case("safetensors", "safetensors/" + name, data, status, sub, *args)


st_case("ok.safetensors", st({"a": T44}, D64), "OK", "-", "a")
st_case("ok_metadata.safetensors", st({"__metadata__": {"format": "pt"}, "a": T44}, D64), "OK",
        "-", "a")
st_case("ok_padded.safetensors", st(None, D64, json.dumps({"a": T44}).encode() + b"   "), "OK",
        "-", "a")
st_case("ok_empty_header.safetensors", st({}, b""), "OK")
st_case("missing_tensor.safetensors", st({"a": T44}, D64), "FORMAT", "b", "b")
st_case("empty.safetensors", b"", sub="short|small|8|empty|truncated")
st_case("under_8_bytes.safetensors", b"\x02\x00\x00", sub="short|small|8|truncated")
st_case("header_len_huge.safetensors", struct.pack("<Q", 1 << 62) + b"{}",
        sub="header|large|size")
st_case("header_len_wraps.safetensors", struct.pack("<Q", (1 << 64) - 4) + b"{}",
        sub="header|large|size|overflow")
st_case("header_len_past_eof.safetensors", struct.pack("<Q", 100) + b"{}",
        sub="header|size|past|end")
st_case("header_len_zero.safetensors", struct.pack("<Q", 0), sub="header|empty|{")
st_case("not_object.safetensors", st(None, b"", b"[1, 2]"), sub="{|object")
st_case("not_json.safetensors", st(None, b"", b"{\"a\": "), sub="json|header|expected|end")
st_case("invalid_utf8.safetensors", st(None, D64,
        b'{"\xff\xfe": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}'),
        sub="utf-8|utf8")
st_case("duplicate_names.safetensors", st(None, D64 + D64,
        b'{"a": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]},'
        b' "a": {"dtype": "F32", "shape": [4, 4], "data_offsets": [64, 128]}}'), sub="duplicate")
st_case("offsets_gap.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [0, 64]}, "b": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [80, 144]}}, D64 + D64 + b"\0" * 16), sub="gap|offset|contiguous|hole")
st_case("offsets_overlap.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [0, 64]}, "b": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [32, 96]}}, D64 + D64), sub="overlap|offset")
st_case("end_before_begin.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [64, 0]}}, D64), sub="offset|end|begin")
st_case("past_eof.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [0, 64]}}, D64[:60]), sub="offset|end|past|size|short")
st_case("trailing_bytes.safetensors", st({"a": T44}, D64 + b"\0" * 8),
        sub="trailing|offset|size|end")
st_case("offset_float.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [0.0, 64.5]}}, D64), sub="offset|integer")
st_case("offset_negative.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [-64, 0]}}, D64), sub="offset|negative|integer")
st_case("offset_three.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [0, 32, 64]}}, D64), sub="offset")
st_case("offset_huge.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4],
        "data_offsets": [18446744073709551600, 18446744073709551664]}}, D64),
        sub="offset|large|overflow|range")
st_case("shape_overflow.safetensors", st({"a": {"dtype": "F32",
        "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 64]}}, D64),
        sub="shape|overflow|large")
st_case("shape_negative.safetensors", st({"a": {"dtype": "F32", "shape": [-4, -4],
        "data_offsets": [0, 64]}}, D64), sub="shape|negative|integer")
st_case("shape_not_list.safetensors", st({"a": {"dtype": "F32", "shape": 16,
        "data_offsets": [0, 64]}}, D64), sub="shape")
st_case("shape_too_many_dims.safetensors", st({"a": {"dtype": "F32", "shape": [1] * 30 + [16],
        "data_offsets": [0, 64]}}, D64), sub="shape|dim")
st_case("bytes_mismatch.safetensors", st({"a": {"dtype": "F32", "shape": [4, 3],
        "data_offsets": [0, 64]}}, D64), sub="48|64|size|bytes|length")
st_case("zero_dim.safetensors", st({"a": {"dtype": "F32", "shape": [0, 4],
        "data_offsets": [0, 0]}}, b""), "OK|FORMAT")
st_case("zero_dim_nonempty.safetensors", st({"a": {"dtype": "F32", "shape": [0, 4],
        "data_offsets": [0, 64]}}, D64), sub="0|size|bytes|length")
st_case("dtype_unknown.safetensors", st({"a": {"dtype": "Q4_K", "shape": [4, 4],
        "data_offsets": [0, 64]}}, D64), "FORMAT|UNSUPPORTED", "dtype|Q4_K")
st_case("dtype_f64.safetensors", st({"a": {"dtype": "F64", "shape": [2, 4],
        "data_offsets": [0, 64]}}, D64), "FORMAT|UNSUPPORTED", "dtype|F64")
st_case("dtype_not_string.safetensors", st({"a": {"dtype": 7, "shape": [4, 4],
        "data_offsets": [0, 64]}}, D64), sub="dtype")
st_case("missing_dtype.safetensors", st({"a": {"shape": [4, 4], "data_offsets": [0, 64]}}, D64),
        sub="dtype")
st_case("missing_offsets.safetensors", st({"a": {"dtype": "F32", "shape": [4, 4]}}, D64),
        sub="offset")
st_case("entry_not_object.safetensors", st({"a": [1, 2]}, D64), sub="a|{|object")
st_case("metadata_not_strings.safetensors", st({"__metadata__": {"x": 1}, "a": T44}, D64),
        "OK|FORMAT", "-", "a")
st_case("deep_json.safetensors", st(None, b"", b'{"__metadata__": ' + b"[" * 20000 +
        b"]" * 20000 + b"}"), sub="depth|deep|nest|metadata|expected")
st_case("nul_in_name.safetensors", st(None, D64,
        b'{"a\\u0000b": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}'),
        "OK|FORMAT", "-")

# ---- raw ----------------------------------------------------------------------------------
case("raw", "raw/ok.bin", f32([1.0] * 16), "OK", "-", "f32", 16)
case("raw", "raw/one_short.bin", f32([1.0] * 16)[:-1], "FORMAT", "63|64", "f32", 16)
case("raw", "raw/one_long.bin", f32([1.0] * 16) + b"\0", "FORMAT", "65|64", "f32", 16)
case("raw", "raw/empty.bin", b"", "FORMAT|IO", "0|empty", "f32", 16)
case("raw", "raw/count_overflow.bin", f32([1.0] * 16), "FORMAT", "overflow|large|size|64",
     "f32", 4611686018427387904)
case("raw", "raw/f16_odd.bin", b"\0" * 7, "FORMAT", "7|8", "f16", 4)

# ---- GGUF (llama.cpp) ------------------------------------------------------------------
# Surface gguf: qkv_gguf_open, then qkv_gguf_find(ARG) when a tensor name is given.
# Model: arch llama, d_model 4, 2 heads, 1 KV head (head_dim 2), 2 blocks; ggml dims
# innermost first, so blk.N.attn_q.weight ne = [4, 4] and attn_k/attn_v ne = [4, 2].
def gstr(v):
    b = v.encode() if isinstance(v, str) else v
    return struct.pack("<Q", len(b)) + b


def gkv_u32(key, val, vtype=4):
    return gstr(key) + struct.pack("<I", vtype) + (struct.pack("<Q", val) if vtype == 10
                                                   else struct.pack("<I", val))


def gkv_str(key, val):
    return gstr(key) + struct.pack("<I", 8) + gstr(val)


def gtensor(name, ne, gtype, off):
    return (gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
            + struct.pack("<IQ", gtype, off))


def gguf(kvs, tensors, data, version=3, align=32, n_t=None, n_kv=None, magic=b"GGUF",
         pad=True):
    hdr = magic + struct.pack("<IQQ", version, len(tensors) if n_t is None else n_t,
                              len(kvs) if n_kv is None else n_kv)
    hdr += b"".join(kvs) + b"".join(tensors)
    return hdr + (b"\0" * ((-len(hdr)) % align) if pad else b"") + data


G_KV = [gkv_str("general.architecture", "llama"), gkv_u32("llama.embedding_length", 4),
        gkv_u32("llama.attention.head_count", 2), gkv_u32("llama.attention.head_count_kv", 1),
        gkv_u32("llama.block_count", 2)]


def g_layers(n=2):
    ts, data = [], b""
    for layer in range(n):
        for name, rows in (("q", 4), ("k", 2), ("v", 2)):
            ts.append(gtensor("blk.%d.attn_%s.weight" % (layer, name), [4, rows], 0,
                              len(data)))
            data += f32([0.125 * (i + 1 + 16 * layer) for i in range(4 * rows)])
            data += b"\0" * ((-len(data)) % 32)
    return ts, data


G_T, G_D = g_layers()
G_OK = gguf(G_KV, G_T, G_D)
Q = "blk.0.attn_q.weight"


def g_case(name, data, status="FORMAT", sub="-", *args):
    case("gguf", "gguf/" + name, data, status, sub, *args)


def one(ne, gtype=0, off=0, nbytes=64, kvs=None, name=Q):
    return gguf(G_KV if kvs is None else kvs, [gtensor(name, ne, gtype, off)], b"\0" * nbytes)


g_case("ok.gguf", G_OK, "OK", "-", Q)
g_case("ok_v2.gguf", gguf(G_KV, G_T, G_D, version=2), "OK", "-", "blk.1.attn_v.weight")
g_case("ok_no_tensors.gguf", gguf(G_KV, [], b""), "OK")
g_case("ok_align_64.gguf", gguf(G_KV + [gkv_u32("general.alignment", 64)],
                                [gtensor(Q, [4, 4], 0, 0)], f32([1.0] * 16), align=64), "OK",
       "-", Q)
g_case("ok_mixed_quant.gguf", gguf(G_KV, [gtensor(Q, [4, 4], 0, 0),
                                          gtensor("token_embd.weight", [32, 2], 8, 64)],
                                   f32([1.0] * 16) + b"\0" * 68), "OK", "-", Q)
g_case("missing_tensor.gguf", G_OK, "FORMAT", "no tensor named", "blk.7.attn_q.weight")
# llama.cpp's fused attn_qkv (phi3, falcon, gpt2, bloom): ggml [d_model, N], rows q|k|v.
g_case("ok_fused_qkv.gguf", gguf(G_KV, [gtensor("blk.0.attn_qkv.weight", [4, 8], 0, 0),
                                        gtensor("blk.0.attn_qkv.bias", [8], 0, 128)],
                                 f32([0.125 * i for i in range(32)]) + b"\0" * 0
                                 + f32([1.0] * 8)), "OK", "-", "blk.0.attn_qkv.weight")
g_case("empty.gguf", b"", sub="not a gguf|GGUF")
g_case("bad_magic.gguf", b"GGML" + G_OK[4:], sub="not a gguf")
g_case("version_1.gguf", gguf(G_KV, G_T, G_D, version=1), sub="version 1")
g_case("version_big_endian.gguf", gguf(G_KV, G_T, G_D, version=3 << 24), sub="big-endian")
g_case("truncated_counts.gguf", G_OK[:12], sub="truncated")
g_case("truncated_mid_key.gguf", G_OK[:40], sub="truncated|past the end")
g_case("tensor_count_huge.gguf", gguf(G_KV, G_T, G_D, n_t=1 << 62), sub="tensor count")
g_case("kv_count_huge.gguf", gguf(G_KV, G_T, G_D, n_kv=(1 << 64) - 1), sub="key/value count")
g_case("key_length_huge.gguf", gguf([struct.pack("<Q", 1 << 63) + b"x" * 16], [], b""),
       sub="length")
g_case("string_value_past_eof.gguf",
       gguf([gstr("general.name") + struct.pack("<IQ", 8, 1 << 20) + b"abc"], [], b"",
            pad=False), sub="past the end")
g_case("value_type_unknown.gguf", gguf([gstr("a.b") + struct.pack("<II", 13, 0)], [], b""),
       sub="type 13")
g_case("array_of_arrays.gguf", gguf([gstr("a.b") + struct.pack("<IIQ", 9, 9, 1)], [], b""),
       sub="arrays of arrays")
g_case("array_count_huge.gguf",
       gguf([gstr("a.b") + struct.pack("<IIQ", 9, 6, 1 << 61)], [], b""), sub="array of")
g_case("duplicate_key.gguf", gguf(G_KV + [gkv_u32("llama.block_count", 3)], G_T, G_D),
       sub="appears twice")
g_case("key_empty.gguf", gguf([gkv_u32("", 1)], [], b""), sub="empty")
g_case("key_nul.gguf", gguf([gkv_u32("a\0b", 1)], [], b""), sub="nul")
g_case("alignment_not_pow2.gguf", gguf(G_KV + [gkv_u32("general.alignment", 48)], [], b""),
       sub="power of two")
g_case("alignment_zero.gguf", gguf(G_KV + [gkv_u32("general.alignment", 0)], [], b""),
       sub="power of two")
g_case("alignment_u64.gguf", gguf(G_KV + [gkv_u32("general.alignment", 32, 10)], [], b""),
       sub="uint32")
g_case("architecture_twice.gguf", gguf(G_KV + [gkv_str("general.architecture", "qwen2")], [],
                                      b""), sub="appears twice")
g_case("architecture_not_string.gguf", gguf([gkv_u32("general.architecture", 7)], [], b""),
       sub="string")
g_case("dims_metadata_zero.gguf", gguf([G_KV[0], gkv_u32("llama.embedding_length", 0)], [],
                                       b""), sub="embedding_length")
# Published 2025-2026 GGUF parser advisories: zero dimensions, element-count overflow,
# padded-size wrap of offset + size, tensor data past the end of the file.
g_case("zero_dimension.gguf", one([4, 0]), sub="dimension 1 is 0")
g_case("n_dims_zero.gguf", one([]), sub="dimensions")
g_case("n_dims_five.gguf", one([1, 1, 1, 1, 16]), sub="dimensions")
g_case("element_count_overflow.gguf", one([1 << 32, 1 << 32]), sub="element count overflows")
g_case("element_count_wraps_to_small.gguf", one([1 << 33, 1 << 31, 2]),
       sub="element count overflows")
g_case("byte_size_overflow.gguf", one([1 << 62]), sub="byte size")
g_case("padded_size_wraps.gguf", one([16], off=(1 << 64) - 32), sub="overflows 64 bits")
g_case("offset_misaligned.gguf", one([4, 4], off=4, nbytes=96), sub="multiple of the alignment")
g_case("offset_past_end.gguf", one([4, 4], off=64), sub="past the end of the data")
g_case("size_past_end.gguf", one([4, 8]), sub="past the end of the data")
g_case("tensors_overlap.gguf", gguf(G_KV, [gtensor(Q, [4, 4], 0, 0),
                                           gtensor("blk.0.attn_k.weight", [4, 2], 0, 32)],
                                    b"\0" * 96), sub="overlap")
g_case("duplicate_tensor.gguf", gguf(G_KV, [gtensor(Q, [4, 4], 0, 0), gtensor(Q, [4, 4], 0, 64)],
                                     b"\0" * 128), sub="appears twice")
g_case("tensor_name_empty.gguf", one([4, 4], name=""), sub="empty")
g_case("type_unknown.gguf", one([4, 4], gtype=31), sub="unknown ggml type 31")
g_case("type_huge.gguf", one([4, 4], gtype=0xFFFFFFFF), sub="unknown ggml type")
g_case("quant_block_misfit.gguf", one([30, 1], gtype=8), sub="block size")
# Block types of <qkv/wtype.h> load (in place); other ggml types are refused by name, and
# hostile block tensors (truncated, K not whole blocks, sizes that wrap) by the table check.
g_case("q8_0_ok.gguf", one([32, 2], gtype=8, nbytes=68), "OK", "-", Q)
g_case("q4_k_ok.gguf", one([256, 1], gtype=12, nbytes=144), "OK", "-", Q)
g_case("q6_k_ok.gguf", one([256, 2], gtype=14, nbytes=420), "OK", "-", Q)
g_case("q4_1_refused.gguf", one([32, 2], gtype=3, nbytes=40), "FORMAT", "Q4_1", Q)
g_case("iq2_xs_refused.gguf", one([256, 1], gtype=17, nbytes=74), "FORMAT", "IQ2_XS", Q)
g_case("q4_k_truncated.gguf", one([256, 2], gtype=12, nbytes=200), sub="past the end of the data")
g_case("q4_k_k_not_blocks.gguf", one([320, 1], gtype=12, nbytes=144), sub="block size")
g_case("q6_k_size_wraps.gguf", one([1 << 58, 1 << 5], gtype=14), sub="overflow")
g_case("q8_0_rows_wrap.gguf", one([32, (1 << 63) // 17], gtype=8), sub="overflow")
g_case("f64_refused.gguf", one([4, 2], gtype=28), "FORMAT", "F64", Q)
g_case("data_start_past_eof.gguf", gguf(G_KV, [gtensor(Q, [1], 0, 0)], b"", pad=False),
       sub="ends")

# ---- model.safetensors.index.json --------------------------------------------------------
# Surface index: qkv_st_index_open, then qkv_st_index_lookup(ARG) when given.
IX_MAP = {"blk.q": "model-00001-of-00002.safetensors",
          "blk.k": "model-00001-of-00002.safetensors",
          "blk.v": "model-00002-of-00002.safetensors"}
IX_OK = json.dumps({"metadata": {"total_size": 128, "format": "pt"}, "weight_map": IX_MAP})


def ix_case(name, data, status="FORMAT", sub="-", *args):
    case("index", "index/" + name, data, status, sub, *args)


ix_case("ok.index.json", IX_OK, "OK", "-", "blk.v")
ix_case("ok_no_metadata.index.json", json.dumps({"weight_map": IX_MAP}), "OK", "-", "blk.q")
ix_case("missing_tensor.index.json", IX_OK, "FORMAT", "no tensor named", "blk.o")
ix_case("empty.index.json", "", sub="index json")
ix_case("not_object.index.json", "[1]", sub="index json")
ix_case("not_json.index.json", '{"weight_map": {"a": ', sub="index json")
ix_case("trailing.index.json", IX_OK + " {}", sub="trailing")
ix_case("invalid_utf8.index.json", b'{"weight_map": {"\xff": "a.safetensors"}}', sub="utf-8")
ix_case("unknown_key.index.json", json.dumps({"weight_map": IX_MAP, "extra": "x"}),
        sub="unknown key")
ix_case("duplicate_key.index.json", '{"weight_map": {}, "weight_map": {}}', sub="duplicate")
ix_case("missing_weight_map.index.json", json.dumps({"metadata": {}}), sub="missing")
ix_case("duplicate_tensor.index.json",
        '{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}', sub="listed twice")
ix_case("shard_escapes.index.json", json.dumps({"weight_map": {"a": "../x.safetensors"}}),
        sub="plain file name")
ix_case("shard_absolute.index.json", json.dumps({"weight_map": {"a": "/etc/x.safetensors"}}),
        sub="plain file name")
ix_case("shard_not_safetensors.index.json", json.dumps({"weight_map": {"a": "x.bin"}}),
        sub="plain file name")
ix_case("shard_not_string.index.json", '{"weight_map": {"a": 5}}', sub="index json")
ix_case("tensor_name_empty.index.json", json.dumps({"weight_map": {"": "x.safetensors"}}),
        sub="empty tensor name")
ix_case("metadata_nested.index.json", '{"metadata": {"a": {"b": 1}}, "weight_map": {}}',
        sub="index json")
ix_case("metadata_fraction.index.json", '{"metadata": {"total_size": 1.5}, "weight_map": {}}',
        sub="fraction")
ix_case("metadata_negative.index.json", '{"metadata": {"total_size": -1}, "weight_map": {}}',
        sub="negative")
ix_case("weight_map_list.index.json", '{"weight_map": ["a"]}', sub="index json")

# The shards behind index/ok.index.json, for the model cases below: 4x4 q and 4x2 k in
# shard 1, 4x2 v in shard 2 (out_in: q [4 x 4], k and v [2 x 4]).
T24 = {"dtype": "F32", "shape": [2, 4], "data_offsets": [64, 96]}
put("index/model-00001-of-00002.safetensors", st({"blk.q": T44, "blk.k": T24},
                                                  D64 + f32([0.5] * 8)))
put("index/model-00002-of-00002.safetensors",
    st({"blk.v": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}}, f32([2.0] * 8)))
# A fused out_in q|k|v [8 x 4] (N = 4 + 2 + 2) and its bias [8], for the fused model cases.
put("safetensors/fused_qkv.safetensors",
    st({"qkv.weight": {"dtype": "F32", "shape": [8, 4], "data_offsets": [0, 128]},
        "qkv.bias": {"dtype": "F32", "shape": [8], "data_offsets": [128, 160]}},
       f32([0.25 * i for i in range(32)]) + f32([1.0] * 8)))

# ---- end to end (qkv_model_open) --------------------------------------------------------
case("model", "config/ok.yaml", None, "OK")
MODEL_BAD = [
    ("missing_file.yaml", GOOD.replace("../data/wq.npy", "../data/nope.npy"), "IO",
     "nope.npy"),
    ("weight_wrong_shape.yaml", GOOD.replace("../data/wq.npy", "../data/wk.npy"), "FORMAT",
     "wk.npy"),
    ("weight_out_in_mismatch.yaml", GOOD.replace("layout: in_out", "layout: out_in"),
     "FORMAT", "wk.npy|wv.npy"),
    ("weight_not_npy.yaml", GOOD.replace("../data/wq.npy", "../config/ok.yaml")
     .replace("weights:\n", "weights:\n  format: npy\n"), "FORMAT", "ok.yaml"),
    ("st_missing_tensor.yaml", GOOD_MODEL + "weights:\n  layout: in_out\n"
     "  file: ../safetensors/ok.safetensors\n  q: {tensor: nope}\n  k: {tensor: a}\n"
     "  v: {tensor: a}\n", "FORMAT", "nope"),
    ("shard_ok.yaml", GOOD + "shard: {rank: 1, world: 2}\n", "OK", "-"),
    ("shard_rank_not_below.yaml", GOOD + "shard: {rank: 3, world: 2}\n", "CONFIG",
     "shard.rank"),
    # issue 17: GGUF, index, layers and fused tensors through qkv_model_open
    ("gguf_ok.yaml", "weights:\n  file: ../gguf/ok.gguf\n  layer: 1\n"
     "  q: {tensor: 'blk.{layer}.attn_q.weight'}\n  k: {tensor: 'blk.{layer}.attn_k.weight'}\n"
     "  v: {tensor: 'blk.{layer}.attn_v.weight'}\n", "OK", "-"),
    ("gguf_fused_qkv.yaml", "weights:\n  file: ../gguf/ok_fused_qkv.gguf\n  layer: 0\n"
     "  qkv: {tensor: 'blk.{layer}.attn_qkv.weight', split: rows}\n"
     "  qkv_bias: {tensor: 'blk.{layer}.attn_qkv.bias'}\n", "OK", "-"),
    ("gguf_dims_checked.yaml", GOOD_MODEL + "weights:\n  file: ../gguf/ok.gguf\n"
     "  q: {tensor: blk.0.attn_q.weight}\n  k: {tensor: blk.0.attn_k.weight}\n"
     "  v: {tensor: blk.0.attn_v.weight}\n", "OK", "-"),
    ("gguf_dims_mismatch.yaml", "model: {d_model: 4, n_heads: 2, n_kv_heads: 2}\n"
     "weights:\n  file: ../gguf/ok.gguf\n  q: {tensor: blk.0.attn_q.weight}\n"
     "  k: {tensor: blk.0.attn_k.weight}\n  v: {tensor: blk.0.attn_v.weight}\n", "CONFIG",
     "head_count_kv"),
    ("gguf_layer_out_of_range.yaml", "weights:\n  file: ../gguf/ok.gguf\n  layer: 2\n"
     "  q: {tensor: 'blk.{layer}.attn_q.weight'}\n  k: {tensor: 'blk.{layer}.attn_k.weight'}\n"
     "  v: {tensor: 'blk.{layer}.attn_v.weight'}\n", "CONFIG", "not below"),
    ("gguf_in_out.yaml", "weights:\n  layout: in_out\n  file: ../gguf/ok.gguf\n"
     "  q: {tensor: a}\n  k: {tensor: b}\n  v: {tensor: c}\n", "CONFIG", "out_in"),
    ("gguf_quantized.yaml", "weights:\n  file: ../gguf/q8_0_ok.gguf\n"
     "  q: {tensor: blk.0.attn_q.weight}\n  k: {tensor: blk.0.attn_q.weight}\n"
     "  v: {tensor: blk.0.attn_q.weight}\n", "FORMAT|CONFIG", "Q8_0|d_model|embedding"),
    ("layer_not_set.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../index/ok.index.json\n  q: {tensor: 'blk.{layer}.q'}\n  k: {tensor: blk.k}\n"
     "  v: {tensor: blk.v}\n", "CONFIG", "{layer}"),
    ("index_ok.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n  file: ../index/ok.index.json\n"
     "  q: {tensor: blk.q}\n  k: {tensor: blk.k}\n  v: {tensor: blk.v}\n", "OK", "-"),
    ("index_missing_tensor.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../index/ok.index.json\n  q: {tensor: blk.o}\n  k: {tensor: blk.k}\n"
     "  v: {tensor: blk.v}\n", "FORMAT", "blk.o"),
    ("index_missing_shard.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../index/shard_not_safetensors.index.json\n  q: {tensor: a}\n  k: {tensor: a}\n"
     "  v: {tensor: a}\n", "FORMAT", "plain file name"),
    ("fused_rows_ok.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../safetensors/fused_qkv.safetensors\n"
     "  qkv: {tensor: qkv.weight, split: rows}\n  qkv_bias: {tensor: qkv.bias}\n", "OK", "-"),
    ("fused_heads_ok.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../safetensors/fused_qkv.safetensors\n"
     "  qkv: {tensor: qkv.weight, split: heads}\n  qkv_bias: {tensor: qkv.bias}\n", "OK", "-"),
    ("fused_split_layout.yaml", GOOD_MODEL + "weights:\n  layout: in_out\n"
     "  file: ../safetensors/fused_qkv.safetensors\n  qkv: {tensor: qkv.weight, split: rows}\n",
     "CONFIG", "split"),
    ("fused_split_missing.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../safetensors/fused_qkv.safetensors\n  qkv: {tensor: qkv.weight}\n",
     "CONFIG", "split"),
    ("fused_wrong_shape.yaml", "model: {d_model: 4, n_heads: 2}\nweights:\n  layout: out_in\n"
     "  file: ../safetensors/fused_qkv.safetensors\n  qkv: {tensor: qkv.weight, split: rows}\n",
     "FORMAT", "fused tensor has shape"),
    ("fused_and_q.yaml", GOOD_MODEL + "weights:\n  layout: out_in\n"
     "  file: ../safetensors/fused_qkv.safetensors\n  qkv: {tensor: qkv.weight, split: rows}\n"
     "  q: {tensor: qkv.weight}\n", "CONFIG", "come from it"),
    ("fused_bias_alone.yaml", GOOD + "  qkv_bias: {file: ../data/wq.npy}\n", "CONFIG",
     "fused bias"),
    ("raw_wrong_size.yaml", GOOD_MODEL + "weights:\n  layout: in_out\n"
     "  q: {file: ../raw/one_short.bin, dtype: f32}\n  k: {file: ../data/wk.bin, dtype: f32}\n"
     "  v: {file: ../data/wv.bin, dtype: f32}\n", "FORMAT", "one_short.bin"),
]
for name, text, status, sub in MODEL_BAD:
    case("model", "model/" + name, text, status, sub)

with open(os.path.join(HERE, "cases.txt"), "w") as f:
    f.write("# Generated by gen_corpus.py: SURFACE PATH STATUS SUBSTRING [ARGS...]\n")
    for c in cases:
        f.write("  ".join(c) + "\n")
print("%d cases" % len(cases))
