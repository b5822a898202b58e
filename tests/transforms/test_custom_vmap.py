"""vmap of cc.custom_jvp / cc.custom_vjp functions keeps their rules: differentiating a vmapped custom function
gives the rule's derivative, the same as vmapping its derivative (JAX's vmap and grad commute here too)."""
import numpy as np
import pytest

import compiler as cc

X = np.array([0.3, 1.2, -0.7, 2.0])
Y = np.array([2.0, -1.0, 0.5, 1.5])
M = np.arange(12.0).reshape(4, 3) / 7.0 - 0.5


@cc.custom_vjp
def scaled_sin(x, y):
    return np.sin(x) * y


def _scaled_sin_fwd(x, y):
    return np.sin(x) * y, (np.cos(x), np.sin(x), y)


def _scaled_sin_bwd(res, g):
    # deliberately not the derivative in x (three times it), so only the rule can give these numbers
    c, s, y = res
    return 3.0 * c * y * g, s * g


scaled_sin.defvjp(_scaled_sin_fwd, _scaled_sin_bwd)


@cc.custom_jvp
def twice_cos(x, y):
    return np.sin(x) * y


@twice_cos.defjvp
def _twice_cos_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    return np.sin(x) * y, 2.0 * np.cos(x) * y * tx + np.sin(x) * ty


RULES = {"custom_vjp": (scaled_sin, 3.0), "custom_jvp": (twice_cos, 2.0)}


@pytest.mark.parametrize("kind", sorted(RULES))
@pytest.mark.parametrize("compiled", [False, True])
def test_grad_of_vmap_uses_the_rule(kind, compiled):
    f, k = RULES[kind]
    loss = lambda x, y: np.sum(cc.vmap(f)(x, y))                                   # noqa: E731
    g = cc.grad(loss, argnums=(0, 1))
    gx, gy = (cc.compile(g) if compiled else g)(X, Y)
    np.testing.assert_allclose(gx, k * np.cos(X) * Y, rtol=1e-13)
    np.testing.assert_allclose(gy, np.sin(X), rtol=1e-13)
    # the other order agrees
    hx = cc.vmap(cc.grad(f))(X, Y)
    np.testing.assert_allclose(hx, gx, rtol=1e-13)
    np.testing.assert_allclose(cc.vmap(f)(X, Y), np.sin(X) * Y, rtol=1e-14)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_unbatched_argument_gets_the_summed_rule_cotangent(kind):
    f, k = RULES[kind]
    # y is shared by the lanes (in_axes None): its gradient sums the rule's per-lane cotangents
    loss = lambda x, y: np.sum(cc.vmap(f, in_axes=(0, None))(x, y))               # noqa: E731
    gx, gy = cc.grad(loss, argnums=(0, 1))(M, Y[:3])
    np.testing.assert_allclose(gx, k * np.cos(M) * Y[:3], rtol=1e-13)
    np.testing.assert_allclose(gy, np.sin(M).sum(axis=0), rtol=1e-13)
    gx2, gy2 = cc.compile(cc.grad(loss, argnums=(0, 1)))(M, Y[:3])
    np.testing.assert_allclose(gx2, gx, rtol=1e-13)
    np.testing.assert_allclose(gy2, gy, rtol=1e-13)


def test_forward_mode_of_vmapped_custom_jvp_uses_the_rule():
    _, t = cc.jvp(cc.vmap(twice_cos), (X, Y), (np.ones(4), np.zeros(4)))
    np.testing.assert_allclose(t, 2.0 * np.cos(X) * Y, rtol=1e-14)
    jac = cc.jacfwd(lambda x: cc.vmap(twice_cos)(x, Y))(X)
    np.testing.assert_allclose(jac, np.diag(2.0 * np.cos(X) * Y), rtol=1e-14, atol=1e-15)


def test_nested_vmap_keeps_the_rule():
    y = Y[:3]
    loss = lambda m: np.sum(cc.vmap(cc.vmap(scaled_sin, in_axes=(0, None)), in_axes=(0, None))(m, y))  # noqa
    m = M[None] + np.arange(2.0)[:, None, None]
    np.testing.assert_allclose(cc.grad(loss)(m), 3.0 * np.cos(m) * y, rtol=1e-13)
    np.testing.assert_allclose(cc.compile(cc.grad(loss))(m), 3.0 * np.cos(m) * y, rtol=1e-13)


def test_custom_function_closing_over_a_batched_value():
    # the closure is batched by the outer vmap: the function and its rule see each lane's value
    def per_lane(x, s):
        @cc.custom_vjp
        def f(x):
            return np.sin(x) * s

        f.defvjp(lambda x: (np.sin(x) * s, np.cos(x)), lambda c, g: (5.0 * c * g,))
        return np.sum(f(x))

    xs = M
    s = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(cc.vmap(per_lane)(xs, s), (np.sin(xs) * s[:, None]).sum(axis=1), rtol=1e-14)
    got = cc.vmap(cc.grad(per_lane))(xs, s)
    np.testing.assert_allclose(got, 5.0 * np.cos(xs), rtol=1e-13)
    got2 = cc.grad(lambda xs: np.sum(cc.vmap(per_lane)(xs, s)))(xs)
    np.testing.assert_allclose(got2, 5.0 * np.cos(xs), rtol=1e-13)
