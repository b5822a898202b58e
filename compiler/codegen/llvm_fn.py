"""One LLVM function of a CPU kernel (llvm.py builds the module around it): buffer pointers, dims, loop variables,
accumulators, bounds checks (VIVE_CHECK_BOUNDS), CBLAS gemm calls, and the scalar expressions of scalar.py."""
from __future__ import annotations

import math

from llvmlite import ir

from ..errors import BackendError
from ..ir.types import F32, BOOL, I64
from ..lower.accum import identity
from ..ir.kernel import Ix, Const, Var, Op, Loop, AccInit, AccUpdate, Store, Gemm, HostCall, Lapack, Collective
from ..primitives import elementwise as ew
from .llvm_mpi import emit_collective
from .llvm_gemm import plan_for_statement, emit_gemm_call
from .. import debug
from .scalar import ScalarEmitter, ll_type, const as _const, I1T, I32T, I64T

PTR = ir.PointerType()
I8T = ir.IntType(8)
# the status a bounds-checked kernel (VIVE_CHECK_BOUNDS) leaves when an index fell outside its buffer
STATUS_OUT_OF_BOUNDS = 1
# give OpenBLAS the caller's threads for a gemm of at least this many multiply-adds (see CpuCodegen)
BLAS_THREAD_WORK = 1 << 20


class _Fn(ScalarEmitter):
    """State of one LLVM function being built: builder, buffer pointers, dims, loop vars, value scopes."""

    TARGET = "cpu"

    def __init__(self, cg, fn, bufs, dims_ptr):
        self.cg = cg
        self.fast_math = cg.fast_math
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.bufs = bufs                 # Buffer -> ptr value
        self.dims_ptr = dims_ptr
        self.dims = {}
        self.vars = {}                   # loop var name -> i64 value
        self.scopes = [{}]
        self.accs = {}                   # Acc -> (alloca, idx alloca)
        self.streams = ()                # Stores to write around the caches (see _stream_stores)
        self.syms = {}
        self.checks = {}                 # (status, site) -> (any-bad flag alloca, worst index alloca, bound)

    # ---- sizes and values: what the CPU does its own way ----
    def dim(self, s):
        v = self.dims.get(s)
        if v is None:
            k = self.cg.dim_index[s]
            with self.b.goto_block(self.entry):
                self.b.position_at_start(self.entry)
                p = self.b.gep(self.dims_ptr, [ir.Constant(I64T, k)], source_etype=I64T)
                v = self.b.load(p, typ=I64T, name=f"dim_{s}")
            self.dims[s] = v
        return v

    def symbol(self, s):
        return self.vars[str(s)] if str(s) in self.vars else self.dim(s)

    def acc_value(self, e):
        b = self.b
        slots = self.accs[e.acc]
        if e.acc.op == "argmax":
            return b.load(slots[1], typ=I64T)
        v = b.load(slots[0], typ=ll_type(e.acc.dtype))
        if e.acc.op == "max" and e.acc.dtype.is_float:
            # the NaN seen flag: max of anything with NaN is NaN
            return b.select(b.load(slots[1], typ=I1T), ir.Constant(v.type, math.nan), v)
        return v

    def op(self, e):
        b = self.b
        z = _logistic_arg(e)
        if z is not None:
            # 1/(1+exp(-z)) as written in NumPy: llvm_math's logistic is one exp and one division too, but cheaper
            # (no overflow path) and relative-accurate for very negative z, where exp(-z) = inf gives 0 here
            rule = self.OVERRIDES.get(ew.logistic, ew.logistic.scalar)
            return rule(self.scalar_builder(z.dtype, z.dtype), self.val(z))
        p2 = _pow2_const(e.args[1]) if e.op in ("floordiv", "mod") else None
        if p2 is not None:
            # floor division / floor modulo by 2^k are exact as an arithmetic shift / a mask, negatives included
            x = self.val(e.args[0])
            if e.op == "floordiv":
                return b.ashr(x, ir.Constant(x.type, p2))
            return b.and_(x, ir.Constant(x.type, (1 << p2) - 1))
        return super().op(e)

    # ---- VIVE_CHECK_BOUNDS: every access checked against its buffer, a trap sets the call's status ----
    def mem_ptr(self, buf, index, etype):
        p = super().mem_ptr(buf, index, etype)
        if not self.cg.check_bounds:
            return p
        b = self.b
        ok = b.icmp_unsigned("<", self.ix(index), self.sym(buf.size))
        self.trap_unless(ok)
        # an out-of-range access goes to a private slot instead: the kernel finishes, the call raises
        spare = self.dims.get(("oob", str(etype)))
        if spare is None:
            spare = self.dims[("oob", str(etype))] = self.alloca(etype, "oob")
        return b.select(ok, p, spare)

    def trap_unless(self, ok):
        b = self.b
        with b.if_then(b.not_(ok), likely=False):
            b.store(ir.Constant(I32T, STATUS_OUT_OF_BOUNDS), self.status_ptr())

    def status_ptr(self):
        """The call's int32 status word: its address is passed after the dims (see compile.Executable)."""
        v = self.dims.get("status")
        if v is None:
            with self.b.goto_block(self.entry):
                self.b.position_at_start(self.entry)
                p = self.b.gep(self.dims_ptr, [ir.Constant(I64T, len(self.cg.dim_index))], source_etype=I64T)
                v = self.b.inttoptr(self.b.load(p, typ=I64T), PTR, name="status")
            self.dims["status"] = v
        return v

    def gemm_in_bounds(self, g):
        """i1: every element the gemm reads or writes lies inside its buffers (for M, N > 0)."""
        b = self.b
        one = ir.Constant(I64T, 1)
        m, n, k = self.sym(g.m), self.sym(g.n), self.sym(g.k)

        def last(off, ld, rows, cols):
            # off + (rows - 1) * ld + cols - 1, the last element of a row-major block
            return b.add(self.ix(off), b.add(b.mul(b.sub(rows, one), self.sym(ld)), b.sub(cols, one)))

        def inside(buf, off, ld, rows, cols):
            lo_ok = b.icmp_signed(">=", self.ix(off), ir.Constant(I64T, 0))
            return b.and_(lo_ok, b.icmp_signed("<", last(off, ld, rows, cols), self.sym(buf.size)))
        ok = inside(g.c, g.c_off, g.ldc, m, n)
        k_pos = b.icmp_signed(">", k, ir.Constant(I64T, 0))
        a_ok = inside(g.a, g.a_off, g.lda, *((k, m) if g.trans_a else (m, k)))
        b_ok = inside(g.b, g.b_off, g.ldb, *((n, k) if g.trans_b else (k, n)))
        return b.and_(ok, b.or_(b.not_(k_pos), b.and_(a_ok, b_ok)))

    def check_index(self, e, i, bound):
        """Index checks as reductions: an or of the failures and a umax of the failing indices, recorded in the
        status once, when the function returns (finish_checks). Unlike a branch to a store in the loop, this keeps
        gather loops vectorisable; a failing call reports its largest bad index (NumPy: its first)."""
        b = self.b
        if not (isinstance(bound, ir.Constant) or getattr(bound, "parent", None) is self.entry):
            return super().check_index(e, i, bound)
        key = (e.attrs[0], e.attrs[1])
        slots = self.checks.get(key)
        if slots is None:
            with b.goto_block(self.entry):
                b.position_at_start(self.entry)
                flag = b.alloca(I1T, name="chk.bad")
                worst = b.alloca(I64T, name="chk.worst")
                b.store(ir.Constant(I1T, 0), flag)
                b.store(ir.Constant(I64T, 0), worst)
            slots = self.checks[key] = (flag, worst, bound)
        flag, worst = slots[0], slots[1]
        bad = b.icmp_unsigned(">=", i, bound)
        b.store(b.or_(b.load(flag, typ=I1T), bad), flag)
        w = b.load(worst, typ=I64T)
        cand = b.select(bad, i, ir.Constant(I64T, 0))
        b.store(b.select(b.icmp_unsigned(">", cand, w), cand, w), worst)
        return b.select(bad, ir.Constant(I64T, 0), i)

    def finish_checks(self):
        """Before the function returns: the first failure of each check site goes into the status buffer."""
        b = self.b
        for (status, site), (flag, worst, bound) in self.checks.items():
            e = Op("check_index", [], I64, attrs=(status, site))
            with b.if_then(b.load(flag, typ=I1T), likely=False):
                super().check_index(e, b.load(worst, typ=I64T), bound)

    # ---- statements ----
    def stmt(self, s):
        if isinstance(s, Loop):
            self.loop(s.var, ir.Constant(I64T, 0), self.sym(s.extent), s.body)
        elif isinstance(s, Store):
            self.store_value(s)
        elif isinstance(s, AccInit):
            self.acc_init(s.acc)
        elif isinstance(s, AccUpdate):
            self.acc_update(s)
        elif isinstance(s, Gemm):
            self.gemm(s)
        elif isinstance(s, HostCall):
            self.host_call(s)
        elif isinstance(s, Lapack):
            self.lapack(s)
        elif isinstance(s, Collective):
            emit_collective(self, s)
        else:
            raise BackendError(f"cpu: unknown statement {s!r}")

    def host_call(self, s):
        """cb(site, ptrs, dims) through the address in s.table (see ir/kernel.py HostCall)."""
        b = self.b
        fnty = ir.FunctionType(ir.VoidType(), [I64T, PTR, PTR])
        fn = b.load(self.bufs[s.table], typ=ir.PointerType(fnty))
        with b.goto_block(self.entry):
            b.position_at_start(self.entry)
            ptrs = b.alloca(PTR, size=ir.Constant(I64T, max(1, len(s.args))), name="host_args")
        for i, a in enumerate(s.args):
            b.store(self.bufs[a], b.gep(ptrs, [ir.Constant(I64T, i)], source_etype=PTR))
        b.call(fn, [ir.Constant(I64T, s.site), ptrs, self.dims_ptr])

    def lapack(self, s):
        """A Fortran call: every argument a pointer (integers and characters through stack slots), then one hidden
        i64 length per character argument (gfortran's convention; the library is numpy's OpenBLAS, see runtime/blas.py)."""
        b = self.b
        names = (self.cg.blas or {}).get("lapack")
        if not names:
            raise BackendError(f"cpu: np.linalg needs LAPACK ({'s' if s.dtype is F32 else 'd'}{s.routine}): "
                               f"vive calls the ILP64 LAPACK of numpy's bundled OpenBLAS, and none was found")
        name = names[("s" if s.dtype is F32 else "d") + s.routine]
        nchar = sum(k == "char" for k, _ in s.args)
        fn = self.cg.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.cg.module, ir.FunctionType(ir.VoidType(), [PTR] * len(s.args) + [I64T] * nchar), name)
        args = []
        for kind, v in s.args:
            if kind == "buf":
                args.append(self.bufs[v])
                continue
            slot = self.alloca(I8T if kind == "char" else I64T, "lapack_arg")
            if kind == "char":
                b.store(ir.Constant(I8T, ord(v)), slot)
            else:
                n = self.sym(v)
                if kind == "ld":
                    n = b.select(b.icmp_signed("<", n, ir.Constant(I64T, 1)), ir.Constant(I64T, 1), n)
                b.store(n, slot)
            args.append(slot)
        b.call(fn, args + [ir.Constant(I64T, 1)] * nchar)

    def loop(self, var, lo, hi, body):
        self.counted_loop(var, lo, hi, ir.Constant(I64T, 1), lambda: self.stmts(body), flags=("nuw", "nsw"))

    def alloca(self, t, name):
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            return self.b.alloca(t, name=name)

    def acc_init(self, acc):
        b = self.b
        if acc not in self.accs:
            a = self.alloca(ll_type(acc.dtype), acc.name)
            if acc.op == "argmax":
                ia = self.alloca(I64T, acc.name + ".at")
            elif acc.op == "max" and acc.dtype.is_float:
                ia = self.alloca(I1T, acc.name + ".nan")
            else:
                ia = None
            self.accs[acc] = (a, ia)
        a, ia = self.accs[acc]
        b.store(_const(acc.dtype, identity(acc.op, acc.dtype)), a)
        if acc.op == "argmax":
            b.store(ir.Constant(I64T, 0), ia)
        elif ia is not None:
            b.store(ir.Constant(I1T, 0), ia)
        # values loaded from this accumulator before now are stale
        self.forget(lambda k: isinstance(k, Var) and k.acc is acc)

    def acc_update(self, s):
        b = self.b
        acc = s.acc
        a, ia = self.accs[acc]
        t = ll_type(acc.dtype)
        v = self.val(s.value)
        old = b.load(a, typ=t)
        if acc.op == "sum":
            # reassociation lets the vectoriser keep several partial sums (also closer to pairwise accuracy)
            new = b.fadd(old, v, flags=["reassoc"]) if acc.dtype.is_float else b.add(old, v)
            b.store(new, a)
        elif acc.op == "max":
            if acc.dtype.is_float:
                # a max recurrence the vectoriser recognises (nnan nsz: any NaN makes it poison) plus a separate
                # "NaN seen" flag that overrides the result (see the Var read): NumPy's NaN-propagating max
                fl = ["nnan", "nsz"]
                new = b.select(b.fcmp_ordered(">", v, old, flags=fl), v, old, flags=fl)
                b.store(b.or_(b.load(ia, typ=I1T), b.fcmp_unordered("uno", v, v)), ia)
            else:
                new = b.select(b.icmp_signed(">", v, old), v, old)
            b.store(new, a)
        else:
            self.argmax_step(s, a, ia, old, v)

    def gemm(self, g):
        b = self.b
        blas = self.cg.blas
        if blas is None:
            raise BackendError("cpu: gemm without a BLAS (lowering should have used loops)")
        ib = blas["int_bits"]
        it = ir.IntType(ib)
        ft = ll_type(g.dtype)
        name = blas["sgemm" if g.dtype is F32 else "dgemm"]
        fn = self.cg.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.cg.module, ir.FunctionType(ir.VoidType(), [
                I32T, I32T, I32T, it, it, it, ft, PTR, it, PTR, it, ft, PTR, it]), name)

        def n(x):
            v = self.sym(x) if not isinstance(x, Ix) else self.ix(x)
            return v if ib == 64 else b.trunc(v, it)

        def ld(x):
            v = self.sym(x)
            v = b.select(b.icmp_signed("<", v, ir.Constant(I64T, 1)), ir.Constant(I64T, 1), v)
            return v if ib == 64 else b.trunc(v, it)

        def ptr(buf, off):
            return b.gep(self.bufs[buf], [self.ix(off)], source_etype=ft)
        nonempty = b.and_(b.icmp_signed(">", self.sym(g.m), ir.Constant(I64T, 0)),
                          b.icmp_signed(">", self.sym(g.n), ir.Constant(I64T, 0)))
        if self.cg.check_bounds:
            inb = self.gemm_in_bounds(g)
            self.trap_unless(b.or_(b.not_(nonempty), inb))
            nonempty = b.and_(nonempty, inb)
        big = _gemm_big(g)
        own = plan_for_statement(g, debug.gemm_kernels())
        with b.if_then(nonempty):
            if own is not None:       # small gemms: a kernel of our own (llvm_gemm.py) where it beats a BLAS call
                emit_gemm_call(self, g, own, lambda: self.blas_gemm(g, fn, n, ld, ptr, big), big)
            else:
                self.blas_gemm(g, fn, n, ld, ptr, big)

    def blas_gemm(self, g, fn, n, ld, ptr, big):
        b, cg, ft = self.b, self.cg, ll_type(g.dtype)
        m, nn, k = n(g.m), n(g.n), n(g.k)
        if cg.blas_threads and big is not False and not getattr(cg, "team_gemms", False):
            threads = b.load(cg._blas_threads_global(), typ=I32T)
            if big is None:       # symbolic sizes: decide at run time
                work = b.mul(b.mul(self.sym(g.m), self.sym(g.n)), self.sym(g.k))
                threads = b.select(b.icmp_signed(">=", work, ir.Constant(I64T, BLAS_THREAD_WORK)), threads,
                                   ir.Constant(I32T, 1))
            b.call(cg._blas_fn("set"), [threads])
        b.call(fn, [ir.Constant(I32T, 101), ir.Constant(I32T, 112 if g.trans_a else 111),
                    ir.Constant(I32T, 112 if g.trans_b else 111), m, nn, k, ir.Constant(ft, g.alpha),
                    ptr(g.a, g.a_off), ld(g.lda), ptr(g.b, g.b_off), ld(g.ldb), ir.Constant(ft, g.beta),
                    ptr(g.c, g.c_off), ld(g.ldc)])
        if cg.blas_threads and big is not False and not getattr(cg, "team_gemms", False):
            b.call(cg._blas_fn("set"), [ir.Constant(I32T, 1)])



def _pow2_const(e):
    """k when e is an integer Const equal to 2^k (k >= 0), else None."""
    if isinstance(e, Const) and not e.dtype.is_float and e.dtype is not BOOL:
        v = int(e.value)
        if v > 0 and v & (v - 1) == 0:
            return v.bit_length() - 1
    return None


def _is_const(e, v):
    return isinstance(e, Const) and e.value == v


def _logistic_arg(e):
    """z when e is div(1, add(1, exp(neg(z)))) (either add order) on floats, else None."""
    if e.op != "div" or not e.dtype.is_float or len(e.args) != 2 or not _is_const(e.args[0], 1.0):
        return None
    d = e.args[1]
    if not (isinstance(d, Op) and d.op == "add" and len(d.args) == 2):
        return None
    ex = d.args[1] if _is_const(d.args[0], 1.0) else d.args[0] if _is_const(d.args[1], 1.0) else None
    if not (isinstance(ex, Op) and ex.op == "exp" and isinstance(ex.args[0], Op) and ex.args[0].op == "neg"):
        return None
    z = ex.args[0].args[0]
    return z if z.dtype is e.dtype else None


def _gemm_big(g):
    """True / False when a gemm does at least BLAS_THREAD_WORK multiply-adds; None when that depends on dims."""
    if all(isinstance(x, int) for x in (g.m, g.n, g.k)):
        return g.m * g.n * g.k >= BLAS_THREAD_WORK
    return None
