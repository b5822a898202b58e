"""Batching rules (cc.vmap) of the control-flow primitives, given to their definitions in prims.py: a batched
loop stays one loop, over a batched body.

  scan        the body batched; a carry is batched when it starts so or the body makes it so (a fixpoint over
              the carries); xs and ys keep the scan axis first, the batch right after it.
  while_loop  with an unbatched predicate, a while_loop of the batched body; with a batched one, the loop runs
              until every lane's predicate fails, and each step keeps a stopped lane's carry (select).
  cond        with an unbatched index, a cond of the batched branches; with a batched one, every branch runs on
              the whole batch and each lane selects its branch's results.
"""
from __future__ import annotations

import numpy as np

from ..ir.types import I32
from ..primitives import elementwise as E, reduce as R, shape as S
from ..primitives.rules import batch_size, materialize, shape_of
from ..transforms.graphs import build, run
from ..transforms.vmap import batch_graph, batched_outputs


def _of_primitive(rule):
    """rule(prim, args, dims, **params) as the batch slot takes it: Primitive() hands a rule marked needs_primitive
    the primitive being defined (primitives/base.py), so these rules bind scan/while/cond without importing the
    module that defines them."""
    def make(prim):
        return lambda args, dims, /, **params: rule(prim, args, dims, **params)
    make.needs_primitive = True
    return make


def _axes(flags, axis=0):
    return [axis if f else None for f in flags]


def _fixpoint(body, before, carry, after=()):
    """The carries that end up batched, and which body outputs are then batched: the body's inputs are `before`
    (consts), the carries, then `after` (x slices), its first outputs the new carries. A carry is batched when it
    starts so or the body makes it so; each round adds at least one, so this ends within len(carry) rounds."""
    carry = list(carry)
    while True:
        out = batched_outputs(body, list(before) + carry + list(after))
        new = [c or o for c, o in zip(carry, out[:len(carry)])]
        if new == carry:
            return carry, out
        carry = new


def _lane_mask(pred, like):
    """pred (bool[B]) shaped to select between values like `like` (batched at 0)."""
    n = len(shape_of(like))
    return pred if n == 1 else S.reshape(pred, shape=(shape_of(pred)[0],) + (1,) * (n - 1))


@_of_primitive
def scan_batch(scan_p, args, dims, /, *, body, length, reverse, n_consts, n_carry):
    nc, nk = n_consts, n_carry
    size = batch_size(args, dims)
    b = [d is not None for d in dims]
    bc, bk, bx = b[:nc], b[nc:nc + nk], b[nc + nk:]
    carry, out = _fixpoint(body, bc, bk, bx)
    ys_b = out[nk:]
    new_body = batch_graph(body, _axes(bc + carry + bx), size, _axes(carry + ys_b))
    ops = list(args[:nc])
    ops += [materialize(x, size) if c and not d else x for x, c, d in zip(args[nc:nc + nk], carry, bk)]
    # xs batched at 0 -> (length, B, ...): the scan walks axis 0, each slice batched at 0
    ops += [S.transpose(x, perm=(1, 0) + tuple(range(2, len(shape_of(x))))) if d else x
            for x, d in zip(args[nc + nk:], bx)]
    res = scan_p(*ops, body=new_body, length=length, reverse=reverse, n_consts=nc, n_carry=nk)
    return tuple(res), tuple(_axes(carry) + _axes(ys_b, 1))


@_of_primitive
def while_batch(while_p, args, dims, /, *, cond, body, n_cond_consts, n_body_consts):
    ncc, nbc = n_cond_consts, n_body_consts
    size = batch_size(args, dims)
    b = [d is not None for d in dims]
    bcc, bbc, bk = b[:ncc], b[ncc:ncc + nbc], b[ncc + nbc:]
    carry, _ = _fixpoint(body, bbc, bk)
    pred_batched = batched_outputs(cond, bcc + carry)[0]
    if pred_batched:
        carry = [True] * len(carry)              # a stopped lane's carry is kept by a per-lane select
    cc_ops, bc_ops = list(args[:ncc]), list(args[ncc:ncc + nbc])
    init = [materialize(x, size) if c and not d else x for x, c, d in zip(args[ncc + nbc:], carry, bk)]
    new_body = batch_graph(body, _axes(bbc + carry), size, _axes(carry))
    if not pred_batched:
        new_cond = batch_graph(cond, _axes(bcc + carry), size, [None])
        res = while_p(*cc_ops, *bc_ops, *init, cond=new_cond, body=new_body, n_cond_consts=ncc,
                      n_body_consts=nbc)
        return tuple(res), tuple(_axes(carry))
    lane_cond = batch_graph(cond, _axes(bcc + carry), size, [0])          # -> bool[B]

    def any_lane(*a):
        pred = run(lane_cond, list(a))[0]
        return [E.gt(R.reduce_sum(E.cast(pred, dtype=I32), axes=(0,)), np.int32(0))]
    any_cond = build("cond", [v.type for v in lane_cond.inputs], [v.name for v in lane_cond.inputs], any_lane)

    def step(*a):
        ccs, bcs, ks = list(a[:ncc]), list(a[ncc:ncc + nbc]), list(a[ncc + nbc:])
        pred = run(lane_cond, ccs + ks)[0]
        nxt = run(new_body, bcs + ks)
        return [E.select(_lane_mask(pred, k), n, k) for n, k in zip(nxt, ks)]
    types = ([v.type for v in lane_cond.inputs[:ncc]] + [v.type for v in new_body.inputs[:nbc]]
             + [v.type for v in new_body.inputs[nbc:]])
    step_g = build("body", types, [f"c{i}" for i in range(len(types))], step)
    res = while_p(*cc_ops, *cc_ops, *bc_ops, *init, cond=any_cond, body=step_g, n_cond_consts=ncc,
                  n_body_consts=ncc + nbc)
    return tuple(res), tuple(_axes(carry))


@_of_primitive
def cond_batch(cond_p, args, dims, /, *, branches):
    index, ops = args[0], list(args[1:])
    size = batch_size(args, dims)
    b_ops = [d is not None for d in dims[1:]]
    n_out = len(branches[0].outputs)
    out_b = [False] * n_out
    for br in branches:
        out_b = [a or o for a, o in zip(out_b, batched_outputs(br, b_ops))]
    if dims[0] is None:
        new = tuple(batch_graph(br, _axes(b_ops), size, _axes(out_b)) for br in branches)
        return tuple(cond_p(index, *ops, branches=new)), tuple(_axes(out_b))
    # a batched index: every branch runs on the whole batch, each lane keeps its own branch's results (the
    # index clamped to the branches, as cond does)
    dt = np.dtype(index.dtype)
    idx = E.maximum(E.minimum(index, dt.type(len(branches) - 1)), dt.type(0))
    results = None
    for k, br in enumerate(branches):
        r = run(batch_graph(br, _axes(b_ops), size, [0] * n_out), ops)
        if results is None:
            results = list(r)
            continue
        take = E.eq(idx, dt.type(k))
        results = [E.select(_lane_mask(take, a), a, o) for a, o in zip(r, results)]
    return tuple(results), (0,) * n_out
