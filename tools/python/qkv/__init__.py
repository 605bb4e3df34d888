"""qkv from Python: ctypes over libqkv, NumPy arrays in and out, nothing to compile.

    import numpy as np
    import qkv

    # torch.nn.Linear weights ([d_out, d_model], y = x @ W.T): layout="out_in"
    m = qkv.Model.from_arrays(wq, wk, wv, layout="out_in", n_heads=8, n_kv_heads=2,
                              backend="blas")
    q, k, v = m.project(x)      # x [T, d_model] -> q [T, d_q], k and v [T, d_kv], float32
    m.close()

    # A YAML config (configs/README.md), one layer of a {layer} checkpoint:
    with qkv.Model.open("configs/default.yaml", layer=0) as m:
        q, k, v = m.project(x)

Installing: `pip install tools/python` (NumPy is the only dependency; see
tools/python/README.md). libqkv is found, in order: the `library` argument, the
QKV_LIBRARY environment variable, a build tree of the source tree this file sits in
(<source>/build*/core/libqkv.so, `build` first), the install folders (<sys.prefix>/lib,
/usr/local/lib, with the multiarch folder), then the system (ctypes.util.find_library).
Library errors raise QkvError with the library's message; bad Python arguments raise
ValueError or TypeError.

Inputs are float32 (float16 is converted, exactly); float64 is refused with the
conversion to write, as the qkv command refuses float64 .npy input: the silent rounding
would hide a dtype mistake.

Ownership: a model made by from_arrays keeps its own float32 C-contiguous copies of the
weights alive for as long as the model is open (the library may use them without a
copy). project() may be called from several threads at once on one model (ctypes
releases the GIL during the call); close() must not race with it.
"""

import ctypes
import ctypes.util
import glob
import os
import sys
import sysconfig

import numpy as np

__all__ = ["Model", "QkvError", "load_library", "version"]

PRECISIONS = {"f32": 0, "bf16": 1, "int8": 2, "stored": 3}  # stored: weights in their type
LAYOUTS = {"in_out": 0, "out_in": 1}
STATUS = {0: "OK", 1: "ERR_ARGUMENT", 2: "ERR_NOMEM", 3: "ERR_IO", 4: "ERR_CONFIG",
          5: "ERR_FORMAT", 6: "ERR_PLUGIN", 7: "ERR_UNSUPPORTED", 8: "ERR_BACKEND",
          9: "ERR_INTERNAL"}
ERR_UNSUPPORTED = 7

_c_float_p = ctypes.POINTER(ctypes.c_float)
_u32, _i32, _size = ctypes.c_uint32, ctypes.c_int32, ctypes.c_size_t


class QkvError(Exception):
    """A qkv library call failed: `status` (int, see STATUS) and the library's message."""

    def __init__(self, status, message):
        self.status = status
        self.message = message
        super().__init__("%s: %s" % (STATUS.get(status, "status %d" % status), message))


# Mirrors of the structs in <qkv/qkv.h> (each starts with struct_size).
class _OpenOptions(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("machine_path", ctypes.c_char_p),
                ("backend", ctypes.c_char_p), ("threads", _i32), ("strict", _i32),
                ("shard_rank", _u32), ("shard_world", _u32),  # since 0.2
                ("layer_set", _u32), ("layer", _u32),  # since 0.2
                ("precision", ctypes.c_char_p), ("plugin_dirs", ctypes.c_char_p)]  # since 0.2


class _ModelDesc(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("d_model", _u32), ("n_heads", _u32),
                ("n_kv_heads", _u32), ("head_dim", _u32), ("precision", _u32),
                ("layout", _u32), ("w", _c_float_p * 3), ("bias", _c_float_p * 3),
                ("prefer", ctypes.c_char_p), ("threads", _i32), ("strict", _i32),
                ("plugin_dirs", ctypes.c_char_p),
                ("shard_rank", _u32), ("shard_world", _u32),  # since 0.2
                ("machine_path", ctypes.c_char_p)]  # since 0.2


class _Call(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("T", _size), ("x", _c_float_p), ("ldx", _size),
                ("out", _c_float_p * 3), ("ld_out", _size * 3), ("threads", _i32),
                ("head_stride", _size * 3)]  # since 0.2


class _Info(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("d_model", _u32), ("n_heads", _u32),
                ("n_kv_heads", _u32), ("head_dim", _u32), ("d_q", _u32), ("d_kv", _u32),
                ("precision", _u32), ("threads", _u32), ("backend", ctypes.c_char_p),
                ("backend_version", ctypes.c_char_p), ("backend_path", ctypes.c_char_p),
                ("backend_detail", ctypes.c_char_p), ("selection_log", ctypes.c_char_p),
                ("shard_rank", _u32), ("shard_world", _u32),  # since 0.2
                ("q_head_begin", _u32), ("kv_head_begin", _u32),
                ("model_n_heads", _u32), ("model_n_kv_heads", _u32),
                ("weight_bytes", ctypes.c_uint64),
                ("wtype", _u32 * 3), ("wbytes", ctypes.c_uint64 * 3), ("in_place", _u32),
                ("order", ctypes.c_char_p), ("order_source", ctypes.c_char_p),
                ("n_files", _u32), ("file", ctypes.POINTER(ctypes.c_char_p)),  # since 0.3
                ("file_types", ctypes.POINTER(ctypes.c_char_p)),
                ("bytes_prepared", ctypes.c_uint64), ("prepared_known", _u32),
                ("weights_needed", _u32), ("bytes_in_place", ctypes.c_uint64),
                ("weights_released", _u32)]


_libs = {}  # path -> CDLL with prototypes set


def _install_dirs():
    """Library folders of an installed libqkv: this Python's prefix, then /usr/local."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = []
    for prefix in (sys.prefix, "/usr/local"):
        for lib in ("lib", "lib64"):
            if arch:
                dirs.append(os.path.join(prefix, lib, arch))
            dirs.append(os.path.join(prefix, lib))
    return dirs


def _candidates(path):
    if path:
        return [path]
    if os.environ.get("QKV_LIBRARY"):
        return [os.environ["QKV_LIBRARY"]]
    # tools/python/qkv/__init__.py in a source tree: its build folders
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    found = []
    default = os.path.join(root, "build", "core", "libqkv.so")
    if os.path.exists(default):
        found.append(default)

    def mtime(p):
        try:
            return os.path.getmtime(p)
        except OSError:  # a dangling link in a half-built tree
            return -1.0

    others = [p for p in glob.glob(os.path.join(root, "build*", "core", "libqkv.so"))
              if p != default and mtime(p) >= 0]
    found += sorted(others, key=mtime, reverse=True)  # newest build first
    found += [p for p in (os.path.join(d, "libqkv.so") for d in _install_dirs())
              if os.path.exists(p) and p not in found]
    system = ctypes.util.find_library("qkv")
    if system:
        found.append(system)
    return found


def _prototype(lib):
    def fn(name, restype, *argtypes):
        f = getattr(lib, name)
        f.restype, f.argtypes = restype, list(argtypes)

    err = [ctypes.c_char_p, _size]
    pmodel = ctypes.c_void_p
    fn("qkv_version", ctypes.c_char_p)
    fn("qkv_status_str", ctypes.c_char_p, ctypes.c_int)
    fn("qkv_model_open", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_OpenOptions),
       ctypes.POINTER(pmodel), *err)
    fn("qkv_model_open_memory", ctypes.c_int, ctypes.POINTER(_ModelDesc),
       ctypes.POINTER(pmodel), *err)
    fn("qkv_model_close", None, pmodel)
    fn("qkv_project_call", ctypes.c_int, pmodel, ctypes.POINTER(_Call), *err)
    fn("qkv_model_get_info", ctypes.c_int, pmodel, ctypes.POINTER(_Info))
    return lib


def load_library(path=None):
    """The libqkv CDLL (see the module docstring for the search order)."""
    tried = []
    for cand in _candidates(path):
        if cand in _libs:
            return _libs[cand]
        try:
            lib = _prototype(ctypes.CDLL(cand))
        except (OSError, AttributeError) as e:
            tried.append("%s: %s" % (cand, e))
            continue
        _libs[cand] = lib
        return lib
    raise OSError("libqkv not found; pass library=PATH or set QKV_LIBRARY. Tried: " +
                  ("; ".join(tried) if tried else "no candidates (no build tree, "
                   "not installed)"))


def version(library=None):
    """The library's "major.minor.patch"."""
    return load_library(library).qkv_version().decode()


def _bytes(s):
    return None if s is None else os.fsencode(s)


def _check(status, buf):
    if status != 0:
        raise QkvError(status, buf.value.decode("utf-8", "replace"))


_F64_HINT = ("float64 is not read: it would be rounded to float32 silently (the qkv "
             "command refuses float64 input too); convert it yourself: %s.astype(np.float32)")


def _float32(a, name):
    """a as float32: float32 as it is, float16 converted (exactly); anything else refused,
    with the conversion to write."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
        if a.dtype == np.float64 or a.dtype.kind in "iub":
            raise TypeError("%s must be a float32 numpy array, not a %s of %s; build it with "
                            "np.asarray(..., dtype=np.float32)" % (name, "list", a.dtype))
    if a.dtype == np.float32:
        return a
    if a.dtype == np.float16:
        return a.astype(np.float32)
    if a.dtype == np.float64:
        raise TypeError("%s: %s" % (name, _F64_HINT % name))
    raise TypeError("%s must be float32 (or float16), not %s: convert it with "
                    "%s.astype(np.float32)" % (name, a.dtype, name))


def _out_array(arr, name, T, heads, head_dim):
    """A caller-supplied output: float32 [T, heads * head_dim] with contiguous rows and a
    row stride >= its width, or [heads, T, head_dim] (a head-major cache slice) with
    contiguous head rows. Returns (array, row stride, head stride) in elements."""
    width = heads * head_dim
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float32:
        raise TypeError("%s must be a float32 numpy array" % name)
    if not arr.flags.writeable:
        raise ValueError("%s is read-only" % name)
    if arr.shape == (T, width):
        s0, s1 = arr.strides
        if T > 0 and width > 0 and (s1 != 4 or s0 % 4 or s0 < 4 * width):
            raise ValueError("%s needs contiguous rows and a row stride >= its width "
                             "(strides %s); pass a slice of a C-ordered array"
                             % (name, arr.strides))
        return arr, _rows(arr), 0
    if arr.shape == (heads, T, head_dim):
        sh, st, sd = arr.strides
        if T > 0 and (sd != 4 or sh % 4 or st % 4 or sh <= 0 or st <= 0):
            raise ValueError("%s [heads, T, head_dim] needs contiguous head rows and "
                             "positive strides (strides %s)" % (name, arr.strides))
        return arr, (st // 4 if T > 1 else head_dim), (sh // 4 if heads > 1 else head_dim)
    raise ValueError("%s has shape %s, expected %s or (heads, T, head_dim) = %s"
                     % (name, arr.shape, (T, width), (heads, T, head_dim)))


def _rows(arr):
    """Row stride in elements of a 2-D float32 array with contiguous rows."""
    return arr.strides[0] // 4 if arr.shape[0] > 1 else max(arr.shape[1], 1)


def _shard(shard):
    """(rank, world) from None, (rank, world) or "R/W"."""
    if shard is None:
        return 0, 0
    if isinstance(shard, str):
        try:
            r, w = (int(v) for v in shard.split("/"))
        except ValueError:
            raise ValueError("shard must be (rank, world) or \"R/W\", not %r" % shard)
    else:
        r, w = shard
    if not 0 <= r < w:
        raise ValueError("shard (%d, %d): the rank must be in 0..world-1" % (r, w))
    return r, w


def _dirs(plugin_dirs):
    if plugin_dirs is None:
        return None
    if isinstance(plugin_dirs, (str, bytes, os.PathLike)):
        plugin_dirs = [plugin_dirs]
    return ":".join(os.fsdecode(d) for d in plugin_dirs)


class Model:
    """One opened model (one layer's Wq, Wk, Wv on a selected backend)."""

    def __init__(self, lib, handle, keep=()):
        self._lib = lib
        self._h = ctypes.c_void_p(handle)
        self._keep = keep  # arrays the library may point into
        info = self.info()
        self.d_model, self.d_q, self.d_kv = info["d_model"], info["d_q"], info["d_kv"]
        self.n_heads, self.n_kv_heads = info["n_heads"], info["n_kv_heads"]
        self.head_dim = info["head_dim"]

    @classmethod
    def open(cls, config, backend=None, threads=0, machine=None, strict=None, *, layer=None,
             shard=None, precision=None, plugin_dirs=None, library=None):
        """Open a YAML model config (configs/README.md).

        backend: a backend name or list "blas,scalar" (strict by default then: no silent
        fallback); threads: > 0 thread budget (0: every core); machine: a machine profile
        path (qkv tune's output); layer: the layer of a config whose tensor names hold
        {layer} (replaces weights.layer); shard: (rank, world) or "R/W", the slice of the
        heads this model computes (tensor parallelism); precision: "f32", "bf16" or
        "int8", replacing the config's; plugin_dirs: extra plugin folders (a path or a
        list), searched first. Each is the C API's qkv_open_options member."""
        lib = load_library(library)
        if strict is None:
            strict = backend is not None
        if precision is not None and precision not in PRECISIONS:
            raise ValueError("precision must be one of %s, not %r" % (list(PRECISIONS),
                                                                      precision))
        if layer is not None and (not isinstance(layer, int) or layer < 0):
            raise ValueError("layer must be an int >= 0, not %r" % (layer,))
        rank, world = _shard(shard)
        opts = _OpenOptions(ctypes.sizeof(_OpenOptions), _bytes(machine), _bytes(backend),
                            int(threads), 1 if strict else 0, rank, world,
                            0 if layer is None else 1, layer or 0, _bytes(precision),
                            _bytes(_dirs(plugin_dirs)))
        h, buf = ctypes.c_void_p(), ctypes.create_string_buffer(2048)
        _check(lib.qkv_model_open(_bytes(os.fspath(config)), ctypes.byref(opts),
                                  ctypes.byref(h), buf, len(buf)), buf)
        return cls(lib, h.value)

    @classmethod
    def from_arrays(cls, wq, wk, wv, biases=None, *, layout=None, n_heads=1, n_kv_heads=None,
                    head_dim=None, precision="f32", backend=None, threads=0, strict=None,
                    plugin_dirs=None, machine=None, shard=None, library=None):
        """A model from weight arrays. layout is required (square weights fit both, so a
        default would transpose them silently): "out_in" for torch.nn.Linear weights
        [d_out, d_model] (y = x @ W.T), "in_out" for [d_model, d_out] (y = x @ W).
        biases: None or (bq, bk, bv), each None or [d_out]. head_dim defaults to
        d_q / n_heads, n_kv_heads to d_kv / head_dim. machine: a machine profile path
        (qkv tune's output); backend, threads and strict given here win over it and over
        the environment (QKV_BACKEND, QKV_THREADS), which wins over the profile.
        shard: (rank, world) or "R/W": the weights are the whole model's, the model
        computes the slice's heads. Weights are float32 (float16 is converted; float64 is
        refused, as for inputs)."""
        if layout is None:
            raise TypeError("from_arrays needs layout=: \"out_in\" for torch.nn.Linear weights "
                            "[d_out, d_model] (y = x @ W.T), \"in_out\" for [d_model, d_out] "
                            "(y = x @ W)")
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s, not %r" % (list(LAYOUTS), layout))
        if precision not in PRECISIONS:
            raise ValueError("precision must be one of %s, not %r" % (list(PRECISIONS),
                                                                      precision))
        ws = [np.ascontiguousarray(_float32(w, "w" + n)) for w, n in zip((wq, wk, wv), "qkv")]
        for name, w in zip("qkv", ws):
            if w.ndim != 2:
                raise ValueError("w%s must be 2-D, has shape %s" % (name, w.shape))
        axis = 0 if layout == "in_out" else 1  # which axis is d_model
        d_model = ws[0].shape[axis]
        d_out = [w.shape[1 - axis] for w in ws]
        for name, w in zip("qkv", ws):
            if w.shape[axis] != d_model:
                raise ValueError("w%s has d_model %d, wq has %d (layout %s)"
                                 % (name, w.shape[axis], d_model, layout))
        if d_out[1] != d_out[2]:
            raise ValueError("wk and wv must have the same width (%d vs %d)" % tuple(d_out[1:]))
        if n_heads < 1 or d_out[0] % n_heads:
            raise ValueError("d_q = %d is not a multiple of n_heads = %d" % (d_out[0], n_heads))
        head_dim = head_dim or d_out[0] // n_heads
        if d_out[0] != n_heads * head_dim or d_out[1] % head_dim:
            raise ValueError("widths %s do not fit n_heads %d x head_dim %d"
                             % (d_out, n_heads, head_dim))
        n_kv = n_kv_heads or d_out[1] // head_dim
        if d_out[1] != n_kv * head_dim:
            raise ValueError("d_kv = %d is not n_kv_heads %d x head_dim %d"
                             % (d_out[1], n_kv, head_dim))
        bs = [None, None, None]
        if biases is not None:
            if len(biases) != 3:
                raise ValueError("biases must be (bq, bk, bv)")
            for i, b in enumerate(biases):
                if b is not None:
                    bs[i] = np.ascontiguousarray(_float32(b, "b" + "qkv"[i]))
                    if bs[i].shape != (d_out[i],):
                        raise ValueError("bias %s has shape %s, expected (%d,)"
                                         % ("qkv"[i], bs[i].shape, d_out[i]))
        lib = load_library(library)
        ptr = lambda a: a.ctypes.data_as(_c_float_p) if a is not None else None  # noqa: E731
        if strict is None:
            strict = backend is not None
        desc = _ModelDesc(ctypes.sizeof(_ModelDesc), d_model, n_heads, n_kv, head_dim,
                          PRECISIONS[precision], LAYOUTS[layout],
                          (_c_float_p * 3)(*[ptr(w) for w in ws]),
                          (_c_float_p * 3)(*[ptr(b) for b in bs]),
                          _bytes(backend), int(threads), 1 if strict else 0,
                          _bytes(_dirs(plugin_dirs)), *_shard(shard), _bytes(machine))
        h, buf = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
        _check(lib.qkv_model_open_memory(ctypes.byref(desc), ctypes.byref(h), buf, len(buf)),
               buf)
        return cls(lib, h.value, keep=tuple(ws) + tuple(b for b in bs if b is not None))

    def project(self, x, q=None, k=None, v=None, threads=0, skip=()):
        """Q, K, V for the rows of x ([T, d_model], or one row [d_model]; float32, or
        float16). Returns new float32 arrays, or writes into q/k/v when given and returns
        them: [T, width] views with contiguous rows (e.g. a slice of a KV cache), or
        [heads, T, head_dim] views of a head-major cache (cache[:, t0:t0 + T, :]).
        skip: names among "q", "k", "v" not to return (returned as None; e.g. ("q",)
        for a K/V cache refill); the library still computes them, into scratch.
        threads: > 0 threads for this call (0: the model's budget)."""
        if not self._h:
            raise ValueError("model is closed")
        for name in skip:
            if name not in ("q", "k", "v"):
                raise ValueError("skip names q, k or v, not %r" % (name,))
        x = _float32(x, "x")
        one = x.ndim == 1
        if one:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.d_model:
            raise ValueError("x must be [T, %d], has shape %s" % (self.d_model, x.shape))
        T = x.shape[0]
        if T > 0 and (x.strides[1] != 4 or x.strides[0] % 4 or x.strides[0] < 4 * self.d_model):
            x = np.ascontiguousarray(x)  # rows must be contiguous with a forward stride
        outs, ptrs, lds, hss = [], [], [], []
        for name, arr, heads in (("q", q, self.n_heads), ("k", k, self.n_kv_heads),
                                 ("v", v, self.n_kv_heads)):
            if name in skip:
                if arr is not None:
                    raise ValueError("%s is both given and skipped" % name)
                outs.append(None), ptrs.append(None), lds.append(0), hss.append(0)
                continue
            if arr is None:
                arr, ld, hs = np.empty((T, heads * self.head_dim), np.float32), 0, 0
                ld = _rows(arr)
            else:
                arr, ld, hs = _out_array(arr, name, T, heads, self.head_dim)
            outs.append(arr)
            ptrs.append(arr.ctypes.data_as(_c_float_p))
            lds.append(ld)
            hss.append(hs)
        call = _Call(ctypes.sizeof(_Call), T, x.ctypes.data_as(_c_float_p), _rows(x),
                     (_c_float_p * 3)(*ptrs), (_size * 3)(*lds), int(threads),
                     (_size * 3)(*hss))
        buf = ctypes.create_string_buffer(1024)
        _check(self._lib.qkv_project_call(self._h, ctypes.byref(call), buf, len(buf)), buf)
        if one:
            return tuple(None if o is None else o[0] if o.ndim == 2 else o[:, 0, :]
                         for o in outs)
        return tuple(outs)

    def info(self):
        """What the library says about the model: dims, backend, selection log,
        "files": each weight file read with its on-disk types ([] for from_arrays), and
        memory: bytes_prepared, bytes_in_place, weights_needed (0: arrays given to
        from_arrays may be dropped after open), weights_released."""
        i = _Info()
        i.struct_size = ctypes.sizeof(_Info)
        st = self._lib.qkv_model_get_info(self._h, ctypes.byref(i))
        if st != 0:
            raise QkvError(st, "qkv_model_get_info failed")
        out = {}
        for name, _ in _Info._fields_[1:]:
            if name in ("n_files", "file", "file_types"):
                continue
            val = getattr(i, name)
            if isinstance(val, bytes):
                val = val.decode("utf-8", "replace")
            elif isinstance(val, ctypes.Array):
                val = list(val)
            out[name] = val
        # the weight files read: [{"path": ..., "types": ["F16", ...]}, ...]
        out["files"] = [{"path": i.file[k].decode("utf-8", "replace"),
                         "types": i.file_types[k].decode().split(", ")}
                        for k in range(i.n_files)]
        return out

    @property
    def backend(self):
        return self.info()["backend"]

    def close(self):
        if self._h:
            self._lib.qkv_model_close(self._h)
            self._h = ctypes.c_void_p()
            self._keep = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None):
            self.close()
