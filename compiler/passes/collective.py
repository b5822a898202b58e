"""bucket_all_reduce: the all_sum / all_mean of a graph become a few non-blocking all-reduces of packed buckets,
each started as soon as its last member is computed and waited right before its first use.

  g1 = ... ; g2 = ...                     flat = concatenate(reshape(g1), reshape(g2))   (pack: a loop kernel)
  s1 = all_sum g1          ==>            p = allreduce_start flat {slot=0}             (MPI_Iallreduce)
  s2 = all_sum g2                          ... the rest of the backward pass runs here ...
  use(s1, s2)                             d = allreduce_wait p, flat {slot=0}           (MPI_Wait)
                                          use(reshape(slice(d, 0:n1)), reshape(slice(d, n1:n1+n2)))

Kernels run in the order of their nodes (passes/fuse.py's toposort follows node positions), so the placement
here is the schedule. In a world of one (primitives/collective.py) both ops are the identity and disappear.
"""
from __future__ import annotations

from ..ir.types import TensorType
from ..primitives import REGISTRY
from ..primitives.collective import world_size
from .manager import graph_pass, Rewriter

# Bytes per bucket unless a node says otherwise (all_sum(x, bucket_bytes=...)). Small enough that a LeNet-sized
# model (62k parameters, 250 kB of f32 gradients) is cut in several buckets whose reductions overlap the
# backward pass; large enough that an all-reduce's latency (~10 us on shared memory) is paid a few times only.
DEFAULT_BUCKET_BYTES = 64 * 1024


class _Bucket:
    __slots__ = ("dtype", "members", "nbytes", "cap", "overlap", "flat", "pending", "done", "slot")

    def __init__(self, dtype, cap, overlap):
        self.dtype, self.cap, self.overlap = dtype, cap, overlap
        self.members, self.nbytes = [], 0
        self.flat = self.pending = self.done = self.slot = None


def _static_size(t: TensorType):
    n = 1
    for d in t.shape:
        if not isinstance(d, int):
            return None
        n *= d
    return n


@graph_pass
def bucket_all_reduce(g):
    """Pack all_sum/all_mean operands into buckets of allreduce_start/allreduce_wait (see the module doc)."""
    if not any(n.prim.collective == "all_reduce" for n in g.nodes):
        return g
    size = world_size()
    rw = Rewriter(g)
    prim = REGISTRY

    def scale(v, n):
        # all_mean = all_sum / size; a scalar constant broadcasts NumPy-style in mul
        import numpy as np
        c = rw.emit(prim["const"], (), {"value": np.array(1.0 / size, dtype=v.type.dtype.np)},
                    TensorType(v.type.dtype, ()), n.loc)
        return rw.emit(prim["mul"], (v, c), {}, v.type, n.loc)

    if size == 1:
        for n in g.nodes:
            if n.prim.collective == "all_reduce":
                rw.replace(n, rw.inputs(n)[0])
            else:
                rw.keep(n)
        return rw.finish()

    ready_after = {}                  # producer node -> collectives reading its result
    early = []                        # collectives of graph inputs: ready before the first node
    for n in g.nodes:
        if n.prim.collective == "all_reduce":
            p = n.inputs[0].node
            (early if p is None else ready_after.setdefault(p, [])).append(n)
    bucket_of, open_, buckets = {}, {}, []

    def close(bk):
        m = bk.members
        loc = m[0].loc
        parts = []
        for c in m:
            x = rw.inputs(c)[0]
            n_el = _static_size(x.type)
            parts.append(x if x.type.ndim == 1 else
                         rw.emit(prim["reshape"], (x,), {"shape": (n_el,)}, TensorType(x.type.dtype, (n_el,)), loc))
        flat_t = TensorType(bk.dtype, (sum(_static_size(c.out.type) for c in m),))
        bk.flat = parts[0] if len(parts) == 1 else rw.emit(prim["concatenate"], tuple(parts), {"axis": 0}, flat_t, loc)
        bk.slot = sum(b.slot is not None for b in buckets)
        if bk.overlap:
            bk.pending = rw.emit(prim["allreduce_start"], (bk.flat,), {"slot": bk.slot}, flat_t, loc)
        if open_.get((bk.dtype, bk.cap, bk.overlap)) is bk:
            del open_[(bk.dtype, bk.cap, bk.overlap)]

    def wait(bk):
        if bk.flat is None:
            close(bk)
        if not bk.overlap:         # start right here: the all-reduce then blocks, overlapping nothing
            bk.pending = rw.emit(prim["allreduce_start"], (bk.flat,), {"slot": bk.slot}, bk.flat.type, bk.members[0].loc)
        bk.done = d = rw.emit(prim["allreduce_wait"], (bk.pending, bk.flat), {"slot": bk.slot}, bk.flat.type,
                              bk.members[0].loc)
        off = 0
        for c in bk.members:
            t, n_el = c.out.type, _static_size(c.out.type)
            v = rw.emit(prim["slice"], (d,), {"start": (off,), "stop": (off + n_el,), "step": (1,)},
                        TensorType(t.dtype, (n_el,)), c.loc) if len(bk.members) > 1 else d
            if t.ndim != 1:
                v = rw.emit(prim["reshape"], (v,), {"shape": tuple(t.shape)}, t, c.loc)
            if c.prim.name == "all_mean":
                v = scale(v, c)
            rw.replace(c, v)
            off += n_el
            ready(c)                  # an all_sum of an all_sum (rare) becomes ready now

    def ready(p):
        for c in ready_after.get(p, ()):
            x = rw.inputs(c)[0]
            n_el = _static_size(x.type)
            if n_el is None:
                # a symbolic size cannot be packed at a fixed offset: a blocking all-reduce of its own, in place
                v = rw.emit(prim["all_sum"], (x,), {}, x.type, c.loc)
                rw.replace(c, scale(v, c) if c.prim.name == "all_mean" else v)
                bucket_of[c] = None
                ready(c)
                continue
            cap = c.params.get("bucket_bytes", DEFAULT_BUCKET_BYTES)
            overlap = c.params.get("overlap", True)
            key = (x.type.dtype, cap, overlap)
            bk = open_.get(key)
            if bk is None:
                bk = open_[key] = _Bucket(x.type.dtype, cap, overlap)
                buckets.append(bk)
            bk.members.append(c)
            bk.nbytes += n_el * x.type.dtype.np.itemsize
            bucket_of[c] = bk
            if bk.nbytes >= cap:
                close(bk)

    ready_after[None] = early
    ready(None)
    for n in g.nodes:
        if n.prim.collective == "all_reduce":
            continue
        for v in n.inputs:
            c = v.node
            if c is not None and c.prim.collective == "all_reduce":
                bk = bucket_of.get(c)
                if bk is not None and bk.done is None:
                    wait(bk)
        rw.keep(n)
        ready(n)
    for bk in buckets:
        if bk.done is None:
            wait(bk)
    return rw.finish()
