"""Machinery the transforms share: build a graph by running code on tracers, replay a graph into it, drop dead
nodes, and split a derivative graph into the part that needs only primals and the part that needs the seeds."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, Value
from ..ir.types import dims_equal
from ..primitives.misc import const
from ..primitives.rules import zeros
from ..errors import TraceError
from ..trace import TraceContext, Tracer, trace_stack, record, loc_scope, evaluate, bind_symbols, subst_symbols


def build(name, in_types, in_names, body, **graph_kw) -> Graph:
    """Trace body(*input tracers) -> list of outputs into a fresh graph; dead nodes are dropped."""
    ctx = TraceContext(name)
    stack = trace_stack()
    stack.append(ctx)
    try:
        tracers = [Tracer(ctx, ctx.builder.input(t, nm)) for t, nm in zip(in_types, in_names)]
        outs = [_lift(ctx, o) for o in body(*tracers)]
    finally:
        ctx.active = False
        stack.pop()
    # NOTE: body only reads its own inputs (the graph it transforms holds no tracers), so nothing is captured
    assert not ctx.captured, "a transform captured a value of an enclosing trace"
    return dce(Graph(name, ctx.builder.inputs, ctx.builder.nodes, outs, **graph_kw))


def _lift(ctx, x):
    v = ctx.lift(x)
    if v is None:
        v = ctx.builder.add(const, [], {"value": np.asarray(x)}, None)
    return v


def replay(g: Graph, env: dict, active=None, residuals=None):
    """Record g's nodes into the current trace, reading inputs from env (Value -> tracer); fills env.

    For reverse mode (`active`: the values that need cotangents): a node whose primitive has `vjp_fwd` (a loop)
    and an active input is recorded by that rule instead, which also returns what its vjp rule needs later
    (residuals stacked per iteration); they are kept in `residuals[node]`."""
    for n in g.nodes:
        xs = [env[v] for v in n.inputs]
        with loc_scope(n.loc):
            fwd = getattr(n.prim, "vjp_fwd", None)
            if fwd is not None and active is not None and any(v in active for v in n.inputs):
                env[n.out], residuals[n] = fwd(xs, [v in active for v in n.inputs], **n.params)
            else:
                env[n.out] = record(n.prim, xs, n.params)
    return env


def run(g: Graph, args):
    """Evaluate g on flat args: on NumPy arrays, the reference interpreter (trace.evaluate); with any tracer
    among them, inline g into the enclosing trace node by node.

    NOTE: unlike trace.evaluate, inlining records even the nodes that read only constants (a derivative graph's
    seeds and broadcast ones), so they are not folded into array constants the size of the data."""
    if not any(isinstance(a, Tracer) for a in args):
        return evaluate(g, args)
    if len(args) != len(g.inputs):
        raise TraceError(f"graph {g.name} takes {len(g.inputs)} inputs, got {len(args)}")
    env = dict(zip(g.inputs, args))
    symenv = bind_symbols(g, args) if g.free_symbols else None
    for n in g.nodes:
        params = {k: subst_symbols(p, symenv) for k, p in n.params.items()} if symenv else n.params
        with loc_scope(n.loc):
            env[n.out] = record(n.prim, [env[v] for v in n.inputs], params)
    return [env[v] for v in g.outputs]


def dce(g: Graph) -> Graph:
    """Keep only the nodes some output depends on (inputs stay: they are the signature)."""
    live = g.reachable_from(g.outputs)
    return g.filter(lambda n: n in live)


def same_type(a, b) -> bool:
    return a.dtype is b.dtype and len(a.shape) == len(b.shape) and all(dims_equal(x, y)
                                                                         for x, y in zip(a.shape, b.shape))


def check_types(what, got, want):
    """The types a region op passes or gets (operands vs a sub-graph's inputs, results of branches) must be equal:
    a ShapeError or DTypeError naming `what` and the first that differs."""
    from ..errors import ShapeError, DTypeError
    if len(got) != len(want):
        raise ShapeError(f"{what}: {len(got)} values where {len(want)} are expected")
    for i, (g, w) in enumerate(zip(got, want)):
        if not same_type(g, w):
            err = DTypeError if g.dtype is not w.dtype and len(g.shape) == len(w.shape) else ShapeError
            raise err(f"{what}: value {i} has type {g} where {w} is expected")


def check_type(prim, what, got, want_type):
    """A rule must return exactly its primal's type: catch a wrong rule where it is made, naming it."""
    shape = tuple(got.shape) if hasattr(got, "shape") else np.shape(got)
    dt = got.dtype if hasattr(got, "dtype") else np.asarray(got).dtype
    ok = (np.dtype(dt) == want_type.dtype.np and len(shape) == len(want_type.shape)
          and all(dims_equal(a, b) for a, b in zip(shape, want_type.shape)))
    if not ok:
        raise AssertionError(f"derivative rule of {prim.name} gave a {what} of shape {shape} and dtype {dt} "
                             f"for a value of type {want_type}")


def partition(g: Graph, n_in: int, n_out: int):
    """Split a derivative graph whose inputs are n_in primals then seeds (tangents or cotangents), and whose
    outputs are n_out primal results then derivatives, into

      first(primals) -> primal results + residuals      (everything that does not read a seed)
      second(residuals + seeds) -> derivatives

    so the primal part runs once and the derivative part once per seed (vjp_fn, jacobians)."""
    seeds = set(g.inputs[n_in:])
    late = set()                                     # values that depend on a seed
    for n in g.nodes:
        if any(v in seeds or v in late for v in n.inputs):
            late.add(n.out)
    second_nodes = [n for n in g.nodes if n.out in late]
    residuals, seen = [], set()

    def need(v):
        if v not in late and v not in seeds and v not in seen:
            seen.add(v)
            residuals.append(v)
    for n in second_nodes:
        for v in n.inputs:
            need(v)
    for v in g.outputs[n_out:]:
        need(v)

    if any(v in late for v in g.outputs[:n_out]):
        # a loop's forward mode makes primal and tangent results in one op, so a primal result reads the seeds;
        # its value does not depend on them: the primal part runs such ops with zero seeds
        def primal(*args):
            env = dict(zip(g.inputs[:n_in], args))
            for s in g.inputs[n_in:]:
                env[s] = zeros(s.type.shape, s.type.dtype)
            replay(g, env)
            return [env[v] for v in list(g.outputs[:n_out]) + residuals]
        first = build(g.name + "_primal", [v.type for v in g.inputs[:n_in]], [v.name for v in g.inputs[:n_in]],
                      primal)
    else:
        first = dce(Graph(g.name + "_primal", g.inputs[:n_in], [n for n in g.nodes if n.out not in late],
                          list(g.outputs[:n_out]) + residuals))
    mapping = {}
    res_inputs = []
    for i, v in enumerate(residuals):
        nv = Value(v.type, None, v.name if v.node is None and v.name else f"r{i}")
        mapping[v] = nv
        res_inputs.append(nv)
    for v in g.inputs[n_in:]:
        mapping[v] = v
    nodes = []
    for n in second_nodes:
        m = Node(n.prim, [mapping[v] for v in n.inputs], n.params, n.out.type, n.loc)
        mapping[n.out] = m.out
        nodes.append(m)
    second = Graph(g.name + "_derivative", res_inputs + list(g.inputs[n_in:]), nodes,
                   [mapping[v] for v in g.outputs[n_out:]])
    return first, second
