"""Fused groups -> loop-level kernels (see ir/kernel.py for the IR). One function per group kind.

Every member of a group is evaluated per element: `emit(value, index)` returns the scalar expression of that
value at a multi-index, following each primitive's index rule (broadcast, transpose, slice, pad, reshape,
gather ...) down to loads of buffers. Equal expressions are shared, so a value used twice is computed once.
"""
from __future__ import annotations

import numpy as np
from ..lazy import is_sympy, sympy

from ..errors import BackendError, format_loc
from ..ir.types import I64, squeezed_equal
from ..passes.fuse import FusionReject
from ..ir.kernel import Ix, Const, Load, IndexValue, Op, AccInit, AccUpdate, Store, Buffer, Kernel, Program, sprod
from .index import (ZERO, _is1, c_mul, flat, bcast_idx, _idx_eq, _pair,  # noqa: F401  (collapse: tests import it)
                    collapse)
from .accum import (new_acc, wide, cast_to, narrow, identity, block_long_sums, split_loop, SHORT_COL_SUM,
                    COL_BLOCK)
from .rules import reshape_idx  # noqa: F401  (reshape_idx: tests import it from here)
from . import checks, host
from . import regions
from . import lapack
from .concat import concat_loops
from .collective import lower_collective
from .lowering_linalg import LinalgLowering, _placed
from ..primitives import elementwise
from ..primitives.base import REGISTRY




def _loc(n):
    return format_loc(n.loc) if getattr(n, "loc", None) is not None else ""


class _ProgramCtx:
    def __init__(self, graph, use_blas):
        self.graph = graph
        self.use_blas = use_blas
        self.tile_windows = False
        self.cpu_sums = True
        self.bufs = {}
        self.buffers = []
        self.n_vars = 0
        self.out_first = {}
        for i, v in enumerate(graph.outputs):
            self.out_first.setdefault(v, i)
        names = {}
        for i, v in enumerate(graph.inputs):
            nm = _safe(v.name or f"a{i}")
            while nm in names:
                nm += "_"
            names[nm] = 1
            b = Buffer(nm, v.type.dtype, v.type.shape, "input", value=v)
            self.bufs[v] = b
            self.buffers.append(b)
        self._tmp = 0
        self.consts = {}
        self.check_indices = False       # data-dependent indices: checked (lower/checks.py) or clamped
        self.status = None
        self.check_sites = []
        self.site_ids = {}
        self.host_table = None           # host callbacks (cc.debug.print): see host.py
        self.host_sites = []

    def name(self, prefix):
        self._tmp += 1
        return f"{prefix}{self._tmp - 1}"

    def const_buffer(self, n):
        b = self.consts.get(n)
        if b is None:
            b = Buffer(self.name("c"), n.out.type.dtype, n.out.type.shape, "const", value=n.out,
                       array=np.ascontiguousarray(n.params["value"], dtype=n.out.type.dtype.np))
            self.consts[n] = b
            self.buffers.append(b)
        return b

    def buffer(self, v):
        b = self.bufs.get(v)
        if b is None:
            if v in self.out_first:
                b = Buffer(f"out{self.out_first[v]}", v.type.dtype, v.type.shape, "output", value=v)
            else:
                b = Buffer(f"t{self._tmp}", v.type.dtype, v.type.shape, "temp", value=v)
            self._tmp += 1
            self.bufs[v] = b
            self.buffers.append(b)
        return b

    def scratch(self, name, dtype, shape):
        b = Buffer(f"{name}{self._tmp}", dtype, shape, "scratch")
        self._tmp += 1
        self.buffers.append(b)
        return b

    def var(self, prefix="i"):
        self.n_vars += 1
        return f"{prefix}{self.n_vars - 1}"


def _safe(name):
    import re
    return re.sub(r"\W", "_", name)



# emit() recursion through index rules (reshape of slice of broadcast of ...) deeper than this materializes the
# node instead (fuse_graph forbids the fusion); runs of plain elementwise ops never recurse (_emit_operands_first)
MAX_NESTING = 48

# group kind -> the method of the group lowerer that builds its kernel body
_KIND_LOWERING = {"loop": "lower_loop", "row": "lower_row", "col": "lower_col", "gemm": "lower_gemm",
                  "conv": "lower_conv", "convti": "lower_conv_transpose_input",
                  "convtk": "lower_conv_transpose_kernel"}

class GroupLowerer(LinalgLowering):
    def __init__(self, ctx, grp):
        self.ctx = ctx
        self.grp = grp
        self.memo = {}
        self.accs = {}               # reduce node -> Acc (available)
        self.outer_idx = None        # row kernels: the current row's multi-index over grp.O
        self.anchor_buf = None
        self.anchor_map = None       # fn(anchor idx) -> flat index into anchor_buf
        self.anchor_reads = []
        self.anchor_expr = None      # fn(anchor idx) -> Expr, when the product is not one load
        self.depth = 0               # nesting of emit() calls through index rules (see MAX_NESTING)

    # ---- per-element evaluation ----
    def emit(self, v, idx):
        key = (v, idx)
        e = self.memo.get(key)
        if e is None:
            self._emit_operands_first(v, idx)
            e = self.memo.get(key)
            if e is None:
                self.depth += 1
                try:
                    if self.depth > MAX_NESTING and v.node in self.grp.members:
                        raise FusionReject(v.node, f"{v.node.prim.name}: expression nested too deep for one kernel")
                    e = self._emit(v, idx)
                finally:
                    self.depth -= 1
                self.memo[key] = e
        return e

    def _plain(self, v):
        """Whether v is an elementwise member evaluated from its operands at the same (broadcast) index."""
        n = v.node
        grp = self.grp
        return (n is not None and n in grp.members and n.prim.kind == "elementwise" and n.prim.index_rule is None
                and n not in self.accs and n not in grp.reductions
                and not (n is grp.anchor and grp.kind in ("gemm", "conv", "convti", "convtk", "col")))

    def _emit_operands_first(self, v, idx):
        """Emit the chain of plain elementwise producers under (v, idx) deepest first, with an explicit stack,
        so that a chain of any length costs no Python recursion (each _emit then finds its operands memoized)."""
        if not self._plain(v):
            return
        memo, order, seen = self.memo, [], set()
        stack = [(v, idx, False)]
        while stack:
            w, ix, ready = stack.pop()
            key = (w, ix)
            if ready:
                order.append(key)
                continue
            if key in memo or key in seen or not self._plain(w):
                continue
            seen.add(key)
            stack.append((w, ix, True))
            shape = w.type.shape
            stack.extend((a, bcast_idx(ix, shape, a.type.shape), False) for a in reversed(w.node.inputs))
        for key in order[:-1]:
            if key not in memo:
                memo[key] = self._emit(*key)

    def _emit(self, v, idx):
        n = v.node
        grp = self.grp
        if n is not None and n is grp.anchor and grp.kind in ("gemm", "conv", "convti", "convtk", "col"):
            self.anchor_reads.append(idx)
            if self.anchor_expr is not None:
                return self.anchor_expr(idx)
            return Load(self.anchor_buf, self.anchor_map(idx))
        if n is None or n not in grp.members:
            return Load(self.ctx.buffer(v), flat(idx, v.type.shape))
        acc = self.accs.get(n)
        if acc is not None:
            want = self.outer_for(n.out.type.shape)
            if not _idx_eq(idx, want):
                raise FusionReject(n, f"{n.prim.name} result is read at another row than its own")
            return narrow(acc, n.out.type.dtype)
        if n in grp.reductions:
            raise FusionReject(n, f"{n.prim.name} is used before its phase")
        rule = n.prim.index_rule
        if rule is not None:
            return rule(self, n, idx)
        if n.prim.kind == "elementwise":
            args = [self.emit(a, bcast_idx(idx, n.out.type.shape, a.type.shape)) for a in n.inputs]
            if n.prim is elementwise.pow and n.out.type.dtype.is_int and not _const_nonnegative(n.inputs[1]):
                e = args[1] if n.inputs[1].type.dtype is I64 else Op("cast", [args[1]], I64)
                e = checks.nonnegative_exponent(self.ctx, e, n)
                args[1] = e if n.inputs[1].type.dtype is I64 else Op("cast", [e], n.inputs[1].type.dtype)
            if n.prim.scalar is not None:
                # one op of the kernel IR, named as the primitive; codegen emits it by the primitive's scalar rule
                return Op(n.prim.name, args, n.out.type.dtype)
            if n.prim.lower is not None:
                return n.prim.lower(ExprBuilder(n.out.type.dtype), *args, **n.params)
        raise BackendError(f"lowering: no loop-level lowering for primitive '{n.prim.name}' {n.out.type}"
                           f" in kernel {grp.name}{_loc(n)}")

    def outer_for(self, shape):
        """The multi-index over `shape` (the rows, with 1-dims) of the current row of a row kernel."""
        return _spread(self.outer_idx_nonone, shape)

    # ---- group kinds ----
    def lower(self):
        k = self.grp.kind
        method = _KIND_LOWERING.get(k)
        if method is None and self.grp.root.prim.name == "scatter_add":
            method = "lower_scatter"
        if method is None and self.grp.root.prim.effect:
            return Kernel(self.grp.name, k, host.lower_host_call(self), self.grp.order, self.grp.reasons)
        if method is None and self.grp.root.prim in lapack.LOWERING:
            body = lapack.LOWERING[self.grp.root.prim](self, self.grp.root)
            return Kernel(self.grp.name, k, body, self.grp.order, self.grp.reasons)
        if method is None and self.grp.root.prim.collective is not None:
            return Kernel(self.grp.name, "mpi", lower_collective(self), self.grp.order, self.grp.reasons)
        if method is None:
            n = self.grp.root
            raise BackendError(f"lowering: no lowering for primitive '{n.prim.name}' {n.out.type}{_loc(n)}")
        body = getattr(self, method)()
        return Kernel(self.grp.name, k, body, self.grp.order, self.grp.reasons)

    def accumulate(self, acc, shape, make_updates, out, at):
        """acc = init; serial loops over `shape` around make_updates(idx); out[at] = acc."""
        return ([AccInit(acc)] + self.nest(shape, make_updates, parallel=False)
                + [Store(out, at, narrow(acc, out.dtype))])

    def nest(self, shape, make_body, parallel=True):
        """Loops over `shape` around make_body(idx), collapsed where every index allows it."""
        vars_ = [self.ctx.var() for _ in shape]
        idx = tuple(Ix.var(v) for v in vars_)
        inner = make_body(idx)
        return collapse(vars_, list(shape), inner, parallel)

    def lower_loop(self):
        D = self.grp.domain

        def body(idx):
            return [Store(self.ctx.buffer(v), flat(idx, D), self.emit(v, idx)) for v in self.grp.outputs]
        pieces = concat_loops(self, self.grp, D)
        if pieces is not None:
            return pieces
        tile = _window_tiling(self.grp, D) if self.ctx.tile_windows else None
        if tile is None:
            return self.nest(D, body)
        # the gradient of a non-overlapping max pool: one iteration per window storing its kh*kw elements, so the
        # window's max and count are computed once and every index stays affine (vector loads, no gathers)
        kh, kw = tile

        def tiled(widx):
            n, c, i, j = widx
            return [s for a in range(kh) for b in range(kw)
                    for s in body((n, c, c_mul(i, kh).add(a), c_mul(j, kw).add(b)))]
        return self.nest((D[0], D[1], D[2] // kh, D[3] // kw), tiled)

    def lower_row(self):
        grp = self.grp
        O, R = grp.O, grp.R
        ovars = [self.ctx.var() for d in O]
        oidx_full = tuple(Ix.var(v) for v in ovars)
        self.outer_idx_nonone = [c for c, d in zip(oidx_full, O) if not _is1(d)]
        out_body = []
        # phases: a reduction runs after those its input depends on
        pos = {n: i for i, n in enumerate(grp.order)}
        reds = sorted(grp.reductions, key=pos.__getitem__)
        phase = {}
        for r in reds:
            deps = _reduction_deps(r, grp)
            phase[r] = 1 + max((phase[d] for d in deps if d in phase), default=-1)
        n_phases = 1 + max(phase.values(), default=-1)
        for ph in range(n_phases):
            members = [r for r in reds if phase[r] == ph]
            accs = []
            for r in members:
                op = r.prim.reduction
                acc = new_acc(self.ctx.var("acc"), op, r.inputs[0].type.dtype, sprod(R))
                accs.append((r, acc))
                out_body.append(AccInit(acc))

            def body(ridx, accs=accs):
                stmts = []
                for r, acc in accs:
                    x = r.inputs[0]
                    xi = _spread(self.outer_idx_nonone + [c for c, d in zip(ridx, R) if not _is1(d)], x.type.shape)
                    val = self.emit(x, xi)
                    at = IndexValue(flat(ridx, R)) if acc.op == "argmax" else None
                    stmts.append(AccUpdate(acc, cast_to(val, acc.dtype), at))
                return stmts
            loops = self.nest(R, body, parallel=False)
            out_body += block_long_sums(loops, self.ctx.var) if self.ctx.cpu_sums else loops
            for r, acc in accs:
                self.accs[r] = acc
        outer_outs, inner_outs = [], []
        for v in grp.outputs:
            if v.node in grp.reductions or (squeezed_equal(v.type.shape, O)
                                            and not squeezed_equal(v.type.shape, O + R)):
                outer_outs.append(v)
            else:
                inner_outs.append(v)
        for v in outer_outs:
            vi = self.outer_for(v.type.shape)
            out_body.append(Store(self.ctx.buffer(v), flat(vi, v.type.shape), self.emit(v, vi)))
        if inner_outs:
            def body(ridx):
                full = self.outer_idx_nonone + [c for c, d in zip(ridx, R) if not _is1(d)]
                stmts = []
                for v in inner_outs:
                    vi = _spread(full, v.type.shape)
                    stmts.append(Store(self.ctx.buffer(v), flat(vi, v.type.shape), self.emit(v, vi)))
                return stmts
            out_body += self.nest(R, body, parallel=False)
        return collapse(ovars, list(O), out_body, True)

    def lower_col(self):
        """Reduction over leading/middle axes: accumulate straight into the output (or, with an epilogue, into
        scratch that the epilogue then reads), rows in memory order so the inner loop is contiguous."""
        grp = self.grp
        r = grp.anchor if grp.anchor is not None else grp.root
        x = r.inputs[0]
        S = x.type.shape
        if r.prim.name == "argmax":
            return self.lower_reduce_strided(r)
        axes = set(r.params["axes"])
        O = r.out.type.shape
        dt = r.out.type.dtype
        is_sum = r.prim.name == "reduce_sum"
        # long f32 sums accumulate into f64 scratch (accum.py; a GPU reduces each column in a block, in f64)
        count = sprod([d for i, d in enumerate(S) if i in axes])
        at = wide("sum", dt, count, SHORT_COL_SUM) if is_sum and self.ctx.cpu_sums else dt
        direct = r is grp.root and at is dt
        out = self.ctx.buffer(r.out) if direct else self.ctx.scratch("colacc", at, O)
        ident = Const(identity("sum" if is_sum else "max", at), at)
        init = self.nest(O, lambda o: [Store(out, flat(o, O), ident)])
        op = "add" if is_sum else "maximum"

        def body(idx, acc=out):
            kept = tuple(c for i, c in enumerate(idx) if i not in axes)
            fo = flat(kept, O)
            return [Store(acc, fo, Op(op, [Load(acc, fo), cast_to(self.emit(x, idx), acc.dtype)], acc.dtype))]
        # the outermost loop may run in parallel only if it is a kept axis
        tail = 0
        while tail < len(S) and len(S) - 1 - tail in axes:
            tail += 1
        if tail and O and self.ctx.cpu_sums:
            loops = self.nest(S[:len(S) - tail], lambda idx: self._reduced_rows(x, idx, S[len(S) - tail:], out, O,
                                                                                 axes, is_sum),
                              parallel=0 not in axes)
        else:
            loops = self.nest(S, body, parallel=0 not in axes)
            if at is not dt and 0 in axes and len(loops) == 1:
                loops = self.blocked_columns(loops, S, count, body, out, O, dt)
        body_ = init + loops
        if direct:
            return body_
        if r is grp.root:
            res = self.ctx.buffer(r.out)
            return body_ + self.nest(O, lambda o: [Store(res, flat(o, O), cast_to(Load(out, flat(o, O)), dt))])
        self.anchor_buf = out
        self.anchor_map = lambda idx: flat(idx, O)
        if at is not dt:
            self.anchor_expr = lambda idx: cast_to(Load(out, flat(idx, O)), dt)
        return body_ + self._epilogue(grp.root)

    def _reduced_rows(self, x, idx, T, out, O, axes, is_sum):
        """A column reduction whose innermost axes are reduced too (a conv's bias gradient: sum over N, H, W of
        NCHW): those axes summed in a row accumulator (vectorised partial sums, f64 past SHORT_ROW_SUM terms), then
        added into the output element once per row.
        NOTE: accumulating every element into the output element was one serial chain of dependent adds
        (LeNet-5's conv1 bias gradient, 64x6x784 f32: 240 us on znver4)."""
        part = new_acc(self.ctx.var("acc"), "sum" if is_sum else "max", x.type.dtype, sprod(T))
        fo = flat(tuple(c for i, c in enumerate(idx) if i not in axes), O)
        rows = self.nest(T, lambda t: [AccUpdate(part, cast_to(self.emit(x, idx + t), part.dtype))], parallel=False)
        total = cast_to(narrow(part, part.dtype), out.dtype)
        op = "add" if is_sum else "maximum"
        return [AccInit(part)] + rows + [Store(out, fo, Op(op, [Load(out, fo), total], out.dtype))]

    def blocked_columns(self, loops, S, count, body, acc64, O, dt):
        """The CPU's long f32 column sum (accum.py): blocks of COL_BLOCK rows into f32 scratch, each added into
        the f64 accumulator (and reset), so the loop over rows reads and writes f32 like a plain f32 sum."""
        acc32 = self.ctx.scratch("colblk", dt, O)

        def flush(parallel):
            return self.nest(O, lambda o: [
                Store(acc64, flat(o, O), Op("add", [Load(acc64, flat(o, O)), cast_to(Load(acc32, flat(o, O)),
                                                                                   acc64.dtype)], acc64.dtype)),
                Store(acc32, flat(o, O), Const(0, dt))], parallel=parallel)
        rows = self.nest(S, lambda idx: body(idx, acc32), parallel=False)
        # terms each output gets per iteration of the outer (reduced) loop: a block holds at most COL_BLOCK
        if len(rows) != 1:
            return loops
        E = rows[0].extent
        if isinstance(count, int) and isinstance(E, int):       # concrete shapes: no sympy
            per_row = count // E if E and count % E == 0 else None
        else:
            per_row = sympy.simplify(sympy.sympify(count) / E)
            per_row = int(per_row) if per_row.is_Integer else None
        if per_row is None or per_row > COL_BLOCK:
            return loops
        zero = self.nest(O, lambda o: [Store(acc32, flat(o, O), Const(0, dt))])
        block = COL_BLOCK // per_row
        return zero + split_loop(rows[0], block, self.ctx.var, [], rows[0].body, flush(False)) + flush(True)

    def lower_reduce_strided(self, r):
        x = r.inputs[0]
        S = x.type.shape
        axes = (r.params["axis"],) if "axis" in r.params else tuple(r.params["axes"])
        kept = [i for i in range(len(S)) if i not in axes]
        O = r.out.type.shape
        op = r.prim.reduction
        R = [S[a] for a in axes]
        acc = new_acc(self.ctx.var("acc"), op, x.type.dtype, sprod(R))
        out = self.ctx.buffer(r.out)

        def body(oidx):
            def inner(ridx):
                full = _placed(len(S), (kept, oidx), (axes, ridx))
                at = IndexValue(flat(ridx, R)) if op == "argmax" else None
                return [AccUpdate(acc, cast_to(self.emit(x, full), acc.dtype), at)]
            return self.accumulate(acc, R, inner, out, flat(oidx, O))
        return self.nest(O, body)

    # ---- matmul ----


def _window_tiling(grp, D):
    """(kh, kw) when a loop group over an NCHW domain D holds a max_pool2d_vjp whose windows tile D exactly."""
    if len(D) != 4 or not all(isinstance(d, int) for d in D):
        return None
    for n in grp.members:
        if n.prim.name != "max_pool2d_vjp" or tuple(n.out.type.shape) != tuple(D):
            continue
        (kh, kw), (sh, sw) = _pair(n.params.get("size", 2)), _pair(n.params.get("stride", 2))
        OH, OW = n.inputs[1].type.shape[2:]
        if (kh, kw) == (sh, sw) and isinstance(OH, int) and isinstance(OW, int) and (OH * kh, OW * kw) == D[2:]:
            return kh, kw
    return None


def _const_nonnegative(v):
    n = getattr(v, "node", None)
    if n is None or n.prim.name != "const":
        return False
    a = n.params["value"]
    return a.size == 0 or bool(a.min() >= 0)


def _spread(nonone, shape):
    """Place the components of `nonone` on the non-1 dims of shape (1-dims get index 0)."""
    out = []
    k = 0
    for d in shape:
        if _is1(d):
            out.append(ZERO)
        else:
            out.append(nonone[k] if k < len(nonone) else ZERO)
            k += 1
    return tuple(out)


def _reduction_deps(r, grp):
    """Reductions of the group that r's input depends on (through members)."""
    deps, stack, seen = set(), [v.node for v in r.inputs if v.node is not None], set()
    while stack:
        n = stack.pop()
        if n in seen or n not in grp.members:
            continue
        seen.add(n)
        if n in grp.reductions:
            deps.add(n)
            continue
        stack.extend(v.node for v in n.inputs if v.node is not None)
    return deps


class ExprBuilder:
    """What a primitive's `lower=` rule gets: `k.exp(x)`, `k.op('add', a, b)`, `k.const(1.0)` (kernel IR ops of
    primitives that have a scalar rule)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def op(self, name, *args, dtype=None):
        return Op(name, list(args), dtype or self.dtype)

    def const(self, value, dtype=None):
        return Const(value, dtype or self.dtype)

    def __getattr__(self, name):
        prim = REGISTRY.get(name)
        if prim is not None and prim.scalar is not None:
            return lambda *args: Op(name, list(args), self.dtype)
        raise AttributeError(name)


# ---- the whole program ----

def lower_plan(plan, use_blas=True, name=None, tile_windows=False, cpu_sums=True,
               check_indices=False, parent=None) -> Program:
    """Kernels of a fusion plan. `tile_windows`: loop kernels holding a non-overlapping max-pool gradient iterate
    per window (the CPU's choice: affine, vectorisable loads; a GPU backend maps plain element loops better).
    `cpu_sums`: the CPU's forms of long f32 sums (accum.py): rows in f32 blocks added in f64, columns into f64
    scratch. A GPU keeps one f64 accumulator per thread (its threads already split a row into short parts) and
    reduces each column in a block, in f64 registers, storing the f32 result without an extra launch.
    `check_indices`: gathers check their data-dependent indices (lower/checks.py) instead of clamping them.
    `parent`: the context of the program whose region this plan's graph is (lower/regions.py): check sites are
    numbered in one table, and sizes are the outer program's dims."""
    g = plan.graph
    ctx = _ProgramCtx(g, use_blas)
    ctx.tile_windows = tile_windows
    ctx.cpu_sums = cpu_sums
    ctx.check_indices = check_indices
    ctx.options = dict(use_blas=use_blas, tile_windows=tile_windows, cpu_sums=cpu_sums, check_indices=check_indices)
    if parent is not None:
        ctx.check_sites, ctx.site_ids = parent.check_sites, parent.site_ids
    kernels, rejected, why = [], [], None
    for grp in plan.groups:
        try:
            if grp.kind == "region":
                kernels.append(regions.lower_region(ctx, grp))
                continue
            kernels.append(GroupLowerer(ctx, grp).lower())
        except FusionReject as r:
            # keep going: fuse_graph forbids every rejected node of this round at once
            rejected += r.nodes
            why = why or r.reason
    if rejected:
        raise FusionReject(rejected, why)
    outputs = []
    seen = {}
    for i, v in enumerate(g.outputs):
        if v.node is None:
            outputs.append(("input", g.inputs.index(v)))
        elif v in seen:
            outputs.append(("copy", seen[v]))
        elif ctx.bufs[v] in seen:          # two views of one region result: the second is a copy, never an alias
            outputs.append(("copy", seen[ctx.bufs[v]]))
        else:
            seen[v] = seen[ctx.bufs[v]] = i
            outputs.append(("buf", ctx.bufs[v]))
    # dims: every symbol of the inputs, read from the first input axis that is exactly that symbol
    syms = sorted(g.free_symbols, key=str)
    sources = {}
    for i, v in enumerate(g.inputs):
        for ax, d in enumerate(v.type.shape):
            if is_sympy(d, "Symbol") and d not in sources:
                sources[d] = (i, ax)
    for s in syms:
        if s not in sources and parent is None:
            raise BackendError(f"lowering: symbolic size {s} never appears alone as an input dimension; "
                               f"give some argument a dimension of exactly {s}")
    inputs = [ctx.bufs[v] for v in g.inputs]
    used = set()
    for k in kernels:
        used.update(k.buffers)
    buffers = [b for b in ctx.buffers if b.role in ("input", "output") or b in used]
    for _, b in [o for o in outputs if o[0] == "buf"]:
        if b not in buffers:
            buffers.append(b)
    prog = Program(name or g.name, inputs, outputs, buffers, kernels, syms, sources)
    if ctx.status is not None and ctx.status in used:
        prog.status, prog.check_sites = ctx.status, ctx.check_sites
    prog.host_table, prog.host_sites = ctx.host_table, ctx.host_sites
    return prog
