"""Kernels -> LLVM IR text for the host CPU (llvmlite.ir), one module per compiled function.

Layout of the module for a Program named f:
  void @f(ptr %bufs, ptr %dims)                       the entry: loads each buffer pointer, runs every kernel
  void @f.<kernel>(ptr noalias %b0, ..., ptr %dims)   one internal function per kernel (noalias buffers)
  void @f.<kernel>.p<i>(ptr noalias..., ptr %dims, i64 %lo, i64 %hi)   a parallel loop's iterations lo..hi
  void @f.<kernel>.p<i>.omp(ptr %data)                the OpenMP body: its thread's chunk of lo..hi
Math goes through llvm_math (branch-free polynomials, no libm calls); matmuls call CBLAS when given.
Only instructions and intrinsics every x86-64 CPU selects are emitted.
"""
from __future__ import annotations

import math

import sympy
from llvmlite import ir

from ..errors import BackendError
from ..ir.types import F32, F64, I32, I64, BOOL
from ..lower.kernel import (Ix, Const, Load, Var, IndexValue, Op, Loop, AccInit, AccUpdate, Store, Gemm, Expr)
from . import llvm_math as lm

PTR = ir.PointerType()
I1T, I8T, I32T, I64T = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
FT, DT = ir.FloatType(), ir.DoubleType()
_GOLDEN = 0x9E3779B97F4A7C15
# parallelise a loop when it does at least this many element-steps (fork/join costs ~1.5 us)
PARALLEL_WORK = 1 << 15
# give OpenBLAS the caller's threads for a gemm of at least this many multiply-adds (see CpuCodegen)
BLAS_THREAD_WORK = 1 << 20


def ll_type(dt):
    return {"f32": FT, "f64": DT, "i32": I32T, "i64": I64T, "bool": I1T}[dt.name]


def mem_type(dt):
    return I8T if dt is BOOL else ll_type(dt)


def _const(dt, v):
    t = ll_type(dt)
    if dt.is_float:
        return ir.Constant(t, float(v))
    if dt is BOOL:
        return ir.Constant(t, 1 if v else 0)
    bits = t.width
    v = int(v) & ((1 << bits) - 1)
    return ir.Constant(t, v)


class _Fn:
    """State of one LLVM function being built: builder, buffer pointers, dims, loop vars, value scopes."""

    def __init__(self, cg, fn, bufs, dims_ptr):
        self.cg = cg
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.bufs = bufs                 # Buffer -> ptr value
        self.dims_ptr = dims_ptr
        self.dims = {}
        self.vars = {}                   # loop var name -> i64 value
        self.scopes = [{}]
        self.accs = {}                   # Acc -> (alloca, idx alloca)
        self.syms = {}

    # ---- sizes and indices ----
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

    def sym(self, e):
        if isinstance(e, int):
            return ir.Constant(I64T, e)
        if isinstance(e, str):
            return self.vars[e]
        key = e
        v = self.syms.get(key)
        if v is not None:
            return v
        if e.is_Integer:
            v = ir.Constant(I64T, int(e))
            self.syms[key] = v
            return v
        # sizes depend on dims only: compute them once, in the entry block (dominates every use)
        with self.b.goto_block(self.entry):
            return self._sym(e, key)

    def _sym(self, e, key):
        b = self.b
        if e.is_Integer:
            v = ir.Constant(I64T, int(e))
        elif e.is_Symbol:
            if str(e) in self.vars:
                v = self.vars[str(e)]
            else:
                v = self.dim(e)
        elif e.is_Add:
            args = [self.sym(a) for a in e.args]
            v = args[0]
            for a in args[1:]:
                v = b.add(v, a)
        elif e.is_Mul:
            num, den = sympy.fraction(e)
            if den != 1:
                v = self._floordiv(self.sym(num), self.sym(den))
            else:
                args = [self.sym(a) for a in e.args]
                v = args[0]
                for a in args[1:]:
                    v = b.mul(v, a)
        elif e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
            base = self.sym(e.base)
            v = base
            for _ in range(int(e.exp) - 1):
                v = b.mul(v, base)
        elif isinstance(e, sympy.floor):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            v = self._floordiv(self.sym(num), self.sym(den))
        elif isinstance(e, sympy.ceiling):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            n, d = self.sym(num), self.sym(den)
            v = self._floordiv(b.add(n, b.sub(d, ir.Constant(I64T, 1))), d)
        elif isinstance(e, sympy.Mod):
            a, m = self.sym(e.args[0]), self.sym(e.args[1])
            r = b.srem(a, m)
            v = b.select(b.icmp_signed("<", r, ir.Constant(I64T, 0)), b.add(r, m), r)
        elif isinstance(e, (sympy.Max, sympy.Min)):
            args = [self.sym(a) for a in e.args]
            v = args[0]
            for a in args[1:]:
                c = b.icmp_signed(">" if isinstance(e, sympy.Max) else "<", a, v)
                v = b.select(c, a, v)
        else:
            raise BackendError(f"cpu: cannot generate code for size expression {e}")
        self.syms[key] = v
        return v

    def _floordiv(self, n, d):
        b = self.b
        q = b.sdiv(n, d)
        r = b.srem(n, d)
        fix = b.and_(b.icmp_signed("!=", r, ir.Constant(I64T, 0)),
                     b.icmp_signed("!=", b.icmp_signed("<", r, ir.Constant(I64T, 0)),
                                   b.icmp_signed("<", d, ir.Constant(I64T, 0))))
        return b.sub(q, b.zext(fix, I64T))

    def ix(self, i):
        if not isinstance(i, Ix):
            return self.val(i)
        b = self.b
        v = None
        for var, c in i.terms:
            t = self.vars[var]
            if not (isinstance(c, int) and c == 1):
                t = b.mul(t, self.sym(c), flags=["nsw"])
            v = t if v is None else b.add(v, t, flags=["nsw"])
        if not (isinstance(i.const, int) and i.const == 0) or v is None:
            cv = self.sym(i.const)
            v = cv if v is None else b.add(v, cv, flags=["nsw"])
        return v

    # ---- values ----
    def lookup(self, e):
        for s in reversed(self.scopes):
            v = s.get(e)
            if v is not None:
                return v
        return None

    def val(self, e):
        v = self.lookup(e)
        if v is None:
            v = self._val(e)
            self.scopes[-1][e] = v
        return v

    def _val(self, e):
        b = self.b
        if isinstance(e, Const):
            return _const(e.dtype, e.value)
        if isinstance(e, Load):
            p = b.gep(self.bufs[e.buf], [self.ix(e.index)], source_etype=mem_type(e.dtype))
            v = b.load(p, typ=mem_type(e.dtype))
            return b.icmp_unsigned("!=", v, ir.Constant(I8T, 0)) if e.dtype is BOOL else v
        if isinstance(e, Var):
            slots = self.accs[e.acc]
            if e.acc.op == "argmax":
                return b.load(slots[1], typ=I64T)
            v = b.load(slots[0], typ=ll_type(e.acc.dtype))
            if e.acc.op == "max" and e.acc.dtype.is_float:
                # the NaN seen flag: max of anything with NaN is NaN
                return b.select(b.load(slots[1], typ=I1T), ir.Constant(v.type, math.nan), v)
            return v
        if isinstance(e, IndexValue):
            return self.ix(e.ix)
        if isinstance(e, Op):
            return self.op(e)
        raise BackendError(f"cpu: unknown expression {e!r}")

    def op(self, e):
        b = self.b
        name, dt = e.op, e.dtype
        z = _logistic_arg(e)
        if z is not None:
            # 1/(1+exp(-z)) as written in NumPy: llvm_math's logistic is one exp and one division too, but cheaper
            # (no overflow path) and relative-accurate for very negative z, where exp(-z) = inf gives 0 here
            return lm.logistic(b, self.val(z))
        args = [self.val(a) for a in e.args]
        adt = e.args[0].dtype if e.args else dt
        if name == "cast":
            return self.cast(args[0], adt, dt)
        if name == "select":
            return b.select(args[0], args[1], args[2])
        if name == "clamp":
            x, lo, hi = args
            x = b.select(b.icmp_signed("<", x, lo), lo, x)
            return b.select(b.icmp_signed(">", x, hi), hi, x)
        p2 = _pow2_const(e.args[1]) if name in ("floordiv", "mod") else None
        if p2 is not None:
            # floor division / floor modulo by 2^k are exact as an arithmetic shift / a mask, negatives included
            if name == "floordiv":
                return b.ashr(args[0], ir.Constant(args[0].type, p2))
            return b.and_(args[0], ir.Constant(args[0].type, (1 << p2) - 1))
        if name == "floordiv":
            return self._floordiv(args[0], args[1])
        if name == "mod":
            r = b.srem(args[0], args[1])
            return b.select(b.icmp_signed("<", r, ir.Constant(I64T, 0)), b.add(r, args[1]), r)
        if name == "random_uniform":
            return self.random(args[0], args[1], dt)
        if adt.is_float:
            return self.float_op(name, args, adt)
        return self.int_op(name, args, adt)

    def float_op(self, name, a, dt):
        b = self.b
        t = ll_type(dt)
        unary = {"exp": lm.exp, "log": lm.log, "tanh": lm.tanh, "logistic": lm.logistic, "sin": lm.sin,
                 "cos": lm.cos, "sqrt": lm.sqrt, "abs": lm.abs, "sign": lm.sign}
        if name in unary:
            return unary[name](b, a[0])
        if name == "neg":
            return b.fneg(a[0])
        if name == "reciprocal":
            return b.fdiv(ir.Constant(t, 1.0), a[0])
        if name == "square":
            return b.fmul(a[0], a[0])
        if name == "add":
            return b.fadd(a[0], a[1])
        if name == "sub":
            return b.fsub(a[0], a[1])
        if name == "mul":
            return b.fmul(a[0], a[1])
        if name == "div":
            return b.fdiv(a[0], a[1])
        if name == "pow":
            return lm.pow(b, a[0], a[1])
        if name == "maximum":
            return lm.maximum(b, a[0], a[1])
        if name == "minimum":
            return lm.minimum(b, a[0], a[1])
        cmp = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        if name in cmp:
            return b.fcmp_ordered(cmp[name], a[0], a[1])
        if name == "ne":
            return b.fcmp_unordered("!=", a[0], a[1])
        raise BackendError(f"cpu: no instruction for scalar op '{name}' on {dt}")

    def int_op(self, name, a, dt):
        b = self.b
        t = ll_type(dt)
        zero = ir.Constant(t, 0)
        if dt is BOOL:
            if name in ("logical_and", "minimum", "mul"):
                return b.and_(a[0], a[1])
            if name in ("logical_or", "maximum", "add"):
                return b.or_(a[0], a[1])
            if name == "logical_not":
                return b.xor(a[0], ir.Constant(I1T, 1))
            if name in ("eq", "ne", "lt", "le", "gt", "ge"):
                op = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[name]
                return b.icmp_unsigned(op, a[0], a[1])
            raise BackendError(f"cpu: no instruction for scalar op '{name}' on bool")
        if name == "neg":
            return b.sub(zero, a[0])
        if name == "abs":
            return b.select(b.icmp_signed("<", a[0], zero), b.sub(zero, a[0]), a[0])
        if name == "sign":
            pos = b.zext(b.icmp_signed(">", a[0], zero), t)
            neg = b.zext(b.icmp_signed("<", a[0], zero), t)
            return b.sub(pos, neg)
        if name == "square":
            return b.mul(a[0], a[0])
        if name == "add":
            return b.add(a[0], a[1])
        if name == "sub":
            return b.sub(a[0], a[1])
        if name == "mul":
            return b.mul(a[0], a[1])
        if name == "div":
            # floor division; x // 0 = 0 (NumPy warns and gives 0)
            x, y = a
            isz = b.icmp_signed("==", y, zero)
            ys = b.select(isz, ir.Constant(t, 1), y)
            # INT_MIN // -1 overflows: make it wrap like NumPy instead of trapping
            q = self._floordiv_t(x, ys, t)
            return b.select(isz, zero, q)
        if name == "pow":
            return self.ipow(a[0], a[1], t)
        if name in ("maximum", "minimum"):
            c = b.icmp_signed(">" if name == "maximum" else "<", a[0], a[1])
            return b.select(c, a[0], a[1])
        cmp = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
        if name in cmp:
            return b.icmp_signed(cmp[name], a[0], a[1])
        raise BackendError(f"cpu: no instruction for scalar op '{name}' on {dt}")

    def _floordiv_t(self, n, d, t):
        b = self.b
        zero = ir.Constant(t, 0)
        m1 = ir.Constant(t, -1)
        # avoid the INT_MIN / -1 trap: divide by 1 and negate instead
        isneg1 = b.icmp_signed("==", d, m1)
        ds = b.select(isneg1, ir.Constant(t, 1), d)
        q = b.sdiv(n, ds)
        r = b.srem(n, ds)
        fix = b.and_(b.icmp_signed("!=", r, zero),
                     b.icmp_signed("!=", b.icmp_signed("<", r, zero), b.icmp_signed("<", ds, zero)))
        q = b.sub(q, b.zext(fix, t))
        return b.select(isneg1, b.sub(zero, n), q)

    def ipow(self, x, y, t):
        b = self.b
        result = ir.Constant(t, 1)
        base = x
        e = y
        for _ in range(t.width):
            bit = b.icmp_unsigned("!=", b.and_(e, ir.Constant(t, 1)), ir.Constant(t, 0))
            result = b.select(bit, b.mul(result, base), result)
            base = b.mul(base, base)
            e = b.lshr(e, ir.Constant(t, 1))
        # negative exponents: 1 for base 1, else 0 (NumPy raises for ints; never garbage)
        neg = b.icmp_signed("<", y, ir.Constant(t, 0))
        one = b.icmp_signed("==", x, ir.Constant(t, 1))
        return b.select(neg, b.select(one, ir.Constant(t, 1), ir.Constant(t, 0)), result)

    def cast(self, v, src, dst):
        b = self.b
        if src is dst:
            return v
        st, dt_ = ll_type(src), ll_type(dst)
        if dst is BOOL:
            if src.is_float:
                return b.fcmp_unordered("!=", v, ir.Constant(st, 0.0))     # NaN -> True as in NumPy
            return b.icmp_unsigned("!=", v, ir.Constant(st, 0))
        if src is BOOL:
            return b.uitofp(v, dt_) if dst.is_float else b.zext(v, dt_)
        if src.is_float and dst.is_float:
            return b.fpext(v, dt_) if dst.bits > src.bits else b.fptrunc(v, dt_)
        if src.is_float:
            # NaN / out of range -> INT_MIN (x86 and NumPy); never an undefined fptosi
            lo, hi = -(2.0 ** (dst.bits - 1)), 2.0 ** (dst.bits - 1)
            ok = b.and_(b.fcmp_ordered(">=", v, ir.Constant(st, lo)), b.fcmp_ordered("<", v, ir.Constant(st, hi)))
            safe = b.select(ok, v, ir.Constant(st, 0.0))
            return b.select(ok, b.fptosi(safe, dt_), ir.Constant(dt_, -(1 << (dst.bits - 1)) & ((1 << dst.bits) - 1)))
        if dst.is_float:
            return b.sitofp(v, dt_)
        if dst.bits > src.bits:
            return b.sext(v, dt_)
        if dst.bits < src.bits:
            return b.trunc(v, dt_)
        return v

    def random(self, key, counter, dt):
        b = self.b
        z = b.add(b.mul(key, ir.Constant(I64T, _GOLDEN)), counter)
        for sh, mul in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            z = b.mul(b.xor(z, b.lshr(z, ir.Constant(I64T, sh))), ir.Constant(I64T, mul))
        z = b.xor(z, b.lshr(z, ir.Constant(I64T, 31)))
        bits = 24 if dt.bits == 32 else 53
        u = b.fmul(b.uitofp(b.lshr(z, ir.Constant(I64T, 64 - bits)), DT), ir.Constant(DT, 2.0 ** -bits))
        return u if dt is F64 else b.fptrunc(u, FT)

    # ---- statements ----
    def stmts(self, body):
        for s in body:
            self.stmt(s)

    def stmt(self, s):
        b = self.b
        if isinstance(s, Loop):
            self.loop(s.var, ir.Constant(I64T, 0), self.sym(s.extent), s.body)
        elif isinstance(s, Store):
            v = self.val(s.value)
            if s.value.dtype is BOOL:
                v = b.zext(v, I8T)
            p = b.gep(self.bufs[s.buf], [self.ix(s.index)], source_etype=mem_type(s.buf.dtype))
            b.store(v, p)
        elif isinstance(s, AccInit):
            self.acc_init(s.acc)
        elif isinstance(s, AccUpdate):
            self.acc_update(s)
        elif isinstance(s, Gemm):
            self.gemm(s)
        else:
            raise BackendError(f"cpu: unknown statement {s!r}")

    def loop(self, var, lo, hi, body):
        b = self.b
        pre = b.block
        head = self.fn.append_basic_block(f"{var}.head")
        bodyb = self.fn.append_basic_block(f"{var}.body")
        exit_ = self.fn.append_basic_block(f"{var}.exit")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64T, name=var)
        i.add_incoming(lo, pre)
        b.cbranch(b.icmp_signed("<", i, hi), bodyb, exit_)
        b.position_at_end(bodyb)
        old = self.vars.get(var)
        self.vars[var] = i
        self.scopes.append({})
        self.stmts(body)
        self.scopes.pop()
        nxt = b.add(i, ir.Constant(I64T, 1), flags=["nuw", "nsw"])
        i.add_incoming(nxt, b.block)
        b.branch(head)
        b.position_at_end(exit_)
        if old is None:
            del self.vars[var]
        else:
            self.vars[var] = old

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
        dt = acc.dtype
        if acc.op == "sum":
            init = _const(dt, 0)
        elif dt.is_float:
            init = ir.Constant(ll_type(dt), -math.inf)
        else:
            init = _const(dt, -(1 << (dt.bits - 1)))
        b.store(init, a)
        if acc.op == "argmax":
            b.store(ir.Constant(I64T, 0), ia)
        elif ia is not None:
            b.store(ir.Constant(I1T, 0), ia)
        # values loaded from this accumulator before now are stale
        for s in self.scopes:
            for k in [k for k in s if isinstance(k, Var) and k.acc is acc]:
                del s[k]

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
            if acc.dtype.is_float:
                take = b.or_(b.fcmp_ordered(">", v, old),
                             b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", old, old)))
            else:
                take = b.icmp_signed(">", v, old)
            b.store(b.select(take, v, old), a)
            at = self.val(s.index)
            b.store(b.select(take, at, b.load(ia, typ=I64T)), ia)

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
        m, nn, k = n(g.m), n(g.n), n(g.k)
        nonempty = b.and_(b.icmp_signed(">", self.sym(g.m), ir.Constant(I64T, 0)),
                          b.icmp_signed(">", self.sym(g.n), ir.Constant(I64T, 0)))
        big = _gemm_big(g)
        cg = self.cg
        with b.if_then(nonempty):
            if cg.blas_threads and big is not False:
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
            if cg.blas_threads and big is not False:
                b.call(cg._blas_fn("set"), [ir.Constant(I32T, 1)])


class CpuCodegen:
    """Build the LLVM module of a Program. `blas`: runtime.blas_symbols() or None; `openmp`: libgomp usable."""

    def __init__(self, program, *, blas=None, openmp=False, triple="", data_layout="", entry=None):
        self.p = program
        self.blas = blas
        self.openmp = openmp
        self.entry_name = entry or program.name
        self.module = ir.Module(name=self.entry_name)
        if triple:
            self.module.triple = triple
        if data_layout:
            self.module.data_layout = data_layout
        self.dim_index = {s: i for i, s in enumerate(program.dims)}
        # NOTE: OpenBLAS runs its own spinning worker threads; OpenMP teams next to them oversubscribe the cores
        # and a parallel region can wait a whole scheduler tick for its worker. Programs that call BLAS leave
        # the cores to BLAS and run their loops on the calling thread.
        # NOTE: the entry runs OpenBLAS single-threaded and hands it the caller's thread count only around gemms
        # of at least BLAS_THREAD_WORK multiply-adds. Tiny gemms gain nothing from a hand-off, and on a busy
        # machine a worker that is not scheduled stalls a threaded call for a whole tick (a 256^3 sgemm: 0.5 ms
        # on 1 thread, 24 ms on 2 with the other core busy). The bar is low (1M) because idle 2-core timings
        # still favour threads from there (MLP batch-16 step: 0.19 ms at 1M, 0.27 ms at 8M). (Measured for the
        # loops too: LeNet's step ran 7 ms on one thread, 10-30 ms with OpenMP teams on a busy 2-core machine.)
        gemms = [g for k in program.kernels for g in _gemms(k.body)]
        self.blas_threads = bool(gemms) and blas is not None and bool(blas.get("set_num_threads"))
        if openmp and blas is not None and gemms:
            self.openmp = False

    def build(self) -> str:
        mod = self.module
        entry = ir.Function(mod, ir.FunctionType(ir.VoidType(), [PTR, PTR]), self.entry_name)
        bufs_arg, dims_arg = entry.args
        fns = []
        for k in self.p.kernels:
            fns.append(self.kernel(k))
        b = ir.IRBuilder(entry.append_basic_block("entry"))
        ptrs = {}
        for buf in self.p.buffers:
            if buf.slot is None:
                continue
            p = b.gep(bufs_arg, [ir.Constant(I64T, buf.slot)], source_etype=PTR)
            ptrs[buf] = b.load(p, typ=PTR, name=buf.name)
        if self.blas_threads:
            saved = b.load(self._blas_threads_global(), typ=I32T)
            with b.if_then(b.icmp_signed("==", saved, ir.Constant(I32T, 0))):
                b.store(b.call(self._blas_fn("get"), []), self._blas_threads_global())
            b.call(self._blas_fn("set"), [ir.Constant(I32T, 1)])
        for k, fn in zip(self.p.kernels, fns):
            b.call(fn, [ptrs[x] for x in k.buffers] + [dims_arg])
        if self.blas_threads:
            b.call(self._blas_fn("set"), [b.load(self._blas_threads_global(), typ=I32T)])
        b.ret_void()
        return str(mod)

    def _blas_threads_global(self):
        """OpenBLAS's own thread count, read on the first call (the entry runs it at 1 and restores it)."""
        g = self.module.globals.get("vive.blas_threads")
        if g is None:
            g = ir.GlobalVariable(self.module, I32T, "vive.blas_threads")
            g.linkage = "internal"
            g.initializer = ir.Constant(I32T, 0)
        return g

    def _blas_fn(self, which):
        name = self.blas["set_num_threads"]
        if which == "get":
            name = name.replace("set_num_threads", "get_num_threads")
        fn = self.module.globals.get(name)
        if fn is None:
            fty = ir.FunctionType(I32T, []) if which == "get" else ir.FunctionType(ir.VoidType(), [I32T])
            fn = ir.Function(self.module, fty, name)
        return fn

    def _kernel_fn(self, name, bufs, extra=()):
        fty = ir.FunctionType(ir.VoidType(), [PTR] * len(bufs) + [PTR] + list(extra))
        fn = ir.Function(self.module, fty, name)
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        for a in fn.args[:len(bufs)]:
            a.add_attribute("noalias")
        return fn

    def kernel(self, k):
        name = f"{self.entry_name}.{k.name}"
        bufs = k.buffers
        fn = self._kernel_fn(name, bufs)
        f = _Fn(self, fn, dict(zip(bufs, fn.args[:len(bufs)])), fn.args[len(bufs)])
        bodyb = fn.append_basic_block("body")
        f.b.position_at_end(bodyb)
        for i, s in enumerate(k.body):
            if isinstance(s, Loop) and s.parallel and self.openmp and _may_parallelize(s) and _big_enough(s):
                self.parallel_loop(f, k, i, s)
            else:
                f.stmt(s)
        f.b.ret_void()
        with f.b.goto_block(f.entry):
            f.b.branch(bodyb)
        return fn

    def parallel_loop(self, f, k, i, s):
        """Outline loop s into name.p<i>(bufs, dims, lo, hi); run it on all threads when the work is large."""
        bufs = k.buffers
        pname = f"{self.entry_name}.{k.name}.p{i}"
        pfn = self._kernel_fn(pname, bufs, [I64T, I64T])
        pf = _Fn(self, pfn, dict(zip(bufs, pfn.args[:len(bufs)])), pfn.args[len(bufs)])
        lo, hi = pfn.args[len(bufs) + 1], pfn.args[len(bufs) + 2]
        bodyb = pfn.append_basic_block("body")
        pf.b.position_at_end(bodyb)
        pf.loop(s.var, lo, hi, s.body)
        pf.b.ret_void()
        with pf.b.goto_block(pf.entry):
            pf.b.branch(bodyb)
        # the OpenMP body: unpack [bufs..., dims, extent] and take this thread's chunk
        ofn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [PTR]), pname + ".omp")
        ofn.linkage = "internal"
        ob = ir.IRBuilder(ofn.append_basic_block("entry"))
        data = ofn.args[0]
        vals = []
        for j in range(len(bufs) + 1):
            vals.append(ob.load(ob.gep(data, [ir.Constant(I64T, j)], source_etype=PTR), typ=PTR))
        ext = ob.ptrtoint(ob.load(ob.gep(data, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR), typ=PTR),
                          I64T)
        tid = ob.sext(ob.call(self._omp_fn("omp_get_thread_num"), []), I64T)
        nt = ob.sext(ob.call(self._omp_fn("omp_get_num_threads"), []), I64T)
        chunk = ob.sdiv(ob.add(ext, ob.sub(nt, ir.Constant(I64T, 1))), nt)
        # round chunks to 16 iterations so vector loops keep their alignment
        chunk = ob.and_(ob.add(chunk, ir.Constant(I64T, 15)), ir.Constant(I64T, -16))
        clo = ob.mul(tid, chunk)
        chi = ob.add(clo, chunk)
        clo = ob.select(ob.icmp_signed("<", clo, ext), clo, ext)
        chi = ob.select(ob.icmp_signed("<", chi, ext), chi, ext)
        with ob.if_then(ob.icmp_signed("<", clo, chi)):
            ob.call(pfn, vals + [clo, chi])
        ob.ret_void()
        # the call site: decide by the amount of work
        b = f.b
        ext = f.sym(s.extent)
        work = _work(s.body)
        direct_args = [f.bufs[x] for x in bufs] + [f.dims_ptr]
        if isinstance(work, int) and isinstance(s.extent, int):
            big = ir.Constant(I1T, 1 if work * s.extent >= PARALLEL_WORK and s.extent >= 2 else 0)
        else:
            total = b.mul(ext, f.sym(work))
            big = b.and_(b.icmp_signed(">=", total, ir.Constant(I64T, PARALLEL_WORK)),
                         b.icmp_signed(">=", ext, ir.Constant(I64T, 2)))
        with b.if_else(big) as (then, otherwise):
            with then:
                with b.goto_block(f.entry):
                    b.position_at_start(f.entry)
                    arr = b.alloca(PTR, size=ir.Constant(I64T, len(bufs) + 2), name=pname + ".data")
                for j, v in enumerate(direct_args):
                    b.store(v, b.gep(arr, [ir.Constant(I64T, j)], source_etype=PTR))
                b.store(b.inttoptr(ext, PTR), b.gep(arr, [ir.Constant(I64T, len(bufs) + 1)], source_etype=PTR))
                b.call(self._omp_fn("GOMP_parallel"), [ofn, arr, ir.Constant(I32T, 0), ir.Constant(I32T, 0)])
            with otherwise:
                b.call(pfn, direct_args + [ir.Constant(I64T, 0), ext])

    def _omp_fn(self, name):
        fn = self.module.globals.get(name)
        if fn is None:
            if name == "GOMP_parallel":
                fty = ir.FunctionType(ir.VoidType(), [PTR, PTR, I32T, I32T])
            else:
                fty = ir.FunctionType(I32T, [])
            fn = ir.Function(self.module, fty, name)
        return fn


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


def _gemms(body):
    for s in body:
        if isinstance(s, Gemm):
            yield s
        elif isinstance(s, Loop):
            yield from _gemms(s.body)


def _gemm_big(g):
    """True / False when a gemm does at least BLAS_THREAD_WORK multiply-adds; None when that depends on dims."""
    if all(isinstance(x, int) for x in (g.m, g.n, g.k)):
        return g.m * g.n * g.k >= BLAS_THREAD_WORK
    return None


def _big_enough(s):
    """False when the loop is statically too small to be worth a fork/join (then no OpenMP code at all)."""
    work = _work(s.body)
    return not (isinstance(work, int) and isinstance(s.extent, int) and work * s.extent < PARALLEL_WORK)


def _may_parallelize(s):
    return not (isinstance(s.extent, int) and s.extent < 2)


def _work(body):
    """Element-steps of one iteration of a loop with this body (int or sympy)."""
    total = 0
    for s in body:
        if isinstance(s, Loop):
            w = _work(s.body)
            total = total + (s.extent * w if not (isinstance(s.extent, int) and isinstance(w, int))
                             else s.extent * w)
        else:
            total = total + 1
    if not isinstance(total, int):
        total = sympy.expand(total)
        if total.is_Integer:
            total = int(total)
    return total


def generate(program, *, blas=None, openmp=False, triple="", data_layout="", entry=None) -> str:
    """LLVM IR text of a Program (buffers must have slots: run passes.memory.plan_memory first)."""
    return CpuCodegen(program, blas=blas, openmp=openmp, triple=triple, data_layout=data_layout,
                      entry=entry).build()
