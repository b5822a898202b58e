"""A scan body of gemms and parallel loops runs on a team of threads (codegen/llvm_team.py) when the caller's
BLAS thread count is above 1: the team's code is there, and with 2 threads (set before the first call, which reads
the count) the results equal the eager NumPy loops, forward and through the gradient, float32 and float64, for
column counts that do not split evenly, a reverse loop and a gemm reading its right operand transposed."""
import ctypes

import numpy as np
import pytest

import compiler as cc
import runtime

rng = np.random.default_rng(11)
blas = runtime.blas_symbols()
pytestmark = pytest.mark.skipif(blas is None or not blas.get("set_num_threads") or not runtime.has_openmp(),
                                reason="needs a CBLAS with a thread count and libgomp")


@pytest.fixture
def two_threads():
    lib = ctypes.CDLL(blas["library"])
    get = getattr(lib, blas["set_num_threads"].replace("set_num_threads", "get_num_threads"))
    get.restype = ctypes.c_int
    before = get()
    getattr(lib, blas["set_num_threads"])(2)
    yield
    getattr(lib, blas["set_num_threads"])(before)


def lstm_loss(wx, wh, xs):
    hdim = wh.shape[0]

    def cell(carry, x):
        h, c = carry
        z = x @ wx + h @ wh
        i, f = np.tanh(z[:, :hdim]), np.tanh(z[:, hdim:2 * hdim])
        g, o = np.tanh(z[:, 2 * hdim:3 * hdim]), np.tanh(z[:, 3 * hdim:])
        c = f * c + i * g
        return (o * np.tanh(c), c), None
    h0 = np.zeros((xs.shape[1], hdim), xs.dtype)
    (h, c), _ = cc.scan(cell, (h0, h0), xs)
    return (h * h).sum() + c.sum()


@pytest.mark.parametrize("dtype,hdim", [(np.float32, 128), (np.float64, 100)])
def test_lstm_forward_and_gradient_on_two_threads(two_threads, dtype, hdim):
    # batch 64 x hidden 128: the step's gemm (64x128 @ 128x512) is big enough for a team; hidden 100 splits 400
    # columns unevenly (208 + 192)
    wx = (rng.standard_normal((8, 4 * hdim)) * 0.2).astype(dtype)
    wh = (rng.standard_normal((hdim, 4 * hdim)) * 0.1).astype(dtype)
    xs = rng.standard_normal((5, 64, 8)).astype(dtype)
    grad = cc.value_and_grad(lstm_loss, argnums=(0, 1))
    step = cc.compile(grad)
    assert ".team.run" in step.lower(wx, wh, xs).llvm_ir()
    (l, (gx, gh)), (el, (egx, egh)) = step(wx, wh, xs), grad(wx, wh, xs)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(l, el, rtol=tol)
    np.testing.assert_allclose(gx, egx, rtol=tol, atol=tol)
    np.testing.assert_allclose(gh, egh, rtol=tol, atol=tol)


def test_reverse_scan_with_a_transposed_operand_on_two_threads(two_threads):
    # h @ m_t.T: the right operand is the step's slice of xs, read transposed (ldb rows per column of C)
    def f(h0, ms):
        def step(h, m):
            return np.tanh(h @ m.T) * 0.5 + h[:, :1], None
        return cc.scan(step, h0, ms, reverse=True)[0]
    h0 = rng.standard_normal((64, 136))
    ms = rng.standard_normal((4, 136, 136)) * 0.1
    fc = cc.compile(f)
    assert ".team.run" in fc.lower(h0, ms).llvm_ir()
    np.testing.assert_allclose(fc(h0, ms), f(h0, ms), rtol=1e-12, atol=1e-12)


def test_small_bodies_keep_the_serial_loop():
    def f(h0, xs):
        return cc.scan(lambda h, x: (np.tanh(h @ x), None), h0, xs)[0]
    h0, xs = rng.standard_normal((4, 8)), rng.standard_normal((3, 8, 8))
    assert ".team" not in cc.compile(f).lower(h0, xs).llvm_ir()
