"""The CPU lowering of the decompositions (primitives/linalg_decomp.py): one kernel per op, a serial loop over the
batch of matrices, each copied into column-major scratch, handed to the LAPACK routine NumPy's np.linalg calls for
it (gesv, getrf, potrf, syevd, gesdd; `Lapack` statements, bound by codegen to numpy's bundled OpenBLAS), and copied
back, with the failure LAPACK reports (info != 0: a singular matrix, one not positive definite, no convergence)
turned into NaN results (slogdet: sign 0 and -inf, NumPy's values for an exactly singular matrix).

The copies are NumPy's own (it linearizes each matrix into Fortran order before the call), so the routine sees the
same numbers: f64 results equal NumPy's to rounding, eigenvector and singular vector signs included (every case of
the tests); in f32 a rounding difference inside the routine can still flip a vector's sign (seen for the smallest
singular vector pair of a 5x5 matrix), which the derivative rules do not depend on. Work arrays are sized from the routines'
documented minimums plus room for their blocked paths (64-wide blocks), which is what a workspace query returns.
"""
from __future__ import annotations

from ..errors import BackendError, format_loc
from ..ir.types import I64, BOOL
from ..ir.kernel import Ix, Const, Load, IndexValue, Op, Loop, Acc, AccInit, AccUpdate, Var, Store, Lapack, \
    sprod, smul, sadd
from .. import primitives as P


def _loops(L, extents, body):
    """Serial loops (outermost first) around body(*indices): LAPACK's scratch is shared by the iterations."""
    vars_ = [L.ctx.var() for _ in extents]
    stmts = body(*[Ix.var(v) for v in vars_])
    for v, e in reversed(list(zip(vars_, extents))):
        stmts = [Loop(v, e, stmts, False)]
    return stmts


def _at(*terms):
    """An affine index: sum of (Ix or int/sympy) terms."""
    out = Ix.lit(0)
    for t in terms:
        out = out.add(t)
    return out


def _to_cols(L, src, off, rows, cols, dst):
    """dst (column-major rows x cols) = the row-major matrix of src at element offset `off`."""
    return _loops(L, (rows, cols), lambda i, j: [
        Store(dst, _at(i, j.mul(rows)), Load(src, _at(off, i.mul(cols), j)))])


def _failed(info):
    return Op("ne", [Load(info, Ix.lit(0)), Const(0, I64)], BOOL)


def _nan_if(bad, v):
    return Op("select", [bad, Const(float("nan"), v.dtype), v], v.dtype)


def _setup(L, n):
    if not L.ctx.use_blas:
        raise BackendError(f"lowering: {n.prim.name} calls LAPACK, and no BLAS/LAPACK library was found "
                           f"(vive uses the OpenBLAS bundled with numpy){format_loc(n.loc) if n.loc else ''}")
    a = n.inputs[0]
    shape = a.type.shape
    return a, shape, sprod(shape[:-2]), a.type.dtype


def _batched(L, nbatch, body):
    bv = L.ctx.var("b")
    return [Loop(bv, nbatch, body(Ix.var(bv)), False)]


def _solve(L, n):
    a, shape, nbatch, dt = _setup(L, n)
    b = n.inputs[1]
    nn, k = shape[-1], b.type.shape[-1]
    abuf, bbuf, out = L.ctx.buffer(a), L.ctx.buffer(b), L.ctx.buffer(n.out)
    ac, bc = L.ctx.scratch("lu", dt, (smul(nn, nn),)), L.ctx.scratch("rhs", dt, (smul(nn, k),))
    ipiv, info = L.ctx.scratch("ipiv", I64, (nn,)), L.ctx.scratch("info", I64, (1,))

    def body(bi):
        call = Lapack("gesv", dt, [("int", nn), ("int", k), ("buf", ac), ("ld", nn), ("buf", ipiv), ("buf", bc),
                                   ("ld", nn), ("buf", info)], writes=(ac, ipiv, bc, info))
        back = _loops(L, (nn, k), lambda i, j: [Store(out, _at(bi.mul(smul(nn, k)), i.mul(k), j),
                                                      _nan_if(_failed(info), Load(bc, _at(i, j.mul(nn)))))])
        return (_to_cols(L, abuf, bi.mul(smul(nn, nn)), nn, nn, ac)
                + _to_cols(L, bbuf, bi.mul(smul(nn, k)), nn, k, bc) + [call] + back)
    return _batched(L, nbatch, body)


def _slogdet(L, n):
    a, shape, nbatch, dt = _setup(L, n)
    nn = shape[-1]
    abuf, out = L.ctx.buffer(a), L.ctx.buffer(n.out)
    ac = L.ctx.scratch("lu", dt, (smul(nn, nn),))
    ipiv, info = L.ctx.scratch("ipiv", I64, (nn,)), L.ctx.scratch("info", I64, (1,))

    def body(bi):
        logs, flips = Acc(L.ctx.var("logdet"), "sum", dt), Acc(L.ctx.var("flips"), "sum", I64)
        call = Lapack("getrf", dt, [("int", nn), ("int", nn), ("buf", ac), ("ld", nn), ("buf", ipiv), ("buf", info)],
                      writes=(ac, ipiv, info))

        def diag(i):
            # sign flips: each negative pivot, each row interchange (ipiv is 1-based)
            u = Load(ac, _at(i.mul(sadd(nn, 1))))
            swapped = Op("ne", [Load(ipiv, i), Op("add", [IndexValue(i), Const(1, I64)], I64)], BOOL)
            neg = Op("lt", [u, Const(0.0, dt)], BOOL)
            return [AccUpdate(logs, Op("log", [Op("abs", [u], dt)], dt)),
                    AccUpdate(flips, Op("add", [Op("cast", [neg], I64), Op("cast", [swapped], I64)], I64))]
        odd = Op("cast", [Op("mod", [Var(flips), Const(2, I64)], I64)], dt)
        sign = Op("sub", [Const(1.0, dt), Op("mul", [Const(2.0, dt), odd], dt)], dt)
        bad = _failed(info)
        return (_to_cols(L, abuf, bi.mul(smul(nn, nn)), nn, nn, ac) + [call, AccInit(logs), AccInit(flips)]
                + _loops(L, (nn,), diag)
                + [Store(out, _at(bi.mul(2)), Op("select", [bad, Const(0.0, dt), sign], dt)),
                   Store(out, _at(bi.mul(2), 1), Op("select", [bad, Const(float("-inf"), dt), Var(logs)], dt))])
    return _batched(L, nbatch, body)


def _cholesky(L, n):
    a, shape, nbatch, dt = _setup(L, n)
    nn = shape[-1]
    abuf, out = L.ctx.buffer(a), L.ctx.buffer(n.out)
    ac, info = L.ctx.scratch("chol", dt, (smul(nn, nn),)), L.ctx.scratch("info", I64, (1,))

    def body(bi):
        call = Lapack("potrf", dt, [("char", "L"), ("int", nn), ("buf", ac), ("ld", nn), ("buf", info)],
                      writes=(ac, info))

        def back(i, j):
            lower = Op("le", [IndexValue(j), IndexValue(i)], BOOL)
            v = Op("select", [lower, _nan_if(_failed(info), Load(ac, _at(i, j.mul(nn)))), Const(0.0, dt)], dt)
            return [Store(out, _at(bi.mul(smul(nn, nn)), i.mul(nn), j), v)]
        return _to_cols(L, abuf, bi.mul(smul(nn, nn)), nn, nn, ac) + [call] + _loops(L, (nn, nn), back)
    return _batched(L, nbatch, body)


def _eigh(L, n):
    a, shape, nbatch, dt = _setup(L, n)
    nn = shape[-1]
    size = sadd(nn, smul(nn, nn))
    abuf, out = L.ctx.buffer(a), L.ctx.buffer(n.out)
    ac, w = L.ctx.scratch("eig", dt, (smul(nn, nn),)), L.ctx.scratch("w", dt, (nn,))
    lwork = sadd(sadd(smul(2, smul(nn, nn)), smul(70, nn)), 1)          # 1 + 6n + 2n^2, + 64n for blocking
    liwork = sadd(smul(5, nn), 3)
    work, iwork = L.ctx.scratch("work", dt, (lwork,)), L.ctx.scratch("iwork", I64, (liwork,))
    info = L.ctx.scratch("info", I64, (1,))

    def body(bi):
        call = Lapack("syevd", dt, [("char", "V"), ("char", n.params.get("uplo", "L")), ("int", nn), ("buf", ac),
                                    ("ld", nn), ("buf", w), ("buf", work), ("int", lwork), ("buf", iwork),
                                    ("int", liwork), ("buf", info)], writes=(ac, w, work, iwork, info))
        base = bi.mul(size)
        vals = _loops(L, (nn,), lambda i: [Store(out, _at(base, i), _nan_if(_failed(info), Load(w, i)))])
        vecs = _loops(L, (nn, nn), lambda i, j: [Store(out, _at(base, nn, i.mul(nn), j),
                                                       _nan_if(_failed(info), Load(ac, _at(i, j.mul(nn)))))])
        return _to_cols(L, abuf, bi.mul(smul(nn, nn)), nn, nn, ac) + [call] + vals + vecs
    return _batched(L, nbatch, body)


def _svd_common(L, n, vectors):
    a, shape, nbatch, dt = _setup(L, n)
    m, nn = shape[-2], shape[-1]
    if not (isinstance(m, int) and isinstance(nn, int)):
        raise BackendError(f"lowering: {n.prim.name} of symbolic size {a.type}: needs static sizes")
    k, mx = min(m, nn), max(m, nn)
    abuf, out = L.ctx.buffer(a), L.ctx.buffer(n.out)
    ac, s = L.ctx.scratch("svd", dt, (m * nn,)), L.ctx.scratch("s", dt, (k,))
    if vectors:
        u, vt = L.ctx.scratch("u", dt, (m * k,)), L.ctx.scratch("vt", dt, (k * nn,))
        lwork = 5 * k * k + 8 * k + mx + m * nn + 128 * (m + nn)
    else:
        u = vt = s                          # not referenced with jobz 'N'
        lwork = 3 * k + max(mx, 7 * k) + 128 * (m + nn)
    work, iwork, info = (L.ctx.scratch("work", dt, (lwork,)), L.ctx.scratch("iwork", I64, (8 * k,)),
                         L.ctx.scratch("info", I64, (1,)))
    size = m * k + k + k * nn if vectors else k

    def body(bi):
        jobz = ("A" if n.params.get("full") else "S") if vectors else "N"
        call = Lapack("gesdd", dt, [("char", jobz), ("int", m), ("int", nn), ("buf", ac),
                                    ("ld", m), ("buf", s), ("buf", u), ("ld", m if vectors else 1), ("buf", vt),
                                    ("ld", k if vectors else 1), ("buf", work), ("int", lwork), ("buf", iwork),
                                    ("buf", info)],
                      writes=(ac, s, u, vt, work, iwork, info) if vectors else (ac, s, work, iwork, info))
        base = bi.mul(size)
        bad = _failed(info)
        stmts = _to_cols(L, abuf, bi.mul(m * nn), m, nn, ac) + [call]
        if not vectors:
            return stmts + _loops(L, (k,), lambda i: [Store(out, _at(base, i), _nan_if(bad, Load(s, i)))])
        stmts += _loops(L, (m, k), lambda i, j: [Store(out, _at(base, i.mul(k), j),
                                                       _nan_if(bad, Load(u, _at(i, j.mul(m)))))])
        stmts += _loops(L, (k,), lambda i: [Store(out, _at(base, m * k, i), _nan_if(bad, Load(s, i)))])
        stmts += _loops(L, (k, nn), lambda i, j: [Store(out, _at(base, m * k + k, i.mul(nn), j),
                                                        _nan_if(bad, Load(vt, _at(i, j.mul(k)))))])
        return stmts
    return _batched(L, nbatch, body)


# primitive -> lowering(GroupLowerer, node) -> statements (lowering.py dispatches opaque groups rooted on these)
LOWERING = {
    P.solve: _solve,
    P.slogdet: _slogdet,
    P.cholesky: _cholesky,
    P.eigh: _eigh,
    P.svd: lambda L, n: _svd_common(L, n, True),
    P.svd_values: lambda L, n: _svd_common(L, n, False),
}
