"""NVPTX's faster forms of some primitives (keyed by the Primitive, used by ptx.py in place of the primitive's own
scalar rule): f32 exp / tanh / logistic through ex2.approx and rcp.approx, rounding in one cvt instruction."""
from __future__ import annotations

from llvmlite import ir

from ..primitives import elementwise as ew
from . import ptx_support as px
from .scalar import FT


def _c(x, v):
    return ir.Constant(x.type, v)


# ---- f32/f64 math on NVPTX (NaN in, NaN out, like NumPy) ----

_LOG2E = 1.4426950408889634
# Cephes tanhf: tanh(x) = x + x^3 P(x^2) for |x| < 0.625, ~1 ulp
_TANHF_P = [-3.33332819422e-1, 1.33314422036e-1, -5.37397155531e-2, 2.06390887954e-2, -5.70498872745e-3]


def _ex2(b, x):
    return px._call(b, "llvm.nvvm.ex2.approx.f32", x)


def _rcp_approx(b, x):
    return b.fdiv(_c(x, 1.0), x, flags=("arcp", "afn"))


def g_tanh(b, x):
    a = px.fabs(b, x)
    z = b.fmul(x, x)
    small = b.fadd(x, b.fmul(b.fmul(x, z), px._horner(b, z, _TANHF_P)))
    # |x| >= 0.625: 1 - 2/(e^2|x| + 1); e = inf gives 1 exactly
    e = _ex2(b, b.fmul(a, _c(x, 2.0 * _LOG2E)))
    big = b.fsub(_c(x, 1.0), b.fmul(_c(x, 2.0), _rcp_approx(b, b.fadd(e, _c(x, 1.0)))))
    big = px.copysign(b, big, x)
    return b.select(b.fcmp_ordered("<", a, _c(x, 0.625)), small, big)


def g_logistic(b, x):
    """1/(1+e^-x) = e^-|x| / (1 + e^-|x|) for x < 0: relative accuracy in both tails."""
    e = _ex2(b, b.fmul(px.fabs(b, x), _c(x, -_LOG2E)))
    num = b.select(b.fcmp_ordered(">=", x, _c(x, 0.0)), _c(x, 1.0), e)
    return b.fmul(num, _rcp_approx(b, b.fadd(e, _c(x, 1.0))))


def _native(intrinsic):
    # cvt.rmi / cvt.rpi / cvt.rzi / cvt.rni: one instruction each
    return lambda sb, x: px._call(sb.b, f"llvm.{intrinsic}.{px._suffix(x)}", x)


def _f32_only(fast, prim):
    """fast(b, x) on f32, the primitive's own rule on other dtypes."""
    return lambda sb, x: fast(sb.b, x) if x.type == FT else prim.scalar(sb, x)


# Faster forms of primitives on NVPTX, keyed by the Primitive: f32 exp / tanh / logistic through ex2.approx (a few
# ulp), rounding in one instruction. Every other op, and f64, is the primitive's own rule.
OVERRIDES = {ew.exp: _f32_only(px.exp, ew.exp), ew.tanh: _f32_only(g_tanh, ew.tanh),
             ew.logistic: _f32_only(g_logistic, ew.logistic),
             ew.floor: _native("floor"), ew.ceil: _native("ceil"), ew.trunc: _native("trunc"), ew.rint: _native("rint")}


def exp_core(sb, x):
    """The exp the shared math library uses inside other functions (erf): f32 through ex2.approx."""
    return px.exp(sb.b, x)
