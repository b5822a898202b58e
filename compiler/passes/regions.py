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
from ..primitives import REGISTRY
from .manager import graph_pass
from .scan_motion import move_out


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
    new_nodes, subst, remap, moved = [], {}, {}, {}
    for n in g.nodes:
        ins = tuple(subst.get(v, v) for v in n.inputs)
        if n.prim.kind == "control" and regions(n) and n in live:
            m, idx, pre, post, vals = _rewrite(n, ins, used.get(n, set()), opt)
            if m is not n:
                changed = True
                subst[n.out] = m.out
                remap[n.out] = idx
                moved[n.out] = vals
            new_nodes.extend(pre)
            new_nodes.append(m)
            new_nodes.extend(post)
            continue
        if n.prim.name == "get" and n.inputs[0] in remap:
            k = n.params["index"]
            if k in moved[n.inputs[0]]:              # a carry computed after the loop now
                subst[n.out] = moved[n.inputs[0]][k]
                continue
            idx = remap[n.inputs[0]]
            if k not in idx:                         # a dead get of a dropped result
                continue
            m = Node(n.prim, ins, dict(n.params, index=idx[k]), n.out.type, n.loc)
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
    """(new node, {old result index: new index}, nodes before it, nodes after it, {old result index: Value}) for
    region node n with operands ins; the last three hold what scan_motion moved out of a scan's body."""
    p = n.params
    name = n.prim.name
    n_res = len(n.out.type)
    pre, done = [], {}
    if name == "scan":
        nc, nk = p["n_consts"], p["n_carry"]
        body = p["body"]
        keep_out = [i for i in range(len(body.outputs)) if i < nk or i in used]
        body = opt(_sub(body, outputs=[body.outputs[i] for i in keep_out]))
        parts, moved = move_out(ins, body, nc, nk, p["length"], keep_out, used)
        if moved:
            body = parts.graph()
            live = body.reachable_from()
            body = body.replace(nodes=[x for x in body.nodes if x in live])
            ins = [c[0] for c in parts.consts] + [c[0] for c in parts.carries] + [x[0] for x in parts.xs]
            nc, nk = len(parts.consts), len(parts.carries)
            keep_out = [c[3] for c in parts.carries] + [y[1] for y in parts.ys]
            pre, done = parts.pre, parts.done
        read = _read(body)
        keep_in = [i for i, v in enumerate(body.inputs) if nc <= i < nc + nk or v in read]
        body = _sub(body, inputs=[body.inputs[i] for i in keep_in])
        params = dict(p, body=body, n_consts=sum(1 for i in keep_in if i < nc), n_carry=nk)
        idx = {old: new for new, old in enumerate(keep_out) if old is not None}
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
        return n, idx, [], [], {}
    out_type = n.prim.infer(*(v.type for v in new_ins), **params)
    m = Node(n.prim, new_ins, params, out_type, n.loc)
    post, vals = _after_loop(m, idx, done) if done else ([], {})
    return m, idx, pre, post, vals


def _after_loop(m, idx, done):
    """The nodes after scan m computing the carries that left its body (scan_motion), and {old result index:
    its Value}."""
    post, gets = [], {}

    def emit(prim, inputs, params, out_type, loc):
        if out_type is None:
            out_type = prim.infer(*(v.type for v in inputs), **params)
        node = Node(prim, inputs, params, out_type, loc)
        post.append(node)
        return node.out

    def stacked(v):
        if v not in gets:
            i = stacked_index[v]
            gets[v] = emit(REGISTRY["get"], [m.out], {"index": i}, m.out.type.types[i], None)
        return gets[v]
    body = m.params["body"]
    nk = m.params["n_carry"]
    stacked_index = {}
    for i in range(nk, len(body.outputs)):
        stacked_index.setdefault(body.outputs[i], i)
    vals = {old: build(emit, stacked) for old, build in done.items()}
    return post, vals
