"""cc.vmap over every row of the autograd table (tests/autograd_rows.py: NumPy functions built from many primitives
at once) against a loop over two lanes, and vmap of the gradient against a loop of gradients."""
import numpy as np
import pytest

import compiler as cc
from autograd_rows import CASES


def _lanes(args):
    """(in_axes, stacked args, lanes): float arrays get a second, slightly moved lane; everything else is shared."""
    rng = np.random.default_rng(1)
    axes, stacked, lanes = [], [], [list(args), list(args)]
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim:
            b = a + 1e-3 * rng.standard_normal(a.shape)
            lanes[1][i] = b
            axes.append(0)
            stacked.append(np.stack([a, b]))
        else:
            axes.append(None)
            stacked.append(a)
    return tuple(axes), stacked, lanes


def _leaves(out):
    return [np.asarray(o) for o in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]


def _one_per_function():
    # the table expands each function over several shapes; one row each keeps this fast (the rules are per op)
    seen, rows = set(), []
    for c in CASES:
        name = c.id.split("[")[0]
        mappable = any(isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim for a in c.values[1])
        if not c.marks and mappable and name not in seen:
            seen.add(name)
            rows.append(c)
    return rows


@pytest.mark.parametrize("fn, args, argnums, order2", _one_per_function())
def test_vmap_of_a_table_row_matches_a_loop(fn, args, argnums, order2):
    axes, stacked, lanes = _lanes(args)
    got = _leaves(cc.vmap(fn, in_axes=axes)(*stacked))
    want = [np.stack(w) for w in zip(*[_leaves(fn(*lane)) for lane in lanes])]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11, equal_nan=True)
    i = argnums[0] if isinstance(argnums, (tuple, list)) else argnums
    if axes[i] is None or not all(w.dtype.kind == "f" for w in want):
        return
    weights = [np.random.default_rng(2).standard_normal(w.shape[1:]) for w in want]

    def scalar(*a):
        out = fn(*a)
        return sum(np.sum(o * wt) for o, wt in zip(out if isinstance(out, (tuple, list)) else [out], weights))
    grads = cc.vmap(cc.grad(scalar, argnums=i), in_axes=axes)(*stacked)
    loop = np.stack([cc.grad(scalar, argnums=i)(*lane) for lane in lanes])
    np.testing.assert_allclose(grads, loop, rtol=1e-9, atol=1e-11, equal_nan=True)
