"""assert_true: a Python `assert` on a traced value, kept as a check that runs with the compiled code.

The tracer records one when the `assert` statement itself asks for the truth of a traced boolean scalar
(trace.py, assert_site.py); tracing goes on as if the assertion held. Its params: `msg` (the assert's message when
it is a constant string, else "") and `token` (whether the last input is the ordering token, as for debug_print:
effects.py); `guard` (absent for an `assert`): the site of a value-guarded choice (compiler/value_guard.py), whose
failure raises ValueGuardFailed so that the caller retraces with the site's other specialisation. Its result is that token. It is an effect, so no pass removes or merges it; the compiled code sets the
run-time status (lower/checks.py) and the call raises AssertionError with the message and the user's line.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, DTypeError, format_loc
from ..value_guard import ValueGuardFailed
from .base import Primitive
from ..ir.types import I64
from .effects import TOKEN
from .rules import zero_derivative, shape_of

# Set by compiler.trace on import: the source line of the node being evaluated (for the eager reference's message).
current_loc = None


def assertion_message(msg, loc):
    return (msg or "assertion failed") + (format_loc(loc) if loc is not None else "")


def _assert_true_shape(*types, msg, token=False, guard=None):
    if len(types) != 1 + bool(token):
        raise ShapeError(f"assert_true: {len(types)} operands for {1 + bool(token)}")
    c = types[0]
    if c.shape != () or not c.dtype.is_bool:
        raise DTypeError(f"assert_true: the condition must be bool[], got {c}")
    if token and types[-1] != TOKEN:
        raise ShapeError(f"assert_true: the ordering token must be {TOKEN}, got {types[-1]}")
    return TOKEN


def _assert_true_np(cond, *token, msg, guard=None, **_):
    if not bool(cond):
        if guard is not None:
            raise ValueGuardFailed(assertion_message(msg, current_loc() if current_loc is not None else None), guard)
        raise AssertionError(assertion_message(msg, current_loc() if current_loc is not None else None))
    return np.zeros((), np.bool_)


def _assert_true_batch(args, dims, /, msg, token=False, guard=None):
    # a batched assertion holds when it holds in every lane; the check itself runs once per call
    from .reduce import reduce_sum
    from .elementwise import logical_not, cast, eq
    c, d = args[0], dims[0]
    if d is not None:
        failed = reduce_sum(cast(logical_not(c), dtype=I64), axes=tuple(range(len(shape_of(c)))))
        c = eq(failed, np.zeros((), np.int64))
    extra = {} if guard is None else {"guard": guard}
    return assert_true(c, *args[1:], msg=msg, token=token, **extra), None


assert_true = Primitive("assert_true", numpy=_assert_true_np,
                        shape=_assert_true_shape, kind="other", effect=True, differentiable=False,
                        batch=_assert_true_batch, checked=True, **zero_derivative)

__all__ = ["assert_true", "assertion_message"]
