"""The dot-product formulation of the own gemm kernels (llvm_gemm.py): for C = A B^T with both operands
contiguous along k (layout nt), vectors run along k and each output is the sum of one accumulator's lanes.

  void @vive.gemm.<f32|f64>.nt.k<MR>x<NR>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)   (arguments as sgemm's)

An MR x NR block of C keeps MR * NR vector accumulators; per step of k it loads MR vectors of A's rows and NR of B's
rows (B stored n x k) and does MR * NR FMAs; a last partial vector of k is read with masked loads. Rows and columns
past the end of a block read the last row (in bounds; their sums are not stored).

NOTE: the shapes it is for are the weight gradients of convolutions: a few output channels by a few taps, summed
over every pixel of the batch (LeNet-5: 6 x 25 over k = 50176, 16 x 150 over k = 6400). The row/column
formulations run them at 35 GFLOP/s on Zen 4 (a few output tiles, the packing of R redone per k-block, the stores
of C once per k-block); these sums stay in registers for the whole k.
"""
from __future__ import annotations

from llvmlite import ir


def dot_tile(isa):
    """(MR, NR): MR * NR accumulators plus MR + NR loaded vectors in the register file."""
    return (4, 4) if isa.registers >= 32 else (3, 3)


def build_dot(em, name):
    """Define the kernel `name` with the helpers of llvm_gemm._Emitter `em` (its plan has dot=True)."""
    fn, b = em.function(name)
    m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc = fn.args
    c64 = em.c64
    em.rows, em.cols, em.k, em.o, em.osi, em.osj = m, n, k, c, ldc, c64(1)
    return em.body(b, lambda b: _sums(em, b, fn.args))


def _sums(em, b, args):
    """The main block: every MR x NR block of C from sums along k."""
    m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc = args
    p, ft, L, c64 = em.p, em.ft, em.lanes, em.c64
    mr, nr = p.mr, p.nv
    tail = b.srem(k, c64(L))
    kv = b.sub(k, tail)
    tmask = em.mask(b, 0, tail)
    lastr, lastc = b.sub(m, c64(1)), b.sub(n, c64(1))
    zero = ir.Constant(em.vt, None)
    fzero = ir.Constant(ft, 0.0)
    reduce_fn = em.intrinsic(f"llvm.vector.reduce.fadd.{em.suffix()}", ft, [ft, em.vt])

    def col_block(b, j0, _):
        pb = [em.gep(b, bb, b.mul(em.smin(b, b.add(j0, c64(j)), lastc), ldb)) for j in range(nr)]

        def row_block(b, i0, _):
            pa = [em.gep(b, a, b.mul(em.smin(b, b.add(i0, c64(i)), lastr), lda)) for i in range(mr)]

            def step(b, q, accs, mask=None):
                av = [em.vload(b, em.gep(b, x, q), mask) for x in pa]
                bv = [em.vload(b, em.gep(b, x, q), mask) for x in pb]
                return [em.fma(b, av[i], bv[j], accs[i * nr + j]) for i in range(mr) for j in range(nr)]
            accs = em.loop(b, c64(0), kv, L, step, [zero] * (mr * nr))
            accs = step(b, kv, accs, tmask)
            read = b.fcmp_unordered("!=", beta, fzero)
            for i in range(mr):
                row = b.add(i0, c64(i))
                for j in range(nr):
                    col = b.add(j0, c64(j))
                    inside = b.and_(b.icmp_signed("<", row, m), b.icmp_signed("<", col, n))
                    with b.if_then(inside):
                        s = b.call(reduce_fn, [ir.Constant(ft, -0.0), accs[i * nr + j]], fastmath=("reassoc",))
                        at = em.gep(b, c, b.add(b.mul(row, ldc), col))
                        v = b.fmul(alpha, s)
                        with b.if_else(read) as (rd, nord):
                            with rd:
                                b.store(b.fadd(v, b.fmul(beta, b.load(at, typ=ft))), at)
                            with nord:
                                b.store(v, at)
        em.loop(b, c64(0), m, mr, row_block)
    em.loop(b, c64(0), n, nr, col_block)


def dot_cost(m, n, k, mr, nr, lanes):
    """Rough cycles, comparable with llvm_gemm._cost: vector FMAs (padded tiles, k in whole vectors) or loads,
    plus a reduction per output."""
    tiles = -(-m // mr) * -(-n // nr)
    kvec = -(-k // lanes)
    return max(tiles * mr * nr * kvec, tiles * kvec * (mr + nr) / 2) + m * n * 8 + 20 * tiles

