"""The scalar builder for LLVM IR (CPU and NVPTX alike): what primitives' `scalar` rules and the shared math library
(primitives/mathlib) emit through. It wraps an llvmlite IRBuilder; the protocol is listed in mathlib/__init__.py."""
from __future__ import annotations

from llvmlite import ir

from ..primitives import mathlib


class FloatType:
    """Float type of one value: element width, lane count, and matching integer / constant helpers."""

    def __init__(self, ty):
        el, self.n = (ty.element, ty.count) if isinstance(ty, ir.VectorType) else (ty, None)
        if isinstance(el, ir.FloatType):
            self.bits, self.mant, self.bias = 32, 23, 127
        elif isinstance(el, ir.DoubleType):
            self.bits, self.mant, self.bias = 64, 52, 1023
        else:
            raise TypeError(f"scalar math: expected float, double or a vector of them, got {ty}")
        self.ty, self.el = ty, el
        self.iel = ir.IntType(self.bits)
        self.ity = self._vec(self.iel)

    def _vec(self, el):
        return el if self.n is None else ir.VectorType(el, self.n)

    def f(self, c):
        return ir.Constant(self.ty, c if self.n is None else [c] * self.n)

    def i(self, c):
        return ir.Constant(self.ity, c if self.n is None else [c] * self.n)

    def wide(self):
        """The f64 type with the same lane count."""
        return FloatType(self._vec(ir.DoubleType()))


def intrinsic(b, name, ty, nargs=1):
    """Declare llvm.<name>.<f32|v16f32|...> (llvmlite's declare_intrinsic cannot mangle vector types)."""
    t = FloatType(ty)
    suffix = f"f{t.bits}" if t.n is None else f"v{t.n}f{t.bits}"
    full = f"{name}.{suffix}"
    fn = b.module.globals.get(full)
    return fn if fn is not None else ir.Function(b.module, ir.FunctionType(ty, [ty] * nargs), full)


# LLVM's instruction vocabulary, passed straight to the IRBuilder
_PASSTHROUGH = ("fdiv", "fneg", "add", "sub", "mul", "sdiv", "srem", "udiv", "and_", "or_",
                "xor", "not_", "shl", "lshr", "ashr", "fcmp_ordered", "fcmp_unordered", "icmp_signed",
                "icmp_unsigned", "select", "bitcast", "zext", "sext", "trunc", "sitofp", "uitofp", "fptosi", "fptoui",
                "fpext", "fptrunc")


class ScalarBuilder:
    """Builder `b` of the math library and of primitives' `scalar` rules. `dtype` / `out` are the operand and
    result DTypes of the op being lowered (None inside the math library); `exp` the target's exp core."""

    fast_f64 = True
    fast_math = False         # cc.compile(fast_math=True): the math library may pick its cheaper forms (mathlib/fast.py)
    contract = False          # fadd/fsub/fmul may fuse into FMAs (fast_math, on the kernel's own arithmetic only)

    def __init__(self, b, dtype=None, out=None, exp=None, fast_f64=None, fail=None, convert=None, fast_math=False,
                 contract=False):
        self.b = b
        self.dtype, self.out = dtype, out
        self._exp, self._fail, self._convert = exp, fail, convert
        if fast_f64 is not None:
            self.fast_f64 = fast_f64
        self.fast_math, self.contract = fast_math, contract

    def fadd(self, x, y):
        return self.b.fadd(x, y, flags=("contract",) if self.contract else ())

    def fsub(self, x, y):
        return self.b.fsub(x, y, flags=("contract",) if self.contract else ())

    def fmul(self, x, y):
        return self.b.fmul(x, y, flags=("contract",) if self.contract else ())

    def ty(self, x):
        return FloatType(x.type)

    def const_like(self, x, v):
        """A constant of x's type (an integer, bool or float scalar type)."""
        t = x.type
        if isinstance(t, (ir.FloatType, ir.DoubleType)):
            return ir.Constant(t, float(v))
        return ir.Constant(t, int(v))

    def fma(self, a, x, c):
        # fmuladd fuses where the CPU has FMA and is mul+add elsewhere (never a libm call); NVPTX: fma.rn
        return self.b.call(intrinsic(self.b, "llvm.fmuladd", a.type, 3), [a, x, c])

    def fma_exact(self, a, x, c):
        return self.b.call(intrinsic(self.b, "llvm.fma", a.type, 3), [a, x, c])

    def fabs(self, x):
        return self.b.call(intrinsic(self.b, "llvm.fabs", x.type), [x])

    def sqrt(self, x):
        return self.b.call(intrinsic(self.b, "llvm.sqrt", x.type), [x])

    def exp(self, x):
        if self._exp is not None:
            return self._exp(self, x)
        return mathlib.exp(self, x)

    def repeat_until(self, v, step, name):
        """v = step(v)[0] until step(v)[1] is true: a loop of blocks <name>.step / <name>.done; returns the last v."""
        b = self.b
        pre = b.block
        body = b.function.append_basic_block(f"{name}.step")
        done = b.function.append_basic_block(f"{name}.done")
        b.branch(body)
        b.position_at_end(body)
        phi = b.phi(v.type)
        phi.add_incoming(v, pre)
        v, stop = step(phi)
        phi.add_incoming(v, b.block)
        b.cbranch(stop, done, body)
        b.position_at_end(done)
        return v

    def convert(self, v, src, dst):
        """v from DType src to DType dst, with NumPy's rules (NaN and out-of-range floats to ints never undefined)."""
        return self._convert(v, src, dst)

    def fail(self):
        """The error for an op this target has no instruction for (on these operand types)."""
        return self._fail()


def _passthrough(name):
    def op(self, *args, **kw):
        return getattr(self.b, name)(*args, **kw)
    op.__name__ = name
    return op


for _n in _PASSTHROUGH:
    setattr(ScalarBuilder, _n, _passthrough(_n))
