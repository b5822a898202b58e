"""Passes inside regions: the generic pipeline runs on each sub-graph of a control-flow op (scan, while_loop,
cond), and results and operands nobody needs are dropped from the op.

`optimize_regions` is the last pass of GENERIC_PIPELINE, so it sees the outer graph after DCE: a scan's ys read by
no live `get` are removed from the body's outputs before the body is optimized (its DCE then drops what only they
needed); operands the optimized regions no longer read (consts, xs) leave the node, and the outer graph loses what
only they needed. Each region graph is optimized once per run (a graph object shared by two nodes too); nested
regions are handled by the same pass running inside the nested pipeline (depth = the user's nesting of loops).
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ir.printer import regions
from .manager import graph_pass


def _sub(g: Graph, inputs=None, outputs=None) -> Graph:
    return Graph(g.name, g.inputs if inputs is None else inputs, g.nodes, g.outputs if outputs is None else outputs)


def _read(g: Graph):
    """Values of g that some node or output reads."""
    out = set(g.outputs)
    for n in g.nodes:
        out.update(n.inputs)
    return out


@graph_pass
def optimize_regions(g: Graph) -> Graph:
    """Run the generic pipeline on every region; drop unread scan ys / cond results and unread operands."""
    if not any(n.prim.kind == "control" for n in g.nodes):
        return g
    from . import pipeline_for, run_pipeline
    memo = {}

    def opt(sub):
        r = memo.get(id(sub))
        if r is None:
            r = memo[id(sub)] = (run_pipeline(sub, pipeline_for(sub)), sub)     # sub kept alive: ids stay unique
        return r[0]
    live = g.reachable_from()
    used = {}                          # region node -> set of result indices read by live gets
    for n in g.nodes:
        if n in live and n.prim.name == "get" and n.inputs[0].node is not None:
            used.setdefault(n.inputs[0].node, set()).add(n.params["index"])
    changed = False
    new_nodes, subst, remap = [], {}, {}
    for n in g.nodes:
        ins = tuple(subst.get(v, v) for v in n.inputs)
        if n.prim.kind == "control" and regions(n) and n in live:
            m, idx = _rewrite(n, ins, used.get(n, set()), opt)
            if m is not n:
                changed = True
                subst[n.out] = m.out
                remap[n.out] = idx
            new_nodes.append(m)
            continue
        if n.prim.name == "get" and n.inputs[0] in remap:
            idx = remap[n.inputs[0]]
            if n.params["index"] not in idx:         # a dead get of a dropped result
                continue
            m = Node(n.prim, ins, dict(n.params, index=idx[n.params["index"]]), n.out.type, n.loc)
            subst[n.out] = m.out
            new_nodes.append(m)
            continue
        if any(a is not b for a, b in zip(ins, n.inputs)):
            m = Node(n.prim, ins, n.params, n.out.type, n.loc)
            subst[n.out] = m.out
            new_nodes.append(m)
            changed = True
            continue
        new_nodes.append(n)
    if not changed:
        return g
    out = g.replace(nodes=new_nodes, outputs=[subst.get(v, v) for v in g.outputs])
    live = out.reachable_from()
    return out if len(live) == len(new_nodes) else out.replace(nodes=[x for x in new_nodes if x in live])


def _rewrite(n, ins, used, opt):
    """(new node, {old result index: new index}) for region node n with operands ins."""
    p = n.params
    name = n.prim.name
    n_res = len(n.out.type)
    if name == "scan":
        nc, nk = p["n_consts"], p["n_carry"]
        body = p["body"]
        keep_out = [i for i in range(len(body.outputs)) if i < nk or i in used]
        body = opt(_sub(body, outputs=[body.outputs[i] for i in keep_out]))
        read = _read(body)
        keep_in = [i for i, v in enumerate(body.inputs) if nc <= i < nc + nk or v in read]
        body = _sub(body, inputs=[body.inputs[i] for i in keep_in])
        params = dict(p, body=body, n_consts=sum(1 for i in keep_in if i < nc))
        idx = {old: new for new, old in enumerate(keep_out)}
    elif name == "while_loop":
        ncc, nbc = p["n_cond_consts"], p["n_body_consts"]
        cond, body = opt(p["cond"]), opt(p["body"])
        rc, rb = _read(cond), _read(body)
        kc = [i for i in range(ncc) if cond.inputs[i] in rc]
        kb = [i for i in range(nbc) if body.inputs[i] in rb]
        cond = _sub(cond, inputs=[cond.inputs[i] for i in kc] + cond.inputs[ncc:])
        body = _sub(body, inputs=[body.inputs[i] for i in kb] + body.inputs[nbc:])
        keep_in = kc + [ncc + i for i in kb] + list(range(ncc + nbc, len(ins)))
        params = dict(p, cond=cond, body=body, n_cond_consts=len(kc), n_body_consts=len(kb))
        idx = {i: i for i in range(n_res)}
    else:        # cond: operand 0 is the index
        keep_out = [i for i in range(n_res) if i in used] or [0]
        branches = [opt(_sub(b, outputs=[b.outputs[i] for i in keep_out])) for b in p["branches"]]
        reads = [_read(b) for b in branches]
        keep_ops = [j for j in range(len(ins) - 1) if any(b.inputs[j] in r for b, r in zip(branches, reads))]
        branches = tuple(_sub(b, inputs=[b.inputs[j] for j in keep_ops]) for b in branches)
        keep_in = [0] + [1 + j for j in keep_ops]
        params = dict(p, branches=branches)
        idx = {old: new for new, old in enumerate(keep_out)}
    new_ins = [ins[i] for i in keep_in]
    same = (len(new_ins) == len(n.inputs) and all(a is b for a, b in zip(new_ins, n.inputs))
            and all(params[k] is p[k] or params[k] == p[k] for k in p))
    if same and all(k == v for k, v in idx.items()) and len(idx) == n_res:
        return n, idx
    out_type = n.prim.infer(*(v.type for v in new_ins), **params)
    return Node(n.prim, new_ins, params, out_type, n.loc), idx
