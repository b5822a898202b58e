"""Structured control flow as JAX spells it: scan, fori_loop, while_loop, cond, switch.

Each traces the user's functions once into sub-graphs (closures over traced values become explicit operands)
and binds one control-flow primitive (prims.py): eagerly on NumPy arrays that runs the reference loop; inside a
trace it records one node, so the loop stays a loop through every transform and into the generated code.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import pytree
from ..errors import DTypeError, ShapeError, TraceError
from ..ir.graph import Graph, Value
from ..ir.types import TensorType, dtype as to_dtype, dims_equal
from ..trace import Tracer, trace_flat, abstractify, is_weak, user_loc, format_loc
from .prims import scan_p, while_p, cond_p


def _types(leaves, what):
    out = []
    for x in leaves:
        try:
            out.append(abstractify(x))
        except (DTypeError, TraceError) as e:
            raise type(e)(f"{what}: {e}") from None
    return out


def _cast(x, t: TensorType):
    """x as an operand of type t (a weak Python scalar carry takes the dtype the body gives it)."""
    if isinstance(x, Tracer):
        return x if np.dtype(x.dtype) == t.dtype.np else x.astype(t.dtype.np)
    return np.asarray(x, dtype=t.dtype.np)


def _region(fn, in_tree, types, name, weak=(), out_weak=None):
    """Trace fn into a region graph whose inputs are its captured outer values first, then its arguments.
    Returns (graph, captured outer tracers, out_tree); out_weak, a list, gets which results are weak."""
    @functools.wraps(fn)                      # keeps the user's argument names for the printed region
    def traced(*a):
        out = fn(*a)
        if out_weak is not None:
            out_weak[:] = [is_weak(x) for x in pytree.flatten(out)[0]]
        return out
    g, captured = trace_flat(traced, in_tree, types, name, weak=weak)
    n = g.n_explicit
    region = Graph(name, g.inputs[n:] + g.inputs[:n], g.nodes, g.outputs)
    return region, list(captured), g.out_tree


def _cast_weak(x, d):
    if d is None or not is_weak(x):
        return x
    return x.astype(d) if isinstance(x, Tracer) else np.asarray(x, d)


def _carry_fixed(trace_once, init_leaves, init_types, what):
    """Trace with the carry's types; where a weak (Python scalar) carry comes back with another dtype, trace
    again with that dtype (as JAX does for weakly typed carries). Returns trace_once's result and the types."""
    weak = [is_weak(x) for x in init_leaves]
    for _ in range(2):
        out = trace_once(init_types, weak)
        got = out[-1]
        retry = False
        for i, (a, b) in enumerate(zip(init_types, got)):
            if a.dtype is not b.dtype and weak[i] and len(a.shape) == len(b.shape) and all(
                    dims_equal(x, y) for x, y in zip(a.shape, b.shape)):
                init_types = list(init_types)
                init_types[i] = b
                weak[i] = False
                retry = True
        if not retry:
            break
    for i, (a, b) in enumerate(zip(init_types, out[-1])):
        if a != b:
            err = DTypeError if a.dtype is not b.dtype else ShapeError
            raise err(f"{what}: the carry's leaf {i} goes in as {a} and comes back from the body as {b}; the body "
                      f"must return the carry with the same shapes and dtypes" + format_loc(user_loc(1)))
    return out, init_types


# ---------------------------------------------------------------- scan

def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loop f over the leading axis of xs, carrying a value: f(carry, x) -> (carry, y); returns (carry, ys) with
    the ys stacked. As jax.lax.scan: pytrees for init, xs and ys; xs=None with `length`; `reverse` runs from the
    end (ys stay in xs's order). `unroll` is accepted for compatibility and ignored: the loop stays a loop."""
    init_leaves, carry_tree = pytree.flatten(init)
    xs_leaves, xs_tree = pytree.flatten(xs)
    x_types = _types(xs_leaves, "scan: xs")
    lengths = []
    for t in x_types:
        if t.ndim == 0:
            raise ShapeError(f"scan: every leaf of xs needs a leading axis to scan over, got a scalar {t}"
                             + format_loc(user_loc(1)))
        lengths.append(t.shape[0])
    if length is not None:
        if isinstance(length, Tracer):
            raise TraceError("scan: length must be known while tracing (a Python int), not a traced value"
                             + format_loc(user_loc(1)))
        length = int(length)
        if length < 0:
            raise ValueError(f"scan: length must be non-negative, got {length}")
        lengths = [length] + lengths
    if not lengths:
        raise ValueError("scan: give xs or length (the number of iterations)")
    n = lengths[0]
    if any(not dims_equal(n, m) for m in lengths[1:]):
        raise ValueError("scan got values with different leading axis sizes: "
                         + ", ".join(str(m) for m in lengths))
    slice_types = [TensorType(t.dtype, t.shape[1:]) for t in x_types]
    init_types = _types(init_leaves, "scan: init")
    nk = len(init_leaves)
    tree = pytree.TreeDef("tuple", None, [carry_tree, xs_tree])
    name = getattr(f, "__name__", "body")

    def trace_once(ktypes, weak):
        g, captured, out_tree = _region(lambda c, x: f(c, x), tree, list(ktypes) + slice_types, "body",
                                        weak=list(weak) + [False] * len(slice_types))
        if out_tree is None or out_tree.kind not in ("tuple", "list") or len(out_tree.children) != 2:
            raise TraceError(f"scan: the body {name} must return a pair (carry, y), got structure {out_tree}"
                             + format_loc(user_loc(1)))
        if out_tree.children[0] != carry_tree:
            raise TraceError(f"scan: the body {name} returns a carry of structure {out_tree.children[0]}, but the "
                             f"carry passed in has structure {carry_tree}" + format_loc(user_loc(1)))
        return g, captured, out_tree, [v.type for v in g.outputs[:nk]]

    (g, captured, out_tree, _), init_types = _carry_fixed(trace_once, init_leaves, init_types, f"scan of {name}")
    ops = list(captured) + [_cast(x, t) for x, t in zip(init_leaves, init_types)] + list(xs_leaves)
    res = scan_p(*ops, body=g, length=n, reverse=bool(reverse), n_consts=len(captured), n_carry=nk)
    carry = pytree.unflatten(carry_tree, list(res[:nk]))
    ys = pytree.unflatten(out_tree.children[1], list(res[nk:]))
    return carry, ys


# ---------------------------------------------------------------- fori_loop

def fori_loop(lower, upper, body_fun, init_val):
    """for i in range(lower, upper): val = body_fun(i, val); returns val. With bounds known at trace time
    (Python or NumPy ints) this is a scan (reverse mode works); with traced bounds a while_loop (forward
    mode only), as in JAX."""
    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        lo, hi = _int_bound(lower, "lower"), _int_bound(upper, "upper")
        weak = is_weak(lower) and is_weak(upper)
        dt = np.result_type(np.asarray(lower), np.asarray(upper)) if not weak else np.dtype(np.int64)
        i0 = lo if weak else np.asarray(lo, dt)

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None
        (_, out), _ = scan(step, (i0, init_val), None, length=max(hi - lo, 0))
        return out
    for b, what in ((lower, "lower"), (upper, "upper")):
        if isinstance(b, Tracer):
            if b.aval.shape != () or np.dtype(b.dtype).kind not in "iu":
                raise TypeError(f"fori_loop: {what} bound must be an integer scalar, got a traced {b.aval}"
                                + format_loc(user_loc(1)))
        else:
            _int_bound(b, what)
    dt = np.result_type(*(np.asarray(b) if not isinstance(b, Tracer) else b.dtype for b in (lower, upper)
                          if not is_weak(b))) if not (is_weak(lower) and is_weak(upper)) else np.int64
    lo = _cast(lower, TensorType(to_dtype(dt), ()))
    hi = _cast(upper, TensorType(to_dtype(dt), ()))

    def cond_fun(c):
        return c[0] < c[1]

    def body(c):
        i, h, val = c
        return i + 1, h, body_fun(i, val)
    return while_loop(cond_fun, body, (lo, hi, init_val))[2]


def _int_bound(b, what):
    a = np.asarray(b)
    if a.ndim != 0 or a.dtype.kind not in "iu":
        raise TypeError(f"fori_loop: {what} bound must be an integer scalar, got {b!r}")
    return int(a)


# ---------------------------------------------------------------- while_loop

def while_loop(cond_fun, body_fun, init_val):
    """while cond_fun(val): val = body_fun(val); returns val (jax.lax.while_loop). Differentiable in forward mode
    only: its trip count is unknown until it runs."""
    init_leaves, tree = pytree.flatten(init_val)
    init_types = _types(init_leaves, "while_loop: init_val")
    nk = len(init_leaves)
    cname = getattr(cond_fun, "__name__", "cond")
    bname = getattr(body_fun, "__name__", "body")

    def trace_once(ktypes, weak):
        cg, ccap, ctree = _region(lambda c: cond_fun(c), pytree.TreeDef("tuple", None, [tree]), list(ktypes),
                                  "cond", weak=weak)
        out = cg.out_types
        if ctree is None or ctree.kind != "leaf" or len(out) != 1 or out[0].ndim != 0:
            raise DTypeError(f"while_loop: cond_fun {cname} must return a boolean scalar, got "
                             f"{', '.join(map(str, out)) or 'nothing'}" + format_loc(user_loc(1)))
        if not out[0].dtype.is_bool:
            raise DTypeError(f"while_loop: cond_fun {cname} must return a boolean scalar, got {out[0]} (compare, "
                             f"e.g. i < n)" + format_loc(user_loc(1)))
        bg, bcap, btree = _region(lambda c: body_fun(c), pytree.TreeDef("tuple", None, [tree]), list(ktypes),
                                  "body", weak=weak)
        if not pytree.same_structure(btree, tree):
            raise TraceError(f"while_loop: body_fun {bname} returns structure {btree}, but the carry has "
                             f"structure {tree}" + format_loc(user_loc(1)))
        return cg, ccap, bg, bcap, [v.type for v in bg.outputs]

    (cg, ccap, bg, bcap, _), init_types = _carry_fixed(trace_once, init_leaves, init_types,
                                                        f"while_loop of {bname}")
    # the cond region's inputs: its consts, then the carry (trace order put them so)
    ops = list(ccap) + list(bcap) + [_cast(x, t) for x, t in zip(init_leaves, init_types)]
    res = while_p(*ops, cond=cg, body=bg, n_cond_consts=len(ccap), n_body_consts=len(bcap))
    return pytree.unflatten(tree, list(res[:nk]))


# ---------------------------------------------------------------- cond / switch

def cond(pred, true_fun, false_fun, *operands):
    """true_fun(*operands) if pred else false_fun(*operands), with one branch run (jax.lax.cond)."""
    p = pred
    shape = p.aval.shape if isinstance(p, Tracer) else np.shape(p)
    if len(shape) != 0:
        raise TypeError(f"cond: pred must be a scalar, got an array of shape {tuple(shape)}"
                        + format_loc(user_loc(1)))
    kind = np.dtype(p.dtype).kind if isinstance(p, Tracer) else np.asarray(p).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"cond: pred must be a boolean or number, got {np.asarray(p).dtype}")
    if isinstance(p, Tracer):
        index = (p if kind == "b" else p != 0).astype(np.int32)
    else:
        index = np.int32(bool(np.asarray(p)))
    return _switch(index, (false_fun, true_fun), operands, "cond", names=("false_fun", "true_fun"))


def switch(index, branches, *operands):
    """branches[index](*operands), index clamped to [0, len(branches) - 1] (jax.lax.switch)."""
    branches = tuple(branches)
    if not branches:
        raise ValueError("switch: branches is empty")
    shape = index.aval.shape if isinstance(index, Tracer) else np.shape(index)
    if len(shape) != 0:
        raise TypeError(f"switch: index must be a scalar, got shape {tuple(shape)}" + format_loc(user_loc(1)))
    kind = np.dtype(index.dtype).kind if isinstance(index, Tracer) else np.asarray(index).dtype.kind
    if kind not in "iub":
        got = np.dtype(index.dtype) if isinstance(index, Tracer) else np.asarray(index).dtype
        raise TypeError(f"switch: index must be an integer scalar, got {got}" + format_loc(user_loc(1)))
    if isinstance(index, Tracer):
        if kind != "b" and not np.can_cast(np.dtype(index.dtype), np.int32):
            # clamp before narrowing: a wide index would wrap around into the branches' range
            index = np.minimum(np.maximum(index, 0), len(branches) - 1)
        index = index.astype(np.int32)
    else:
        index = np.int32(np.clip(int(np.asarray(index)), np.iinfo(np.int32).min, np.iinfo(np.int32).max))
    return _switch(index, branches, operands, "switch")


def _switch(index, branches, operands, what, names=None):
    names = names or [f"branch {i}" for i in range(len(branches))]
    leaves, tree = pytree.flatten(tuple(operands))
    types = _types(leaves, f"{what}: operands")
    weak = [is_weak(x) for x in leaves]
    traced, out_tree = [], None
    for i, fn in enumerate(branches):
        out_weak = []
        g, captured, otree = _region(fn, tree, types, "branches", weak=weak, out_weak=out_weak)
        if out_tree is None:
            out_tree = otree
        elif not pytree.same_structure(otree, out_tree):
            raise TraceError(f"{what}: {names[i]} returns structure {otree}, {names[0]} returns {out_tree}; all "
                             f"branches must return the same structure" + format_loc(user_loc(1)))
        traced.append((g, captured, out_weak))
    # a branch returning a Python scalar (weak) takes the dtype the other branches give that result, as in JAX
    want = []
    for k in range(len(traced[0][0].outputs)):
        strong = {g.out_types[k].dtype.np for g, _, w in traced if not w[k]}
        every = [g.out_types[k].dtype.np for g, _, _ in traced]
        want.append(strong.pop() if len(strong) == 1 else np.result_type(*every) if not strong else None)
    for i, (g, captured, w) in enumerate(traced):
        if any(d is not None and w[k] and g.out_types[k].dtype.np != d for k, d in enumerate(want)):
            fn = branches[i]
            cast = functools.wraps(fn)(lambda *a, fn=fn: pytree.unflatten(out_tree, [
                _cast_weak(x, d) for x, d in zip(pytree.flatten(fn(*a))[0], want)]))
            g, captured, _ = _region(cast, tree, types, "branches", weak=weak)
            traced[i] = (g, captured, w)
    out_types = traced[0][0].out_types
    union = {}
    for i, (g, captured, _) in enumerate(traced):
        if g.out_types != out_types:
            same_dtypes = [t.dtype for t in g.out_types] == [t.dtype for t in out_types]
            raise (ShapeError if same_dtypes else DTypeError)(
                f"{what}: {names[i]} returns {', '.join(map(str, g.out_types))}, {names[0]} returns "
                f"{', '.join(map(str, out_types))}; all branches must return the same shapes and dtypes"
                + format_loc(user_loc(1)))
        for t in captured:
            union.setdefault(id(t._value), t)
    consts = list(union.values())
    keys = list(union.keys())
    regions = []
    for g, captured, _ in traced:
        mine = dict(zip((id(t._value) for t in captured), g.inputs[:len(captured)]))
        ins = [mine.get(k) or Value(union[k]._value.type, None, None) for k in keys]
        regions.append(Graph("branches", ins + g.inputs[len(captured):], g.nodes, g.outputs))
    res = cond_p(index, *consts, *leaves, branches=tuple(regions))
    return pytree.unflatten(out_tree, list(res))
