"""The GPU matmul of a Gemm statement: C = alpha * op(A) @ op(B) (+ beta * C), tiled through shared memory.

Each block of 256 threads computes a 128x128 tile of C, stepping through K 8 at a time: the A and B tiles
(128x8, 8x128) are copied into shared memory (coalesced for either transpose), then each thread accumulates an
8x8 sub-tile in registers with 8x64 FMAs per step. A thread's rows are ty*4+{0..3} and 64+ty*4+{0..3} (columns
likewise with tx), which keeps its shared-memory reads to two 16-byte runs per row of the tile. Shared rows are
padded by 4 elements so the tile stores do not collide on banks. Grid: x = column tiles, y = row tiles
(grid-stride), z = batch (grid-stride over a batch loop of Gemms) or, for a split-K launch (ptx_plan), the K
share: each block runs its steps of K and adds alpha * its partial tile into C with atomic adds.
"""
from __future__ import annotations

from llvmlite import ir

from . import ptx_support as px
from .scalar import ll_type

BM = BN = 128
BK = 8
THREADS = 256
PAD = 4
I32T, I64T = ir.IntType(32), ir.IntType(64)


def emit_gemm(g):
    lc, b = g.lc, g.b
    gm = lc.gemm
    t = ll_type(gm.dtype)
    zero = ir.Constant(t, 0.0)
    mod = b.module
    a_s = px.shared_array(mod, f"{g.fn.name}.As", t, BK * (BM + PAD))
    b_s = px.shared_array(mod, f"{g.fn.name}.Bs", t, BK * (BN + PAD))
    tid = g.tid()
    tid32 = b.trunc(tid, I32T)
    tx = b.and_(tid32, ir.Constant(I32T, 15))
    ty = b.lshr(tid32, ir.Constant(I32T, 4))
    M, N, K = g.sym(gm.m), g.sym(gm.n), g.sym(gm.k)
    lda, ldb, ldc = g.sym(gm.lda), g.sym(gm.ldb), g.sym(gm.ldc)
    accs = [[g.alloca(t, f"c{i}{j}") for j in range(8)] for i in range(8)]
    # thread-tile row/column offsets inside the 128x128 tile (i32)
    r_off = [b.add(b.mul(ty, ir.Constant(I32T, 4)), ir.Constant(I32T, (0 if i < 4 else 64) + i % 4)) for i in range(8)]
    c_off = [b.add(b.mul(tx, ir.Constant(I32T, 4)), ir.Constant(I32T, (0 if j < 4 else 64) + j % 4)) for j in range(8)]

    def c64(v):
        return ir.Constant(I64T, v)

    def tile_loads(row0, col0, k0, a_base, b_base):
        """Copy A[row0:+128, k0:+8] and B[k0:+8, col0:+128] into shared memory (zeros outside the matrices)."""
        for r in range(4):
            e = b.add(tid, c64(THREADS * r))
            # A(i, k) = a[a_base + (k*lda + i if trans_a else i*lda + k)]
            if gm.trans_a:
                ii, kk = b.and_(e, c64(BM - 1)), b.lshr(e, c64(7))
            else:
                kk, ii = b.and_(e, c64(BK - 1)), b.lshr(e, c64(3))
            gi, gk = b.add(row0, ii), b.add(k0, kk)
            ok = b.and_(b.icmp_signed("<", gi, M), b.icmp_signed("<", gk, K))
            idx = b.add(a_base, b.add(b.mul(gk, lda), gi) if gm.trans_a else b.add(b.mul(gi, lda), gk))
            v = px.load(b, g.bufs[gm.a], b.select(ok, idx, a_base), t)
            b.store(b.select(ok, v, zero),
                    px.shared_ptr(b, a_s, b.trunc(b.add(b.mul(kk, c64(BM + PAD)), ii), I32T)))
            # B(k, j) = b[b_base + (j*ldb + k if trans_b else k*ldb + j)]
            if gm.trans_b:
                kk, jj = b.and_(e, c64(BK - 1)), b.lshr(e, c64(3))
            else:
                jj, kk = b.and_(e, c64(BN - 1)), b.lshr(e, c64(7))
            gj, gk = b.add(col0, jj), b.add(k0, kk)
            ok = b.and_(b.icmp_signed("<", gj, N), b.icmp_signed("<", gk, K))
            idx = b.add(b_base, b.add(b.mul(gj, ldb), gk) if gm.trans_b else b.add(b.mul(gk, ldb), gj))
            v = px.load(b, g.bufs[gm.b], b.select(ok, idx, b_base), t)
            b.store(b.select(ok, v, zero),
                    px.shared_ptr(b, b_s, b.trunc(b.add(b.mul(kk, c64(BN + PAD)), jj), I32T)))

    def compute():
        # NOTE: a loop, not unrolled here: LLVM keeps the 64 accumulators in registers either way, and the
        # module stays small enough to compile in a fraction of a second.
        def step():
            kk = b.trunc(g.vars["kk"], I32T)
            ka, kb = b.mul(kk, ir.Constant(I32T, BM + PAD)), b.mul(kk, ir.Constant(I32T, BN + PAD))
            af = [b.load(px.shared_ptr(b, a_s, b.add(r, ka))) for r in r_off]
            bf = [b.load(px.shared_ptr(b, b_s, b.add(c, kb))) for c in c_off]
            for i in range(8):
                for j in range(8):
                    b.store(px.fma(b, af[i], bf[j], b.load(accs[i][j])), accs[i][j])
        g.loop("kk", c64(0), c64(BK), c64(1), step, name="kk")

    def tile(a_base, b_base, c_base):
        row0 = b.mul(g.vars["tile_m"], c64(BM))
        col0 = b.mul(g.sreg64("ctaid.x"), c64(BN))
        for row in accs:
            for a in row:
                b.store(zero, a)

        def kstep():
            tile_loads(row0, col0, g.vars["k0"], a_base, b_base)
            px.barrier(b)
            compute()
            px.barrier(b)
        if lc.split is None:
            g.loop("k0", c64(0), K, c64(BK), kstep, name="k0")
        else:
            # split-K: this block's share of the K steps (gridDim.z shares); C was set to beta*C beforehand
            steps = b.sdiv(b.add(K, c64(BK - 1)), c64(BK))
            nz = g.sreg64("nctaid.z")
            per = b.mul(b.sdiv(b.add(steps, b.sub(nz, c64(1))), nz), c64(BK))
            k_lo = b.mul(g.sreg64("ctaid.z"), per)
            k_hi = b.add(k_lo, per)
            k_hi = b.select(b.icmp_signed("<", k_hi, K), k_hi, K)
            g.loop("k0", k_lo, k_hi, c64(BK), kstep, name="k0")
        rows = [b.add(row0, b.zext(r, I64T)) for r in r_off]
        cols = [b.add(col0, b.zext(c, I64T)) for c in c_off]
        rok = [b.icmp_signed("<", r, M) for r in rows]
        cok = [b.icmp_signed("<", c, N) for c in cols]
        for i in range(8):
            base = b.add(c_base, b.mul(rows[i], ldc))
            for j in range(8):
                with b.if_then(b.and_(rok[i], cok[j])):
                    v = b.load(accs[i][j])
                    if gm.alpha != 1.0:
                        v = b.fmul(v, ir.Constant(t, gm.alpha))
                    p = px.element_ptr(b, g.bufs[gm.c], b.add(base, cols[j]), t)
                    if lc.split is not None:
                        b.atomic_rmw("fadd", p, v, "monotonic")
                    else:
                        if gm.beta != 0.0:
                            v = b.fadd(v, b.fmul(b.load(p), ir.Constant(t, gm.beta)))
                        b.store(v, p)

    def batch_body():
        a_base, b_base, c_base = g.ix(gm.a_off), g.ix(gm.b_off), g.ix(gm.c_off)
        mtiles = b.sdiv(b.add(M, c64(BM - 1)), c64(BM))
        g.loop("tile_m", g.sreg64("ctaid.y"), mtiles, g.sreg64("nctaid.y"),
               lambda: tile(a_base, b_base, c_base), name="tile_m")

    if lc.batch is not None:
        var, ext = lc.batch
        g.loop(var, g.sreg64("ctaid.z"), g.sym(ext), g.sreg64("nctaid.z"), batch_body, name="batch")
    else:
        batch_body()
