"""Full Jacobians: jacfwd (one jvp per input element), jacrev (one vjp per output element), hessian.

The primal part of the derivative graph runs once; its derivative part runs once per basis vector. Results have
shape out.shape + in.shape; pytree outputs and arguments nest as in JAX: for each output leaf, the argument's
structure (a tuple of them when argnums is a tuple).
"""
from __future__ import annotations

import functools

import numpy as np

from .. import calling, ops, pytree
from ..errors import ShapeError, DTypeError
from .api import trace_args
from .. import value_guard
from .graphs import partition, run
from .jvp import jvp_graph
from .vjp import vjp_graph, arg_leaves


def _static_size(t, what):
    if not t.is_static:
        raise ShapeError(f"{what}: a full Jacobian needs static sizes, got {t}; use cc.jvp / cc.vjp for symbolic ones")
    return int(np.prod(t.shape, dtype=np.int64))


def _basis(t, j):
    e = np.zeros(_static_size(t, "jacobian"), t.dtype.np)
    e[j] = 1
    return e.reshape(t.shape)


def _wrt(g, argnums, what):
    for td in (g.in_tree, g.out_tree):
        if td is not None and any(pytree.imag_leaves(td)):
            raise DTypeError(f"{what} of {g.name}: complex arguments or results have no Jacobian in vive (a "
                             f"complex derivative needs a convention: use cc.jvp, cc.vjp or cc.grad, or "
                             f"differentiate np.real and np.imag separately)")
    nums, leaf_sets = arg_leaves(g, argnums)
    for v in list(g.outputs) + [g.inputs[i] for leaves in leaf_sets for i in leaves]:
        _static_size(v.type, what)
    for leaves in leaf_sets:
        for i in leaves:
            if not g.inputs[i].type.dtype.is_float:
                raise DTypeError(f"{what} of {g.name}: cannot differentiate with respect to {g.inputs[i].name or i} "
                                 f"of type {g.inputs[i].type}: only float inputs have derivatives")
    return nums, leaf_sets


def _assemble(g, argnums, nums, leaf_sets, blocks):
    """blocks[(k, i)] = Jacobian of output leaf k w.r.t. input leaf i -> the nested result structure."""
    per_out = []
    for k in range(len(g.outputs)):
        args = [pytree.unflatten(g.in_tree.children[a] if g.in_tree is not None else pytree.LEAF,
                                 [blocks[(k, i)] for i in leaves]) for a, leaves in zip(nums, leaf_sets)]
        per_out.append(args[0] if isinstance(argnums, (int, np.integer)) else tuple(args))
    return pytree.unflatten(g.out_tree, per_out)


def jacfwd(fn, argnums=0):
    """fn -> its Jacobian by forward mode, shape out.shape + in.shape. Cheap when inputs are few.

    >>> cc.jacfwd(np.sin)(x)         # diag(cos(x))
    """
    keywords = calling.KeywordCalls(fn)

    @functools.wraps(fn)
    @value_guard.retried
    def jacfwd_fn(*args, **kwargs):
        f, args, argn = keywords.bind(args, kwargs, argnums)
        g, flat = trace_args(f, args, getattr(fn, "__name__", None))
        nums, leaf_sets = _wrt(g, argn, "jacfwd")
        wrt = [i for leaves in leaf_sets for i in leaves]
        first, second = partition(jvp_graph(g, wrt), len(g.inputs), len(g.outputs))
        res = run(first, flat)[len(g.outputs):]
        zero = [np.zeros(g.inputs[i].type.shape, g.inputs[i].type.dtype.np) for i in wrt]
        blocks = {}
        for p, i in enumerate(wrt):
            t = g.inputs[i].type
            cols = []
            for j in range(_static_size(t, "jacfwd")):
                seeds = list(zero)
                seeds[p] = _basis(t, j)
                cols.append(run(second, res + seeds))
            for k, o in enumerate(g.outputs):
                col = [c[k] for c in cols]
                stacked = ops.stack(col, axis=-1) if col else np.zeros(o.type.shape + (0,), o.type.dtype.np)
                blocks[(k, i)] = ops.reshape(stacked, tuple(o.type.shape) + tuple(t.shape))
        return _assemble(g, argn, nums, leaf_sets, blocks)
    return jacfwd_fn


def jacrev(fn, argnums=0):
    """fn -> its Jacobian by reverse mode, shape out.shape + in.shape. Cheap when outputs are few.

    >>> cc.jacrev(lambda w: np.tanh(x @ w))(w)
    """
    keywords = calling.KeywordCalls(fn)

    @functools.wraps(fn)
    @value_guard.retried
    def jacrev_fn(*args, **kwargs):
        f, args, argn = keywords.bind(args, kwargs, argnums)
        g, flat = trace_args(f, args, getattr(fn, "__name__", None))
        nums, leaf_sets = _wrt(g, argn, "jacrev")
        wrt = [i for leaves in leaf_sets for i in leaves]
        outs = list(range(len(g.outputs)))
        for o in g.outputs:
            if not o.type.dtype.is_float:
                raise DTypeError(f"jacrev of {g.name}: output of type {o.type} has no derivative")
        first, second = partition(vjp_graph(g, wrt, outs), len(g.inputs), len(g.outputs))
        res = run(first, flat)[len(g.outputs):]
        zero = [np.zeros(o.type.shape, o.type.dtype.np) for o in g.outputs]
        blocks = {}
        for k, o in enumerate(g.outputs):
            rows = []
            for j in range(_static_size(o.type, "jacrev")):
                seeds = list(zero)
                seeds[k] = _basis(o.type, j)
                rows.append(run(second, res + seeds))
            for p, i in enumerate(wrt):
                t = g.inputs[i].type
                row = [r[p] for r in rows]
                stacked = ops.stack(row, axis=0) if row else np.zeros((0,) + t.shape, t.dtype.np)
                blocks[(k, i)] = ops.reshape(stacked, tuple(o.type.shape) + tuple(t.shape))
        return _assemble(g, argn, nums, leaf_sets, blocks)
    return jacrev_fn


def hessian(fn, argnums=0):
    """fn (scalar output) -> its Hessian, jacfwd(jacrev(fn)): shape in.shape + in.shape."""
    return jacfwd(jacrev(fn, argnums), argnums)
