"""The derivative-rule vocabulary: rule signatures, and helpers that fill a primitive's jvp/vjp/transpose.

Signatures (what compiler.transforms calls):
  jvp(primals, tangents, out, **params) -> tangent of out, or None for a (symbolic) zero tangent.
      tangents[i] is None where input i has a zero tangent: a constant, or an integer or boolean value.
      Only called when out is a float and some tangent is not None.
  vjp(ct, primals, out, **params) -> tuple with one cotangent per input (None: zero, or not differentiable).
      Only called when out is a float; each cotangent has its input's exact shape and dtype.
  transpose(ct, primals, **params) -> tuple like vjp, for ops linear in the inputs `linear` lists; those
      primals are used for their shapes only. For them vjp == transpose.
Rules are written with operators and NumPy functions on their arguments, which are tracers while a transform
runs (recording primitives, so derivatives of derivatives work) and NumPy arrays when called eagerly.

Helpers (most primitives need one line):
  pointwise(*partials)   elementwise op; partials[i](t, *primals, out) = (d out / d x_i) * t, linear in t
                         (None: not differentiable in input i). Gives jvp and vjp, with unbroadcast.
  linear(transpose, positions=(0,))   linear in `positions`; jvp applies the op to the tangents.
  bilinear(lhs, rhs)     linear in each of two inputs; lhs(ct, x, y, **p) -> x cotangent, rhs -> y's.
  zero_derivative        piecewise constant, or integer/boolean result: zero tangent, no cotangents.
  not_differentiable(why)   raises if a nonzero tangent or a cotangent ever reaches the op.

Batching (vmap) rules, the primitive's `batch` slot:
  batch(args, dims, /, **params) -> (out, out_dim)   (positional-only: params may be named dims or batch)
      dims[i] is 0 where args[i] carries the batch as its leading axis, None where it is unbatched (the transform
      moves every batch axis to the front first); at least one is 0. out carries the batch at axis out_dim.
  elementwise_batch      NumPy-broadcasting ops: batched operands of lower rank get unit axes after the batch.
  shifted(update)        one operand, batched: update(params, size) gives the params of the op on the whole batch
                         (axes shift by one, shapes gain the batch size); the result is batched at 0.
  materialized(rule)     broadcast unbatched operands along the batch first, then call rule (all batched).
  unrolled               the op once per lane, results stacked: needs a static batch size; the fallback where no
                         cheaper form exists (the graph grows with the batch).
  no_operands            sources: a node with no inputs is never batched.
"""
from __future__ import annotations

import numpy as np

from ..errors import TraceError
from . import base


# ---- small helpers shared by the rules ----

def shape_of(x):
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def dtype_of(x):
    """The vive DType of a tracer or array."""
    from ..ir.types import dtype
    return dtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype)


def same_shape(a, b):
    from ..ir.types import dims_equal
    return len(a) == len(b) and all(dims_equal(x, y) for x, y in zip(a, b))


def zeros(shape, dt):
    """Zeros of a type: a broadcast scalar recorded in the innermost trace, or a NumPy array outside of one."""
    from . import shape as S, misc
    z = np.zeros((), dtype=dt.np)
    if not base._TRACE_ACTIVE():
        return np.zeros(tuple(int(d) for d in shape), dtype=dt.np)
    record = base._TRACE_HOOKS[1]        # into the innermost trace (compiler.trace, the layer above, sets the hooks)
    if not shape:
        return record(misc.const, [], {"value": z})
    return record(S.broadcast_in_dim, [z], {"shape": tuple(shape), "dims": ()})


def zeros_like(x):
    return zeros(shape_of(x), dtype_of(x))


def unbroadcast(ct, like):
    """Sum ct back to the shape of `like` (the operand NumPy broadcasting stretched to ct's shape)."""
    from .reduce import reduce_sum
    from .shape import reshape
    target, cs = shape_of(like), shape_of(ct)
    if same_shape(target, cs):
        return ct
    lead = len(cs) - len(target)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(target)
                                if isinstance(d, int) and d == 1 and not (isinstance(cs[lead + i], int) and cs[lead + i] == 1)]
    r = reduce_sum(ct, axes=tuple(axes)) if axes else ct
    if not same_shape(shape_of(r), target):
        r = reshape(r, shape=target)
    return r


def broadcast_like(t, out):
    """Broadcast a tangent to the shape of `out` (a tangent must have its primal's shape)."""
    from .shape import broadcast_in_dim
    shape, ts = shape_of(out), shape_of(t)
    if same_shape(shape, ts):
        return t
    return broadcast_in_dim(t, shape=shape, dims=tuple(range(len(shape) - len(ts), len(shape))))


def _needs_primitive(make):
    make.needs_primitive = True
    return make


# ---- the vocabulary ----

def pointwise(*partials, linear=False):
    """Rules of an elementwise op from one partial per input: partial(t, *primals, out) = (d out/d x_i) t.

    The same partial serves both modes (an elementwise Jacobian is diagonal, so it is its own transpose):
    jvp = sum_i partial_i(t_i), vjp_i = unbroadcast(partial_i(ct)). `linear=True` marks ops linear in all inputs.
    """
    def jvp(primals, tangents, out, **_):
        acc = None
        for p, t in zip(partials, tangents):
            if t is None or p is None:
                continue
            d = p(t, *primals, out)
            acc = d if acc is None else acc + d
        return None if acc is None else broadcast_like(acc, out)

    def vjp(ct, primals, out, **_):
        return tuple(None if p is None else unbroadcast(p(ct, *primals, out), x) for p, x in zip(partials, primals))

    rules = dict(jvp=jvp, vjp=vjp)
    if linear:
        rules.update(transpose=lambda ct, primals, **p: vjp(ct, primals, None, **p), linear="all")
    return rules


def linear(transpose, positions=(0,), tangent_params=None):
    """Rules of an op linear in the inputs at `positions` (other inputs, e.g. indices, carry no derivative).

    transpose(ct, *primals, **params) -> tuple, one cotangent per input; jvp applies the op to the tangents,
    with `tangent_params` overriding params (pad's fill value is a constant: tangents pad with 0).
    positions="all": linear in every input (concatenate).
    """
    every = positions == "all"
    positions = () if every else tuple(positions)

    @_needs_primitive
    def make_jvp(prim):
        def jvp(primals, tangents, out, **params):
            lin = range(len(primals)) if every else positions
            if all(tangents[i] is None for i in lin):
                return None
            args = [(tangents[i] if tangents[i] is not None else zeros_like(x)) if i in lin else x
                    for i, x in enumerate(primals)]
            return prim(*args, **{**params, **(tangent_params or {})})
        return jvp

    def trans(ct, primals, **params):
        return tuple(transpose(ct, *primals, **params))

    return dict(jvp=make_jvp, vjp=lambda ct, primals, out, **params: trans(ct, primals, **params),
                transpose=trans, linear="all" if every else positions)


def bilinear(lhs, rhs):
    """Rules of an op linear in each of its two inputs (dot, convolution): d(x*y) = dx*y + x*dy.

    lhs(ct, x, y, **params) -> cotangent of x; rhs(ct, x, y, **params) -> cotangent of y.
    """
    @_needs_primitive
    def make_jvp(prim):
        def jvp(primals, tangents, out, **params):
            (x, y), (tx, ty) = primals, tangents
            a = prim(tx, y, **params) if tx is not None else None
            b = prim(x, ty, **params) if ty is not None else None
            return a if b is None else b if a is None else a + b
        return jvp

    def trans(ct, primals, **params):
        return lhs(ct, *primals, **params), rhs(ct, *primals, **params)

    return dict(jvp=make_jvp, vjp=lambda ct, primals, out, **params: trans(ct, primals, **params),
                transpose=trans, linear=(0, 1))


# piecewise-constant ops and ops with integer or boolean results: d out = 0
zero_derivative = dict(jvp=lambda primals, tangents, out, **params: None,
                       vjp=lambda ct, primals, out, **params: (None,) * len(primals))


def not_differentiable(why):
    """Explicit opt-out: differentiating through the op raises TraceError saying why."""
    @_needs_primitive
    def make(prim):
        def rule(*args, **params):
            raise TraceError(f"{prim.name} is not differentiable: {why}")
        return rule
    return dict(jvp=make, vjp=make)


# ---- batching (vmap) ----

def batch_size(args, dims):
    return next(shape_of(x)[0] for x, d in zip(args, dims) if d is not None)


def materialize(x, size):
    """x broadcast along a new leading batch axis of `size`."""
    from .shape import broadcast_in_dim
    s = shape_of(x)
    return broadcast_in_dim(x, shape=(size,) + tuple(s), dims=tuple(range(1, len(s) + 1)))


def lane(x, i):
    """Lane i of x batched at 0 (a static slice, the batch axis dropped)."""
    from .shape import slice, reshape
    s = shape_of(x)
    part = slice(x, start=(i,) + (0,) * (len(s) - 1), stop=(i + 1,) + tuple(s[1:]), step=(1,) * len(s))
    return reshape(part, shape=tuple(s[1:]))


def stack(xs):
    from .shape import reshape, concatenate
    return concatenate(*[reshape(x, shape=(1,) + tuple(shape_of(x))) for x in xs], axis=0)


def static_size(size, what):
    if not isinstance(size, int):
        from ..errors import ShapeError
        raise ShapeError(f"vmap of {what} needs a static batch size, got {size}")
    return size


@_needs_primitive
def elementwise_batch(prim):
    def rule(args, dims, /, **params):
        from .shape import reshape
        rank = max(len(shape_of(x)) - (d is not None) for x, d in zip(args, dims))
        xs = []
        for x, d in zip(args, dims):
            s = shape_of(x)
            if d is not None and len(s) - 1 < rank:
                # (B, ...) against a higher-rank operand: NumPy aligns trailing axes, so the batch must lead
                x = reshape(x, shape=(s[0],) + (1,) * (rank - len(s) + 1) + tuple(s[1:]))
            xs.append(x)
        return prim(*xs, **params), 0
    return rule


def shifted(update):
    @_needs_primitive
    def make(prim):
        def rule(args, dims, /, **params):
            (x,) = args
            return prim(x, **update(params, shape_of(x)[0])), 0
        return rule
    return make


def shift_axes(name):
    """shifted() for an op whose param `name` holds one axis or a tuple of axes of its operand."""
    def update(params, size):
        a = params[name]
        return {**params, name: a + 1 if isinstance(a, int) else tuple(i + 1 for i in a)}
    return shifted(update)


def materialized(rule):
    """rule(prim, args, **params) -> (out, dim), called with every operand batched at 0."""
    @_needs_primitive
    def make(prim):
        def batch(args, dims, /, **params):
            size = batch_size(args, dims)
            xs = [x if d is not None else materialize(x, size) for x, d in zip(args, dims)]
            return rule(prim, xs, **params)
        return batch
    return make


@_needs_primitive
def unrolled(prim):
    def rule(args, dims, /, **params):
        size = static_size(batch_size(args, dims), prim.name)
        if size == 0:
            from ..ir.types import TensorType
            lane_types = [TensorType(dtype_of(x), shape_of(x)[d is not None:]) for x, d in zip(args, dims)]
            t = prim.infer(*lane_types, **params)
            return zeros((0,) + tuple(t.shape), t.dtype), 0
        return stack([prim(*[lane(x, i) if d is not None else x for x, d in zip(args, dims)], **params)
                      for i in range(size)]), 0
    return rule


@_needs_primitive
def no_operands(prim):
    def rule(args, dims, /, **params):
        raise AssertionError(f"{prim.name} has no operands: vmap never batches it")
    return rule
