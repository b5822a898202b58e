"""The real ops that the complex ones are made of: the NumPy surface's functions, gathered from the ops_* modules
(compiler/ops.py imports the complex modules to dispatch to them, so they do not import it)."""
from __future__ import annotations

from .ops_base import asarg, shape_of  # noqa: F401
from .ops_elementwise import (absolute, add, cos, equal, exp, greater, greater_equal, less, log,  # noqa: F401
                              logical_and, logical_not, logical_or, multiply, negative, not_equal, sin, sqrt,
                              subtract, true_divide, where)
from .ops_array import broadcast_to, full_like, zeros_like  # noqa: F401
from .ops_reduce import var  # noqa: F401
