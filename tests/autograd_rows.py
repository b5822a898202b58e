"""The rows of tests/test_autograd_table.py: HIPS autograd's gradient test list, re-created as data. Each row names
the function, its argument shapes or values and the argument positions differentiated, as autograd's lists do (its
combo_check products are expanded here by combo()); the harness and every line of this table are written here.
A row vive cannot run carries a strict xfail with the reason and the exception it must stop with."""
import itertools

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import scipy.special
import scipy.stats

from compiler.errors import TraceError

_RNG = np.random.default_rng(0)


def R(*shape):
    return _RNG.standard_normal(shape)


def U(lims, *shape):
    """Uniform draws in [lims[0], lims[1]] (autograd's ufunc checks scale rand() into a range the same way)."""
    lo, hi = lims
    return _RNG.random(shape) * (hi - lo) + lo


ARRAY_OF_TRACED = ("np.array / np.r_ / np.c_ of traced values: np.array has no __array_function__ hook, so NumPy "
                   "asks each tracer for its value (__array__), unknown while tracing: TraceError suggesting np.stack")
CASES = []


def _expected_error(reason):
    # each xfail names the exception it must stop with, so that a row failing for another reason is not hidden
    return TraceError


def _add(src, name, fn, args, argnums, xfail=None, order2=True):
    args = [np.asarray(a, np.float64) if isinstance(a, float) else a for a in args]
    marks = [pytest.mark.xfail(strict=True, raises=_expected_error(xfail), reason=xfail)] if xfail else []
    CASES.append(pytest.param(fn, args, tuple(argnums), order2, id=f"{src}::{name}", marks=marks))


def _short(v):
    if isinstance(v, np.ndarray):
        return "x".join(map(str, v.shape)) or "0d"
    if isinstance(v, (tuple, list)) and v and all(isinstance(e, np.ndarray) for e in v):
        return "(" + ",".join(_short(e) for e in v) + ")"
    return repr(v).replace(" ", "")


def combo(src, name, f, argnums, *positional, xfail=None, order2=True, **keywords):
    """Every combination of the given positional and keyword alternatives, like autograd's combo_check: the
    positions in argnums are differentiated (an array, or a tuple/list of arrays), the rest are baked in."""
    kw_names = list(keywords)
    for pos in itertools.product(*positional):
        for kw_vals in itertools.product(*(keywords[k] for k in kw_names)):
            kw = dict(zip(kw_names, kw_vals))
            pos = [np.asarray(v, np.float64) if isinstance(v, float) else v for v in pos]
            layout, diff = [], []          # per differentiated position: how many leaves, and its container
            for i in argnums:
                v = pos[i]
                if isinstance(v, (tuple, list)):
                    layout.append((i, len(v), type(v)))
                    diff.extend(v)
                else:
                    layout.append((i, None, None))
                    diff.append(v)

            def fn(*leaves, _pos=pos, _layout=layout, _kw=kw):
                full, k = list(_pos), 0
                for i, n, kind in _layout:
                    if n is None:
                        full[i], k = leaves[k], k + 1
                    else:
                        full[i], k = kind(leaves[k:k + n]), k + n
                return f(*full, **_kw)

            tag = ",".join([_short(v) for v in pos] + [f"{k}={_short(v)}" for k, v in kw.items()])
            _add(src, f"{name}[{tag}]", fn, diff, range(len(diff)), xfail=xfail, order2=order2)


# ---- test_systematic.py: statistics (autograd's stat_check: a scalar, then arrays over axis and keepdims) ----

def stat(name, f, xfail=None):
    src = "systematic"
    combo(src, name, f, [0], [3.5, R()], xfail=xfail)
    combo(src, name, f, [0], [R(3), R(2, 3), R(1, 3)], axis=[None, 0], keepdims=[True, False], xfail=xfail)
    combo(src, name, f, [0], [R(2, 3), R(1, 3)], axis=[None, 0, 1], keepdims=[True, False], xfail=xfail)


for _n, _f in [("max", np.max), ("all", np.all), ("any", np.any), ("mean", np.mean), ("min", np.min),
               ("sum", np.sum), ("prod", np.prod), ("var", np.var), ("std", np.std)]:
    stat(_n, _f)


# ---- unary ufuncs (autograd's unary_ufunc_check: a scalar, a vector, two matrices mapped into lims) ----

def unary(name, f, lims=(-2.0, 2.0), complex_too=True):
    src = "systematic"
    combo(src, name, f, [0], [U(lims), U(lims, 2), U(lims, 3, 2), U(lims, 1, 2)])
    if complex_too:
        z = U(lims, 3, 2) + 0.1j * U(lims, 3, 2)
        _add(src, f"{name}[complex]", f, [z], [0], order2=False)


for _n, _f, _kw in [
        ("sin", np.sin, {}), ("abs", np.abs, dict(lims=(0.1, 4.0))), ("absolute", np.absolute, dict(lims=(0.1, 4.0))),
        ("arccosh", np.arccosh, dict(lims=(1.1, 4.0))), ("arcsinh", np.arcsinh, dict(lims=(-0.9, 0.9))),
        ("arctanh", np.arctanh, dict(lims=(-0.9, 0.9))), ("ceil", np.ceil, dict(lims=(-1.5, 1.5), complex_too=False)),
        ("cos", np.cos, {}), ("cosh", np.cosh, {}), ("deg2rad", np.deg2rad, dict(complex_too=False)),
        ("degrees", lambda x: np.degrees(x) / 50.0, dict(complex_too=False)), ("exp", np.exp, {}),
        ("exp2", np.exp2, {}), ("expm1", np.expm1, {}), ("fabs", np.fabs, dict(complex_too=False)),
        ("floor", np.floor, dict(lims=(-1.5, 1.5), complex_too=False)), ("log", np.log, dict(lims=(0.2, 2.0))),
        ("log10", np.log10, dict(lims=(0.2, 2.0))), ("log1p", np.log1p, dict(lims=(0.2, 2.0))),
        ("log2", np.log2, dict(lims=(0.2, 2.0))), ("rad2deg", lambda x: np.rad2deg(x) / 50.0, dict(complex_too=False)),
        ("radians", np.radians, dict(complex_too=False)), ("sign", np.sign, {}), ("sinh", np.sinh, {}),
        ("sqrt", np.sqrt, dict(lims=(1.0, 3.0))), ("square", np.square, dict(complex_too=False)),
        ("tan", np.tan, dict(lims=(-1.1, 1.1))), ("tanh", np.tanh, {}), ("real", np.real, {}),
        ("real_if_close", np.real_if_close, {}), ("imag", np.imag, {}), ("conj", np.conj, {}),
        ("angle", np.angle, {})]:
    unary(_n, _f, **_kw)


# ---- binary ufuncs (autograd's binary_ufunc_check and its variant with independent draws per side) ----

def binary(name, f, lims_a=(-2.0, 2.0), lims_b=(-2.0, 2.0), complex_too=True):
    src = "systematic"
    sides = [[U(lims, *s) for s in [(), (2,), (3, 2), (1, 2)]] for lims in (lims_a, lims_b)]
    combo(src, name, f, [0, 1], *sides)
    if complex_too:
        z = U(lims_a, 3, 2) + 0.1j * U(lims_a, 3, 2)
        _add(src, f"{name}[complex]", f, [z, U(lims_b, 3, 2)], [0, 1], order2=False)


binary("add", np.add)
binary("logaddexp", np.logaddexp, complex_too=False)
binary("logaddexp2", np.logaddexp2, complex_too=False)
binary("remainder", np.remainder, (-0.9, 0.9), (0.7, 1.9), complex_too=False)
binary("true_divide", np.true_divide, lims_b=(0.8, 1.2), complex_too=False)
binary("mod", np.mod, lims_b=(0.8, 2.1), complex_too=False)
binary("true_divide_neg", np.true_divide, lims_b=(-0.3, -2.0), complex_too=False)
binary("mod_neg", np.mod, lims_b=(-0.3, -2.0), complex_too=False)
binary("op_mul", lambda a, b: a * b)
binary("op_add", lambda a, b: a + b)
binary("op_sub", lambda a, b: a - b)
binary("op_mod", lambda a, b: a % b, lims_b=(0.3, 2.0), complex_too=False)
binary("op_mod_neg", lambda a, b: a % b, lims_b=(-0.3, -2.0), complex_too=False)


# ---- test_systematic.py: the rest ----
S = "systematic"
combo(S, "transpose", np.transpose, [0], [R(2, 3, 4)],
      axes=[None, [0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0], [1, 0, 2], [1, 2, 0]])
combo(S, "repeat", np.repeat, [0], [R(2, 3, 4), R(3, 1)], repeats=[0, 1, 2], axis=[None, 0, 1])
combo(S, "diff", np.diff, [0], [R(5, 5), R(5, 5, 5)], n=[1, 2], axis=[0, 1])
combo(S, "diff", np.diff, [0], [R(1), R(1, 1)], axis=[0])
combo(S, "diff", np.diff, [0], [R(1, 1), R(3, 1)], axis=[1])
combo(S, "tile", np.tile, [0], [R(2, 1, 3, 1)], reps=[(1, 4, 1, 2)])
combo(S, "tile", np.tile, [0], [R(1, 2)], reps=[(1, 2), (2, 3), (3, 2, 1)])
combo(S, "tile", np.tile, [0], [R(1)], reps=[(2,), 2])
combo(S, "kron", np.kron, [0, 1], [R(5, 5), R(4, 4)], [R(3, 3), R(2, 2)])
combo(S, "inner", np.inner, [0, 1], [1.5, R(3), R(2, 3)], [0.3, R(3), R(4, 3)])
combo(S, "dot", np.dot, [0, 1], [1.5, R(3), R(2, 3), R(2, 2, 3)], [0.3, R(3), R(3, 4), R(2, 3, 4)])
combo(S, "matmul", np.matmul, [0, 1], [R(3), R(2, 3), R(2, 2, 3)], [R(3), R(3, 4), R(2, 3, 4)])
combo(S, "tensordot_1", np.tensordot, [0, 1], [R(1, 3), R(2, 3, 2)], [R(3), R(3, 1), R(3, 4, 2)],
      axes=[[(1,), (0,)]])
combo(S, "tensordot_2", np.tensordot, [0, 1], [R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)],
      axes=[[(0,), (1,)]])
combo(S, "tensordot_3", np.tensordot, [0, 1], [R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)],
      axes=[[(0, 1), (1, 2)], [(1, 0), (2, 1)]])
combo(S, "tensordot_4", np.tensordot, [0, 1], [R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)], axes=[1, 2])
combo(S, "tensordot_5", np.tensordot, [0, 1], [R(4)], [R()], axes=[0])
combo(S, "tensordot_6", np.tensordot, [0, 1], [R(2, 6)], [R(6, 3)], axes=[[[-1], [0]]])
for _n, _f in [("maximum", np.maximum), ("fmax", np.fmax), ("minimum", np.minimum), ("fmin", np.fmin)]:
    combo(S, _n, _f, [0, 1], [R(1), R(1, 4), R(3, 4)], [R(1), R(1, 4), R(3, 4)])
combo(S, "sort", np.sort, [0], [R(1), R(7)])
combo(S, "msort", lambda x: np.sort(x, axis=0), [0], [R(1), R(7)])     # np.msort left NumPy 2: its definition
combo(S, "partition", np.partition, [0], [R(7), R(14)], kth=[0, 3, 6])
combo(S, "atleast_1d", np.atleast_1d, [0], [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
combo(S, "atleast_2d", np.atleast_2d, [0], [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
combo(S, "atleast_3d", np.atleast_3d, [0], [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5), R(2, 4, 3, 5)])
combo(S, "einsum_transpose", np.einsum, [1], ["ij->ji"], [R(1, 1), R(4, 4), R(3, 4)])
combo(S, "einsum_matmult", np.einsum, [1, 2], ["ij,jk->ik"], [R(2, 3)], [R(3, 4)])
combo(S, "einsum_matmult_broadcast", np.einsum, [1, 2], ["...ij,...jk->...ik"], [R(2, 3), R(2, 2, 3)],
      [R(3, 4), R(2, 3, 4)])
combo(S, "einsum_covsum", np.einsum, [1, 2], ["ijk,lji->lki"], [R(3, 4, 4)], [R(4, 4, 3)])
combo(S, "einsum_ellipses", np.einsum, [1, 2], ["...jk,...lj->...lk", "...,...->..."], [R(4, 4), R(3, 4, 4)],
      [R(4, 4), R(3, 4, 4)])
combo(S, "einsum_ellipses_tail", np.einsum, [1, 2], ["jk...,lj...->lk..."], [R(3, 2), R(3, 2, 4)],
      [R(2, 3), R(2, 3, 4)])
combo(S, "einsum_ellipses_center", np.einsum, [1, 2], ["j...k,lj...->lk..."], [R(2, 2), R(2, 2, 2)],
      [R(2, 2), R(2, 2, 2)])
combo(S, "einsum_three_args", np.einsum, [1, 2], ["ijk,lji,lli->lki"], [R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)])
combo(S, "einsum2_transpose", np.einsum, [0], [R(1, 1), R(4, 4), R(3, 4)], [(0, 1)], [(1, 0)])
combo(S, "einsum2_matmult", np.einsum, [0, 2], [R(2, 3)], [(0, 1)], [R(3, 4)], [(1, 2)], [(0, 2)])
combo(S, "einsum2_matmult_broadcast", np.einsum, [0, 2], [R(2, 3), R(2, 2, 3)], [(Ellipsis, 0, 1)],
      [R(3, 4), R(2, 3, 4)], [(Ellipsis, 1, 2)], [(Ellipsis, 0, 2)])
combo(S, "einsum2_covsum", np.einsum, [0, 2], [R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)], [(3, 2, 0)])
combo(S, "einsum2_three_args", np.einsum, [0, 2, 4], [R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)],
      [R(4, 4, 3)], [(3, 3, 0)], [(3, 2, 0)])
combo(S, "trace", np.trace, [0], [R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)], offset=[-1, 0, 1])
combo(S, "diag", np.diag, [0], [R(5, 5)], k=[-1, 0, 1])
combo(S, "diag_flat", np.diag, [0], [R(5)], k=[-1, 0, 1])
combo(S, "tril", np.tril, [0], [R(5, 5)], k=[-1, 0, 1])
combo(S, "triu", np.triu, [0], [R(5, 5)], k=[-1, 0, 1])
combo(S, "tril_3d", np.tril, [0], [R(5, 5, 4)], k=[-1, 0, 1])
combo(S, "triu_3d", np.triu, [0], [R(5, 5, 4)], k=[-1, 0, 1])
combo(S, "swapaxes", np.swapaxes, [0], [R(3, 4, 5)], axis1=[0, 1, 2], axis2=[0, 1, 2])
combo(S, "rollaxis", np.rollaxis, [0], [R(2, 3, 4)], axis=[0, 1, 2], start=[0, 1, 2, 3])
combo(S, "cross", np.cross, [0, 1], [R(3, 3)], [R(3, 3)], axisa=[-1, 0, 1], axisb=[-1, 0, 1],
      axisc=[-1, 0, 1], axis=[None, -1, 0, 1])
combo(S, "vsplit_2d", np.vsplit, [0], [R(4, 8)], [4, [1, 2]])
combo(S, "vsplit_3d", np.vsplit, [0], [R(4, 4, 4)], [2, [1, 2]])
combo(S, "hsplit_2d", np.hsplit, [0], [R(4, 8)], [4, [1, 2]])
combo(S, "hsplit_3d", np.hsplit, [0], [R(4, 4, 4)], [2, [1, 2]])
combo(S, "dsplit_3d", np.dsplit, [0], [R(4, 4, 4)], [2, [1, 2]])
combo(S, "split_1d", np.split, [0], [R(1), R(7)], [1], axis=[0])
combo(S, "split_2d", np.split, [0], [R(4, 8)], [4, [1, 2]], axis=[0, 1])
combo(S, "split_3d", np.split, [0], [R(4, 4, 4)], [2, [1, 2]], axis=[0, 1, 2])
combo(S, "array_split_1d", np.array_split, [0], [R(1), R(7)], [1, 3], axis=[0])
combo(S, "array_split_2d", np.array_split, [0], [R(7, 7)], [4, [3, 5]], axis=[0, 1])
combo(S, "array_split_3d", np.array_split, [0], [R(7, 7, 7)], [4, [3, 5]], axis=[0, 1, 2])
combo(S, "concatenate_1ist", np.concatenate, [0], [(R(1), R(3))], axis=[0])
combo(S, "concatenate_tuple", np.concatenate, [0], [[R(1), R(3)]], axis=[0])
combo(S, "concatenate_2d", np.concatenate, [0], [(R(2, 2), R(2, 2))], axis=[0, 1])
combo(S, "concatenate_3d", np.concatenate, [0], [(R(2, 2, 2), R(2, 2, 2))], axis=[0, 1, 2])
for _n, _f in [("vstack", np.vstack), ("hstack", np.hstack), ("row_stack", np.vstack),
               ("column_stack", np.column_stack)]:
    # a lone array is a sequence of its rows to these functions (autograd passes one as the first alternative)
    _one = (lambda g: lambda x: g(x))(_f)
    if _n in ("vstack", "row_stack"):
        combo(S, f"{_n}_1d", _one, [0], [R(2)])
        combo(S, f"{_n}_1d", _f, [0], [(R(2), R(2))])
        combo(S, f"{_n}_2d", _one, [0], [R(2, 3)])
        combo(S, f"{_n}_2d", _f, [0], [(R(2, 4), R(1, 4))])
        if _n == "vstack":
            combo(S, f"{_n}_3d", _one, [0], [R(2, 3, 4)])
            combo(S, f"{_n}_3d", _f, [0], [(R(2, 3, 4), R(5, 3, 4))])
    elif _n == "hstack":
        combo(S, "hstack_1d", _one, [0], [R(2)])
        combo(S, "hstack_1d", _f, [0], [(R(2), R(2))])
        combo(S, "hstack_2d", _one, [0], [R(3, 2)])
        combo(S, "hstack_2d", _f, [0], [(R(3, 4), R(3, 5))])
        combo(S, "hstack_3d", _one, [0], [R(2, 3, 4)])
        combo(S, "hstack_3d", _f, [0], [(R(2, 1, 4), R(2, 5, 4))])
    else:
        combo(S, "column_stack_1d", _one, [0], [R(2)])
        combo(S, "column_stack_1d", _f, [0], [(R(2), R(2))])
        combo(S, "column_stack_2d", _one, [0], [R(2, 2)])
        combo(S, "column_stack_2d", _f, [0], [(R(2, 2), R(2, 2))])
combo(S, "stack_1d", np.stack, [0], [(R(2),), (R(2), R(2))], axis=[0, 1])
_conds = [R(3, 4, 5) > 0, R(3, 4, 5) > 0, R(3, 4, 5) > 0]
combo(S, "select", np.select, [1], [_conds], [[R(3, 4, 5), R(3, 4, 5), R(3, 4, 5)]], default=[0.0, 1.1])


# ---- test_numpy.py ----
N = "numpy"


def one(name, f, *args, argnums=None, xfail=None, order2=True):
    _add(N, name, f, list(args), range(len(args)) if argnums is None else argnums, xfail=xfail, order2=order2)


_m1, _m2, _v1, _v2, _v3 = R(10, 11), R(10, 11), R(10), R(11), R(11)
for _i, _a in enumerate([(_m1, _v2), (_m1, _m2.T.copy()), (_v1, _m1), (_v2, _v3)]):
    one(f"dot_{_i}", np.dot, *_a)
for _i, _a in enumerate([(_m1, R()), (R(), _m1), (_v1, R()), (R(), _v1)]):
    one(f"dot_with_floats_{_i}", np.dot, *_a)
one("outer", np.outer, R(11), R(11))
one("max", np.max, R(10, 11))
one("max_axis", lambda x: np.max(x, axis=1), R(3, 4, 5))
one("max_axis_keepdims", lambda x: np.max(x, axis=1, keepdims=True), R(3, 4, 5))
one("min", np.min, R(10, 11))
one("min_axis", lambda x: np.min(x, axis=1), R(3, 4, 5))
one("min_axis_keepdims", lambda x: np.min(x, axis=1, keepdims=True), R(3, 4, 5))
one("sum_1", np.sum, R(10, 11))
one("sum_2", lambda x: np.sum(x, axis=0), R(10, 11))
one("sum_3", lambda x: np.sum(x, axis=0, keepdims=True), R(10, 11))
one("sum_with_axis_tuple", lambda x: np.sum(x, axis=(1, 2)), R(10, 11, 7))
one("flipud", np.flipud, R(10, 11))
one("fliplr", np.fliplr, R(10, 11))
one("rot90", np.rot90, R(10, 11))
one("cumsum_axis0", lambda x: np.cumsum(x, axis=0), R(10, 11))
one("cumsum_axis1", lambda x: np.cumsum(x, axis=1), R(10, 11))
one("cumsum_1d", np.cumsum, R(10))
one("cumsum_no_axis", np.cumsum, R(10, 11))
one("non_numpy_sum", lambda x, y: sum([x, y]), R(10, 11), R(10, 11))
one("mean_1", np.mean, R(10, 11))
one("mean_2", lambda x: np.mean(x, axis=0), R(10, 11))
one("mean_3", lambda x: np.mean(x, axis=0, keepdims=True), R(10, 11))
one("index_ints", lambda x: x[3, 0, 1], R(5, 6, 4))
one("index_slice", lambda x: x[::-1, 2:4, :], R(5, 6, 4))
one("index_lists", lambda x: x[[0, 1, 2], :, :], R(5, 6, 4))
one("index_mixed", lambda x: x[3, 2:, [1, 3]], R(5, 6, 4))
one("vector_slice", lambda x: x[2:4], R(5))
one("index_slice_fanout", lambda x: x[::-1, 2:4, :] + x[::-1, 3:5, :], R(5, 6, 4))
one("index_multiple_slices", lambda x: x[2:6][1:3], R(7))
one("reshape_method", lambda x: x.reshape((5 * 4, 6)), R(5, 6, 4))
one("reshape_call", lambda x: np.reshape(x, (5 * 4, 6)), R(5, 6, 4))
one("reshape_method_nolist", lambda x: x.reshape(5 * 4, 6), R(5, 6, 4))
one("ravel_method", lambda x: x.ravel(), R(5, 6, 4))
one("ravel_call", np.ravel, R(5, 6, 4))
one("flatten_method", lambda x: x.flatten(), R(5, 6, 4))
one("simple_append_list", lambda a, b: np.append([a[0], a[1], a[2]], b), np.array([1.0, 2.0, 3.0]), 4.0)
one("simple_append_arr", np.append, np.array([1.0, 2.0, 3.0]), 4.0)
_A5, _B4 = R(5, 6, 4), R(5, 6, 4)
one("simple_concatenate", lambda x: np.concatenate((_A5, x)), R(4, 6, 4))
one("concatenate_axis_0", lambda x: np.concatenate((_B4, x, _B4)), R(5, 6, 4))
one("concatenate_axis_1", lambda x: np.concatenate((_B4, x, _B4), axis=1), R(5, 6, 4))
one("concatenate_axis_1_unnamed", lambda x: np.concatenate((_B4, x, _B4), 1), R(5, 6, 4))
one("trace", lambda x: np.trace(x, offset=3), R(10, 11))            # autograd draws the offset at random
one("trace2", lambda x: np.trace(x, offset=-4), R(11, 10))
one("split", lambda x: np.split(x, 2)[0], R(10))
one("trace_extradims", lambda x: np.trace(x, offset=2), R(5, 6, 4, 3))
one("diag", np.diag, R(10, 10))
one("transpose", lambda x: x.T, R(8, 8))
one("roll", lambda x: np.roll(x, 2, axis=1), R(4, 5))
one("roll_no_axis", lambda x: np.roll(x, 2), R(4, 5))
one("triu", lambda x: np.triu(x, k=2), R(5, 5))
one("tril", lambda x: np.tril(x, k=2), R(5, 5))
one("clip", lambda x: np.clip(x, a_min=0.1, a_max=1.1), R(5, 5))
one("prod_1", np.prod, R(2, 3) ** 2 / 10.0 + 0.1)
one("prod_2", lambda x: np.prod(x, axis=0), R(2, 3) ** 2 + 0.1)
one("prod_3", lambda x: np.prod(x, axis=0, keepdims=True), R(2, 3) ** 2 + 0.1)
one("prod_4", np.prod, R(7) ** 2 + 0.1)
one("1d_array", lambda x: np.array([x, x * 1.0, x + 2.5]), 3.0)
one("2d_array", lambda x: np.array([[x, x * 1.0, x + 2.5], [x ** 2, x, x / 2.0]]), 3.0)
one("1d_array_fanout", lambda x: (lambda a: a + a)(np.array([x, x * 1.0, x + 2.5])), 3.0)
one("2d_array_fanout", lambda x: (lambda a: a + a)(np.array([[x, x * 1.0, x + 2.5], [x ** 2, x, x / 2.0]])), 3.0)
one("array_from_scalar", np.array, 3.0)
one("array_from_arrays", lambda x: np.array([x, x]), R(3, 2))
one("array_from_arrays_2", lambda x: np.array([[2 * x, x + 1], [x, x]]), R(3, 2))
one("len", lambda x: x if len(x) == 3 else None, R(3, 2))
_c32, _c10 = R(3, 2), R(10)
one("r_basic", lambda x: np.r_[x], R(3, 2))
one("r_double", lambda x: np.r_[x, x], R(3, 2))
one("no_relation", lambda x: _c32, R(3, 2))
one("r_no_relation", lambda x: np.r_[_c32], R(3, 2))
one("r_node_and_const", lambda x: np.r_[x, _c32], R(3, 2))
one("r_mixed", lambda x: np.r_[x, _c32, x], R(3, 2))
one("r_slicing", lambda x: np.r_[x, _c10, 1:10], R(10))
one("c_", lambda x: np.c_[x, _c32, x], R(3, 2))
one("c_mixed", lambda x: np.c_[x, _c32, x], R(3, 2))
_B, _C, _D = R(3), R(3, 4), R(1, 3)
for _n, _f in [("var_ddof", np.var), ("std_ddof", np.std)]:
    combo(N, _n, _f, [0], [_B, _C, _D], axis=[None], keepdims=[True, False], ddof=[0, 1])
    combo(N, _n, _f, [0], [_C, _D], axis=[None, 1], keepdims=[True, False], ddof=[2])
_cond = R(4, 5) > 0
one("where", lambda x, y: np.where(_cond, x, y), R(4, 5), R(4, 5))
one("squeeze_func", np.squeeze, R(5, 1, 4))
one("squeeze_method", lambda x: x.squeeze(), R(5, 1, 4))
one("repeat", lambda x: np.repeat(x, 2, axis=1), R(5, 3, 4))
one("repeat_axis1_rep1", lambda x: np.repeat(x, 1, axis=1), R(5, 3, 4))
one("repeat_axis0", lambda x: np.repeat(x, 2, axis=0), R(5, 3))
one("repeat_1d_axis0", lambda x: np.repeat(x, 2, axis=0), R(5))
one("repeat_axis0_rep1", lambda x: np.repeat(x, 1, axis=0), R(5, 1))
one("expand_dims", lambda x: np.expand_dims(x, 2), R(5, 1, 4))
one("tensordot_kwargs_by_position", lambda x: np.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2), 1.0)
one("multi_index", lambda x: np.sum(x[[0, 0]]), R(3))
one("multi_index2", lambda x: np.sum(x[[0, 1, 0]]), R(3))
one("index_dot_slices", lambda x: np.dot(x[:2], x[2:]), R(4))
_ones51 = np.ones(5)[:, None]


def _cast_to_int(w):
    # autograd's row: glue index columns on, split them off again, and index with them cast to int
    w = np.concatenate((w, _ones51), axis=1)
    return w[:, :-2][w[:, -1].astype(np.int64)].sum()


one("cast_to_int", _cast_to_int, R(5, 10))
one("make_diagonal", lambda d: d[..., :, None] * np.eye(d.shape[-1]), R(4))      # np.make_diagonal is
one("make_diagonal_batched", lambda d: d[..., :, None] * np.eye(d.shape[-1]), R(3, 4))  # autograd's own
one("diagonal", lambda d: np.diagonal(d, axis1=-1, axis2=-2), R(4, 4))
one("diagonal_batched", lambda d: np.diagonal(d, axis1=-1, axis2=-2), R(3, 4, 4))
_nan_inf = np.array([0.0, np.nan, np.inf, -np.inf])
one("nan_to_num", lambda x: np.sum(np.sin(np.nan_to_num(x + _nan_inf))), R(4))
one("max_equal_values", lambda x: np.max(np.array([x, x])), 1.0)
for _s in (1.0, -1.0):
    one(f"max_equal_values_2d[{_s}]", lambda x: np.max(np.array([[x, x], [x, 0.5]]), axis=1), _s)
    one(f"min_3_way_equality[{_s}]", lambda x: np.min(np.array([[x, x, x], [x, 0.5, 0.5], [0.5, 0.5, 0.5],
                                                                 [x, x, 0.5]]), axis=0), _s)
one("maximum_equal_values", lambda x: np.maximum(x, x), 1.0)
for _s in (1.0, -1.0, 2.0):
    one(f"maximum_equal_values_2d[{_s}]", lambda x: np.maximum(np.array([x, x, 0.5]),
                                                                np.array([[x, 0.5, x], [x, x, 0.5]])), _s)
for _num in (0, 1, 5):
    for _a, _b in [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)]:
        one(f"linspace[{_num},{_a},{_b}]", (lambda n: lambda x, y: np.linspace(x, y, n))(_num), _a, _b)
one("astype", lambda x: np.sum(np.sin(x.astype("float64"))), np.arange(3, dtype=np.float64))


# ---- test_scalar_ops.py (3.0 * f(x) at a scalar; autograd also checks the derivative, our order-2 check) ----
for _n, _f, _xs in [("abs", np.abs, (1.1, -1.1)), ("sin", np.sin, (R(),)), ("sign", np.sign, (1.1, -1.1)),
                    ("exp", np.exp, (R(),)), ("log", np.log, (abs(R()),)), ("neg", np.negative, (R(),)),
                    ("cos", np.cos, (R(),)), ("tan", np.tan, (R(),)), ("cosh", np.cosh, (R(),)),
                    ("sinh", np.sinh, (R(),)), ("tanh", np.tanh, (R(),))]:
    for _x in _xs:
        _add("scalar_ops", f"{_n}[{float(_x):.3g}]", (lambda g: lambda x: 3.0 * g(x))(_f), [float(_x)], [0])


# ---- test_binary_ops.py (every pair of a scalar, a vector and two matrices; to_scalar is sum of sin) ----
_pairs = [2.0, R(6), R(7, 6), R(1, 6)]
for _n, _op, _prep in [("mul", lambda x, y: x * y, (None, None)), ("add", lambda x, y: x + y, (None, None)),
                       ("sub", lambda x, y: x - y, (None, None)),
                       ("div", lambda x, y: x / y, (lambda a: np.sqrt(a ** 2 + 0.5),) * 2),
                       ("pow", lambda x, y: x ** y, (lambda a: np.abs(a) + 1.1, np.round))]:
    for _a, _b in itertools.product(_pairs, _pairs):
        _a2 = _prep[0](np.asarray(_a)) if _prep[0] else _a
        _b2 = _prep[1](np.asarray(_b)) if _prep[1] else _b
        _add("binary_ops", f"{_n}[{_short(np.asarray(_a))},{_short(np.asarray(_b))}]",
             (lambda g: lambda x, y: np.sum(np.sin(g(x, y))))(_op),
             [np.asarray(_a2, np.float64), np.asarray(_b2, np.float64)], [0, 1])


# ---- test_core.py (scalars 0.7 and 1.8; comparisons have a value and no gradient) ----
for _n, _op in [("add", lambda x, y: x + y), ("sub", lambda x, y: x - y), ("div", lambda x, y: x / y),
                ("mul", lambda x, y: x * y), ("pow", lambda x, y: x ** y), ("mod", lambda x, y: x % y),
                ("eq", lambda x, y: x == y), ("neq", lambda x, y: x != y), ("leq", lambda x, y: x <= y),
                ("geq", lambda x, y: x >= y), ("lt", lambda x, y: x < y), ("gt", lambda x, y: x > y)]:
    _add("core", _n, _op, [0.7, 1.8], [0, 1])


# ---- test_truediv.py (x / y over test_binary_ops' pairs, kept away from zero) ----
for _a, _b in itertools.product(_pairs, _pairs):
    _gap = lambda a: np.sqrt(np.asarray(a, np.float64) ** 2 + 0.5)      # noqa: E731
    _add("truediv", f"div[{_short(np.asarray(_a))},{_short(np.asarray(_b))}]", lambda x, y: x / y,
         [_gap(_a), _gap(_b)], [0, 1])


# ---- test_logic.py (the rows about autograd's own primitive-definition API have no counterpart here) ----
def _asserting(x):
    assert np.allclose(x, (x * 3.0) / 3.0)
    return np.sum(x)


_add("logic", "assert", _asserting, [np.array([1.0, 2.0, 3.0])], [0])
_falsey = lambda x: np.real(x ** 2 if np.iscomplex(x) else np.sum(x))     # noqa: E731
_add("logic", "falseyness", _falsey, [2.0], [0])
_add("logic", "falseyness[complex]", _falsey, [np.asarray(2.0 + 1j)], [0], order2=False)


# ---- test_linalg.py (norms are compositions; the decompositions are primitives/linalg_decomp.py's) ----
L = "linalg"


def _sym(a):
    low = np.tril(a)
    return (low + np.swapaxes(low, -1, -2)) / 2.0


def _psd(d):
    m = R(d, d)
    return m @ m.T


_m = R(8, 8)
_add(L, "inv", np.linalg.inv, [_m @ _m + np.eye(8)], [0])
_add(L, "inv_3d", np.linalg.inv, [R(4, 4, 4) + 5 * np.eye(4)], [0])
_add(L, "inv_4d", np.linalg.inv, [R(4, 4, 4, 4) + 5 * np.eye(4)], [0])
_B7, _B8, _A6, _B35, _B356 = R(8, 7), R(8), R(6, 6) + np.eye(6), R(5, 4), R(5, 4, 6)
_add(L, "solve_arg1", lambda a: np.linalg.solve(a, _B7), [R(8, 8) + 10 * np.eye(8)], [0])
_add(L, "solve_arg1_1d", lambda a: np.linalg.solve(a, _B8), [R(8, 8) + 10 * np.eye(8)], [0])
_add(L, "solve_arg2", lambda b: np.linalg.solve(_A6, b), [R(6, 5)], [0])
_add(L, "solve_arg1_3d", lambda a: np.linalg.solve(a, _B35[..., None])[..., 0], [R(5, 4, 4) + 5 * np.eye(4)], [0])
_add(L, "solve_arg1_3d_3d", lambda a: np.linalg.solve(a, _B356), [R(5, 4, 4) + 5 * np.eye(4)], [0])
_add(L, "det", np.linalg.det, [R(6, 6)], [0])
_add(L, "det_3d", np.linalg.det, [R(3, 3, 3)], [0])
_sl = R(6, 6)
# this draw has condition number 3.9e3: the second derivatives of log|det| vary fast enough that the central
# difference's truncation error at check_grads' default step (1e-5, error ~ step^2) exceeds its rtol; 1e-6 does not
_FINE = {"eps": 1e-6}
_add(L, "slogdet", lambda x: np.linalg.slogdet(x)[1], [_sl], [0], order2=_FINE)
_add(L, "slogdet_neg", lambda x: np.linalg.slogdet(x)[1], [-_sl], [0], order2=_FINE)
_add(L, "slogdet_3d", lambda x: np.sum(np.linalg.slogdet(x)[1]),
     [np.stack([_psd(5) + 5 * np.eye(5) for _ in range(3)])], [0])
_add(L, "vector_2norm", np.linalg.norm, [R(6)], [0])
_add(L, "frobenius_norm", np.linalg.norm, [R(6, 5)], [0])
_add(L, "frobenius_norm_axis", lambda x: np.linalg.norm(x, axis=(0, 1)), [R(6, 5, 4)], [0])
for _o in range(2, 5):
    _add(L, f"vector_norm_ord[{_o}]", (lambda o: lambda x: np.linalg.norm(x, ord=o))(_o), [R(6)], [0])
for _ax in range(3):
    _add(L, f"norm_axis[{_ax}]", (lambda a: lambda x: np.linalg.norm(x, axis=a))(_ax), [R(6, 5, 4)], [0])
_add(L, "norm_nuclear", lambda x: np.linalg.norm(x, ord="nuc"), [R(6, 5)], [0])
_add(L, "norm_nuclear_axis", lambda x: np.linalg.norm(x, ord="nuc", axis=(0, 1)), [R(6, 5, 4)], [0])
_h = _psd(6)
_hb = np.einsum("...ij,...kj->...ik", *(2 * [R(2, 3, 6, 6) + 10 * np.eye(6)]))
for _n, _uplo, _x in [("eigvalh_lower", "L", _h), ("eigvalh_upper", "U", _h), ("eigvalh_lower_broadcasting", "L", _hb),
                      ("eigvalh_upper_broadcasting", "U", _hb)]:
    _add(L, _n, (lambda u: lambda x: tuple(np.linalg.eigh(_sym(x), u)))(_uplo), [_x], [0])
_add(L, "cholesky", lambda a: np.linalg.cholesky(_sym(a)), [_psd(6)], [0])
_add(L, "cholesky_broadcast", lambda a: np.linalg.cholesky(_sym(a)), [np.stack([_psd(6) for _ in range(3)])], [0])
_z6 = np.random.default_rng(0).standard_normal(6)
_add(L, "cholesky_reparameterization_trick", lambda a: np.linalg.norm(np.linalg.cholesky(_sym(a)) @ _z6),
     [_psd(6)], [0])
for _n, _shape in [("svd_wide_2d", (3, 5)), ("svd_wide_3d", (4, 3, 5)), ("svd_square_2d", (4, 4)),
                   ("svd_square_3d", (3, 4, 4)), ("svd_tall_2d", (5, 3)), ("svd_tall_3d", (4, 5, 3))]:
    _add(L, _n, lambda x: tuple(np.linalg.svd(x, full_matrices=False)), [R(*_shape)], [0])
for _n, _shape in [("svd_only_s_2d", (5, 3)), ("svd_only_s_3d", (4, 5, 3))]:
    _add(L, _n, lambda x: np.linalg.svd(x, full_matrices=False, compute_uv=False), [R(*_shape)], [0])


# ---- test_scipy.py (scipy.special's ufuncs are traced; logsumexp, convolve and scipy.stats reach vive through
# compiler/scipy_wrap.py, as SciPy's own functions convert with np.asarray) ----
SC = "scipy"
SCIPY_MISSING = "scipy.special.{}: no vive implementation (it would need its own primitive or series)"
_NOT_YET = set()
for _n, _lims in [("erf", (-3.0, 3.0)), ("erfc", (-3.0, 3.0)), ("logit", (0.1, 0.9)), ("expit", (-4.05, 4.95))]:
    _f = getattr(scipy.special, _n)
    combo(SC, _n, _f, [0], [U(_lims), U(_lims, 2), U(_lims, 3, 2), U(_lims, 1, 2)])
    if _n in ("erf", "erfc"):
        _add(SC, f"{_n}[complex]", _f, [U(_lims, 3, 2) + 0.1j * U(_lims, 3, 2)], [0], order2=False)
for _n, _lims in [("psi", (0.3, 2.0)), ("digamma", (0.3, 2.0)), ("gamma", (0.3, 2.0)), ("gammaln", (0.3, 2.0)),
                  ("gammasgn", (0.3, 2.0)), ("rgamma", (0.3, 2.0)), ("j0", (0.2, 20.0)), ("j1", (0.2, 20.0)),
                  ("y0", (0.2, 20.0)), ("y1", (0.2, 20.0)), ("i0", (0.2, 20.0)), ("i1", (0.2, 20.0)),
                  ("erfinv", (-0.95, 0.95)), ("erfcinv", (0.05, 1.95))]:
    _ok = _n == "erfinv"          # a primitive (compiler/primitives/elementwise.py); the rest are missing
    combo(SC, _n, getattr(scipy.special, _n), [0], [U(_lims), U(_lims, 2), U(_lims, 3, 2), U(_lims, 1, 2)],
          xfail=SCIPY_MISSING.format(_n) if _n in _NOT_YET else None, order2=_ok)
_pos4 = lambda: R(4) ** 2 + 1.1     # noqa: E731
for _n, _args, _nums in [("beta", [_pos4(), _pos4()], [0, 1]), ("betaln", [_pos4(), _pos4()], [0, 1]),
                         ("betainc", [_pos4(), _pos4(), U((0.0, 1.0), 4)], [2]),
                         ("gammainc", [1, R(4) ** 2 + 1.3], [1]), ("gammaincc", [1, R(4) ** 2 + 1.3], [1]),
                         ("polygamma", [0, R(4) ** 2 + 1.3], [1]), ("jn", [2, R(4) ** 2 + 1.3], [1]),
                         ("yn", [2, R(4) ** 2 + 1.3], [1]), ("iv", [U((1.0, 50.0), 4), R(4) ** 2 + 1.3], [1]),
                         ("ive", [U((1.0, 50.0), 4), R(4) ** 2 + 1.3], [1])]:
    combo(SC, _n, getattr(scipy.special, _n), _nums, *[[a] for a in _args],
          xfail=SCIPY_MISSING.format(_n) if _n in _NOT_YET else None, order2=False)
combo(SC, "multigammaln", scipy.special.multigammaln, [0], [U((4.0, 5.0)), U((4.0, 5.0), 2, 3)], [1, 2, 3],
      order2=False)
combo(SC, "logsumexp1", scipy.special.logsumexp, [0], [np.array([1.1]), R(4), R(3, 4)], axis=[None, 0],
      keepdims=[True, False], order2=False)
combo(SC, "logsumexp2", scipy.special.logsumexp, [0], [R(3, 4), R(4, 5, 6), R(1, 5)], axis=[None, 0, 1],
      keepdims=[True, False], order2=False)
combo(SC, "logsumexp3", scipy.special.logsumexp, [0], [R(4)], b=[np.exp(R(4))], axis=[None, 0],
      keepdims=[True, False], order2=False)
combo(SC, "logsumexp4", scipy.special.logsumexp, [0], [R(3, 4)], b=[np.exp(R(3, 4))], axis=[None, 0, 1],
      keepdims=[True, False], order2=False)
combo(SC, "logsumexp5", scipy.special.logsumexp, [0], [R(2, 3, 4)], b=[np.exp(R(2, 3, 4))], axis=[None, 0, 1],
      keepdims=[True, False], order2=False)
_add(SC, "logsumexp6", lambda a: scipy.special.logsumexp(a, axis=1, keepdims=True), [R(1, 5)], [0],
     order2=False)
_p41, _p21 = lambda *s: R(*s) ** 2 + 1.1, lambda *s: R(*s) ** 2 + 2.1     # noqa: E731
_u01 = lambda *s: U((0.05, 0.95), *s)       # noqa: E731
_STATS = [  # (name, distribution method, argnums, argument alternatives)
    ("chi2_pdf", "chi2.pdf", [0], [[_p41(4)], [1, 2, 3]]), ("chi2_cdf", "chi2.cdf", [0], [[_p41(4)], [1, 2, 3]]),
    ("chi2_logpdf", "chi2.logpdf", [0], [[_p41(4)], [1, 2, 3]]),
    ("beta_cdf", "beta.cdf", [0], [[U((0.0, 1.0), 4)], [_p41(4)], [_p41(4)]]),
    ("beta_pdf", "beta.pdf", [0, 1, 2], [[U((0.0, 1.0), 4)], [_p41(4)], [_p41(4)]]),
    ("beta_logpdf", "beta.logpdf", [0, 1, 2], [[U((0.0, 1.0), 4)], [_p41(4)], [_p41(4)]]),
    ("gamma_cdf", "gamma.cdf", [0], [[_p41(4)], [_p41(4)]]),
    ("gamma_pdf", "gamma.pdf", [0, 1], [[_p41(4)], [_p41(4)]]),
    ("gamma_logpdf", "gamma.logpdf", [0, 1], [[_p41(4)], [_p41(4)]])]
for _m in ["pdf", "cdf", "sf", "logpdf", "logcdf", "logsf"]:
    _STATS.append((f"norm_{_m}", f"norm.{_m}", [0, 1, 2], [[R(4)], [R(4)], [_p41(4)]]))
for _m in ["ppf", "isf"]:
    _STATS.append((f"norm_{_m}", f"norm.{_m}", [0, 1, 2], [[_u01(4)], [R(4)], [_p41(4)]]))
for _m, _as in [("pdf", "pdf"), ("cdf", "cdf"), ("sf", "cdf"), ("logpdf", "logpdf"), ("logcdf", "logcdf"),
                ("logsf", "logcdf")]:                 # autograd's *_sf/_logsf_broadcast rows call cdf/logcdf
    _STATS.append((f"norm_{_m}_broadcast", f"norm.{_as}", [0, 1, 2], [[R(4, 3)], [R(1, 3)], [_p41(4, 1)]]))
for _m in ["ppf", "isf"]:
    _STATS.append((f"norm_{_m}_broadcast", f"norm.{_m}", [0, 1, 2], [[_u01(4, 3)], [R(1, 3)], [_p41(4, 1)]]))
for _m in ["cdf", "logpmf", "pmf"]:
    _STATS.append((f"poisson_{_m}", f"poisson.{_m}", [1], [[np.round(R(4) ** 2)], [_p41(4)]]))
    _STATS.append((f"poisson_{_m}_broadcast", f"poisson.{_m}", [1], [[np.round(R(4, 3) ** 2)], [_p41(4, 1)]]))
for _m, _nums in [("pdf", [0, 1, 2, 3]), ("cdf", [0, 2]), ("logpdf", [0, 1, 2, 3]), ("logcdf", [0, 2])]:
    _STATS.append((f"t_{_m}", f"t.{_m}", _nums, [[R(4)], [_p21(4)], [R(4)], [_p21(4)]]))
    _STATS.append((f"t_{_m}_broadcast", f"t.{_m}", _nums, [[R(4, 3)], [_p21(1, 3)], [R(4, 3)], [_p21(4, 1)]]))
for _n, _meth, _nums, _alts in _STATS:
    _dist, _fn = _meth.split(".")
    combo(SC, _n, getattr(getattr(scipy.stats, _dist), _fn), _nums, *_alts, order2=False)
_psd4 = (lambda m: m.T @ m + np.eye(4))(R(4, 4))
for _n, _f, _args, _nums in [
        ("mvn_pdf", scipy.stats.multivariate_normal.pdf, [R(4), R(4), _psd4], [0, 1, 2]),
        ("mvn_logpdf", scipy.stats.multivariate_normal.logpdf, [R(4), R(4), _psd4], [0, 1, 2]),
        ("mvn_entropy", scipy.stats.multivariate_normal.entropy, [10 * R(4), _psd4], [0, 1]),
        ("mvn_pdf_broadcast", scipy.stats.multivariate_normal.pdf, [R(5, 4), R(4), _psd4], [0, 1, 2]),
        ("mvn_logpdf_broadcast", scipy.stats.multivariate_normal.logpdf, [R(5, 4), R(4), _psd4], [0, 1, 2])]:
    _add(SC, _n, _f, _args, _nums, order2=False)
_alpha = _RNG.random(4) ** 2 + 1.2
_xd = _RNG.dirichlet(_alpha)
_add(SC, "dirichlet_pdf_x", lambda x: scipy.stats.dirichlet.pdf(x / np.sum(x), _alpha), [_xd], [0], order2=False)
_add(SC, "dirichlet_pdf_alpha", lambda a: scipy.stats.dirichlet.pdf(_xd, a), [_alpha], [0], order2=False)
_add(SC, "dirichlet_logpdf_x", lambda x: scipy.stats.dirichlet.logpdf(x / np.sum(x), _alpha), [_xd], [0], order2=False)
_add(SC, "dirichlet_logpdf_alpha", lambda a: scipy.stats.dirichlet.logpdf(_xd, a), [_alpha], [0], order2=False)
combo(SC, "convolve", scipy.signal.convolve, [0, 1], [R(4), R(5), R(6)], [R(2), R(3), R(4)],
      mode=["full", "valid", "same"], order2=False)
combo(SC, "convolve_2d", scipy.signal.convolve, [0, 1], [R(4, 3), R(5, 4), R(6, 7)],
      [R(2, 2), R(3, 2), R(4, 2), R(4, 1)], mode=["full", "valid", "same"], order2=False)
# (this draw's symmetrized matrix has a negative eigenvalue, -1.30: SciPy's root is complex, and vive's compiled
# function retraces with the complex root when its value guard fails: compiler/value_guard.py)
_add(SC, "sqrtm", lambda a: scipy.linalg.sqrtm(0.5 * (a + a.T)), [R(3, 3) @ R(3, 3).T + 3 * np.eye(3)], [0],
     order2=False)
_add(SC, "solve_sylvester", scipy.linalg.solve_sylvester, [R(3, 3), R(3, 3), R(3, 3)], [0, 1, 2],
     order2=False)
