"""The passes for calls that differ from their body only under differentiation (custom_jvp_call, custom_vjp_call,
remat_call: their primitive names an `inline_region`):

inline_calls      each call is replaced by its region's nodes, and the `get` nodes reading its results by the
                  region's results; nested calls too (a work stack, no recursion). Runs first.
remove_barriers   optimization_barrier(x) -> x. Runs after CSE: the barriers kept checkpoint's recomputation
                  apart from the forward pass while CSE ran; later passes merge nothing, and a barrier left in
                  place would copy its operand (a gemm reads its operands from memory).
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..primitives import REGISTRY
from .manager import graph_pass, Rewriter

_GET = REGISTRY.get("get")


def has_calls(g: Graph) -> bool:
    return any(getattr(n.prim, "inline_region", None) for n in g.nodes)


@graph_pass
def inline_calls(g: Graph) -> Graph:
    """Put each call's region in its place: linear in the number of nodes after inlining."""
    if not has_calls(g):
        return g
    rw = Rewriter(g)
    results = {}                 # a call's tuple value -> the inlined results it stands for
    last_effect = None
    # each frame: (iterator over nodes, env mapping that graph's values to values of the result or None for g)
    stack = [(iter(g.nodes), None)]
    while stack:
        it, env = stack[-1]
        n = next(it, None)
        if n is None:
            stack.pop()
            continue
        ins = rw.inputs(n) if env is None else tuple(env.get(v, v) for v in n.inputs)
        key = getattr(n.prim, "inline_region", None)
        if key is not None:
            sub = n.params[key]
            sub_env = dict(zip(sub.inputs, ins))
            stack.append((iter(sub.nodes), sub_env))
            # the results are known once the region's nodes are done: read them lazily through the env
            results[n.out] = (sub, sub_env)
            if env is None:
                rw.changed = True
            continue
        if n.prim is _GET and ins[0] in results:
            sub, sub_env = results[ins[0]]
            v = sub.outputs[n.params["index"]]
            v = sub_env.get(v, v)
            if env is None:
                rw.replace(n, v)
            else:
                env[n.out] = v
            continue
        if n.prim.effect:
            # one ordering-token chain through the effects of the result, in program order (a region's prints
            # had a chain of their own)
            ins = ins[:-1] if n.params.get("token") else ins
            ins = ins + ((last_effect,) if last_effect is not None else ())
            m = Node(n.prim, ins, {**n.params, "token": last_effect is not None}, n.out.type, n.loc)
            rw.nodes.append(m)
            rw._origin_live.append(n if env is None else None)
            rw.changed = True
            (rw.subst if env is None else env)[n.out] = last_effect = m.out
            continue
        if env is None:
            rw.keep(n, ins)
        else:
            m = Node(n.prim, ins, n.params, n.out.type, n.loc)
            rw.nodes.append(m)
            rw._origin_live.append(None)
            env[n.out] = m.out
    return rw.finish()


_BARRIER = REGISTRY["optimization_barrier"]


def has_barriers(g: Graph) -> bool:
    return any(n.prim is _BARRIER for n in g.nodes)


@graph_pass
def remove_barriers(g: Graph) -> Graph:
    if not has_barriers(g):
        return g
    rw = Rewriter(g)
    for n in g.nodes:
        ins = rw.inputs(n)
        if n.prim is _BARRIER:
            rw.replace(n, ins[0])
        else:
            rw.keep(n, ins)
    return rw.finish()
