"""Scalar lowering lives on the primitive: every elementwise primitive the loop kernels compute has its scalar rule,
targets override rules only by Primitive object, and the math library stays free of any backend."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import ptx, llvm
from compiler.primitives import REGISTRY, UNARY, BINARY
from compiler.primitives.base import Primitive

ROOT = Path(__file__).resolve().parents[1] / "compiler"
# elementwise primitives the lowering turns into something else than one scalar op (index rules, checks, barriers)
NOT_SCALAR = {"one_hot", "check_index", "stop_gradient", "optimization_barrier"}


def test_every_elementwise_primitive_has_a_scalar_rule():
    missing = [p.name for p in REGISTRY.values() if p.kind == "elementwise" and p.scalar is None
               and p.name not in NOT_SCALAR]
    assert not missing, f"elementwise primitives without a scalar rule: {missing}"
    assert all(p.scalar is not None for p in UNARY + BINARY)
    assert all(REGISTRY[n].kind == "elementwise" for n in NOT_SCALAR)


@pytest.mark.parametrize("emitter", [ptx._Gen, llvm._Fn], ids=["ptx", "cpu"])
def test_overrides_are_keyed_by_primitives_with_a_rule(emitter):
    for prim in emitter.OVERRIDES:
        assert isinstance(prim, Primitive) and REGISTRY[prim.name] is prim and prim.scalar is not None


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")


def test_primitives_and_math_library_import_no_backend():
    for path in sorted((ROOT / "primitives").rglob("*.py")):
        for mod in _imports(path):
            assert "llvmlite" not in mod and "codegen" not in mod, f"{path.name} imports {mod}"


def test_no_name_tables_of_scalar_ops_left():
    # the tables this replaced: codegen MATH / _UNARY maps and lowering's SCALAR_OPS set
    for path in list((ROOT / "codegen").glob("*.py")) + list((ROOT / "lower").glob("*.py")):
        text = path.read_text()
        for name in ("MATH = ", "_UNARY = ", "SCALAR_OPS"):
            assert name not in text, f"{path.name} still has {name.strip()}"


def test_unsupported_dtype_names_target_op_and_dtype():
    # logical_and has only a bool rule: on floats the backend says which op and which dtype (never a crash)
    from compiler.codegen.scalar_builder import ScalarBuilder
    from compiler.ir.types import F32
    from llvmlite import ir
    fn = ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), [ir.FloatType()] * 2), "f")
    sb = ScalarBuilder(ir.IRBuilder(fn.append_basic_block()), F32, F32,
                       fail=lambda: cc.BackendError("cpu: no instruction for scalar op 'logical_and' on f32"))
    with pytest.raises(cc.BackendError, match="logical_and' on f32"):
        REGISTRY["logical_and"].scalar(sb, *fn.args)


def test_same_rule_serves_cpu_and_ptx():
    # one definition, two targets: the f64 atan2 kernel (no GPU override) is the same math on both
    f = cc.compile(lambda y, x: np.arctan2(y, x))
    y, x = np.linspace(-3, 3, 50), np.linspace(2, -2, 50)
    np.testing.assert_allclose(f(y, x), np.arctan2(y, x), rtol=4e-16, atol=0)
    ptx_text = cc.compile(lambda y, x: np.arctan2(y, x), backend="cuda").lower(y, x).ptx()
    assert "div.rn.f64" in ptx_text and "call" not in ptx_text.split(".entry", 1)[1]
