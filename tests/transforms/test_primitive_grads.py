"""Central finite differences in float64, to second order, for every primitive with a derivative."""
import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P
from compiler.primitives import REGISTRY


def _rng(seed=0):
    return np.random.default_rng(seed)


def _r(*shape, seed=0, lo=None):
    x = _rng(seed).standard_normal(shape)
    return np.abs(x) + lo if lo is not None else x


def _distinct(*shape, seed=0):
    # values at least 0.1 apart: no ties for max / pooling, so finite differences see no kink
    return _rng(seed).permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0


def _softplus_custom():
    f = cc.custom_jvp(lambda x: np.log(1.0 + np.exp(x)))
    f.defjvp(lambda p, t: (f(*p), t[0] / (1.0 + np.exp(-p[0]))))
    return f


def _tanh_custom_vjp():
    f = cc.custom_vjp(lambda x, w: np.tanh(x @ w))

    def fwd(x, w):
        y = np.tanh(x @ w)
        return y, (x, w, y)

    def bwd(res, g):
        x, w, y = res
        d = g * (1.0 - y * y)
        return d @ w.T, x.T @ d
    f.defvjp(fwd, bwd)
    return f


CASES = {
    # calls with their own rules (true ones here: finite differences check them), and checkpoint
    "custom_jvp_call": (lambda x: _softplus_custom()(x) * x, [_r(3, 4)]),
    "remat_call": (lambda x, w: cc.checkpoint(lambda x, w: np.tanh(np.tanh(x @ w) @ w))(x, w),
                   [_r(2, 3), _r(3, 3, seed=1)]),
    # elementwise (order 2)
    "neg": (lambda x: -x, [_r(3, 4)]),
    "optimization_barrier": (lambda x: P.optimization_barrier(x) * x, [_r(3, 4)]),
    "exp": (np.exp, [_r(3, 4)]),
    "log": (np.log, [_r(3, 4, lo=0.3)]),
    "sin": (np.sin, [_r(3, 4)]),
    "cos": (np.cos, [_r(3, 4)]),
    "tanh": (np.tanh, [_r(3, 4)]),
    "logistic": (P.logistic, [_r(3, 4)]),
    "sqrt": (np.sqrt, [_r(3, 4, lo=0.3)]),
    "abs": (np.abs, [_r(3, 4)]),
    "sign": (lambda x: np.sign(x) * x, [_r(3, 4)]),
    # rounding: zero derivative, so only the product's x survives (inputs away from the jumps)
    "floor": (lambda x: np.floor(x * 3 + 0.5) * x, [_r(3, 4)]),
    "ceil": (lambda x: np.ceil(x * 3 + 0.5) * x, [_r(3, 4)]),
    "trunc": (lambda x: np.trunc(x * 3 + 0.5) * x, [_r(3, 4)]),
    "rint": (lambda x: np.rint(x * 3 + 0.25) * x, [_r(3, 4)]),
    "erf": (lambda x: P.erf(x * 2), [_r(3, 4)]),
    "erfinv": (lambda x: P.erfinv(np.tanh(x) * 0.9), [_r(3, 4)]),       # inside (-1, 1)
    "atan2": (lambda y, x: P.atan2(y, x), [_r(3, 4), _r(3, 4, seed=1)]),
    "fmod": (lambda a, b: P.fmod(a * 5, b) * a, [_r(3, 4), _r(3, 4, seed=1, lo=0.5)]),
    "copysign": (lambda a, b: P.copysign(a, b) * a, [_r(3, 4), _r(3, 4, seed=1)]),
    "reciprocal": (P.reciprocal, [_r(3, 4, lo=0.3)]),
    "square": (np.square, [_r(3, 4)]),
    "add": (lambda a, b: a + b, [_r(3, 4), _r(4, seed=1)]),
    "sub": (lambda a, b: a - b, [_r(3, 1), _r(4, seed=1)]),
    "mul": (lambda a, b: a * b, [_r(3, 4), _r(3, 1, seed=1)]),
    "div": (lambda a, b: a / b, [_r(3, 4), _r(4, seed=1, lo=0.5)]),
    "pow": (lambda a, b: P.pow(a, b), [_r(3, 4, lo=0.3), _r(3, 4, seed=1)]),
    "maximum": (np.maximum, [_r(3, 4), _r(4, seed=1)]),
    "minimum": (np.minimum, [_r(3, 4), _r(3, 1, seed=1)]),
    "select": (lambda a, b: np.where(a > 0, a * b, b), [_r(3, 4), _r(3, 4, seed=1)]),
    "cast": (lambda x: P.cast(x * x, dtype=cc.ir.F64), [_r(3, 4)]),
    # shape
    "broadcast_in_dim": (lambda x: P.broadcast_in_dim(x, shape=(2, 3, 4), dims=(1, 2)) ** 2, [_r(3, 1)]),
    "reshape": (lambda x: x.reshape(2, 6) ** 2, [_r(3, 4)]),
    "transpose": (lambda x: np.transpose(x, (2, 0, 1)) ** 2, [_r(2, 3, 4)]),
    "slice": (lambda x: x[1::2, ::3] ** 2, [_r(7, 5)]),
    "pad": (lambda x: P.pad(x, lo=(1, -1), hi=(-1, 2), interior=(2, 1), value=0.5) ** 2, [_r(3, 4)]),
    "concatenate": (lambda a, b: np.concatenate([a, b, a], axis=1) ** 2, [_r(2, 3), _r(2, 1, seed=1)]),
    "rev": (lambda x: P.rev(x, axes=(1,)) * x, [_r(3, 4)]),
    # reductions
    "reduce_sum": (lambda x: np.sum(x ** 3, axis=(0, 2)), [_r(3, 4, 5)]),
    "reduce_max": (lambda x: np.max(x, axis=1) ** 2, [_distinct(3, 5)]),
    # linalg
    "dot_general": (lambda a, b: np.tanh(np.matmul(a, b)), [_r(2, 3, 4), _r(2, 4, 5, seed=1)]),
    "conv2d": (lambda x, w: np.tanh(P.conv2d(x, w, stride=(2, 1), padding=(1, 0))),
               [_r(2, 3, 7, 6), _r(4, 3, 3, 2, seed=1)]),
    "conv2d_transpose_input": (lambda c, w: np.tanh(P.conv2d_transpose_input(c, w, stride=(2, 1), padding=(1, 0), in_hw=(7, 6))),
                               [_r(2, 4, 4, 5), _r(4, 3, 3, 2, seed=1)]),
    "conv2d_transpose_kernel": (lambda x, c: np.tanh(P.conv2d_transpose_kernel(x, c, stride=(2, 1), padding=(1, 0), kernel_hw=(3, 2))),
                                [_r(2, 3, 7, 6), _r(2, 4, 4, 5, seed=1)]),
    "max_pool2d": (lambda x: P.max_pool2d(x, size=(3, 2), stride=(2, 1)) ** 2, [_distinct(2, 2, 6, 7)]),
    "max_pool2d_jvp": (lambda t: P.max_pool2d_jvp(_distinct(2, 2, 6, 7, seed=3), t, size=(3, 2), stride=(2, 1)) ** 2,
                       [_r(2, 2, 6, 7)]),
    "max_pool2d_vjp": (lambda c: P.max_pool2d_vjp(_distinct(2, 2, 6, 7, seed=3), c, size=(3, 2), stride=(2, 1)) ** 2,
                       [_r(2, 2, 2, 6)]),
    # decompositions (well-conditioned, distinct eigen- and singular values; cholesky and eigh see a symmetric matrix)
    "solve": (lambda a, b: np.tanh(P.solve(a, b)), [_r(2, 3, 3) + 3 * np.eye(3), _r(2, 3, 2, seed=1)]),
    "slogdet": (lambda a: P.slogdet(a) * a[..., 0, :2], [_r(2, 3, 3) + 3 * np.eye(3)]),
    "cholesky": (lambda a: P.cholesky(a @ np.swapaxes(a, -1, -2) + np.eye(3)), [_r(2, 3, 3)]),
    "eigh": (lambda a: P.eigh(a + np.swapaxes(a, -1, -2), uplo="U"), [_r(2, 3, 3)]),
    "svd": (lambda a: P.svd(a), [_r(2, 4, 3)]),
    "svd_values": (lambda a: P.svd_values(a) ** 2, [_r(3, 5)]),
    # indexing
    "take": (lambda x: np.take(x, np.array([[0, 2], [4, 4]]), axis=0) ** 2, [_r(5, 3)]),
    "scatter_add": (lambda u: P.scatter_add(u, np.array([1, 1, 4, 0]), axis=1, size=5) ** 2, [_r(2, 4, 3)]),
    # collectives (a world of one here: the identity; tests/test_distributed.py runs two ranks)
    "all_sum": (lambda x: np.tanh(P.all_sum(x)) * x, [_r(3, 4)]),
    "all_mean": (lambda x: np.tanh(P.all_mean(x)) * x, [_r(3, 4)]),
    # control flow (get: every region op's results are read through it)
    "scan": (lambda w, c, xs: cc.scan(lambda c, x: (np.tanh(c * w + x), c * x), c, xs, reverse=True),
             [_r(3), _r(3, seed=1), _r(4, 3, seed=2)]),
    "get": (lambda c, xs: cc.scan(lambda c, x: (np.sin(c) * x, c), c, xs)[0], [_r(3), _r(2, 3, seed=1)]),
    "cond": (lambda p, x, y: cc.cond(p > 0, lambda a, b: np.sin(a) * b, lambda a, b: a / (2 + b * b), x, y),
             [np.float64(0.5), _r(3), _r(3, seed=1)]),
}
# forward mode only, as in JAX (a while loop's trip count is unknown until it runs)
FORWARD_ONLY = {
    "while_loop": (lambda x: cc.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, np.sin(c[1]) * 1.5), (0, x))[1],
                   [_r(3)]),
}

NOT_DIFFERENTIABLE = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "argmax",
                      "const", "dim", "iota", "one_hot", "check_index", "stop_gradient", "debug_print", "assert_true",
                      "threefry2x32", "allreduce_start", "allreduce_wait"}


# reverse mode only (forward mode is an error, as in JAX): first order, reverse
REVERSE_CASES = {
    "custom_vjp_call": (lambda x, w: _tanh_custom_vjp()(x, w) ** 2, [_r(2, 3), _r(3, 2, seed=1)]),
}


@pytest.mark.parametrize("name", sorted(REVERSE_CASES))
def test_reverse_mode_finite_differences(name):
    fn, args = REVERSE_CASES[name]
    assert name in {n.prim.name for n in cc.trace(fn, *args).nodes}, f"case for {name} does not use it"
    cc.check_grads(fn, args, order=1, modes=("rev",))


def test_every_primitive_with_a_derivative_has_a_finite_difference_case():
    missing = sorted(set(REGISTRY) - set(CASES) - set(REVERSE_CASES) - set(FORWARD_ONLY) - NOT_DIFFERENTIABLE)
    assert not missing, f"add a finite-difference case to tests/transforms/test_primitive_grads.py for {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_finite_differences_to_second_order(name):
    fn, args = CASES[name]
    assert name in {n.prim.name for n in cc.trace(fn, *args).nodes}, f"case for {name} does not use it"
    cc.check_grads(fn, args, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
def test_forward_only_finite_differences(name):
    fn, args = FORWARD_ONLY[name]
    assert name in {n.prim.name for n in cc.trace(fn, *args).nodes}, f"case for {name} does not use it"
    cc.check_grads(fn, args, order=2, modes=("fwd",))
    with pytest.raises(cc.TraceError, match="fori_loop"):
        cc.grad(lambda *a: np.sum(fn(*a)))(*args)


@pytest.mark.parametrize("name", ["reduce_max", "max_pool2d", "maximum", "take"])
def test_float32_gradients_are_close_to_float64(name):
    fn, args = CASES[name]
    f64 = cc.grad(lambda *a: np.sum(fn(*a)))(*args)
    f32 = cc.grad(lambda *a: np.sum(fn(*a)))(*[a.astype(np.float32) for a in args])
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32, f64, rtol=1e-4, atol=1e-5)
