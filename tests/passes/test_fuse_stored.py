"""A cheap value that is stored anyway (a result) is stored by the loop kernel that also consumes it, not
recomputed there and again in a kernel of its own (passes/fuse.py, try_absorb)."""
import numpy as np

import compiler as cc


def test_a_result_read_by_a_loop_of_the_same_shape_is_stored_by_that_loop():
    def f(x, c):
        t = np.tanh(x[:, 2:])                  # a result, and read by the other result's loop
        return t, t * c + np.tanh(x[:, :2])
    c = np.float32(0.5)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    low = cc.compile(f).lower(x, c)
    kernels = low.kernels.kernels
    assert len(kernels) == 1 and str(kernels[0]).count("tanh(") == 2
    got = low(x, c)
    np.testing.assert_allclose(got[0], np.tanh(x[:, 2:]), rtol=1e-6)
    np.testing.assert_allclose(got[1], np.tanh(x[:, 2:]) * c + np.tanh(x[:, :2]), rtol=1e-6)


def test_a_result_of_another_shape_is_still_recomputed_where_it_broadcasts():
    def f(x, y):
        s = x * 2.0                            # a result; the other loop reads it broadcast over rows
        return s, np.tanh(y + s)
    x, y = np.ones(4, np.float32), np.arange(12, dtype=np.float32).reshape(3, 4)
    low = cc.compile(f).lower(x, y)
    got = low(x, y)
    np.testing.assert_allclose(got[1], np.tanh(y + x * 2), rtol=1e-6)
    assert len(low.kernels.kernels) == 2
