"""Tracing plain NumPy code: symbolic dims stay symbolic, closures become constants, pytrees in and out, every node
carries the user's line, NEP 50 weak scalars, nested traces inline, and the interpreter runs any size."""
import threading

import numpy as np
import pytest

import compiler as cc
from compiler.ir import symbol
from compiler.trace import Tracer, evaluate, interpret
from helpers import assert_ir
from trace_checks import check_every_trace  # noqa: F401  (autouse: every graph verifies and round-trips)

N, M = symbol("N"), symbol("M")


def test_mlp_graph():
    def mlp(x, w, b):
        return np.maximum(x @ w + b, 0)

    g = cc.trace(mlp, cc.Spec("f32[N,8]"), np.ones((8, 2), np.float32), np.ones(2, np.float32))
    assert_ir(g, """
        graph mlp(%x: f32[N,8], %w: f32[8,2], %b: f32[2]) {
          %0: f32[N,2] = dot_general %x, %w {batch=((), ()), contract=((1,), (0,))}
          %1: f32[N,2] = add %0, %b
          %2: f32[] = const 0.0
          %3: f32[N,2] = maximum %1, %2
          return %3
        }""")
    assert isinstance(g, cc.Graph) and g.in_types[0] == cc.Spec("f32[N,8]")


# ---- symbolic dims ----

def test_reshape_with_symbolic_batch():
    g = cc.trace(lambda x: x.reshape(x.shape[0], -1), cc.Spec("f32[N,3,4]"))
    assert_ir(g, """
        graph lambda(%x: f32[N,3,4]) {
          %0: f32[N,12] = reshape %x {shape=(N, 12)}
          return %0
        }""")
    (y,) = interpret(g, np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    assert y.shape == (2, 12) and y[1, 0] == 12


def test_mean_over_symbolic_axis_uses_a_dim_node():
    g = cc.trace(lambda x: x.mean(axis=0), cc.Spec("f32[N,3]"))
    assert_ir(g, """
        graph lambda(%x: f32[N,3]) {
          %0: f32[3] = reduce_sum %x {axes=(0,)}
          %1: i64[] = dim {expr=N}
          %2: f32[] = cast %1 {dtype=f32}
          %3: f32[3] = div %0, %2
          return %3
        }""")
    for n in (1, 5):
        x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
        np.testing.assert_allclose(interpret(g, x)[0], x.mean(axis=0), rtol=1e-6)


def test_mean_over_static_axis_multiplies_by_constant():
    g = cc.trace(lambda x: x.mean(axis=1), cc.Spec("f32[N,4]"))
    assert [n.prim.name for n in g.nodes] == ["reduce_sum", "const", "mul"]
    assert g.nodes[1].params["value"] == np.float32(0.25)


def test_symbolic_sizes_propagate():
    def f(a, b):
        c = np.concatenate([a, b], axis=1)               # [N, M + 3]
        d = c[:, 1:]                                      # [N, M + 2]
        e = c.T @ c                                       # [M + 3, M + 3]
        return d, e, c[::2], a.shape[0] * 2.0 * a
    g = cc.trace(f, cc.Spec("f32[N,M]"), cc.Spec("f32[N,3]"))
    assert [str(t) for t in g.out_types] == ["f32[N,M + 2]", "f32[M + 3,M + 3]", "f32[ceiling(N/2),M + 3]",
                                             "f32[N,M]"]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 2)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    for got, want in zip(interpret(g, a, b), f(a, b)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_tracer_shape_is_symbolic():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, dtype=x.dtype, size=x.size, T=x.T.shape)
        return x
    cc.trace(f, cc.Spec("f32[N,3]"))
    assert seen == {"shape": (N, 3), "ndim": 2, "dtype": np.float32, "size": 3 * N, "T": (3, N)}


def test_symbolic_sizes_as_values_are_weak_ints():
    g = cc.trace(lambda x: (x.sum(axis=0) / x.shape[0], x.shape[0] + x, x.shape), cc.Spec("f32[N,2]"))
    assert [str(t) for t in g.out_types] == ["f32[2]", "f32[N,2]", "i64[]", "i64[]"]   # f32 stays f32 (NEP 50)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    s, plus, n, two = interpret(g, x)
    np.testing.assert_allclose(s, x.mean(axis=0))
    np.testing.assert_array_equal(plus, x + 3)
    assert n == 3 and two == 2


def test_one_graph_serves_every_batch_size():
    g = cc.trace(lambda x, w: np.tanh(x @ w).sum(axis=1), cc.Spec("f32[N,4]"), cc.Spec("f32[4,2]"))
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    for n in (1, 2, 7):
        x = rng.standard_normal((n, 4)).astype(np.float32)
        np.testing.assert_allclose(interpret(g, x, w)[0], np.tanh(x @ w).sum(axis=1), rtol=1e-6)


def test_spec_from_tuple():
    g = cc.trace(lambda x: x * 2, cc.Spec((None, 3)))
    assert str(g.in_types[0]) == "f32[d0,3]"


# ---- closures and constants ----

def test_closures_over_python_scalars_and_numpy_constants_become_consts():
    scale = 0.5
    table = np.array([1.0, 2.0, 3.0], np.float32)
    g = cc.trace(lambda x: x * scale + table - 3, cc.Spec("f32[N,3]"))
    assert_ir(g, """
        graph lambda(%x: f32[N,3]) {
          %0: f32[] = const 0.5
          %1: f32[N,3] = mul %x, %0
          %2: f32[3] = const [1.0, 2.0, 3.0]
          %3: f32[N,3] = add %1, %2
          %4: f32[] = const 3.0
          %5: f32[N,3] = sub %3, %4
          return %5
        }""")


def test_large_constants_print_as_base64_and_round_trip():
    w = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    g = cc.trace(lambda x: x @ w, cc.Spec("f32[N,8]"))
    assert "const base64('" in str(g)
    x = np.ones((2, 8), np.float32)
    np.testing.assert_array_equal(interpret(cc.parse(str(g)), x)[0], interpret(g, x)[0])


def test_python_scalars_are_weak():
    g = cc.trace(lambda x, i: (x * 2.0, x + 1, i * 2, i / 2, i * 2.5, x > 0.5), cc.Spec("f32[3]"), cc.Spec("i32[3]"))
    assert [str(t) for t in g.out_types] == ["f32[3]", "f32[3]", "i32[3]", "f64[3]", "f64[3]", "bool[3]"]
    assert "%0: f32[] = const 2.0" in str(g) and "%4: i32[] = const 2" in str(g)


def test_numpy_scalars_are_strong():
    g = cc.trace(lambda x: (x * np.float64(2.0), x * np.float32(2.0)), cc.Spec("f32[3]"))
    assert [str(t) for t in g.out_types] == ["f64[3]", "f32[3]"]


def test_constant_only_function():
    g = cc.trace(lambda: np.float32(3.0) * 2)
    assert str(g) == "graph lambda() {\n  %0: f32[] = const 6.0\n  return %0\n}"


# ---- pytrees ----

def test_pytrees_in_and_out():
    def f(inp):
        return {"sum": inp["a"].sum(axis=0), "pair": (inp["b"][0] * 2, None), "list": [inp["a"].T]}

    g = cc.trace(f, {"a": cc.Spec("f32[N,2]"), "b": [cc.Spec("i32[3]"), None]})
    assert str(g).splitlines()[0] == "graph f(%inp.a: f32[N,2], %inp.b.0: i32[3]) {"
    assert repr(g.in_tree) == "({'a': *, 'b': [*, None]},)"
    assert repr(g.out_tree) == "{'list': [*], 'pair': (*, None), 'sum': *}"
    a, b = np.arange(6, dtype=np.float32).reshape(3, 2), np.arange(3, dtype=np.int32)
    out = cc.pytree.unflatten(g.out_tree, interpret(g, a, b))
    want = f({"a": a, "b": [b, None]})
    assert out.keys() == want.keys() and out["pair"][1] is None
    np.testing.assert_array_equal(out["sum"], want["sum"])
    np.testing.assert_array_equal(out["pair"][0], want["pair"][0])
    np.testing.assert_array_equal(out["list"][0], want["list"][0])


def test_pytree_flatten_roundtrip_and_order():
    from compiler import pytree
    tree = {"b": [1, (2, None)], "a": {"y": 3, "x": 4}}
    leaves, td = pytree.flatten(tree)
    assert leaves == [4, 3, 1, 2]                        # dict keys sorted
    assert pytree.unflatten(td, leaves) == tree
    assert pytree.leaf_paths(td) == [("a", "x"), ("a", "y"), ("b", 0), ("b", 1, 0)]
    assert pytree.flatten({"a": 1, "b": 2})[1] == pytree.flatten({"b": 5, "a": 6})[1]
    assert hash(pytree.flatten([1, 2])[1]) != hash(pytree.flatten((1, 2))[1])
    assert pytree.tree_map(lambda a, b: a + b, {"a": 1, "b": [2]}, {"a": 10, "b": [20]}) == {"a": 11, "b": [22]}


def test_argument_names_from_signature_and_paths():
    def loss(params, x, *rest):
        return params["w1"].sum() + x.sum() + rest[0].sum()
    g = cc.trace(loss, {"w1": np.ones(2, np.float32)}, np.ones(2, np.float32), np.ones(2, np.float32))
    assert [v.name for v in g.inputs] == ["params.w1", "x", "a2"]


# ---- source locations ----

def test_every_node_records_the_users_line():
    def f(x):
        y = np.tanh(x)                 # +1
        z = y * 2.0 + x.sum(axis=0)    # +2
        return z.reshape(-1)           # +3
    g = cc.trace(f, cc.Spec("f32[N,3]"))
    first = f.__code__.co_firstlineno
    assert all(n.loc is not None and n.loc.file == "tests/test_trace.py" and n.loc.func == "f" for n in g.nodes)
    assert [(n.prim.name, n.loc.line - first) for n in g.nodes] == [
        ("tanh", 1), ("const", 2), ("mul", 2), ("reduce_sum", 2), ("add", 2), ("reshape", 3)]
    text = cc.print_graph(g, locs=True)
    assert f"# tests/test_trace.py:{first + 3}" in text.splitlines()[-3]


# ---- eager primitives, nested traces, the interpreter ----

def test_primitives_run_eagerly_on_numpy():
    from compiler import primitives as P
    x = np.arange(4, dtype=np.float32)
    y = P.add(x, x)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and list(y) == [0, 2, 4, 6]
    with pytest.raises(cc.ShapeError):
        P.add(x, np.ones(3, np.float32))


def test_evaluate_inlines_a_graph_into_an_enclosing_trace():
    inner = cc.trace(lambda x: x.mean() * x.shape[0], cc.Spec("f32[N]"))
    outer = cc.trace(lambda x: evaluate(inner, [x[1:]])[0], cc.Spec("f32[M]"))
    assert_ir(outer, """
        graph lambda(%x: f32[M]) {
          %0: f32[M - 1] = slice %x {start=(1,), step=(1,), stop=(M,)}
          %1: f32[] = reduce_sum %0 {axes=(0,)}
          %2: i64[] = dim {expr=M - 1}
          %3: f32[] = cast %2 {dtype=f32}
          %4: f32[] = div %1, %3
          %5: f32[] = dim {dtype=f32, expr=M - 1}
          %6: f32[] = mul %4, %5
          return %6
        }""")
    assert interpret(outer, np.arange(5, dtype=np.float32))[0] == 10


def test_closure_over_an_outer_tracer_is_captured():
    from compiler.trace import trace_flat
    from compiler import pytree
    captured_graphs = []

    def outer(x):
        def inner(y):
            return y * x                                  # x belongs to the outer trace
        g, captured = trace_flat(inner, pytree.flatten((x,))[1], [x.aval])
        captured_graphs.append((g, captured))
        return evaluate(g, [x] + captured)[0]
    g = cc.trace(outer, cc.Spec("f32[3]"))
    inner_g, captured = captured_graphs[0]
    assert len(inner_g.inputs) == 2 and inner_g.n_explicit == 1 and len(captured) == 1
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(interpret(g, x)[0], x * x)


def test_interpret_checks_arity_and_casts_inputs():
    g = cc.trace(lambda x: x * 2, cc.Spec("f32[3]"))
    with pytest.raises(cc.TraceError):
        interpret(g)
    (y,) = interpret(g, [1, 2, 3])
    assert y.dtype == np.float32 and list(y) == [2, 4, 6]


def test_traced_values_are_tracers_not_arrays():
    seen = []
    cc.trace(lambda x: seen.append(type(np.exp(x))) or x, cc.Spec("f32[3]"))
    assert seen == [Tracer]


def test_tracing_is_thread_safe():
    errors, graphs = [], {}

    def work(k):
        try:
            for _ in range(20):
                g = cc.trace(lambda x: np.tanh(x) * k, cc.Spec("f32[N]"), name=f"t{k}")
                assert g.name == f"t{k}" and len(g.nodes) == 3
            graphs[k] = g
        except Exception as e:                            # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(graphs) == 4
    assert float(graphs[3].nodes[1].params["value"]) == 3.0


# ---- zero-size arrays behave as in NumPy ----

@pytest.mark.parametrize("fn", [
    lambda x: x + 1, lambda x: x.sum(axis=0), lambda x: x.sum(axis=1), lambda x: x.mean(axis=0),
    lambda x: x.var(axis=0), lambda x: x.max(axis=1), lambda x: x.reshape(-1, 2), lambda x: x.T @ x,
    lambda x: np.concatenate([x, x]), lambda x: x[np.array([], np.int64)], lambda x: np.argmax(x, axis=1),
], ids=["add", "sum0", "sum1", "mean0", "var0", "max1", "reshape", "matmul", "concat", "index", "argmax1"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_zero_size_arrays(fn):
    x = np.zeros((0, 2), np.float32)
    with np.errstate(all="ignore"):
        want = fn(x)
    (got,) = interpret(cc.trace(fn, x), x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fn", [lambda x: x.max(), lambda x: x.max(axis=0), lambda x: np.argmax(x, axis=0),
                                lambda x: x[np.array([0])], lambda x: np.take(x, [2], axis=0)])
def test_zero_size_reductions_and_bad_constant_indices_raise_at_trace_time(fn):
    x = np.zeros((0, 2), np.float32)
    with pytest.raises((ValueError, IndexError)):
        fn(x)                                             # NumPy refuses ...
    with pytest.raises(cc.ShapeError) as e:               # ... and so does the tracer, at the user's line
        cc.trace(fn, x)
    assert f"tests/test_trace.py:{fn.__code__.co_firstlineno}" in str(e.value)
