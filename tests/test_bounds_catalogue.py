"""No compiled code reads or writes outside its arrays, whatever the sizes: every catalogue function and its gradient,
built as a bounds-checked debug build (VIVE_CHECK_BOUNDS=1, a bad index raises BoundsError), compiled for
symbolic sizes and run on sizes 0, 1, 2 and a large one, gives NumPy's answer or NumPy's exception.

Each case's shapes come from its strategy's smallest example with a size >= 2; every such size becomes the swept
size S (sizes 1 stay 1, so broadcasting keeps its meaning). Calls at S = 3 and 4 make cc.compile trace a symbolic
version; the later sizes use it where its guards hold and get other versions where they do not.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings

import compiler as cc
from test_trace_catalogue import CATALOGUE, _values

WARMUP = (3, 4)
SIZES = (0, 1, 2)
LARGE = {1: 1000, 2: 100}           # by the number of swept sizes in one array; 3 or more: 20


def _template(case):
    return find(case.shapes, lambda sh: max((d for s in sh for d in s), default=0) >= 2
                and all(d != 1 for s in sh for d in s),
                settings=settings(database=None, derandomize=True, max_examples=200,
                                  suppress_health_check=list(HealthCheck)))


def _outputs(out):
    return list(out) if isinstance(out, tuple) else [out]


def _check(f, fn, args):
    """f(*args) (compiled) against fn(*args) (the oracle): the same values, or the same kind of exception."""
    try:
        with np.errstate(all="ignore"):
            want = _outputs(fn(*args))
    except Exception as e:      # noqa: BLE001 -- NumPy's exception is the answer to match
        with pytest.raises((type(e), cc.ViveError)):      # as in the trace catalogue: NumPy's, or vive's own
            f(*args)
        return None
    got = _outputs(f(*args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        if w.dtype.kind == "f":
            scale = float(np.nanmax(np.abs(w), initial=1.0, where=np.isfinite(w)))
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-4 * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)
    return want


def _float_sum(fn):
    def loss(*args):
        outs = [o for o in _outputs(fn(*args)) if np.dtype(o.dtype).kind == "f"]
        total = outs[0].sum()
        for o in outs[1:]:
            total = total + o.sum()
        return total
    return loss


@pytest.mark.filterwarnings("ignore::RuntimeWarning")         # NumPy's own, on empty and size-1 inputs
@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_every_size_after_a_symbolic_compile_stays_in_bounds(case, monkeypatch):
    monkeypatch.setenv("VIVE_CHECK_BOUNDS", "1")
    template = _template(case)
    dt = next((d for d in case.dtypes if d in ("f32", "f64")), case.dtypes[0])
    swept = max(sum(1 for d in s if d >= 2) for s in template)
    sizes = WARMUP + SIZES + (LARGE.get(swept, 20),)
    f = cc.compile(case.fn)
    g = cc.compile(cc.grad(_float_sum(case.fn))) if dt in ("f32", "f64") else None
    for n in sizes:
        shapes = [tuple(n if d >= 2 else d for d in s) for s in template]
        args = [_values(np.random.default_rng(n), s, dt, case.positive) for s in shapes]
        want = _check(f, case.fn, args)
        if g is not None and want is not None and any(np.asarray(w).dtype.kind == "f" for w in want):
            _check(g, cc.grad(_float_sum(case.fn)), args)
    assert f.cache_info()["compiles"] <= len(sizes)


