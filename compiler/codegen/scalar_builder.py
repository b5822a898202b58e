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

    def int_type(self, nbits):
        """The scalar integer type of nbits (i128 for exact wide products in rare paths)."""
        return ir.IntType(nbits)

    def iconst(self, nbits, v):
        return ir.Constant(ir.IntType(nbits), v)

    def rare_call(self, name, body, x, cond, common):
        """`common`, except where `cond` holds (rarely): there body(b2, x) of one scalar element, emitted once per
        module as the out-of-line function `name` and reached by a branch. On CPUs the branch calls `name`_rare(x,
        common), which declares masked vector variants (2..16 lanes) so the loop vectoriser still widens a loop
        using it; they are inlined after the pipeline (runtime/jit.py), so the vector loop tests its mask in line,
        and take the common result as an operand, so that it is complete before the test and the only vector
        value live across the cold lanes' calls (computed after them, the polynomials' constants and temporaries
        were spilled in the hot path: sin of 1M f64 0.96 -> 1.3 ms)."""
        b = self.b
        t = FloatType(x.type)
        fn = self._outlined(name, body, t.el)
        if t.n is None:
            if self.fast_f64:
                return self._if_call(self._rare_entry(fn, t.el), x, cond, common, with_common=True)
            return self._if_call(fn, x, cond, common)
        res = common
        for i in range(t.n):
            lane = ir.Constant(ir.IntType(32), i)
            got = self._if_call(fn, b.extract_element(x, lane), b.extract_element(cond, lane),
                                b.extract_element(res, lane))
            res = b.insert_element(res, got, lane)
        return res

    def _if_call(self, fn, x, cond, common, with_common=False):
        b = self.b
        pre = b.block
        with b.if_then(cond, likely=False):
            got = b.call(fn, [x, common] if with_common else [x])
            slow = b.block
        phi = b.phi(x.type)
        phi.add_incoming(common, pre)
        phi.add_incoming(got, slow)
        return phi

    def _outlined(self, name, body, el):
        module = self.b.module
        fn = module.globals.get(name)
        if fn is not None:
            return fn
        fn = ir.Function(module, ir.FunctionType(el, [el]), name)
        fn.linkage = "internal"
        for a in ("noinline", "nounwind", "readnone"):
            fn.attributes.add(a)
        fb = ir.IRBuilder(fn.append_basic_block("entry"))
        fb.ret(body(ScalarBuilder(fb, exp=self._exp, fast_f64=self.fast_f64), fn.args[0]))
        return fn

    def _rare_entry(self, fn, el):
        """fn(x) as `fn`_rare(x, common) with masked vector variants that return common's
        lanes where the mask is off."""
        module = self.b.module
        name = fn.name + "_rare"
        entry = module.globals.get(name)
        if entry is not None:
            return entry
        entry = ir.Function(module, ir.FunctionType(el, [el, el]), name)
        entry.linkage = "internal"
        for a in ("noinline", "nounwind", "readnone"):
            entry.attributes.add(a)
        eb = ir.IRBuilder(entry.append_basic_block("entry"))
        x, common = entry.args
        # common read (for a NaN x, never called with: the rare conditions are ordered), so that dead-argument
        # elimination keeps the signature the variants' mapping names
        eb.ret(eb.select(eb.fcmp_ordered("==", x, x), eb.call(fn, [x]), common))
        variants = [self._vector_variant(fn, el, n) for n in (2, 4, 8, 16)]
        # VFABI mapping: _ZGV_LLVM_M<lanes>vv_<scalar>(<vector>), masked, two vector arguments
        attr = ",".join(f"_ZGV_LLVM_M{v.type.pointee.args[0].count}vv_{name}({v.name})" for v in variants)
        set.add(entry.attributes, f'"vector-function-abi-variant"="{attr}"')   # a string attribute: llvmlite
        _keep(module, variants)                                                 # only knows enum ones
        return entry

    def _vector_variant(self, fn, el, n):
        vt, mt = ir.VectorType(el, n), ir.VectorType(ir.IntType(1), n)
        vf = ir.Function(fn.module, ir.FunctionType(vt, [vt, vt, mt]), f"{fn.name}_v{n}")
        vf.linkage = "internal"
        vf.attributes.add("nounwind")
        vf.attributes.add("alwaysinline")
        vb = ScalarBuilder(ir.IRBuilder(vf.append_basic_block("entry")))
        x, res, mask = vf.args
        # called for every vector of the loop: out at once when no lane needs it
        none = vb.b.icmp_unsigned("==", vb.b.bitcast(mask, ir.IntType(n)), ir.Constant(ir.IntType(n), 0))
        with vb.b.if_then(none, likely=True):
            vb.b.ret(res)
        for i in range(n):
            lane = ir.Constant(ir.IntType(32), i)
            got = vb._if_call(fn, vb.b.extract_element(x, lane), vb.b.extract_element(mask, lane),
                              vb.b.extract_element(res, lane))
            res = vb.b.insert_element(res, got, lane)
        vb.b.ret(res)
        return vf

    def convert(self, v, src, dst):
        """v from DType src to DType dst, with NumPy's rules (NaN and out-of-range floats to ints never undefined)."""
        return self._convert(v, src, dst)

    def fail(self):
        """The error for an op this target has no instruction for (on these operand types)."""
        return self._fail()


def _keep(module, fns):
    """Functions referenced only by name (vector variants) listed in llvm.compiler.used, so no pass drops them."""
    old = module.globals.get("llvm.compiler.used")
    ptr = ir.IntType(8).as_pointer()
    items = list(old.initializer.constant) if old is not None else []
    items += [f.bitcast(ptr) for f in fns]
    if old is not None:
        del module.globals[old.name]
        module.scope._useset.discard(old.name)
    g = ir.GlobalVariable(module, ir.ArrayType(ptr, len(items)), "llvm.compiler.used")
    g.linkage = "appending"
    g.section = "llvm.metadata"
    g.initializer = ir.Constant(ir.ArrayType(ptr, len(items)), items)


def _passthrough(name):
    def op(self, *args, **kw):
        return getattr(self.b, name)(*args, **kw)
    op.__name__ = name
    return op


for _n in _PASSTHROUGH:
    setattr(ScalarBuilder, _n, _passthrough(_n))
