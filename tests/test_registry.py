"""Registry guards: every primitive carries each of its rules and properties, the NumPy surface is derived from the
registry, and no module outside it keeps a table of primitive names (what fuse.py's cost and class sets were)."""
import ast
import pathlib

import numpy as np
import pytest

import compiler as cc
from compiler import ops
from compiler.primitives import REGISTRY
from compiler.primitives.base import FUSION, OPERANDS
from compiler.lower import rules as index_rules  # noqa: F401  (registers the index rules on the primitives)

ROOT = pathlib.Path(cc.__file__).parent


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_primitive_has_its_rules_and_properties(name):
    p = REGISTRY[name]
    assert callable(p.numpy) and callable(p.shape), name
    assert p.batch is not None, f"{name}: no batching rule"
    if p.differentiable:
        assert p.jvp is not None or p.vjp is not None or p.transpose is not None, f"{name}: no derivative rule"
    assert p.fusion in FUSION and p.operands in OPERANDS, name
    assert isinstance(p.cost, int) and p.cost >= 0, name
    if p.fusion == "inline" and p.kind != "elementwise":
        # evaluated inside its consumers' loops at a rewritten index: needs the rule that says how
        assert p.index_rule is not None, f"{name}: fuses inline but has no index rule (lower/rules.py)"
    if p.fusion == "reduce":
        assert p.kind == "reduce" and p.reduction in ("sum", "max", "argmax"), name
    if p.kind == "elementwise":
        assert _has_scalar_lowering(p), f"{name}: elementwise but no lowering (index rule, lower= or scalar op)"
    if p.commutative:
        x, y = np.array([1.0, -0.0, np.nan, 2.0]), np.array([3.0, 0.0, 1.0, np.nan])
        assert np.array_equal(p.numpy(x, y), p.numpy(y, x), equal_nan=True), name


def _has_scalar_lowering(p):
    from compiler.lower import lowering
    # NOTE: the scalar ops are moving onto the primitive (Primitive.scalar); until then lowering's SCALAR_OPS names
    # them (a table the scan below checks against the registry)
    return (p.index_rule is not None or p.lower is not None or getattr(p, "scalar", None) is not None
            or p.name in getattr(lowering, "SCALAR_OPS", ()))


def test_fusion_classes_are_those_of_the_old_tables():
    # what passes/fuse.py's INLINE/ANCHORS/REDUCE sets said, now read off the primitives
    by_class = {}
    for name, p in REGISTRY.items():
        by_class.setdefault(p.fusion, set()).add(name)
    assert by_class["reduce"] == {"reduce_sum", "reduce_max", "argmax"}
    assert {n for c in ("gemm", "conv", "convti", "convtk") for n in by_class[c]} == {
        "dot_general", "conv2d", "conv2d_transpose_input", "conv2d_transpose_kernel"}
    assert {"broadcast_in_dim", "reshape", "transpose", "slice", "pad", "concatenate", "rev", "const", "dim", "iota",
            "one_hot", "take", "threefry2x32", "max_pool2d", "max_pool2d_jvp", "max_pool2d_vjp"} <= by_class["inline"]
    assert by_class["region"] == {"scan", "while_loop", "cond"}


def test_declared_numpy_functions_dispatch_to_their_primitive():
    ufuncs, functions, special = ops.primitive_tables(REGISTRY)
    seen = 0
    for p in REGISTRY.values():
        for f in p.numpy_functions:
            impl = ops.ufunc_impl(f) if isinstance(f, np.ufunc) else ops.function_impl(f)
            assert impl is ops.surface_function(p), f"{f.__name__} does not reach {p.name}"
            seen += 1
        for name in p.surface:
            if name.startswith("scipy.special."):
                assert special[name.split(".")[-1]] is ops.surface_function(p)
    assert seen >= 30


def test_a_function_is_claimed_once():
    # a composition (@implements) and a primitive never claim the same NumPy function
    ufuncs, functions, special = ops.primitive_tables(REGISTRY)
    assert not set(ufuncs) & set(ops.UFUNCS), sorted(f.__name__ for f in set(ufuncs) & set(ops.UFUNCS))
    assert not set(functions) & set(ops.FUNCTIONS)
    assert not set(special) & set(ops.SCIPY_SPECIAL)
    with pytest.raises(ValueError, match="implemented twice"):
        ops.implements(np.hypot)(lambda a, b: a)
    with pytest.raises(ValueError, match="implemented twice"):
        ops.implements(surface=("scipy.special.logit",))(lambda x: x)


def _sample(nin, rng, kind):
    if kind == "bool":
        return [rng.random(6) > 0.5 for _ in range(nin)]
    return [rng.uniform(0.2, 2.0, 6) for _ in range(nin)]


@pytest.mark.parametrize("name", sorted(n for n, p in REGISTRY.items() if p.numpy_functions))
def test_declared_numpy_functions_agree_with_numpy_traced(name):
    # the oracle is NumPy itself: the declared ufunc on plain arrays vs the same call traced and interpreted
    rng = np.random.default_rng(0)
    p = REGISTRY[name]
    for f in p.numpy_functions:
        kind = "bool" if p.operands == "truth" else "float"
        args = _sample(f.nin, rng, kind)
        (got,) = cc.interpret(cc.trace(lambda *xs: f(*xs), *args), *args)
        np.testing.assert_allclose(np.asarray(got), f(*args), rtol=1e-12, err_msg=f.__name__)


# ---- no tables of primitive names outside the registry ----

# Tables that hold kernel-level scalar op names (which coincide with primitive names), still to be replaced by each
# primitive's scalar lowering (the scalar-lowering work). Their entries must be registered primitives.
PENDING = {"lower/lowering.py", "codegen/llvm.py", "codegen/ptx.py", "codegen/scalar.py"}
# Names that coincide with primitive names but are not primitive tables: kernel ops (flops), Python operator dunders
# (trace), the public names of a module (__all__).
NOT_PRIMITIVE_NAMES = {"lower/flops.py", "trace.py"}


def name_tables(source, names):
    """(line, strings) of each literal set / dict / tuple / list (or "a b c".split()) that lists primitive names: at
    least two of its strings (a dict: its keys) are primitive names, and at least half of them are."""
    tree = ast.parse(source)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip.update(id(x) for x in ast.walk(node.value))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "split"
                and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
            strs = node.func.value.value.split()            # "exp log tanh".split()
        elif isinstance(node, (ast.Set, ast.Dict, ast.Tuple, ast.List)):
            elts = node.keys if isinstance(node, ast.Dict) else node.elts
            strs = [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        else:
            continue
        hits = [s for s in strs if s in names]
        if len(hits) >= 2 and 2 * len(hits) >= len(strs):
            out.append((node.lineno, strs))
    return out


def test_the_scan_finds_a_table_of_names():
    old_cost = ('_COST = {"exp": 4, "log": 4, "tanh": 5, "no_such_op": 1}\n_FREE = {"const", "reshape"}\n'
                'KEEP = frozenset("exp log tanh".split())\n')
    found = name_tables(old_cost, set(REGISTRY))
    assert [line for line, _ in found] == [1, 2, 3]
    assert "no_such_op" in found[0][1] and "no_such_op" not in REGISTRY


def test_no_tables_of_primitive_names_outside_the_registry():
    names = set(REGISTRY)
    bad, unknown = [], []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("primitives/") or rel in NOT_PRIMITIVE_NAMES:
            continue
        for line, strs in name_tables(path.read_text(), names):
            if rel in PENDING:
                unknown += [f"{rel}:{line}: {s!r}" for s in strs if s not in names]
            else:
                bad.append(f"{rel}:{line}: {strs}")
    assert not bad, "tables of primitive names outside compiler/primitives (make them properties):\n" + "\n".join(bad)
    assert not unknown, "tables naming something that is no registered primitive:\n" + "\n".join(unknown)


def test_a_new_primitive_reaches_numpy_from_its_definition_alone():
    # adding a primitive is one definition: its NumPy function dispatches to it with no table edited elsewhere
    from compiler.primitives.base import Primitive, numeric_unary
    from compiler.ir.types import TensorType, BOOL
    assert ops.ufunc_impl(np.signbit) is None
    p = Primitive("_test_signbit", numpy=np.signbit, shape=lambda x, **_: TensorType(BOOL, x.shape),
                  kind="elementwise", numpy_functions=(np.signbit,), operands="numeric")
    try:
        assert p.fusion == "inline" and p.cost == 1 and not p.commutative
        x = np.array([-1.5, 0.0, -0.0, 2.0])
        g = cc.trace(lambda x: np.signbit(x), x)
        assert [n.prim for n in g.nodes] == [p]
        (got,) = cc.interpret(g, x)
        np.testing.assert_array_equal(got, np.signbit(x))
    finally:
        del REGISTRY["_test_signbit"]
    assert ops.ufunc_impl(np.signbit) is None
