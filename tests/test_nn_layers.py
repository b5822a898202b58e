"""cc.nn layers that are compositions (activations, norms, embedding, attention, average pooling): values against
direct NumPy loops / formulas in float64 (math.erf for gelu), eagerly, traced and compiled; gradients against
central differences (cc.check_grads, float64)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler import nn

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def fresh_rng():
    """Each test draws the same data however tests are selected or distributed (-k, -n 2)."""
    global RNG
    RNG = np.random.default_rng(0)


def both(f, *args, rtol=1e-6, atol=1e-7):
    """f eager, through cc.trace + cc.interpret, and compiled: all equal (the reference interpreter and the
    compiled code must agree with the eager NumPy evaluation)."""
    eager = f(*args)
    g = cc.trace(f, *args)
    traced = cc.interpret(g, *args)
    traced = traced[0] if isinstance(traced, (list, tuple)) else traced
    compiled = cc.compile(f)(*args)
    np.testing.assert_allclose(traced, eager, rtol=rtol, atol=atol)
    np.testing.assert_allclose(compiled, eager, rtol=rtol, atol=atol)
    assert np.asarray(compiled).dtype == np.asarray(eager).dtype
    return eager


# ---- activations ----

def phi(v):
    return 0.5 * math.erfc(-v / math.sqrt(2.0))


X1 = np.concatenate([np.linspace(-12, 12, 97), [0.0, 1e-8, -1e-8, 40.0, -40.0, 700.0, -700.0]])

ACT = {
    "gelu": (nn.gelu, lambda v: v * phi(v)),
    "gelu_tanh": (lambda x: nn.gelu(x, approximate="tanh"),
                  # 0.5 v (1 + tanh z) = v / (1 + e^(-2z)), written so the reference has no cancellation
                  lambda v: v / (1 + math.exp(min(-2 * math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3), 700)))),
    "silu": (nn.silu, lambda v: v / (1 + math.exp(-v)) if v > -700 else v * math.exp(v)),
    "softplus": (nn.softplus, lambda v: max(v, 0.0) + math.log1p(math.exp(-abs(v)))),
    "elu": (nn.elu, lambda v: v if v > 0 else math.expm1(v)),
    "elu_a": (lambda x: nn.elu(x, alpha=0.3), lambda v: v if v > 0 else 0.3 * math.expm1(v)),
    "leaky": (nn.leaky_relu, lambda v: v if v > 0 else 0.01 * v),
    "leaky_s": (lambda x: nn.leaky_relu(x, slope=0.2), lambda v: v if v > 0 else 0.2 * v),
    "erf": (nn.erf, math.erf),
    "erfc": (nn.erfc, math.erfc),
}


@pytest.mark.parametrize("name", sorted(ACT))
def test_activation_values_f64(name):
    f, ref = ACT[name]
    want = np.array([ref(float(v)) for v in X1])
    got = both(f, X1, rtol=1e-12, atol=1e-300)
    # relative accuracy everywhere, tails included (erfc(40) ~ 1e-697 underflows to 0 in both)
    np.testing.assert_allclose(got, want, rtol=5e-12 if name != "erfc" else 1e-5, atol=1e-300)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("name", sorted(ACT))
def test_activation_values_f32(name):
    f, ref = ACT[name]
    x = X1[np.abs(X1) < 50].astype(np.float32)
    want = np.array([ref(float(v)) for v in x])
    got = both(f, x, rtol=2e-6, atol=1e-30)
    assert got.dtype == np.float32
    # erfc's tail is ill-conditioned: float32 rounding of x^2 alone moves erfc(a) by ~a^2 ulps
    np.testing.assert_allclose(got, want, rtol=5e-5 if name in ("gelu", "erfc") else 3e-6, atol=1e-37)


@pytest.mark.parametrize("name", sorted(ACT))
def test_activation_gradients(name):
    f, _ = ACT[name]
    x = np.concatenate([RNG.uniform(-4, 4, 12), [-7.5, 6.5, 2.5, -0.3]])     # both sides of erf's pieces
    cc.check_grads(lambda x: f(x), (x,), order=1)


def test_gelu_exact_derivative_is_phi_plus_x_pdf():
    x = np.linspace(-9, 9, 37)
    g = cc.compile(cc.grad(lambda x: np.sum(nn.gelu(x))))(x)
    want = np.array([phi(v) + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in x])
    np.testing.assert_allclose(g, want, rtol=1e-11, atol=1e-14)


def test_softplus_derivative_at_zero_and_no_overflow():
    d = cc.grad(lambda x: np.sum(nn.softplus(x)))(np.array([0.0, 800.0, -800.0]))
    np.testing.assert_allclose(d, [0.5, 1.0, 0.0], atol=1e-300)
    assert np.all(np.isfinite(cc.grad(lambda x: np.sum(nn.gelu(x) + nn.elu(x) + nn.silu(x)))(np.array([-800.0, 800.0]))))


def test_gelu_bad_approximate():
    with pytest.raises(cc.ViveError, match="approximate"):
        nn.gelu(np.ones(2), approximate="fast")


# ---- layer norm, batch norm ----

def test_layer_norm_against_loop():
    x = RNG.standard_normal((3, 4, 7))
    s, b = RNG.standard_normal(7), RNG.standard_normal(7)
    want = np.empty_like(x)
    for i in range(3):
        for j in range(4):
            row = x[i, j]
            mu = math.fsum(row) / 7
            var = math.fsum((r - mu) ** 2 for r in row) / 7
            want[i, j] = (row - mu) / math.sqrt(var + 1e-5) * s + b
    got = both(lambda x, s, b: nn.layer_norm(x, s, b), x, s, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nn.layer_norm(x), (want - b) / s, rtol=1e-10, atol=1e-10)
    cc.check_grads(lambda x, s, b: nn.layer_norm(x, s, b, eps=1e-3), (x, s, b))


def bn_loop(x, s, b, mean=None, var=None, eps=1e-5):
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        vals = x[:, ch].ravel()
        m = math.fsum(vals) / vals.size if mean is None else mean[ch]
        v = math.fsum((u - m) ** 2 for u in vals) / vals.size if var is None else var[ch]
        out[:, ch] = (x[:, ch] - m) / math.sqrt(v + eps) * s[ch] + b[ch]
    return out


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_training_and_eval(shape):
    x = RNG.standard_normal(shape) * 2 + 1
    c = shape[1]
    s, b = RNG.standard_normal(c), RNG.standard_normal(c)
    got = both(lambda x, s, b: nn.batch_norm(x, s, b), x, s, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, bn_loop(x, s, b), rtol=1e-11, atol=1e-11)
    rm, rv = RNG.standard_normal(c), RNG.uniform(0.5, 2, c)
    got = both(lambda x, s, b, m, v: nn.batch_norm(x, s, b, m, v), x, s, b, rm, rv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, bn_loop(x, s, b, rm, rv), rtol=1e-11, atol=1e-11)
    cc.check_grads(lambda x, s, b: nn.batch_norm(x, s, b, eps=1e-2), (x, s, b))
    cc.check_grads(lambda x, m, v: nn.batch_norm(x, s, b, m, v), (x, rm, rv))


def test_running_stats_pytorch_convention():
    x = RNG.standard_normal((4, 3, 2, 5))
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(2):
        new = cc.compile(lambda rm, rv, x: nn.update_running_stats(rm, rv, x, momentum=0.2))(rm, rv, x)
        vals = [x[:, ch].ravel() for ch in range(3)]
        mu = np.array([math.fsum(v) / v.size for v in vals])
        unb = np.array([math.fsum((u - m) ** 2 for u in v) / (v.size - 1) for v, m in zip(vals, mu)])
        rm, rv = 0.8 * rm + 0.2 * mu, 0.8 * rv + 0.2 * unb
        np.testing.assert_allclose(new[0], rm, rtol=1e-12)
        np.testing.assert_allclose(new[1], rv, rtol=1e-12)
        rm, rv = new
    m, v = nn.batch_norm_stats(x)
    np.testing.assert_allclose(v, np.var(x, axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(m, np.mean(x, axis=(0, 2, 3)), rtol=1e-12)
    with pytest.raises(cc.ShapeError, match="2 or more"):
        nn.update_running_stats(np.zeros(3), np.ones(3), np.ones((1, 3)))


def test_batch_norm_errors():
    with pytest.raises(cc.ShapeError, match="at least 2 axes"):
        nn.batch_norm(np.ones(3))
    with pytest.raises(ValueError, match="both mean and var"):
        nn.batch_norm(np.ones((2, 3)), mean=np.zeros(3))


def test_batch_norm_symbolic_batch():
    f = lambda x, s, b: nn.batch_norm(x, s, b)
    g = cc.trace(f, cc.Spec("f32[N,3,4,4]"), cc.Spec("f32[3]"), cc.Spec("f32[3]"))
    x = RNG.standard_normal((5, 3, 4, 4)).astype(np.float32)
    s, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    np.testing.assert_allclose(cc.interpret(g, x, s, b)[0], bn_loop(x.astype(np.float64), s, b), rtol=1e-4,
                               atol=1e-5)


# ---- embedding, attention ----

def test_embedding_values_and_gradient():
    table = RNG.standard_normal((10, 4))
    ids = np.array([[1, 3, 3], [9, 0, -1]])
    got = both(nn.embedding, table, ids, rtol=0, atol=0)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(got[i, j], table[ids[i, j]])
    gt = cc.grad(lambda t: np.sum(nn.embedding(t, ids) * np.arange(4.0)))(table)
    want = np.zeros_like(table)
    for i in ids.ravel():
        want[i] += np.arange(4.0)                      # repeated ids accumulate
    np.testing.assert_allclose(gt, want)
    with pytest.raises(cc.DTypeError, match="integers"):
        nn.embedding(table, ids.astype(np.float32))


def attn_loop(q, k, v, mask=None):
    *lead, lq, d = q.shape
    lk = k.shape[-2]
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for idx in np.ndindex(*lead):
        for i in range(lq):
            s = [math.fsum(q[idx][i] * k[idx][j]) / math.sqrt(d) for j in range(lk)]
            keep = [True] * lk if mask is None else [bool(np.broadcast_to(mask, lead + [lq, lk])[idx][i, j])
                                                     for j in range(lk)]
            if not any(keep):
                continue                                # fully masked: 0
            m = max(sj for sj, kj in zip(s, keep) if kj)
            w = [math.exp(sj - m) if kj else 0.0 for sj, kj in zip(s, keep)]
            tot = math.fsum(w)
            out[idx][i] = sum(wj / tot * v[idx][j] for j, wj in enumerate(w))
    return out


def test_attention_against_loop():
    q, k, v = RNG.standard_normal((2, 3, 4, 8)), RNG.standard_normal((2, 3, 5, 8)), RNG.standard_normal((2, 3, 5, 6))
    got = both(nn.attention, q, k, v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, attn_loop(q, k, v), rtol=1e-10, atol=1e-12)
    cc.check_grads(nn.attention, (q, k, v))


def test_attention_mask_causal_and_fully_masked():
    q, k, v = RNG.standard_normal((2, 4, 8)) * 5, RNG.standard_normal((2, 4, 8)) * 5, RNG.standard_normal((2, 4, 3))
    causal = np.tril(np.ones((4, 4), bool))
    causal[0, 0] = False                                # row 0 masked out entirely
    got = both(nn.attention, q, k, v, causal, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, attn_loop(q, k, v, causal), rtol=1e-10, atol=1e-12)
    assert np.all(got[:, 0] == 0)
    grads = cc.grad(lambda q, k, v: np.sum(nn.attention(q, k, v, causal) ** 2), argnums=(0, 1, 2))(q, k, v)
    assert all(np.all(np.isfinite(g)) for g in grads)
    cc.check_grads(lambda q, k, v: nn.attention(q, k, v, causal), (q, k, v))
    with pytest.raises(cc.DTypeError, match="boolean"):
        nn.attention(q, k, v, causal.astype(np.float64))


def test_attention_f32_large_logits_stay_finite():
    q = (RNG.standard_normal((3, 8)) * 100).astype(np.float32)
    out = cc.compile(nn.attention)(q, q, q)
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, attn_loop(q.astype(np.float64), q.astype(np.float64), q.astype(np.float64)),
                               rtol=1e-3, atol=1e-3)


# ---- pooling ----

def avg_loop(x, kh, kw, sh, sw):
    n, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((n, c, ho, wo))
    for a in range(n):
        for b in range(c):
            for i in range(ho):
                for j in range(wo):
                    out[a, b, i, j] = math.fsum(x[a, b, i * sh:i * sh + kh, j * sw:j * sw + kw].ravel()) / (kh * kw)
    return out


@pytest.mark.parametrize("size,stride", [(2, None), (3, None), ((2, 3), None), (3, 1), (3, 2), ((2, 3), (1, 2)),
                                         (1, 1)])
def test_avg_pool2d_against_loop(size, stride):
    x = RNG.standard_normal((2, 3, 7, 8))
    kh, kw = (size, size) if isinstance(size, int) else size
    sh, sw = (kh, kw) if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    got = both(lambda x: nn.avg_pool2d(x, size, stride), x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, avg_loop(x, kh, kw, sh, sw), rtol=1e-12, atol=1e-12)
    cc.check_grads(lambda x: nn.avg_pool2d(x, size, stride), (x,))


def test_avg_pool2d_f32_symbolic_batch_and_errors():
    x = RNG.standard_normal((3, 2, 6, 6)).astype(np.float32)
    g = cc.trace(lambda x: nn.avg_pool2d(x, 2), cc.Spec("f32[N,2,6,6]"))
    np.testing.assert_allclose(cc.interpret(g, x)[0], avg_loop(x.astype(np.float64), 2, 2, 2, 2), rtol=1e-6,
                               atol=1e-6)
    with pytest.raises(cc.ShapeError, match="larger"):
        nn.avg_pool2d(x, 7)
    with pytest.raises(cc.ShapeError, match="NCHW"):
        nn.avg_pool2d(x[0], 2)


def test_global_avg_pool2d():
    x = RNG.standard_normal((2, 3, 4, 5))
    got = both(nn.global_avg_pool2d, x, rtol=1e-12, atol=1e-12)
    want = np.array([[math.fsum(x[a, b].ravel()) / 20 for b in range(3)] for a in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert nn.global_avg_pool2d(x, keepdims=True).shape == (2, 3, 1, 1)
    cc.check_grads(nn.global_avg_pool2d, (x,))


def test_small_cnn_step_with_new_layers_compiles():
    # batch norm + avg pool + gelu + global pooling + layer norm in one compiled training step, equal to eager
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    p = {"w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32) * 0.3, "s": np.ones(4, np.float32),
         "b": np.zeros(4, np.float32), "wo": rng.standard_normal((4, 3)).astype(np.float32)}

    def loss(p, x, y):
        h = nn.gelu(nn.batch_norm(nn.conv2d(x, p["w"], padding=1), p["s"], p["b"]))
        h = nn.global_avg_pool2d(nn.avg_pool2d(h, 2))
        return nn.cross_entropy(nn.layer_norm(h) @ p["wo"], y)

    def step(p, x, y):
        l, g = cc.value_and_grad(loss)(p, x, y)
        return {k: p[k] - 0.1 * g[k] for k in p}, l

    pe, le = step(p, x, y)
    pc, lc = cc.compile(step)(p, x, y)
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    for k in p:
        np.testing.assert_allclose(pc[k], pe[k], rtol=1e-4, atol=1e-5)


def test_running_stats_symbolic_batch():
    g = cc.trace(lambda rm, rv, x: nn.update_running_stats(rm, rv, x), cc.Spec("f64[3]"), cc.Spec("f64[3]"),
                 cc.Spec("f64[N,3,2]"))
    for n in (2, 5):
        x = RNG.standard_normal((n, 3, 2))
        rm, rv = cc.interpret(g, np.zeros(3), np.ones(3), x)
        np.testing.assert_allclose(rm, 0.1 * x.mean(axis=(0, 2)), rtol=1e-12)
        np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)
