"""copysign, a binary primitive added as a proof of "one primitive, one place" (its whole definition is one block in
compiler/primitives/elementwise.py): the NumPy surface np.copysign, eager and traced, derivatives (the rule checked
with sympy and against finite differences), vmap, compiled on the CPU, and as PTX.
Oracles: NumPy's np.copysign (bit for bit, NaN's sign included), sympy, float64 central differences."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import compiler as cc
from compiler import ops
from compiler.codegen import ptx_support as px
from compiler.primitives import REGISTRY

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.nan, -np.nan, np.inf, -np.inf, 1e-30, -1e-300, 5e-324, -2.5, 3e38])


def _pairs(dt):
    rng = np.random.default_rng(5)
    a = np.concatenate([np.repeat(SPECIAL, SPECIAL.size), rng.standard_normal(200) * 1e3])
    b = np.concatenate([np.tile(SPECIAL, SPECIAL.size), rng.standard_normal(200)])
    with np.errstate(over="ignore"):
        return a.astype(dt), b.astype(dt)


def _same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_compiled_cpu_is_numpy_bit_for_bit(dt):
    a, b = _pairs(dt)
    _same_bits(cc.compile(lambda x, y: np.copysign(x, y))(a, b), np.copysign(a, b))
    # fused with neighbours, broadcasting a row against a column
    f = cc.compile(lambda x, y: np.copysign(x * 2.0, y[:, None]) + 1.0)
    _same_bits(f(a[:40], b[:7]), np.copysign(a[:40] * dt(2), b[:7, None]) + dt(1))


def test_eager_traced_and_dtypes():
    a, b = _pairs(np.float64)
    _same_bits(REGISTRY["copysign"](a, b), np.copysign(a, b))               # the primitive on arrays: NumPy reference
    _same_bits(ops.ufunc_impl(np.copysign)(a, b), np.copysign(a, b))        # the surface function, eagerly
    g = cc.trace(lambda x, y: np.copysign(x, y) * 3.0, a, b)
    assert [n.prim.name for n in g.nodes].count("copysign") == 1
    (out,) = cc.interpret(g, a, b)
    _same_bits(out, np.copysign(a, b) * 3.0)
    # integer operands compute in f64, as NumPy's float loop; a Python float keeps f32 (NEP 50)
    i, j = np.arange(-3, 3), np.array([1, -1, 0, 2, -5, 7])
    _same_bits(cc.compile(lambda x, y: np.copysign(x, y))(i, j), np.copysign(i, j))
    x32 = np.linspace(-1, 1, 5, dtype=np.float32)
    _same_bits(cc.compile(lambda x: np.copysign(x, -1.0))(x32), np.copysign(x32, -1.0))


def test_bad_shapes_name_the_op():
    with pytest.raises(cc.ShapeError, match="copysign"):
        cc.trace(lambda x, y: np.copysign(x, y), np.ones(3), np.ones(4))


def test_derivative_rule_is_sympys():
    a, b = sympy.symbols("a b", real=True, nonzero=True)
    f = sympy.Abs(a) * sympy.sign(b)                                        # copysign away from b = 0
    assert sympy.simplify(sympy.diff(f, a) - sympy.sign(a) * sympy.sign(b)) == 0
    assert sympy.diff(f, b).subs(b, sympy.Rational(3, 7)) == 0              # piecewise constant in b
    # the rule as the primitive computes it (jvp with unit tangents), at points of every sign
    for va, vb in [(1.5, 2.0), (1.5, -2.0), (-0.7, 3.0), (-0.7, -3.0), (2.0, -0.0)]:
        want = float(sympy.sign(va) * (-1 if np.signbit(vb) else 1))
        _, da = cc.jvp(lambda x: REGISTRY["copysign"](x, np.float64(vb)), (np.float64(va),), (np.float64(1.0),))
        _, db = cc.jvp(lambda y: REGISTRY["copysign"](np.float64(va), y), (np.float64(vb),), (np.float64(1.0),))
        assert float(da) == want and float(db) == 0.0


def test_gradients_against_finite_differences_and_vmap():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(6), rng.standard_normal(6)
    cc.check_grads(lambda x, y: np.sum(np.copysign(x, y) * np.sin(x)), (a, b), order=2)
    ga, gb = cc.compile(cc.grad(lambda x, y: np.sum(np.copysign(x, y) * x), argnums=(0, 1)))(a, b)
    np.testing.assert_allclose(ga, 2 * np.abs(a) * np.sign(b), rtol=1e-14)           # d |x| x s(y) = 2 |x| s(y)
    np.testing.assert_array_equal(gb, np.zeros(6))
    m = rng.standard_normal((4, 6))
    _same_bits(cc.vmap(lambda x: np.copysign(x, b))(m), np.copysign(m, b))


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_ptx(dt):
    a, b = (v.astype(np.float32 if dt == "f32" else np.float64) for v in _pairs(np.float64))
    ptx = cc.compile(lambda x, y: np.copysign(x, y) + 1.0, backend="cuda").lower(a, b).ptx()
    body = ptx.split(".entry", 1)[1]
    assert "call" not in body
    bits = "b32" if dt == "f32" else "b64"
    assert f"and.{bits}" in body and f"or.{bits}" in body and f"add.rn.{dt}" in body     # the sign bit, moved by masks
    if px.assembler_available():
        px.assemble(ptx, "sm_80")
