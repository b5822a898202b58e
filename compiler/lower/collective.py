"""Kernels of the collectives (primitives/collective.py): one MPI statement each, plus the copy out of the
receive buffer that completes a bucket's all-reduce (its result must not alias the pending buffer: the memory
plan may give that slot to the next bucket)."""
from __future__ import annotations

from ..errors import BackendError, format_loc
from ..ir.kernel import Collective, Load, Store, sprod
from .index import flat
from ..primitives.collective import world_size


def lower_collective(gl):
    """Statements of the kernel whose root is a collective node (gl: the GroupLowerer)."""
    n = gl.grp.root
    ctx = gl.ctx
    name = n.prim.name
    dt = n.out.type.dtype
    count = sprod(n.out.type.shape)
    if n.prim.collective == "all_reduce" and world_size() == 1:
        # one left where bucket_all_reduce does not look (a control-flow body): in a world of one, a copy
        src, out, shape = ctx.buffer(n.inputs[0]), ctx.buffer(n.out), n.out.type.shape
        return gl.nest(shape, lambda idx: [Store(out, flat(idx, shape), Load(src, flat(idx, shape)))])
    if name == "all_sum":
        return [Collective("allreduce", ctx.buffer(n.inputs[0]), ctx.buffer(n.out), count, dt)]
    if name == "allreduce_start":
        return [Collective("start", ctx.buffer(n.inputs[0]), ctx.buffer(n.out), count, dt, n.params["slot"])]
    if name == "allreduce_wait":
        pending, send = (ctx.buffer(v) for v in n.inputs)
        out, shape = ctx.buffer(n.out), n.out.type.shape
        return [Collective("wait", send, pending, count, dt, n.params["slot"])] + gl.nest(
            shape, lambda idx: [Store(out, flat(idx, shape), Load(pending, flat(idx, shape)))])
    loc = format_loc(n.loc) if n.loc is not None else ""
    raise BackendError(f"cpu: {name} across several ranks is supported in the step itself, not inside a "
                       f"control-flow body (scan, while_loop, cond){loc}")
