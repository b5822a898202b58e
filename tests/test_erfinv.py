"""erfinv, the primitive added as the proof of "one primitive, one place" (its whole definition is one block in
compiler/primitives/elementwise.py): NumPy surface (scipy.special.erfinv, cc.special.erfinv), eager and traced,
derivatives (the rule checked with sympy and against finite differences), compiled on the CPU, and as PTX.
Oracles: scipy.special.erfinv (a peer), sympy, float64 central differences."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import sympy

import compiler as cc
from compiler.codegen import ptx_support as px
from compiler.primitives import REGISTRY

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.nan, 1.5, -2.0, np.inf, 1e-30, -1e-300, 5e-324, 0.5, -0.5])


def _points(dt, n=6000):
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(-1, 1, n), rng.uniform(-1, 1, n), 1 - np.exp(rng.uniform(-37, 0, n)),
                        -(1 - np.exp(rng.uniform(-37, 0, n))), SPECIAL, [1 - 2 ** -53, -1 + 2 ** -53]])
    return x.astype(dt)


def _check(got, x, dt, ulps):
    """|got - erfinv(x)| <= ulps ulp, plus what 2 ulp of error in x itself would cause (erfinv is ill-conditioned
    next to +-1: d erfinv = sqrt(pi)/2 e^(y^2) dx); NaN and inf exactly as SciPy."""
    with np.errstate(all="ignore"):
        want = scipy.special.erfinv(x.astype(np.float64))
    assert got.dtype == dt
    assert np.array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    assert np.array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)])
    # erfinv is odd: erfinv(-0) = -0 (SciPy returns +0 there; its erf keeps the sign, as here)
    assert np.array_equal(np.signbit(got[want == 0]), np.signbit(x[want == 0]))
    g, w, xf = got[fin].astype(np.float64), want[fin], x[fin].astype(np.float64)
    slack = 2 * np.spacing(np.abs(xf).astype(dt)).astype(np.float64) * math.sqrt(math.pi) / 2 * np.exp(w * w)
    err = np.abs(g - w) - slack
    bound = ulps * np.maximum(np.spacing(np.abs(w).astype(dt)).astype(np.float64), np.finfo(dt).smallest_subnormal)
    assert np.all(err <= bound), f"worst at x={xf[np.argmax(err - bound)]!r}"


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_compiled_cpu_matches_scipy(dt):
    x = _points(dt)
    _check(cc.compile(lambda v: scipy.special.erfinv(v))(x), x, dt, 1 if dt == np.float32 else 4)
    _check(cc.compile(cc.special.erfinv)(x), x, dt, 1 if dt == np.float32 else 4)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_eager_and_traced(dt):
    x = _points(dt, 500)
    _check(cc.special.erfinv(x), x, dt, 1 if dt == np.float32 else 3)
    g = cc.trace(lambda v: scipy.special.erfinv(v) * 2.0, x)
    assert any(n.prim is REGISTRY["erfinv"] for n in g.nodes)
    (out,) = cc.interpret(g, x)
    _check(out / 2, x, dt, 1 if dt == np.float32 else 3)
    assert cc.special.erfinv(np.arange(3)).dtype == np.float64          # ints compute in f64, as NumPy's ufuncs
    with pytest.raises(cc.DTypeError):
        cc.special.erfinv(np.array([True]))


def test_derivative_rule_is_sympys():
    X = sympy.Symbol("x")
    want = sympy.diff(sympy.erfinv(X), X)
    rule = sympy.sqrt(sympy.pi) / 2 * sympy.exp(sympy.erfinv(X) ** 2)
    assert sympy.simplify(want - rule) == 0
    # and the rule as the primitive computes it (jvp with tangent 1), at a few points
    for v in (-0.95, -0.3, 0.0, 0.6, 0.99):
        _, d = cc.jvp(lambda t: REGISTRY["erfinv"](t), (np.float64(v),), (np.float64(1.0),))
        assert math.isclose(float(d), float(want.subs(X, v).evalf(30)), rel_tol=1e-13)


def test_gradients_against_finite_differences():
    x = np.random.default_rng(3).uniform(-0.9, 0.9, 6)
    cc.check_grads(lambda v: np.sum(scipy.special.erfinv(v) ** 2), (x,), order=2)
    grad = cc.compile(cc.grad(lambda v: np.sum(cc.special.erfinv(v))))(x)
    y = scipy.special.erfinv(x)
    np.testing.assert_allclose(grad, math.sqrt(math.pi) / 2 * np.exp(y * y), rtol=1e-14)


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_ptx(dt):
    x = np.linspace(-0.99, 0.99, 64).astype(np.float32 if dt == "f32" else np.float64)
    low = cc.compile(lambda v: scipy.special.erfinv(v) + 1.0, backend="cuda").lower(x)
    ptx = low.ptx()
    body = ptx.split(".entry", 1)[1]
    assert "call" not in body                                     # inline math, no libdevice
    if dt == "f32":
        assert ".f64" not in body and "sqrt.rn.f32" in body        # f32 stays in f32 on the GPU (Giles' polynomials)
    else:
        assert "fma.rn.f64" in body
    if px.assembler_available():
        px.assemble(ptx, "sm_80")


def test_gpu_f32_form_on_the_host():
    # the f32 form the GPU runs (no f64): Giles' polynomials alone, checked on the host through the same rule
    from llvmlite import ir
    import llvmlite.binding as llvm
    import ctypes
    from compiler.codegen.scalar_builder import ScalarBuilder
    from compiler.ir.types import F32
    m = ir.Module()
    p = ir.PointerType()
    fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [p, p, ir.IntType(64)]), "f")
    xs, ys, n = fn.args
    entry, loop, done = (fn.append_basic_block(s) for s in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(ir.IntType(64))
    i.add_incoming(ir.Constant(ir.IntType(64), 0), entry)
    v = b.load(b.gep(xs, [i], source_etype=ir.FloatType()), typ=ir.FloatType())
    r = REGISTRY["erfinv"].scalar(ScalarBuilder(b, F32, F32, fast_f64=False), v)
    b.store(r, b.gep(ys, [i], source_etype=ir.FloatType()))
    nxt = b.add(i, ir.Constant(ir.IntType(64), 1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
    b.position_at_end(done)
    b.ret_void()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    mod = llvm.parse_assembly(str(m))
    ee = llvm.create_mcjit_compiler(mod, llvm.Target.from_default_triple().create_target_machine())
    ee.finalize_object()
    cfn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(ee.get_function_address("f"))
    x = _points(np.float32)
    x = x[np.abs(x) <= 1 - 2 ** -20]
    y = np.empty_like(x)
    cfn(x.ctypes.data, y.ctypes.data, x.size)
    _check(y, x, np.float32, 4)
