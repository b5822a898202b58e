"""Every function of the tracing catalogue gives the same results compiled (cc.compile) as interpreted.

float32 within 1e-5 relative (the math library is a few ulp off NumPy's), float64 within 1e-10, ints and bools
exactly, NaN and inf in the same places. Also each case compiled once with symbolic sizes (cc.Spec) serves
the concrete shapes.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import compiler as cc
from compiler.trace import interpret
from test_trace_catalogue import CATALOGUE, NP, _values, _spec

IDS = [c.name for c in CATALOGUE]


def _close(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"dtype {got.dtype}, interpreter gives {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape}, interpreter gives {want.shape}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
        assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN positions differ"
        assert np.array_equal(np.isinf(got), np.isinf(want)), "inf positions differ"
    else:
        np.testing.assert_array_equal(got, want)


def _run(case, shapes, dts, seed, specials, symbolic):
    rng = np.random.default_rng(seed)
    args = [_values(rng, s, dt, case.positive, specials) for s, dt in zip(shapes, dts)]
    try:
        g = cc.trace(case.fn, *args)
    except (cc.ViveError, TypeError, ValueError):
        return "not traceable"
    want = interpret(g, *args)
    f = cc.compile(case.fn)
    if symbolic:
        low = f.lower(*[_spec(x) for x in args])
        got = low(*args)
    else:
        got = f(*args)
    got = list(got) if isinstance(got, tuple) else [got]
    assert len(got) == len(want)
    for gv, wv in zip(got, want):
        tol = 1e-5 if wv.dtype == np.float32 else 1e-10
        _close(gv, wv, tol)
    rng = np.random.default_rng(seed)
    for a, s, dt in zip(args, shapes, dts):
        np.testing.assert_array_equal(a, _values(rng, s, dt, case.positive, specials))   # inputs never written


@pytest.mark.parametrize("case", CATALOGUE, ids=IDS)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_compiled_equals_interpreted(case, data):
    shapes = data.draw(case.shapes, label="shapes")
    dts = [data.draw(st.sampled_from(case.dtypes), label=f"dtype{i}") for i in range(len(shapes))]
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    specials = data.draw(st.booleans(), label="nan/inf")
    _run(case, shapes, dts, seed, specials, symbolic=False)


SYMBOLIC = [c for c in CATALOGUE if c.symbolic]


@pytest.mark.parametrize("case", SYMBOLIC, ids=[c.name for c in SYMBOLIC])
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_compiled_symbolic_equals_interpreted(case, data):
    shapes = data.draw(case.shapes, label="shapes")
    dts = [data.draw(st.sampled_from(case.dtypes), label=f"dtype{i}") for i in range(len(shapes))]
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    _run(case, shapes, dts, seed, False, symbolic=True)
