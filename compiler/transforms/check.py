"""cc.check_grads: compare forward and reverse mode against central finite differences, to any order."""
from __future__ import annotations

import numpy as np

from .. import pytree
from .api import jvp, vjp

_DEFAULTS = {np.dtype(np.float64): (1e-5, 1e-5), np.dtype(np.float32): (3e-3, 3e-2)}   # eps, rtol


def _floats(leaves):
    return [i for i, x in enumerate(leaves) if np.asarray(x).dtype.kind == "f"]


def _numeric_jvp(f, args, tangents, eps):
    """Central difference (f(x + eps t) - f(x - eps t)) / 2 eps along tangents (float leaves only), in f64."""
    leaves, tree = pytree.flatten(tuple(args))
    t_leaves = pytree.flatten(tuple(tangents))[0]

    def shifted(sign):
        moved = [np.asarray(x + sign * eps * t, dtype=np.asarray(x).dtype) if np.asarray(x).dtype.kind == "f"
                 else x for x, t in zip(leaves, t_leaves)]
        return pytree.flatten(f(*pytree.unflatten(tree, moved)))[0]
    hi, lo = shifted(1), shifted(-1)
    return [(np.asarray(a, np.float64) - np.asarray(b, np.float64)) / (2 * eps) for a, b in zip(hi, lo)]


def _random_like(leaves, rng):
    return [rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype) if np.asarray(x).dtype.kind == "f"
            else np.zeros(np.shape(x), np.asarray(x).dtype) for x in leaves]


def _ct_leaves(ct):
    """The leaves of a cotangent, complex ones as the cotangents of their parts (Re c, -Im c)."""
    leaves, tree = pytree.flatten(ct)
    return [np.negative(c) if im else c for c, im in zip(leaves, pytree.imag_leaves(tree))]


def _close(what, got, want, rtol, atol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    if not np.allclose(got, want, rtol=rtol, atol=atol * scale, equal_nan=True):
        err = np.max(np.abs(got - want)) if got.size else 0.0
        raise AssertionError(f"check_grads: {what} differs from finite differences (max abs error {err:.3g}, "
                             f"rtol {rtol}, atol {atol * scale:.3g})\n  derivative: {got}\n  numerical:  {want}")


def check_grads(f, args, order=1, modes=("fwd", "rev"), eps=None, rtol=None, atol=None, seed=0):
    """Check f's derivatives at args against central differences; raise AssertionError on a mismatch.

    >>> cc.check_grads(lambda x: np.sum(np.tanh(x) ** 2), (np.random.rand(3),), order=2)
    "fwd": jvp along a random direction == the finite difference along it. "rev": for a random output
    cotangent c, <vjp(c), t> == <c, finite difference along t>. order=2 repeats both on the derivative functions
    (jvp and vjp themselves), which checks second derivatives; and so on. Best run in float64.
    """
    args = tuple(args)
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not set(modes) <= {"fwd", "rev"}:
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes}")
    leaves, tree = pytree.flatten(args)
    fl = [np.asarray(leaves[i]).dtype for i in _floats(leaves)]
    widest = np.dtype(np.float64) if not fl or np.dtype(np.float64) in fl else np.dtype(np.float32)
    d_eps, d_rtol = _DEFAULTS[widest]
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = rtol if atol is None else atol
    rng = np.random.default_rng(seed)
    tangents = pytree.unflatten(tree, _random_like(leaves, rng))
    numeric = _numeric_jvp(f, args, tangents, eps)

    if "fwd" in modes:
        _, t_out = jvp(f, args, tangents)
        for k, (got, want) in enumerate(zip(pytree.flatten(t_out)[0], numeric)):
            if np.asarray(got).dtype.kind == "f":
                _close(f"jvp (output {k})", got, want, rtol, atol)
    if "rev" in modes:
        out, pullback = vjp(f, *args)
        out_leaves, out_tree = pytree.flatten(out)
        cts = _random_like(out_leaves, rng)
        # complex values as pairs of parts: the cotangent (a, b) of a pair is a - ib as a complex cotangent
        in_cts = _ct_leaves(pullback(pytree.unflatten(pytree.cotangent(out_tree), cts)))
        t_leaves = pytree.flatten(tangents)[0]
        lhs = sum(float(np.sum(np.asarray(c, np.float64) * np.asarray(t, np.float64)))
                  for c, t in zip(in_cts, t_leaves) if np.asarray(t).dtype.kind == "f")
        terms = [np.asarray(c, np.float64) * n for c, n in zip(cts, numeric) if np.asarray(c).dtype.kind == "f"]
        rhs = sum(float(np.sum(t)) for t in terms)
        mag = sum(float(np.sum(np.abs(t))) for t in terms)
        if not (abs(lhs - rhs) <= atol * max(1.0, mag) + rtol * abs(rhs) or (np.isnan(lhs) and np.isnan(rhs))):
            raise AssertionError(f"check_grads: vjp disagrees with finite differences: <vjp(ct), t> = {lhs!r} but "
                                 f"<ct, numerical jvp(t)> = {rhs!r} (rtol {rtol}, atol {atol})")
    if order > 1:
        kw = dict(order=order - 1, modes=modes, eps=eps, rtol=rtol, atol=atol, seed=seed + 1)
        if "fwd" in modes:
            check_grads(lambda *a: jvp(f, a, tangents)[1], args, **kw)
        if "rev" in modes:
            out, _ = vjp(f, *args)
            out_leaves, out_tree = pytree.flatten(out)
            ct = pytree.unflatten(out_tree, _random_like(out_leaves, np.random.default_rng(seed + 7)))
            check_grads(lambda *a: vjp(f, *a)[1](ct), args, **kw)
