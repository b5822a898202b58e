"""A loop kernel whose one output is a concatenate stores each piece with a loop nest of its own, at the
piece's offset along the axis: every element is one piece's, no compare-and-select per element, and each
loop reads its piece (and whatever the kernel fused into it) at affine indices the vectoriser handles. (Per
element, the concatenate's index rule (rules._r_concat) evaluates every piece at a clamped index and selects.)
"""
from __future__ import annotations

from .index import c_add, flat
from ..ir.kernel import Ix, Store, sadd


def concat_loops(L, grp, D):
    """The statements of loop group grp over domain D when its one output is a concatenate, else None."""
    if len(grp.outputs) != 1:
        return None
    v = grp.outputs[0]
    n = v.node
    if n is None or n.prim.name != "concatenate" or len(n.inputs) < 2:
        return None
    axis = n.params["axis"]
    buf = L.ctx.buffer(v)
    out, off = [], 0
    for x in n.inputs:
        ext = x.type.shape[axis]
        if isinstance(ext, int) and ext == 0:
            continue

        def body(idx, x=x, off=off):
            at = tuple(c_add(c, Ix.lit(off)) if i == axis else c for i, c in enumerate(idx))
            return [Store(buf, flat(at, D), L.emit(x, idx))]
        out += L.nest(x.type.shape, body)
        off = sadd(off, ext)
    return out
