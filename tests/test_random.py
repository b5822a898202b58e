"""cc.random: JAX's numbers (jax.random as the oracle where installed), eager == compiled with traced keys,
statistics with fixed keys, derivatives, errors; and the u32 dtype it rests on."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc

R = cc.random
try:
    import jax
    import jax.numpy as jnp
except ImportError:          # the `bench` extra
    jax = None
needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed (pip install -e '.[bench]')")


def jkey(k):
    return jnp.asarray(np.asarray(k, np.uint32))


# ---- jax.random as the oracle: bit for bit ----

@needs_jax
@pytest.mark.parametrize("seed", [0, 42, 2 ** 31 + 5, 2 ** 32 - 1, np.uint32(7), np.int32(123)])
def test_key_is_jax_key(seed):
    got = R.key(seed)
    assert got.dtype == np.uint32 and got.shape == (2,)
    np.testing.assert_array_equal(got, jax.random.PRNGKey(seed))
    np.testing.assert_array_equal(R.PRNGKey(seed), got)


@needs_jax
def test_64_bit_seeds_keep_their_high_word_as_jax_x64():
    with jax.enable_x64(True):
        for seed in (-1, 2 ** 40 + 3, -2 ** 40, np.int64(-7)):
            np.testing.assert_array_equal(R.key(seed), jax.random.PRNGKey(seed))


@needs_jax
@pytest.mark.parametrize("seed", [0, 987654321])
def test_split_fold_in_bits_uniform_are_jax_bits(seed):
    k, jk = R.key(seed), jax.random.PRNGKey(seed)
    for num in (1, 5, (2, 3)):
        np.testing.assert_array_equal(R.split(k, num), jax.random.split(jk, num))
    for d in (0, 7, 2 ** 32 - 1):
        np.testing.assert_array_equal(R.fold_in(k, d), jax.random.fold_in(jk, d))
    for shape in ((), (7,), (2, 3, 4)):
        np.testing.assert_array_equal(R.bits(k, shape), jax.random.bits(jk, shape))
        u, ju = R.uniform(k, shape), jax.random.uniform(jk, shape)
        assert u.dtype == np.float32 and u.shape == shape
        np.testing.assert_array_equal(u, ju)
    np.testing.assert_array_equal(R.uniform(k, (500,), minval=-2.0, maxval=3.0),
                                  jax.random.uniform(jk, (500,), minval=-2.0, maxval=3.0))
    lo, hi = np.linspace(-3, 1, 40, dtype=np.float32), np.float32(7.5)
    np.testing.assert_array_equal(R.uniform(k, (40,), minval=lo, maxval=hi),
                                  jax.random.uniform(jk, (40,), minval=lo, maxval=hi))


@needs_jax
def test_float64_uniform_is_jax_x64():
    with jax.enable_x64(True):
        k = R.key(11)
        got = R.uniform(k, (300,), np.float64)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, jax.random.uniform(jkey(k), (300,), jnp.float64))
        np.testing.assert_allclose(R.normal(k, (300,), np.float64), jax.random.normal(jkey(k), (300,), jnp.float64),
                                   rtol=1e-13, atol=1e-13)


@needs_jax
def test_normal_bernoulli_randint_permutation_choice_follow_jax():
    k = R.key(2024)
    jk = jkey(k)
    # normal: the same uniforms through the same erfinv polynomial; its last bits differ (log1p, evaluation order)
    np.testing.assert_allclose(R.normal(k, (4000,)), jax.random.normal(jk, (4000,)), rtol=4e-6, atol=4e-7)
    np.testing.assert_array_equal(R.bernoulli(k, 0.3, (1000,)), jax.random.bernoulli(jk, 0.3, (1000,)))
    p = np.linspace(0, 1, 50, dtype=np.float32)
    np.testing.assert_array_equal(R.bernoulli(k, p), jax.random.bernoulli(jk, p))
    for lo, hi in ((0, 10), (-5, 17), (-2 ** 31, 2 ** 31 - 1), (3, 3), (5, 2)):
        np.testing.assert_array_equal(R.randint(k, (500,), lo, hi), jax.random.randint(jk, (500,), lo, hi))
    with jax.enable_x64(True):                    # int64 bounds past int32: clipped, the span one larger
        hi = np.int64(2 ** 40)
        np.testing.assert_array_equal(R.randint(k, (500,), -3, hi, np.int32),
                                      jax.random.randint(jk, (500,), -3, hi, jnp.int32))
    for n in (1, 10, 2000):                       # 2000: two sorting rounds
        np.testing.assert_array_equal(R.permutation(k, n), jax.random.permutation(jk, n))
    x = np.arange(24).reshape(6, 4)
    np.testing.assert_array_equal(R.permutation(k, x), jax.random.permutation(jk, x))
    np.testing.assert_array_equal(R.permutation(k, x, axis=1), jax.random.permutation(jk, x, axis=1))
    np.testing.assert_array_equal(R.choice(k, 10, (3, 4)), jax.random.choice(jk, 10, (3, 4)))
    np.testing.assert_array_equal(R.choice(k, x, (5,), replace=False), jax.random.choice(jk, x, (5,), replace=False))
    w = np.array([0.25, 0.5, 0.125, 0.125, 0.0, 0.0], np.float32)          # dyadic: the cumulative sums are exact
    np.testing.assert_array_equal(R.choice(k, 6, (40,), p=w), jax.random.choice(jk, 6, (40,), p=w))
    np.testing.assert_array_equal(R.choice(k, x, (2, 3), p=w), jax.random.choice(jk, x, (2, 3), p=w))


# ---- eager == compiled, keys traced ----

def _everything(k, seed, d):
    k2 = R.fold_in(k, d)
    a, b = R.split(k2)
    return (R.key(seed), R.split(k, 3), k2, R.bits(a, (3, 4)), R.uniform(a, (5,)), R.uniform(b, (2, 3), np.float64),
            R.uniform(a, (4,), minval=-1.5, maxval=2.0), R.normal(b, (64,)), R.normal(a, (6,), np.float64),
            R.bernoulli(a, 0.3, (7,)), R.randint(b, (8,), 3, 90), R.permutation(a, 12),
            R.choice(b, 9, (4,), replace=False))


def _same(want, got):
    for i, (w, g) in enumerate(zip(want, got)):
        assert w.dtype == g.dtype and w.shape == g.shape, (i, w.dtype, g.dtype, w.shape, g.shape)
        if i in (7, 8):          # normal: the compiled log1p / sqrt / erf may differ from NumPy's in the last bit
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=2e-6)
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}")


def test_compiled_equals_eager_for_every_function_and_new_keys_do_not_recompile():
    f = cc.compile(_everything)
    outs = []
    for seed, d in ((77, 12), (-5, 2 ** 33 + 1), (0, 0)):
        k = R.key(seed)
        args = (k, np.int64(seed), np.int64(d))
        got = f(*args)
        _same(_everything(*args), got)
        outs.append(got)
    assert f.cache_info()["compiles"] == 1
    assert not np.array_equal(outs[0][3], outs[1][3])          # another key, other bits


def test_interpreter_and_traced_graph_agree():
    g = cc.trace(lambda k: R.uniform(k, (3, 4)) + R.normal(R.fold_in(k, 1), (3, 4)), cc.Spec("u32[2]"))
    k = R.key(5)
    want = R.uniform(k, (3, 4)) + R.normal(R.fold_in(k, 1), (3, 4))
    np.testing.assert_allclose(cc.interpret(g, k)[0], want, rtol=1e-6)
    assert "threefry2x32" in str(g)


def test_symbolic_shape_draw():
    f = cc.compile(lambda x, k: x * R.uniform(k, x.shape))
    f.lower(cc.Spec("f32[N,3]"), cc.Spec("u32[2]"))
    k = R.key(9)
    for n in (1, 4, 7):
        x = np.ones((n, 3), np.float32)
        np.testing.assert_array_equal(f(x, k), R.uniform(k, (n, 3)))
    assert f.cache_info()["compiles"] == 1


# ---- statistics, fixed keys ----

def _ks(sample, cdf):
    s = np.sort(sample.astype(np.float64))
    n = len(s)
    c = cdf(s)
    return max(np.max(np.arange(1, n + 1) / n - c), np.max(c - np.arange(n) / n))


def test_uniform_and_normal_statistics():
    n = 100_000
    for dt in (np.float32, np.float64):
        u = R.uniform(R.key(1), (n,), dt)
        assert u.min() >= 0 and u.max() < 1
        assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
        assert abs(u.var() - 1 / 12) < 0.003
        assert _ks(u, lambda s: s) < 1.63 / math.sqrt(n)      # KS at the 1% level
        z = R.normal(R.key(2), (n,), dt)
        assert np.isfinite(z).all()
        assert abs(z.mean()) < 5 / math.sqrt(n) and abs(z.var() - 1) < 0.02
        assert _ks(z, lambda s: 0.5 * (1 + np.vectorize(math.erf)(s / math.sqrt(2)))) < 1.63 / math.sqrt(n)
    r = R.uniform(R.key(3), (n,), minval=-2.0, maxval=6.0)
    assert r.min() >= -2 and r.max() < 6 and abs(r.mean() - 2) < 0.05


def test_randint_bernoulli_permutation_statistics():
    n = 60_000
    v = R.randint(R.key(4), (n,), -3, 7)
    assert v.dtype == np.int32 and v.min() == -3 and v.max() == 6
    counts = np.bincount(v + 3, minlength=10)
    chi2 = np.sum((counts - n / 10) ** 2 / (n / 10))
    assert chi2 < 27.9                                          # chi-square, 9 dof, 0.1% level
    b = R.bernoulli(R.key(5), 0.2, (n,))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.2) < 5 * math.sqrt(0.16 / n)
    p = R.permutation(R.key(6), 1000)
    np.testing.assert_array_equal(np.sort(p), np.arange(1000))
    # distinct keys: different permutations; the first element is spread over the positions
    firsts = [int(R.permutation(R.key(s), 10)[0]) for s in range(300)]
    assert np.bincount(firsts, minlength=10).min() > 10


def test_weighted_choice_statistics():
    w = np.array([0.1, 0.6, 0.0, 0.3])
    n = 40_000
    c = np.bincount(R.choice(R.key(7), 4, (n,), p=w), minlength=4) / n
    np.testing.assert_allclose(c, w, atol=5 * math.sqrt(0.25 / n))
    # without replacement (Gumbel top-k): distinct, never a zero weight, the heavy one first most often
    draws = [R.choice(R.key(s), 4, (2,), replace=False, p=w) for s in range(400)]
    assert all(d[0] != d[1] and 2 not in d for d in draws)
    assert 0.5 < np.mean([d[0] == 1 for d in draws]) < 0.7
    f = cc.compile(lambda k: R.choice(k, 4, (5,), p=w.astype(np.float32)))
    np.testing.assert_array_equal(f(R.key(3)), R.choice(R.key(3), 4, (5,), p=w.astype(np.float32)))


def test_split_and_fold_in_give_independent_streams():
    k = R.key(0)
    a, b = R.split(k)
    ua, ub, uf = R.uniform(a, (20000,)), R.uniform(b, (20000,)), R.uniform(R.fold_in(k, 1), (20000,))
    assert abs(np.corrcoef(ua, ub)[0, 1]) < 0.03 and abs(np.corrcoef(ua, uf)[0, 1]) < 0.03
    assert len({tuple(x) for x in R.split(k, 1000)}) == 1000
    np.testing.assert_array_equal(R.uniform(k, (5,)), R.uniform(R.key(0), (5,)))        # deterministic


# ---- derivatives: the draws are constants; the affine map in minval/maxval is differentiable ----

def test_grad_through_uniform_bounds_and_noise():
    k = R.key(8)
    u = R.uniform(k, (50,)).astype(np.float64)

    def f(lo, hi):
        return np.sum(R.uniform(k, (50,), np.float32, lo, hi))
    glo, ghi = cc.grad(f, argnums=(0, 1))(np.float32(-1.0), np.float32(2.0))
    np.testing.assert_allclose(glo, np.sum(1 - u), rtol=1e-5)
    np.testing.assert_allclose(ghi, np.sum(u), rtol=1e-5)
    x = np.linspace(-1, 1, 12)
    g = cc.grad(lambda x, k: np.sum(x * R.normal(k, (12,), np.float64)))(x, k)
    np.testing.assert_allclose(g, R.normal(k, (12,), np.float64), rtol=1e-12)
    cc.check_grads(lambda lo, hi: R.uniform(k, (6,), np.float64, lo, hi) ** 2,
                   (np.float64(-0.5), np.float64(1.5)), order=2)


# ---- errors ----

def test_bad_keys_shapes_and_dtypes():
    k = R.key(0)
    with pytest.raises(cc.DTypeError, match="uint32"):
        R.uniform(np.array([0, 1], np.int64), (3,))
    with pytest.raises(cc.ShapeError, match="shape"):
        R.bits(np.zeros(3, np.uint32))
    with pytest.raises(cc.ShapeError, match=r"keys\[i\]"):
        R.normal(R.split(k, 4), (2,))
    with pytest.raises(cc.DTypeError):
        R.bits(k, (2,), np.uint64)
    with pytest.raises(cc.DTypeError):
        R.uniform(k, (2,), np.int32)
    with pytest.raises(cc.ShapeError, match="negative"):
        R.uniform(k, (2, -1))
    with pytest.raises(cc.ShapeError, match="broadcast"):
        R.uniform(k, (3,), minval=np.zeros(4, np.float32))
    with pytest.raises(cc.DTypeError):
        R.key(1.5)
    with pytest.raises(cc.DTypeError):
        R.key(np.array([1, 2]))
    with pytest.raises(OverflowError):
        R.key(2 ** 70)
    with pytest.raises(cc.DTypeError):
        R.randint(k, (2,), 0, 5, np.float32)
    with pytest.raises(cc.DTypeError):
        R.bernoulli(k, np.array([1, 0]))
    with pytest.raises(ValueError):
        R.choice(k, 3, (5,), replace=False)
    with pytest.raises(cc.ShapeError, match="weights"):
        R.choice(k, 3, (2,), p=np.ones(4) / 4)
    with pytest.raises(cc.DTypeError):
        R.fold_in(k, 1.5)
    with pytest.raises(cc.DTypeError):                             # inside a trace too, naming the op
        cc.trace(lambda k: R.uniform(k, (2,)), cc.Spec("i32[2]"))


# ---- the u32 dtype underneath ----

def test_uint32_arithmetic_compiles_as_numpy():
    r = np.random.default_rng(0)
    a = r.integers(0, 2 ** 32, 100, dtype=np.uint64).astype(np.uint32)
    b = r.integers(0, 2 ** 32, 100, dtype=np.uint64).astype(np.uint32)
    b[:3] = 0

    def f(a, b):
        return (a + b, a * b, a - b, a // b, a % b, a < b, a >= b, np.maximum(a, b), np.minimum(a, 7),
                a.astype(np.float32), a.astype(np.float64), a.astype(np.int64), a.astype(np.int32),
                (a.astype(np.float64) * 0.5).astype(np.uint32), a + 7, -a, np.where(a > b, a, b))
    with np.errstate(all="ignore"):
        want = f(a, b)
    got = cc.compile(f)(a, b)
    for i, (w, g) in enumerate(zip(want, got)):
        assert w.dtype == g.dtype, (i, w.dtype, g.dtype)
        np.testing.assert_array_equal(g, w, err_msg=f"output {i}")
    assert "u32[100]" in str(cc.trace(f, a, b))


def test_uint32_reductions_ask_for_a_cast():
    a = np.arange(5, dtype=np.uint32)
    for fn in (np.max, np.argmax):
        with pytest.raises(cc.DTypeError, match="int64"):
            cc.compile(fn)(a)
    for fn in (np.sum, np.cumsum, np.prod):                      # NumPy: uint64
        with pytest.raises(cc.DTypeError, match="uint64"):
            cc.compile(fn)(a)
    assert cc.compile(lambda a: np.sum(a.astype(np.int64)))(a) == 10
    assert cc.compile(lambda a: np.sum(a, dtype=np.int64))(a) == 10


def test_python_ints_out_of_range_are_overflow_errors_as_numpy():
    for dt, v in ((np.uint32, -1), (np.uint32, 2 ** 32), (np.int32, 2 ** 40)):
        a = np.arange(3, dtype=dt)
        with pytest.raises(OverflowError, match="out of bounds"):
            a + v
        with pytest.raises(OverflowError, match="out of bounds"):
            cc.compile(lambda a: a + v)(a)


def test_draws_inside_scan_with_a_traced_step_counter():
    k = R.key(1)

    def f(k):
        def body(c, i):
            u = R.uniform(R.fold_in(k, i), (3,))
            return c + u.sum(), u
        return cc.scan(body, np.float32(0), np.arange(4))
    want = np.stack([R.uniform(R.fold_in(k, i), (3,)) for i in range(4)])
    np.testing.assert_array_equal(f(k)[1], want)
    g = cc.trace(f, cc.Spec("u32[2]"))
    np.testing.assert_array_equal(cc.interpret(g, k)[1], want)
