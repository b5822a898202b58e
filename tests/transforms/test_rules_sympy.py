"""Exact checks of every derivative rule in the registry.

Elementwise primitives: build the primitive's jvp and vjp graphs on scalar f64 inputs, read those graphs as
sympy expressions (a small symbolic interpreter), and compare with sympy.diff of the primitive's sympy form:
symbolically after simplification, else at 20 random points to 1e-12.
Linear primitives: the transpose rule satisfies <v, J u> == <J^T v, u> on random float64 inputs.
A primitive with no rule, or no check here (or in test_primitive_grads.py for the few nonlinear non-elementwise
ones), fails test_every_primitive_has_rules_and_a_rule_check.
"""
import numpy as np
import pytest
import sympy

import compiler as cc
from compiler import primitives as P
from compiler.primitives import REGISTRY
from compiler.transforms import jvp_graph, vjp_graph

X, Y, T, U, C = sympy.symbols("x y t u ct", real=True)


class Trunc(sympy.Function):
    """Rounding toward zero, with the zero derivative the primitive's rules use (sympy has no such function)."""

    @classmethod
    def eval(cls, a):
        if a.is_Number:
            return sympy.Integer(int(a))

    def fdiff(self, argindex=1):
        return sympy.S.Zero


# the sympy form of every elementwise primitive with a derivative
SYMPY_OF = {
    "neg": lambda x: -x, "exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos,
    "tanh": sympy.tanh, "logistic": lambda x: 1 / (1 + sympy.exp(-x)), "sqrt": sympy.sqrt, "abs": sympy.Abs,
    "reciprocal": lambda x: 1 / x, "square": lambda x: x ** 2,
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b, "maximum": sympy.Max, "minimum": sympy.Min,
    "erf": sympy.erf, "erfinv": sympy.erfinv, "atan2": sympy.atan2, "fmod": lambda a, b: a - b * Trunc(a / b),
    "copysign": lambda a, b: sympy.Abs(a) * sympy.sign(b),
}
# elementwise primitives whose derivative is zero: piecewise constant, or bool/int results
ZERO_ELEMENTWISE = {"sign", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                    "one_hot", "check_index", "floor", "ceil", "trunc", "rint", "stop_gradient"}
# select and cast: checked symbolically below with their own setups
SPECIAL_ELEMENTWISE = {"select", "cast", "optimization_barrier"}   # the barrier: LINEAR_CASES and finite differences
POSITIVE_DOMAIN = {"log", "sqrt", "pow"}
UNIT_DOMAIN = {"erfinv"}                  # defined on (-1, 1)

# ---- a sympy interpreter for the (scalar) graphs the rules produce ----

_STRUCTURAL = {"broadcast_in_dim", "reshape", "reduce_sum", "transpose"}   # identities on scalars
_REL = {"eq": sympy.Eq, "ne": sympy.Ne, "lt": sympy.Lt, "le": sympy.Le, "gt": sympy.Gt, "ge": sympy.Ge}


def _sym_node(name, args, params, in_types):
    if name == "const":
        v = params["value"]
        assert v.ndim == 0, "scalar rule graphs have scalar constants"
        return sympy.true if v.dtype == np.bool_ and v else sympy.false if v.dtype == np.bool_ else sympy.nsimplify(float(v))
    if name in _STRUCTURAL:
        return args[0]
    if name in SYMPY_OF:
        return SYMPY_OF[name](*args)
    if name == "sign":
        return sympy.sign(args[0])
    if name == "trunc":
        return Trunc(args[0])
    if name in _REL:
        return _REL[name](*args)
    if name == "logical_not":
        return sympy.Not(args[0])
    if name == "logical_and":
        return sympy.And(*args)
    if name == "logical_or":
        return sympy.Or(*args)
    if name == "select":
        c, a, b = args
        return sympy.Piecewise((a, c), (b, True))
    if name == "cast":
        return sympy.Piecewise((1, args[0]), (0, True)) if in_types[0].dtype.is_bool else args[0]
    raise AssertionError(f"the sympy interpreter has no form for {name}")


def sym_interpret(g, inputs):
    env = dict(zip(g.inputs, inputs))
    for n in g.nodes:
        env[n.out] = _sym_node(n.prim.name, [env[v] for v in n.inputs], n.params, [v.type for v in n.inputs])
    return [env[v] for v in g.outputs]


def assert_sym_equal(got, want, symbols, domain, what):
    """Equal after simplification, else at 20 random points to 1e-12."""
    if sympy.simplify(got - want) == 0:
        return
    rng = np.random.default_rng(0)
    for _ in range(20):
        pt = {s: sympy.Float(float(rng.uniform(*domain)), 30) for s in symbols}
        a, b = complex(got.subs(pt).evalf(30)), complex(want.subs(pt).evalf(30))
        assert abs(a - b) <= 1e-12 * max(1.0, abs(b)), f"{what}: {got} != {want} at {pt}: {a} vs {b}"


def _scalar_graph(prim, n_in, dtype="f64", **params):
    return cc.trace(lambda *xs: prim(*xs, **params), *[cc.Spec(f"{dtype}[]")] * n_in)


# ---- elementwise: jvp and vjp graphs equal sympy.diff ----

@pytest.mark.parametrize("name", sorted(SYMPY_OF))
def test_elementwise_rule_equals_sympy_diff(name):
    prim = REGISTRY[name]
    f = SYMPY_OF[name]
    n_in = 1 if name in [p.name for p in P.UNARY] else 2
    xs = [X, Y][:n_in]
    ts = [T, U][:n_in]
    domain = (0.3, 2.5) if name in POSITIVE_DOMAIN else (-0.9, 0.9) if name in UNIT_DOMAIN else (-2.5, 2.5)
    g = _scalar_graph(prim, n_in)
    want_out = f(*xs)
    partials = [sympy.diff(want_out, x) for x in xs]

    out, tangent = sym_interpret(jvp_graph(g), xs + ts)
    assert_sym_equal(out, want_out, xs, domain, f"{name} primal")
    assert_sym_equal(tangent, sum(p * t for p, t in zip(partials, ts)), xs + ts, domain, f"{name} jvp")

    out, *cts = sym_interpret(vjp_graph(g), xs + [C])
    for i, (ct, p) in enumerate(zip(cts, partials)):
        assert_sym_equal(ct, C * p, xs + [C], domain, f"{name} vjp of input {i}")


def test_select_rule_is_linear_in_its_branches():
    g = cc.trace(lambda c, a, b: P.select(c, a, b), cc.Spec("bool[]"), cc.Spec("f64[]"), cc.Spec("f64[]"))
    for cond in (True, False):
        c = sympy.true if cond else sympy.false
        _, tangent = sym_interpret(jvp_graph(g), [c, X, Y, T, U])
        assert sympy.simplify(tangent - (T if cond else U)) == 0
        _, ca, cb = sym_interpret(vjp_graph(g), [c, X, Y, C])
        assert sympy.simplify(ca - (C if cond else 0)) == 0 and sympy.simplify(cb - (0 if cond else C)) == 0


@pytest.mark.parametrize("src,dst", [("f32", cc.ir.F64), ("f64", cc.ir.F32)])
def test_float_cast_rule_is_the_identity(src, dst):
    g = cc.trace(lambda x: P.cast(x, dtype=dst), cc.Spec(f"{src}[]"))
    _, tangent = sym_interpret(jvp_graph(g), [X, T])
    assert tangent == T
    _, ct = sym_interpret(vjp_graph(g), [X, C])
    assert ct == C


def test_casts_to_and_from_integers_have_no_derivative():
    g = cc.trace(lambda x: P.cast(P.cast(x, dtype=cc.ir.I64), dtype=cc.ir.F64) * x, cc.Spec("f64[3]"))
    # only the direct path through x carries a derivative: d(floor-ish(x) * x) = cast(x) dx
    x = np.array([1.7, -2.2, 3.0])
    (t,) = cc.interpret(jvp_graph(g), x, np.ones(3))[1:]
    np.testing.assert_array_equal(t, x.astype(np.int64).astype(np.float64))


@pytest.mark.parametrize("name", sorted(ZERO_ELEMENTWISE))
def test_zero_derivative_rules(name):
    prim = REGISTRY[name]
    assert prim.jvp([1.0, 2.0], [1.0, 1.0], None) is None
    assert all(c is None for c in prim.vjp(1.0, [1.0, 2.0], None))


# ---- linear primitives: <v, J u> == <J^T v, u> ----

def _r(rng, *shape):
    return rng.standard_normal(shape)


def _pool_x(rng, shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)  # no ties


# name -> list of (inputs, params, position checked); other inputs stay fixed
LINEAR_CASES = {
    "neg": [([(3, 4)], {}, 0)],
    "optimization_barrier": [([(3, 4)], {}, 0)],
    "add": [([(3, 4), (4,)], {}, 0), ([(3, 4), (4,)], {}, 1), ([(3, 1), (1, 4)], {}, 0)],
    "sub": [([(3, 4), (3, 1)], {}, 1), ([(2, 3), ()], {}, 0)],
    "select": [([("bool", (3, 4)), (3, 4), (4,)], {}, 1), ([("bool", (3, 4)), (3, 4), (4,)], {}, 2)],
    "cast": [([(3, 4)], {"dtype": cc.ir.F32}, 0)],
    "broadcast_in_dim": [([(3, 1)], {"shape": (2, 3, 5), "dims": (1, 2)}, 0), ([()], {"shape": (4,), "dims": ()}, 0)],
    "reshape": [([(3, 4)], {"shape": (2, 6)}, 0)],
    "transpose": [([(2, 3, 4)], {"perm": (2, 0, 1)}, 0)],
    "slice": [([(7, 5)], {"start": (1, 0), "stop": (7, 5), "step": (2, 3)}, 0)],
    "pad": [([(3, 4)], {"lo": (1, -1), "hi": (-1, 2), "interior": (2, 1), "value": 0.0}, 0),
            ([(3, 4)], {"lo": (2, 0), "hi": (0, 1), "interior": (0, 0), "value": 3.0}, 0)],
    "concatenate": [([(2, 3), (2, 1), (2, 2)], {"axis": 1}, 0), ([(2, 3), (2, 1), (2, 2)], {"axis": 1}, 2)],
    "rev": [([(3, 4)], {"axes": (0, 1)}, 0)],
    "reduce_sum": [([(3, 4, 5)], {"axes": (0, 2)}, 0)],
    "take": [([(5, 3), ("idx", (2, 4), 5)], {"axis": 0}, 0), ([(2, 6), ("idx", (3,), 6)], {"axis": 1}, 0)],
    "scatter_add": [([(2, 4, 3), ("idx", (4,), 5)], {"axis": 1, "size": 5}, 0)],
    "all_sum": [([(3, 4)], {}, 0)],
    "all_mean": [([(3, 4)], {}, 0)],
    "dot_general": [([(3, 4), (4, 5)], {"contract": ((1,), (0,)), "batch": ((), ())}, 0),
                    ([(3, 4), (4, 5)], {"contract": ((1,), (0,)), "batch": ((), ())}, 1),
                    ([(2, 4, 3, 5), (5, 2, 6, 4)], {"contract": ((3, 1), (0, 3)), "batch": ((0,), (1,))}, 0),
                    ([(2, 4, 3, 5), (5, 2, 6, 4)], {"contract": ((3, 1), (0, 3)), "batch": ((0,), (1,))}, 1)],
    "conv2d": [([(2, 3, 7, 6), (4, 3, 3, 2)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1)}, 0),
               ([(2, 3, 7, 6), (4, 3, 3, 2)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1)}, 1),
               ([(2, 3, 7, 6), (4, 3, 3, 2)], {"stride": (2, 1), "padding": (1, 0)}, 0),
               ([(2, 3, 7, 6), (4, 3, 3, 2)], {"stride": (2, 1), "padding": (1, 0)}, 1)],
    "conv2d_transpose_input": [([(2, 4, 5, 5), (4, 3, 3, 2)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1), "in_hw": (7, 6)}, 0),
                               ([(2, 4, 5, 5), (4, 3, 3, 2)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1), "in_hw": (7, 6)}, 1),
                               ([(2, 4, 4, 5), (4, 3, 3, 2)], {"stride": (2, 1), "padding": (1, 0), "in_hw": (7, 6)}, 0),
                               ([(2, 4, 4, 5), (4, 3, 3, 2)], {"stride": (2, 1), "padding": (1, 0), "in_hw": (7, 6)}, 1)],
    "conv2d_transpose_kernel": [([(2, 3, 7, 6), (2, 4, 5, 5)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1), "kernel_hw": (3, 2)}, 0),
                                ([(2, 3, 7, 6), (2, 4, 5, 5)], {"stride": (1, 1), "padding": (1, 0), "dilation": (2, 1), "kernel_hw": (3, 2)}, 1),
                                ([(2, 3, 7, 6), (2, 4, 4, 5)], {"stride": (2, 1), "padding": (1, 0), "kernel_hw": (3, 2)}, 0),
                                ([(2, 3, 7, 6), (2, 4, 4, 5)], {"stride": (2, 1), "padding": (1, 0), "kernel_hw": (3, 2)}, 1)],
    "max_pool2d_jvp": [([("pool", (2, 2, 6, 7)), (2, 2, 6, 7)], {"size": (3, 2), "stride": (2, 1)}, 1)],
    "max_pool2d_vjp": [([("pool", (2, 2, 6, 7)), (2, 2, 2, 6)], {"size": (3, 2), "stride": (2, 1)}, 1)],
}


BILINEAR = {"dot_general", "conv2d", "conv2d_transpose_input", "conv2d_transpose_kernel"}


def _make(rng, spec):
    kind = spec[0] if spec and isinstance(spec[0], str) else "float"
    if kind == "float":
        return _r(rng, *spec)
    if kind == "bool":
        return rng.random(spec[1]) < 0.5
    if kind == "idx":
        return rng.integers(0, spec[2], spec[1])
    return _pool_x(rng, spec[1])


@pytest.mark.parametrize("name,case", [(n, i) for n, cases in sorted(LINEAR_CASES.items()) for i in range(len(cases))])
def test_transpose_identity(name, case):
    prim = REGISTRY[name]
    specs, params, pos = LINEAR_CASES[name][case]
    rng = np.random.default_rng(case)
    args = [_make(rng, s) for s in specs]
    assert pos in (range(len(args)) if prim.linear == "all" else prim.linear), f"{name} is not marked linear in {pos}"
    u = args[pos]
    # J: the linear map from input pos; jointly linear ops see zeros in their other linear inputs, bilinear ones
    # keep the other operand fixed, and pad's fill value (a constant) is 0 in its linear part
    lin = range(len(args)) if prim.linear == "all" else prim.linear
    at = [np.zeros_like(a) if i in lin and i != pos and name not in BILINEAR else a for i, a in enumerate(args)]
    jparams = {**params, "value": 0.0} if name == "pad" else params
    out = np.asarray(prim(*at, **jparams))
    ju = out.astype(np.float64)
    v = rng.standard_normal(ju.shape).astype(out.dtype)
    jt = prim.transpose(v, args, **params)[pos]
    assert np.shape(jt) == np.shape(u), f"{name}: transpose gives shape {np.shape(jt)} for input {np.shape(u)}"
    lhs = float(np.sum(v.astype(np.float64) * ju))
    rhs = float(np.sum(np.asarray(jt, np.float64) * u))
    tol = 1e-5 if name == "cast" else 1e-10
    assert abs(lhs - rhs) <= tol * max(1.0, abs(lhs)), f"{name}: <v, J u> = {lhs} but <J^T v, u> = {rhs}"


# ---- the registry: every primitive has rules and a check ----

# nonlinear, not elementwise: checked against finite differences (to order 2) in test_primitive_grads.py
FD_CHECKED = {"reduce_max", "max_pool2d", "dot_general", "conv2d", "conv2d_transpose_input",
              "conv2d_transpose_kernel", "mul", "scan", "cond", "while_loop", "get", "custom_jvp_call",
              "custom_vjp_call", "remat_call", "solve", "slogdet", "cholesky", "eigh", "svd", "svd_values"}
# sources and integer-valued ops: no float input to differentiate
NO_FLOAT_INPUT = {"const", "dim", "iota", "argmax", "threefry2x32"}
# effects: their result is an ordering token (bool), which carries no derivative
EFFECTS = {"debug_print", "assert_true"}
# made by passes/collective.py after differentiation: not_differentiable, checked in tests/test_distributed.py
POST_AUTODIFF = {"allreduce_start", "allreduce_wait"}


def test_every_primitive_has_rules_and_a_rule_check():
    # a region op's forward mode is a joint rule (primal and tangent in one new loop)
    missing_rules = sorted(n for n, p in REGISTRY.items()
                           if (p.jvp is None and getattr(p, "joint_jvp", None) is None) or p.vjp is None)
    assert not missing_rules, f"primitives without jvp/vjp rules (use rules.py's vocabulary): {missing_rules}"
    no_batch = sorted(n for n, p in REGISTRY.items() if p.batch is None)
    assert not no_batch, f"primitives without a batching rule for vmap (batch=, rules.py's vocabulary): {no_batch}"
    no_transpose = sorted(n for n, p in REGISTRY.items() if p.linear and p.transpose is None)
    assert not no_transpose, f"linear primitives without a transpose rule: {no_transpose}"
    elementwise = {n for n, p in REGISTRY.items() if p.kind == "elementwise"}
    no_sympy = sorted(elementwise - set(SYMPY_OF) - ZERO_ELEMENTWISE - SPECIAL_ELEMENTWISE)
    assert not no_sympy, f"elementwise primitives without a sympy form in SYMPY_OF (or a zero-derivative entry): {no_sympy}"
    checked = (set(SYMPY_OF) | ZERO_ELEMENTWISE | SPECIAL_ELEMENTWISE | set(LINEAR_CASES) | FD_CHECKED
               | NO_FLOAT_INPUT | EFFECTS | POST_AUTODIFF)
    unchecked = sorted(set(REGISTRY) - checked)
    assert not unchecked, f"add a rule check in tests/transforms/test_rules_sympy.py for: {unchecked}"
    linear_unchecked = sorted(n for n, p in REGISTRY.items() if p.linear and n not in LINEAR_CASES)
    assert not linear_unchecked, f"linear primitives without a transpose-identity case: {linear_unchecked}"


def test_sources_and_integer_ops_take_no_derivative():
    for name in NO_FLOAT_INPUT:
        p = REGISTRY[name]
        assert p.jvp([], [], None) is None and p.vjp(1.0, [], None) == ()
