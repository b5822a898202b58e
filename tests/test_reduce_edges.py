"""Every reduction the tracer supports, over every supported dtype, at the dtype's extreme values (iinfo min/max,
finfo max, ±inf, NaN, -0.0, subnormals, ties) and over empty axes, compiled, against NumPy: values, dtypes, the
first-index rule of argmin/argmax, NaN propagation, and NumPy's exception where it raises one. One compile per
(dtype, shape): each function returns every reduction at every axis as one pytree."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import compiler as cc

F32, F64, I32, I64, B = np.float32, np.float64, np.int32, np.int64, np.bool_
DTYPES = [F32, F64, I32, I64, B]


def _no_keep(fn):
    return lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims)


# name -> (fn(x, axis, keepdims), takes only a single axis, exact): the spellings users write (methods, np.*)
REDUCTIONS = {
    "sum": (lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims), False, False),
    "mean": (_no_keep(np.mean), False, False),
    "var": (_no_keep(np.var), False, False),
    "std": (lambda x, axis, keepdims: x.std(axis=axis, keepdims=keepdims), False, False),
    "var_ddof1": (lambda x, axis, keepdims: np.var(x, axis=axis, ddof=1, keepdims=keepdims), False, False),
    "max": (lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), False, True),
    "min": (_no_keep(np.min), False, True),
    "amax": (_no_keep(np.amax), False, True),
    "amin": (lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims), False, True),
    "argmax": (_no_keep(np.argmax), True, True),
    "argmin": (lambda x, axis, keepdims: x.argmin(axis=axis, keepdims=keepdims), True, True),
    "any": (_no_keep(np.any), False, True),
    "all": (lambda x, axis, keepdims: x.all(axis=axis, keepdims=keepdims), False, True),
}


def _axes(ndim):
    return [None] + list(range(ndim)) + [-1] + ([(0, ndim - 1)] if ndim >= 2 else [])


def _cases(ndim):
    for name, (_, single, _) in REDUCTIONS.items():
        for axis in _axes(ndim):
            if single and isinstance(axis, tuple):
                continue
            for keepdims in (False, True):
                yield name, axis, keepdims


def _numpy(name, x, axis, keepdims):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(REDUCTIONS[name][0](x, axis, keepdims))


def _extremes(dt):
    """Arrays of shape (3, 4) holding the dtype's extreme values, ties and (floats) NaNs in various places."""
    if dt is B:
        return [np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], B),
                np.array([[0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 1]], B)]
    if np.issubdtype(dt, np.integer):
        lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
        return [np.array([[lo, 0], [hi, lo]] * 3, dt).reshape(3, 4),
                np.array([[lo, hi, 0, -1], [hi, hi, lo, lo], [1, lo, 1, hi]], dt),
                np.array([[lo] * 4, [hi] * 4, [0, -1, 0, -1]], dt),
                np.array([[0, lo, lo, 0], [lo, 0, 0, lo], [hi, -1, hi, 0]], dt)]
    fi = np.finfo(dt)
    big, tiny, inf, nan = fi.max, fi.smallest_subnormal, np.inf, np.nan
    return [np.array([[nan, 1, -inf, 2], [-0.0, 0.0, inf, -1], [big, -big, tiny, -tiny]], dt),
            np.array([[-inf, -inf, 3, 3], [inf, 1, inf, -2], [-0.0, -0.0, -0.0, -0.0]], dt),
            np.array([[1, nan, 3, nan], [nan, nan, nan, nan], [2, 2, nan, 2]], dt),
            np.array([[-inf] * 4, [-big] * 4, [tiny, 0.0, tiny, -0.0]], dt),
            np.array([[0.0, -0.0, 0.0, -0.0], [-0.0, -0.0, -0.0, -0.0], [0.0, 0.0, 0.0, 0.0]], dt),
            np.array([[big, big, -big, -big], [1e-30, -1e-30, 0.5, -0.5], [7, -7, 7, -7]], dt),
            np.array([[1e30, -1e30, 3, 1e-30], [1e-38, -0.0, 2.5, inf], [-1e30, -inf, 1e30, 0.1]], dt)]


def _compile_all(ndim, shape):
    cases = [c for c in _cases(ndim) if _raises(c, shape) is None]

    def f(x):
        return [REDUCTIONS[name][0](x, axis, keepdims) for name, axis, keepdims in cases]
    return cases, cc.compile(f)


def _raises(case, shape):
    name, axis, keepdims = case
    try:
        _numpy(name, np.zeros(shape), axis, keepdims)
    except Exception as e:          # noqa: BLE001  (whatever NumPy raises is what vive must raise)
        return type(e)
    return None


# the scale that bounds a sum's rounding error: the same reduction of |x| (of x*x for var/std), in float64
_SCALE = {"sum": lambda a, ax, kd: np.sum(np.abs(a), axis=ax, keepdims=kd),
          "mean": lambda a, ax, kd: np.mean(np.abs(a), axis=ax, keepdims=kd),
          "var": lambda a, ax, kd: np.mean(a * a, axis=ax, keepdims=kd),
          "std": lambda a, ax, kd: np.sqrt(np.mean(a * a, axis=ax, keepdims=kd))}
_SCALE["var_ddof1"] = _SCALE["var"]


def _assert_same(got, want, name, ctx, x=None, axis=None, keepdims=False):
    """Exact reductions (min, max, arg*, any, all, integer sums) bit for bit; float sums within 16 ulp of the
    magnitude of their terms (NumPy's pairwise order and ours round differently), NaN and +-inf in the same
    places. Zeros of min/max keep NumPy's sign."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{ctx}: dtype {got.dtype} != NumPy's {want.dtype}"
    assert got.shape == want.shape, f"{ctx}: shape {got.shape} != NumPy's {want.shape}"
    if REDUCTIONS[name][2] or not np.issubdtype(want.dtype, np.floating):
        np.testing.assert_array_equal(got, want, err_msg=ctx)
    else:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{ctx}: NaN positions")
        np.testing.assert_array_equal(np.isinf(got) * np.sign(got), np.isinf(want) * np.sign(want),
                                      err_msg=f"{ctx}: inf positions")
        fin = np.isfinite(want)
        with np.errstate(all="ignore"):
            scale = _SCALE[name](np.asarray(x, np.float64), axis, keepdims)
            err = np.abs(got.astype(np.float64) - want)
        tol = 16 * np.finfo(want.dtype).eps * scale + np.finfo(want.dtype).smallest_subnormal
        assert np.all(err[fin] <= tol[fin] if np.ndim(fin) else (err <= tol or not fin)), \
            f"{ctx}: got {got}, NumPy {want}, error bound {tol}"
    if name in ("max", "min", "amax", "amin") and np.issubdtype(want.dtype, np.floating):
        zeros = want == 0
        np.testing.assert_array_equal(np.signbit(got) & zeros, np.signbit(want) & zeros,
                                      err_msg=f"{ctx}: sign of zero")


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_reduction_at_the_extremes_of_every_dtype(dt):
    cases, f = _compile_all(2, (3, 4))
    for k, x in enumerate(_extremes(dt)):
        outs = f(x)
        overflows = np.issubdtype(dt, np.floating) and np.any(np.abs(x) == np.finfo(dt).max)
        for (name, axis, keepdims), got in zip(cases, outs):
            if overflows and not REDUCTIONS[name][2]:
                continue          # finfo.max + finfo.max overflows or not depending on the order of a sum
            want = _numpy(name, x, axis, keepdims)
            if name in ("max", "min", "amax", "amin") and np.issubdtype(dt, np.floating):
                # +0.0 and -0.0 in one reduction are equal: NumPy's sign then depends on its SIMD path
                neg, pos = np.signbit(x) & (x == 0), ~np.signbit(x) & (x == 0)
                mixed = np.any(neg, axis=axis, keepdims=keepdims) & np.any(pos, axis=axis, keepdims=keepdims)
                want = np.where(mixed & (want == 0), got, want).astype(want.dtype)
            _assert_same(got, want, name, f"{name}(axis={axis}, keepdims={keepdims}) of array {k}:\n{x}",
                         x, axis, keepdims)


@pytest.mark.parametrize("dt", [F32, I64], ids=lambda d: np.dtype(d).name)
def test_reductions_over_axis_tuples_of_a_3d_array(dt):
    rng = np.random.default_rng(1)
    if dt is F32:
        x = rng.choice(np.array([np.nan, np.inf, -np.inf, -0.0, 1, 2, 3], dt), size=(2, 3, 5))
    else:
        x = rng.choice(np.array([np.iinfo(dt).min, np.iinfo(dt).max, 0, -1], dt), size=(2, 3, 5))
    names = ["sum", "max", "min", "any", "all", "mean"]
    axes = [(0, 2), (1, 2), (0, 1), (2, 0), (-1, 0), None]

    def f(x):
        return [REDUCTIONS[n][0](x, a, kd) for n in names for a in axes for kd in (False, True)]
    outs = cc.compile(f)(x)
    k = 0
    for n in names:
        for a in axes:
            for kd in (False, True):
                _assert_same(outs[k], _numpy(n, x, a, kd), n, f"{n}(axis={a}, keepdims={kd})", x, a, kd)
                k += 1


@pytest.mark.parametrize("shape", [(0, 4), (3, 0), (0,), (0, 0)])
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_empty_axes_give_numpys_result_or_its_exception(dt, shape):
    """sum 0, mean/var nan, any False, all True; max/min/argmax/argmin over a size-0 axis raise ValueError."""
    x = np.zeros(shape, dt)
    ndim = len(shape)
    raising = [(c, e) for c in _cases(ndim) if (e := _raises(c, shape)) is not None]
    assert raising or shape == (3, 0)               # the table does exercise NumPy's errors
    for (name, axis, keepdims), exc in raising:
        with pytest.raises(exc):
            cc.compile(lambda x: REDUCTIONS[name][0](x, axis, keepdims))(x)
    cases, f = _compile_all(ndim, shape)
    for (name, axis, keepdims), got in zip(cases, f(x)):
        want = _numpy(name, x, axis, keepdims)
        ctx = f"{name}(axis={axis}, keepdims={keepdims}) of {dt.__name__}{list(shape)}"
        assert np.asarray(got).dtype == want.dtype and np.shape(got) == want.shape, ctx
        np.testing.assert_array_equal(got, want, err_msg=ctx)


def test_zero_size_max_names_numpys_reduction():
    x = np.zeros((0, 3), F32)
    for fn, word in ((lambda x: x.max(axis=0), "maximum"), (lambda x: np.min(x, axis=0), "minimum"),
                     (lambda x: x.argmax(axis=0), "argmax"), (np.argmin, "argmin")):
        with pytest.raises(ValueError, match=word):
            cc.compile(fn)(x)


# ---- the reproducers of issue 17 ----

def test_min_and_argmin_at_int32_min():
    x = np.array([-2 ** 31, 0], np.int32)
    assert cc.compile(lambda x: x.min())(x) == -2 ** 31
    assert cc.compile(np.argmin)(x) == 0


def test_min_and_argmin_at_int64_min_along_an_axis():
    lo = np.iinfo(I64).min
    x = np.array([[lo, 0, 5], [5, lo, lo], [0, 0, 0]], I64)
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(cc.compile(lambda x: x.min(axis=axis))(x), x.min(axis=axis))
        np.testing.assert_array_equal(cc.compile(lambda x: np.argmin(x, axis=axis))(x), np.argmin(x, axis=axis))


def test_max_and_argmax_at_iinfo_max_and_min():
    for dt in (I32, I64):
        lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
        x = np.array([[lo, lo, lo], [hi, 0, hi], [lo, hi, hi]], dt)
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(cc.compile(lambda x: x.max(axis=axis))(x), x.max(axis=axis))
            np.testing.assert_array_equal(cc.compile(lambda x: x.argmax(axis=axis))(x), x.argmax(axis=axis))


def test_max_over_a_size_zero_axis_raises_like_numpy():
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum|maximum which has no"):
        cc.compile(lambda x: x.max(axis=0))(np.zeros((0, 3), F32))
    np.testing.assert_array_equal(cc.compile(lambda x: x.max(axis=1))(np.zeros((0, 3), F32)), np.zeros(0, F32))


def test_argmax_and_argmin_return_the_first_nan_like_numpy():
    x = np.array([[1, np.nan, 3, np.nan], [np.inf, -np.inf, np.nan, 0], [2, 2, -1, -1]], F32)
    for fn in (np.argmax, np.argmin):
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(cc.compile(lambda x: fn(x, axis=axis))(x), fn(x, axis=axis))


# ---- gradients at the extremes (closed forms in float64; ties split the gradient evenly, as in JAX) ----

def _closed_form_grad(name, x, axis, w):
    x = x.astype(np.float64)
    n = x.size if axis is None else x.shape[axis]
    wb = w if axis is None else np.expand_dims(w, axis)
    if name == "sum":
        return np.broadcast_to(wb, x.shape)
    if name == "mean":
        return np.broadcast_to(wb / n, x.shape)
    if name in ("max", "min"):
        r = (x.max if name == "max" else x.min)(axis=axis, keepdims=True)
        mask = (x == r).astype(np.float64)
        return wb * mask / mask.sum(axis=axis, keepdims=True)
    d = x - x.mean(axis=axis, keepdims=True)
    if name == "var":
        return wb * 2 * d / n
    return wb * d / (n * np.sqrt((d * d).mean(axis=axis, keepdims=True)))        # std


_GRAD_REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "var": np.var, "std": np.std}


@pytest.mark.parametrize("dt", [F32, F64], ids=lambda d: np.dtype(d).name)
def test_gradients_of_reductions_at_extreme_values(dt):
    big = np.finfo(dt).max
    tiny = np.finfo(dt).smallest_subnormal
    huge = np.array([[big, big, -big, 3], [-0.0, 0.0, -0.0, tiny], [-big, 5, -big, 5]], dt)
    # ties, signed zeros and wide magnitudes, with a finite, normal variance in every row and column
    wide = np.array([[1e18, 1e18, -1e18, 3], [-0.0, 0.0, -0.0, 1.0], [2.5, -1e-30, 2.5, -7]], dt)
    cases = [(name, axis) for name in _GRAD_REDUCTIONS for axis in (None, 0, 1)]
    rng = np.random.default_rng(4)
    ws = {(name, axis): rng.uniform(0.5, 2, () if axis is None else (4, 3)[axis]) for name, axis in cases}

    def grads(x):
        return [cc.grad(lambda x, r=_GRAD_REDUCTIONS[n], a=a, w=ws[n, a]: (r(x, axis=a) * w.astype(dt)).sum())(x)
                for n, a in cases]
    f = cc.compile(grads)
    for x, names in ((huge, ("sum", "mean", "max", "min")), (wide, tuple(_GRAD_REDUCTIONS))):
        outs = f(x)
        for (name, axis), got in zip(cases, outs):
            if name not in names:
                continue
            assert got.dtype == dt and got.shape == x.shape
            want = _closed_form_grad(name, x, axis, ws[name, axis])
            np.testing.assert_allclose(got, want, rtol=4e-6 if dt is F32 else 1e-12, atol=0,
                                       err_msg=f"grad of {name}(axis={axis}) at\n{x}")
