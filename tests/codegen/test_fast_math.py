"""cc.compile(fast_math=True): the documented error bounds of primitives/mathlib/fast.py over a dense sweep of every
float32 binade plus special values (against float64 NumPy), FMA contraction of the function's own arithmetic only,
and that the flag is part of both compile-cache keys."""

import numpy as np
import pytest

import compiler as cc
from compiler.backends.build import _graph_key

# max |got - exact| / ulp (ulp of the exact result rounded to f32): fast.py's docstring table
FAST_ULP = {"tanh": 6.0, "logistic": 4.0}
DEFAULT_ULP = {"tanh": 3.0, "logistic": 2.5}


def _logistic64(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


REF = {"tanh": np.tanh, "logistic": _logistic64}
FNS = {"tanh": np.tanh, "logistic": lambda x: 1 / (1 + np.exp(-x))}
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, 8.75, -8.75, 9.0, 20.0, -20.0, 88.0,
                    -88.0, 104.0, -104.0, 3e38, -3e38], np.float32)


def sweep():
    """Every f32 binade from the smallest denormal up (48 points each, both signs), a fine grid over [-12, 12], and
    the special values."""
    e = np.arange(-149, 128)
    m = np.random.default_rng(0).uniform(1, 2, (e.size, 48))
    x = (m * 2.0 ** e[:, None]).ravel()
    x = x[np.abs(x) < 3.4e38]
    return np.concatenate([x, -x, np.linspace(-12, 12, 120001), SPECIAL]).astype(np.float32)


def ulp_error(got, x, fname):
    with np.errstate(all="ignore"):
        ref = REF[fname](x.astype(np.float64))
    ref32 = ref.astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(ref32)), "NaN mismatch"
    ok = ~np.isnan(ref32)
    spacing = np.spacing(np.abs(ref32[ok])).astype(np.float64)
    return float(np.max(np.abs(got[ok].astype(np.float64) - ref[ok]) / spacing))


@pytest.mark.parametrize("fname", ["tanh", "logistic"])
def test_bounds_dense_sweep(fname):
    x = sweep()
    fast = cc.compile(FNS[fname], fast_math=True)(x)
    default = cc.compile(FNS[fname])(x)
    assert ulp_error(fast, x, fname) <= FAST_ULP[fname]
    assert ulp_error(default, x, fname) <= DEFAULT_ULP[fname]
    assert not np.array_equal(fast, default)          # the fast form is really a different computation


def test_special_values():
    x = SPECIAL
    t = cc.compile(np.tanh, fast_math=True)(x)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(t[[0, 1, 2, 3]], [0.0, -0.0, 1.0, -1.0])
        assert np.signbit(t[1]) and not np.signbit(t[0])
        assert np.isnan(t[4])
        assert np.all(np.abs(t[~np.isnan(t)]) <= 1)
        np.testing.assert_array_equal(t[np.abs(x) >= 8.75], np.sign(x[np.abs(x) >= 8.75]))
        assert t[5] == x[5] and t[6] == x[6]              # tanh(denormal) = denormal
        s = cc.compile(FNS["logistic"], fast_math=True)(x)
        np.testing.assert_array_equal(s[[0, 1, 2, 3]], [0.5, 0.5, 1.0, 0.0])
        assert np.isnan(s[4])
        tail = cc.compile(FNS["logistic"], fast_math=True)(np.array([-100.0, -104.0], np.float32))
        assert tail[0] == np.float32(np.exp(-100.0)) and tail[1] == 0     # a denormal, not flushed; then 0
    # |tanh| <= 1 on a fine grid right below the clamp, where rounding could lift the quotient past 1
    near = np.linspace(7.5, 8.75, 200001).astype(np.float32)
    assert np.all(cc.compile(np.tanh, fast_math=True)(near) <= 1)


def test_f64_and_other_functions_unchanged():
    x = np.linspace(-30, 30, 10001)
    for f in (np.tanh, np.exp, np.log1p, np.sin):
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(cc.compile(f, fast_math=True)(x), cc.compile(f)(x))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(cc.compile(np.exp, fast_math=True)(x32), cc.compile(np.exp)(x32))


def test_contraction_only_of_own_arithmetic():
    def f(x, a, b):
        return x * a + b
    x = np.ones(64, np.float32)
    fast_ir = cc.compile(f, fast_math=True).lower(x, x, x).llvm_ir()
    assert "fmul contract" in fast_ir and "fadd contract" in fast_ir
    assert "contract" not in cc.compile(f).lower(x, x, x).llvm_ir()
    # the math library's own steps never get the flag (its range reductions rely on exact products)
    assert "contract" not in cc.compile(np.exp, fast_math=True).lower(x).llvm_ir()
    # fused, x * a + b is rounded once: exact for these values, where the unfused product rounds first
    xa = np.array([1 + 2.0 ** -12] * 16, np.float32)
    ba = np.array([-(1 + 2.0 ** -11)] * 16, np.float32)
    exact = (xa.astype(np.float64) ** 2 + ba).astype(np.float32)
    np.testing.assert_array_equal(cc.compile(f, fast_math=True)(xa, xa, ba), exact)
    np.testing.assert_array_equal(cc.compile(f)(xa, xa, ba), xa * xa + ba)


def test_cache_keys(tmp_path, monkeypatch):
    g = cc.trace(np.tanh, np.ones(8, np.float32))
    assert _graph_key(g, "cpu", fast_math=True) != _graph_key(g, "cpu")
    # the disk cache: a fast build after a default one (and the reverse) is a fresh build, not the other's code
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path))
    x = np.linspace(-3, 3, 4096).astype(np.float32)

    def tanh_only(x):
        return np.tanh(x) * 1.0
    default = cc.compile(tanh_only)
    fast = cc.compile(tanh_only, fast_math=True)
    yd, yf = default(x), fast(x)
    assert not default.lower(x).cache_hit and not fast.lower(x).cache_hit
    assert not np.array_equal(yd, yf)
    again = cc.compile(tanh_only, fast_math=True)
    np.testing.assert_array_equal(again(x), yf)
    np.testing.assert_array_equal(cc.compile(tanh_only)(x), yd)
