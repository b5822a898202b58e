"""Property tests: for random shapes, broadcasting and dtypes, interpret(trace(f, x)) equals f(x) run by NumPy.

Each catalogue entry is a plain NumPy expression and a way to draw its arguments. The result must have NumPy's
dtype and shape exactly, integer and bool values exactly, float values within 1e-6 (f32) / 1e-12 (f64) relative.
Where NumPy itself rejects the inputs (e.g. np.negative of a bool array), vive must raise one of its errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import compiler as cc
from compiler.trace import interpret
from trace_checks import assert_same_array, check_graph

ALL = ("f32", "f64", "i32", "i64", "bool")
NUM = ("f32", "f64", "i32", "i64")
FLT = ("f32", "f64")
INT = ("i32", "i64")
NP = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


def _values(rng, shape, dt, positive=False, specials=False):
    if dt == "bool":
        return rng.random(shape) < 0.5
    if dt in INT:
        lo = 1 if positive else -5
        return rng.integers(lo, 6, shape).astype(NP[dt])
    x = rng.standard_normal(shape) * 2
    if positive:
        x = np.abs(x) + 0.1
    if specials and x.size:
        # NaN and inf must propagate exactly as in NumPy
        x.flat[rng.integers(0, x.size, 2)] = rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0], 2)
    return x.astype(NP[dt])


# ---- argument strategies: each returns a strategy of a list of shapes ----

def one(min_dims=0, max_dims=3, min_side=1):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4).map(lambda s: [s])


def bcast(n=2, min_dims=0):
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=3, min_side=1,
                                             max_side=4).map(lambda r: list(r.input_shapes))


@st.composite
def matmul_shapes(draw, batch=True):
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    if not batch:
        return [(m, k), (k, n)]
    b = draw(bcast(2))
    b = [tuple(s[-2:]) for s in b]      # at most two batch dims each
    return [b[0] + (m, k), b[1] + (k, n)]


@st.composite
def same_shapes(draw, n=2, min_dims=1):
    s = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=4))
    return [s] * n


def fixed(*shapes):
    return st.just(list(shapes))


class Case:
    def __init__(self, name, fn, shapes, dtypes=ALL, positive=False, rtol32=1e-6, symbolic=True, specials=True):
        # symbolic=False: the expression needs concrete sizes (it builds NumPy constants from x.shape)
        # specials=False: NumPy's own answer on NaN/inf is not IEEE (np.dot's BLAS skips zeros: nan * 0 -> 0)
        self.name, self.fn, self.shapes, self.dtypes, self.positive, self.rtol32, self.symbolic = (
            name, fn, shapes, dtypes, positive, rtol32, symbolic)
        self.specials = specials

    def __repr__(self):
        return self.name


C = Case
CATALOGUE = [
    # ---- ufuncs, unary ----
    C("negative", lambda x: -x, one(), NUM),
    C("np.negative(bool) rejected", lambda x: np.negative(x), one(), ("bool",)),
    C("abs", lambda x: np.abs(x), one(), NUM),
    C("sign", lambda x: np.sign(x), one(), NUM),
    C("square", lambda x: np.square(x), one(), NUM),
    C("exp", lambda x: np.exp(x), one(), ALL),
    C("log", lambda x: np.log(x), one(), NUM + ("bool",), positive=True),
    C("log of negatives gives nan", lambda x: np.log(x), one(), FLT),
    C("sin/cos", lambda x: np.sin(x) + np.cos(x), one(), NUM),
    C("tanh", lambda x: np.tanh(x), one(), ALL),
    C("sqrt", lambda x: np.sqrt(x), one(), ALL, positive=True),
    C("reciprocal", lambda x: np.reciprocal(x), one(), FLT, positive=True),
    C("log1p/expm1", lambda x: np.log1p(x) + np.expm1(x), one(), FLT, positive=True, rtol32=1e-5),
    C("log2/log10", lambda x: np.log2(x) - np.log10(x), one(), FLT, positive=True, rtol32=1e-5),
    C("sinh/cosh", lambda x: np.sinh(x) * np.cosh(x), one(), FLT, rtol32=1e-5),
    C("tan", lambda x: np.tan(x), one(), FLT, rtol32=1e-5),
    C("logical_not", lambda x: np.logical_not(x), one(), ALL),
    C("invert bool", lambda x: ~x, one(), ("bool",)),
    # ---- ufuncs, binary, with broadcasting and mixed dtypes ----
    C("add", lambda a, b: a + b, bcast(), ALL),
    C("subtract", lambda a, b: a - b, bcast(), NUM),
    C("multiply", lambda a, b: a * b, bcast(), ALL),
    C("true_divide", lambda a, b: a / b, bcast(), ALL, positive=True),
    C("floor_divide int", lambda a, b: a // b, bcast(), INT, positive=True),
    C("remainder int", lambda a, b: a % b, bcast(), INT, positive=True),
    C("floor_divide/remainder int, negative", lambda a, b: (a // b, a % b), bcast(), INT),
    C("power float", lambda a, b: np.power(a, b), bcast(), FLT, positive=True, rtol32=1e-5),
    C("maximum", lambda a, b: np.maximum(a, b), bcast(), ALL),
    C("minimum", lambda a, b: np.minimum(a, b), bcast(), ALL),
    C("comparisons", lambda a, b: (a < b, a <= b, a > b, a >= b, a == b, a != b), bcast(), ALL),
    C("logical and/or/xor", lambda a, b: (np.logical_and(a, b), np.logical_or(a, b), np.logical_xor(a, b)),
      bcast(), ("bool",)),
    C("& and | on bools", lambda a, b: (a & b) | ~b, bcast(), ("bool",)),
    C("np.add with dtype=", lambda a, b: np.add(a, b, dtype=np.float64), bcast(), NUM),
    # ---- Python scalars are weak (NEP 50) ----
    C("x * 2.0", lambda x: x * 2.0, one(), ALL),
    C("x + 1", lambda x: x + 1, one(), ALL),
    C("2 - x", lambda x: 2 - x, one(), NUM),
    C("x / 3", lambda x: x / 3, one(), ALL),
    C("1.5 / x", lambda x: 1.5 / x, one(), FLT, positive=True),
    C("x ** 2", lambda x: x ** 2, one(), NUM),
    C("x ** 3", lambda x: x ** 3, one(), NUM),
    C("x ** 0.5 and x ** -1", lambda x: (x ** 0.5, x ** -1), one(), FLT, positive=True),
    C("x > 0.5", lambda x: x > 0.5, one(), NUM),
    C("x == 1", lambda x: x == 1, one(), ALL),
    C("True & x", lambda x: (True & x, x | False), one(), ("bool",)),
    C("np.float32 scalar * x", lambda x: np.float32(2.5) * x, one(), ALL),
    C("np.float64 scalar * x", lambda x: x * np.float64(0.5), one(), ALL),
    C("closure over NumPy constant", lambda x: x + np.arange(4, dtype=np.float32), one(min_dims=1).map(
        lambda s: [s[0][:-1] + (4,)]), ALL, symbolic=False),
    # ---- reductions ----
    C("sum", lambda x: x.sum(), one(), ALL),
    C("sum axis", lambda x: np.sum(x, axis=-1), one(min_dims=1), ALL),
    C("sum axis tuple keepdims", lambda x: x.sum(axis=(0, -1), keepdims=True), one(min_dims=2), ALL),
    C("sum dtype=f32", lambda x: x.sum(axis=0, dtype=np.float32), one(min_dims=1), ALL),
    C("mean", lambda x: x.mean(), one(), ALL),
    C("mean axis keepdims", lambda x: np.mean(x, axis=0, keepdims=True), one(min_dims=1), ALL),
    C("var", lambda x: np.var(x, axis=-1), one(min_dims=1), NUM, rtol32=1e-5),
    C("std ddof", lambda x: x.std(axis=0, ddof=1), one(min_dims=1).filter(lambda s: s[0][0] > 1), FLT,
      rtol32=1e-5),
    C("max", lambda x: x.max(), one(), ALL),
    C("max axis keepdims", lambda x: np.max(x, axis=-1, keepdims=True), one(min_dims=1), ALL),
    C("min axis", lambda x: np.min(x, axis=0), one(min_dims=1), ALL),
    C("amax tuple axis", lambda x: np.amax(x, axis=(0, 1)), one(min_dims=2), NUM),
    C("argmax", lambda x: np.argmax(x, axis=-1), one(min_dims=1), ALL),
    C("argmax flat", lambda x: x.argmax(), one(), NUM),
    C("argmin", lambda x: np.argmin(x, axis=0), one(min_dims=1), ALL),
    C("any/all", lambda x: (np.any(x, axis=0), x.all()), one(min_dims=1), ALL),
    C("np.add.reduce / np.maximum.reduce", lambda x: (np.add.reduce(x, axis=0), np.maximum.reduce(x)),
      one(min_dims=1), NUM),
    # ---- shapes ----
    C("reshape -1", lambda x: x.reshape(-1), one(), ALL),
    C("reshape(x.shape[0], -1)", lambda x: x.reshape(x.shape[0], -1), one(min_dims=2), ALL),
    C("np.reshape tuple", lambda x: np.reshape(x, (1,) + x.shape + (1,)), one(), ALL),
    C("transpose .T", lambda x: x.T, one(), ALL),
    C("transpose axes", lambda x: np.transpose(x, (1, 0, 2)), one(min_dims=3), ALL),
    C("swapaxes/moveaxis", lambda x: (np.swapaxes(x, 0, -1), np.moveaxis(x, 0, -1)), one(min_dims=2), ALL),
    C("expand_dims/squeeze", lambda x: np.squeeze(np.expand_dims(x, 1), axis=1), one(min_dims=1), ALL),
    C("squeeze all", lambda x: np.squeeze(x), one(), ALL),
    C("ravel/flatten", lambda x: (np.ravel(x), x.flatten()), one(), ALL),
    C("broadcast_to", lambda x: np.broadcast_to(x, (2,) + x.shape), one(), ALL),
    # ---- indexing ----
    C("basic index x[0]", lambda x: x[0], one(min_dims=1), ALL),
    C("negative index x[-1]", lambda x: x[-1], one(min_dims=1), ALL),
    C("slices x[1:, ::2]", lambda x: x[1:, ::2], one(min_dims=2), ALL),
    C("negative slices x[:-1, -2:]", lambda x: x[:-1, -2:], one(min_dims=2), ALL),
    C("newaxis and ellipsis", lambda x: x[None, ..., 0], one(min_dims=1), ALL),
    C("x[..., None]", lambda x: x[..., None], one(), ALL),
    C("integer-array index", lambda x: x[np.array([0, -1, 0])], one(min_dims=1), ALL),
    C("integer-array index on axis 1", lambda x: x[:, np.array([[0], [-1]])], one(min_dims=2), ALL),
    C("traced integer index", lambda x, i: x[np.clip(i, -x.shape[0], x.shape[0] - 1)],
      one(min_dims=1).map(lambda s: [s[0], (3,)]), ALL),
    C("two adjacent integer arrays", lambda x: x[np.array([0, 1, 0]) % x.shape[0], np.array([-1, 0, 0])],
      one(min_dims=2), ALL, symbolic=False),
    C("take (negative indices)", lambda x: np.take(x, np.array([0, -1, 0]), axis=-1), one(min_dims=1), ALL),
    C("take flat, clip mode", lambda x: np.take(x, np.array([[5], [-7]]), mode="clip"), one(), ALL),
    C("take traced indices", lambda x, i: np.take(x, i % x.shape[0] - x.shape[0], axis=0),
      one(min_dims=1).map(lambda s: [s[0], (2, 3)]), ALL),
    C("take_along_axis (negative indices)", lambda x: np.take_along_axis(
        x, (np.arange(x.shape[0]) % 2 - 1)[:, None], axis=1), one(min_dims=2, max_dims=2), ALL, symbolic=False),
    # ---- select, clip, concatenate/stack, pad ----
    C("where", lambda c, a, b: np.where(c, a, b), bcast(3).map(lambda s: s), ("bool",) + ALL),
    C("Python lists as operands", lambda x: (np.maximum(x, [0.5] * x.shape[-1]), np.where(x > 0, x, [[-1]]),
                                              np.take(x, [0, -1], axis=0)), one(min_dims=1), NUM, symbolic=False),
    C("where with scalars", lambda x: np.where(x > 0, x, 0.0), one(), NUM),
    C("where(x, 1, 2) non-bool cond", lambda x: np.where(x, 1, 2), one(), ALL),
    C("clip scalars", lambda x: np.clip(x, -1, 1), one(), NUM),
    C("clip float bounds", lambda x: x.clip(-0.5, 0.5), one(), NUM),
    C("clip arrays", lambda x, lo, hi: np.clip(x, lo, hi), bcast(3), NUM),
    C("concatenate", lambda a, b: np.concatenate([a, b], axis=0), same_shapes(), ALL),
    C("concatenate axis -1 mixed dtypes", lambda a, b: np.concatenate((a, b), axis=-1), same_shapes(), ALL),
    C("concatenate axis None", lambda a, b: np.concatenate([a, b], axis=None), bcast(), ALL),
    C("stack", lambda a, b: np.stack([a, b], axis=1), same_shapes(min_dims=1), ALL),
    C("stack axis -1", lambda a, b: np.stack([a, b], axis=-1), same_shapes(min_dims=0), ALL),
    C("hstack/vstack", lambda a, b: (np.hstack([a, b]), np.vstack([a, b])), same_shapes(min_dims=1), ALL),
    C("pad", lambda x: np.pad(x, 1), one(min_dims=1), NUM),
    C("pad widths", lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=3), one(min_dims=2, max_dims=2), NUM),
    C("zeros_like/ones_like/full_like", lambda x: (np.zeros_like(x), np.ones_like(x), np.full_like(x, 7)),
      one(), ALL),
    # ---- linear algebra ----
    C("matmul 2-D", lambda a, b: a @ b, matmul_shapes(batch=False), NUM, rtol32=1e-5),
    C("matmul batched (broadcast batch dims)", lambda a, b: np.matmul(a, b), matmul_shapes(), NUM, rtol32=1e-5),
    C("matmul vector @ matrix", lambda a, b: a[0] @ b, matmul_shapes(batch=False), NUM, rtol32=1e-5),
    C("matmul matrix @ vector", lambda a, b: a @ b[:, 0], matmul_shapes(batch=False), NUM, rtol32=1e-5),
    C("matmul vector @ batched", lambda a, b: a[..., 0, :] @ b, matmul_shapes(), NUM, rtol32=1e-5),
    C("dot 1-D", lambda a, b: np.dot(a, b), same_shapes(min_dims=1).map(lambda s: [s[0][:1]] * 2), NUM, specials=False, rtol32=1e-5),
    C("dot 2-D and mixed dtypes", lambda a, b: a.dot(b), matmul_shapes(batch=False), NUM, specials=False, rtol32=1e-5),
    C("dot N-D", lambda a, b: np.dot(a, b), fixed((2, 3, 4), (5, 4, 2)), NUM, specials=False, rtol32=1e-5),
    C("tensordot axes=1", lambda a, b: np.tensordot(a, b, axes=1), fixed((2, 3), (3, 4)), NUM, specials=False),
    C("tensordot axes=2", lambda a, b: np.tensordot(a, b, axes=2), fixed((2, 3, 4), (3, 4, 5)), NUM, specials=False),
    C("tensordot axes pairs", lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), fixed((2, 3, 4), (4, 5, 2)),
      NUM, specials=False),
    C("outer/inner", lambda a, b: (np.outer(a, b), np.inner(a, b)), same_shapes(min_dims=1).map(
        lambda s: [s[0][:1]] * 2), NUM, specials=False),
    # ---- casts ----
    C("astype", lambda x: (x.astype(np.float32), x.astype(np.int32), x.astype(np.float64), x.astype(bool),
                           x.astype(np.int64)), one(), ALL),
    C("astype via dtype string", lambda x: x.astype("float32") * x.astype("int64"), one(), ALL),
    # ---- composites ----
    C("softmax", lambda x: np.exp(x - x.max(axis=-1, keepdims=True)) / np.exp(
        x - x.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True), one(min_dims=1), FLT),
    C("relu", lambda x: np.maximum(x, 0), one(), NUM),
    C("normalize", lambda x: (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-5), one(min_dims=2), FLT, rtol32=1e-5),
    C("logistic", lambda x: 1 / (1 + np.exp(-x)), one(), FLT),
]
IDS = [c.name for c in CATALOGUE]


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 60
    assert len(set(IDS)) == len(IDS)


_SYMS = {2: "A", 3: "B", 4: "C"}


def _spec(x):
    """The abstract version of x: every size > 1 symbolic (equal sizes, same symbol; 1 stays 1 to broadcast)."""
    dims = ",".join(_SYMS.get(d, str(d)) for d in x.shape)
    return cc.Spec(f"{cc.ir.dtype(x.dtype).name}[{dims}]")


def _check(case, shapes, dts, seed, specials=False, symbolic=False):
    rng = np.random.default_rng(seed)
    args = [_values(rng, s, dt, case.positive, specials) for s, dt in zip(shapes, dts)]
    try:
        with np.errstate(all="ignore"):
            want = case.fn(*args)
    except (TypeError, ValueError, IndexError, np.exceptions.DTypePromotionError) as e:
        # NumPy rejects these inputs: vive must too, with one of its errors (never a silent result)
        with pytest.raises((cc.ViveError, TypeError, ValueError)):
            cc.trace(case.fn, *args)
        return f"numpy rejects: {e}"
    wants = list(want) if isinstance(want, tuple) else [want]
    if any(np.asarray(w).dtype not in [np.dtype(t) for t in NP.values()] for w in wants):
        # e.g. np.exp of a bool array is float16, which vive does not have: it must say so
        with pytest.raises(cc.DTypeError):
            cc.trace(case.fn, *args)
        return "unsupported result dtype"
    g = cc.trace(case.fn, *([_spec(x) for x in args] if symbolic else args))
    check_graph(g)
    got = interpret(g, *args)
    assert len(got) == len(wants)
    for gv, wv in zip(got, wants):
        assert_same_array(gv, wv, case.rtol32 if np.asarray(wv).dtype == np.float32 else 1e-12)
    return None


@pytest.mark.parametrize("case", CATALOGUE, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_interpret_trace_equals_numpy(case, data):
    shapes = data.draw(case.shapes, label="shapes")
    dts = [data.draw(st.sampled_from(case.dtypes), label=f"dtype{i}") for i in range(len(shapes))]
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    specials = case.specials and data.draw(st.booleans(), label="nan/inf")
    _check(case, shapes, dts, seed, specials)


SYMBOLIC = [c for c in CATALOGUE if c.symbolic]


@pytest.mark.parametrize("case", SYMBOLIC, ids=[c.name for c in SYMBOLIC])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_symbolic_trace_serves_every_size(case, data):
    """Traced once with symbolic sizes (cc.Spec), the graph gives NumPy's answer on the concrete arrays."""
    shapes = data.draw(case.shapes, label="shapes")
    dts = [data.draw(st.sampled_from(case.dtypes), label=f"dtype{i}") for i in range(len(shapes))]
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    _check(case, shapes, dts, seed, symbolic=True)
