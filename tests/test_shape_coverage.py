"""NumPy's shape-moving functions built as compositions (compiler/ops_shape.py): flip, rot90, negative slice steps,
roll, tile, repeat, kron, triu/tril, diag/diagonal/trace, atleast_nd, split, pad modes, linalg.norm, cumsum, cumprod,
prod, and integer-array indexing mixed with integers.

Oracles: NumPy on the same arrays (shape, dtype and values, compiled and interpreted), NumPy's exception class where
NumPy raises, float64 finite differences (cc.check_grads) for the derivatives, and closed forms for the gradients
of prod and cumprod with zeros in the input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from builtins import sum as builtins_sum

import compiler as cc
from compiler.trace import interpret


@dataclass
class Case:
    name: str
    fn: Callable
    shapes: list                    # one tuple of input shapes per example (sizes 0 and 1 included)
    grad: bool = True
    ints: bool = True               # also run on integer inputs


def C(name, fn, *shapes, grad=True, ints=True):
    return Case(name, fn, [s if isinstance(s, list) else [s] for s in shapes], grad, ints)


CASES = [
    C("flip", lambda x: np.flip(x), (2, 3, 4), (0, 3), (1,), ()),
    C("flip_axis", lambda x: np.flip(x, axis=(0, -1)), (2, 3, 4), (3, 1)),
    C("fliplr", np.fliplr, (3, 4), (2, 0, 2)),
    C("flipud", np.flipud, (3, 4), (5,), (0,)),
    C("rot90", lambda x: np.rot90(x), (3, 4), (2, 3, 4), (1, 0)),
    C("rot90_k2", lambda x: np.rot90(x, 2), (3, 4)),
    C("rot90_k3_axes", lambda x: np.rot90(x, -1, axes=(1, 2)), (2, 3, 4)),
    C("slice_rev", lambda x: x[::-1], (5,), (0,), (1, 3), (4, 3)),
    C("slice_neg_step", lambda x: x[5:1:-2], (7,), (3,), (0,)),
    C("slice_neg_mixed", lambda x: x[1, ::-2, -1:0:-1], (2, 5, 4)),
    C("slice_neg_none", lambda x: x[None, -2::-3], (8,), (1,)),
    C("roll", lambda x: np.roll(x, 2), (5,), (2, 3), (0,), (1,)),
    C("roll_neg_axis", lambda x: np.roll(x, -7, axis=1), (2, 5), (3, 1)),
    C("roll_multi", lambda x: np.roll(x, (1, 2, 1), axis=(0, 1, 0)), (3, 4)),
    C("tile", lambda x: np.tile(x, 3), (4,), (2, 3), (0,), ()),
    C("tile_reps", lambda x: np.tile(x, (2, 1, 2)), (2, 3), (3,), (1, 0)),
    C("repeat", lambda x: np.repeat(x, 3), (2, 3), (0,), ()),
    C("repeat_axis", lambda x: np.repeat(x, 2, axis=-1), (2, 3), (3, 0)),
    C("repeat_each", lambda x: np.repeat(x, [2, 0, 1], axis=0), (3, 2), (3,)),
    C("repeat_method", lambda x: x.repeat([1, 3], axis=1), (2, 2)),
    C("kron", np.kron, [(2, 3), (3, 2)], [(3,), (2,)], [(2, 2), (3,)], [(0, 2), (2, 2)], [(), (3,)]),
    C("triu", np.triu, (3, 4), (4, 3), (2, 3, 3), (5,), (0, 0)),
    C("triu_k", lambda x: np.triu(x, 2), (4, 5)),
    C("tril", np.tril, (3, 4), (1, 1)),
    C("tril_k", lambda x: np.tril(x, -1), (4, 4), (2, 3, 2)),
    C("diag_1d", np.diag, (3,), (1,), (0,)),
    C("diag_1d_k", lambda x: np.diag(x, 2), (3,)),
    C("diag_1d_negk", lambda x: np.diag(x, -1), (3,)),
    C("diag_2d", np.diag, (3, 4), (4, 3), (0, 2)),
    C("diag_2d_k", lambda x: np.diag(x, -2), (4, 3), (2, 2)),
    C("diagonal", np.diagonal, (3, 4), (2, 3, 4)),
    C("diagonal_args", lambda x: np.diagonal(x, 1, 2, 0), (3, 2, 4), (1, 1, 1)),
    C("diagonal_method", lambda x: x.diagonal(-1), (4, 4)),
    C("trace", np.trace, (3, 4), (2, 3, 4), (0, 0), (1, 1)),
    C("trace_args", lambda x: np.trace(x, 1, 1, 2), (2, 3, 4)),
    C("atleast_1d", np.atleast_1d, (), (3,), (2, 3)),
    C("atleast_2d", np.atleast_2d, (), (3,), (2, 3), (1, 2, 3)),
    C("atleast_3d", np.atleast_3d, (), (3,), (2, 3), (1, 2, 3)),
    C("atleast_many", lambda x, y: np.atleast_2d(x, y), [(), (3,)]),
    C("split", lambda x: np.split(x, 3), (6,), (3, 2), (0,)),
    C("split_idx", lambda x: np.split(x, [1, 3], axis=1), (2, 5), (2, 2), (1, 0)),
    C("array_split", lambda x: np.array_split(x, 3, axis=-1), (2, 7), (3, 2), (1, 0)),
    C("array_split_idx", lambda x: np.array_split(x, [-2, 10, 1]), (5,), (3, 2)),
    C("hsplit", lambda x: np.hsplit(x, 2), (3, 4), (4,)),
    C("vsplit", lambda x: np.vsplit(x, [1]), (3, 4)),
    C("pad_edge", lambda x: np.pad(x, 2, mode="edge"), (3,), (2, 3), (1,)),
    C("pad_reflect", lambda x: np.pad(x, ((1, 2), (3, 0)), mode="reflect"), (4, 3), (2, 2), (1, 1)),
    C("pad_reflect_long", lambda x: np.pad(x, (5, 7), mode="reflect"), (3,)),
    C("pad_symmetric", lambda x: np.pad(x, (2, 4), mode="symmetric"), (3,), (2, 3), (1,)),
    C("pad_wrap", lambda x: np.pad(x, ((0, 5), (2, 1)), mode="wrap"), (2, 3), (1, 1)),
    C("pad_constant", lambda x: np.pad(x, 1), (2, 3)),
    C("norm", np.linalg.norm, (5,), (2, 3), (2, 3, 4), (0,), (1,)),
    C("norm_keepdims", lambda x: np.linalg.norm(x, keepdims=True), (2, 3)),
    C("norm_1", lambda x: np.linalg.norm(x, 1), (5,), (3, 4)),
    C("norm_inf", lambda x: np.linalg.norm(x, np.inf), (5,), (3, 4)),
    C("norm_neginf", lambda x: np.linalg.norm(x, -np.inf), (5,), (3, 4)),
    C("norm_0", lambda x: np.linalg.norm(x, 0, axis=0), (5,), (3, 4), grad=False),
    C("norm_p", lambda x: np.linalg.norm(x, 3, axis=-1), (5,), (3, 4)),
    C("norm_p_half", lambda x: np.linalg.norm(x, 0.5, axis=0, keepdims=True), (3, 4)),
    C("norm_fro", lambda x: np.linalg.norm(x, "fro", axis=(2, 0)), (2, 3, 4), (3, 0, 2)),
    C("norm_mat_1", lambda x: np.linalg.norm(x, -1, axis=(1, 2), keepdims=True), (2, 3, 4), (1, 1, 1)),
    C("norm_mat_inf", lambda x: np.linalg.norm(x, np.inf, axis=(-1, 0)), (3, 2, 4)),
    C("norm_mat_neginf", lambda x: np.linalg.norm(x, -np.inf), (3, 4)),
    C("cumsum", np.cumsum, (5,), (2, 3), (0,), (1,), ()),
    C("cumsum_axis", lambda x: np.cumsum(x, axis=1), (2, 3, 4), (2, 0, 3), (2, 1)),
    C("cumsum_method", lambda x: x.cumsum(0), (4, 2)),
    C("cumsum_long", lambda x: np.cumsum(x, axis=-1), (2, 200), (130,), (64,), (65,)),
    C("cumsum_longer", lambda x: np.cumsum(x), (5000,), grad=False),
    C("cumprod", np.cumprod, (5,), (2, 3), (0,), (1,), ()),
    C("cumprod_axis", lambda x: np.cumprod(x, axis=-2), (2, 9, 3), (2, 0, 3)),
    C("cumprod_method", lambda x: x.cumprod(1), (2, 70)),
    C("prod", np.prod, (5,), (2, 3), (0,), (1,), ()),
    C("prod_axis", lambda x: np.prod(x, axis=1), (2, 3, 4), (2, 0, 3), (3, 1)),
    C("prod_axes_keep", lambda x: np.prod(x, axis=(0, 2), keepdims=True), (2, 3, 5)),
    C("prod_method", lambda x: x.prod(-1), (3, 7)),
    C("mixed_index", lambda x: x[[0, 2], 1], (3, 4), (3, 2, 2)),
    C("mixed_index_2", lambda x: x[1, [0, 2]], (3, 4), (2, 3, 5)),
    C("mixed_index_neg", lambda x: x[-1, [-1, 0, 1]], (2, 3)),
    C("index_apart", lambda x: x[[0, 1, 1], :, [2, 0, 1]], (2, 3, 4)),
    C("index_apart_int", lambda x: x[0, :, [1, 2]], (2, 3, 4)),
    C("stack_scalars", lambda x: np.stack([x[0, 0], x[1, 2] * 2, np.sum(x)]), (2, 3)),
]
IDS = [c.name for c in CASES]


def _inputs(shapes, dt, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dt).kind == "f":
        # away from 0 so that |x| and the p-norms are differentiable, in [0.5, 1.5] in size for products
        return [(rng.uniform(0.5, 1.5, s) * rng.choice([-1, 1], s)).astype(dt) for s in shapes]
    return [rng.integers(-4, 5, s).astype(dt) for s in shapes]


def _flat(r):
    return list(r) if isinstance(r, (list, tuple)) else [r]


def _same(got, want, dt):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, f"dtype {g.dtype}, NumPy gives {w.dtype}"
        assert g.shape == w.shape, f"shape {g.shape}, NumPy gives {w.shape}"
        if w.dtype.kind == "f":
            rtol = 2e-5 if np.dtype(dt) == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_numpy(case, dt):
    if not case.ints and np.dtype(dt).kind != "f":
        pytest.skip("float inputs only")
    compiled = cc.compile(case.fn)
    for shapes in case.shapes:
        args = _inputs(shapes, dt)
        try:
            want = case.fn(*args)
        except Exception as e:          # noqa: BLE001  NumPy's exception is the oracle
            with pytest.raises(type(e)):
                interpret(cc.trace(case.fn, *args), *args)
            with pytest.raises(type(e)):
                compiled(*args)
            continue
        _same(interpret(cc.trace(case.fn, *args), *args), want, dt)
        _same(compiled(*args), want, dt)


GRAD = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD, ids=[c.name for c in GRAD])
def test_grads(case):
    for shapes in case.shapes:
        args = _inputs(shapes, np.float64, seed=1)
        try:
            case.fn(*args)
        except Exception:               # noqa: BLE001  (shapes where NumPy raises are checked above)
            continue
        cc.check_grads(case.fn, args)


@pytest.mark.parametrize("x", [np.array([2.0, 0.0, 3.0, 4.0]), np.array([0.0, 1.5, 0.0, -2.0]),
                               np.array([0.0]), np.array([1.0, 2.0, 3.0, 4.0, 0.0])])
def test_prod_grad_with_zeros(x):
    # d prod / d x_k = the product of the other entries (closed form, no division): exact with zeros present
    want = np.array([np.prod(np.delete(x, k)) for k in range(x.size)])
    np.testing.assert_allclose(cc.grad(np.prod)(x), want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cc.compile(cc.grad(np.prod))(x), want, rtol=1e-15, atol=0)
    cc.check_grads(np.prod, (x,), order=2)


def test_cumsum_grad_long_axis_closed_form():
    # d sum(w * cumsum(x)) / dx_i = sum_{j >= i} w_j: the reversed cumulative sum of w (blocked scan, 3 levels)
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(5000), rng.standard_normal(5000)
    g = cc.compile(cc.grad(lambda x: np.sum(w * np.cumsum(x))))(x)
    np.testing.assert_allclose(g, np.cumsum(w[::-1])[::-1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("x", [np.array([2.0, 0.0, 3.0, 0.0, 5.0]), np.array([0.0, 1.5, -2.0]), np.array([1.5, 2.0, 0.0])])
def test_cumprod_grad_with_zeros(x):
    # d sum(cumprod(x)) / dx_k = sum_{j >= k} prod_{i <= j, i != k} x_i (closed form, no division)
    want = np.array([builtins_sum(np.prod(np.delete(x[:j + 1], k)) for j in range(k, x.size)) for k in range(x.size)])
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(np.cumprod(x)))(x), want, rtol=1e-15, atol=0)
    cc.check_grads(np.cumprod, (x,), order=2)


ERRORS = [
    (lambda x: np.fliplr(x), (3,)),
    (lambda x: np.flip(x, 2), (3, 4)),
    (lambda x: np.rot90(x, 1, (0, 0)), (3, 4)),
    (lambda x: np.rot90(x, 1, (0, 2)), (3, 4)),
    (lambda x: x[::0], (3,)),
    (lambda x: np.roll(x, 1, axis=3), (3,)),
    (lambda x: np.tile(x, -1), (3,)),
    (lambda x: np.repeat(x, -1), (3,)),
    (lambda x: np.repeat(x, [1, 2], axis=0), (3,)),
    (lambda x: np.repeat(x, 1, axis=2), (3, 4)),
    (lambda x: np.diag(x), (2, 2, 2)),
    (lambda x: np.diagonal(x), (3,)),
    (lambda x: np.diagonal(x, 0, 1, 1), (3, 3)),
    (lambda x: np.split(x, 4), (6,)),
    (lambda x: np.split(x, 0), (6,)),
    (lambda x: np.vsplit(x, 2), (6,)),
    (lambda x: np.pad(x, 1, mode="reflect"), (0,)),
    (lambda x: np.pad(x, -1, mode="edge"), (3,)),
    (lambda x: np.linalg.norm(x, 1), (2, 3, 4)),
    (lambda x: np.linalg.norm(x, "fro"), (3,)),
    (lambda x: np.linalg.norm(x, 3), (3, 4)),
    (lambda x: np.linalg.norm(x, axis=(0, 0)), (3, 4)),
    (lambda x: np.cumsum(x, 2), (3, 4)),
    (lambda x: np.prod(x, 2), (3, 4)),
    (lambda x: np.cumprod(x, -3), (3, 4)),
    (lambda x: x[[0, 3], 1], (3, 4)),
    (lambda x: x[1, [0, 5]], (3, 4)),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_numpy_exceptions(k):
    fn, shape = ERRORS[k]
    x = np.ones(shape)
    with pytest.raises(Exception) as np_err:
        fn(x)
    with pytest.raises(type(np_err.value)):
        cc.trace(fn, x)
    with pytest.raises(type(np_err.value)):
        cc.compile(fn)(x)


def test_matrix_norms_from_singular_values():
    # ord 2 / -2 / 'nuc' go through svd_values (primitives/linalg_decomp.py)
    x = np.random.default_rng(0).standard_normal((3, 4))
    for ord in (2, -2, "nuc"):
        np.testing.assert_allclose(cc.compile(lambda x: np.linalg.norm(x, ord))(x), np.linalg.norm(x, ord),
                                   rtol=1e-12)


@pytest.mark.parametrize("fn", [lambda x: np.flip(x, 0), lambda x: x[::-1], lambda x: np.cumsum(x, 0),
                                lambda x: np.prod(x, 0), lambda x: np.roll(x, 1, 0), lambda x: np.tile(x, (2, 1)),
                                lambda x: np.repeat(x, 2, 0), lambda x: np.pad(x, 1, mode="wrap"), np.trace],
                         ids=["flip", "rev", "cumsum", "prod", "roll", "tile", "repeat", "pad", "trace"])
def test_new_sizes(fn):
    # one compiled function called with several sizes: specialised (guards) or generalised, always NumPy's answer
    f = cc.compile(fn)
    for n in (3, 5, 8, 1):
        x = np.arange(n * 4, dtype=np.float64).reshape(n, 4) / 7 + 0.5
        _same(f(x), fn(x), np.float64)


def test_symbolic_flip_and_tile_stay_symbolic():
    # these need no concrete size: one kernel serves every N
    for fn in (lambda x: np.flip(x), lambda x: x[::-1], lambda x: np.tile(x, (2, 1)), lambda x: np.repeat(x, 3, 1),
               lambda x: np.kron(x, np.ones((2, 1)))):
        low = cc.compile(fn).lower(cc.Spec("f64[N,3]"))
        for n in (1, 4):
            x = np.random.default_rng(n).standard_normal((n, 3))
            _same(low(x), fn(x), np.float64)
