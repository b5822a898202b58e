"""Forward mode as a Graph -> Graph transform: push tangents from the inputs through each primitive's jvp rule."""
from __future__ import annotations

from ..errors import TraceError
from ..ir.graph import Graph
from ..primitives.rules import zeros_like
from ..trace import loc_scope, record
from .graphs import build, check_type


def float_inputs(g: Graph):
    """Indices of the user's float inputs: what transforms differentiate by default."""
    return [i for i, v in enumerate(g.inputs[:g.n_explicit]) if v.type.dtype.is_float]


def push_forward(g: Graph, env: dict, tangents: dict):
    """Record g's nodes and their tangents into the current trace.

    env: Value -> primal (tracer), filled for g's inputs; tangents: Value -> tangent, for the inputs that have
    one (absent = zero). Both are filled for every node; derivative nodes carry the primal node's source line.
    """
    for n in g.nodes:
        xs = [env[v] for v in n.inputs]
        with loc_scope(n.loc):
            ts = [tangents.get(v) for v in n.inputs]
            live = any(t is not None for t in ts)
            joint = getattr(n.prim, "joint_jvp", None)
            if live and joint is not None:
                # a control-flow op makes primal and tangent results in one new op (one loop, not two)
                env[n.out], t = joint(xs, ts, **n.params)
                if t is not None:
                    check_tangent(n, t)
                    tangents[n.out] = t
                continue
            env[n.out] = out = record(n.prim, xs, n.params)
            if not live or not (n.out.type.is_tuple or n.out.type.dtype.is_float):
                continue                                 # integers and booleans carry no tangent
            if n.prim.jvp is None:
                raise TraceError(f"{n.prim.name} has no forward-mode (jvp) rule")
            t = n.prim.jvp(xs, ts, out, **n.params)
            if t is not None:
                check_tangent(n, t)
                tangents[n.out] = t
    return env, tangents


def check_tangent(n, t):
    if n.out.type.is_tuple:
        for ti, typ in zip(t, n.out.type.types):
            if ti is not None:
                check_type(n.prim, "tangent", ti, typ)
    else:
        check_type(n.prim, "tangent", t, n.out.type)


def jvp_graph(g: Graph, wrt=None) -> Graph:
    """Forward mode: inputs g.inputs + one tangent per input in `wrt` (default: the float inputs);
    outputs g.outputs + one tangent per output (zeros where it does not depend on the tangents)."""
    wrt = float_inputs(g) if wrt is None else list(wrt)
    n = len(g.inputs)

    def body(*args):
        env = dict(zip(g.inputs, args[:n]))
        tangents = {g.inputs[i]: t for i, t in zip(wrt, args[n:])}
        push_forward(g, env, tangents)
        outs = [env[v] for v in g.outputs]
        return outs + [tangents[v] if v in tangents else zeros_like(env[v]) for v in g.outputs]

    names = [v.name for v in g.inputs] + [f"d{g.inputs[i].name}" if g.inputs[i].name else f"t{k}"
                                          for k, i in enumerate(wrt)]
    types = [v.type for v in g.inputs] + [g.inputs[i].type for i in wrt]
    return build(f"jvp_{g.name}", types, names, body)
