"""The control-flow primitives: scan, while_loop and cond, nodes that hold sub-graphs ("regions").

Each keeps all its rules here: shape rule (the regions' signatures against the operands), NumPy reference (the
regions run by the reference interpreter), forward mode (one new op over the regions' JVP graphs: primal and
tangent in one loop) and reverse mode (a loop's per-iteration residuals are stacked by the forward loop, then a
second loop runs the transposed body backwards; never unrolled). They sit above the transforms in the layering
because their rules are graph transforms of their regions.

Conventions (what the lowering relies on):
  scan        operands consts + init carries + xs; params body (consts + carries + x slices -> carries + y
              slices), length, reverse, n_consts, n_carry; result (carries..., ys stacked on a new axis 0)
  while_loop  operands cond consts + body consts + init; params cond (cond consts + carries -> bool[]), body
              (body consts + carries -> carries), n_cond_consts, n_body_consts; result (carries...)
  cond        operands index (i32[], clamped to the branches) + operands; params branches (a tuple of graphs,
              each operands -> results, identical signatures); result (results...)
"""
from __future__ import annotations

import numpy as np
from ..lazy import is_sympy, sympy

from ..errors import DTypeError, ShapeError, TraceError
from ..ir.graph import Graph, Node, Value
from ..ir.types import TensorType, TupleType, dims_equal
from ..primitives.base import Primitive
from ..primitives.rules import zeros_like
from ..trace import evaluate
from ..transforms.graphs import build, run, partition, dce, check_types
from ..transforms.jvp import jvp_graph
from ..transforms.vjp import vjp_graph
from .batching import scan_batch, while_batch, cond_batch


def _match(what, got, want, env):
    """Check operand types `got` against a region's input types `want`, binding the region's own size symbols
    to the operands' sizes in env (a region is polymorphic in them: traced with cc.Spec sizes, evaluated on
    arrays)."""
    if len(got) != len(want):
        raise ShapeError(f"{what}: {len(got)} values where {len(want)} are expected")
    for i, (g, w) in enumerate(zip(got, want)):
        ok = g.dtype is w.dtype and len(g.shape) == len(w.shape)
        for a, b in zip(g.shape, w.shape) if ok else ():
            if is_sympy(b, "Symbol") and b not in env:
                env[b] = a
            elif not dims_equal(a, _subst_dim(b, env)):
                ok = False
        if not ok:
            err = DTypeError if g.dtype is not w.dtype and len(g.shape) == len(w.shape) else ShapeError
            raise err(f"{what}: value {i} has type {g} where {w} is expected")


def _subst_dim(d, env):
    if isinstance(d, int) or not env:
        return d
    r = d.xreplace({k: sympy.Integer(v) if isinstance(v, int) else v for k, v in env.items()})
    return int(r) if r.is_Integer else r


def _inst(t: TensorType, env):
    return TensorType(t.dtype, [_subst_dim(d, env) for d in t.shape]) if env else t


def _stacked(t: TensorType, length):
    return TensorType(t.dtype, (length,) + tuple(t.shape))


def _is_float(t):
    return t.dtype.is_float


# ================================================================ scan

def _scan_shape(*ins, body, length, reverse, n_consts, n_carry):
    consts, carry, xs = ins[:n_consts], ins[n_consts:n_consts + n_carry], ins[n_consts + n_carry:]
    b_in, env = body.in_types, {}
    _match("scan: body inputs (consts)", consts, b_in[:n_consts], env)
    _match("scan: the carry passed in", carry, b_in[n_consts:n_consts + n_carry], env)
    slices = []
    for i, x in enumerate(xs):
        if x.ndim == 0 or not dims_equal(x.shape[0], length):
            raise ShapeError(f"scan: xs value {i} of type {x} has no leading axis of the scan's length {length}")
        slices.append(TensorType(x.dtype, x.shape[1:]))
    _match("scan: body inputs (x slices)", slices, b_in[n_consts + n_carry:], env)
    b_out = body.out_types
    if len(b_out) < n_carry:
        raise ShapeError(f"scan: the body returns {len(b_out)} values, fewer than its {n_carry} carries")
    check_types("scan: the carry the body returns (it must keep the carry's types)", b_out[:n_carry],
                 b_in[n_consts:n_consts + n_carry])
    return TupleType([_inst(t, env) for t in b_out[:n_carry]] + [_stacked(_inst(t, env), length)
                                                                 for t in b_out[n_carry:]])


def _scan_numpy(*ins, body, length, reverse, n_consts, n_carry):
    consts, carry, xs = list(ins[:n_consts]), list(ins[n_consts:n_consts + n_carry]), ins[n_consts + n_carry:]
    length = int(length)
    ys = []
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = evaluate(body, consts + carry + [x[i] for x in xs])
        carry, y = list(outs[:n_carry]), outs[n_carry:]
        ys.append(y)
    if reverse:
        ys.reverse()
    out_ys = []
    for k, t in enumerate(body.out_types[n_carry:]):
        if ys:
            out_ys.append(np.stack([np.asarray(y[k], t.dtype.np) for y in ys]))
        else:
            out_ys.append(np.zeros((0,) + tuple(int(d) for d in t.shape), t.dtype.np))
    return tuple(carry) + tuple(out_ys)


def _split(seq, *sizes):
    out, i = [], 0
    for s in sizes:
        out.append(list(seq[i:i + s]))
        i += s
    out.append(list(seq[i:]))
    return out


def _scan_joint_jvp(xs, ts, *, body, length, reverse, n_consts, n_carry):
    b_in, b_out = body.in_types, body.out_types
    nc, nk = n_consts, n_carry
    nx = len(b_in) - nc - nk
    has_t = [t is not None for t in ts]
    # every float carry gets a tangent once anything does (no fixpoint: a zero tangent costs one extra value)
    t_c = [has_t[i] for i in range(nc)]
    t_k = [_is_float(b_in[nc + i]) for i in range(nk)]
    t_x = [has_t[nc + nk + i] for i in range(nx)]
    mask = t_c + t_k + t_x
    wrt = [i for i, m in enumerate(mask) if m]
    jg = jvp_graph(body, wrt=wrt)
    n_in, n_out = len(b_in), len(b_out)
    pos = {i: n_in + k for k, i in enumerate(wrt)}              # input i's tangent in jg's inputs
    ys_t = [k for k in range(nk, n_out) if _is_float(b_out[k])]  # ys that get a tangent

    idx_c = list(range(nc)) + [pos[i] for i in range(nc) if t_c[i]]
    idx_k = list(range(nc, nc + nk)) + [pos[nc + i] for i in range(nk) if t_k[i]]
    idx_x = list(range(nc + nk, n_in)) + [pos[nc + nk + i] for i in range(nx) if t_x[i]]
    order = idx_c + idx_k + idx_x
    k_t = [nk_i for nk_i in range(nk) if t_k[nk_i]]
    outs = list(range(nk)) + [n_out + i for i in k_t] + list(range(nk, n_out)) + [n_out + k for k in ys_t]
    new_body = _regroup(jg, order, outs, "body")
    zeros = lambda x: zeros_like(x)                                    # noqa: E731
    tan = [t if t is not None else zeros(x) for t, x in zip(ts, xs)]
    c, k, x = _split(xs, nc, nk)
    tc, tk, tx = _split(tan, nc, nk)
    ops = (c + [tc[i] for i in range(nc) if t_c[i]] + k + [tk[i] for i in range(nk) if t_k[i]]
           + x + [tx[i] for i in range(nx) if t_x[i]])
    res = scan_p(*ops, body=new_body, length=length, reverse=reverse,
                 n_consts=nc + sum(t_c), n_carry=nk + len(k_t))
    n_kt = len(k_t)
    carry, carry_t = res[:nk], res[nk:nk + n_kt]
    ys, ys_tan = res[nk + n_kt:nk + n_kt + (n_out - nk)], res[nk + n_kt + (n_out - nk):]
    primal = tuple(carry) + tuple(ys)
    tangent = [None] * len(primal)
    for j, i in enumerate(k_t):
        tangent[i] = carry_t[j]
    for j, k_ in enumerate(ys_t):
        tangent[k_] = ys_tan[j]
    return primal, tuple(tangent)


def _regroup(g: Graph, in_order, out_order, name):
    """A graph running g with its inputs permuted (new input j is g's input in_order[j]) and outputs selected."""
    types = [g.inputs[i].type for i in in_order]
    names = [g.inputs[i].name for i in in_order]

    def body(*args):
        full = [None] * len(g.inputs)
        for a, i in zip(args, in_order):
            full[i] = a
        outs = run(g, full)
        return [outs[i] for i in out_order]
    return build(name, types, names, body)


def _scan_vjp_fwd(xs, active, *, body, length, reverse, n_consts, n_carry):
    """The forward loop of reverse mode: the primal results plus, stacked per iteration, the residuals the
    transposed body reads."""
    plan = _scan_vjp_plan(body, active, n_consts, n_carry)
    c, k, x = _split(xs, n_consts, n_carry)
    res = scan_p(*(c + k + x), body=plan["fwd"], length=length, reverse=reverse, n_consts=n_consts,
                 n_carry=n_carry)
    n_prim = len(body.outputs)
    return tuple(res[:n_prim]), (plan, list(res[n_prim:]))


def _scan_vjp_plan(body: Graph, active, nc, nk):
    b_in, b_out = body.in_types, body.out_types
    n_in, n_out = len(b_in), len(b_out)
    act_c = [active[i] and _is_float(b_in[i]) for i in range(nc)]
    act_k = [_is_float(b_in[nc + i]) for i in range(nk)]
    act_x = [active[i] and _is_float(b_in[i]) for i in range(nc + nk, n_in)]
    wrt = [i for i, m in enumerate(act_c + act_k + act_x) if m]
    outs = [i for i in range(n_out) if _is_float(b_out[i])]
    vg = vjp_graph(body, wrt=wrt, outs=outs)
    first, second = partition(vg, n_in, n_out)
    first, second = _recompute_cheap(first, second, n_out, set(first.inputs[:nc]) | set(first.inputs[nc + nk:]))
    residuals = first.outputs[n_out:]
    pos = {v: i for i, v in enumerate(first.inputs)}
    # where each residual comes from: a const (passed once), an x slice (read from xs), else stacked per step
    invariant = set(first.inputs[:nc])
    for n in first.nodes:
        if all(v in invariant for v in n.inputs):
            invariant.add(n.out)
    kinds = []
    for r in residuals:
        if r in pos and pos[r] < nc:
            kinds.append(("const", pos[r]))
        elif r in pos and pos[r] >= nc + nk:
            kinds.append(("x", pos[r] - nc - nk))
        elif r in invariant:
            kinds.append(("hoist", None))
        else:
            kinds.append(("stack", None))
    stacked = [r for r, (kd, _) in zip(residuals, kinds) if kd == "stack"]
    fwd = dce(Graph("body", first.inputs, first.nodes, list(first.outputs[:n_out]) + stacked))
    hoisted = [r for r, (kd, _) in zip(residuals, kinds) if kd == "hoist"]
    inv_graph = dce(Graph("invariant", list(first.inputs[:nc]), [n for n in first.nodes if n.out in invariant],
                          hoisted))
    return dict(fwd=fwd, second=second, kinds=kinds, wrt=wrt, outs=outs, inv=inv_graph, act_c=act_c,
                act_k=act_k, act_x=act_x, n_stacked=len(stacked))


def _elems(t):
    n = 1
    for d in t.shape:
        n *= d if isinstance(d, int) else 64          # a symbolic size: a guess, only to weigh the two plans
    return n


# results worth keeping rather than recomputing in the backward loop (tens of instructions per element): those of
# primitives costing this many fusion cost units (Primitive.cost) or more: exp, log, tanh, erf, pow, atan2, ...
_KEEP_COST = 4


def _recompute_cheap(first: Graph, second: Graph, n_out, free):
    """Residuals that are cheap elementwise or shape functions (arithmetic, slices; not transcendentals) of other
    values are recomputed by the backward body from those values (transcendental and dot results, the body's
    inputs) instead of being stacked by the forward loop, when that stacks fewer elements: an LSTM cell stacks
    its five tanh results and its carries, not a dozen gate values and derivative factors (1 - t*t and the like),
    and its backward body evaluates no tanh. `free`: values not stacked
    (consts, x slices). Returns the new (first, second)."""
    residuals = list(first.outputs[n_out:])
    kept = set()                                      # cheap nodes whose result is stacked after all

    def cone():
        cheap, anchors, seen, stack = {}, [], set(), list(reversed(residuals))
        while stack:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            n = v.node
            if n is not None and n not in kept and n.prim.cost < _KEEP_COST and (
                    n.prim.kind in ("elementwise", "shape") or n.prim.name == "const"):
                cheap[n] = True
                stack.extend(reversed(n.inputs))
            else:
                anchors.append(v)
        return cheap, anchors
    cheap, anchors = cone()
    # an anchor read by one cheap node whose other inputs are free, and whose result is no larger: stack that
    # result instead (a gemm's output plus the step's x, the pre-activation: the add stays fused in the gemm)
    res_set, users = set(residuals), {}
    for n in cheap:
        for u in n.inputs:
            users.setdefault(u, set()).add(n)
    for u in anchors:
        while u not in free and u not in res_set and len(users.get(u, ())) == 1:
            n = next(iter(users[u]))
            if _elems(n.out.type) > _elems(u.type) or any(
                    w is not u and w not in free and not (w.node is not None and w.node.prim.name == "const")
                    for w in n.inputs):
                break
            kept.add(n)
            u = n.out
    if kept:
        cheap, anchors = cone()
    if not cheap or sum(_elems(v.type) for v in anchors if v not in free) >= \
            sum(_elems(v.type) for v in set(residuals) if v not in free):
        return first, second
    new_first = dce(Graph(first.name, first.inputs, first.nodes, list(first.outputs[:n_out]) + anchors))
    mapping = {}
    ins = []
    for i, a in enumerate(anchors):
        mapping[a] = Value(a.type, None, a.name if a.node is None and a.name else f"r{i}")
        ins.append(mapping[a])
    nodes = []
    for n in first.nodes:                             # the recomputed cone, in the forward's order
        if n in cheap:
            m = Node(n.prim, [mapping[v] for v in n.inputs], n.params, n.out.type, n.loc)
            mapping[n.out] = m.out
            nodes.append(m)
    for r, v in zip(residuals, second.inputs):
        mapping[v] = mapping[r]
    seeds = list(second.inputs[len(residuals):])
    for v in seeds:
        mapping[v] = v
    for n in second.nodes:
        m = Node(n.prim, [mapping[v] for v in n.inputs], n.params, n.out.type, n.loc)
        mapping[n.out] = m.out
        nodes.append(m)
    new_second = dce(Graph(second.name, ins + seeds, nodes, [mapping[v] for v in second.outputs]))
    return new_first, new_second


def _scan_vjp(ct, xs, out, *, body, length, reverse, n_consts, n_carry, residuals=None):
    nc, nk = n_consts, n_carry
    if residuals is None:
        _, residuals = _scan_vjp_fwd(xs, [True] * len(xs), body=body, length=length, reverse=reverse,
                                     n_consts=nc, n_carry=nk)
    plan, stacked = residuals
    b_in, b_out = body.in_types, body.out_types
    n_out = len(b_out)
    c, k, x = _split(xs, nc, nk)
    kinds, outs, wrt, second = plan["kinds"], plan["outs"], plan["wrt"], plan["second"]
    act_c, act_k, act_x = plan["act_c"], plan["act_k"], plan["act_x"]
    ct = list(ct)
    ct_full = [ct[i] if ct[i] is not None else zeros_like(out[i]) for i in range(len(ct))]
    # the backward loop: consts = the const residuals' sources + the invariant graph's inputs (all consts),
    # carries = carry cotangents + accumulated const cotangents, xs = stacked residuals, x residuals, ys' cts
    x_used = sorted({i for kd, i in kinds if kd == "x"})
    k_ct_types = [b_in[nc + i] for i in range(nk) if act_k[i]]
    c_idx = [i for i in range(nc) if act_c[i]]
    ys_ct_idx = [i for i in outs if i >= nk]
    n_st = plan["n_stacked"]

    in_types = ([v.type for v in body.inputs[:nc]]
                + k_ct_types + [b_in[i] for i in c_idx]
                + [s_t for s_t in (plan["fwd"].out_types[n_out:])]
                + [b_in[nc + nk + i] for i in x_used]
                + [b_out[i] for i in ys_ct_idx])
    nk_b = len(k_ct_types) + len(c_idx)

    def back(*args):
        consts, rest = list(args[:nc]), list(args[nc:])
        k_cts, rest = rest[:len(k_ct_types)], rest[len(k_ct_types):]
        acc, rest = rest[:len(c_idx)], rest[len(c_idx):]
        st, rest = rest[:n_st], rest[n_st:]
        xr, y_cts = rest[:len(x_used)], rest[len(x_used):]
        hoisted = iter(run(plan["inv"], consts)) if plan["inv"].outputs else iter(())
        st_it = iter(st)
        res_vals = []
        for kd, i in kinds:
            if kd == "const":
                res_vals.append(consts[i])
            elif kd == "x":
                res_vals.append(xr[x_used.index(i)])
            elif kd == "hoist":
                res_vals.append(next(hoisted))
            else:
                res_vals.append(next(st_it))
        # cotangents of the body's outputs in `outs` order: carries' (from the carry), ys' (from xs)
        k_ct_map = dict(zip([i for i in range(nk) if act_k[i]], k_cts))
        y_ct_map = dict(zip(ys_ct_idx, y_cts))
        out_cts = [k_ct_map[i] if i < nk else y_ct_map[i] for i in outs]
        in_cts = run(second, res_vals + out_cts)
        got = dict(zip(wrt, in_cts))
        new_k = [got[nc + i] for i in range(nk) if act_k[i]]
        new_acc = [a + got[i] for a, i in zip(acc, c_idx)]
        x_cts = [got[nc + nk + i] for i in range(len(b_in) - nc - nk) if act_x[i]]
        return new_k + new_acc + x_cts

    names = [f"c{i}" for i in range(len(in_types))]
    back_g = build("body", in_types, names, back)
    init_k = [ct_full[i] for i in range(nk) if act_k[i]]
    init_acc = [zeros_like(c[i]) for i in c_idx]
    ops = (c + init_k + init_acc + list(stacked) + [x[i] for i in x_used] + [ct_full[i] for i in ys_ct_idx])
    res = scan_p(*ops, body=back_g, length=length, reverse=not reverse, n_consts=nc, n_carry=nk_b)
    k_out, acc_out, x_out = res[:len(init_k)], res[len(init_k):nk_b], res[nk_b:]
    cts = [None] * len(xs)
    for j, i in enumerate(c_idx):
        cts[i] = acc_out[j]
    for j, i in enumerate([i for i in range(nk) if act_k[i]]):
        cts[nc + i] = k_out[j]
    for j, i in enumerate([i for i in range(len(b_in) - nc - nk) if act_x[i]]):
        cts[nc + nk + i] = x_out[j]
    return cts


scan_p = Primitive("scan", numpy=_scan_numpy, shape=_scan_shape, kind="control", vjp=_scan_vjp, batch=scan_batch,
                   doc="a loop over the leading axis of xs with a carry (cc.scan)")
scan_p.joint_jvp = _scan_joint_jvp
scan_p.vjp_fwd = _scan_vjp_fwd


# ================================================================ while_loop

def _while_shape(*ins, cond, body, n_cond_consts, n_body_consts):
    cc_, bc, init = (ins[:n_cond_consts], ins[n_cond_consts:n_cond_consts + n_body_consts],
                     ins[n_cond_consts + n_body_consts:])
    _match("while_loop: cond_fun inputs", list(cc_) + list(init), cond.in_types, {})
    _match("while_loop: body_fun inputs", list(bc) + list(init), body.in_types, {})
    out = cond.out_types
    if len(out) != 1 or out[0].ndim != 0 or not out[0].dtype.is_bool:
        raise DTypeError(f"while_loop: cond_fun must return a boolean scalar, got {', '.join(map(str, out))}")
    check_types("while_loop: the carry body_fun returns (it must keep the carry's types)", body.out_types,
                 body.in_types[n_body_consts:])
    return TupleType(init)


def _while_numpy(*ins, cond, body, n_cond_consts, n_body_consts):
    cc_, bc = list(ins[:n_cond_consts]), list(ins[n_cond_consts:n_cond_consts + n_body_consts])
    carry = list(ins[n_cond_consts + n_body_consts:])
    while bool(evaluate(cond, cc_ + carry)[0]):
        carry = list(evaluate(body, bc + carry))
    return tuple(carry)


def _while_joint_jvp(xs, ts, *, cond, body, n_cond_consts, n_body_consts):
    ncc, nbc = n_cond_consts, n_body_consts
    nk = len(xs) - ncc - nbc
    b_in = body.in_types
    t_c = [ts[ncc + i] is not None for i in range(nbc)]
    t_k = [_is_float(b_in[nbc + i]) for i in range(nk)]
    wrt = [i for i, m in enumerate(t_c + t_k) if m]
    jg = jvp_graph(body, wrt=wrt)
    n_in = len(b_in)
    pos = {i: n_in + j for j, i in enumerate(wrt)}
    order = (list(range(nbc)) + [pos[i] for i in range(nbc) if t_c[i]] + list(range(nbc, n_in))
             + [pos[nbc + i] for i in range(nk) if t_k[i]])
    k_t = [i for i in range(nk) if t_k[i]]
    new_body = _regroup(jg, order, list(range(nk)) + [len(body.outputs) + i for i in k_t], "body")
    # the condition reads the primal carries only
    ct_types = [v.type for v in cond.inputs] + [b_in[nbc + i] for i in k_t]

    def cnd(*args):
        return run(cond, list(args[:len(cond.inputs)]))
    new_cond = build("cond", ct_types, [f"c{i}" for i in range(len(ct_types))], cnd)
    cc_, bc, k = _split(xs, ncc, nbc)
    tbc = [ts[ncc + i] for i in range(nbc) if t_c[i]]
    tk = [ts[ncc + nbc + i] if ts[ncc + nbc + i] is not None else zeros_like(k[i]) for i in k_t]
    res = while_p(*(cc_ + bc + tbc + k + tk), cond=new_cond, body=new_body, n_cond_consts=ncc,
                  n_body_consts=nbc + len(tbc))
    primal = tuple(res[:nk])
    tangent = [None] * nk
    for j, i in enumerate(k_t):
        tangent[i] = res[nk + j]
    return primal, tuple(tangent)


def _while_vjp(ct, xs, out, **_):
    raise TraceError("reverse-mode differentiation (grad, vjp, jacrev) of cc.while_loop is not supported: its trip "
                     "count is unknown, so the values a backward pass needs cannot be stored. Use cc.fori_loop "
                     "with bounds known at trace time, or cc.scan; forward mode (cc.jvp, cc.jacfwd) works")


while_p = Primitive("while_loop", numpy=_while_numpy, shape=_while_shape, kind="control", vjp=_while_vjp,
                    batch=while_batch,
                    doc="repeat body while cond holds (cc.while_loop)")
while_p.joint_jvp = _while_joint_jvp


# ================================================================ cond / switch

def _cond_shape(index, *ops, branches):
    if index.ndim != 0 or not index.dtype.is_int:
        raise DTypeError(f"cond: the branch index must be an integer scalar, got {index}")
    if not branches:
        raise ShapeError("cond: no branches")
    out = branches[0].out_types
    for i, b in enumerate(branches):
        benv = {}
        _match(f"cond: branch {i} inputs", list(ops), b.in_types, benv)
        got = [_inst(t, benv) for t in b.out_types]
        if i == 0:
            out = got
        check_types(f"cond: branch {i} results (all branches must return the same types)", got, out)
    return TupleType(out)


def _cond_numpy(index, *ops, branches):
    i = int(np.clip(int(index), 0, len(branches) - 1))
    return tuple(evaluate(branches[i], list(ops)))


def _cond_joint_jvp(xs, ts, *, branches):
    index, ops = xs[0], xs[1:]
    t_ops = ts[1:]
    b_in, b_out = branches[0].in_types, branches[0].out_types
    mask = [t is not None and _is_float(b_in[i]) for i, t in enumerate(t_ops)]
    wrt = [i for i, m in enumerate(mask) if m]
    fl = [i for i, t in enumerate(b_out) if _is_float(t)]
    n_out = len(b_out)
    new = tuple(_regroup(jvp_graph(b, wrt=wrt), list(range(len(b_in) + len(wrt))),
                         list(range(n_out)) + [n_out + i for i in fl], "branches") for b in branches)
    res = cond_p(index, *ops, *[t_ops[i] for i in wrt], branches=new)
    tangent = [None] * n_out
    for j, i in enumerate(fl):
        tangent[i] = res[n_out + j]
    return tuple(res[:n_out]), tuple(tangent)


def _cond_vjp(ct, xs, out, *, branches):
    index, ops = xs[0], list(xs[1:])
    b_in, b_out = branches[0].in_types, branches[0].out_types
    wrt = [i for i, t in enumerate(b_in) if _is_float(t)]
    outs = [i for i, t in enumerate(b_out) if _is_float(t)]
    n_in, n_out = len(b_in), len(b_out)
    # each branch's backward recomputes its forward from the operands (the branch taken is known only at run time)
    new = tuple(_regroup(vjp_graph(b, wrt=wrt, outs=outs), list(range(n_in + len(outs))),
                         list(range(n_out, n_out + len(wrt))), "branches") for b in branches)
    cts_in = [ct[i] if ct[i] is not None else zeros_like(out[i]) for i in outs]
    res = cond_p(index, *ops, *cts_in, branches=new)
    cts = [None] * len(xs)
    for j, i in enumerate(wrt):
        cts[1 + i] = res[j]
    return cts


cond_p = Primitive("cond", numpy=_cond_numpy, shape=_cond_shape, kind="control", vjp=_cond_vjp, batch=cond_batch,
                   doc="run one of several branches chosen by an index (cc.cond, cc.switch)")
cond_p.joint_jvp = _cond_joint_jvp
