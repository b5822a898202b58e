"""Algebraic simplification: identities that remove nodes without changing any value, dtype or shape.

x*1, 1*x, x+0, 0+x, x-0, x/1 -> x; neg(neg x) -> x; transpose of transpose -> one transpose (or x);
stop_gradient(x) -> x (it means something only to the transforms, which have run by now);
reshape of reshape -> one reshape; broadcast of broadcast -> one broadcast; reshape/transpose/broadcast/cast to what x already is -> x;
an explicit broadcast feeding an op that broadcasts implicitly -> the op reads the smaller value;
integer x*0 -> zeros. Float x*0 stays (NaN*0 and inf*0 are NaN).
A sum of terms one of which an earlier sum already adds up, possibly scaled by a factor constant along the summed
axes (a softmax's backward: sum((g / s) * e^z) next to s = sum(e^z)), reuses that sum: sum(a + k*y) ->
sum(a) + k*sum(y) (see _factor_sum).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from .. import primitives as P
from .manager import graph_pass, Rewriter
from .pads import pads_to_concat

_const, _transpose, _reshape, _broadcast = P.const, P.transpose, P.reshape, P.broadcast_in_dim

_MAX_SCAN = 1 << 16     # const arrays bigger than this are not scanned for all-ones / all-zeros


def _same_type(a, b):
    """Exact type identity without sympy work: same dtype, structurally equal dims."""
    return a.dtype is b.dtype and a.shape == b.shape


def _const_all(v, x):
    """v is a const whose every element equals x."""
    n = v.node
    if n is None or n.prim is not _const:
        return False
    a = n.params["value"]
    return a.size <= _MAX_SCAN and bool(np.all(a == x))


# ---- rules: each takes (rw, n, ins) and returns a replacement Value or None ----

def _identity_operand(rw, n, ins, pos, unit):
    """op(x, unit) -> x, when the other operand is all `unit` and the result has exactly x's type."""
    other, x = ins[pos], ins[1 - pos]
    if _const_all(other, unit) and _same_type(x.type, n.out.type):
        return x
    return None


def _mul(rw, n, ins):
    r = _identity_operand(rw, n, ins, 1, 1) or _identity_operand(rw, n, ins, 0, 1)
    if r is not None:
        return r
    t = n.out.type
    if t.dtype.is_int and (_const_all(ins[0], 0) or _const_all(ins[1], 0)):
        return _zeros(rw, n)
    return None


def _add(rw, n, ins):
    # NOTE: x + 0.0 -> x turns -0.0 + 0.0 (= +0.0) into -0.0; like XLA we accept that one signed-zero change.
    return _identity_operand(rw, n, ins, 1, 0) or _identity_operand(rw, n, ins, 0, 0)


def _sub(rw, n, ins):
    return _identity_operand(rw, n, ins, 1, 0)


def _div(rw, n, ins):
    return _identity_operand(rw, n, ins, 1, 1)


def _zeros(rw, n):
    t = n.out.type
    zero = np.zeros((), t.dtype.np)
    if t.ndim == 0:
        return rw.emit(_const, (), {"value": zero}, t, n.loc, origin=n)
    if t.is_static and t.size <= 16:
        return rw.emit(_const, (), {"value": np.zeros(t.shape, t.dtype.np)}, t, n.loc, origin=n)
    s = rw.emit(_const, (), {"value": zero}, t.with_shape(()), n.loc, origin=n)
    return rw.emit(_broadcast, (s,), {"shape": tuple(t.shape), "dims": ()}, t, n.loc, origin=n)


def _neg(rw, n, ins):
    x = ins[0]
    if x.node is not None and x.node.prim is n.prim:
        return x.node.inputs[0]        # neg(neg y) == y (also for ints: two's complement wraps both ways)
    return None


def _transpose_rule(rw, n, ins):
    x, perm = ins[0], tuple(n.params["perm"])
    if x.node is not None and x.node.prim is _transpose:
        inner = tuple(x.node.params["perm"])
        # transpose(transpose(y, p), q)[..] has shape y.shape[p[q[i]]]: one transpose by p∘q
        perm = tuple(inner[i] for i in perm)
        x = x.node.inputs[0]
    if perm == tuple(range(len(perm))):
        return x if _same_type(x.type, n.out.type) else None
    if x is ins[0]:
        return None
    return rw.emit(_transpose, (x,), {"perm": perm}, n.out.type, n.loc, origin=n)


def _reshape_rule(rw, n, ins):
    x = ins[0]
    while x.node is not None and x.node.prim is _reshape:
        x = x.node.inputs[0]
    if _same_type(x.type, n.out.type):
        return x
    if x is ins[0]:
        return None
    return rw.emit(_reshape, (x,), dict(n.params), n.out.type, n.loc, origin=n)


def _broadcast_rule(rw, n, ins):
    x, dims = ins[0], tuple(n.params["dims"])
    if x.node is not None and x.node.prim is _broadcast:
        # broadcast(broadcast(y, s1, d1), s2, d2) == broadcast(y, s2, d2∘d1): y's axis i lands on d2[d1[i]]
        dims = tuple(dims[d] for d in x.node.params["dims"])
        x = x.node.inputs[0]
    if _same_type(x.type, n.out.type) and dims == tuple(range(x.type.ndim)):
        return x
    if x is ins[0]:
        return None
    return rw.emit(_broadcast, (x,), {"shape": n.params["shape"], "dims": dims}, n.out.type, n.loc, origin=n)


def _cast(rw, n, ins):
    x = ins[0]
    return x if _same_type(x.type, n.out.type) else None


def _is_trailing_broadcast(v):
    """v = broadcast_in_dim(y) that NumPy's implicit broadcasting of y would give (y's axes map to the last ones)."""
    m = v.node
    if m is None or m.prim is not _broadcast:
        return False
    y, shape, dims = m.inputs[0], m.params["shape"], tuple(m.params["dims"])
    k = len(shape) - y.type.ndim
    return dims == tuple(range(k, len(shape)))


def _drop_broadcasts(rw, n, ins):
    """op(x, broadcast(s)) -> op(x, s) when another operand already has the result's shape."""
    if not any(_is_trailing_broadcast(v) for v in ins):
        return None
    shape = n.out.type.shape
    new = list(ins)
    for i, v in enumerate(ins):
        if _is_trailing_broadcast(v):
            # the others (with this one dropped) must still produce exactly the result's shape
            if any(j != i and new[j].type.shape == shape for j in range(len(new))):
                new[i] = v.node.inputs[0]
    if all(a is b for a, b in zip(new, ins)):
        return None
    return rw.emit(n.prim, tuple(new), n.params, n.out.type, n.loc, origin=n)


# ---- sums that reuse an earlier sum ----

_MAX_TERMS = 8


def _terms(v, sign, out):
    """v as a signed sum of terms, through add, sub and neg: appends (sign, term) to out; False past _MAX_TERMS."""
    m = v.node
    if m is not None and m.prim in (P.add, P.sub) and _same_type(m.inputs[0].type, v.type) \
            and _same_type(m.inputs[1].type, v.type):
        return _terms(m.inputs[0], sign, out) and _terms(m.inputs[1], -sign if m.prim is P.sub else sign, out)
    if m is not None and m.prim is P.neg:
        return _terms(m.inputs[0], -sign, out)
    out.append((sign, v))
    return len(out) <= _MAX_TERMS


def _along(k, x_type, axes):
    """(c, the result axes c's axes land on) when k is constant along `axes` of x_type: k = broadcast_in_dim(c) with
    none of c's axes on them, or k read with NumPy's implicit broadcasting (its shape x_type's last axes) by an op
    of x_type, none of them summed; else None."""
    m = k.node
    if m is not None and m.prim is _broadcast and _same_type(k.type, x_type):
        c, dims = m.inputs[0], tuple(m.params["dims"])
    elif k.type.ndim < x_type.ndim and tuple(k.type.shape) == tuple(x_type.shape[x_type.ndim - k.type.ndim:]):
        c, dims = k, tuple(range(x_type.ndim - k.type.ndim, x_type.ndim))
    else:
        return None
    if any(d in axes for d in dims) or c.type.dtype is not x_type.dtype:
        return None
    kept = [a for a in range(x_type.ndim) if a not in axes]
    return c, tuple(kept.index(d) for d in dims)


def _reused(rw, n, term, axes):
    """The sum of `term` over axes from a sum made earlier in the walk (times a factor constant along the axes, for
    term = k * y), as a Value of n's type, or None."""
    sums = rw.sums
    prev = sums.get((id(term), axes))
    if prev is not None:
        return prev
    m = term.node
    if m is None or m.prim is not P.mul:
        return None
    for i in (0, 1):
        k, y = m.inputs[i], m.inputs[1 - i]
        if not _same_type(y.type, term.type):
            continue
        prev = sums.get((id(y), axes))
        c = _along(k, term.type, axes) if prev is not None else None
        if c is None:
            continue
        c, dims = c
        t = n.out.type
        if not (c.type.shape == t.shape and dims == tuple(range(t.ndim))):
            c = rw.emit(_broadcast, (c,), {"shape": tuple(t.shape), "dims": dims}, t, n.loc, origin=n)
        return rw.emit(P.mul, (c, prev), {}, t, n.loc, origin=n)
    return None


def _factor_sum(rw, n, ins):
    """reduce_sum(a + k*y) -> reduce_sum(a) + k' * s where s = reduce_sum(y) was made already (k constant along the
    summed axes; a term the earlier sum is exactly needs no k): one product per result instead of per element, and
    y's elements are not computed again for this sum. The rounding is that of a reordered sum.
    NOTE: only where a term is reused, so a sum is never split into more loops for nothing."""
    x, axes = ins[0], tuple(n.params["axes"])
    if not x.type.dtype.is_float:
        return None
    terms = []
    if not _terms(x, 1, terms) or len(terms) < 1:
        return None
    found = [(sign, _reused(rw, n, v, axes)) for sign, v in terms]
    if all(r is None for _, r in found):
        return None
    t = n.out.type
    rest = [(sign, v) for (sign, v), (_, r) in zip(terms, found) if r is None]
    acc = None
    if rest:
        sign, part = rest[0]
        part = part if sign > 0 else rw.emit(P.neg, (part,), {}, part.type, n.loc, origin=n)
        for sign, v in rest[1:]:
            part = rw.emit(P.add if sign > 0 else P.sub, (part, v), {}, part.type, n.loc, origin=n)
        acc = rw.emit(P.reduce_sum, (part,), dict(n.params), t, n.loc, origin=n)
    for sign, r in found:
        if r is None:
            continue
        if acc is None:
            acc = r if sign > 0 else rw.emit(P.neg, (r,), {}, t, n.loc, origin=n)
        else:
            acc = rw.emit(P.add if sign > 0 else P.sub, (acc, r), {}, t, n.loc, origin=n)
    return acc


# the identities of each primitive (keyed by the primitive object); an op that broadcasts its operands NumPy-style
# (Primitive.broadcasts) first reads through an explicit broadcast_in_dim feeding it
_RULES = {
    P.mul: [_mul], P.add: [_add, pads_to_concat], P.sub: [_sub], P.div: [_div], P.neg: [_neg],
    P.transpose: [_transpose_rule], P.reshape: [_reshape_rule], P.broadcast_in_dim: [_broadcast_rule],
    P.cast: [_cast], P.stop_gradient: [lambda rw, n, ins: ins[0]], P.reduce_sum: [_factor_sum],
}


_RULES_OF = {}


def _rules_of(prim):
    rules = _RULES_OF.get(prim)
    if rules is None:
        rules = _RULES_OF[prim] = [_drop_broadcasts, *_RULES.get(prim, ())] if prim.broadcasts else _RULES.get(prim, ())
    return rules


class _SumRewriter(Rewriter):
    __slots__ = ("sums",)

    def __init__(self, g):
        super().__init__(g)
        self.sums = {}       # (id(operand), axes) -> a reduce_sum kept in this walk (_factor_sum reuses them)


@graph_pass
def simplify_algebra(g: Graph) -> Graph:
    """Apply the identities above in one walk; a rewritten node is simplified again (x*bcast(1) -> x*1 -> x)."""
    rw = _SumRewriter(g)
    for n in g.nodes:
        ins = rw.inputs(n)
        rules = _rules_of(n.prim)
        r = None
        if rules:
            r = _apply(rw, n, ins, rules)
        if r is None:
            v = rw.keep(n, ins)
            if n.prim is P.reduce_sum:
                rw.sums.setdefault((id(ins[0]), tuple(n.params["axes"])), v)
        else:
            rw.replace(n, r)
    return rw.finish()


def _apply(rw, n, ins, rules, depth=0):
    for rule in rules:
        r = rule(rw, n, ins)
        if r is None:
            continue
        # a rule that emitted a rewritten node: simplify that node too (bounded); if it goes, finish() drops it
        m = r.node
        if m is not None and depth < 4 and rw.nodes and rw.nodes[-1] is m and m.prim is n.prim:
            more = _apply(rw, m, m.inputs, _rules_of(m.prim), depth + 1)
            if more is not None:
                return more
        return r
    return None
