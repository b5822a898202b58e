"""Test support for the tracing tests: check every graph cc.trace builds (round trip, verifier) and compare
the reference interpreter with NumPy, dtypes included."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import compiler  # noqa: F401
from compiler.ir import parse, print_graph, verify

# NOTE: the module, not cc.trace the function that shadows it as an attribute of the package
trace_mod = sys.modules["compiler.trace"]


def check_graph(g):
    """The invariants every traced graph keeps: it verifies, and print(parse(text)) == text."""
    verify(g)
    text = print_graph(g)
    again = print_graph(parse(text))
    assert again == text, f"print(parse(text)) != text:\n{text}\n--- reparsed ---\n{again}"
    verify(parse(text))
    return text


@pytest.fixture(autouse=True)
def check_every_trace(monkeypatch):
    """Autouse in every module that imports it: each graph cc.trace builds is verified and round-tripped."""
    graphs = []
    real = trace_mod.trace_flat

    def spy(*a, **k):
        g, captured = real(*a, **k)
        graphs.append(g)
        return g, captured

    monkeypatch.setattr(trace_mod, "trace_flat", spy)
    yield graphs
    for g in graphs:
        check_graph(g)


def assert_same_array(got, want, rtol):
    """Same dtype and shape as NumPy; values exact for int/bool, within rtol for floats; NaN/inf where NumPy has
    them."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"dtype {got.dtype}, NumPy gives {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape}, NumPy gives {want.shape}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
        assert np.array_equal(np.isnan(got), np.isnan(want)), "NaN positions differ"
        assert np.array_equal(np.isposinf(got), np.isposinf(want)) and np.array_equal(
            np.isneginf(got), np.isneginf(want)), "inf positions differ"
    else:
        np.testing.assert_array_equal(got, want)
