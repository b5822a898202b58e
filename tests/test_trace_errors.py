"""Errors while tracing: each is a ViveError subclass whose message says what went wrong, the fix when there is
one, and the user's file:line (here: this file's line)."""
import sys

import numpy as np
import pytest

import compiler as cc
from trace_checks import check_every_trace  # noqa: F401

HERE = "tests/test_trace_errors.py"
X = cc.Spec("f32[N,3]")


def _line(offset):
    """The caller's line number plus offset."""
    return sys._getframe(1).f_lineno + offset


def _raises(cls, fn, *args):
    with pytest.raises(cls) as e:
        cc.trace(fn, *args)
    return str(e.value)


# ---- Python control flow on traced values ----

def test_python_if_on_traced_value():
    def f(x):
        if x.sum() > 0:          # <- this line
            return x
        return -x
    line = f.__code__.co_firstlineno + 1
    msg = _raises(cc.TraceError, f, X)
    assert "Python `if`" in msg and "np.where(cond, a, b)" in msg
    assert f"{HERE}:{line} in f" in msg


@pytest.mark.parametrize("make", [
    lambda x: x if x.max() else x,                           # conditional expression
    lambda x: x.min() > 0 and x,                             # and/or
    lambda x: float(x.sum()),
    lambda x: int(x[0, 0]),
    lambda x: [1, 2, 3][x[0, 0].astype(np.int64)],           # as a Python index
    lambda x: x.item(),
    lambda x: x.tolist(),
])
def test_concrete_value_of_tracer(make):
    line = make.__code__.co_firstlineno
    msg = _raises(cc.TraceError, make, X)
    assert "on a traced value" in msg and f"{HERE}:{line}" in msg
    assert "np.stack" in msg if "array" in msg else "np.where" in msg


def test_while_loop_on_traced_value():
    def f(x):
        while (x > 0).any():
            x = x - 1
        return x
    msg = _raises(cc.TraceError, f, X)
    assert f"{HERE}:{f.__code__.co_firstlineno + 1}" in msg


def test_python_control_flow_on_concrete_values_works():
    n_layers, use_bias = 3, True          # closed over: concrete (as arguments to cc.trace they would be traced)

    def f(x):
        for i in range(n_layers):            # Python ints: an ordinary loop, unrolled
            x = np.tanh(x) * (i + 1)
        if use_bias:                          # a Python bool
            x = x + 1.0
        if x.shape[1] == 3:                   # static sizes are concrete
            x = x * 2.0
        if x.ndim == 2 and x.dtype == np.float32:
            x = x.T
        return x
    g = cc.trace(f, X)
    assert [n.prim.name for n in g.nodes].count("tanh") == 3
    assert g.out_types[0] == cc.Spec("f32[3,N]")


# ---- unsupported NumPy functions and ufuncs are named ----

@pytest.mark.parametrize("fn,name", [
    (lambda x: np.nancumsum(x), "numpy.nancumsum"),
    (lambda x: x.sort(), "ndarray.sort"),
    (lambda x: np.fft.fft(x), "numpy.fft.fft"),
    (lambda x: np.searchsorted(x[0], x), "numpy.searchsorted"),
    (lambda x: np.spacing(x), "numpy.spacing"),
    (lambda x: np.nextafter(x, x), "numpy.nextafter"),
    (lambda x: np.add.accumulate(x), "numpy.add.accumulate"),
    (lambda x: np.unique(x), "numpy.unique"),
    (lambda x: np.linalg.eig(x), "numpy.linalg.eig"),
    (lambda x: np.median(x), "numpy.median"),
    (lambda x: x.fill(0), "ndarray.fill"),
    (lambda x: np.exp(x, out=x), "numpy.exp with out="),
])
def test_unsupported_numpy_function_is_named(fn, name):
    msg = _raises(cc.TraceError, fn, X)
    assert name in msg and "not supported" in msg
    assert f"{HERE}:{fn.__code__.co_firstlineno}" in msg


@pytest.mark.parametrize("fn,text", [
    (lambda x: x[x > 0], "np.where"),                        # data-dependent shape
    (lambda x: np.where(x > 0), "np.where(cond, a, b)"),
    (lambda x: x.__setitem__(0, 1.0), "item assignment"),
    (lambda x: x.reshape(x.shape[0], 3, order="F"), "order='F'"),
    (lambda x: np.pad(x, 1, mode="linear_ramp"), "mode='linear_ramp'"),
    (lambda x: len(x), "use x.shape[0]"),
])
def test_other_untraceable_code_says_what_to_do(fn, text):
    msg = _raises(cc.TraceError, fn, X)
    assert text in msg and f"{HERE}:{fn.__code__.co_firstlineno}" in msg


# ---- shape errors name the op, both shapes and the line ----

@pytest.mark.parametrize("fn,args,texts", [
    (lambda x, y: x + y, (X, cc.Spec("f32[4]")), ["add", "f32[N,3]", "f32[4]"]),
    (lambda x, y: x * y, (X, cc.Spec("f32[M,3]")), ["mul", "f32[N,3]", "f32[M,3]"]),
    (lambda x, w: x @ w, (X, cc.Spec("f32[4,2]")), ["matmul", "f32[N,3]", "f32[4,2]"]),
    (lambda x, w: np.dot(x, w), (X, cc.Spec("f32[4,2]")), ["matmul", "f32[N,3]", "f32[4,2]"]),
    (lambda x, y: np.where(x > 0, x, y), (X, cc.Spec("f32[2]")), ["select", "[N,3]", "[2]"]),
    (lambda x, y: np.concatenate([x, y], axis=0), (X, cc.Spec("f32[N,2]")),
     ["concatenate", "f32[N,3]", "f32[N,2]"]),
    (lambda x: x.reshape(4, 5), (X,), ["reshape", "f32[N,3]", "(4, 5)"]),
    (lambda x: x[5], (cc.Spec("f32[3]"),), ["index 5", "size 3"]),
    (lambda x: x.sum(axis=2), (X,), ["axis 2", "dimension 2"]),
    (lambda x, w: cc.primitives.conv2d(x, w), (cc.Spec("f32[N,3,8,8]"), cc.Spec("f32[4,2,3,3]")),
     ["conv2d", "f32[N,3,8,8]", "f32[4,2,3,3]"]),
])
def test_shape_error_names_op_shapes_and_line(fn, args, texts):
    msg = _raises(cc.ShapeError, fn, *args)
    for t in texts:
        assert t in msg, msg
    assert f"{HERE}:{fn.__code__.co_firstlineno}" in msg


def test_shape_error_is_a_value_error():
    line = _line(2)
    with pytest.raises(ValueError) as e:
        cc.trace(lambda x, y: x + y, cc.Spec("f32[2]"), cc.Spec("f32[3]"))
    assert isinstance(e.value, cc.ShapeError) and isinstance(e.value, cc.ViveError)
    assert str(e.value).splitlines()[0] == "add: cannot broadcast f32[2] with f32[3]"
    assert str(e.value).splitlines()[1].startswith(f"  at {HERE}:{line} in <lambda>:   cc.trace(")


# ---- dtype errors ----

@pytest.mark.parametrize("arg", [np.ones(3, np.complex64), np.array(["a", "b"]), np.array([object(), 1]),
                                 np.ones(2, np.float16), np.ones(2, np.uint8)])
def test_unsupported_input_dtype(arg):
    with pytest.raises(cc.DTypeError) as e:
        cc.trace(lambda x: x, arg)
    assert isinstance(e.value, TypeError)
    assert "argument [0]" in str(e.value) and "vive supports" in str(e.value)


def test_unsupported_input_dtype_in_pytree_names_the_leaf():
    with pytest.raises(cc.DTypeError) as e:
        cc.trace(lambda p: p, {"w": [np.ones(2), np.ones(2, np.complex128)]})
    assert "argument [0]['w'][1]" in str(e.value)


@pytest.mark.parametrize("fn", [
    lambda x: x + np.ones(3, np.complex64),
    lambda x: x * 1j,
    lambda x: x + "a",
    lambda x: x.astype(np.complex64),
    lambda x: x.astype(np.float16),
    lambda x: x.sum(dtype=np.int8),
])
def test_unsupported_dtype_inside_trace_points_at_the_line(fn):
    msg = _raises(cc.DTypeError, fn, X)
    assert "unsupported dtype" in msg and f"{HERE}:{fn.__code__.co_firstlineno}" in msg


def test_unsupported_argument_type():
    with pytest.raises(cc.TraceError) as e:
        cc.trace(lambda x: x, "hello")
    assert "str" in str(e.value)
    with pytest.raises(cc.TraceError) as e:
        cc.trace(lambda x: object(), X)
    assert "returned a object" in str(e.value)


def test_leaked_tracer_used_later():
    leaked = []
    cc.trace(lambda x: leaked.append(x) or x, X)
    line = _line(2)
    with pytest.raises(cc.TraceError) as e:
        cc.trace(lambda y: y + leaked[0], X)
    assert "escaped" in str(e.value) and f"{HERE}:{line}" in str(e.value)


def test_bad_spec_text():
    with pytest.raises(cc.ParseError) as e:
        cc.Spec("f32[N,")
    assert "f32[N," in str(e.value) and "f32[N,784]" in str(e.value) and isinstance(e.value, ValueError)
    with pytest.raises(cc.ParseError):
        cc.Spec("c64[3]")
