"""The public transforms: signatures, pytrees, argnums, has_aux, nesting, use under a trace, errors, kinks."""
import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P
from compiler.transforms import value_and_grad_graph

X = np.array([0.5, -1.2, 2.0])


def test_grad_and_value_and_grad():
    f = lambda x: np.sum(np.sin(x) * x)
    g = cc.grad(f)(X)
    np.testing.assert_allclose(g, np.cos(X) * X + np.sin(X), rtol=1e-14)
    v, g2 = cc.value_and_grad(f)(X)
    assert v.shape == () and np.isclose(v, f(X))
    np.testing.assert_array_equal(g, g2)


def test_argnums_tuple_and_pytree_arguments():
    def loss(params, x, scale):
        return scale * np.sum((x @ params["w"] + params["b"][0]) ** 2)
    p = {"w": np.ones((3, 2)), "b": [np.zeros(2)]}
    gp = cc.grad(loss)(p, X, 2.0)
    assert set(gp) == {"w", "b"} and isinstance(gp["b"], list) and gp["b"][0].shape == (2,)
    gp2, gx, gs = cc.grad(loss, argnums=(0, 1, 2))(p, X, 2.0)
    np.testing.assert_array_equal(gp2["w"], gp["w"])
    s = X @ p["w"]
    np.testing.assert_allclose(gx, 2.0 * 2 * p["w"] @ s, rtol=1e-14)
    np.testing.assert_allclose(gs, np.sum(s ** 2), rtol=1e-14)
    (g_last,) = cc.grad(loss, argnums=(-1,))(p, X, 2.0)
    assert np.isclose(g_last, gs)


def test_has_aux():
    f = lambda x: (np.sum(x ** 2), {"mean": np.mean(x)})
    g, aux = cc.grad(f, has_aux=True)(X)
    np.testing.assert_allclose(g, 2 * X)
    assert np.isclose(aux["mean"], X.mean())
    (v, aux2), g2 = cc.value_and_grad(f, has_aux=True)(X)
    assert np.isclose(v, np.sum(X ** 2)) and np.isclose(aux2["mean"], X.mean())
    out, pullback, aux3 = cc.vjp(lambda x: (np.sin(x), x.sum()), X, has_aux=True)
    (ct,) = pullback(np.ones(3))
    np.testing.assert_allclose(ct, np.cos(X))
    assert np.isclose(aux3, X.sum())


def test_jvp_and_vjp_signatures():
    out, t = cc.jvp(lambda a, b: a * b, (X, 2 * X), (np.ones(3), np.zeros(3)))
    np.testing.assert_allclose(out, 2 * X * X)
    np.testing.assert_allclose(t, 2 * X)
    out, pullback = cc.vjp(np.sin, X)
    cts = pullback(np.ones(3))
    assert isinstance(cts, tuple) and len(cts) == 1          # a tuple even for one primal
    np.testing.assert_allclose(cts[0], np.cos(X))
    out, pullback = cc.vjp(lambda d: {"y": d["a"] * d["b"]}, {"a": X, "b": X + 1})
    (ct,) = pullback({"y": np.ones(3)})
    np.testing.assert_allclose(ct["a"], X + 1)
    np.testing.assert_allclose(ct["b"], X)


def test_vjp_runs_the_primal_once_and_the_backward_per_call():
    calls = []

    def f(x):
        calls.append(1)                                   # counts traces, not evaluations
        return np.tanh(x)
    out, pullback = cc.vjp(f, X)
    a, b = pullback(np.ones(3)), pullback(2 * np.ones(3))
    np.testing.assert_allclose(b[0], 2 * a[0])
    assert len(calls) == 1


def test_integer_arguments_take_no_derivative_but_may_be_passed():
    f = lambda x, n: np.sum(x * n)
    np.testing.assert_allclose(cc.grad(f)(X, 3), 3 * np.ones(3))
    with pytest.raises(cc.DTypeError, match="only float inputs"):
        cc.grad(f, argnums=1)(X, 3)
    with pytest.raises(cc.DTypeError):
        cc.grad(lambda n: n * 2.0)(3)
    out, pullback = cc.vjp(f, X, 3)
    ct_x, ct_n = pullback(1.0)
    assert ct_n.dtype.kind == "i" and ct_n == 0                 # zero cotangent for an integer primal


def test_grad_of_a_non_scalar_raises_shape_error():
    with pytest.raises(cc.ShapeError, match="vjp") as e:
        cc.grad(np.sin)(X)
    assert "jacrev" in str(e.value)
    with pytest.raises(cc.ShapeError):
        cc.grad(lambda x: (x.sum(), x.sum()))(X)


def test_python_if_on_a_traced_value_raises_under_grad():
    def f(x):
        if x.sum() > 0:
            return x.sum()
        return -x.sum()
    with pytest.raises(cc.TraceError, match="np.where"):
        cc.grad(f)(X)


def test_argnums_out_of_range():
    with pytest.raises(cc.TraceError, match="argnums"):
        cc.grad(lambda x: x.sum(), argnums=1)(X)


def test_tangent_structure_and_shape_are_checked():
    with pytest.raises(cc.TraceError, match="structure"):
        cc.jvp(np.sin, (X,), (X, X))
    with pytest.raises(cc.ShapeError):
        cc.jvp(np.sin, (X,), (np.ones(4),))


# ---- nesting ----

def test_grad_of_grad_and_higher():
    f = lambda x: np.sin(x) * x
    d = cc.grad
    x = 0.7
    np.testing.assert_allclose(d(f)(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(d(d(f))(x), -np.sin(x) * x + 2 * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(d(d(d(f)))(x), -np.cos(x) * x - 3 * np.sin(x), rtol=1e-13)
    np.testing.assert_allclose(d(d(d(d(np.exp))))(x), np.exp(x), rtol=1e-13)


def test_hessian_vector_product_by_jvp_of_grad():
    f = lambda x: np.sum(np.tanh(x) ** 2)
    v = np.array([1.0, 0.5, -2.0])
    _, hvp = cc.jvp(cc.grad(f), (X,), (v,))
    np.testing.assert_allclose(hvp, cc.hessian(f)(X) @ v, rtol=1e-12)
    np.testing.assert_allclose(cc.jacfwd(cc.jacrev(f))(X), cc.jacrev(cc.jacfwd(f))(X), rtol=1e-12)


def test_closure_over_an_outer_traced_value():
    # d/dx [ d/dy (x * y^2) at y = x ] = d/dx [2 x^2] = 4x
    f = lambda x: cc.grad(lambda y: x * y ** 2)(x)
    np.testing.assert_allclose(cc.grad(f)(3.0), 12.0)


def test_value_and_grad_under_an_outer_trace_inlines_the_derivative_graph():
    def loss(w, x):
        return np.mean(np.tanh(x @ w) ** 2)
    g = cc.trace(cc.value_and_grad(loss), cc.Spec("f32[4,3]"), cc.Spec("f32[N,4]"))
    assert g.out_tree == cc.pytree.flatten((0, 0))[1]
    assert {n.prim.name for n in g.nodes} >= {"dot_general", "tanh"}
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    v, gw = cc.interpret(g, w, x)
    v2, gw2 = cc.value_and_grad(loss)(w, x)
    np.testing.assert_allclose(v, v2, rtol=1e-6)
    np.testing.assert_allclose(gw, gw2, rtol=1e-5)
    assert gw.dtype == np.float32


def test_symbolic_batch_gradient_graph():
    g = cc.trace(lambda x, w: np.sum(np.tanh(x @ w)), cc.Spec("f32[N,4]"), cc.Spec("f32[4,3]"))
    vg = value_and_grad_graph(g, argnums=1)
    assert str(vg.outputs[1].type) == "f32[4,3]"
    for n in (2, 7):
        x = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
        w = np.ones((4, 3), np.float32)
        np.testing.assert_allclose(cc.interpret(vg, x, w)[1], cc.grad(lambda w: np.sum(np.tanh(x @ w)))(w),
                                   rtol=1e-5)


def test_reverse_mode_reuses_forward_values():
    g = cc.trace(lambda x: np.sum(np.tanh(np.exp(x))), cc.Spec("f64[5]"))
    vg = value_and_grad_graph(g)
    assert vg.count("tanh") == 1 and vg.count("exp") == 1            # no recomputation
    gg = value_and_grad_graph(g, with_value=False)
    assert gg.count("reduce_sum") == 0                               # the unused value is dropped


def test_derivative_nodes_carry_the_user_line():
    def f(x):
        y = np.sin(x)                   # the sin line
        return np.sum(y * y)
    g = cc.trace(cc.grad(f), np.ones(3))
    line = f.__code__.co_firstlineno + 1
    cos_nodes = [n for n in g.nodes if n.prim.name == "cos"]
    assert cos_nodes and all(n.loc is not None and n.loc.line == line for n in cos_nodes)


def test_results_do_not_alias_inputs():
    x = np.array(2.0)
    v, g = cc.value_and_grad(lambda x: x)(x)
    assert v is not x and not np.shares_memory(v, x)
    assert g == 1.0


def test_gradient_of_a_constant_function_is_zero():
    g = cc.grad(lambda x, y: np.sum(y))(X, X)
    np.testing.assert_array_equal(g, np.zeros(3))


# ---- conventions at kinks ----

def test_relu_derivative_at_zero_is_zero():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(cc.grad(lambda x: np.sum(np.maximum(x, 0)))(x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(cc.grad(lambda x: np.sum(cc.nn.relu(x)))(x), [0.0, 0.0, 1.0])
    _, t = cc.jvp(lambda x: np.maximum(x, 0), (x,), (np.ones(3),))
    np.testing.assert_array_equal(t, [0.0, 0.0, 1.0])


def test_maximum_and_minimum_ties_go_to_the_second_operand():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    ga, gb = cc.grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [0, 1, 0])
    np.testing.assert_array_equal(gb, [1, 0, 1])
    ga, gb = cc.grad(lambda a, b: np.sum(np.minimum(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [0, 0, 1])
    np.testing.assert_array_equal(gb, [1, 1, 0])
    # so maximum(x, x) has derivative 1, and clip has derivative 0 at its bounds
    assert cc.grad(lambda x: np.maximum(x, x))(1.5) == 1.0
    np.testing.assert_array_equal(cc.grad(lambda x: np.sum(np.clip(x, 0, 1)))(np.array([0.0, 0.5, 1.0])), [0, 1, 0])


def test_max_reduction_ties_split_evenly():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(np.max(x, axis=1)))(x), [[0, 0.5, 0.5], [1 / 3] * 3])
    _, t = cc.jvp(lambda x: np.max(x, axis=1), (x,), (np.array([[1.0, 2.0, 4.0], [3.0, 0.0, 0.0]]),))
    np.testing.assert_allclose(t, [3.0, 1.0])
    np.testing.assert_allclose(cc.grad(lambda x: np.min(x))(np.array([0.0, 0.0, 1.0])), [0.5, 0.5, 0.0])


def test_max_pool_ties_split_evenly():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    g = cc.grad(lambda x: np.sum(P.max_pool2d(x, size=(2, 2), stride=(2, 2))))(x)
    np.testing.assert_allclose(g, [[[[1 / 3, 1 / 3], [0.0, 1 / 3]]]])


def test_abs_and_sign_at_zero():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(cc.grad(lambda x: np.sum(np.abs(x)))(x), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(cc.grad(lambda x: np.sum(np.sign(x)))(x), [0.0, 0.0, 0.0])


def test_sqrt_at_zero_is_infinite_like_numpy():
    assert cc.grad(np.sqrt)(0.0) == np.inf


def test_gradient_graphs_hold_no_large_constants():
    g = cc.trace(cc.grad(lambda x: np.sum(x ** 2) + np.sum(np.maximum(x, 0))), cc.Spec("f32[64,64]"))
    sizes = [n.params["value"].size for n in g.nodes if n.prim.name == "const"]
    assert sizes and max(sizes) == 1, sizes


def test_not_differentiable_opt_out_says_why():
    from compiler.primitives import REGISTRY, Primitive
    from compiler.primitives.rules import not_differentiable
    p = Primitive("test_opaque", numpy=lambda x: x.copy(), shape=lambda x, **_: x,
                  **not_differentiable("an opaque test op"))
    try:
        with pytest.raises(cc.TraceError, match="test_opaque is not differentiable: an opaque test op"):
            cc.grad(lambda x: np.sum(p(x)))(X)
        with pytest.raises(cc.TraceError, match="not differentiable"):
            cc.jvp(lambda x: p(x), (X,), (X,))
    finally:
        del REGISTRY["test_opaque"]
