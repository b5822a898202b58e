"""Batching as a Graph -> Graph transform (cc.vmap): re-record each node through its primitive's batching rule.

Every value of the batched graph is either unbatched (as in the original graph) or carries the batch along one
axis. A node whose inputs are all unbatched is recorded as it is; otherwise the batched inputs get their batch
axis moved to the front and the primitive's `batch` rule (rules.py) makes the node(s) for the whole batch.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import pytree, value_guard
from ..errors import ShapeError, TraceError
from ..inputs import eager_array
from ..ir.graph import Graph
from ..ir.types import TensorType, dims_equal, dim_str
from ..primitives.rules import shape_of, materialize
from ..primitives.shape import transpose
from ..trace import Tracer, abstractify, is_weak, loc_scope, record, trace_flat
from .graphs import build, run


def _moveaxis(x, src, dst):
    if src == dst:
        return x
    order = [i for i in range(len(shape_of(x))) if i != src]
    order.insert(dst, src)
    return transpose(x, perm=tuple(order))


def _batched_type(t: TensorType, axis, size):
    return t if axis is None else TensorType(t.dtype, t.shape[:axis] + (size,) + t.shape[axis:])


def _check_rule(prim, out, axis, want, size):
    """A batching rule must give its node's type with the batch inserted at the axis it names (for a tuple value,
    per element: a tuple of axes, None for an unbatched element)."""
    if getattr(want, "is_tuple", False):
        assert isinstance(out, tuple) and isinstance(axis, tuple) and len(out) == len(axis) == len(want.types), \
            f"batching rule of {prim.name} must give a tuple of results and one of axes for {want}"
        for o, a, t in zip(out, axis, want.types):
            _check_rule(prim, o, a, t, size)
        return
    if axis is None:
        return _check_rule_unbatched(prim, out, want)
    expect = _batched_type(want, axis, size)
    shape = tuple(shape_of(out))
    ok = (0 <= axis <= want.ndim and len(shape) == expect.ndim
          and all(dims_equal(a, b) for a, b in zip(shape, expect.shape)) and np.dtype(out.dtype) == want.dtype.np)
    if not ok:
        raise AssertionError(f"batching rule of {prim.name} gave shape {shape} and dtype {out.dtype} at batch axis "
                             f"{axis}, expected {expect}")


def _check_rule_unbatched(prim, out, want):
    shape = tuple(shape_of(out))
    assert len(shape) == want.ndim and all(dims_equal(a, b) for a, b in zip(shape, want.shape)), \
        f"batching rule of {prim.name} gave an unbatched {shape} for {want}"


def unbatched(axis):
    """Whether a value with this batch axis (an int, None, or a tuple value's tuple of them) is unbatched."""
    return axis is None or (isinstance(axis, tuple) and all(a is None for a in axis))


def batched_outputs(g: Graph, batched_inputs):
    """Which of g's outputs depend on its batched inputs (one pass; a node depends on all its inputs): what a loop's
    batching rule needs to find the carries that become batched."""
    dep = {v for v, b in zip(g.inputs, batched_inputs) if b}
    for n in g.nodes:
        if any(v in dep for v in n.inputs):
            dep.add(n.out)
    return [v in dep for v in g.outputs]


def batch_graph(g: Graph, in_axes, size, out_axes) -> Graph:
    """The graph of g mapped over a batch of `size`: input i takes the batch at axis in_axes[i] (None: unbatched,
    shared by every lane); output k gives it at out_axes[k] (None: the output must not depend on the batch)."""
    in_types = [_batched_type(v.type, a, size) for v, a in zip(g.inputs, in_axes)]

    def body(*args):
        env = dict(zip(g.inputs, zip(args, in_axes)))   # Value -> (value of the batched trace, its batch axis)
        front = {}                                       # Value -> its batched value with the batch at axis 0

        def leading(v):
            x, a = env[v]
            if isinstance(a, tuple):                     # a tuple value (a control-flow op's results)
                return tuple(xi if ai is None else _moveaxis(xi, ai, 0) for xi, ai in zip(x, a))
            if a is None or a == 0:
                return x
            if v not in front:
                front[v] = _moveaxis(x, a, 0)
            return front[v]

        def front_dims(a):
            return tuple(None if ai is None else 0 for ai in a) if isinstance(a, tuple) else (None if a is None else 0)

        for n in g.nodes:
            axes = [env[v][1] for v in n.inputs]
            with loc_scope(n.loc):
                if all(unbatched(a) for a in axes):
                    out = record(n.prim, [env[v][0] for v in n.inputs], n.params)
                    env[n.out] = (out, None if not isinstance(out, tuple) else (None,) * len(out))
                    continue
                if n.prim.batch is None:
                    raise TraceError(f"vmap: {n.prim.name} has no batching rule")
                dims = tuple(front_dims(a) for a in axes)
                out, axis = n.prim.batch([leading(v) for v in n.inputs], dims, **n.params)
            _check_rule(n.prim, out, axis, n.out.type, size)
            env[n.out] = (out, axis)

        outs = []
        for k, (v, want) in enumerate(zip(g.outputs, out_axes)):
            x, a = env[v]
            if a is None:
                if want is not None:
                    x = _moveaxis(materialize(x, size), 0, want)
            elif want is None:
                raise ShapeError(f"vmap: output {k} of {g.name} depends on the mapped inputs, but its out_axes entry "
                                 f"is None; give it an axis to stack the lanes along")
            else:
                x = _moveaxis(x, a, want)
            outs.append(x)
        return outs

    return build(f"vmap_{g.name}", in_types, [v.name for v in g.inputs], body,
                 in_tree=g.in_tree, out_tree=g.out_tree, n_explicit=g.n_explicit)


# ---- the public transform ----

def _prefix_leaves(spec, td, what):
    """One axis per leaf of the tree td, from `spec`: an int or None applies to a whole subtree, a container must
    match the structure there (a pytree prefix, as in JAX)."""
    out = []
    todo = [(spec, td)]
    while todo:
        s, t = todo.pop()
        if s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool)):
            out.extend([None if s is None else int(s)] * t.n_leaves)
            continue
        kids = None
        if isinstance(s, dict) and t.kind == "dict" and sorted(s, key=str) == sorted(t.meta, key=str):
            kids = [s[k] for k in t.meta]
        elif isinstance(s, (list, tuple)) and t.kind in ("list", "tuple", "namedtuple") and len(s) == len(t.children):
            kids = list(s)
        if kids is None:
            raise ShapeError(f"vmap: {what} {spec!r} does not fit the structure {td}: give an int or None, or a "
                             f"container of them shaped like it (a pytree prefix)")
        todo.extend(reversed(list(zip(kids, t.children))))
    return out


def _leaf_name(path):
    return f"argument {path[0]}" + "".join(f"[{k!r}]" for k in path[1:])


def vmap(fn, in_axes=0, out_axes=0, axis_size=None):
    """fn -> fn mapped over a batch axis of its arguments: the result stacks fn(lane) along out_axes.

    >>> per_example = cc.vmap(cc.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    in_axes: an int or None for every argument, or a tuple with one entry per positional argument, each an int,
    None (not mapped) or a pytree prefix of that argument; negative axes count from the end. out_axes likewise
    for the outputs. axis_size: the batch size when no argument is mapped. Nests, and composes with grad, jvp
    and compile in both orders; keyword arguments are mapped along axis 0.
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(fn)
    @value_guard.retried
    def vmapped(*args, **kwargs):
        f, spec = fn, in_axes
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise ShapeError(f"vmap: in_axes has {len(spec)} entries but {getattr(fn, '__name__', 'the function')} "
                             f"got {len(args)} positional arguments; give one entry per positional argument")
        if kwargs:
            n, keys = len(args), sorted(kwargs)
            f = lambda *a: fn(*a[:n], **dict(zip(keys, a[n:])))   # noqa: E731
            spec = (spec if isinstance(spec, tuple) else (spec,) * n) + (0,) * len(keys)
            args = tuple(args) + tuple(kwargs[k] for k in keys)
        leaves, in_tree = pytree.flatten(tuple(args))
        axes = _prefix_leaves(spec, in_tree, "in_axes")
        leaves = [x if isinstance(x, Tracer) else eager_array(x) for x in leaves]
        types = [abstractify(x) for x in leaves]
        paths = pytree.leaf_paths(in_tree)
        size, sizes = axis_size, []
        for i, (t, a) in enumerate(zip(types, axes)):
            if a is None:
                continue
            if not -t.ndim <= a < t.ndim:
                raise ShapeError(f"vmap: in_axes {a} for {_leaf_name(paths[i])} of type {t}: the axis is out "
                                 f"of range for its {t.ndim} dimensions")
            axes[i] = a % t.ndim
            sizes.append((i, t.shape[axes[i]]))
        if not sizes and axis_size is None:
            raise ShapeError("vmap must have at least one non-None value in in_axes (or pass axis_size)")
        if size is None:
            size = sizes[0][1]
        if any(not dims_equal(s, size) for _, s in sizes):
            listed = "; ".join(f"{_leaf_name(paths[i])} has size {dim_str(s)} at axis {axes[i]}"
                               for i, s in sizes)
            given = f" (axis_size={axis_size})" if axis_size is not None else ""
            raise ShapeError(f"vmap got inconsistent sizes for the mapped axes{given}: {listed}")
        lane_types = [t if a is None else TensorType(t.dtype, t.shape[:a] + t.shape[a + 1:])
                      for t, a in zip(types, axes)]
        weak = [is_weak(x) and a is None for x, a in zip(leaves, axes)]
        g, captured = trace_flat(f, in_tree, lane_types, getattr(fn, "__name__", None), weak=weak)
        out_spec = out_axes if not isinstance(out_axes, list) else tuple(out_axes)
        outs = _prefix_leaves(out_spec, g.out_tree, "out_axes")
        for k, (v, a) in enumerate(zip(g.outputs, outs)):
            if a is not None:
                if not -(v.type.ndim + 1) <= a <= v.type.ndim:
                    raise ShapeError(f"vmap: out_axes {a} is out of range for output {k} of type {v.type} "
                                     f"(batched, it has {v.type.ndim + 1} dimensions)")
                outs[k] = a % (v.type.ndim + 1)
        bg = batch_graph(g, axes + [None] * len(captured), size, outs)
        res = run(bg, leaves + list(captured))
        ids = {id(a) for a in leaves}
        res = [r.copy() if id(r) in ids else r for r in res]
        return pytree.unflatten(g.out_tree, res)
    return vmapped


__all__ = ["vmap", "batch_graph"]
