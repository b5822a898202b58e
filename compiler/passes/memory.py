"""Memory plan: place a Program's temporaries in as few scratch slots as liveness allows.

Inputs, outputs and constants get one slot each (outputs are fresh arrays per call, never reused). A temporary
lives from the kernel that writes it to the last kernel that reads it; kernel scratch lives in its one kernel.
Slots are byte arrays; a slot's size is the largest of its tenants, evaluated per call when sizes are symbolic.
"""
from __future__ import annotations

import heapq

from ..ir.kernel import smul
from .manager import graph_pass


def plan_memory(program):
    """Assign `slot` to every buffer of `program`; sets program.n_slots and program.slot_sizes."""
    slot = 0
    for role in ("input", "output", "const"):
        for b in program.buffers:
            if b.role == role:
                b.slot = slot
                slot += 1
    first, last = {}, {}
    for k_i, k in enumerate(program.kernels):
        for b in k.buffers:
            if b.role in ("temp", "scratch"):
                first.setdefault(b, k_i)
                last[b] = k_i
    temps = sorted(first, key=lambda b: (first[b], -_static_bytes(b)))
    # Each temp takes the lowest-numbered free slot already as large as it (static sizes), else the lowest free
    # one, else a new slot. NOTE: a max segment tree over slot numbers answers "leftmost free slot of at least n
    # bytes" in O(log slots) (free: the slot's static size, -1 when symbolic; busy: -2), and a heap of busy slots
    # by the kernel after which they free up: n log n where a scan of every slot per temp was quadratic.
    size = 1
    while size < len(temps):
        size *= 2
    tree = [-2] * (2 * size)

    def update(i, v):
        i += size
        tree[i] = v
        i //= 2
        while i:
            tree[i] = max(tree[2 * i], tree[2 * i + 1])
            i //= 2

    def leftmost(at_least):
        if tree[1] < at_least:
            return None
        i = 1
        while i < size:
            i = 2 * i if tree[2 * i] >= at_least else 2 * i + 1
        return i - size
    slots = []            # [free_after_kernel, [byte sizes]]
    static_max = []       # per slot: the largest tenant when every tenant is static, else -1
    busy = []             # heap of (free_after_kernel, slot)
    for b in temps:
        while busy and busy[0][0] < first[b]:
            _, i = heapq.heappop(busy)
            update(i, static_max[i])
        n = b.nbytes
        best = leftmost(n) if isinstance(n, int) else None
        if best is None:
            best = leftmost(-1)
        if best is None:
            slots.append([last[b], [n]])
            static_max.append(n if isinstance(n, int) else -1)
            best = len(slots) - 1
        else:
            slots[best][0] = last[b]
            slots[best][1].append(n)
            static_max[best] = max(static_max[best], n) if isinstance(n, int) and static_max[best] >= 0 else -1
        update(best, -2)
        heapq.heappush(busy, (last[b], best))
        b.slot = slot + best
    program.n_slots = slot + len(slots)
    for b in program.buffers:
        if b.role == "status":           # run-time checks' error status: always the last slot
            b.slot = program.n_slots
            program.n_slots += 1
    program.slot_sizes = {slot + i: members for i, (_, members) in enumerate(slots)}
    program.temp_bytes = sum(max(_static_or_zero(m) for m in members) for _, members in slots)
    return program


def order_slots(program):
    """Slots: inputs in argument order, outputs in result order, constants, then scratch (memory plan)."""
    slot = 0
    for b in program.inputs:
        b.slot = slot
        slot += 1
    seen = set()
    for kind, b in program.outputs:
        if kind == "buf" and id(b) not in seen:
            seen.add(id(b))
            b.slot = slot
            slot += 1
    for b in program.buffers:
        if b.role == "const":
            b.slot = slot
            slot += 1
    base = slot
    remap = {}
    for b in program.buffers:
        if b.role in ("temp", "scratch"):
            if b.slot not in remap:
                remap[b.slot] = base + len(remap)
            b.slot = remap[b.slot]
    program.slot_sizes = {remap[k]: v for k, v in program.slot_sizes.items() if k in remap}
    program.n_slots = base + len(remap)
    if getattr(program, "status", None) is not None:
        program.status.slot = program.n_slots          # last: after scratch (see lower/checks.py)
        program.n_slots += 1


def _static_bytes(b):
    n = b.nbytes
    return n if isinstance(n, int) else 0


def _static_or_zero(n):
    return n if isinstance(n, int) else 0


@graph_pass(name="plan_memory", raises=(Exception,))
def plan_fused_memory(g):
    """The pass `plan_memory` of the pass manager: slots for the buffers of a FusedGraph's program, in place (the
    graph comes back unchanged: a plan of memory, not a rewrite)."""
    plan_memory(g.program)
    order_slots(g.program)
    return g


__all__ = ["plan_memory", "order_slots", "plan_fused_memory", "smul"]
