"""HIPS autograd's gradient test list (tests/test_systematic.py, test_numpy.py, test_binary_ops.py,
test_scalar_ops.py, test_core.py, test_truediv.py, test_logic.py, test_linalg.py, test_scipy.py), re-created as
the table in tests/autograd_rows.py, run here.

Every row is checked four ways against NumPy in float64: the value of cc.compile(f) and of the eager
cc.value_and_grad; the gradient of a scalarised output (sum of each output times fixed random weights) eager and
compiled, against central finite differences of the NumPy function itself; and second order through
cc.check_grads(order=2). Rows vive cannot run are strict xfails naming why and the exception they stop with.
(The table lives in its own module: pytest parses the test file's source for every failure it reports, xfails too.)
"""
import zlib

import numpy as np
import pytest

import compiler as cc
from autograd_rows import CASES

# ---- the harness ----

def _leaves(out):
    return [np.asarray(o) for o in out] if isinstance(out, (tuple, list)) else [np.asarray(out)]


def _close(what, got, want, rtol, atol):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, NumPy gives {len(want)}"
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{what}: shape {g.shape}, NumPy gives {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)


def _central(f, args, i, eps=1e-6):
    x = np.array(args[i], np.float64)
    out = np.zeros(x.shape)
    for k in range(x.size):
        hi, lo = x.copy(), x.copy()
        hi.flat[k] += eps
        lo.flat[k] -= eps
        out.flat[k] = (f(*args[:i], hi, *args[i + 1:]) - f(*args[:i], lo, *args[i + 1:])) / (2 * eps)
    return out


@pytest.mark.parametrize("fn, args, argnums, order2", CASES)
def test_autograd_row(request, fn, args, argnums, order2):
    if request.node.get_closest_marker("xfail") is None:
        return _check_row(request, fn, args, argnums, order2)
    try:
        _check_row(request, fn, args, argnums, order2)
    except Exception as e:
        # an expected failure: drop the (deep, SciPy-internal) traceback, which pytest would format for each row
        raise e.with_traceback(None) from None


def _check_row(request, fn, args, argnums, order2):
    want = fn(*args)
    _close("compiled value", cc.compile(fn)(*args), want, 1e-12, 1e-12)
    outs = _leaves(want)
    if not all(o.dtype.kind == "f" for o in outs):
        return                                          # all/any: a value check only, as autograd does
    rng = np.random.default_rng(zlib.crc32(request.node.callspec.id.encode()))
    weights = [rng.standard_normal(o.shape) for o in outs]

    def loss(*a):
        return _scalar(fn(*a), weights)

    numeric = [_central(loss, args, i) for i in argnums]
    # central differences round: each loss carries ~eps * sum|terms|, so the quotient ~eps * sum|terms| / step
    # (dominant where outputs are large, as I0 ~ 1e7 at 18)
    noise = 4 * np.finfo(np.float64).eps * _scalar(_abs_tree(want), [np.abs(w) for w in weights]) / 1e-6
    atol = max(1e-6, float(noise))
    value, eager = cc.value_and_grad(loss, argnums=argnums)(*args)
    np.testing.assert_allclose(value, loss(*args), rtol=1e-12, atol=1e-12, err_msg="eager value")
    compiled = cc.compile(cc.grad(loss, argnums=argnums))(*args)
    for i, num, e, c in zip(argnums, numeric, eager, compiled):
        np.testing.assert_allclose(e, num, rtol=1e-5, atol=atol, err_msg=f"eager gradient of argument {i}")
        np.testing.assert_allclose(c, num, rtol=1e-5, atol=atol, err_msg=f"compiled gradient of argument {i}")
    if order2:
        # order2 may be a dict of check_grads options (a row whose finite differences need a finer step)
        cc.check_grads(loss, args, order=2, modes=("rev",), **(order2 if isinstance(order2, dict) else {}))


def _abs_tree(out):
    return [np.abs(o) for o in out] if isinstance(out, (tuple, list)) else np.abs(out)


def _scalar(out, weights):
    if isinstance(out, (tuple, list)):
        return sum(np.sum(o * w) for o, w in zip(out, weights))
    return np.sum(out * weights[0])
