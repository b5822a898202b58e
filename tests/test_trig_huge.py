"""sin/cos past the Cody-Waite range: the exact (Payne-Hanek) reduction in primitives/mathlib/trig.py, against
mpmath at high precision and NumPy, in f64 and f32, plus its 2/pi table against an independent evaluation of pi."""
from __future__ import annotations

import re

import numpy as np
import pytest

import compiler as cc
from compiler.primitives.mathlib.two_over_pi import TWO_OVER_PI_WORDS

mpmath = pytest.importorskip("mpmath")

# the doubles closest to a multiple of pi/2 (|x mod pi/2| ~ 2^-61, Muller's worst case), powers of two, 1e22
HARD = [6381956970095103 * 2.0 ** 797, 2.0 ** 1023, np.finfo(np.float64).max, 1e22, 1e300, 2.0 ** 200,
        5.319372648326541e255, 2.0 ** 28 * np.pi / 2 * 1.0000001, 1e10, 4.0 ** 100, 3.3e38]


def _atan_inv(n, one):
    """atan(1/n) * one by its Taylor series, in integers."""
    total, term, k, sign = 0, one // n, 1, 1
    while term:
        total += sign * (term // k)
        term //= n * n
        k += 2
        sign = -sign
    return total


def test_two_over_pi_table_matches_machin():
    bits = 64 * len(TWO_OVER_PI_WORDS)
    guard = 64
    one = 1 << (bits + guard)
    pi = 16 * _atan_inv(5, one) - 4 * _atan_inv(239, one)          # pi * 2^(bits+guard), error ~ a few units
    want = ((2 << (2 * (bits + guard))) // pi) >> guard           # floor(2/pi * 2^bits)
    got = 0
    for w in TWO_OVER_PI_WORDS:
        got = (got << 64) | w
    assert got == want


def _huge(n, seed, lo=28, hi=1024):
    rng = np.random.default_rng(seed)
    x = np.ldexp(rng.uniform(0.5, 1.0, n), rng.integers(lo, hi, n))
    return x * rng.choice([-1.0, 1.0], n)


def _ulp_err(got, exact, dtype):
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)


def _mp(fn, xs):
    with mpmath.workprec(1300):
        return np.array([float(fn(mpmath.mpf(float(v)))) for v in xs])


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_f64_huge_arguments_against_mpmath(name):
    x = np.concatenate([HARD, np.negative(HARD), _huge(150, 1)])
    got = cc.compile(getattr(np, name))(x)
    err = _ulp_err(got, _mp(getattr(mpmath, name), x), np.float64)
    assert err.max() <= 1.0, (x[err.argmax()], err.max())


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_f64_huge_arguments_against_numpy(name):
    x = _huge(20000, 2)
    got = cc.compile(getattr(np, name))(x)
    assert not np.isnan(got).any()
    assert _ulp_err(got, getattr(np, name)(x), np.float64).max() <= 2.0


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_f32_huge_arguments(name):
    x = np.concatenate([_huge(3000, 3, 20, 128), [3.4028235e38, -3.4028235e38, 2.0 ** 127, 1e10, 1e22]])
    x = x.astype(np.float32)
    got = cc.compile(getattr(np, name))(x)
    assert got.dtype == np.float32
    err = _ulp_err(got, getattr(np, name)(x.astype(np.float64)), np.float32)
    assert err.max() <= 1.6                                     # the f32 polynomials below the bound: 1.54
    huge = np.abs(x) > 2.0 ** 27 * np.pi / 2
    assert huge.sum() > 1000 and err[huge].max() <= 0.51         # f64 result rounded once to f32 above it


def test_specials_and_the_boundary():
    lim = 2.0 ** 27 * np.pi / 2
    x = np.array([np.inf, -np.inf, np.nan, lim, np.nextafter(lim, np.inf), -np.nextafter(lim, np.inf), 0.0, -0.0])
    f, g = cc.compile(np.sin), cc.compile(np.cos)
    s, c = f(x), g(x)
    assert np.isnan(s[:3]).all() and np.isnan(c[:3]).all()
    assert _ulp_err(s[3:6], np.sin(x[3:6]), np.float64).max() <= 2.0
    assert _ulp_err(c[3:6], np.cos(x[3:6]), np.float64).max() <= 2.0
    assert np.signbit(s[7]) and not np.signbit(s[6]) and (c[6:] == 1.0).all()


def test_mixed_array_keeps_the_fast_path_vectorised():
    # huge lanes leave the vector loop through a masked vector variant of the out-of-line function
    x = np.concatenate([np.linspace(-50, 50, 1001), _huge(1001, 4)])
    np.random.default_rng(5).shuffle(x)
    f = cc.compile(lambda v: np.sin(v) * np.cos(v))
    assert _ulp_err(f(x), np.sin(x) * np.cos(x), np.float64).max() <= 4.0
    ir = f.lower(x).optimized_llvm_ir()
    # the masked variants are inlined after the pipeline (runtime/jit.py): the vector loop tests its mask in line
    # and calls the scalar reduction for the lanes that need it
    assert re.search(r"fmul [^\n]*<\d+ x double>", ir), "sin loop not vectorised"
    assert not re.search(r"call [^\n]*@\"?vive_sin_huge_f64_v\d+", ir), "vector variant not inlined"
    assert re.search(r"call [^\n]*@\"?vive_sin_huge_f64\"?\(", ir)
