"""Lowering of effectful nodes (cc.debug.print; an assert_true kernel is lower/checks.py's): a kernel that calls back into the host with its operands' buffers.

The callback's address is not known when the code is generated (nor when it is cached on disk): it sits in a
table, an i64[1] const buffer that the executable fills per loaded program (backends/host.py); each call site has
a number, and Program.host_sites says what the host does there."""
from __future__ import annotations

import numpy as np

from ..errors import BackendError, format_loc
from ..ir.types import I64, BOOL
from ..ir.kernel import Buffer, Const, HostCall, Ix, Store
from .checks import lower_assert


def host_table(ctx):
    if ctx.host_table is None:
        ctx.host_table = Buffer(ctx.name("host"), I64, (1,), "const", array=np.zeros(1, np.int64))
        ctx.buffers.append(ctx.host_table)
    return ctx.host_table


def lower_host_call(lowerer):
    """The body of a debug_print kernel: the call, then the ordering token it produces."""
    ctx, n = lowerer.ctx, lowerer.grp.root
    if n.prim.name == "assert_true":
        return lower_assert(lowerer)
    if n.prim.name != "debug_print":
        raise BackendError(f"lowering: no lowering for the effect '{n.prim.name}'{format_loc(n.loc)}")
    p = n.params
    values = n.inputs[:len(n.inputs) - bool(p["token"])]
    args = [ctx.buffer(v) for v in values]
    site = len(ctx.host_sites)
    ctx.host_sites.append({
        "kind": "print", "fmt": p["fmt"], "trees": list(p["trees"]), "names": list(p["names"]),
        "args": [{"shape": [d if isinstance(d, int) else str(d) for d in v.type.shape], "dtype": v.type.dtype.np.str}
                 for v in values],
        "where": str(n.loc) if n.loc is not None else ""})
    token = ctx.buffer(n.out)
    return [HostCall(host_table(ctx), site, args), Store(token, Ix.lit(0), Const(False, BOOL))]
