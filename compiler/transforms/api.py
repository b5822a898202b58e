"""The public transforms: cc.jvp, cc.vjp, cc.grad, cc.value_and_grad.

Each call traces the function on its arguments' types, transforms the graph, and evaluates the result: on NumPy
arrays that runs the reference interpreter; on tracers (inside cc.compile or another transform) it inlines the
derivative graph into the enclosing trace, which is how transforms nest to any order.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import calling, pytree
from .. import value_guard
from ..errors import DTypeError, TraceError, ShapeError
from ..ir.types import dims_equal
from ..inputs import eager_array
from ..trace import Tracer, abstractify, is_weak, trace_flat
from .graphs import partition, run
from .jvp import jvp_graph, float_inputs
from .vjp import vjp_graph, value_and_grad_graph


def _name(fn):
    return getattr(fn, "__name__", None) or type(fn).__name__


def trace_args(fn, args, name=None):
    """Trace fn(*args) on the args' types: (graph, flat args ready for evaluate incl. captured values)."""
    leaves, in_tree = pytree.flatten(tuple(args))
    weak = [is_weak(x) for x in leaves]           # Python scalars stay weak inside (NEP 50: f32 * 2.0 is f32)
    try:
        arrays = [x if isinstance(x, Tracer) else eager_array(x) for x in leaves]
        types = [abstractify(x) for x in arrays]
    except (DTypeError, TraceError) as e:
        bad = next((x for x in leaves if pytree.hint(x)), None)
        if bad is None:
            raise
        raise type(e)(f"{name or _name(fn)}: an argument of type {type(bad).__name__}: {e}{pytree.hint(bad)}") from None
    leaves = arrays
    g, captured = trace_flat(fn, in_tree, types, name or _name(fn), weak=weak)
    return g, leaves + list(captured)


def _fresh(outs, args):
    # eager results never alias the caller's arrays (an output that is just an input is copied)
    ids = {id(a) for a in args}
    return [o.copy() if isinstance(o, np.ndarray) and id(o) in ids else o for o in outs]


def _as_type(x, t, what):
    """x converted to the vive type t (shape must match): a tangent or cotangent for a value of type t."""
    from ..ops import asarg
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if len(shape) != t.ndim or not all(dims_equal(a, b) for a, b in zip(shape, t.shape)):
        raise ShapeError(f"{what} has shape {tuple(shape)} but its primal has type {t}")
    return asarg(x, t.dtype)


def value_and_grad(fn, argnums=0, has_aux=False):
    """fn -> a function returning (fn(*args), gradient with respect to args[argnums]).

    >>> value, grads = cc.value_and_grad(loss)(params, x, y)     # grads has params' pytree structure
    argnums may be a tuple (then grads is a tuple); with has_aux, fn returns (value, aux) and the result is
    ((value, aux), grads). fn must return a float scalar; ShapeError otherwise (use cc.vjp / cc.jacrev).
    """
    keywords = calling.KeywordCalls(fn)

    @functools.wraps(fn)
    @value_guard.retried
    def value_and_grad_fn(*args, **kwargs):
        f, args, nums = keywords.bind(args, kwargs, argnums)
        g, flat = trace_args(f, args, _name(fn))
        vg = value_and_grad_graph(g, nums, has_aux)
        return pytree.unflatten(vg.out_tree, _fresh(run(vg, flat), flat))
    return value_and_grad_fn


def grad(fn, argnums=0, has_aux=False):
    """fn -> a function returning the gradient of fn (a float scalar) with respect to args[argnums].

    >>> cc.grad(lambda x: np.sum(np.tanh(x)))(np.ones(3))
    With has_aux, fn returns (value, aux) and the result is (grads, aux). Nests: cc.grad(cc.grad(f)).
    """
    keywords = calling.KeywordCalls(fn)

    @functools.wraps(fn)
    @value_guard.retried
    def grad_fn(*args, **kwargs):
        f, args, nums = keywords.bind(args, kwargs, argnums)
        g, flat = trace_args(f, args, _name(fn))
        gg = value_and_grad_graph(g, nums, has_aux, with_value=False)
        return pytree.unflatten(gg.out_tree, _fresh(run(gg, flat), flat))
    return grad_fn


@value_guard.retried
def jvp(fn, primals, tangents):
    """Forward mode: (fn(*primals), the directional derivative of fn at primals along tangents).

    >>> out, t = cc.jvp(np.sin, (x,), (np.ones_like(x),))       # t == cos(x)
    tangents has the structure and shapes of primals; integer and boolean primals take no tangent (ignored).
    """
    primals, tangents = tuple(primals), tuple(tangents)
    g, flat = trace_args(fn, primals)
    t_leaves, t_tree = pytree.flatten(tangents)
    if not pytree.same_structure(t_tree, g.in_tree):
        raise TraceError(f"jvp: tangents must have the structure of primals: got {t_tree}, expected {g.in_tree}")
    wrt = float_inputs(g)
    ts = [_as_type(t_leaves[i], g.inputs[i].type, f"jvp: tangent {i}") for i in wrt]
    outs = run(jvp_graph(g, wrt), flat + ts)
    k = len(g.outputs)
    return pytree.unflatten(g.out_tree, _fresh(outs[:k], flat)), pytree.unflatten(g.out_tree, outs[k:])


@value_guard.retried
def vjp(fn, *primals, has_aux=False):
    """Reverse mode: (fn(*primals), vjp_fn) where vjp_fn(ct) returns one cotangent per primal, as a tuple.

    >>> out, pullback = cc.vjp(f, x, w);  dx, dw = pullback(np.ones_like(out))
    The primal part runs once, now; each vjp_fn call runs only the backward part, reading saved residuals.
    With has_aux, fn returns (out, aux) and the result is (out, vjp_fn, aux).
    """
    g, flat = trace_args(fn, primals)
    n_out = len(g.outputs)
    out_td = g.out_tree
    if has_aux:
        if out_td.kind not in ("tuple", "list") or len(out_td.children) != 2:
            raise TraceError(f"vjp with has_aux=True: {g.name} must return a pair (out, aux), got {out_td}")
        out_td, aux_td = out_td.children
        n_diff = out_td.n_leaves
    else:
        n_diff = n_out
    outs_idx = [i for i in range(n_diff) if g.outputs[i].type.dtype.is_float]
    wrt = float_inputs(g)
    first, second = partition(vjp_graph(g, wrt, outs_idx), len(g.inputs), n_out)
    res = run(first, flat)
    out_vals, residuals = _fresh(res[:n_out], flat), res[n_out:]

    def vjp_fn(ct):
        c_leaves, c_tree = pytree.flatten(ct)
        if not pytree.same_structure(c_tree, out_td):
            raise TraceError(f"vjp_fn: the cotangent must have the structure of the output: got {c_tree}, "
                             f"expected {out_td}")
        # a complex cotangent c pairs with a tangent t as Re(c t): the parts' cotangents are Re c and -Im c
        c_leaves = [np.negative(c) if im else c for c, im in zip(c_leaves, pytree.imag_leaves(c_tree))]
        cs = [_as_type(c_leaves[i], g.outputs[i].type, f"vjp_fn: cotangent {i}") for i in outs_idx]
        in_cts = iter(run(second, residuals + cs))
        wanted = set(wrt)
        leaves = [next(in_cts) if i in wanted else np.zeros(np.shape(flat[i]), g.inputs[i].type.dtype.np)
                  for i in range(g.n_explicit)]
        return tuple(pytree.unflatten(pytree.cotangent(g.in_tree), leaves))

    if has_aux:
        return (pytree.unflatten(out_td, out_vals[:n_diff]), vjp_fn,
                pytree.unflatten(aux_td, out_vals[n_diff:]))
    return pytree.unflatten(out_td, out_vals), vjp_fn


__all__ = ["jvp", "vjp", "grad", "value_and_grad", "trace_args"]
