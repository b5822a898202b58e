"""Index rules of the inlineable primitives: how a member of a fused group is evaluated at a multi-index
(broadcast, reshape, transpose, slice, pad, concatenate, gathers, pooling windows ...), down to loads.

Each rule is `rule(L, node, idx) -> Expr`, where L is the GroupLowerer (`L.emit(value, idx)`).
"""
from __future__ import annotations

import numpy as np
from ..lazy import sympy

from ..errors import BackendError
from ..ir.types import I64, U32, BOOL
from ..ir.kernel import Ix, Const, Load, IndexValue, Op, smul, sadd, sprod, strides
from .index import ZERO, _is1, size_equal, as_expr, c_add, c_mul, flat, _pair, _all, _tap, _i64, bcast_idx
from . import checks
from .. import primitives as P


def index_rule(prim):
    """Decorator: `rule(L, node, idx) -> Expr` evaluates `prim` at a multi-index (Primitive.index_rule): the op is
    inlined into its consumers' loops at whatever index they ask for, instead of being a scalar op of its own."""
    def register(rule):
        if prim.index_rule is not None:
            raise ValueError(f"{prim.name}: two index rules ({prim.index_rule.__name__}, {rule.__name__})")
        prim.index_rule = rule
        return rule
    return register


# ---- index rules of the inlineable primitives ----

@index_rule(P.broadcast_in_dim)
def _r_broadcast(L, n, idx):
    x = n.inputs[0]
    dims = n.params["dims"]
    xi = tuple(ZERO if _is1(x.type.shape[i]) else idx[d] for i, d in enumerate(dims))
    return L.emit(x, xi)


@index_rule(P.reshape)
def _r_reshape(L, n, idx):
    x = n.inputs[0]
    T, S = n.out.type.shape, x.type.shape
    if (x.node is None or x.node not in L.grp.members) and not (
            x.node is not None and x.node is L.grp.anchor):
        # contiguous buffers: a reshape is the same flat offset
        return Load(L.ctx.buffer(x), flat(idx, T))
    return L.emit(x, reshape_idx(idx, T, S))


def reshape_idx(idx, T, S):
    tn = [(c, d) for c, d in zip(idx, T) if not _is1(d)]
    sn = [i for i, d in enumerate(S) if not _is1(d)]
    out = [ZERO] * len(S)
    ti = si = 0
    while ti < len(tn) and si < len(sn):
        tg, sg = [tn[ti]], [sn[si]]
        ti += 1
        si += 1
        pt, ps = tg[0][1], S[sg[0]]
        guard = 0
        while not size_equal(pt, ps):
            guard += 1
            if guard > 64:
                raise BackendError(f"lowering: cannot map reshape {T} -> {S}")
            grow_s = _smaller(ps, pt)
            if grow_s and si < len(sn):
                sg.append(sn[si])
                ps = smul(ps, S[sn[si]])
                si += 1
            elif ti < len(tn):
                tg.append(tn[ti])
                pt = smul(pt, tn[ti][1])
                ti += 1
            elif si < len(sn):
                sg.append(sn[si])
                ps = smul(ps, S[sn[si]])
                si += 1
            else:
                break
        f = flat(tuple(c for c, _ in tg), tuple(d for _, d in tg))
        if len(sg) == 1:
            out[sg[0]] = f
        else:
            sizes = [S[i] for i in sg]
            st = strides(tuple(sizes))
            fe = as_expr(f)
            for k, i in enumerate(sg):
                q = fe if k == 0 else Op("mod", [fe, as_expr(sprod(sizes[k:]))], I64)
                out[i] = q if st[k] == 1 else Op("floordiv", [q, as_expr(st[k])], I64)
    return tuple(out)


def _smaller(a, b):
    if isinstance(a, int) and isinstance(b, int):
        return a < b
    r = sympy.cancel(sympy.sympify(b) / sympy.sympify(a))
    num, den = sympy.fraction(r)
    return den == 1


@index_rule(P.transpose)
def _r_transpose(L, n, idx):
    perm = n.params["perm"]
    xi = [None] * len(perm)
    for k, p in enumerate(perm):
        xi[p] = idx[k]
    return L.emit(n.inputs[0], tuple(xi))


@index_rule(P.slice)
def _r_slice(L, n, idx):
    start, step = n.params["start"], n.params["step"]
    xi = tuple(c_add(c_mul(c, s), Ix.lit(a)) if isinstance(c, Ix) else c_add(c_mul(c, s), a)
               for c, a, s in zip(idx, start, step))
    return L.emit(n.inputs[0], xi)


@index_rule(P.rev)
def _r_rev(L, n, idx):
    x = n.inputs[0]
    axes = n.params["axes"]
    xi = tuple(c_add(c_mul(c, -1), Ix.lit(sadd(x.type.shape[i], -1))) if i in axes else c
               for i, c in enumerate(idx))
    return L.emit(x, xi)


@index_rule(P.pad)
def _r_pad(L, n, idx):
    x = n.inputs[0]
    lo, hi = n.params["lo"], n.params["hi"]
    interior = n.params.get("interior") or (0,) * len(lo)
    dt = n.out.type.dtype
    if any(isinstance(d, int) and d == 0 for d in x.type.shape):
        # all padding: no element of x to read (a clamped index into an empty x is outside it)
        return Const(n.params.get("value", 0.0), dt)
    conds, xi = [], []
    for c, a, b, itr, d in zip(idx, lo, hi, interior, x.type.shape):
        t = c_add(c, Ix.lit(-a)) if isinstance(c, Ix) else c_add(c, -a)
        if a <= 0 and b <= 0 and itr == 0:
            xi.append(t)         # a crop: always in bounds
            continue
        te = as_expr(t)
        cs = [Op("ge", [te, _i64(0)], BOOL)] if (a > 0 or itr) else []
        if itr:
            cs.append(Op("eq", [Op("mod", [te, _i64(itr + 1)], I64), _i64(0)], BOOL))
            te = Op("floordiv", [te, _i64(itr + 1)], I64)
        if b > 0 or itr:
            cs.append(Op("lt", [te, as_expr(d)], BOOL))
        for cc in cs:
            conds.append(cc)
        xi.append(Op("clamp", [te, _i64(0), as_expr(sadd(d, -1))], I64))
    val = L.emit(x, tuple(xi))
    if not conds:
        return val
    cond = conds[0]
    for cc in conds[1:]:
        cond = Op("logical_and", [cond, cc], BOOL)
    return Op("select", [cond, val, Const(n.params.get("value", 0.0), dt)], dt)


@index_rule(P.concatenate)
def _r_concat(L, n, idx):
    axis = n.params["axis"]
    # empty pieces hold nothing to read (a clamped index into one is outside it)
    xs = [x for x in n.inputs if not (isinstance(x.type.shape[axis], int) and x.type.shape[axis] == 0)]
    dt = n.out.type.dtype
    if not xs:
        return Const(0, dt)
    offs = [0]
    for x in xs:
        offs.append(sadd(offs[-1], x.type.shape[axis]))
    c = idx[axis]
    ce = as_expr(c)
    vals = []
    for k, x in enumerate(xs):
        t = c_add(c, Ix.lit(-offs[k]) if isinstance(c, Ix) else -offs[k]) if not (
            isinstance(offs[k], int) and offs[k] == 0) else c
        if len(xs) > 1:
            t = Op("clamp", [as_expr(t), _i64(0), as_expr(sadd(x.type.shape[axis], -1))], I64)
        xi = tuple(t if i == axis else ci for i, ci in enumerate(idx))
        vals.append(L.emit(x, xi))
    out = vals[-1]
    for k in range(len(xs) - 2, -1, -1):
        out = Op("select", [Op("lt", [ce, as_expr(offs[k + 1])], BOOL), vals[k], out], dt)
    return out


@index_rule(P.const)
def _r_const(L, n, idx):
    val = n.params["value"]
    if val.size == 1 or _uniform(val):
        return Const(val.reshape(-1)[0].item(), n.out.type.dtype)
    return Load(L.ctx.const_buffer(n), flat(idx, n.out.type.shape))


def _uniform(val):
    """All elements equal (bitwise, so NaN and -0.0 count): a splat, no buffer needed."""
    if val.size == 0:
        return False
    flat_ = np.ascontiguousarray(val).reshape(-1)
    if flat_.dtype == np.bool_:
        return bool(flat_.all() or not flat_.any())
    bits = flat_.view(np.uint8).reshape(flat_.size, -1)
    return bool((bits == bits[0]).all())


@index_rule(P.dim)
def _r_dim(L, n, idx):
    e = IndexValue(Ix.lit(n.params["expr"]))
    dt = n.out.type.dtype
    return e if dt is I64 else Op("cast", [e], dt)


@index_rule(P.iota)
def _r_iota(L, n, idx):
    e = as_expr(idx[0])
    dt = n.out.type.dtype
    return e if dt is I64 else Op("cast", [e], dt)


@index_rule(P.one_hot)
def _r_one_hot(L, n, idx):
    labels = n.inputs[0]
    lab = L.emit(labels, idx[:-1])
    if lab.dtype is not I64:
        lab = Op("cast", [lab], I64)
    if L.ctx.check_indices:
        # a label outside [0, C) is an IndexError, as NumPy's np.eye(C)[labels] (callers wrap negatives first)
        lab = checks.index(L.ctx, lab, n.params["num_classes"], n, labels.type.ndim, src=labels)
    return Op("cast", [Op("eq", [lab, as_expr(idx[-1])], BOOL)], n.out.type.dtype)


@index_rule(P.check_index)
def _r_check_index(L, n, idx):
    v = L.emit(n.inputs[0], idx)
    if not L.ctx.check_indices:
        return v                         # (the take it feeds clamps)
    i = v if v.dtype is I64 else Op("cast", [v], I64)
    i = checks.index(L.ctx, i, n.params["size"], n, n.params["axis"], src=n.inputs[0])
    return i if v.dtype is I64 else Op("cast", [i], v.dtype)


@index_rule(P.take)
def _r_take(L, n, idx):
    x, ind = n.inputs
    axis = n.params["axis"]
    k = ind.type.ndim
    i = L.emit(ind, idx[axis:axis + k])
    if i.dtype is not I64:
        i = Op("cast", [i], I64)
    i = checks.index(L.ctx, i, x.type.shape[axis], n, axis, src=ind)
    return checks.keep(L.emit(x, idx[:axis] + (i,) + idx[axis + k:]), i, x.type.shape[axis])


@index_rule(P.threefry2x32)
def _r_threefry(L, n, idx):
    # the element (b, i) hashes counter x0:x1 + flat(i) under key k0:k1, all read at the batch index b; the hash is
    # one i64 op (both words packed) so that the words of one element, read apart in a fused group, share it
    shape, mode = tuple(n.params.get("shape", ())), n.params.get("mode", "xor")
    nb = n.out.type.ndim - len(shape) - (mode == "pair")
    batch = n.out.type.shape[:nb]
    args = [L.emit(a, bcast_idx(idx[:nb], batch, a.type.shape)) for a in n.inputs]
    packed = Op("threefry2x32", args + [as_expr(flat(idx[nb:nb + len(shape)], shape))], I64)
    if mode == "xor":
        return Op("threefry_xor", [packed], U32)
    return Op("threefry_word", [packed, as_expr(idx[-1])], U32)


@index_rule(P.max_pool2d)
def _r_pool(L, n, idx):
    x = n.inputs[0]
    (kh, kw), (sh, sw) = _pair(n.params.get("size", 2)), _pair(n.params.get("stride", 2))
    nn_, c, i, j = idx
    out = None
    for a in range(kh):
        for b in range(kw):
            v = L.emit(x, (nn_, c, c_add(c_mul(i, sh), Ix.lit(a)), c_add(c_mul(j, sw), Ix.lit(b))))
            out = v if out is None else Op("maximum", [out, v], n.out.type.dtype)
    return out


def _pool_window(L, x, nn_, c, i, j, kh, kw, sh, sw, dt):
    """Loads of one pooling window of x and its max (NaN-propagating) and number of maxima."""
    vals = [L.emit(x, (nn_, c, c_add(c_mul(i, sh), Ix.lit(a)) if isinstance(i, Ix) else
                       c_add(c_mul(i, sh), a),
                       c_add(c_mul(j, sw), Ix.lit(b)) if isinstance(j, Ix) else c_add(c_mul(j, sw), b)))
            for a in range(kh) for b in range(kw)]
    m = vals[0]
    for v in vals[1:]:
        m = Op("maximum", [m, v], dt)
    eqs = [Op("eq", [v, m], BOOL) for v in vals]
    cnt = None
    for e in eqs:
        v = Op("cast", [e], dt)
        cnt = v if cnt is None else Op("add", [cnt, v], dt)
    return vals, m, eqs, cnt


@index_rule(P.max_pool2d_jvp)
def _r_pool_jvp(L, n, idx):
    # sum over the window of t * (x == max) / count
    x, t = n.inputs
    dt = n.out.type.dtype
    (kh, kw), (sh, sw) = _pair(n.params.get("size", 2)), _pair(n.params.get("stride", 2))
    nn_, c, i, j = idx
    _, m, eqs, cnt = _pool_window(L, x, nn_, c, i, j, kh, kw, sh, sw, dt)
    tv = [L.emit(t, (nn_, c, c_add(c_mul(i, sh), Ix.lit(a)), c_add(c_mul(j, sw), Ix.lit(b))))
          for a in range(kh) for b in range(kw)]
    acc = None
    for e, v in zip(eqs, tv):
        s_ = Op("select", [e, v, Const(0, dt)], dt)
        acc = s_ if acc is None else Op("add", [acc, s_], dt)
    return Op("div", [acc, cnt], dt)


@index_rule(P.max_pool2d_vjp)
def _r_pool_vjp(L, n, idx):
    # dx[h, w] gathers ct of every window that holds (h, w), weighted by (x == window max) / count
    x, ct = n.inputs
    dt = n.out.type.dtype
    (kh, kw), (sh, sw) = _pair(n.params.get("size", 2)), _pair(n.params.get("stride", 2))
    OH, OW = ct.type.shape[2], ct.type.shape[3]
    nn_, c, h, w = idx
    xv = L.emit(x, idx)
    if (kh, kw) == (sh, sw):
        # non-overlapping windows: (h, w) lies in the one window (h // sh, w // sw), if that window exists
        conds, win = [], []
        for t, s_, o, full in ((h, sh, OH, x.type.shape[2]), (w, sw, OW, x.type.shape[3])):
            t = _ix_floordiv(t, s_)
            if sadd(full, -smul(o, s_)) != 0:
                conds.append(Op("lt", [t, as_expr(o)], BOOL))
                t = Op("clamp", [t, _i64(0), as_expr(sadd(o, -1))], I64)
            win.append(t)
        _, m, _, cnt = _pool_window(L, x, nn_, c, win[0], win[1], kh, kw, sh, sw, dt)
        g = L.emit(ct, (nn_, c, win[0], win[1]))
        return Op("select", [_all(conds + [Op("eq", [xv, m], BOOL)]), Op("div", [g, cnt], dt), Const(0, dt)], dt)
    acc = None
    for a in range(kh):
        for b in range(kw):
            ch, ii = _tap(as_expr(c_add(h, Ix.lit(-a))), sh, OH)
            cw, jj = _tap(as_expr(c_add(w, Ix.lit(-b))), sw, OW)
            _, m, _, cnt = _pool_window(L, x, nn_, c, ii, jj, kh, kw, sh, sw, dt)
            g = L.emit(ct, (nn_, c, ii, jj))
            v = Op("select", [_all(ch + cw + [Op("eq", [xv, m], BOOL)]), Op("div", [g, cnt], dt), Const(0, dt)], dt)
            acc = v if acc is None else Op("add", [acc, v], dt)
    return acc


def _ix_floordiv(t, s):
    """t // s: an affine Ix when t = s*(affine) + r with 0 <= r < s (a window-tiled loop), else a floordiv op."""
    if s == 1:
        return t
    if (isinstance(t, Ix) and isinstance(t.const, int) and 0 <= t.const < s
            and all(isinstance(c, int) and c % s == 0 for _, c in t.terms)):
        return Ix([(v, c // s) for v, c in t.terms], 0)
    return Op("floordiv", [as_expr(t), _i64(s)], I64)


@index_rule(P.cast)
def _r_cast(L, n, idx):
    x = n.inputs[0]
    v = L.emit(x, idx)
    if v.dtype is n.out.type.dtype:
        return v
    return Op("cast", [v], n.out.type.dtype)
