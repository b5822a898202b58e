"""np.einsum as dot_general contractions, diagonals and sums (compiled like any composition of primitives).

NumPy parses and checks the subscripts on stand-in arrays of the operands' shapes (zero strides: nothing is computed
or allocated), so every form NumPy accepts (implicit output, ellipses, the interleaved sublist form) is read the
same way and a bad one raises NumPy's own error. Then, per operand: repeated labels become a diagonal, labels used
by nobody else are summed out; operands are contracted left to right, each pair one dot_general whose batch labels
are those still needed later; a final transpose gives the output order. `optimize` is accepted and ignored (the
order is left to right).
"""
from __future__ import annotations

import numpy as np
from numpy._core.einsumfunc import _parse_einsum_input

from . import primitives as P
from .errors import TraceError
from .ops_base import implements
from .ops_base import asarg, result_dtype, shape_of, to_dtype, _aval, _err, _no_out
from .ops_array import broadcast_to, transpose
from .ops_reduce import sum as _sum
from .ops_shape import _int, diagonal


def _standin(x):
    shape = tuple(_int(d, "np.einsum of a symbolic size") for d in shape_of(x))
    return np.broadcast_to(np.zeros((), _aval(x).dtype.np), shape)


def _drop_repeats(x, labels):
    # 'ii->i': the diagonal over each repeated pair; NumPy's diagonal puts it last
    while True:
        seen = {}
        pair = next(((seen[c], k) for k, c in enumerate(labels) if seen.setdefault(c, k) != k), None)
        if pair is None:
            return x, labels
        i, j = pair
        x = diagonal(x, 0, i, j)
        labels = [c for k, c in enumerate(labels) if k not in (i, j)] + [labels[i]]


def _sum_unused(x, labels, keep):
    axes = tuple(k for k, c in enumerate(labels) if c not in keep)
    if not axes:
        return x, labels
    return _sum(x, axis=axes, dtype=_aval(x).dtype), [c for c in labels if c in keep]


@implements(np.einsum)
def einsum(*operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    _no_out(out, {})
    if isinstance(operands[0], str):
        subscripts, arrays = operands[0], list(operands[1:])
        standins = [_standin(a) for a in arrays]
        np.einsum_path(subscripts, *standins, optimize=False)      # NumPy's errors for bad subscripts or shapes
        ins, out_labels, _ = _parse_einsum_input((subscripts, *standins))
    else:
        arrays = list(operands[0::2][:len(operands) // 2])
        standins = [_standin(a) for a in arrays]
        parts = list(operands)
        for k in range(0, 2 * len(arrays), 2):
            parts[k] = standins[k // 2]
        ins, out_labels, _ = _parse_einsum_input(tuple(parts))
        np.einsum_path(f"{ins}->{out_labels}", *standins, optimize=False)
    dt = to_dtype(dtype) if dtype is not None else result_dtype(*arrays)
    if dt.is_bool:
        raise _err(TraceError, "np.einsum of bool arrays is not supported by vive; cast them to int first")
    subs = [list(s) for s in ins.split(",")]
    sizes = {}
    for s, a in zip(subs, standins):
        for c, d in zip(s, a.shape):
            sizes[c] = d if sizes.get(c, 1) == 1 else sizes[c]
    xs = []
    for s, a in zip(subs, arrays):
        x = asarg(a, dt)
        full = tuple(sizes[c] for c in s)
        if tuple(shape_of(x)) != full:
            x = broadcast_to(x, full)          # a label of size 1 broadcasts against the others, as in NumPy
        xs.append(_drop_repeats(x, s))
    out_labels = list(out_labels)

    def needed(k):
        # the labels operand k onwards, or the output, still use
        return set(out_labels).union(*[set(lab) for _, lab in xs[k:]])

    acc, lab = _sum_unused(*xs[0], needed(1))
    for k in range(1, len(xs)):
        x, xl = _sum_unused(*xs[k], needed(k + 1) | set(lab))
        later = needed(k + 1)
        common = [c for c in lab if c in xl]
        batch = [c for c in common if c in later]
        contract = [c for c in common if c not in later]
        acc = P.dot_general(acc, x, contract=(tuple(lab.index(c) for c in contract), tuple(xl.index(c) for c in contract)),
                            batch=(tuple(lab.index(c) for c in batch), tuple(xl.index(c) for c in batch)))
        lab = batch + [c for c in lab if c not in common] + [c for c in xl if c not in common]
        acc, lab = _sum_unused(acc, lab, later)
    acc, lab = _sum_unused(acc, lab, set(out_labels))
    return transpose(acc, [lab.index(c) for c in out_labels]) if lab != out_labels else asarg(acc)


