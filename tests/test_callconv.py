"""The calling convention (compiler/calling.py, compiler/pytree.py): keyword arguments, static_argnames, methods,
namedtuples, registered dataclasses and classes; compiled and eager, against the plain Python function."""
from __future__ import annotations

import collections
import dataclasses
import types

import numpy as np
import pytest

import compiler as cc
from compiler import pytree

rng = np.random.default_rng(0)


def f64(*shape):
    return rng.standard_normal(shape)


def numeric_grad(loss, tree, eps=1e-6):
    """Central differences of a scalar loss over every element of every leaf of a float64 pytree."""
    leaves, td = pytree.flatten(tree)
    out = []
    for k, leaf in enumerate(leaves):
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            vals = []
            for s in (1, -1):
                moved = [x.copy() for x in leaves]
                moved[k][idx] += s * eps
                vals.append(loss(pytree.unflatten(td, moved)))
            g[idx] = (vals[0] - vals[1]) / (2 * eps)
        out.append(g)
    return pytree.unflatten(td, out)


def assert_tree_close(got, want, rtol=1e-6, atol=1e-8):
    gl, gt = pytree.flatten(got)
    wl, wt = pytree.flatten(want)
    assert gt == wt, f"structure {gt} != {wt}"
    for a, b in zip(gl, wl):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---- keyword arguments ----

def layer(x, w, b=None, *, scale=1.0, act="tanh"):
    y = x @ w if b is None else x @ w + b
    y = np.tanh(y) if act == "tanh" else np.maximum(y, 0)
    return y * scale


def test_keywords_bind_to_positional_order_and_share_the_compile():
    f = cc.compile(layer, static_argnames="act")
    x, w, b = f64(4, 3), f64(3, 2), f64(2)
    want = layer(x, w, b)
    for call in (lambda: f(x, w, b), lambda: f(x, w, b=b), lambda: f(x, w=w, b=b), lambda: f(b=b, w=w, x=x)):
        np.testing.assert_allclose(call(), want, rtol=1e-12)
    info = f.cache_info()
    assert info["compiles"] == 1 and info["hits"] == 3


def test_keyword_only_and_defaults():
    f = cc.compile(layer, static_argnames="act")
    x, w, b = f64(4, 3), f64(3, 2), f64(2)
    np.testing.assert_allclose(f(x, w), layer(x, w), rtol=1e-12)
    np.testing.assert_allclose(f(x, w, scale=3.0), layer(x, w, scale=3.0), rtol=1e-12)
    np.testing.assert_allclose(f(x, w, b, scale=0.5, act="relu"), layer(x, w, b, scale=0.5, act="relu"), rtol=1e-12)
    # keyword order does not matter, and a weak Python scale is a run-time input: no compile per value
    n = f.cache_info()["compiles"]
    np.testing.assert_allclose(f(x, w, b, act="relu", scale=2.5), layer(x, w, b, scale=2.5, act="relu"), rtol=1e-12)
    assert f.cache_info()["compiles"] == n
    # a trailing argument given as its own default is the call without it
    f(x, w, b=None)
    assert f.cache_info()["compiles"] == n


def test_var_keyword_and_var_positional():
    def g(x, *rest, **kw):
        out = x
        for r in rest:
            out = out + r
        for k in sorted(kw):
            out = out * kw[k]
        return out
    f = cc.compile(g)
    x, y, a, b = f64(3), f64(3), f64(3), f64(3)
    np.testing.assert_allclose(f(x, y, b=b, a=a), g(x, y, a=a, b=b), rtol=1e-12)
    np.testing.assert_allclose(f(x, a=a), g(x, a=a), rtol=1e-12)
    f(x, y, a=a, b=b)
    assert f.cache_info()["compiles"] == 2


@pytest.mark.parametrize("call", [
    lambda f, x: f(x, z=x),                       # unexpected keyword
    lambda f, x: f(x, x=x),                       # multiple values
    lambda f, x: f(w=x),                          # missing positional
    lambda f, x: f(x, x, x, x, scale=1.0),        # too many positional
    lambda f, x: f(x, x, b=x, k=x),               # unexpected after valid ones
])
def test_bad_keywords_raise_what_python_raises(call):
    x = f64(3, 3)
    with pytest.raises(TypeError) as want:
        call(layer, x)
    with pytest.raises(TypeError) as got:
        call(cc.compile(layer), x)
    assert str(got.value) == str(want.value)
    with pytest.raises(TypeError) as got:
        call(cc.grad(lambda *a, **k: np.sum(layer(*a, **k))), x)
    assert str(got.value).endswith(str(want.value).split("()", 1)[1])


def test_missing_keyword_only_and_positional_only():
    def k(x, *, n):
        return x * n

    def p(x, y, /):
        return x + y
    x = f64(2)
    for fn, call in ((k, lambda f: f(x, m=1)), (k, lambda f: f(x=x, q=2)), (p, lambda f: f(x, y=x))):
        with pytest.raises(TypeError) as want:
            call(fn)
        with pytest.raises(TypeError) as got:
            call(cc.compile(fn))
        assert str(got.value) == str(want.value)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'n'"):
        cc.compile(k)(x=x)


def test_keywords_inside_an_enclosing_transform():
    inner = cc.compile(layer)
    x, w = f64(4, 3), f64(3, 2)

    def loss(w):
        return np.sum(inner(x, w=w, scale=2.0))
    got = cc.grad(loss)(w)
    assert_tree_close(got, numeric_grad(loss, w), rtol=1e-6, atol=1e-7)
    assert_tree_close(cc.compile(cc.grad(loss))(w), got, rtol=1e-9)


def test_lower_takes_keywords():
    f = cc.compile(layer)
    x, w = f64(4, 3), f64(3, 2)
    low = f.lower(x, w=w, scale=2.0)
    assert "tanh" in str(low.graph)
    assert [v.name for v in low.graph.inputs][:2] == ["x", "w"]
    np.testing.assert_allclose(f(x, w, scale=2.0), layer(x, w, scale=2.0), rtol=1e-12)
    assert f.cache_info()["compiles"] == 1


# ---- transforms with keywords ----

def test_grad_and_value_and_grad_with_keywords():
    x, w, b = f64(4, 3), f64(3, 2), f64(2)

    def loss(x, w, b=None, *, scale=1.0):
        return np.sum(layer(x, w, b, scale=scale) ** 2)
    # argnums count positional parameters however they were passed
    g = cc.grad(loss, argnums=1)(x, w=w, b=b, scale=3.0)
    assert_tree_close(g, numeric_grad(lambda w: loss(x, w, b, scale=3.0), w), rtol=1e-6, atol=1e-7)
    v, (gw, gb) = cc.value_and_grad(loss, argnums=(1, -1))(x, w=w, b=b)
    np.testing.assert_allclose(v, loss(x, w, b), rtol=1e-12)
    assert_tree_close(gb, numeric_grad(lambda b: loss(x, w, b), b), rtol=1e-6, atol=1e-7)
    cg = cc.compile(cc.grad(loss, argnums=1))
    assert_tree_close(cg(x, w=w, b=b, scale=3.0), g, rtol=1e-9)
    assert_tree_close(cg(x, w, b, scale=3.0), g, rtol=1e-9)
    assert cg.cache_info()["compiles"] == 1


def test_jacobians_with_keywords():
    def f(x, *, k):
        return np.sin(x) * k
    x = f64(3)
    want = np.diag(np.cos(x) * 2.0)
    np.testing.assert_allclose(cc.jacfwd(f)(x, k=2.0), want, rtol=1e-12)
    np.testing.assert_allclose(cc.jacrev(f)(x, k=2.0), want, rtol=1e-12)


# ---- static_argnames ----

def test_static_argnames_and_argnums_imply_each_other():
    def power(x, n, flip=False):
        y = x ** n
        return y[1:] if flip else y
    x = f64(4)
    for f in (cc.compile(power, static_argnames=("n", "flip")), cc.compile(power, static_argnums=(1, 2))):
        np.testing.assert_allclose(f(x, 2), x ** 2, rtol=1e-12)
        np.testing.assert_allclose(f(x, n=2), x ** 2, rtol=1e-12)
        np.testing.assert_allclose(f(x, 3, flip=True), (x ** 3)[1:], rtol=1e-12)
        np.testing.assert_allclose(f(x, n=3, flip=True), (x ** 3)[1:], rtol=1e-12)
        assert f.cache_info()["compiles"] == 2
        assert set(f.static_argnames) == {"n", "flip"} and set(f.static_argnums) == {1, 2}


def test_static_keyword_only_argument():
    def f(x, *, mode):
        return np.tanh(x) if mode == "tanh" else np.exp(x)
    g = cc.compile(f, static_argnames="mode")
    x = f64(3)
    np.testing.assert_allclose(g(x, mode="tanh"), np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(g(x, mode="exp"), np.exp(x), rtol=1e-12)
    g(x, mode="tanh")
    assert g.cache_info()["compiles"] == 2 and g.cache_info()["hits"] == 1


def test_static_argument_errors():
    with pytest.raises(ValueError, match="'m'"):
        cc.compile(lambda x, n: x * n, static_argnames="m")
    f = cc.compile(lambda x, n: x[n[0]], static_argnames="n")
    with pytest.raises(TypeError, match="hashable"):
        f(f64(3), n=[1])


# ---- methods ----

class Dense:
    """The issue's reproducer: a module whose forward is compiled in place."""

    def __init__(self, w):
        self.w = w
        self.scale = 2.0

    @cc.compile
    def forward(self, x):
        return np.tanh(x @ self.w) * self.scale

    @cc.compile(static_argnames="act")
    def apply(self, x, *, act="tanh"):
        y = x @ self.w
        return np.tanh(y) if act == "tanh" else np.maximum(y, 0)


def test_method_reproducer_self_static_by_identity():
    a, b = Dense(f64(3, 2)), Dense(f64(3, 2))
    x = f64(4, 3)
    np.testing.assert_allclose(a.forward(x), np.tanh(x @ a.w) * 2.0, rtol=1e-12)
    np.testing.assert_allclose(b.forward(x), np.tanh(x @ b.w) * 2.0, rtol=1e-12)
    np.testing.assert_allclose(a.forward(x), np.tanh(x @ a.w) * 2.0, rtol=1e-12)
    info = Dense.forward.cache_info()
    assert info["compiles"] == 2 and info["hits"] >= 1
    np.testing.assert_allclose(a.apply(x, act="relu"), np.maximum(x @ a.w, 0), rtol=1e-12)
    np.testing.assert_allclose(a.apply(x), np.tanh(x @ a.w), rtol=1e-12)
    # calling through the class passes self explicitly, as Python does
    assert isinstance(Dense.__dict__["forward"], cc.compile(lambda x: x).__class__)


def test_method_wrong_arguments_raise_what_python_raises():
    a = Dense(f64(3, 2))
    with pytest.raises(TypeError, match=r"Dense.apply\(\) got an unexpected keyword argument 'z'"):
        a.apply(f64(4, 3), z=1)


@pytest.mark.parametrize("frozen", [False, True])
def test_method_of_a_registered_dataclass_takes_self_as_a_pytree(frozen):
    @cc.pytree.register_dataclass
    @dataclasses.dataclass(frozen=frozen)
    class Linear:
        w: np.ndarray
        b: np.ndarray

        @cc.compile
        def __call__(self, x):
            return x @ self.w + self.b
    m, x = Linear(f64(3, 2), f64(2)), f64(5, 3)
    np.testing.assert_allclose(m(x), x @ m.w + m.b, rtol=1e-12)
    m2 = Linear(f64(3, 2), f64(2))                  # new values, same structure: no recompile
    np.testing.assert_allclose(m2(x), x @ m2.w + m2.b, rtol=1e-12)
    assert Linear.__call__.cache_info()["compiles"] == 1
    # the gradient of a loss through the method, with respect to the module
    loss = lambda m: np.sum(m(x) ** 2)       # noqa: E731
    g = cc.grad(loss)(m)
    assert type(g) is Linear
    assert_tree_close(g, numeric_grad(loss, m), rtol=1e-6, atol=1e-7)


def test_staticmethod_and_classmethod_in_either_order():
    class K:
        factor = 3.0

        @staticmethod
        @cc.compile
        def s1(x):
            return x * 2

        @cc.compile
        @staticmethod
        def s2(x):
            return x * 2

        @classmethod
        @cc.compile
        def c1(cls, x):
            return x * cls.factor

        @cc.compile
        @classmethod
        def c2(cls, x):
            return x * cls.factor
    x = f64(3)
    for f in (K.s1, K.s2, K().s1, K().s2):
        np.testing.assert_allclose(f(x), x * 2, rtol=1e-12)
    for f in (K.c1, K.c2, K().c1, K().c2):
        np.testing.assert_allclose(f(x), x * 3.0, rtol=1e-12)
    np.testing.assert_allclose(K.s2(x=x), x * 2, rtol=1e-12)
    np.testing.assert_allclose(K.c2(x=x), x * 3.0, rtol=1e-12)
    # what @classmethod above @cc.compile gives on Pythons whose classmethod does not chain __get__ (3.13)
    bound = types.MethodType(K.__dict__["c1"].__func__, K)
    np.testing.assert_allclose(bound(x), x * 3.0, rtol=1e-12)


# ---- pytrees: namedtuples, dataclasses, registered classes ----

Params = collections.namedtuple("Params", "w b")


def test_namedtuples_keep_their_type_in_and_out():
    f = cc.compile(lambda p, x: Params(np.tanh(x @ p.w), p.b * 2))
    p, x = Params(f64(3, 2), f64(2)), f64(4, 3)
    out = f(p, x)
    assert type(out) is Params
    assert_tree_close(out, Params(np.tanh(x @ p.w), p.b * 2), rtol=1e-12)
    assert "p.w" in str(f.lower(p, x).graph)               # inputs named by field
    t_out = cc.jvp(lambda p: Params(p.w * 2, p.b), (p,), (Params(np.ones((3, 2)), np.ones(2)),))[1]
    assert type(t_out) is Params
    out, pullback = cc.vjp(lambda p: Params(p.w * 2, p.b), p)
    assert type(out) is Params and type(pullback(out)[0]) is Params


def test_grads_through_namedtuple_params_eager_and_compiled():
    p, x = Params(f64(3, 2), f64(2)), f64(5, 3)

    def loss(p, x):
        return np.sum(np.tanh(x @ p.w + p.b) ** 2)
    want = numeric_grad(lambda p: loss(p, x), p)
    g = cc.grad(loss)(p, x)
    assert type(g) is Params
    assert_tree_close(g, want, rtol=1e-6, atol=1e-7)
    v, gc = cc.compile(cc.value_and_grad(loss))(p, x)
    assert type(gc) is Params
    np.testing.assert_allclose(v, loss(p, x), rtol=1e-12)
    assert_tree_close(gc, want, rtol=1e-6, atol=1e-7)


@cc.pytree.register_dataclass
@dataclasses.dataclass
class MLP:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray


def mlp_loss(p, x):
    return np.sum(np.tanh(x @ p.w1 + p.b1) @ p.w2)


def test_dataclass_params_through_compile_grad_and_optimizer():
    p, x = MLP(f64(3, 4), f64(4), f64(4, 2)), f64(6, 3)
    want = numeric_grad(lambda p: mlp_loss(p, x), p)
    for g in (cc.grad(mlp_loss)(p, x), cc.compile(cc.grad(mlp_loss))(p, x)):
        assert type(g) is MLP
        assert_tree_close(g, want, rtol=1e-6, atol=1e-7)
    opt = cc.optim.sgd(0.1)

    @cc.compile
    def step(p, state, x):
        g = cc.grad(mlp_loss)(p, x)
        return opt.update(p, g, state)
    new_p, _ = step(p, opt.init(p), x)
    assert type(new_p) is MLP
    assert_tree_close(new_p, MLP(p.w1 - 0.1 * want.w1, p.b1 - 0.1 * want.b1, p.w2 - 0.1 * want.w2),
                      rtol=1e-6, atol=1e-7)
    assert "p.w1" in str(cc.trace(mlp_loss, p, x))
    assert pytree.tree_map(lambda a: a.shape, p) == MLP((3, 4), (4,), (4, 2))


def test_dataclass_meta_fields_are_static_and_part_of_the_signature():
    @dataclasses.dataclass(frozen=True)
    class Act:
        w: np.ndarray
        kind: str
    cc.pytree.register_dataclass(Act, meta_fields=("kind",))

    @cc.compile
    def f(a, x):
        y = x @ a.w
        return np.tanh(y) if a.kind == "tanh" else np.maximum(y, 0)
    w, x = f64(3, 2), f64(4, 3)
    np.testing.assert_allclose(f(Act(w, "tanh"), x), np.tanh(x @ w), rtol=1e-12)
    np.testing.assert_allclose(f(Act(w, "relu"), x), np.maximum(x @ w, 0), rtol=1e-12)
    f(Act(w * 2, "tanh"), x)
    assert f.cache_info()["compiles"] == 2 and f.cache_info()["hits"] == 1


def test_register_custom_class():
    class Pair:
        def __init__(self, first, second, label):
            self.first, self.second, self.label = first, second, label
    cc.pytree.register(Pair, lambda p: ((p.first, p.second), p.label), lambda aux, ch: Pair(*ch, aux))
    p, x = Pair(f64(3), f64(3), "sum"), f64(3)

    @cc.compile
    def f(p, x):
        s = p.first + p.second if p.label == "sum" else p.first * p.second
        return Pair(s * x, p.second, p.label)
    out = f(p, x)
    assert type(out) is Pair and out.label == "sum"
    np.testing.assert_allclose(out.first, (p.first + p.second) * x, rtol=1e-12)
    loss = lambda p: np.sum(p.first * np.sin(p.second))       # noqa: E731
    g = cc.grad(loss)(p)
    assert type(g) is Pair and g.label == "sum"
    assert_tree_close(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-7)
    leaves, td = pytree.flatten(p)
    assert len(leaves) == 2 and "Pair" in repr(td)
    assert pytree.unflatten(td, leaves).label == "sum"


def test_unhashable_aux_and_unregistered_classes_say_what_to_do():
    class Box:
        def __init__(self, v, meta):
            self.v, self.meta = v, meta
    cc.pytree.register(Box, lambda b: ((b.v,), b.meta), lambda aux, ch: Box(ch[0], aux))
    with pytest.raises(TypeError, match="not hashable"):
        cc.compile(lambda b: b.v)(Box(f64(2), ["a"]))

    @dataclasses.dataclass
    class Loose:
        w: np.ndarray
    with pytest.raises(cc.DTypeError, match=r"register_dataclass\(Loose\)"):
        cc.compile(lambda p: p.w * 2)(Loose(f64(2)))
    with pytest.raises(cc.DTypeError, match=r"register_dataclass\(Loose\)"):
        cc.grad(lambda p: np.sum(p.w))(Loose(f64(2)))
    with pytest.raises(TypeError, match="not a dataclass"):
        cc.pytree.register_dataclass(Box)
    with pytest.raises(ValueError, match=r"\['b'\]"):
        cc.pytree.register_dataclass(dataclasses.make_dataclass("AB", ["a", "b"]), data_fields=("a",))


# ---- the cache: fast paths for keyword, static and method calls ----

def test_fast_paths_for_static_keyword_and_method_calls_pick_the_right_version():
    f = cc.compile(layer, static_argnames="act")
    x, w = f64(4, 3), f64(3, 2)
    f(x, w, act="relu")
    f(x, w)
    for _ in range(2):
        x2, w2 = f64(4, 3), f64(3, 2)                 # new values, same signatures: served without tracing
        np.testing.assert_allclose(f(x2, w2, act="relu"), layer(x2, w2, act="relu"), rtol=1e-12)
        np.testing.assert_allclose(f(x2, w=w2), layer(x2, w2), rtol=1e-12)
    x3 = f64(3, 4).T                                  # not C-contiguous: converted on the way in
    np.testing.assert_allclose(f(x3, w, act="relu"), layer(x3, w, act="relu"), rtol=1e-12)
    info = f.cache_info()
    assert info["traces"] == info["compiles"] == 2 and info["hits"] == 5

    a, b = Dense(f64(3, 2)), Dense(f64(3, 2))
    n = Dense.forward.cache_info()["compiles"]
    for m in (a, b, a, b):
        for shape in ((4, 3), (4, 3), (2, 3)):
            x = f64(*shape)
            np.testing.assert_allclose(m.forward(x), np.tanh(x @ m.w) * 2.0, rtol=1e-12)
    # one version per object for the exact shape, then one symbolic one per object
    assert Dense.forward.cache_info()["compiles"] == n + 4


def test_versions_for_a_dead_self_are_dropped():
    import gc
    import weakref

    class Net:
        def __init__(self):
            self.w = f64(3, 3)

        @cc.compile
        def forward(self, x):
            return x @ self.w
    x = f64(2, 3)
    keep = Net()
    keep.forward(x)
    nets = [Net() for _ in range(3)]
    refs = [weakref.ref(n) for n in nets]
    for n in nets:
        np.testing.assert_allclose(n.forward(x), x @ n.w, rtol=1e-12)
    assert Net.forward.cache_info()["signatures"] == 4
    del nets, n
    gc.collect()
    assert all(r() is None for r in refs)
    assert Net.forward.cache_info()["signatures"] == 1
    np.testing.assert_allclose(keep.forward(x), x @ keep.w, rtol=1e-12)
    assert Net.forward.cache_info()["compiles"] == 4


def test_hessian_with_keywords_and_vjp_jvp_of_dataclasses():
    def f(x, *, k):
        return np.sum(np.sin(x) * k)
    x = f64(3)
    np.testing.assert_allclose(cc.hessian(f)(x, k=2.0), np.diag(-np.sin(x) * 2.0), rtol=1e-12, atol=1e-15)
    p = MLP(f64(3, 4), f64(4), f64(4, 2))
    double = lambda p: MLP(p.w1 * 2, p.b1 * 2, p.w2 * 2)       # noqa: E731
    out, pullback = cc.vjp(double, p)
    (ct,) = pullback(out)
    assert type(out) is MLP and type(ct) is MLP
    assert_tree_close(ct, MLP(p.w1 * 4, p.b1 * 4, p.w2 * 4), rtol=1e-12)
    _, t = cc.jvp(double, (p,), (p,))
    assert type(t) is MLP
    assert_tree_close(t, double(p), rtol=1e-12)
    cc.check_grads(mlp_loss, (p, f64(2, 3)), order=2)
