"""Controlling differentiation: cc.stop_gradient (a value that carries no derivative)."""
from __future__ import annotations

import numpy as np

from .. import pytree
from ..primitives import stop_gradient as _stop_gradient_p
from ..trace import Tracer


def stop_gradient(x):
    """x unchanged, but with a zero derivative: grad, jvp and vjp treat it as a constant. x may be a pytree.

    >>> cc.grad(lambda x: np.sum(x * cc.stop_gradient(x)))(np.ones(3))     # [1. 1. 1.], not [2. 2. 2.]
    """
    def leaf(a):
        return _stop_gradient_p(a if isinstance(a, Tracer) else np.asarray(a))
    return pytree.tree_map(leaf, x)


__all__ = ["stop_gradient"]
