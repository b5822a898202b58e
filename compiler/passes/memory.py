"""Memory plan: place a Program's temporaries in as few scratch slots as liveness allows.

Inputs, outputs and constants get one slot each (outputs are fresh arrays per call, never reused). A temporary
lives from the kernel that writes it to the last kernel that reads it; kernel scratch lives in its one kernel.
Slots are byte arrays; a slot's size is the largest of its tenants, evaluated per call when sizes are symbolic.
"""
from __future__ import annotations

from ..lower.kernel import smul


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
    slots = []            # [free_after_kernel, [byte sizes], static max or None]
    sizes = {}
    for b in temps:
        best = None
        for i, (free_after, members) in enumerate(slots):
            if free_after < first[b]:
                # prefer a slot already as large as this buffer (static sizes), else any free one
                if best is None or _fits(b, members) and not _fits(b, slots[best][1]):
                    best = i
        if best is None:
            slots.append([last[b], [b.nbytes]])
            best = len(slots) - 1
        else:
            slots[best][0] = last[b]
            slots[best][1].append(b.nbytes)
        b.slot = slot + best
    program.n_slots = slot + len(slots)
    for b in program.buffers:
        if b.role == "status":           # run-time checks' error status: always the last slot
            b.slot = program.n_slots
            program.n_slots += 1
    program.slot_sizes = {slot + i: members for i, (_, members) in enumerate(slots)}
    program.temp_bytes = sum(max(_static_or_zero(m) for m in members) for _, members in slots)
    return program


def _static_bytes(b):
    n = b.nbytes
    return n if isinstance(n, int) else 0


def _static_or_zero(n):
    return n if isinstance(n, int) else 0


def _fits(b, members):
    n = b.nbytes
    return isinstance(n, int) and all(isinstance(m, int) for m in members) and max(members) >= n


__all__ = ["plan_memory", "smul"]
