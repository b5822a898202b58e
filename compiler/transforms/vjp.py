"""Reverse mode as a Graph -> Graph transform: run the primal nodes once, then pull cotangents back through
each primitive's vjp rule, reading the primal values it needs (no recomputation); dead nodes are dropped,
so only the residuals the backward pass reads stay alive."""
from __future__ import annotations

import numpy as np

from ..errors import TraceError, ShapeError, DTypeError, format_loc
from ..ir.graph import Graph
from ..primitives.rules import zeros_like
from ..primitives.misc import const
from ..trace import loc_scope, record
from .graphs import build, replay, check_type
from .jvp import float_inputs


def active_values(g: Graph, wrt_values):
    """Float values that depend on the inputs being differentiated: the only ones that need cotangents."""
    active = set(wrt_values)
    for n in g.nodes:
        if (n.out.type.is_tuple or n.out.type.dtype.is_float) and any(v in active for v in n.inputs):
            active.add(n.out)
    return active


def pull_back(g: Graph, env: dict, cts: dict, active: set, residuals=None):
    """Walk g's nodes backwards from `cts` (Value -> cotangent), accumulating a cotangent for every active
    value; env holds the primal values (tracers) the rules read. Returns cts, now holding the inputs'.
    A tuple value's cotangent is a tuple with None for zero elements; `residuals` (node -> what replay's
    vjp_fwd saved, see graphs.replay) goes to that node's vjp rule."""
    for n in reversed(g.nodes):
        ct = cts.get(n.out)
        if ct is None or not any(v in active for v in n.inputs):
            continue
        if n.out.type.is_tuple and all(c is None for c in ct):
            continue
        if n.prim.vjp is None:
            raise TraceError(f"{n.prim.name} has no reverse-mode (vjp) rule")
        xs = [env[v] for v in n.inputs]
        with loc_scope(n.loc):
            if residuals is not None and n in residuals:
                in_cts = n.prim.vjp(ct, xs, env[n.out], residuals=residuals[n], **n.params)
            else:
                in_cts = n.prim.vjp(ct, xs, env[n.out], **n.params)
            for v, c in zip(n.inputs, in_cts):
                if c is None or v not in active:
                    continue
                if v.type.is_tuple:
                    for ci, typ in zip(c, v.type.types):
                        if ci is not None:
                            check_type(n.prim, "cotangent", ci, typ)
                    cts[v] = c if v not in cts else tuple(_add(a, b) for a, b in zip(cts[v], c))
                    continue
                check_type(n.prim, "cotangent", c, v.type)
                cts[v] = c if v not in cts else cts[v] + c
    return cts


def _add(a, b):
    return b if a is None else a if b is None else a + b


def vjp_graph(g: Graph, wrt=None, outs=None) -> Graph:
    """Reverse mode: inputs g.inputs + one cotangent per output in `outs` (default: the float outputs);
    outputs g.outputs + one cotangent per input in `wrt` (default: the float inputs)."""
    wrt = float_inputs(g) if wrt is None else list(wrt)
    outs = [i for i, v in enumerate(g.outputs) if v.type.dtype.is_float] if outs is None else list(outs)
    n = len(g.inputs)
    active = active_values(g, [g.inputs[i] for i in wrt])

    def body(*args):
        res = {}
        env = replay(g, dict(zip(g.inputs, args[:n])), active, res)
        cts = {}
        for i, ct in zip(outs, args[n:]):
            v = g.outputs[i]
            cts[v] = ct if v not in cts else cts[v] + ct
        pull_back(g, env, cts, active, res)
        return [env[v] for v in g.outputs] + [cts[g.inputs[i]] if g.inputs[i] in cts else zeros_like(env[g.inputs[i]])
                                               for i in wrt]

    names = [v.name for v in g.inputs] + (["ct"] if len(outs) == 1 else [f"ct{k}" for k in range(len(outs))])
    types = [v.type for v in g.inputs] + [g.outputs[i].type for i in outs]
    return build(f"vjp_{g.name}", types, names, body)


def arg_leaves(g: Graph, argnums):
    """argnums (int or tuple) -> (tuple of argnums, list of flat input indices per argnum) via g.in_tree."""
    td = g.in_tree
    n_args = len(td.children) if td is not None and td.kind == "tuple" else g.n_explicit
    sizes = [c.n_leaves for c in td.children] if td is not None and td.kind == "tuple" else [1] * n_args
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    if not nums:
        raise TraceError("argnums is empty: say which arguments to differentiate")
    out = []
    for a in nums:
        if not isinstance(a, (int, np.integer)) or not -n_args <= a < n_args:
            raise TraceError(f"argnums {argnums!r} out of range: {g.name} takes {n_args} positional arguments")
        a = int(a) % n_args
        start = sum(sizes[:a])
        out.append(list(range(start, start + sizes[a])))
    return tuple(int(a) % n_args for a in nums), out


def value_and_grad_graph(g: Graph, argnums=0, has_aux=False, with_value=True) -> Graph:
    """The graph of value_and_grad(f, argnums) for f's traced graph g: same inputs; outputs the value (and aux)
    then the gradient leaves of each argument in argnums; out_tree ((value[, aux]), grads) like cc.value_and_grad.
    with_value=False gives grad's graph: outputs grads (and aux), out_tree grads or (grads, aux)."""
    nums, leaf_sets = arg_leaves(g, argnums)
    out_td = g.out_tree
    if has_aux:
        if out_td is None or out_td.kind not in ("tuple", "list") or len(out_td.children) != 2:
            raise TraceError(f"has_aux=True: {g.name} must return a pair (value, aux), got structure {out_td}")
        value_td, aux_td = out_td.children
        if value_td.kind != "leaf":
            raise ShapeError(f"grad of {g.name}: the value must be a scalar array, got structure {value_td}")
    elif out_td is not None and out_td.kind != "leaf":
        raise ShapeError(f"grad of {g.name}: the function must return a scalar, got structure {out_td}; "
                         f"use cc.vjp or cc.jacrev for several or non-scalar outputs (or has_aux=True)")
    value = g.outputs[0]
    loc = value.node.loc if value.node is not None else None
    if value.type.ndim != 0:
        raise ShapeError(f"grad of {g.name}: the function must return a scalar, got {value.type}; use cc.vjp or "
                         f"cc.jacrev for non-scalar outputs" + format_loc(loc))
    if not value.type.dtype.is_float:
        raise DTypeError(f"grad of {g.name}: the function must return a float scalar, got {value.type}")
    for a, leaves in zip(nums, leaf_sets):
        for i in leaves:
            t = g.inputs[i].type
            if not t.dtype.is_float:
                what = g.inputs[i].name or f"argument {a}"
                raise DTypeError(f"grad of {g.name}: cannot differentiate with respect to {what} of type {t}: "
                                 f"only float inputs have derivatives (pass floats, e.g. x.astype(np.float64))")
    wrt = [i for leaves in leaf_sets for i in leaves]
    active = active_values(g, [g.inputs[i] for i in wrt])

    def body(*args):
        res = {}
        env = replay(g, dict(zip(g.inputs, args)), active, res)
        # d value / d value = 1, recorded as a node: a NumPy seed would make rules on it run eagerly and bake
        # arrays (e.g. the ones of a sum's broadcast) into the graph as constants
        seed = record(const, [], {"value": np.ones((), value.type.dtype.np)})
        cts = pull_back(g, env, {value: seed}, active, res)
        grads = [cts[g.inputs[i]] if g.inputs[i] in cts else zeros_like(env[g.inputs[i]]) for i in wrt]
        if with_value:
            return [env[v] for v in g.outputs] + grads
        return grads + [env[v] for v in g.outputs[1:]]            # grads, then aux

    td = g.in_tree
    arg_tds = [td.children[a] for a in nums] if td is not None and td.kind == "tuple" else None
    out_tree = None
    if arg_tds is not None:
        from ..pytree import TreeDef, LEAF, cotangent
        grads_td = arg_tds[0] if isinstance(argnums, (int, np.integer)) else TreeDef("tuple", None, arg_tds)
        grads_td = cotangent(grads_td)          # a complex argument's gradient is d/dx - i d/dy
        value_part = out_td if out_td is not None else LEAF
        if with_value:
            out_tree = TreeDef("tuple", None, [value_part, grads_td])
        else:
            out_tree = TreeDef("tuple", None, [grads_td, aux_td]) if has_aux else grads_td
    prefix = "value_and_grad_" if with_value else "grad_"
    return build(prefix + g.name, [v.type for v in g.inputs], [v.name for v in g.inputs], body,
                 in_tree=g.in_tree, out_tree=out_tree, n_explicit=g.n_explicit)
