"""Compiled control flow (lower/regions.py, codegen/llvm_regions.py): compiled == eager (the ops' NumPy
references, run when the function is called on NumPy arrays) for scan, fori_loop, while_loop, cond and switch,
gradients against eager and finite differences, symbolic trip counts, and code size independent of the trip
count."""
import re

import numpy as np
import pytest

import compiler as cc
from compiler import pytree

rng = np.random.default_rng(0)


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def same(got, want, rtol=1e-5, atol=1e-6):
    g, tg = pytree.flatten(got)
    w, tw = pytree.flatten(want)
    assert tg == tw, (tg, tw)
    for a, b in zip(g, w):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def check(fn, *args, **tol):
    """Compiled fn == fn run eagerly; returns the compiled result."""
    want = fn(*args)
    got = cc.compile(fn)(*args)
    same(got, want, **tol)
    return got


# ---- scan ----

def rnn(params, h, xs):
    def step(h, x):
        h = np.tanh(h @ params["w"] + x @ params["u"] + params["b"])
        return h, h.sum(axis=1)
    return cc.scan(step, h, xs)


def test_scan_closure_over_params_matches_eager():
    p = {"w": _f32(4, 4) * 0.5, "u": _f32(3, 4), "b": _f32(4)}
    check(rnn, p, _f32(2, 4), _f32(7, 2, 3))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8])
def test_scan_trip_counts_odd_even_and_zero(n):
    def f(c, xs):
        return cc.scan(lambda c, x: (c * 0.5 + x, c + 1.0), c, xs)
    out = check(f, _f32(3), _f32(n, 3))
    assert out[1].shape == (n, 3)


def test_scan_pytrees_and_reverse():
    def f(init, xs):
        def step(c, x):
            a, b = c["a"], c["b"]
            na = a * x["u"] + b
            return {"a": na, "b": b - x["v"].sum()}, (na, {"s": na.sum() + b})
        return cc.scan(step, init, xs, reverse=True)
    init = {"a": _f32(3), "b": np.float32(0.5)}
    check(f, init, {"u": _f32(5, 3), "v": _f32(5, 2)})


def test_scan_xs_none_with_length_and_int_carries():
    def f(x):
        def step(c, _):
            i, acc = c
            return (i + 1, acc * 0.9 + x * i.astype(np.float32)), i * 2
        return cc.scan(step, (np.int32(0), np.zeros(3, np.float32)), None, length=6)
    out = check(f, _f32(3))
    assert out[1].dtype == np.int32 and list(out[1]) == [0, 2, 4, 6, 8, 10]


def test_scan_body_constants_and_unchanged_carry_are_fresh_outputs():
    k = np.arange(3, dtype=np.float32)

    def f(c, d, xs):
        def step(cd, x):
            c, d = cd
            return (c + x * k, d), (k * 2.0, c)      # d passes through unchanged; ys: a constant, the carry
        return cc.scan(step, (c, d), xs)
    c, d = _f32(3), _f32(2)
    (c1, d1), ys = check(f, c, d, _f32(4, 3))
    assert not np.shares_memory(d1, d) and not np.shares_memory(c1, c)
    (c0, d0), _ = cc.compile(f)(c, d, _f32(0, 3))
    np.testing.assert_array_equal(d0, d)
    assert not np.shares_memory(d0, d) and not np.shares_memory(c0, c)


def test_scan_float64_and_gemm_body():
    w = rng.standard_normal((5, 5)) * 0.3

    def f(h, xs):
        return cc.scan(lambda h, x: (np.tanh(h @ w + x), h @ w), h, xs)
    check(f, rng.standard_normal((4, 5)), rng.standard_normal((6, 4, 5)), rtol=1e-12, atol=1e-12)


# ---- fori_loop, while_loop ----

def test_fori_loop_static_bounds():
    def f(x):
        return cc.fori_loop(1, 6, lambda i, v: v * 0.5 + i.astype(np.float32), x)
    check(f, _f32(4))


def test_fori_loop_traced_bounds_is_a_while_loop():
    def f(lo, hi, x):
        return cc.fori_loop(lo, hi, lambda i, v: v + i.astype(np.float32) * v.sum(), x)
    g = cc.trace(f, np.int32(2), np.int32(5), _f32(3))
    assert any(n.prim.name == "while_loop" for n in g.nodes)
    x = _f32(3)
    for lo, hi in [(2, 5), (3, 3), (5, 2), (0, 1)]:
        same(cc.compile(f)(np.int32(lo), np.int32(hi), x), f(np.int32(lo), np.int32(hi), x))


def test_while_loop_matches_eager_including_zero_iterations():
    def f(x, limit):
        def cond(c):
            return c[1].sum() < limit

        def body(c):
            i, v = c
            return i + 1, v * 1.5 + 0.25
        return cc.while_loop(cond, body, (np.int64(0), x))
    x = np.abs(_f32(3)) + 0.1
    for limit in [np.float32(-1.0), np.float32(5.0), np.float32(50.0)]:
        i, v = check(f, x, limit)
        assert not np.shares_memory(v, x)


# ---- cond, switch ----

def test_cond_and_switch_clamp_the_index():
    def f(i, x, y):
        return cc.switch(i, [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: (a - b) * 2.0], x, y)
    x, y = _f32(3), _f32(3)
    cf = cc.compile(f)
    for i in [-3, 0, 1, 2, 7]:
        same(cf(np.int32(i), x, y), f(np.int32(i), x, y))

    def g(p, x):
        return cc.cond(p > 0, lambda v: (v.sum(), v * 2.0), lambda v: (v.max(), -v), x)
    for p in [np.float32(1.0), np.float32(-1.0)]:
        check(g, p, _f32(4))

    def ident(p, x):          # a branch returning its operand: the result is still a fresh array
        return cc.cond(p, lambda v: v, lambda v: v * 2.0, x)
    x = _f32(4)
    for p in [True, False]:
        out = check(ident, np.bool_(p), x)
        assert not np.shares_memory(out, x)


# ---- nesting ----

def test_nested_scan_in_scan_and_cond_in_scan():
    def f(h, xs):
        def outer(h, row):
            def inner(c, x):
                return c * 0.5 + x, c.sum()
            c, ys = cc.scan(inner, h, row)
            h2 = cc.cond(ys.sum() > 0, lambda a: a + 1.0, lambda a: a - 1.0, c)
            return h2, ys
        return cc.scan(outer, h, xs)
    check(f, _f32(3), _f32(4, 5, 3))


# ---- derivatives ----

def _loss(w, h, xs):
    def step(h, x):
        h = np.tanh(h @ w + x)
        return h, (h * h).sum()
    h, ys = cc.scan(step, h, xs)
    return ys.sum() + h.sum()


def test_grad_of_scan_compiled_matches_eager_and_finite_differences():
    w, h, xs = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal(3), rng.standard_normal((6, 3))
    eager = cc.grad(_loss, argnums=(0, 1, 2))(w, h, xs)
    comp = cc.compile(cc.grad(_loss, argnums=(0, 1, 2)))(w, h, xs)
    same(comp, eager, rtol=1e-10, atol=1e-12)
    cc.check_grads(_loss, (w, h, xs), order=1, modes=("rev",))
    eps, dw = 1e-6, np.zeros_like(w)          # the compiled gradient against central differences directly
    for i in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[i] = eps
        dw[i] = (_loss(w + e, h, xs) - _loss(w - e, h, xs)) / (2 * eps)
    np.testing.assert_allclose(comp[0], dw, rtol=1e-6, atol=1e-8)


def test_hessian_through_scan_compiled():
    h, xs = rng.standard_normal(2), rng.standard_normal((4, 2))

    def f(w):
        return _loss(w.reshape(2, 2), h, xs)
    w = rng.standard_normal(4) * 0.5
    same(cc.compile(cc.hessian(f))(w), cc.hessian(f)(w), rtol=1e-9, atol=1e-11)
    # and against finite differences of the gradient
    g = cc.grad(f)
    eps = 1e-6
    fd = np.stack([(g(w + eps * e) - g(w - eps * e)) / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(cc.compile(cc.hessian(f))(w), fd, rtol=1e-5, atol=1e-7)


# ---- symbolic trip counts, code size ----

def test_symbolic_length_serves_every_length_without_recompiling():
    def f(h, xs):
        return cc.scan(lambda c, x: (np.tanh(c + x), c * x), h, xs)
    cf = cc.compile(f)
    cf.lower(cc.Spec("f32[3]"), cc.Spec("f32[T,3]"))
    compiles = cf.cache_info()["compiles"]
    for n in [1, 4, 9, 2]:
        h, xs = _f32(3), _f32(n, 3)
        same(cf(h, xs), f(h, xs))
    assert cf.cache_info()["compiles"] == compiles


def test_llvm_ir_size_does_not_depend_on_the_trip_count():
    def make(n):
        def f(h):
            return cc.scan(lambda c, _: (np.tanh(c * 1.1 + 0.5), c.sum()), h, None, length=n)[0]
        return cc.compile(f).lower(_f32(8)).llvm_ir()
    a, b = make(10), make(1000)
    assert len(re.sub(r"\b1000\b", "10", b)) == len(a)
    assert "1000" in b


def test_index_checks_inside_a_scan_body_raise():
    def f(t, idx):
        return cc.scan(lambda c, i: (c + (t + c * 0)[i], c), np.float32(0), idx)     # t traced in the body
    t = _f32(5)
    check(f, t, np.array([0, 4, 2], np.int64))
    with pytest.raises(IndexError):
        cc.compile(f)(t, np.array([0, 9, 2], np.int64))


# ---- passes and fusion inside regions ----

def test_unread_ys_are_dropped_and_bodies_optimized():
    from compiler.passes import run_pipeline, GENERIC_PIPELINE

    def f(h, xs):
        def step(c, x):
            a = np.exp(c) + x
            b = np.exp(c) + x            # CSE inside the body
            return a * b, (a.sum(), b * 3.0)
        c, (s, _) = cc.scan(step, h, xs)
        return c
    g = run_pipeline(cc.trace(f, _f32(3), _f32(4, 3)), GENERIC_PIPELINE)
    scan = [n for n in g.nodes if n.prim.name == "scan"][0]
    body = scan.params["body"]
    assert len(scan.out.type) == 1 and len(body.outputs) == 1     # both ys gone
    assert sum(n.prim.name == "exp" for n in body.nodes) == 1
    assert not any(n.prim.name == "reduce_sum" for n in body.nodes)
    check(f, _f32(3), _f32(4, 3))


def test_body_is_fused_and_printed_as_a_nested_program():
    low = cc.compile(rnn).lower({"w": _f32(4, 4), "u": _f32(3, 4), "b": _f32(4)}, _f32(2, 4), _f32(7, 2, 3))
    prog = low.kernels
    text = str(prog)
    # x @ u of every step is one gemm before the loop (scan_motion); the body keeps h @ w and the elementwise
    assert [k.kind for k in prog.kernels] == ["gemm", "scan"]
    assert "m=14 n=4 k=3" in str(prog.kernels[0])
    body = prog.kernels[1].programs["body"]
    assert 1 <= len(body.kernels) <= 3 and sum("gemm<" in str(k) for k in body.kernels) == 1
    assert "program k1_region.body" in text and "scan length 7" in text
    assert "get" not in " ".join(n.prim.name for k in prog.kernels for n in k.nodes)


def test_dump_shows_regions_at_every_stage():
    import importlib
    dump = importlib.import_module("compiler.dump")     # (cc.dump is the function of that name)

    def f(h, xs):
        return cc.scan(lambda c, x: (np.tanh(c * 0.5 + x), c.sum()), h, xs)
    stages = {s.name: s.text for s in dump.collect(f, (cc.Spec("f32[3]"), cc.Spec("f32[T,3]")), want=("all",))}
    for name in ("traced", "optimize_regions", "fuse"):
        assert "= scan" in stages[name] and "graph body(" in stages[name], name
    k = stages["kernels"]
    assert "kernel k0_region  # scan; " in k and "scan length T" in k
    assert "    program k0_region.body" in k and "    kernel k0_region.body.k0_loop" in k


# ---- the cuda backend: body kernels in the PTX (tests/gpu/test_cuda_regions.py runs them) ----

def test_cuda_emits_body_kernels_with_their_steps():
    from compiler.codegen import ptx_support as px
    p = {"w": _f32(4, 4), "u": _f32(3, 4), "b": _f32(4)}
    cf = cc.compile(rnn, backend="cuda")
    low = cf.lower(p, _f32(2, 4), _f32(7, 2, 3))
    ptx = low.ptx()
    entries = re.findall(r"\.entry (\w+)", ptx)
    # x @ u of every step: one launch before the loop (scan_motion); the rest are the body's kernels
    assert entries[0] == "vive_rnn_k0_gemm_0" and entries[1:] and all("k1_region_body" in e for e in entries[1:])
    (_, step) = low.gpu_program.steps
    assert step[0] == "region" and step[1].kind == "scan" and step[2]["body"][0][0] == "launches"
    if px.assembler_available():
        assert px.assemble(ptx)


# ---- compile time does not grow with the trip count ----

H = 32


def lstm_loss(p, xs, y):
    def step(c, x):
        h, s = c
        z = x @ p["wx"] + h @ p["wh"] + p["b"]
        i, f, o = (1 / (1 + np.exp(-z[:, k * H:(k + 1) * H])) for k in range(3))
        s = f * s + i * np.tanh(z[:, 3 * H:])
        h = o * np.tanh(s)
        return (h, s), h.sum()
    zero = np.zeros((xs.shape[1], H), np.float32)
    (h, s), hs = cc.scan(step, (zero, zero), xs)
    return cc.nn.cross_entropy(h @ p["wo"], y) + 1e-3 * hs.mean()


@pytest.mark.slow
def test_lstm_step_compile_time_and_code_do_not_grow_with_the_sequence():
    import time
    p = {"wx": _f32(8, 4 * H) * 0.1, "wh": _f32(H, 4 * H) * 0.1, "b": np.zeros(4 * H, np.float32),
         "wo": _f32(H, 10) * 0.1}
    y = rng.integers(0, 10, 4)
    secs, irs = {}, {}
    for T in (32, 1000):
        xs = _f32(T, 4, 8)
        step = cc.compile(cc.value_and_grad(lstm_loss))
        t0 = time.process_time()
        low = step.lower(p, xs, y)
        secs[T] = time.process_time() - t0
        irs[T] = low.llvm_ir()
        if T == 32:          # compiled == eager (the NumPy references of the loops)
            v, g = step(p, xs, y)
            ve, ge = cc.value_and_grad(lstm_loss)(p, xs, y)
            same((v, g), (ve, ge), rtol=2e-4, atol=1e-6)
    # the same code but for constants derived from the trip count (1000 vs 32, 1/1000 vs 1/32, ...) and the
    # thread hand-off around a gemm over all steps, which is big enough for it at 1000 (a few lines)
    lines = {T: len(ir.splitlines()) for T, ir in irs.items()}
    assert abs(lines[1000] - lines[32]) <= 16, lines
    assert secs[1000] < 2.5 * secs[32] + 1.0, secs


# ---- more nesting and transforms ----

def test_while_in_scan_and_scan_in_cond():
    def f(h, xs):
        def step(c, x):
            c2, _ = cc.while_loop(lambda v: v[1] < 3, lambda v: (v[0] * 0.9 + x, v[1] + 1), (c, np.int32(0)))
            return c2, c2.sum()
        c, s = cc.scan(step, h, xs)
        return cc.cond(s.sum() > 0, lambda a: cc.scan(lambda c, x: (c + x, c), a, xs)[0], lambda a: a * 2.0, c)
    check(f, _f32(3), _f32(4, 3))
    check(f, -np.abs(_f32(3)) - 2.0, -np.abs(_f32(4, 3)))


def test_jacfwd_through_while_and_jacfwd_equals_jacrev_through_scan_compiled():
    def g(x):
        return cc.while_loop(lambda v: v[0] < 5, lambda v: (v[0] + 1, np.sin(v[1]) * 1.1), (0, x))[1]
    x = rng.standard_normal(3)
    same(cc.compile(cc.jacfwd(g))(x), cc.jacfwd(g)(x), rtol=1e-12, atol=1e-12)

    def m(w):
        return cc.scan(lambda c, x: (np.tanh(c * w + x), c), np.ones(3), np.arange(12.).reshape(4, 3) * 0.1)[0]
    w = rng.standard_normal(3)
    same(cc.compile(cc.jacfwd(m))(w), cc.compile(cc.jacrev(m))(w), rtol=1e-12, atol=1e-12)
    same(cc.compile(cc.jacrev(m))(w), cc.jacrev(m)(w), rtol=1e-12, atol=1e-12)


def test_symbolic_sizes_inside_the_body():
    def k(h, xs):
        tot = xs.sum(axis=0)          # a const of the body with a symbolic size
        return cc.scan(lambda c, x: (c * 0.5 + x * tot, (c * tot).sum()), h, xs)
    cf = cc.compile(k)
    cf.lower(cc.Spec("f32[N]"), cc.Spec("f32[T,N]"))
    n = cf.cache_info()["compiles"]
    for T, N in [(3, 4), (5, 2), (1, 7)]:
        h, xs = _f32(N), _f32(T, N)
        same(cf(h, xs), k(h, xs))
    assert cf.cache_info()["compiles"] == n


def test_big_body_constant():
    K = _f32(40, 40) * 0.2

    def q(h, xs):
        return cc.scan(lambda c, x: (np.tanh(c @ K + x), c), h, xs)
    check(q, _f32(40), _f32(6, 40), rtol=1e-4, atol=1e-4)


def test_check_sites_inside_regions_key_the_program_cache():
    from compiler.lower.checks import site_key

    def f(t, idx):
        return cc.scan(lambda c, i: (c + (t + c * 0)[i], c), np.float32(0), idx)
    g = cc.trace(f, _f32(5), np.array([0, 1]))
    assert "test_lowering.py" in site_key(g)


# ---- a carry returned as it came in (a residual) lives in the rows of that y: no copy per step ----

@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 6])
def test_carry_returned_as_it_came_in_is_kept_in_the_rows_of_its_y(n, reverse):
    def f(h, s, xs):
        def step(c, x):
            h, s = c
            h2 = np.tanh(h * 0.9 + x)
            return (h2, s + h2), (h, s, h2 * 2.0, h)          # h twice, s once, as they came in
        return cc.scan(step, (h, s), xs, reverse=reverse)
    args = (_f32(2, 3), _f32(2, 3), _f32(n, 2, 3))
    low = cc.compile(f).lower(*args)
    (k,) = [k for k in low.kernels.kernels if k.kind == "scan"]
    assert "carry 0 in the rows of" in str(k) and "carry 1 in the rows of" in str(k)
    # one copy kernel remains: the second y returning h (its rows are not h's buffers)
    assert sum(b.name.rsplit(".", 1)[-1].startswith("copy") for b in k.programs["body"].kernels) == 1
    same(low(*args), f(*args))


def test_carry_rows_through_the_gradient_of_an_rnn():
    def loss(w, xs):
        def step(h, x):
            return np.tanh(h @ w + x), None
        return (cc.scan(step, np.zeros((2, 3), np.float32), xs)[0] ** 2).sum()
    w, xs = _f32(3, 3) * 0.5, _f32(5, 2, 3)
    grad = cc.grad(loss)
    low = cc.compile(grad).lower(w, xs)
    fwd = [k for k in low.kernels.kernels if k.kind == "scan" and not k.info["reverse"]][0]
    assert fwd.info["rows"] and not any(b.name.rsplit(".", 1)[-1].startswith("copy") for b in fwd.programs["body"].kernels)
    same(low(w, xs), grad(w, xs), rtol=1e-5, atol=1e-6)
