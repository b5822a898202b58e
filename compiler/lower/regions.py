"""Lowering control-flow ops: each region graph becomes a sub-Program (fused, lowered, memory-planned once), and
the outer Program gets one RegionKernel that runs it.

A sub-Program is called with a table of buffer pointers in its own slot order (inputs, outputs, constants,
scratch, status; see passes/memory.order_slots). A RegionKernel says what goes into each slot of each of its
sub-programs' tables (`bindings`): a buffer of the outer program (an operand, a result, a constant, scratch
planned by the outer memory plan), or a per-iteration pointer:

  scan        ("carry_src", j) / ("carry_dst", j): the carry j read / written by this iteration. Two buffers per
              carry, the result buffer P and scratch Q, swapped each iteration (never copied): iteration i writes
              P when (n - 1 - i) is even, so the last one lands in P; iteration 0 reads the initial carry. A scan
              of length 0 copies the initial carry into P.
              ("row_src", (j, k)) / ("row_dst", (j, k)): carry j when the body also returns it, as it came in, as
              y k (the residual of a differentiated loop): the rows of ys k are its buffers. Iteration i reads
              row t(i) (iteration 0: the initial carry) and writes row t(i + 1), the last iteration P; row t(0)
              gets the initial carry once before the loop. The body neither copies it nor binds that y.
              ("x", k) / ("y", k): row t of xs k / ys k, t = i (or n - 1 - i with reverse): base + t * row bytes.
  while_loop  ("carry_src", j) / ("carry_dst", j) likewise, the destination being whichever of P, Q the source
              is not; the final carry is copied into P when it ended in Q (or is still the initial one).
  cond        plain buffers only: the index operand is clamped into [0, branches - 1] and picks the branch.

The sub-programs' scratch slots become `scratch` buffers of the outer program (sized by the largest tenant), so
a loop allocates nothing per iteration; their constants become constants of the outer program; their run-time
checks write the outer program's status buffer (one table of check sites). Sizes inside a region are the outer
program's dims (codegen passes its dims array down unchanged).
"""
from __future__ import annotations

from ..lazy import sympy

from ..errors import BackendError, format_loc
from ..ir.printer import regions
from ..ir.types import BOOL
from ..ir.kernel import Buffer, Kernel, Loop, Store, Load, Ix, smul, sadd, sprod, fmt_size
from .checks import status_buffer


class RegionKernel(Kernel):
    """A kernel running sub-programs: kind 'scan' | 'while_loop' | 'cond'.

    programs: {role: Program} (scan: body; while_loop: cond, body; cond: branch0, branch1, ...);
    bindings: {role: [(slot, what)]} where what is ('buf', Buffer) or a per-iteration pointer (module docstring);
    operands / results: the outer buffers of the node's operands and results; alt: the scratch twin Q of each
    carry (scan, while_loop); flag: the bool[] scratch the while loop's condition writes."""

    def __init__(self, name, kind, node, programs, bindings, operands, results, alt=(), flag=None, info=None):
        self.name = name
        self.kind = kind
        self.body = []
        self.node = node
        self.nodes = [node]
        self.reasons = []
        self.programs = programs
        self.bindings = bindings
        self.operands = list(operands)
        self.results = list(results)
        self.alt = list(alt)
        self.flag = flag
        self.info = dict(info or {})
        reads, writes = dict.fromkeys(self.operands), dict.fromkeys(self.results)
        for b in self.alt + ([flag] if flag is not None else []):
            writes[b] = None
        for binds in bindings.values():
            for _, (what, x) in binds:
                if what == "buf" and x not in reads and x not in writes:
                    (writes if x.role in ("scratch", "status") else reads)[x] = None
        self.reads, self.writes = list(reads), list(writes)

    @property
    def bytes_moved(self):
        """What its sub-programs' kernels move: a scan's body times its length, the larger branch of a cond, one
        iteration (condition and body) of a while loop, whose trip count is known only when it runs."""
        per = {role: p.bytes_moved for role, p in self.programs.items()}
        if self.kind == "scan":
            return smul(self.info["length"], per["body"])
        if self.kind == "while_loop":
            return sadd(per["cond"], per["body"])
        vals = list(per.values())
        if all(isinstance(v, int) for v in vals):
            return max(vals)
        return sympy.Max(*vals)

    def __str__(self):
        ops = ", ".join(b.name for b in self.operands) or "-"
        res = ", ".join(b.name for b in self.results) or "-"
        i = self.info
        if self.kind == "scan":
            head = (f"scan length {fmt_size(i['length'])}{' reverse' if i['reverse'] else ''}: consts "
                    f"{_names(self.operands[:i['nc']])}; carries {_names(self.operands[i['nc']:i['nc'] + i['nk']])}"
                    f" -> {_names(self.results[:i['nk']])} (swapped with {_names(self.alt)}{_rows(self, i)}); xs "
                    f"{_names(self.operands[i['nc'] + i['nk']:])}; ys {_names(self.results[i['nk']:])}")
        elif self.kind == "while_loop":
            head = (f"while_loop: carries {_names(self.operands[i['ncc'] + i['nbc']:])} -> {_names(self.results)}"
                    f" (swapped with {_names(self.alt)}); condition into {self.flag.name}")
        else:
            head = f"cond on {self.operands[0].name} (clamped to 0..{len(self.programs) - 1}): -> {res}"
        lines = [f"kernel {self.name}  # {self.kind}; reads {ops}; writes {res}; bytes moved "
                 f"{fmt_size(self.bytes_moved)}{' per iteration' if self.kind == 'while_loop' else ''}; {head}"]
        for role, prog in self.programs.items():
            table = ", ".join(f"{s}={_what(w)}" for s, w in self.bindings[role])
            lines.append(f"  {role}: table [{table}]")
            lines.extend(("    " + ln) if ln else "" for ln in str(prog).split("\n"))
        return "\n".join(lines)


def _rows(k, i):
    rows = i.get("rows")
    if not rows:
        return ""
    return "; " + ", ".join(f"carry {j} in the rows of {k.results[i['nk'] + y].name}" for j, y in rows)


def _names(bufs):
    return "(" + ", ".join(b.name for b in bufs) + ")"


def _what(w):
    kind, x = w
    return x.name if kind == "buf" else f"{kind}{x}"


def all_kernels(program):
    """Every kernel of a program and of the sub-programs of its region kernels, depth first (an explicit stack)."""
    out, stack = [], [iter(program.kernels)]
    while stack:
        k = next(stack[-1], None)
        if k is None:
            stack.pop()
            continue
        out.append(k)
        if isinstance(k, RegionKernel):
            stack.extend(iter(p.kernels) for p in reversed(list(k.programs.values())))
    return out


# ---- lowering ----

def lower_region(ctx, grp):
    """The RegionKernel of a fusion group holding one control-flow node (see fuse.py, kind 'region')."""
    n = grp.root
    outer = ctx.graph.free_symbols
    for key, sub in regions(n):
        extra = sub.free_symbols - outer
        if extra:
            raise BackendError(f"lowering: the {key} of {n.prim.name} has sizes "
                               f"{', '.join(sorted(map(str, extra)))} of its own, not sizes of the compiled "
                               f"function's arguments; trace it with those arguments' sizes (cc.compile does)"
                               f"{format_loc(n.loc) if n.loc else ''}")
    results = _result_buffers(ctx, grp)
    operands = [ctx.buffer(v) for v in n.inputs]
    p = n.params
    name = grp.name
    if n.prim.name == "scan":
        nc, nk = p["n_consts"], p["n_carry"]
        rows = _carry_rows(p["body"], nc, nk)
        body = _sub_program(ctx, p["body"], f"{name}.body", keep=set(rows.values()))
        alt = [ctx.scratch(f"{results[j].name}_swap", results[j].dtype, results[j].shape) for j in range(nk)]
        binds = []
        nx = len(n.inputs) - nc - nk
        for j, b in enumerate(body.inputs):
            if j < nc:
                binds.append((b.slot, ("buf", operands[j])))
            elif j - nc in rows:
                binds.append((b.slot, ("row_src", (j - nc, rows[j - nc] - nk))))
            elif j < nc + nk:
                binds.append((b.slot, ("carry_src", j - nc)))
            else:
                binds.append((b.slot, ("x", j - nc - nk)))
        for j, (kind, b) in enumerate(body.outputs):
            if kind != "buf":                   # a y that is its carry's row (row_src / row_dst)
                continue
            if j in rows:
                binds.append((b.slot, ("row_dst", (j, rows[j] - nk))))
            else:
                binds.append((b.slot, ("carry_dst", j) if j < nk else ("y", j - nk)))
        binds += _shared(ctx, body, name)
        info = dict(length=p["length"], reverse=bool(p["reverse"]), nc=nc, nk=nk, nx=nx,
                    x_rows=[_row_bytes(v.type) for v in n.inputs[nc + nk:]],
                    y_rows=[_row_bytes(t) for t in n.out.type.types[nk:]],
                    carry_bytes=[results[j].nbytes for j in range(nk)],
                    rows=sorted((j, k - nk) for j, k in rows.items()))
        return RegionKernel(name, "scan", n, {"body": body}, {"body": binds}, operands, results, alt, info=info)
    if n.prim.name == "while_loop":
        ncc, nbc = p["n_cond_consts"], p["n_body_consts"]
        nk = len(results)
        cond = _sub_program(ctx, p["cond"], f"{name}.cond")
        body = _sub_program(ctx, p["body"], f"{name}.body")
        alt = [ctx.scratch(f"{results[j].name}_swap", results[j].dtype, results[j].shape) for j in range(nk)]
        flag = cond.outputs[0][1]
        flag_outer = ctx.scratch(f"{name}_flag", BOOL, ())
        cb = [(b.slot, ("buf", operands[j]) if j < ncc else ("carry_src", j - ncc)) for j, b in enumerate(cond.inputs)]
        cb += [(flag.slot, ("buf", flag_outer))] + _shared(ctx, cond, name)
        bb = [(b.slot, ("buf", operands[ncc + j]) if j < nbc else ("carry_src", j - nbc))
              for j, b in enumerate(body.inputs)]
        bb += [(b.slot, ("carry_dst", j)) for j, (_, b) in enumerate(body.outputs)] + _shared(ctx, body, name)
        info = dict(ncc=ncc, nbc=nbc, nk=nk, carry_bytes=[r.nbytes for r in results])
        return RegionKernel(name, "while_loop", n, {"cond": cond, "body": body}, {"cond": cb, "body": bb},
                            operands, results, alt, flag=flag_outer, info=info)
    programs, bindings = {}, {}
    for i, g in enumerate(p["branches"]):
        role = f"branch{i}"
        prog = _sub_program(ctx, g, f"{name}.{role}")
        binds = [(b.slot, ("buf", operands[1 + j])) for j, b in enumerate(prog.inputs)]
        binds += [(b.slot, ("buf", results[j])) for j, (_, b) in enumerate(prog.outputs)]
        programs[role], bindings[role] = prog, binds + _shared(ctx, prog, name)
    return RegionKernel(name, "cond", n, programs, bindings, operands, results)


def _row_bytes(t):
    return smul(sprod(t.shape[1:]), t.dtype.np.itemsize)


def _result_buffers(ctx, grp):
    """The outer buffer of each result of the region node: the buffer of the `get`s reading it (graph outputs or
    temporaries; every get of one index shares it), else scratch (a carry nobody reads still needs a home)."""
    n = grp.root
    gets = {}
    for v in grp.outputs[1:]:
        gets.setdefault(v.node.params["index"], []).append(v)
    out = []
    for i, t in enumerate(n.out.type.types):
        vs = gets.get(i)
        if vs:
            b = ctx.buffer(vs[0])
            for v in vs[1:]:
                ctx.bufs[v] = b
        else:
            b = ctx.scratch(f"{grp.name}_r{i}_", t.dtype, t.shape)
        out.append(b)
    return out


def _shared(ctx, prog, name):
    """Bindings of a sub-program's constants, scratch slots and status to buffers of the outer program."""
    binds = []
    for b in prog.buffers:
        if b.role == "const":
            ob = Buffer(ctx.name("c"), b.dtype, b.shape, "const", array=b.array)
            ctx.buffers.append(ob)
            binds.append((b.slot, ("buf", ob)))
    for s in sorted(prog.slot_sizes):
        sizes = [x for x in prog.slot_sizes[s] if not (isinstance(x, int) and x == 0)]
        if all(isinstance(x, int) for x in sizes):
            size = max(sizes, default=0)
        else:
            size = sympy.Max(*sizes) if len(sizes) > 1 else sizes[0]
        binds.append((s, ("buf", ctx.scratch(f"{name}_s", BOOL, (size,)))))
    if prog.status is not None:
        binds.append((prog.status.slot, ("buf", status_buffer(ctx))))
    return binds


def _carry_rows(body, nc, nk):
    """{carry j: body output k} for ys k that return carry j as it came in (a residual the reverse loop reads):
    those rows of the stacked y hold the carry itself, so the body copies nothing (module docstring)."""
    rows = {}
    outs = body.outputs
    for k in range(nk, len(outs)):
        for j in range(nk):
            if (outs[k] is body.inputs[nc + j] and j not in rows and outs[j] is not body.inputs[nc + j]
                    and outs[j] not in body.inputs and outs.index(outs[j]) == j):
                rows[j] = k
    return rows


def _sub_program(ctx, g, name, keep=()):
    """The sub-Program of region graph g: fused, lowered (with the outer lowering's options), every output a
    fresh buffer of its own but those in `keep` (left as the input they return), memory planned, slots
    ordered."""
    from ..passes.fuse import fuse_graph
    from ..passes.memory import plan_memory, order_slots
    from .lowering import lower_plan
    opts = ctx.options
    _, prog = fuse_graph(g, lambda plan: lower_plan(plan, name=name, parent=ctx, **opts))
    _own_outputs(prog, name, keep)
    for k in all_kernels(prog):          # nested regions' kernels too: every function name in a module is unique
        k.name = f"{name}.{k.name}"
    plan_memory(prog)
    order_slots(prog)
    return prog


def _own_outputs(prog, name, keep=()):
    """Give every output of a sub-program its own buffer: the caller's per-iteration pointers are distinct for
    each result (an output that is an input or repeats another output is copied by a small kernel), but the
    outputs in `keep`, which the caller binds itself."""
    outs = []
    for i, (kind, x) in enumerate(prog.outputs):
        if kind == "buf" or i in keep:
            outs.append((kind, x))
            continue
        if kind == "output" and outs[x][0] == "input":     # repeats a kept output: the input it returns
            kind, x = outs[x]
        src = prog.inputs[x] if kind == "input" else outs[x][1]
        b = Buffer(f"out{i}", src.dtype, src.shape, "output")
        v = "i0"
        k = Kernel(f"copy{i}", "loop", [Loop(v, src.size, [Store(b, Ix.var(v), Load(src, Ix.var(v)))])])
        prog.kernels.append(k)
        prog.buffers.append(b)
        outs.append(("buf", b))
    prog.outputs = outs
