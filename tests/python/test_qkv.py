"""tools/python/qkv (the package) against NumPy: every backend named on the command line projects
random arrays (both layouts, GQA, biases, strided inputs and outputs) and must match a
float64 NumPy matmul within a bound derived per precision:

  f32   |y - ref| <= g(K+2) * (|x| @ |W| + |b|)      g(n) = n u / (1 - n u), u = 2^-24
  bf16  adds 2^-8 * (|x| @ |W|)                       (weights rounded to bf16)
  int8  adds 0.51 * (sw * sum|x| + sx * sum|w|) + 0.26 * K * sx * sw
  stored: float32 arrays stay f32, so the f32 bound
        (half a quantization step of x per row and of W per column, precision.h)

A backend may not compute a precision (QKV_ERR_UNSUPPORTED): that is printed, and every
backend must compute at least one. Exit 0 on success, 1 with a message on any failure.
Run by `meson test --suite python`; usage: test_qkv.py BACKEND...
"""
import os
import re
import sys

try:
    import numpy as np
except ImportError as e:
    sys.exit("FAIL: NumPy is not importable by %s (%s). Install Debian's python3-numpy, or "
             "reconfigure so that meson finds an interpreter that has it." % (sys.executable, e))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tools", "python"))
import qkv  # noqa: E402

U = 2.0 ** -24
D_MODEL, N_HEADS, N_KV, HD = 48, 6, 2, 8
D_Q, D_KV = N_HEADS * HD, N_KV * HD


def gam(n):
    return n * U / (1 - n * U)


def bound(x, w_in_out, b, precision):
    """Per-element bound for x [T, K] @ w [K, N] + b in `precision` (see the docstring)."""
    K = x.shape[1]
    ax, aw = np.abs(x.astype(np.float64)), np.abs(w_in_out.astype(np.float64))
    mag = ax @ aw + np.abs(b.astype(np.float64))
    e = gam(K + 4) * mag
    if precision == "bf16":
        e += 2.0 ** -8 * mag * (1 + gam(K + 4))
    if precision == "int8":
        sx = ax.max(axis=1, keepdims=True) / 127  # [T, 1]
        sw = aw.max(axis=0, keepdims=True) / 127  # [1, N]
        e += 0.51 * (sw * ax.sum(axis=1, keepdims=True) + sx * aw.sum(axis=0, keepdims=True))
        e += 0.26 * K * sx * sw
    return e


def check(name, got, ref, e):
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= e)  # NaN fails
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, 1.0, 0.0)), err.shape)
        raise AssertionError("%s: element %s is %r, reference %r, bound %.3g"
                             % (name, i, got[i], ref[i], e[i]))
    return float((err / np.maximum(e, 1e-300)).max())


def one_backend(backend, rng):
    ran = []
    for precision in ("f32", "bf16", "int8", "stored"):  # stored f32 arrays: the f32 bound
        for layout in ("in_out", "out_in"):
            w = [rng.uniform(-0.3, 0.3, (D_MODEL, d)).astype(np.float32)
                 for d in (D_Q, D_KV, D_KV)]  # in_out [K, N]
            b = [rng.uniform(-0.1, 0.1, d).astype(np.float32) for d in (D_Q, D_KV, D_KV)]
            given = w if layout == "in_out" else [wi.T.copy() for wi in w]
            try:
                m = qkv.Model.from_arrays(*given, biases=b, layout=layout, n_heads=N_HEADS,
                                          n_kv_heads=N_KV, precision=precision,
                                          backend=backend)
            except qkv.QkvError as e:
                # A backend refuses a precision it does not declare: QKV_ERR_UNSUPPORTED.
                if e.status == qkv.ERR_UNSUPPORTED:
                    print("  %s %s: not computed by this backend (%s)" % (precision, layout, e))
                    continue
                raise
            with m:
                if m.backend != backend:
                    raise AssertionError("asked for %s, got %s" % (backend, m.backend))
                worst = 0.0
                for T in (1, 13):
                    big = rng.uniform(-1, 1, (2 * T, D_MODEL + 5)).astype(np.float32)
                    xs = {"contiguous": np.ascontiguousarray(big[:T, :D_MODEL]),
                          "row-strided view": big[::2, 3:3 + D_MODEL],
                          "fortran order": np.asfortranarray(big[:T, :D_MODEL]),
                          "float16": big[:T, :D_MODEL].astype(np.float16)}
                    for kind, x in xs.items():
                        x32 = x.astype(np.float32)  # float16 -> float32 is exact
                        q, k, v = m.project(x)
                        for i, y in enumerate((q, k, v)):
                            ref = x32.astype(np.float64) @ w[i].astype(np.float64) + b[i]
                            worst = max(worst, check("%s %s %s T=%d %s %s" % (
                                backend, precision, layout, T, kind, "qkv"[i]), y, ref,
                                bound(x32, w[i], b[i], precision)))
                    # K and V straight into a padded cache slice; padding stays NaN.
                    cache = np.full((2, T + 4, D_KV + 3), np.nan, np.float32)
                    x = xs["contiguous"]
                    q, k, v = m.project(x, k=cache[0, 2:2 + T, :D_KV], v=cache[1, 2:2 + T, :D_KV])
                    for i in (1, 2):
                        ref = x.astype(np.float64) @ w[i].astype(np.float64) + b[i]
                        check("%s cache %s" % (backend, "qkv"[i]), cache[i - 1, 2:2 + T, :D_KV],
                              ref, bound(x, w[i], b[i], precision))
                        pad = np.ones(cache.shape[1:], bool)
                        pad[2:2 + T, :D_KV] = False
                        if not np.isnan(cache[i - 1][pad]).all():
                            raise AssertionError("%s wrote outside the cache slice" % backend)
                print("  %s %s: ok, worst error/bound %.3g" % (precision, layout, worst))
                ran.append(precision)
    if not ran:
        raise AssertionError("backend %s computed no precision at all" % backend)


def seed_config(backends):
    """Model.open on the shipped seed example: x = (2, 3) -> q (2, 17), k (2, 3), v (3, 2)."""
    cfg = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs",
                       "seed-example.yaml")
    for name in backends:
        try:
            m = qkv.Model.open(cfg, backend=name)
        except qkv.QkvError as e:
            if e.status == qkv.ERR_UNSUPPORTED:
                print("  %s: not an f32 backend (%s)" % (name, e))
                continue
            raise
        with m:
            q, k, v = m.project(np.array([[2, 3]], np.float32))
            got = [r.tolist() for r in (q[0], k[0], v[0])]
            if got != [[2, 17], [2, 3], [3, 2]]:
                raise AssertionError("%s: seed example gave %s" % (name, got))
            print("  %s: seed example q, k, v = %s" % (name, got))


def threads_share_a_model(backend, rng):
    """project() from 4 Python threads at once on one model (ctypes drops the GIL) gives
    what serial calls give (same backend, same inputs: bit for bit)."""
    import threading
    w = [rng.uniform(-0.3, 0.3, (D_MODEL, d)).astype(np.float32) for d in (D_Q, D_KV, D_KV)]
    xs = [rng.uniform(-1, 1, (7, D_MODEL)).astype(np.float32) for _ in range(4)]
    try:
        m = qkv.Model.from_arrays(*w, layout="in_out", n_heads=N_HEADS, n_kv_heads=N_KV,
                                  backend=backend)
    except qkv.QkvError as e:
        if e.status == qkv.ERR_UNSUPPORTED:
            print("  %s: not an f32 backend" % backend)
            return
        raise
    with m:
        serial = [m.project(x) for x in xs]
        got = [None] * 4

        def work(i):
            for _ in range(50):
                got[i] = m.project(xs[i])

        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i in range(4):
            for a, b in zip(serial[i], got[i]):
                if not np.array_equal(a, b):
                    raise AssertionError("%s: thread %d differs from the serial call" % (backend, i))
    print("  %s: 4 threads x 50 calls on one model, identical to serial calls" % backend)


def errors_are_exceptions():
    w = np.ones((4, 4), np.float32)
    try:
        qkv.Model.from_arrays(w, w, w, layout="in_out", backend="no_such_backend")
    except qkv.QkvError as e:
        assert "no_such_backend" in e.message, "message does not name the backend: " + e.message
        print("  unknown backend -> QkvError: %s" % e)
    else:
        raise AssertionError("an unknown backend was accepted")
    with qkv.Model.from_arrays(w, w, w, layout="in_out", backend="scalar") as m:
        for bad in (np.ones((2, 5), np.float32), np.ones((2, 2, 4), np.float32)):
            try:
                m.project(bad)
            except ValueError as e:
                print("  bad x shape -> ValueError: %s" % e)
            else:
                raise AssertionError("x of shape %s was accepted" % (bad.shape,))
        q, k, v = m.project(np.array([2, 3, 0, 0], np.float32))  # one row -> 1-D outputs
        assert q.shape == (4,) and np.all(q == 5.0), q
    try:
        qkv.Model.open("/nonexistent/model.yaml")
    except qkv.QkvError as e:
        assert "/nonexistent/model.yaml" in e.message, e.message
        print("  missing config -> QkvError: %s" % e)
    else:
        raise AssertionError("a missing config was accepted")


def layout_is_explicit(rng):
    """Square weights fit both layouts, so a default would transpose them silently
    (issue 15: max error 36 against x @ W.T): from_arrays needs layout=, and out_in is
    torch.nn.Linear's y = x @ W.T."""
    d = 16
    w = [rng.uniform(-1, 1, (d, d)).astype(np.float32) for _ in range(3)]
    x = rng.uniform(-1, 1, (5, d)).astype(np.float32)
    try:
        qkv.Model.from_arrays(*w, n_heads=2, backend="scalar")
    except TypeError as e:
        assert "layout" in str(e) and "out_in" in str(e), str(e)
        print("  no layout -> TypeError: %s" % e)
    else:
        raise AssertionError("from_arrays picked a layout for square weights")
    try:
        qkv.Model.from_arrays(*w, layout="io", n_heads=2, backend="scalar")
    except ValueError as e:
        print("  bad layout -> ValueError: %s" % e)
    else:
        raise AssertionError("layout 'io' was accepted")
    for layout, ref in (("out_in", [x.astype(np.float64) @ wi.T.astype(np.float64) for wi in w]),
                        ("in_out", [x.astype(np.float64) @ wi.astype(np.float64) for wi in w])):
        with qkv.Model.from_arrays(*w, layout=layout, n_heads=2, backend="scalar") as m:
            for i, y in enumerate(m.project(x)):
                check("square %s %s" % (layout, "qkv"[i]), y, ref[i],
                      bound(x, w[i].T if layout == "out_in" else w[i], np.zeros(d, np.float32),
                            "f32"))
    print("  square weights: out_in matches x @ W.T, in_out matches x @ W")


def float64_is_refused():
    """float64 input and weights are refused with the conversion, as the qkv command
    refuses a float64 .npy (issue 26 item 2): rounding them silently hides a dtype slip."""
    w = np.eye(4, dtype=np.float32)
    with qkv.Model.from_arrays(w, w, w, layout="in_out", backend="scalar") as m:
        for bad in (np.ones((2, 4)), [[1.0, 2.0, 3.0, 4.0]], np.ones((1, 4), np.int32)):
            try:
                m.project(bad)
            except TypeError as e:
                assert "float32" in str(e), str(e)
            else:
                raise AssertionError("x of %s was accepted" % type(bad))
        try:
            m.project(np.ones((2, 4)))
        except TypeError as e:
            assert "x.astype(np.float32)" in str(e), str(e)
            print("  float64 x -> TypeError: %s" % e)
    try:
        qkv.Model.from_arrays(w.astype(np.float64), w, w, layout="in_out", backend="scalar")
    except TypeError as e:
        assert "wq.astype(np.float32)" in str(e), str(e)
    else:
        raise AssertionError("float64 weights were accepted")


def skip_and_head_major(rng):
    """skip= leaves a projection out (None), exact and bit-identical to a full call on the
    other outputs; K and V written into a head-major cache [heads, max_T, head_dim] at
    rows t0..t0+T-1 through [heads, T, head_dim] views; nothing else changes."""
    w = [rng.uniform(-0.3, 0.3, (D_MODEL, d)).astype(np.float32) for d in (D_Q, D_KV, D_KV)]
    x = rng.uniform(-1, 1, (5, D_MODEL)).astype(np.float32)
    with qkv.Model.from_arrays(*w, layout="in_out", n_heads=N_HEADS, n_kv_heads=N_KV,
                               backend="scalar") as m:
        full = m.project(x)
        q, k, v = m.project(x, skip=("q",))
        assert q is None and np.array_equal(k, full[1]) and np.array_equal(v, full[2])
        q, k, v = m.project(x, skip=("k", "v"))
        assert k is None and v is None and np.array_equal(q, full[0])
        max_t, t0 = 9, 3
        kc = np.full((N_KV, max_t, HD), np.nan, np.float32)
        vc = np.full((N_KV, max_t, HD), np.nan, np.float32)
        q, k, v = m.project(x, k=kc[:, t0:t0 + 5, :], v=vc[:, t0:t0 + 5, :], skip=("q",))
        for cache, ref in ((kc, full[1]), (vc, full[2])):
            want = ref.reshape(5, N_KV, HD).transpose(1, 0, 2)  # [heads, T, head_dim]
            assert np.array_equal(cache[:, t0:t0 + 5, :], want), "head-major cache differs"
            rest = np.ones(cache.shape, bool)
            rest[:, t0:t0 + 5, :] = False
            assert np.isnan(cache[rest]).all(), "wrote outside the cache rows"
        try:
            m.project(x, skip=("q", "k", "v"))
        except qkv.QkvError as e:
            assert "all NULL" in e.message, e.message
        else:
            raise AssertionError("skipping all three was accepted")
    print("  skip=('q',), skip=('k', 'v') and a head-major K/V cache: exact")


def open_options(tmpdir):
    """Model.open takes every open option a runtime needs: layer= for a {layer} config
    (the same bytes as weights.layer), shard=, precision=, plugin_dirs=."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    cfg = os.path.join(root, "configs", "default.yaml")
    x = np.random.default_rng(3).uniform(-1, 1, (3, 64)).astype(np.float32)
    with qkv.Model.open(cfg, backend="scalar") as m:
        full = m.project(x)
        files = m.info()["files"]  # the weight files read, with their on-disk types
        assert [(os.path.realpath(f["path"]), f["types"]) for f in files] == [
            (os.path.realpath(os.path.join(root, "configs", "weights", "tiny.safetensors")),
             ["BF16"])], files
    with qkv.Model.from_arrays(*[np.ones((64, 64), np.float32)] * 3, layout="out_in") as m:
        assert m.info()["files"] == [], "a model from arrays read no file"
    # memory: scalar reads the arrays in place; openmp packs its own copy
    for name, needed in (("scalar", 1), ("openmp", 0)):
        with qkv.Model.from_arrays(*[np.ones((64, 64), np.float32)] * 3, layout="out_in",
                                   backend=name) as m:
            i = m.info()
            assert i["weights_needed"] == needed, (name, i)
            assert i["bytes_in_place"] == (3 * 64 * 64 * 4 if needed else 0), (name, i)
    # The same checkpoint through a {layer} config: layer=0 is the config's layer 0.
    with open(cfg) as f:
        text = re.sub(r"tensor: model\.layers\.0\.([^}\s]+)", r"tensor: 'model.layers.{layer}.\1'",
                      f.read())
    text = text.replace("file: weights/", "file: " + os.path.join(root, "configs", "weights") + "/")
    lcfg = os.path.join(tmpdir, "layer.yaml")
    with open(lcfg, "w") as f:
        f.write(text)
    try:
        qkv.Model.open(lcfg, backend="scalar")
    except qkv.QkvError as e:
        assert "layer" in e.message, e.message
    else:
        raise AssertionError("a {layer} config opened without a layer")
    # The config parser's hint for {layer} left unquoted in { } reaches Python too.
    ucfg = os.path.join(tmpdir, "unquoted.yaml")
    with open(ucfg, "w") as f:
        f.write(text.replace("'model.layers.{layer}.self_attn.k_proj.weight'",
                             "model.layers.{layer}.self_attn.k_proj.weight"))
    try:
        qkv.Model.open(ucfg, backend="scalar", layer=0)
    except qkv.QkvError as e:
        assert re.search(r"unquoted\.yaml:\d+:\d+: .*\{layer\} inside \{ \} must be quoted",
                         e.message), e.message
    else:
        raise AssertionError("an unquoted {layer} in { } opened")
    with qkv.Model.open(lcfg, backend="scalar", layer=0) as m:
        for a, b in zip(m.project(x), full):
            assert np.array_equal(a, b), "layer=0 differs from the config's layer 0"
    with qkv.Model.open(lcfg, backend="scalar,openmp", layer=0) as m:
        info = m.info()
        assert (info["order"], info["order_source"]) == (
            "scalar, openmp", "the API option `backend` (--backend)"), info
        assert info["in_place"] in range(8) and len(info["wbytes"]) == 3, info
    with qkv.Model.open(cfg, backend="scalar", shard="1/2") as m:
        info = m.info()
        assert (info["shard_rank"], info["shard_world"], info["n_heads"]) == (1, 2, 2), info
        q, k, v = m.project(x)
        assert np.array_equal(q, full[0][:, 32:]) and np.array_equal(k, full[1][:, 16:])
    with qkv.Model.open(cfg, backend="scalar", precision="int8",
                        plugin_dirs=[tmpdir]) as m:
        assert m.info()["precision"] == qkv.PRECISIONS["int8"]
        q, _, _ = m.project(x)
        assert not np.array_equal(q, full[0]) and np.abs(q - full[0]).max() < 0.1
    print("  layer=0, shard='1/2', precision='int8', plugin_dirs= applied; info files; "
          "the unquoted {layer} hint")


def machine_profile(tmpdir):
    """from_arrays(machine=...) applies a tuned machine profile (prefer, threads) under
    its own explicit arguments, as Model.open does."""
    path = os.path.join(tmpdir, "machine.yaml")
    with open(path, "w") as f:
        f.write("backend:\n  prefer: [scalar]\n  threads: 1\n")
    w = np.ones((4, 4), np.float32)
    with qkv.Model.from_arrays(w, w, w, layout="out_in", machine=path) as m:
        info = m.info()
        if (info["backend"], info["threads"]) != ("scalar", 1):
            raise AssertionError("profile not applied: %s, %d threads"
                                 % (info["backend"], info["threads"]))
    with qkv.Model.from_arrays(w, w, w, layout="out_in", machine=path, threads=2) as m:
        if m.info()["threads"] != 2:
            raise AssertionError("threads=2 did not beat the profile's threads: 1")
    try:
        qkv.Model.from_arrays(w, w, w, layout="out_in", machine=path + ".missing")
    except qkv.QkvError as e:
        assert path + ".missing" in e.message, e.message
    else:
        raise AssertionError("a missing machine profile was accepted")
    print("  machine profile: prefer [scalar], threads 1 applied; threads=2 wins over it")


def main(backends):
    if not backends:
        sys.exit("FAIL: no backend names given")
    print("python %s, numpy %s, libqkv %s" % (sys.version.split()[0], np.__version__,
                                               qkv.version()))
    rng = np.random.default_rng(12345)
    failed = []
    for name in backends:
        print("backend %s:" % name)
        try:
            one_backend(name, rng)
        except (AssertionError, qkv.QkvError) as e:
            print("  FAIL: %s" % e)
            failed.append(name)
    print("config:")
    seed_config(backends)
    print("threads:")
    for name in backends:
        threads_share_a_model(name, rng)
    print("errors:")
    errors_are_exceptions()
    print("layout:")
    layout_is_explicit(rng)
    print("float64:")
    float64_is_refused()
    print("skip and head-major outputs:")
    skip_and_head_major(rng)
    print("machine profile and open options:")
    import tempfile
    with tempfile.TemporaryDirectory() as tmpdir:
        machine_profile(tmpdir)
        open_options(tmpdir)
    if failed:
        sys.exit("FAIL: %s" % ", ".join(failed))
    print("PASS")


if __name__ == "__main__":
    main(sys.argv[1:])
