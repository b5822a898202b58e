"""Sums of zero pads that sit side by side are one concatenate (a simplify_algebra rule for add).

The cotangent of x read through slices that split an axis (an LSTM's four gates z[:, :H], z[:, H:2H], ...) is
the sum of each slice's transpose: a zero pad back to x's shape. Added up element by element that reads every
piece at every index and selects; as a concatenate each element is one piece's, and the lowering stores each
piece with a loop of its own (lower/concat.py).

    add(pad(a, lo=(0, 256), hi=(0, 128)), pad(b, lo=(0, 384), hi=(0, 0)))
        -> pad(concatenate(a, b, axis=1), lo=(0, 256), hi=(0, 0))

Pads join when they pad with zeros, have no interior padding, agree on every axis but one, and their pieces
touch on that one; a piece that is itself a concatenate on that axis gives its operands (so a chain of adds
becomes one concatenate of all the pieces). A pad left with no padding is the concatenate itself.
"""
from __future__ import annotations

from ..ir.types import TensorType, dims_equal
from ..primitives import REGISTRY

_pad = REGISTRY["pad"]
_concat = REGISTRY["concatenate"]


def _zero_pad(v):
    """(x, lo, hi) of v = pad(x) with zeros, non-negative integer padding and no interior; else None."""
    n = v.node
    if n is None or n.prim is not _pad or n.params.get("value", 0.0) != 0:
        return None
    lo, hi = tuple(n.params["lo"]), tuple(n.params["hi"])
    if any(n.params.get("interior") or ()) or not all(isinstance(p, int) and p >= 0 for p in lo + hi):
        return None
    return n.inputs[0], lo, hi


def _pieces(x, axis):
    n = x.node
    if n is not None and n.prim is _concat and n.params["axis"] == axis:
        return list(n.inputs)
    return [x]


def pads_to_concat(rw, n, ins):
    """add(pad(a), pad(b)) of neighbouring pieces -> pad(concatenate(a, b)) (module docstring); else None."""
    pa, pb = _zero_pad(ins[0]), _zero_pad(ins[1])
    t = n.out.type
    if pa is None or pb is None or not all(v.type.dtype is t.dtype and v.type.shape == t.shape for v in ins):
        return None
    (a, la, ha), (b, lb, hb) = pa, pb
    axes = [i for i in range(len(la)) if la[i] != lb[i] or ha[i] != hb[i]]
    if len(axes) != 1:
        return None
    ax = axes[0]
    na, nb = a.type.shape[ax], b.type.shape[ax]
    if dims_equal(la[ax] + na, lb[ax]):
        first, second = a, b
    elif dims_equal(lb[ax] + nb, la[ax]):
        first, second = b, a
    else:
        return None
    pieces = _pieces(first, ax) + _pieces(second, ax)
    shape = list(a.type.shape)
    shape[ax] = na + nb
    cat = rw.emit(_concat, tuple(pieces), {"axis": ax}, TensorType(t.dtype, tuple(shape)), n.loc, origin=n)
    lo, hi = list(la), list(ha)
    lo[ax], hi[ax] = min(la[ax], lb[ax]), min(ha[ax], hb[ax])
    if not any(lo) and not any(hi):
        return cat
    return rw.emit(_pad, (cat,), {"lo": tuple(lo), "hi": tuple(hi), "interior": (0,) * len(lo), "value": 0.0}, t,
                   n.loc, origin=n)
