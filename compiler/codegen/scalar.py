"""Scalar expressions of the kernel IR -> LLVM IR (llvmlite.ir), shared by the CPU (llvm.py) and GPU (ptx.py)
backends: size and index arithmetic, values and their scopes, casts, integer ops, comparisons, the counter RNG,
stores and counted loops.
Ops that are primitives are emitted by the primitive's own `scalar` rule through a ScalarBuilder (scalar_builder.py).
A subclass supplies what differs per target: TARGET (error prefix), OVERRIDES / EXP / FAST_F64 (faster math forms),
symbol(), acc_value().
"""
from __future__ import annotations

from ..lazy import sympy
from llvmlite import ir

from ..errors import BackendError
from ..ir.types import I64, BOOL
from ..ir.kernel import Ix, Const, Load, Var, IndexValue, Op
from ..primitives.base import REGISTRY
from ..primitives.prng import ROTATIONS, KS_PARITY
from .scalar_builder import ScalarBuilder

I1T, I8T, I32T, I64T = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
FT, DT = ir.FloatType(), ir.DoubleType()
# fast_math: the user's own + - * may fuse into FMAs (never the math library's steps, some of which must stay exact)
_CONTRACTIBLE = frozenset(("add", "sub", "mul"))


def ll_type(dt):
    return {"f32": FT, "f64": DT, "i32": I32T, "i64": I64T, "u32": I32T, "bool": I1T}[dt.name]


def mem_type(dt):
    return I8T if dt is BOOL else ll_type(dt)


def const(dt, v):
    t = ll_type(dt)
    if dt.is_float:
        return ir.Constant(t, float(v))
    if dt is BOOL:
        return ir.Constant(t, 1 if v else 0)
    return ir.Constant(t, int(v) & ((1 << t.width) - 1))




class ScalarEmitter:
    """Emits the scalar side of one function into self.b. The subclass sets b, entry (block where dim-only
    sizes go), fn (the ir.Function), bufs (Buffer -> pointer), vars (loop var -> i64), scopes ([{expr: value}]),
    accs, syms."""

    TARGET = "?"
    # Primitive -> scalar rule: a faster form of that primitive on this target (keyed by the object, not a name)
    OVERRIDES = {}
    EXP = None                # the target's exp core, f(builder, x); None: the math library's
    FAST_F64 = True           # f64 arithmetic at full speed (f32 math may then work in f64)
    fast_math = False         # cc.compile(fast_math=True): cheaper math forms, FMA contraction of + - *

    # ---- target hooks ----
    def symbol(self, s):
        """The i64 value of size symbol s."""
        raise NotImplementedError

    def acc_value(self, e):
        """The current value of accumulator read e (a Var)."""
        raise NotImplementedError

    def where(self):
        """Suffix naming the kernel in error messages."""
        return ""

    def no_instruction(self, name, dt):
        return BackendError(f"{self.TARGET}: no instruction for scalar op '{name}' on {dt}{self.where()}")

    # ---- sizes and indices ----
    def sym(self, e):
        if isinstance(e, int):
            return ir.Constant(I64T, e)
        if isinstance(e, str):
            return self.vars[e]
        v = self.syms.get(e)
        if v is None:
            if e.is_Integer:
                v = ir.Constant(I64T, int(e))
            else:
                # sizes depend on dims only: compute them once, in the entry block (dominates every use)
                with self.b.goto_block(self.entry):
                    v = self._sym(e)
            self.syms[e] = v
        return v

    def _sym(self, e):
        b = self.b
        if e.is_Symbol:
            return self.symbol(e)
        if e.is_Add:
            args = [self.sym(a) for a in e.args]
            v = args[0]
            for a in args[1:]:
                v = b.add(v, a)
            return v
        if e.is_Mul:
            num, den = sympy.fraction(e)
            if den != 1:
                return self._floordiv(self.sym(num), self.sym(den))
            args = [self.sym(a) for a in e.args]
            v = args[0]
            for a in args[1:]:
                v = b.mul(v, a)
            return v
        if e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
            base = self.sym(e.base)
            v = base
            for _ in range(int(e.exp) - 1):
                v = b.mul(v, base)
            return v
        if isinstance(e, sympy.floor):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            return self._floordiv(self.sym(num), self.sym(den))
        if isinstance(e, sympy.ceiling):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            n, d = self.sym(num), self.sym(den)
            return self._floordiv(b.add(n, b.sub(d, ir.Constant(I64T, 1))), d)
        if isinstance(e, sympy.Mod):
            a, m = self.sym(e.args[0]), self.sym(e.args[1])
            r = b.srem(a, m)
            return b.select(b.icmp_signed("<", r, ir.Constant(I64T, 0)), b.add(r, m), r)
        if isinstance(e, (sympy.Max, sympy.Min)):
            args = [self.sym(a) for a in e.args]
            v = args[0]
            for a in args[1:]:
                c = b.icmp_signed(">" if isinstance(e, sympy.Max) else "<", a, v)
                v = b.select(c, a, v)
            return v
        raise BackendError(f"{self.TARGET}: cannot generate code for size expression {e}")

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

    def mem_ptr(self, buf, index, etype):
        """The address of buf[index] (a target may check the index: VIVE_CHECK_BOUNDS)."""
        return self.b.gep(self.bufs[buf], [self.ix(index)], source_etype=etype)

    # ---- values ----
    def lookup(self, e):
        for s in reversed(self.scopes):
            v = s.get(e)
            if v is not None:
                return v
        return None

    def val(self, e):
        v = self.lookup(e)
        if v is not None:
            return v
        # NOTE: operands first, with an explicit stack: a fused expression may be thousands of ops deep, and
        # _val/op then find every operand already emitted (one SSA value each) instead of recursing into it
        lookup, scope = self.lookup, self.scopes[-1]
        stack = [(e, False)]
        while stack:
            x, ready = stack.pop()
            if ready:
                if lookup(x) is None:
                    scope[x] = self._val(x)
                continue
            if lookup(x) is not None:
                continue
            stack.append((x, True))
            if isinstance(x, Op):
                stack.extend((a, False) for a in reversed(x.args) if lookup(a) is None)
            elif isinstance(x, Load) and not isinstance(x.index, Ix):
                stack.append((x.index, False))
        return scope[e]

    def forget(self, pred):
        for s in self.scopes:
            for k in [k for k in s if pred(k)]:
                del s[k]

    def _val(self, e):
        b = self.b
        if isinstance(e, Const):
            return const(e.dtype, e.value)
        if isinstance(e, Load):
            p = self.mem_ptr(e.buf, e.index, mem_type(e.dtype))
            v = b.load(p, typ=mem_type(e.dtype))
            return b.icmp_unsigned("!=", v, ir.Constant(I8T, 0)) if e.dtype is BOOL else v
        if isinstance(e, Var):
            return self.acc_value(e)
        if isinstance(e, IndexValue):
            return self.ix(e.ix)
        if isinstance(e, Op):
            return self.op(e)
        raise BackendError(f"{self.TARGET}: unknown expression {e!r}")

    def op(self, e):
        b = self.b
        name, dt = e.op, e.dtype
        args = [self.val(a) for a in e.args]
        adt = e.args[0].dtype if e.args else dt
        if name == "clamp":
            x, lo, hi = args
            x = b.select(b.icmp_signed("<", x, lo), lo, x)
            return b.select(b.icmp_signed(">", x, hi), hi, x)
        if name == "check_index":
            return self.check_index(e, *args)
        if name == "floordiv":
            return self._floordiv(args[0], args[1])
        if name == "mod":
            r = b.srem(args[0], args[1])
            return b.select(b.icmp_signed("<", r, ir.Constant(I64T, 0)), b.add(r, args[1]), r)
        if name == "threefry2x32":
            return self.threefry(*args)
        if name == "threefry_xor":
            return b.xor(b.trunc(b.lshr(args[0], ir.Constant(I64T, 32)), I32T), b.trunc(args[0], I32T))
        if name == "threefry_word":
            # word 0 is the high half of the packed pair
            shift = b.mul(b.sub(ir.Constant(I64T, 1), args[1]), ir.Constant(I64T, 32))
            return b.trunc(b.lshr(args[0], shift), I32T)
        # every other op is a primitive: its scalar rule, or this target's faster form of it
        prim = REGISTRY.get(name)
        rule = None if prim is None else self.OVERRIDES.get(prim, prim.scalar)
        if rule is None:
            raise self.no_instruction(name, adt)
        return rule(self.scalar_builder(adt, dt, name), *args)

    def scalar_builder(self, adt=None, dt=None, name="?"):
        """The builder a scalar rule gets, for an op on operands of dtype adt with a result of dtype dt."""
        return ScalarBuilder(self.b, adt, dt, exp=self.EXP, fast_f64=self.FAST_F64, convert=self.cast,
                             fail=lambda: self.no_instruction(name, adt), fast_math=self.fast_math,
                             contract=self.fast_math and name in _CONTRACTIBLE)

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
        if src.is_float and dst.is_unsigned:
            # through i64, then wrap to 32 bits (what NumPy's C cast does on x86 for values in int64 range;
            # NaN / out of range: 0, never an undefined fptoui)
            return b.trunc(self.cast(v, src, I64), dt_)
        if src.is_float:
            # NaN / out of range -> INT_MIN (x86 and NumPy); never an undefined fptosi
            lo, hi = -(2.0 ** (dst.bits - 1)), 2.0 ** (dst.bits - 1)
            ok = b.and_(b.fcmp_ordered(">=", v, ir.Constant(st, lo)), b.fcmp_ordered("<", v, ir.Constant(st, hi)))
            safe = b.select(ok, v, ir.Constant(st, 0.0))
            return b.select(ok, b.fptosi(safe, dt_),
                            ir.Constant(dt_, -(1 << (dst.bits - 1)) & ((1 << dst.bits) - 1)))
        if dst.is_float:
            return b.uitofp(v, dt_) if src.is_unsigned else b.sitofp(v, dt_)
        if dst.bits > src.bits:
            return b.zext(v, dt_) if src.is_unsigned else b.sext(v, dt_)
        if dst.bits < src.bits:
            return b.trunc(v, dt_)
        return v

    def check_index(self, e, i, bound):
        """i when 0 <= i < bound; else 0 (loads stay in bounds), and the first failure writes [site + 1, i, bound]
        into the status buffer (lower/checks.py). The failure path is a cold branch: the in-range cost is one
        unsigned compare and a predictable branch."""
        b = self.b
        status, site = self.bufs[e.attrs[0]], e.attrs[1]
        bad = b.icmp_unsigned(">=", i, bound)
        with b.if_then(bad, likely=False):
            res = b.cmpxchg(status, ir.Constant(I64T, 0), ir.Constant(I64T, site + 1), "monotonic", "monotonic")
            with b.if_then(b.extract_value(res, 1)):
                b.store(i, b.gep(status, [ir.Constant(I64T, 1)], source_etype=I64T))
                b.store(bound, b.gep(status, [ir.Constant(I64T, 2)], source_etype=I64T))
        return b.select(bad, ir.Constant(I64T, 0), i)

    def threefry(self, k0, k1, x0, x1, i):
        """Threefry-2x32 (primitives/prng.py has the math and the NumPy reference) of the counter x0:x1 + i under
        the key k0:k1: both output words packed into an i64, word 0 high. Plain i32 add/xor/shift: the same
        instructions on every target."""
        b = self.b
        c = b.add(b.or_(b.shl(b.zext(x0, I64T), ir.Constant(I64T, 32)), b.zext(x1, I64T)), i)
        y0, y1 = b.trunc(b.lshr(c, ir.Constant(I64T, 32)), I32T), b.trunc(c, I32T)
        ks = (k0, k1, b.xor(b.xor(k0, k1), ir.Constant(I32T, KS_PARITY)))
        y0, y1 = b.add(y0, ks[0]), b.add(y1, ks[1])
        for j in range(5):
            for r in ROTATIONS[j % 2]:
                y0 = b.add(y0, y1)
                rot = b.or_(b.shl(y1, ir.Constant(I32T, r)), b.lshr(y1, ir.Constant(I32T, 32 - r)))
                y1 = b.xor(rot, y0)
            y0 = b.add(y0, ks[(j + 1) % 3])
            y1 = b.add(b.add(y1, ks[(j + 2) % 3]), ir.Constant(I32T, j + 1))
        return b.or_(b.shl(b.zext(y0, I64T), ir.Constant(I64T, 32)), b.zext(y1, I64T))

    # ---- accumulators ----
    def argmax_step(self, s, a, ia, old, v):
        """acc = v, at = index when v beats acc: NaN wins over numbers, the first of equals stays."""
        b = self.b
        if s.acc.dtype.is_float:
            take = b.or_(b.fcmp_ordered(">", v, old),
                         b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", old, old)))
        else:
            take = b.icmp_signed(">", v, old)
        b.store(b.select(take, v, old), a)
        at = self.val(s.index)
        b.store(b.select(take, at, b.load(ia, typ=I64T)), ia)

    # ---- statements ----
    def stmts(self, body):
        for s in body:
            self.stmt(s)

    def store_value(self, s):
        """Store s.value at s.buf[s.index] (bools are one byte in memory)."""
        b = self.b
        v = self.val(s.value)
        if s.value.dtype is BOOL:
            v = b.zext(v, I8T)
        p = self.mem_ptr(s.buf, s.index, mem_type(s.buf.dtype))
        return b.store(v, p)

    def counted_loop(self, var, lo, hi, step, emit_body, name=None, flags=("nsw",)):
        """for var in [lo, hi) by step: emit_body() in a scope of its own; the loop variable is an i64 phi."""
        b = self.b
        name = name or var
        pre = b.block
        head = self.fn.append_basic_block(f"{name}.head")
        bodyb = self.fn.append_basic_block(f"{name}.body")
        exit_ = self.fn.append_basic_block(f"{name}.exit")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(I64T, name=name)
        i.add_incoming(lo, pre)
        b.cbranch(b.icmp_signed("<", i, hi), bodyb, exit_)
        b.position_at_end(bodyb)
        old = self.vars.get(var)
        self.vars[var] = i
        self.scopes.append({})
        emit_body()
        self.scopes.pop()
        i.add_incoming(b.add(i, step, flags=list(flags)), b.block)
        b.branch(head)
        b.position_at_end(exit_)
        if old is None:
            self.vars.pop(var, None)
        else:
            self.vars[var] = old
