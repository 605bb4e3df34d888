"""qkv from Python: ctypes over libqkv, NumPy arrays in and out, nothing to compile.

    import numpy as np
    import qkv

    # torch.nn.Linear weights ([d_out, d_model], y = x @ W.T): layout="out_in"
    m = qkv.Model.from_arrays(wq, wk, wv, layout="out_in", n_heads=8, n_kv_heads=2,
                              backend="blas")
    q, k, v = m.project(x)      # x [T, d_model] -> q [T, d_q], k and v [T, d_kv], float32
    m.close()

    with qkv.Model.open("configs/tiny.yaml") as m:
        q, k, v = m.project(x)

libqkv is found, in order: the `library` argument, the QKV_LIBRARY environment variable,
a build tree next to this file (<source>/build*/core/libqkv.so, `build` first), then the
system (ctypes.util.find_library). Library errors raise QkvError with the library's
message; bad Python arguments raise ValueError or TypeError.

Ownership: a model made by from_arrays keeps its own float32 C-contiguous copies of the
weights alive for as long as the model is open (the library may use them without a
copy). project() may be called from several threads at once on one model (ctypes
releases the GIL during the call); close() must not race with it.
"""

import ctypes
import ctypes.util
import glob
import os

import numpy as np

__all__ = ["Model", "QkvError", "load_library", "version"]

PRECISIONS = {"f32": 0, "bf16": 1, "int8": 2}
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
                ("backend", ctypes.c_char_p), ("threads", _i32), ("strict", _i32)]


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
                ("out", _c_float_p * 3), ("ld_out", _size * 3), ("threads", _i32)]


class _Info(ctypes.Structure):
    _fields_ = [("struct_size", _u32), ("d_model", _u32), ("n_heads", _u32),
                ("n_kv_heads", _u32), ("head_dim", _u32), ("d_q", _u32), ("d_kv", _u32),
                ("precision", _u32), ("threads", _u32), ("backend", ctypes.c_char_p),
                ("backend_version", ctypes.c_char_p), ("backend_path", ctypes.c_char_p),
                ("backend_detail", ctypes.c_char_p), ("selection_log", ctypes.c_char_p)]


_libs = {}  # path -> CDLL with prototypes set


def _candidates(path):
    if path:
        return [path]
    if os.environ.get("QKV_LIBRARY"):
        return [os.environ["QKV_LIBRARY"]]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


def _out_array(arr, name, T, width):
    """A caller-supplied output: float32 rows of `width` with a positive row stride."""
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float32:
        raise TypeError("%s must be a float32 numpy array" % name)
    if arr.shape != (T, width):
        raise ValueError("%s has shape %s, expected %s" % (name, arr.shape, (T, width)))
    if not arr.flags.writeable:
        raise ValueError("%s is read-only" % name)
    s0, s1 = arr.strides
    if T > 0 and width > 0 and (s1 != 4 or s0 % 4 or s0 < 4 * width):
        raise ValueError("%s needs contiguous rows and a row stride >= its width "
                         "(strides %s); pass a slice of a C-ordered array" % (name, arr.strides))
    return arr


def _rows(arr):
    """Row stride in elements of a 2-D float32 array with contiguous rows."""
    return arr.strides[0] // 4 if arr.shape[0] > 1 else max(arr.shape[1], 1)


class Model:
    """One opened model (one layer's Wq, Wk, Wv on a selected backend)."""

    def __init__(self, lib, handle, keep=()):
        self._lib = lib
        self._h = ctypes.c_void_p(handle)
        self._keep = keep  # arrays the library may point into
        info = self.info()
        self.d_model, self.d_q, self.d_kv = info["d_model"], info["d_q"], info["d_kv"]

    @classmethod
    def open(cls, config, backend=None, threads=0, machine=None, strict=None, library=None):
        """Open a YAML model config. backend: force one backend by name (strict by
        default then: no silent fallback); threads: > 0 thread budget; machine: a
        machine profile path."""
        lib = load_library(library)
        if strict is None:
            strict = backend is not None
        opts = _OpenOptions(ctypes.sizeof(_OpenOptions), _bytes(machine), _bytes(backend),
                            int(threads), 1 if strict else 0)
        h, buf = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
        _check(lib.qkv_model_open(_bytes(os.fspath(config)), ctypes.byref(opts),
                                  ctypes.byref(h), buf, len(buf)), buf)
        return cls(lib, h.value)

    @classmethod
    def from_arrays(cls, wq, wk, wv, biases=None, *, layout=None, n_heads=1, n_kv_heads=None,
                    head_dim=None, precision="f32", backend=None, threads=0, strict=None,
                    plugin_dirs=None, machine=None, library=None):
        """A model from weight arrays. layout is required (square weights fit both, so a
        default would transpose them silently): "out_in" for torch.nn.Linear weights
        [d_out, d_model] (y = x @ W.T), "in_out" for [d_model, d_out] (y = x @ W).
        biases: None or (bq, bk, bv), each None or [d_out]. head_dim defaults to
        d_q / n_heads, n_kv_heads to d_kv / head_dim. machine: a machine profile path
        (qkv tune's output); backend, threads and strict given here win over it and over
        the environment (QKV_BACKEND, QKV_THREADS), which wins over the profile."""
        if layout is None:
            raise TypeError("from_arrays needs layout=: \"out_in\" for torch.nn.Linear weights "
                            "[d_out, d_model] (y = x @ W.T), \"in_out\" for [d_model, d_out] "
                            "(y = x @ W)")
        if layout not in LAYOUTS:
            raise ValueError("layout must be one of %s, not %r" % (list(LAYOUTS), layout))
        if precision not in PRECISIONS:
            raise ValueError("precision must be one of %s, not %r" % (list(PRECISIONS),
                                                                      precision))
        ws = [np.ascontiguousarray(w, dtype=np.float32) for w in (wq, wk, wv)]
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
                    bs[i] = np.ascontiguousarray(b, dtype=np.float32)
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
                          _bytes(":".join(plugin_dirs) if plugin_dirs else None), 0, 0,
                          _bytes(machine))
        h, buf = ctypes.c_void_p(), ctypes.create_string_buffer(1024)
        _check(lib.qkv_model_open_memory(ctypes.byref(desc), ctypes.byref(h), buf, len(buf)),
               buf)
        return cls(lib, h.value, keep=tuple(ws) + tuple(b for b in bs if b is not None))

    def project(self, x, q=None, k=None, v=None, threads=0):
        """Q, K, V for the rows of x ([T, d_model], or one row [d_model]). Returns new
        float32 arrays, or writes into q/k/v when given (float32 [T, width] views with
        contiguous rows, e.g. a slice of a KV cache) and returns them."""
        if not self._h:
            raise ValueError("model is closed")
        x = np.asarray(x, dtype=np.float32)
        one = x.ndim == 1
        if one:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.d_model:
            raise ValueError("x must be [T, %d], has shape %s" % (self.d_model, x.shape))
        T = x.shape[0]
        if T > 0 and (x.strides[1] != 4 or x.strides[0] % 4 or x.strides[0] < 4 * self.d_model):
            x = np.ascontiguousarray(x)  # rows must be contiguous with a forward stride
        outs = []
        for name, arr, width in (("q", q, self.d_q), ("k", k, self.d_kv), ("v", v, self.d_kv)):
            outs.append(np.empty((T, width), np.float32) if arr is None
                        else _out_array(arr, name, T, width))
        call = _Call(ctypes.sizeof(_Call), T, x.ctypes.data_as(_c_float_p), _rows(x),
                     (_c_float_p * 3)(*[o.ctypes.data_as(_c_float_p) for o in outs]),
                     (_size * 3)(*[_rows(o) for o in outs]), int(threads))
        buf = ctypes.create_string_buffer(1024)
        _check(self._lib.qkv_project_call(self._h, ctypes.byref(call), buf, len(buf)), buf)
        return tuple(o[0] for o in outs) if one else tuple(outs)

    def info(self):
        """What the library says about the model: dims, backend, selection log."""
        i = _Info()
        i.struct_size = ctypes.sizeof(_Info)
        st = self._lib.qkv_model_get_info(self._h, ctypes.byref(i))
        if st != 0:
            raise QkvError(st, "qkv_model_get_info failed")
        out = {}
        for name, _ in _Info._fields_[1:]:
            val = getattr(i, name)
            out[name] = val.decode("utf-8", "replace") if isinstance(val, bytes) else val
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
