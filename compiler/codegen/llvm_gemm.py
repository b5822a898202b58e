"""Small-matrix gemm kernels emitted as LLVM IR: register-blocked MR x NR FMA micro-kernels sized from the host's
vector width and register count, called instead of OpenBLAS for the shapes where a BLAS call's fixed costs dominate.

Each kernel is one function with sgemm-like arguments (the layout is fixed in its name), compiled once per process in
a module of its own (backends/gemm_kernels.py) and declared by the programs that call it:
  void @vive.gemm.<f32|f64>.<nn|nt|tn|tt>.<s|d><MR>x<NV>[p](i64 m, i64 n, i64 k, T alpha, ptr a, i64 lda,
                                                             ptr b, i64 ldb, T beta, ptr c, i64 ldc)
computing C = alpha op(A) op(B) + beta C row-major, as cblas_?gemm(RowMajor, ...) does (beta == 0: C is not read;
k == 0: C = beta C). A caller may hand it any column block of C (b and c moved to the block's first column), so a
thread team can split one gemm as it would split an sgemm call.

The micro-kernel keeps an MR x NV-vector tile of its output in registers: per step of k it loads NV vectors of the
right operand R and broadcasts MR scalars of the left operand L. Two formulations (`direct` or `s`wapped):
  d: L = A (rows i), R = B (vector along j), tiles stored as vectors into C;
  s: C^T = B^T A^T: L = B^T, R = A^T (vector along i of C), tiles stored transposed, one scalar at a time.
L is never packed (a row of it is contiguous along k, or k-steps of it are contiguous along rows: both are plain
broadcast loads). R is packed (`p`, KC x NR blocks on the stack, zero-padded) when it is not contiguous along the
vector lanes or the output is narrower than NR. Row tails clamp the rows read to the last row (in bounds, results not
stored); a last partial column panel loads the NR columns ending at the last one and stores only its own lanes
(masked stores): nothing outside the operands is read or written.

Choice (plan_gemm): OpenBLAS for symbolic sizes and past OWN_MAX_WORK multiply-adds; otherwise the formulation and
tile of least modelled cost (vector FMAs with padding, loads, packing, stores). Measured with
benchmarks/bench_gemm.py (Zen 4, one thread): 1.1-3.5x OpenBLAS on the MLP/LeNet shapes and squares 128..512, within
call overhead of it below ~64^3. Where OpenBLAS may run threaded (its thread count > 1 and >= 1M multiply-adds)
the program keeps calling it: these kernels run on the calling thread only.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from llvmlite import ir

from ..ir.types import F32, F64
from ..ir.kernel import Ix
from .scalar import I1T, I32T, I64T
from .llvm_gemm_dot import build_dot, dot_cost, dot_tile

PTR = ir.PointerType()
# k-block of a packed right operand: KC x NR elements on the stack (16 KiB .. 64 KiB)
KC = 256
# own kernels up to this many multiply-adds (512^3: measured faster than OpenBLAS on one thread on every shape class
# of bench_gemm.py up to there, 1.1x at 256..512 squares on Zen 4); bigger ones call OpenBLAS, whose cache blocking
# these kernels lack (no k-blocking of unpacked operands, no packing of L)
OWN_MAX_WORK = 1 << 27
# and from this many (64^3): below it vive's per-call overhead dominates and OpenBLAS measured 0-7% faster
OWN_MIN_WORK = 1 << 18


@dataclass(frozen=True)
class Isa:
    """What the micro-kernel is sized from: vector register width in bits and how many vector registers there are."""
    vector_bits: int
    registers: int

    def lanes(self, dtype):
        return self.vector_bits // (32 if dtype is F32 else 64)


@functools.lru_cache(maxsize=None)
def host_isa() -> Isa:
    """The host's vector registers: 32 x 512 bits with AVX-512F, 16 x 256 with AVX, else 16 x 128 (SSE2)."""
    from llvmlite import binding
    feats = binding.get_host_cpu_features()
    if feats.get("avx512f", False):
        return Isa(512, 32)
    if feats.get("avx", False):
        return Isa(256, 16)
    return Isa(128, 16)


@dataclass(frozen=True)
class GemmPlan:
    """One kernel: dtype, operand layouts, formulation (swap), tile (mr rows x nv vectors) and packing of R."""
    dtype: object
    trans_a: bool
    trans_b: bool
    swap: bool
    mr: int
    nv: int
    dot: bool = False          # vectors along k (llvm_gemm_dot.py; layout nt only): mr x nv outputs per tile

    @property
    def pack(self):
        # R's lanes are contiguous: B's columns (direct, B not transposed) or A's rows (swapped, A transposed)
        if self.dot:
            return False
        return (not self.trans_a) if self.swap else self.trans_b

    def name(self):
        dt = "f32" if self.dtype is F32 else "f64"
        lay = ("t" if self.trans_a else "n") + ("t" if self.trans_b else "n")
        form = "k" if self.dot else "s" if self.swap else "d"
        return f"vive.gemm.{dt}.{lay}.{form}{self.mr}x{self.nv}{'p' if self.pack else ''}"


def _tiles(isa):
    """Two (mr, nv) tiles that fit the register file (mr*nv accumulators + nv loaded vectors + a broadcast + 1):
    a tall one (one vector wide: short outputs like batch-16 layers fill it exactly) and a wide one (6 rows x 4
    vectors with 32 registers, 6 x 2 with 16: BLIS's shapes). NOTE: only two, so that a program needs few distinct
    kernels (each costs a compile once per machine, see backends/gemm_kernels.py); finer choices measured within
    noise of these on the bench_gemm.py shapes."""
    nv = 4 if isa.registers >= 32 else 2
    return [(min(16, isa.registers - 3), 1), ((isa.registers - nv - 2) // nv, nv)]


def _cost(rows, cols, k, mr, nv, lanes, pack, scatter):
    """Rough cycles: vector FMAs (padding included) or loads, whichever bounds, plus packing and the stores."""
    tr, tc = -(-rows // mr), -(-cols // (nv * lanes))
    fma = tr * tc * mr * nv * k
    loads = tr * tc * k * (mr + nv) / 2
    packing = k * tc * nv * lanes if pack else 0
    stores = rows * cols if scatter else rows * tc * nv
    return max(fma, loads) + packing + stores + 20 * tr * tc


def plan_gemm(dtype, trans_a, trans_b, m, n, k, isa=None, force=False):
    """The kernel for C[m,n] = op(A)[m,k] op(B)[k,n] (ints, or None where symbolic), or None to call BLAS."""
    isa = isa or host_isa()
    if not force:
        if any(x is None for x in (m, n, k)) or not OWN_MIN_WORK <= m * n * k <= OWN_MAX_WORK:
            return None
    m, n, k = (x if x is not None else 64 for x in (m, n, k))
    lanes = isa.lanes(dtype)
    best = None
    for swap in (False, True):
        rows, cols = (n, m) if swap else (m, n)
        pack = (not trans_a) if swap else trans_b
        for mr, nv in _tiles(isa):
            c = _cost(rows, cols, max(k, 1), mr, nv, lanes, pack, swap)
            if best is None or c < best[0]:
                best = (c, GemmPlan(dtype, trans_a, trans_b, swap, mr, nv))
    if not trans_a and trans_b:            # both operands contiguous along k: sums along k may win
        mr, nr = dot_tile(isa)
        c = dot_cost(m, n, max(k, 1), mr, nr, lanes)
        if c < best[0]:
            return GemmPlan(dtype, trans_a, trans_b, False, mr, nr, True)
    plan = best[1]
    if not force and not plan.pack and (m if plan.swap else n) < plan.nv * lanes:
        return None         # an output narrower than one panel is packed just for that: OpenBLAS is faster there
    return plan


def all_plans(isa=None) -> list:
    """Every plan plan_gemm can choose on this host (either dtype, layout, formulation and tile): the whole kernel
    library, which `vive warm` compiles into the disk cache ahead of the first program."""
    isa = isa or host_isa()
    plans = []
    for dtype in (F32, F64):
        for trans_a in (False, True):
            for trans_b in (False, True):
                plans += [GemmPlan(dtype, trans_a, trans_b, swap, mr, nv) for swap in (False, True)
                          for mr, nv in _tiles(isa)]
        plans.append(GemmPlan(dtype, False, True, False, *dot_tile(isa), True))
    return plans


def define_gemm(module, plan: GemmPlan, isa=None, linkage="internal") -> ir.Function:
    """The module's definition of `plan`'s kernel (emitted on first use)."""
    isa = isa or host_isa()
    name = plan.name()
    fn = module.globals.get(name)
    if fn is None:
        if plan.dot:
            em = _Emitter(module, plan, isa)
            fn = build_dot(em, name)
        else:
            fn = _Emitter(module, plan, isa).build(name)
        fn.linkage = linkage
    return fn


def declare_gemm(module, plan: GemmPlan) -> ir.Function:
    """An external declaration of `plan`'s kernel, for a program: the kernels are compiled once per process, in
    modules of their own (backends/gemm_kernels.py, disk-cached), and found by name when the program is loaded.

    NOTE: defined in each program, a kernel cost ~40-80 ms of LLVM time (O3) per distinct tile, every cold compile;
    alone at O1 it runs as fast (measured: 16x256x784 57 us at O1 and O3) and compiles in half the time, once."""
    name = plan.name()
    fn = module.globals.get(name)
    if fn is None:
        ft = ir.FloatType() if plan.dtype is F32 else ir.DoubleType()
        fn = ir.Function(module, _fty(ft), name)
        for hook in DECLARE_HOOKS:
            hook(name)
    return fn


# called with a kernel's name when a program first declares it: backends/gemm_kernels.py starts compiling it then,
# on a spare core, while the rest of the program is written
DECLARE_HOOKS: list = []


_NAME = re.compile(r"vive\.gemm\.(f32|f64)\.([nt])([nt])\.([dsk])(\d+)x(\d+)(p?)$")


def plan_from_name(name):
    """The GemmPlan whose kernel is called `name` (GemmPlan.name), or None."""
    mt = _NAME.match(name)
    if mt is None:
        return None
    dt, ta, tb, sw, mr, nv, pack = mt.groups()
    if sw == "k" and (ta, tb) != ("n", "t"):
        return None
    plan = GemmPlan(F32 if dt == "f32" else F64, ta == "t", tb == "t", sw == "s", int(mr), int(nv), sw == "k")
    return plan if plan.pack == (pack == "p") else None


def kernel_module_ir(plan, triple="", data_layout="", isa=None) -> str:
    """LLVM IR text of a module defining `plan`'s kernel, externally visible under its name."""
    mod = ir.Module(name=plan.name())
    if triple:
        mod.triple = triple
    if data_layout:
        mod.data_layout = data_layout
    define_gemm(mod, plan, isa, linkage="external")
    return str(mod)


def _fty(ft):
    return ir.FunctionType(ir.VoidType(), [I64T, I64T, I64T, ft, PTR, I64T, PTR, I64T, ft, PTR, I64T])


class _Emitter:
    def __init__(self, module, plan, isa):
        self.mod, self.p = module, plan
        self.ft = ir.FloatType() if plan.dtype is F32 else ir.DoubleType()
        self.lanes = isa.lanes(plan.dtype)
        self.vt = ir.VectorType(self.ft, self.lanes)
        self.mt = ir.VectorType(I1T, self.lanes)
        self.esize = 4 if plan.dtype is F32 else 8
        self.nr = plan.nv * self.lanes

    # ---- small helpers ----
    def c64(self, v):
        return ir.Constant(I64T, v)

    def intrinsic(self, name, ret, args):
        f = self.mod.globals.get(name)
        if f is None:
            f = ir.Function(self.mod, ir.FunctionType(ret, args), name)
        return f

    def suffix(self):
        return f"v{self.lanes}{'f32' if self.p.dtype is F32 else 'f64'}"

    def loop(self, b, start, stop, step, body, carried=()):
        """for i = start; i < stop; i += step: carried = body(b, i, carried). Returns the final carried values."""
        fn = b.function
        pre = b.block
        head = fn.append_basic_block("loop")
        blk = fn.append_basic_block("body")
        done = fn.append_basic_block("done")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64T)
        i.add_incoming(start, pre)
        phis = []
        for v in carried:
            ph = b.phi(v.type)
            ph.add_incoming(v, pre)
            phis.append(ph)
        b.cbranch(b.icmp_signed("<", i, stop), blk, done)
        b.position_at_end(blk)
        new = body(b, i, phis)
        nxt = b.add(i, step if isinstance(step, ir.Value) else self.c64(step))
        end = b.block
        b.branch(head)
        i.add_incoming(nxt, end)
        for ph, v in zip(phis, new or ()):
            ph.add_incoming(v, end)
        b.position_at_end(done)
        return phis

    def smin(self, b, x, y):
        return b.select(b.icmp_signed("<", x, y), x, y)

    def splat(self, b, s):
        v = b.insert_element(ir.Constant(self.vt, ir.Undefined), s, ir.Constant(I32T, 0))
        return b.shuffle_vector(v, ir.Constant(self.vt, ir.Undefined), ir.Constant(ir.VectorType(I32T, self.lanes),
                                                                               [0] * self.lanes))

    def mask(self, b, first, nrem):
        """Lanes first + l < nrem."""
        idx = ir.Constant(ir.VectorType(I64T, self.lanes), [first + l for l in range(self.lanes)])
        lim = b.insert_element(ir.Constant(ir.VectorType(I64T, self.lanes), ir.Undefined), nrem,
                               ir.Constant(I32T, 0))
        lim = b.shuffle_vector(lim, ir.Constant(ir.VectorType(I64T, self.lanes), ir.Undefined),
                               ir.Constant(ir.VectorType(I32T, self.lanes), [0] * self.lanes))
        return b.icmp_signed("<", idx, lim)

    def splat_i1(self, b, bit):
        v = b.insert_element(ir.Constant(self.mt, ir.Undefined), bit, ir.Constant(I32T, 0))
        return b.shuffle_vector(v, ir.Constant(self.mt, ir.Undefined), ir.Constant(ir.VectorType(I32T, self.lanes),
                                                                               [0] * self.lanes))

    def vptr(self, b, ptr):
        # the stack buffers are typed float*/double* in llvmlite; vector accesses go through a cast
        return ptr if getattr(ptr.type, "is_opaque", True) else b.bitcast(ptr, self.vt.as_pointer())

    def vload(self, b, ptr, mask=None):
        ptr = self.vptr(b, ptr)
        if mask is None:
            return b.load(ptr, typ=self.vt, align=self.esize)
        f = self.intrinsic(f"llvm.masked.load.{self.suffix()}.p0", self.vt, [PTR, I32T, self.mt, self.vt])
        return b.call(f, [ptr, ir.Constant(I32T, self.esize), mask, ir.Constant(self.vt, None)])

    def vstore(self, b, val, ptr, mask=None):
        ptr = self.vptr(b, ptr)
        if mask is None:
            b.store(val, ptr, align=self.esize)
            return
        f = self.intrinsic(f"llvm.masked.store.{self.suffix()}.p0", ir.VoidType(), [self.vt, PTR, I32T, self.mt])
        b.call(f, [val, ptr, ir.Constant(I32T, self.esize), mask])

    def fma(self, b, x, y, z):
        f = self.intrinsic(f"llvm.fmuladd.{self.suffix()}", self.vt, [self.vt] * 3)
        return b.call(f, [x, y, z])

    def gep(self, b, ptr, off):
        return b.gep(ptr, [off], source_etype=self.ft)

    # ---- the function ----
    def function(self, name):
        """The kernel's function (sgemm-like arguments, operands noalias) and a builder at its entry."""
        fn = ir.Function(self.mod, _fty(self.ft), name)
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        for x in (fn.args[4], fn.args[6], fn.args[9]):
            x.add_attribute("noalias")
        self.fn = fn
        self.alpha, self.beta = fn.args[3], fn.args[8]
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def body(self, b, main):
        """From b: return at once for an empty output (rows or cols <= 0), C = beta C for k <= 0, else main(b);
        then return. Needs self.rows / cols / k / o / osi / osj."""
        fn, zero = self.fn, self.c64(0)
        ret, work, kzero, go = (fn.append_basic_block(s) for s in ("ret", "work", "kzero", "main"))
        b.cbranch(b.or_(b.icmp_signed("<=", self.rows, zero), b.icmp_signed("<=", self.cols, zero)), ret, work)
        b.position_at_end(work)
        b.cbranch(b.icmp_signed("<=", self.k, zero), kzero, go)
        b.position_at_end(kzero)
        self.scale_by_beta(b)
        b.branch(ret)
        b.position_at_end(go)
        main(b)
        b.branch(ret)
        b.position_at_end(ret)
        b.ret_void()
        return fn

    def build(self, name):
        p, ft = self.p, self.ft
        fn, b = self.function(name)
        m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc = fn.args
        one, zero = self.c64(1), self.c64(0)
        # L(i, q) = l[i*lsi + q*lsq], R(q, j) = r[q*rsq + j*rsj], O(i, j) = o[i*osi + j*osj]
        if not p.swap:
            rows, cols = m, n
            l, (lsi, lsq) = a, ((one, lda) if p.trans_a else (lda, one))
            r, (rsq, rsj) = bb, ((one, ldb) if p.trans_b else (ldb, one))
            osi, osj = ldc, one
        else:
            rows, cols = n, m
            l, (lsi, lsq) = bb, ((ldb, one) if p.trans_b else (one, ldb))
            r, (rsq, rsj) = a, ((lda, one) if p.trans_a else (one, lda))
            osi, osj = one, ldc
        self.rows, self.cols, self.k = rows, cols, k
        self.l, self.lsi, self.lsq, self.r, self.rsq, self.rsj, self.osi, self.osj = l, lsi, lsq, r, rsq, rsj, osi, osj
        self.o = c
        self.buf = b.alloca(ft, size=self.c64(KC * self.nr))
        self.buf.align = 64
        if p.swap:
            self.tmp = b.alloca(ft, size=self.c64(p.mr * self.nr))
            self.tmp.align = 64
        return self.body(b, lambda b: self.loop(b, zero, cols, self.nr, self.panel))

    def scale_by_beta(self, b):
        """k == 0: C = beta C (beta == 0: zeros, C not read)."""
        zero = ir.Constant(self.ft, 0.0)
        bz = b.fcmp_ordered("==", self.beta, zero)

        def row(b, i, _):
            def col(b, j, _):
                at = self.gep(b, self.o, b.add(b.mul(i, self.osi), b.mul(j, self.osj)))
                with b.if_else(bz) as (then, other):
                    with then:
                        b.store(zero, at)
                    with other:
                        b.store(b.fmul(self.beta, b.load(at, typ=self.ft)), at)
            self.loop(b, self.c64(0), self.cols, 1, col)
        self.loop(b, self.c64(0), self.rows, 1, row)

    def panel(self, b, j0, _):
        """Columns j0 .. j0+NR of the output: every k-block, every row tile.

        NOTE: one micro-kernel with plain (unmasked) vector loads serves every panel: a last partial panel loads the
        NR columns ending at the last one (js = cols - NR, in bounds) and stores only its own lanes; an output
        narrower than NR, and an R not contiguous along the lanes, are packed zero-padded into the stack buffer
        (KC x NR per k-block). Masked loads in the k-loop cost ~25% here (Zen 4), a second copy doubled LLVM time."""
        c64, nr = self.c64, self.nr
        nrem = self.smin(b, b.sub(self.cols, j0), c64(nr))
        packed = ir.Constant(I1T, 1) if self.p.pack else b.icmp_signed("<", self.cols, c64(nr))
        js = b.select(packed, j0, self.smin(b, j0, b.sub(self.cols, c64(nr))))
        off = b.sub(j0, js)
        kcmax = b.select(packed, c64(KC), self.k)
        lane_masks = [self.lane_range(b, v * self.lanes, off, b.add(off, nrem)) for v in range(self.p.nv)]

        def kblock(b, q0, _):
            kc = self.smin(b, b.sub(self.k, q0), kcmax)
            with b.if_then(packed):
                self.pack(b, j0, nrem, q0, kc)
            rbase = b.select(packed, self.buf, self.gep(b, self.r, b.add(b.mul(q0, self.rsq), js)))
            rstep = b.select(packed, c64(nr), self.rsq)
            first = b.icmp_signed("==", q0, c64(0))

            def tile(b, i0, _):
                acc = self.micro(b, i0, q0, kc, rbase, rstep)
                self.store(b, acc, i0, js, off, nrem, first, lane_masks)
            self.loop(b, c64(0), self.rows, self.p.mr, tile)
        self.loop(b, c64(0), self.k, kcmax, kblock)

    def lane_range(self, b, first, lo, hi):
        """Lanes first + l in [lo, hi)."""
        vt = ir.VectorType(I64T, self.lanes)
        idx = ir.Constant(vt, [first + l for l in range(self.lanes)])
        return b.and_(b.icmp_signed(">=", idx, self.splat_as(b, lo, vt)), b.icmp_signed("<", idx, self.splat_as(b, hi, vt)))

    def splat_as(self, b, x, vt):
        v = b.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(I32T, 0))
        return b.shuffle_vector(v, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(I32T, self.lanes),
                                                                         [0] * self.lanes))

    def pack(self, b, j0, nrem, q0, kc):
        """buf[q*NR + jj] = R(q0+q, j0+jj) for jj < nrem, zero beyond (so the micro-kernel loads whole vectors)."""
        zero = ir.Constant(self.ft, 0.0)

        def col(b, jj, _):
            src = self.gep(b, self.r, b.add(b.mul(q0, self.rsq), b.mul(b.add(j0, jj), self.rsj)))

            def step(b, q, _):
                v = b.load(self.gep(b, src, b.mul(q, self.rsq)), typ=self.ft)
                b.store(v, self.gep(b, self.buf, b.add(b.mul(q, self.c64(self.nr)), jj)))
            self.loop(b, self.c64(0), kc, 1, step)

        def pad(b, jj, _):
            def step(b, q, _):
                b.store(zero, self.gep(b, self.buf, b.add(b.mul(q, self.c64(self.nr)), jj)))
            self.loop(b, self.c64(0), kc, 1, step)
        self.loop(b, self.c64(0), nrem, 1, col)
        self.loop(b, nrem, self.c64(self.nr), 1, pad)

    def micro(self, b, i0, q0, kc, rbase, rstep):
        """The MR x NV accumulators after kc steps of k from q0 (rows past the end read the last row)."""
        mr, nv = self.p.mr, self.p.nv
        last = b.sub(self.rows, self.c64(1))
        lbase = [self.gep(b, self.l, b.add(b.mul(self.smin(b, b.add(i0, self.c64(i)), last), self.lsi),
                                           b.mul(q0, self.lsq))) for i in range(mr)]
        zero = ir.Constant(self.vt, None)

        def step(b, q, accs):
            rp = self.gep(b, rbase, b.mul(q, rstep))
            rv = [self.vload(b, self.gep(b, rp, self.c64(v * self.lanes))) for v in range(nv)]
            lq = b.mul(q, self.lsq)
            out = []
            for i in range(mr):
                s = self.splat(b, b.load(self.gep(b, lbase[i], lq), typ=self.ft))
                for v in range(nv):
                    out.append(self.fma(b, s, rv[v], accs[i * nv + v]))
            return out
        return self.loop(b, self.c64(0), kc, 1, step, [zero] * (mr * nv))

    def store(self, b, acc, i0, js, off, nrem, first, masks):
        """O[i0+i, js + lanes] = alpha acc + beta' O for the lanes of `masks` (beta' = beta in the first k-block,
        else 1; beta' == 0: O's value is not used) and the rows inside: masked, branch-free."""
        p, mr, nv = self.p, self.p.mr, self.p.nv
        fzero = ir.Constant(self.ft, 0.0)
        beta = b.select(first, self.beta, ir.Constant(self.ft, 1.0))
        read = b.fcmp_unordered("!=", beta, fzero)
        va, vb = self.splat(b, self.alpha), self.splat(b, beta)
        if p.swap:
            for i in range(mr):
                for v in range(nv):
                    x = b.fmul(va, acc[i * nv + v])
                    self.vstore(b, x, self.gep(b, self.tmp, self.c64(i * self.nr + v * self.lanes)))
            self.scatter(b, i0, js, off, nrem, beta, read)
            return
        last = b.sub(self.rows, self.c64(1))
        for i in range(mr):
            row = b.add(i0, self.c64(i))
            rmask = self.splat_i1(b, b.icmp_signed("<", row, self.rows))
            base = b.add(b.mul(self.smin(b, row, last), self.osi), js)
            for v in range(nv):
                x = b.fmul(va, acc[i * nv + v])
                at = self.gep(b, self.o, b.add(base, self.c64(v * self.lanes)))
                mk = b.and_(masks[v], rmask)
                y = b.select(read, self.fma(b, vb, self.vload(b, at, mk), x), x)
                self.vstore(b, y, at, mk)

    def scatter(self, b, i0, js, off, nrem, beta, read):
        """O[i0+i, js+jj] = tmp[i, jj] (+ beta O) for the rows inside and jj in [off, off+nrem): O's columns are
        C's rows, so the inner loop over i writes contiguous memory."""
        nrows = self.smin(b, b.sub(self.rows, i0), self.c64(self.p.mr))

        def col(b, jj, _):
            base = b.add(b.mul(i0, self.osi), b.mul(b.add(js, jj), self.osj))

            def row(b, i, _):
                at = self.gep(b, self.o, b.add(base, b.mul(i, self.osi)))
                x = b.load(self.gep(b, self.tmp, b.add(b.mul(i, self.c64(self.nr)), jj)), typ=self.ft)
                with b.if_else(read) as (rd, nord):
                    with rd:
                        b.store(b.fadd(x, b.fmul(beta, b.load(at, typ=self.ft))), at)
                    with nord:
                        b.store(x, at)
            self.loop(b, self.c64(0), nrows, 1, row)
        self.loop(b, off, b.add(off, nrem), 1, col)


def plan_for_statement(g, mode="auto"):
    """The kernel for a Gemm statement, or None to call BLAS. mode: 'auto' (by size, see plan_gemm), 'own' (every
    gemm), 'blas' (none): VIVE_GEMM."""
    if mode == "blas":
        return None
    dims = tuple(x if isinstance(x, int) else None for x in (g.m, g.n, g.k))
    return plan_gemm(g.dtype, g.trans_a, g.trans_b, *dims, force=mode == "own")


def emit_gemm_call(f, g, plan, blas_call, big):
    """In _Fn f (llvm_fn.py), the call of plan's kernel for Gemm g. `blas_call()` emits the BLAS call instead: it is
    kept where OpenBLAS may run threaded (big is not False and its thread count > 1), since the kernel runs on the
    calling thread only."""
    b = f.b
    ft = ir.FloatType() if g.dtype is F32 else ir.DoubleType()
    fn = declare_gemm(f.cg.module, plan)

    def ld(x):
        v = f.sym(x)
        return b.select(b.icmp_signed("<", v, ir.Constant(I64T, 1)), ir.Constant(I64T, 1), v)

    def ptr(buf, off):
        return b.gep(f.bufs[buf], [f.ix(off)], source_etype=ft)

    def dim(x):
        return f.ix(x) if isinstance(x, Ix) else f.sym(x)

    def own():
        b.call(fn, [dim(g.m), dim(g.n), dim(g.k), ir.Constant(ft, g.alpha), ptr(g.a, g.a_off), ld(g.lda),
                    ptr(g.b, g.b_off), ld(g.ldb), ir.Constant(ft, g.beta), ptr(g.c, g.c_off), ld(g.ldc)])
    if not (f.cg.blas_threads and big is not False) or getattr(f.cg, "team_gemms", False):
        own()
        return
    threads = b.load(f.cg._blas_threads_global(), typ=I32T)
    with b.if_else(b.icmp_signed("<=", threads, ir.Constant(I32T, 1))) as (one, many):
        with one:
            own()
        with many:
            blas_call()
