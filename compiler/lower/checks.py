"""Run-time checks in kernels: a data-dependent index out of range sets an error status instead of reading junk.

A Program with checks has one extra buffer, `status` (i64[4], role 'status', the last slot of the entry's bufs):
all zero on entry; a failing check writes [site + 1, value, bound, 0] (compare-and-swap on word 0, so one
failure wins when threads race) and the runtime raises the site's exception after the call
(runtime/status.py). The GPU writes at the failing element; the CPU keeps an or and a max of the failures per
function and writes once before returning (codegen/llvm.py), so gather loops stay vectorised.
`Program.check_sites` is the table of sites, JSON-ready (it goes into the program's metadata):

    {"exc": "IndexError", "message": "index {value} is out of bounds for axis {axis} with size {bound}",
     "axis": 0, "wrap": true, "where": "\n  at model.py:12 in f:   return t[i]"}

`wrap`: NumPy wrapped a negative index before the check (i + size), so a negative value is reported as the
index the user wrote (value - bound). The kernel IR op is `check_index(i, bound, status, site) -> i64`: i when
0 <= i < bound, else 0 (the load stays in bounds) and the status is set. Other checks (shape guards, a debug
bounds mode) can add sites with their own exception and message to the same table.
"""
from __future__ import annotations

from ..errors import format_loc
from ..ir.types import BOOL, I64
from ..ir.kernel import Buffer, Ix, Op, Store, sadd
from .index import as_expr, _i64


STATUS_WORDS = 4


def is_checked(n) -> bool:
    """Whether node n's lowering checks its data at run time (Primitive.checked: a bool, or a predicate of the node);
    the source lines of such nodes go into the disk-cache key."""
    c = n.prim.checked
    return bool(c(n) if callable(c) else c)


def status_buffer(ctx):
    """The lowering context's status buffer, made on first use (a region's sub-program has its own, bound to its
    caller's: lower/regions.py)."""
    if ctx.status is None:
        ctx.status = Buffer("status", I64, (STATUS_WORDS,), "status")
        ctx.buffers.append(ctx.status)
    return ctx.status


def index(ctx, i, bound, node, axis, wrap=True, src=None):
    """The i64 index i, checked against [0, bound) at node's source line when ctx checks indices; clamped
    into [0, bound - 1] (the old, unchecked behaviour) when it does not. `src`: the graph value i was loaded
    from, when a constant known to be in range needs neither."""
    if _const_in_range(src, bound):
        return i
    if not ctx.check_indices and not (isinstance(bound, int) and bound == 0):
        # (an empty axis has nothing to clamp into: every index is checked, as NumPy does)
        return Op("clamp", [i, _i64(0), as_expr(sadd(bound, -1))], I64)
    status_buffer(ctx)
    key = (id(node), axis)
    site = ctx.site_ids.get(key)
    if site is None:
        site = ctx.site_ids[key] = len(ctx.check_sites)
        loc = getattr(node, "loc", None)
        ctx.check_sites.append({
            "exc": "IndexError", "axis": axis, "wrap": bool(wrap),
            "message": "index {value} is out of bounds for axis {axis} with size {bound}",
            "where": format_loc(loc) if loc is not None else "",
        })
    return Op("check_index", [i, as_expr(bound)], I64, attrs=(ctx.status, site))


def nonnegative_exponent(ctx, e, node):
    """The i64 exponent e of an integer power, checked >= 0 as NumPy checks it ("Integers to negative integer
    powers are not allowed", ValueError), whatever check_indices says: this is the op's meaning, not an index."""
    status_buffer(ctx)
    key = (id(node), "pow")
    site = ctx.site_ids.get(key)
    if site is None:
        site = ctx.site_ids[key] = len(ctx.check_sites)
        loc = getattr(node, "loc", None)
        ctx.check_sites.append({"exc": "ValueError", "wrap": False,
                                "message": "Integers to negative integer powers are not allowed.",
                                "where": format_loc(loc) if loc is not None else ""})
    # [0, 2**63 - 1) holds every non-negative i64 but the largest, which no base but 0 and +-1 survives anyway
    return Op("check_index", [e, _i64(2 ** 63 - 1)], I64, attrs=(ctx.status, site))


def keep(v, i, bound):
    """v, made to depend on the checked index i where a load would not: a load ignores the index of a size-1
    axis (index.flat), which would drop the check with it and let x[[5]] of a 1-element x read x[0]."""
    if not (isinstance(bound, int) and bound == 1 and isinstance(i, Op) and i.op == "check_index"):
        return v
    return Op("select", [Op("eq", [i, _i64(0)], BOOL), v, v], v.dtype)     # LLVM folds the select away


def _const_in_range(v, bound):
    n = getattr(v, "node", None)
    if n is None or n.prim.name != "const" or not isinstance(bound, int):
        return False
    a = n.params["value"]
    return a.size == 0 or bool(a.min() >= 0 and a.max() < bound)


def site_key(graph):
    """What the check sites of a graph's program depend on beyond its printed IR: the checked nodes' lines."""
    from ..ir.printer import regions
    out, stack = [], [iter(graph.nodes)]
    while stack:                     # the nodes of control-flow regions too, in print order
        n = next(stack[-1], None)
        if n is None:
            stack.pop()
            continue
        if is_checked(n):
            out.append(f"{n.loc.file}:{n.loc.line}:{n.loc.func}" if n.loc is not None else "-")
        stack.extend(iter(sub.nodes) for _, sub in reversed(regions(n)))
    return ";".join(out)


def lower_assert(lowerer):
    """The body of an assert_true kernel (primitives/asserts.py): the condition's truth checked as an index in
    [0, 1) (0 when it holds), so a false one sets the status of its own site, whatever check_indices says; then
    the ordering token, made to depend on the check so that nothing drops it."""
    ctx, n = lowerer.ctx, lowerer.grp.root
    status_buffer(ctx)
    key = (id(n), "assert")
    site = ctx.site_ids.get(key)
    if site is None:
        site = ctx.site_ids[key] = len(ctx.check_sites)
        # the message is a str.format template for the runtime (runtime/status.py): the user's braces stay braces
        msg = (n.params["msg"] or "assertion failed").replace("{", "{{").replace("}", "}}")
        info = {"exc": "AssertionError", "wrap": False, "message": msg,
                "where": format_loc(n.loc) if n.loc is not None else ""}
        if n.params.get("guard") is not None:
            # a value guard (compiler/value_guard.py): the caller retraces with the site's other specialisation
            info.update(exc="ValueGuard", guard=int(n.params["guard"]))
        ctx.check_sites.append(info)
    c = lowerer.emit(n.inputs[0], ())
    failed = Op("select", [c, _i64(0), _i64(1)], I64)
    checked = Op("check_index", [failed, _i64(1)], I64, attrs=(ctx.status, site))
    return [Store(ctx.buffer(n.out), Ix.lit(0), Op("eq", [checked, _i64(0)], BOOL))]
