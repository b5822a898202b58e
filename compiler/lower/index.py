"""Index arithmetic for lowering: affine Ix components with i64 Expr fallbacks, flat offsets, broadcasting,
window taps with bounds conditions, and loop collapsing (merging loops every index sees as one range).
"""
from __future__ import annotations

from functools import lru_cache

from ..lazy import sympy

from ..ir.types import I64, BOOL
from ..ir.kernel import (postorder, Ix, Expr, Const, Load, IndexValue, Op, Loop, AccUpdate, Store, Gemm, strides, smul,
                         sadd)

ZERO = Ix.lit(0)


def _is1(d):
    return isinstance(d, int) and d == 1


@lru_cache(maxsize=4096)
def _sym_equal(a, b):
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def size_equal(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return _sym_equal(a, b)


# ---- index component arithmetic: Ix when affine, i64 Expr otherwise ----

def as_expr(c):
    if isinstance(c, Expr):
        return c
    if isinstance(c, Ix):
        return IndexValue(c)
    return IndexValue(Ix.lit(c))


def c_add(a, b):
    if isinstance(a, Ix) and isinstance(b, Ix):
        return a.add(b)
    if isinstance(a, Ix) and not isinstance(b, Expr):
        return a.add(b)
    return Op("add", [as_expr(a), as_expr(b)], I64)


def c_mul(a, k):
    if isinstance(a, Ix):
        return a.mul(k)
    if isinstance(k, int) and k == 1:
        return a
    return Op("mul", [a, as_expr(k)], I64)


def flat(idx, shape):
    """Flat element offset of a multi-index in a C-contiguous array of `shape`."""
    out = ZERO
    for c, s, d in zip(idx, strides(shape), shape):
        if _is1(d):
            continue
        out = c_add(out, c_mul(c, s))
    return out


def bcast_idx(idx, out_shape, in_shape):
    """NumPy broadcasting: the index of an operand of shape in_shape for output index idx."""
    k = len(out_shape) - len(in_shape)
    return tuple(ZERO if _is1(d) else idx[k + i] for i, d in enumerate(in_shape))


def _idx_eq(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if isinstance(x, Ix) and isinstance(y, Ix) and x.terms == y.terms and size_equal(x.const, y.const):
            continue
        return False
    return True



def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _all(conds):
    if not conds:
        return Const(True, BOOL)
    c = conds[0]
    for x in conds[1:]:
        c = Op("logical_and", [c, x], BOOL)
    return c


def _tap(t, s, n):
    """Conditions that t = s*i for an in-range i (0 <= i < n), and i (clamped, so loads stay in bounds)."""
    conds = [Op("ge", [t, _i64(0)], BOOL)]
    if s != 1:
        conds.append(Op("eq", [Op("mod", [t, _i64(s)], I64), _i64(0)], BOOL))
        t = Op("floordiv", [t, _i64(s)], I64)
    conds.append(Op("lt", [t, as_expr(n)], BOOL))
    return conds, Op("clamp", [t, _i64(0), as_expr(sadd(n, -1))], I64)


def _guarded_load(buf, shape, n, c, he, we, dt):
    """buf[n, c, he, we], or 0 outside the image (padding); the load itself is clamped into bounds."""
    H, W = shape[2], shape[3]
    inb = _all([Op("ge", [he, _i64(0)], BOOL), Op("lt", [he, as_expr(H)], BOOL),
                Op("ge", [we, _i64(0)], BOOL), Op("lt", [we, as_expr(W)], BOOL)])
    hc = Op("clamp", [he, _i64(0), as_expr(sadd(H, -1))], I64)
    wc = Op("clamp", [we, _i64(0), as_expr(sadd(W, -1))], I64)
    return Op("select", [inb, Load(buf, flat((n, c, hc, wc), shape)), Const(0, dt)], dt)


def _i64(c):
    return Const(c, I64)


# ---- loop collapsing: merge adjacent loops when every index sees them as one contiguous range ----

def _walk_ix(stmts, found):
    def expr(e, seen):
        for x in postorder([e], seen):
            if isinstance(x, Load) and isinstance(x.index, Ix):
                found.append(x.index)
            elif isinstance(x, IndexValue):
                found.append(x.ix)
    seen = set()
    for s in stmts:
        if isinstance(s, Loop):
            if not isinstance(s.extent, int):
                pass
            _walk_ix(s.body, found)
        elif isinstance(s, Store):
            if isinstance(s.index, Ix):
                found.append(s.index)
            else:
                expr(s.index, seen)
            expr(s.value, seen)
        elif isinstance(s, AccUpdate):
            expr(s.value, seen)
            if s.index is not None:
                expr(s.index, seen)
        elif isinstance(s, Gemm):
            found.extend(x for x in (s.a_off, s.b_off, s.c_off) if isinstance(x, Ix))


def rewrite_ix(stmts, fn, load_buf=None):
    """Rebuild statements with every Ix replaced by fn(Ix) (and every load's buffer b by load_buf(b))."""
    memo = {}

    def ix(i):
        return fn(i) if isinstance(i, Ix) else expr(i)

    def expr(e):
        # operands first, no recursion (see postorder)
        for x in postorder([e], stop=lambda x: id(x) in memo):
            if isinstance(x, Load):
                r = Load(x.buf if load_buf is None else load_buf(x.buf),
                         fn(x.index) if isinstance(x.index, Ix) else memo[id(x.index)])
            elif isinstance(x, IndexValue):
                r = IndexValue(fn(x.ix))
            elif isinstance(x, Op):
                r = Op(x.op, [memo[id(a)] for a in x.args], x.dtype, x.attrs)
            else:
                r = x
            memo[id(x)] = r
        return memo[id(e)]

    def stmt(s):
        if isinstance(s, Loop):
            return Loop(s.var, s.extent, [stmt(t) for t in s.body], s.parallel)
        if isinstance(s, Store):
            return Store(s.buf, ix(s.index), expr(s.value))
        if isinstance(s, AccUpdate):
            return AccUpdate(s.acc, expr(s.value), None if s.index is None else expr(s.index))
        if isinstance(s, Gemm):
            g = Gemm(s.dtype, s.trans_a, s.trans_b, s.m, s.n, s.k, s.a, ix(s.a_off), s.lda, s.b, ix(s.b_off),
                     s.ldb, s.c, ix(s.c_off), s.ldc, s.alpha, s.beta)
            return g
        return s
    return [stmt(s) for s in stmts]


def collapse(vars_, extents, body, parallel):
    """Loops `vars_` (outermost first) around body, merging neighbours that every index treats as one range."""
    vars_, extents = list(vars_), list(extents)
    # size-1 loops disappear
    keep = [i for i, e in enumerate(extents) if not _is1(e)]
    if len(keep) != len(vars_):
        dropped = {vars_[i] for i in range(len(vars_)) if i not in keep}
        body = rewrite_ix(body, lambda ix: Ix([(v, c) for v, c in ix.terms if v not in dropped], ix.const)
                          if any(v in dropped for v, _ in ix.terms) else ix)
        vars_ = [vars_[i] for i in keep]
        extents = [extents[i] for i in keep]
    if len(vars_) > 1:
        found = []
        _walk_ix(body, found)
        uniq = list({id(i): i for i in found}.values())
        k = len(vars_) - 2
        while k >= 0:
            va, vb, eb = vars_[k], vars_[k + 1], extents[k + 1]
            ok = all(size_equal(ix.coef(va), smul(ix.coef(vb), eb)) for ix in uniq)
            if ok:
                drop = va
                body = rewrite_ix(body, lambda ix, d=drop: Ix([(v, c) for v, c in ix.terms if v != d], ix.const)
                                  if any(v == d for v, _ in ix.terms) else ix)
                uniq = [Ix([(v, c) for v, c in ix.terms if v != drop], ix.const) for ix in uniq]
                extents[k + 1] = smul(extents[k], eb)
                del vars_[k]
                del extents[k]
            k -= 1
    for i in range(len(vars_) - 1, -1, -1):
        body = [Loop(vars_[i], extents[i], body, parallel and i == 0)]
    return body
