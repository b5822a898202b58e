"""The kernel IR (kernel.py) as text: expressions with shared subexpressions named once, statements indented by
loop nesting. `str(kernel)` and `str(expr)` come here."""
from __future__ import annotations

from .kernel import Ix, Expr, Const, Load, Var, IndexValue, Op, Loop, AccInit, AccUpdate, Store, Gemm, HostCall, Lapack, \
    Collective, postorder, expr_children, fmt_size


def format_index(ix, names=None):
    return str(ix) if isinstance(ix, Ix) else format_expr(ix, names)


def _format_one(e, text):
    """e printed, its operands already printed in `text`."""
    if isinstance(e, Const):
        v = e.value
        return repr(v) if not isinstance(v, float) else (repr(v) if v == v else "nan")
    if isinstance(e, Load):
        return f"{e.buf.name}[{text[e.index] if isinstance(e.index, Expr) else e.index}]"
    if isinstance(e, Var):
        return e.acc.name
    if isinstance(e, IndexValue):
        return f"({e.ix})"
    if isinstance(e, Op):
        args = ", ".join(text[a] for a in e.args)
        attrs = "".join(f", {a}" for a in e.attrs) if e.op != "check_index" else f", site {e.attrs[1]}"
        suffix = f":{e.dtype.name}" if e.op == "cast" else ""
        return f"{e.op}{suffix}({args}{attrs})"
    return repr(e)


def format_expr(e, names=None):
    """e as text; sub-expressions in `names` print as their name (no recursion: see postorder)."""
    names = names or {}
    if e in names:
        return names[e]

    class _Text(dict):
        def __missing__(self, k):
            return names[k]
    text = _Text()
    for x in postorder([e], stop=names.__contains__):
        text[x] = _format_one(x, text)
    return text[e]


# a printed expression gets a name (`t3 = ...`) when it is used twice or nests deeper than this
_PRINT_NESTING = 8


def format_kernel(k) -> str:
    reads = ", ".join(b.name for b in k.reads if b.role != "scratch")
    writes = ", ".join(b.name for b in k.writes if b.role != "scratch")
    bm = k.bytes_moved
    lines = [f"kernel {k.name}  # {k.kind}; reads {reads or '-'}; writes {writes or '-'}; "
             f"bytes moved {fmt_size(bm)}"]
    if k.nodes:
        lines.append("  # fused: " + " ".join(n.prim.name for n in k.nodes))
    _format_body(k.body, lines, "  ")
    return "\n".join(lines)


def _format_body(body, lines, ind):
    roots = [e for s in body if not isinstance(s, Loop) for e in _stmt_exprs(s)]
    order = postorder(roots)
    counts = {}
    for e in order:
        for a in expr_children(e):
            counts[a] = counts.get(a, 0) + 1
    for e in roots:
        counts[e] = counts.get(e, 0) + 1
    names, text, height = {}, {}, {}
    lets = []
    for e in order:
        h = 1 + max((height[a] for a in expr_children(e)), default=0)
        text[e] = _format_one(e, text)
        if isinstance(e, Op) and e not in names and (counts.get(e, 0) > 1 or h > _PRINT_NESTING):
            nm = f"t{len(names)}"
            lets.append((nm, text[e]))
            names[e] = text[e] = nm
            h = 0
        height[e] = h
    for nm, txt in lets:
        lines.append(f"{ind}{nm} = {txt}")
    for s in body:
        if isinstance(s, Loop):
            par = "parallel " if s.parallel else ""
            lines.append(f"{ind}{par}for {s.var} in 0..{fmt_size(s.extent)}:")
            _format_body(s.body, lines, ind + "  ")
        elif isinstance(s, AccInit):
            lines.append(f"{ind}{s.acc.name} = init_{s.acc.op}<{s.acc.dtype.name}>()")
        elif isinstance(s, AccUpdate):
            extra = f", at {format_expr(s.index, names)}" if s.index is not None else ""
            lines.append(f"{ind}{s.acc.name} = {s.acc.op}({s.acc.name}, {format_expr(s.value, names)}{extra})")
        elif isinstance(s, Store):
            lines.append(f"{ind}{s.buf.name}[{format_index(s.index, names)}] = {format_expr(s.value, names)}")
        elif isinstance(s, Gemm):
            ta, tb = "T" if s.trans_a else "", "T" if s.trans_b else ""
            lines.append(f"{ind}gemm<{s.dtype.name}>({s.c.name}[{format_index(s.c_off)}; ld {fmt_size(s.ldc)}] = "
                         f"{s.alpha} * {s.a.name}{ta}[{format_index(s.a_off)}; ld {fmt_size(s.lda)}] @ "
                         f"{s.b.name}{tb}[{format_index(s.b_off)}; ld {fmt_size(s.ldb)}]"
                         + (f" + {s.beta} * C" if s.beta else "")
                         + f", m={fmt_size(s.m)} n={fmt_size(s.n)} k={fmt_size(s.k)})")
        elif isinstance(s, HostCall):
            lines.append(f"{ind}host_call {s.site} via {s.table.name}({', '.join(b.name for b in s.args)})")
        elif isinstance(s, Lapack):
            ax = ", ".join(v.name if k == "buf" else repr(v) if k == "char" else fmt_size(v) for k, v in s.args)
            lines.append(f"{ind}lapack {'s' if s.dtype.name == 'f32' else 'd'}{s.routine}({ax})")
        elif isinstance(s, Collective):
            lines.append(f"{ind}mpi_{s.op}<{s.dtype.name}>({s.recv.name}[0..{fmt_size(s.count)}] = sum over ranks "
                         f"of {s.send.name}; request {s.slot})")


def _stmt_exprs(s):
    if isinstance(s, Store):
        return [s.value] + ([s.index] if isinstance(s.index, Expr) else [])
    if isinstance(s, AccUpdate):
        return [s.value] + ([s.index] if s.index is not None else [])
    return []
