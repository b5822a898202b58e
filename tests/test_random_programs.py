"""Random small NumPy programs, compiled with cc.compile, against the same Python function run by NumPy.

A program is a short SSA list of steps over its arguments: ufuncs (unary, binary, np.where), reductions along random
axes (sum, mean, max, min, argmax, argmin), indexing and slicing, integer-array gathers whose indices may be out of
range, and astype. Arguments are arrays of f32, f64, i32, i64 or bool with shapes that broadcast (sizes 0 to 3,
ranks 0 to 3; some in big-endian byte order or non-contiguous) and Python scalars (weak, NEP 50). The oracle is
NumPy itself: the compiled function gives NumPy's dtype, shape and values, or raises an exception of the class
NumPy raises. A second call with new values of the same types must agree again without a recompile.

Deterministic (derandomize) and bounded: the whole module runs in well under 30 s.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler as cc

DTYPES = (np.float32, np.float64, np.int32, np.int64, np.bool_)
SETTINGS = dict(derandomize=True, database=None, deadline=None, max_examples=300,
                suppress_health_check=list(HealthCheck))

# the exception classes a caller of NumPy code catches; vive must raise one of the same (ShapeError is a
# ValueError, DTypeError a TypeError)
_EXC = (IndexError, ValueError, TypeError, OverflowError, ZeroDivisionError, FloatingPointError)


# ---- the programs ----

def _unary(name):
    return {"negative": np.negative, "absolute": np.absolute, "square": np.square, "tanh": np.tanh,
            "sqrt": np.sqrt, "exp": np.exp, "sign": np.sign, "logical_not": np.logical_not}[name]


_BINARY = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "true_divide": np.true_divide,
           "floor_divide": np.floor_divide, "remainder": np.remainder, "maximum": np.maximum,
           "minimum": np.minimum, "less": np.less, "equal": np.equal, "not_equal": np.not_equal,
           "greater_equal": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
           "power": np.power}
_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin}
_INDEX = {"first": lambda v: v[0], "last": lambda v: v[-1], "tail": lambda v: v[1:], "even": lambda v: v[::2],
          "inner0": lambda v: v[..., 0], "newaxis": lambda v: v[None], "T": lambda v: v.T,
          "flat": lambda v: v.reshape(-1)}


def apply(step, vals):
    kind, args, p = step
    x = [vals[i] for i in args]
    if kind == "unary":
        return _unary(p)(x[0])
    if kind == "binary":
        return _BINARY[p](x[0], x[1])
    if kind == "where":
        return np.where(x[0], x[1], x[2])
    if kind == "literal":                  # a Python scalar written in the function: weak, like an argument
        name, c, left = p
        return _BINARY[name](c, x[0]) if left else _BINARY[name](x[0], c)
    if kind == "clip":
        return np.clip(x[0], *p)
    if kind == "reduce":
        name, axis, keepdims = p
        if name in ("argmax", "argmin"):
            return _REDUCE[name](x[0], axis=axis)
        return _REDUCE[name](x[0], axis=axis, keepdims=keepdims)
    if kind == "index":
        return _INDEX[p](x[0])
    if kind == "gather":
        return x[0][x[1]]
    if kind == "astype":
        return x[0].astype(p)
    raise AssertionError(kind)


def make_fn(prog, outs):
    def fn(*args):
        vals = list(args)
        for step in prog:
            vals.append(apply(step, vals))
        return tuple(vals[i] for i in outs) if len(outs) > 1 else vals[outs[0]]
    return fn


def numpy_run(fn, args):
    """(result, None) or (None, exception) of fn on NumPy values, warnings silenced as NumPy users see them."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args), None
        except _EXC as e:
            return None, e


def _is_array(v):
    return isinstance(v, (np.ndarray, np.generic))


def _kind(v):
    """'f', 'i', 'b' of a NumPy value or Python scalar."""
    if isinstance(v, (bool, np.bool_)) or (_is_array(v) and v.dtype == np.bool_):
        return "b"
    if isinstance(v, int) or (_is_array(v) and v.dtype.kind == "i"):
        return "i"
    return "f"


def _ndim(v):
    return np.ndim(v)


@st.composite
def values_of(draw, dtype, shape):
    n = int(np.prod(shape))
    if dtype == np.bool_:
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_).reshape(shape)
    if np.dtype(dtype).kind == "i":
        info = np.iinfo(dtype)
        elem = st.one_of(st.integers(-4, 4), st.sampled_from([int(info.min), int(info.max)]))
    else:
        elem = st.one_of(st.integers(-8, 8).map(lambda k: k / 2),
                         st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 0.1]))
    return np.array(draw(st.lists(elem, min_size=n, max_size=n)), dtype).reshape(shape)


@st.composite
def layout(draw, a):
    """a, or the same values in another byte order or as a non-contiguous view."""
    how = draw(st.sampled_from(["plain", "plain", "swapped", "strided"]))
    if how == "swapped" and a.dtype != np.bool_:
        return a.astype(a.dtype.newbyteorder("S"))
    if how == "strided" and a.ndim:
        big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


@st.composite
def python_scalar(draw, kind):
    if kind == "b":
        return draw(st.booleans())
    if kind == "i":
        return draw(st.integers(-5, 5))
    return draw(st.one_of(st.integers(-8, 8).map(lambda k: k / 2), st.sampled_from([0.1, float("inf"), -0.0])))


@st.composite
def arguments(draw):
    """Arguments (arrays and Python scalars) and a recipe to draw new values of the same types."""
    if draw(st.integers(0, 9)) == 0:
        # long enough for vector loops with a remainder and for blocked f32 sums (more than 1024 terms)
        base = (draw(st.sampled_from([17, 1100, 2053])),)
    else:
        base = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=3)))
    specs = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 4)) == 0:
            specs.append(("scalar", draw(st.sampled_from("fib"))))
            continue
        dtype = draw(st.sampled_from(DTYPES))
        # a shape that broadcasts to base: trailing dims of base, some of them 1
        k = draw(st.integers(0, len(base)))
        shape = tuple(1 if draw(st.booleans()) else d for d in base[len(base) - k:])
        specs.append(("array", dtype, shape))
    if draw(st.integers(0, 3)) == 0:                                      # an index array for a gather
        specs.append(("index", draw(st.sampled_from([np.int64, np.int32])),
                      tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))))
    return specs


@st.composite
def draw_args(draw, specs):
    out = []
    for s in specs:
        if s[0] == "scalar":
            out.append(draw(python_scalar(s[1])))
        elif s[0] == "array":
            out.append(draw(layout(draw(values_of(s[1], s[2])))))
        else:
            n = int(np.prod(s[2]))
            out.append(np.array(draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n)), s[1]).reshape(s[2]))
    return out


@st.composite
def programs(draw):
    specs = draw(arguments())
    args = draw(draw_args(specs))
    vals = list(args)
    index_args = [i for i, s in enumerate(specs) if s[0] == "index"]
    prog = []
    for _ in range(draw(st.integers(1, 5))):
        step = draw(a_step(vals, index_args))
        prog.append(step)
        v, err = numpy_run(lambda: apply(step, vals), ())
        if err is not None:             # the program ends in the step NumPy refuses: vive must refuse it too
            break
        vals.append(v)
    n = len(args) + len(prog)
    outs = [n - 1]
    if len(prog) > 1 and draw(st.booleans()):
        outs.append(draw(st.integers(len(args), n - 2)))
    # gathers are outputs too: an unused one is dead code, removed with its index check (NumPy still raises; see
    # the xfail in test_edge_regressions.py)
    outs += [len(args) + k for k, step in enumerate(prog) if step[0] == "gather" and len(args) + k not in outs]
    return specs, args, prog, outs


@st.composite
def a_step(draw, vals, index_args):
    i = draw(st.integers(0, len(vals) - 1))
    x = vals[i]
    kind = draw(st.sampled_from(["unary", "binary", "binary", "where", "reduce", "index", "gather", "astype",
                                 "literal", "clip"]))
    if kind == "literal":
        c = draw(python_scalar(draw(st.sampled_from("fib"))))
        kinds = {_kind(x), _kind(c)}
        names = [b for b in _BINARY if not (b in ("floor_divide", "remainder") and kinds != {"i"})
                 and not (b == "power" and "f" not in kinds)]
        return ("literal", (i,), (draw(st.sampled_from(names)), c, draw(st.booleans())))
    if kind == "clip" and _kind(x) != "b":
        lo = draw(st.integers(-3, 1))
        return ("clip", (i,), (lo, lo + draw(st.integers(0, 3))))
    if kind == "unary":
        names = ["negative", "sign", "logical_not"] if _kind(x) == "b" else \
            ["negative", "absolute", "square", "tanh", "sqrt", "exp", "sign", "logical_not"]
        return ("unary", (i,), draw(st.sampled_from(names)))
    if kind in ("binary", "where"):
        j = draw(st.integers(0, len(vals) - 1))
        names = list(_BINARY)
        kinds = {_kind(x), _kind(vals[j])}
        if kinds != {"i"}:
            # float // and %: not supported (TraceError); bool // bool is int8 in NumPy, a dtype vive refuses
            names = [b for b in names if b not in ("floor_divide", "remainder")]
        if "f" not in kinds:
            # int ** traced negative int: see test_edge_regressions.py; bool ** bool is int8 in NumPy
            names = [b for b in names if b != "power"]
        if kind == "where":
            k = draw(st.integers(0, len(vals) - 1))
            return ("where", (i, j, k), None)
        return ("binary", (i, j), draw(st.sampled_from(names)))
    if kind == "reduce":
        nd = _ndim(x)
        axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1))) if nd else None
        return ("reduce", (i,), (draw(st.sampled_from(list(_REDUCE))), axis, draw(st.booleans())))
    if kind == "index" and _ndim(x):
        names = list(_INDEX) if _ndim(x) > 0 else ["newaxis"]
        return ("index", (i,), draw(st.sampled_from(names)))
    # (a gather whose result is empty although x's first axis is not: see the xfail in test_edge_regressions.py)
    if kind == "gather" and index_args and _ndim(x) and _is_array(x) and not (x.size == 0 and x.shape[0]):
        return ("gather", (i, draw(st.sampled_from(index_args))), None)
    if _is_array(x):
        return ("astype", (i,), draw(st.sampled_from(DTYPES)))
    return ("unary", (i,), "negative")


# ---- comparing ----

def _tol(dtype):
    return 2e-4 if dtype == np.float32 else 1e-9


def assert_same(got, want, what):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        for g, w in zip(got, want):
            assert_same(g, w, what)
        return
    w, g = np.asarray(want), np.asarray(got)
    assert g.dtype.isnative, f"{what}: result in non-native byte order"
    # (NumPy's result may be a view of a big-endian argument; vive's results are native)
    assert g.dtype == w.dtype.newbyteorder("="), f"{what}: dtype {g.dtype}, NumPy {w.dtype}"
    assert g.shape == w.shape, f"{what}: shape {g.shape}, NumPy {w.shape}"
    if w.dtype.kind != "f":
        np.testing.assert_array_equal(g, w, err_msg=what)
        return
    assert np.array_equal(np.isnan(g), np.isnan(w)), f"{what}: NaN at other places\n{g}\n{w}"
    fin = np.isfinite(w)
    assert np.array_equal(g[~fin & ~np.isnan(w)], w[~fin & ~np.isnan(w)]), f"{what}: infinities differ\n{g}\n{w}"
    if fin.any():
        scale = max(1.0, float(np.max(np.abs(w[fin]))))
        np.testing.assert_allclose(g[fin], w[fin], rtol=_tol(w.dtype), atol=_tol(w.dtype) * scale, err_msg=what)


def _unsupported(want):
    if isinstance(want, tuple):
        return any(_unsupported(w) for w in want)
    return np.asarray(want).dtype not in [np.dtype(d) for d in DTYPES]


def check_call(f, fn, args, what):
    want, want_err = numpy_run(fn, args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, got_err = f(*args), None
    except Exception as e:             # noqa: BLE001 - any exception is compared with NumPy's
        got, got_err = None, e
    if want_err is not None:
        base = next(c for c in _EXC if isinstance(want_err, c))
        assert got_err is not None, f"{what}: NumPy raises {want_err!r}, vive returns {got!r}"
        assert isinstance(got_err, base), f"{what}: NumPy raises {want_err!r}, vive {got_err!r}"
        return False
    if got_err is not None and _unsupported(want) and isinstance(got_err, (cc.DTypeError, cc.TraceError)):
        return False                   # NumPy's result is an int8, float16, ... array: vive refuses that dtype
    if got_err is not None:
        raise AssertionError(f"{what}: NumPy returns {want!r}, vive raises {got_err!r}") from got_err
    assert_same(got, want, what)
    return True


def describe(specs, args, prog, outs):
    return f"args={specs!r}\nvalues={args!r}\nprogram={prog!r}\nouts={outs}"


@settings(**SETTINGS)
@given(st.data())
def test_random_program_matches_numpy(data):
    specs, args, prog, outs = data.draw(programs())
    fn = make_fn(prog, outs)
    f = cc.compile(fn)
    what = describe(specs, args, prog, outs)
    if not check_call(f, fn, args, what):
        return
    # new values of the same types and shapes: the same version serves them (weak scalars: no recompile)
    again = data.draw(draw_args(specs))
    check_call(f, fn, again, what + f"\nsecond values={again!r}")
    assert f.cache_info()["compiles"] == 1, what


@settings(**dict(SETTINGS, max_examples=60))
@given(st.data())
def test_random_program_unchecked_indices_in_range(data):
    """check_indices=False gives the same answers as long as every index is in range."""
    specs, args, prog, outs = data.draw(programs())
    fn = make_fn(prog, outs)
    want, err = numpy_run(fn, args)
    if err is not None:
        return
    got = cc.compile(fn, check_indices=False)(*args)
    assert_same(got, want, describe(specs, args, prog, outs))
