"""Calls whose derivative is not their body's: custom_jvp_call, custom_vjp_call and remat_call (cc.checkpoint).

Each holds its function as a region `fun` (inputs: the values it closes over, then its arguments) and evaluates
to fun's results (a tuple value, read by `get`); the inline_calls pass puts fun's nodes in its place before
lowering. Only the derivative rules differ:

  custom_jvp_call  operands fun consts + jvp consts + args; regions fun, jvp (jvp consts + primals + one tangent
                   per argument -> results + their tangents). Forward mode runs the jvp region; reverse mode
                   transposes it (its tangent outputs are linear in the tangent inputs).
  custom_vjp_call  operands fun consts + fwd consts + bwd consts + args; regions fun, fwd (fwd consts + args ->
                   results + residuals), bwd (bwd consts + residuals + one cotangent per result -> one cotangent
                   per argument). Reverse mode runs fwd in the forward pass (vjp_fwd) and bwd in the backward pass;
                   forward mode is an error, as in JAX.
  remat_call       operands consts + args; region fun. Reverse mode recomputes fun's forward in the backward pass
                   from operands passed through optimization_barrier (so CSE cannot merge the recomputation with
                   the forward pass, whose intermediates then die early instead of living until the backward).

The values a custom rule's function closes over (the consts) take no derivative from the rule: differentiating
with respect to one is an error naming the function (pass it as an argument). remat_call differentiates its
consts like its arguments.
"""
from __future__ import annotations

from ..errors import TraceError
from ..ir.types import TupleType
from ..primitives.base import Primitive
from ..primitives.misc import optimization_barrier
from ..primitives.rules import zeros_like
from ..trace import evaluate, record
from .graphs import run, check_types
from .jvp import jvp_graph
from .vjp import vjp_graph



def _const_error(name, kind):
    return TraceError(f"{kind} function {name}: differentiating with respect to a value it closes over; its rule "
                      f"gives no derivative for it. Pass that value as an argument of {name} instead")


def _pure(g):
    """g without its effects (prints): a rule that recomputes the primal values must not print them again (the
    call's own evaluation does). Cached on the region."""
    pure = getattr(g, "_pure", None)
    if pure is None:
        pure = g._pure = g.filter(lambda n: not n.prim.effect) if any(n.prim.effect for n in g.nodes) else g
    return pure


def _zeros_for(cts, outs):
    return [c if c is not None else zeros_like(o) for c, o in zip(cts, outs)]


# ================================================================ custom_jvp_call

def _cjvp_shape(*ins, fun, jvp, n_fun_consts, n_jvp_consts, name=""):
    args = ins[n_fun_consts + n_jvp_consts:]
    check_types(f"custom_jvp {name}: fun's inputs", list(ins[:n_fun_consts]) + list(args), fun.in_types)
    check_types(f"custom_jvp {name}: the jvp rule's inputs",
           list(ins[n_fun_consts:n_fun_consts + n_jvp_consts]) + list(args) * 2, jvp.in_types)
    outs = fun.out_types
    check_types(f"custom_jvp {name}: the jvp rule's results", jvp.out_types, list(outs) * 2)
    return TupleType(outs)


def _cjvp_numpy(*ins, fun, jvp, n_fun_consts, n_jvp_consts, name=""):
    return tuple(evaluate(fun, list(ins[:n_fun_consts]) + list(ins[n_fun_consts + n_jvp_consts:])))


def _cjvp_split(xs, n_fun_consts, n_jvp_consts):
    k = n_fun_consts + n_jvp_consts
    return list(xs[n_fun_consts:k]), list(xs[k:])


def _cjvp_jvp(xs, ts, out, *, fun, jvp, n_fun_consts, n_jvp_consts, name=""):
    k = n_fun_consts + n_jvp_consts
    if any(t is not None for t in ts[:k]):
        raise _const_error(name, "custom_jvp")
    consts, args = _cjvp_split(xs, n_fun_consts, n_jvp_consts)
    tangents = [t if t is not None else zeros_like(x) for t, x in zip(ts[k:], args)]
    res = run(_pure(jvp), consts + args + tangents)
    n = len(fun.outputs)
    return tuple(t if o.dtype.is_float else None for t, o in zip(res[n:], fun.out_types))


def _cjvp_vjp_fwd(xs, active, *, fun, jvp, n_fun_consts, n_jvp_consts, name=""):
    if any(active[:n_fun_consts + n_jvp_consts]):
        raise _const_error(name, "custom_jvp")
    return record(custom_jvp_call, xs, dict(fun=fun, jvp=jvp, n_fun_consts=n_fun_consts,
                                            n_jvp_consts=n_jvp_consts, name=name)), None


def _cjvp_vjp(ct, xs, out, *, fun, jvp, n_fun_consts, n_jvp_consts, name="", residuals=None):
    # the rule's tangent outputs are linear in its tangent inputs: reverse mode is their transpose, taken at zero
    # tangents (any point would do)
    consts, args = _cjvp_split(xs, n_fun_consts, n_jvp_consts)
    n_args, n_out = len(args), len(fun.outputs)
    n_c = len(consts)
    wrt = [n_c + n_args + i for i, a in enumerate(fun.in_types[n_fun_consts:]) if a.dtype.is_float]
    outs = [n_out + j for j, o in enumerate(fun.out_types) if o.dtype.is_float]
    lin = vjp_graph(_pure(jvp), wrt=wrt, outs=outs)
    cts = [ct[j - n_out] if ct[j - n_out] is not None else zeros_like(out[j - n_out]) for j in outs]
    res = run(lin, consts + args + [zeros_like(a) for a in args] + cts)
    got = dict(zip(wrt, res[len(jvp.outputs):]))
    return [None] * (n_fun_consts + n_jvp_consts) + [got.get(n_c + n_args + i) for i in range(n_args)]


custom_jvp_call = Primitive("custom_jvp_call", numpy=_cjvp_numpy, shape=_cjvp_shape, kind="other",
                            jvp=_cjvp_jvp, vjp=_cjvp_vjp, doc="a function with its own forward-mode rule")
custom_jvp_call.vjp_fwd = _cjvp_vjp_fwd
custom_jvp_call.inline_region = "fun"


# ================================================================ custom_vjp_call

def _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts):
    return n_fun_consts + n_fwd_consts + n_bwd_consts


def _cvjp_shape(*ins, fun, fwd, bwd, n_fun_consts, n_fwd_consts, n_bwd_consts, name=""):
    k = _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts)
    args = list(ins[k:])
    check_types(f"custom_vjp {name}: fun's inputs", list(ins[:n_fun_consts]) + args, fun.in_types)
    check_types(f"custom_vjp {name}: fwd's inputs", list(ins[n_fun_consts:n_fun_consts + n_fwd_consts]) + args,
           fwd.in_types)
    outs = fun.out_types
    n = len(outs)
    check_types(f"custom_vjp {name}: fwd's results", fwd.out_types[:n], outs)
    check_types(f"custom_vjp {name}: bwd's inputs", bwd.in_types,
           list(ins[n_fun_consts + n_fwd_consts:k]) + list(fwd.out_types[n:]) + list(outs))
    check_types(f"custom_vjp {name}: bwd's results (one cotangent per argument)", bwd.out_types, args)
    return TupleType(outs)


def _cvjp_numpy(*ins, fun, fwd, bwd, n_fun_consts, n_fwd_consts, n_bwd_consts, name=""):
    k = _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts)
    return tuple(evaluate(fun, list(ins[:n_fun_consts]) + list(ins[k:])))


def _cvjp_jvp(xs, ts, out, *, name="", **_):
    raise TraceError(f"custom_vjp function {name}: forward mode (jvp, jacfwd, hessian) is not defined for it, as in "
                     f"JAX; give it a forward rule with cc.custom_jvp, or differentiate in reverse mode (grad, vjp, "
                     f"jacrev)")


def _cvjp_vjp_fwd(xs, active, *, fun, fwd, bwd, n_fun_consts, n_fwd_consts, n_bwd_consts, name=""):
    k = _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts)
    if any(active[:k]):
        raise _const_error(name, "custom_vjp")
    res = run(fwd, list(xs[n_fun_consts:n_fun_consts + n_fwd_consts]) + list(xs[k:]))
    n = len(fun.outputs)
    return tuple(res[:n]), res[n:]


def _cvjp_vjp(ct, xs, out, *, fun, fwd, bwd, n_fun_consts, n_fwd_consts, n_bwd_consts, name="", residuals=None):
    k = _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts)
    if residuals is None:
        residuals = run(fwd, list(xs[n_fun_consts:n_fun_consts + n_fwd_consts]) + list(xs[k:]))[len(fun.outputs):]
    cts = run(bwd, list(xs[n_fun_consts + n_fwd_consts:k]) + list(residuals) + _zeros_for(ct, out))
    return [None] * k + [c if t.dtype.is_float else None for c, t in zip(cts, fun.in_types[n_fun_consts:])]


custom_vjp_call = Primitive("custom_vjp_call", numpy=_cvjp_numpy, shape=_cvjp_shape, kind="other",
                            jvp=_cvjp_jvp, vjp=_cvjp_vjp, doc="a function with its own reverse-mode rule")
custom_vjp_call.vjp_fwd = _cvjp_vjp_fwd
custom_vjp_call.inline_region = "fun"


# ================================================================ remat_call

def _remat_shape(*ins, fun, prevent_cse=True, name=""):
    check_types(f"checkpoint {name}: fun's inputs", list(ins), fun.in_types)
    return TupleType(fun.out_types)


def _remat_numpy(*ins, fun, prevent_cse=True, name=""):
    return tuple(evaluate(fun, list(ins)))


def _remat_jvp(xs, ts, out, *, fun, prevent_cse=True, name=""):
    wrt = [i for i, t in enumerate(ts) if t is not None]
    res = run(jvp_graph(_pure(fun), wrt=wrt), list(xs) + [ts[i] for i in wrt])
    n = len(fun.outputs)
    return tuple(t if o.dtype.is_float else None for t, o in zip(res[n:], fun.out_types))


def _remat_vjp(ct, xs, out, *, fun, prevent_cse=True, name=""):
    # recompute the forward here, in the backward pass: its inputs go through a barrier so that CSE does not
    # merge the recomputation back into the forward pass (which would keep every intermediate alive till here)
    wrt = [i for i, t in enumerate(fun.in_types) if t.dtype.is_float]
    outs = [j for j, o in enumerate(fun.out_types) if o.dtype.is_float]
    ins = [optimization_barrier(x) for x in xs] if prevent_cse else list(xs)
    res = run(vjp_graph(_pure(fun), wrt=wrt, outs=outs), ins + [ct[j] if ct[j] is not None else zeros_like(out[j])
                                                         for j in outs])
    got = dict(zip(wrt, res[len(fun.outputs):]))
    return [got.get(i) for i in range(len(xs))]


remat_call = Primitive("remat_call", numpy=_remat_numpy, shape=_remat_shape, kind="other", jvp=_remat_jvp,
                       vjp=_remat_vjp, doc="a function whose reverse mode recomputes its forward pass (checkpoint)")
remat_call.inline_region = "fun"

# ================================================================ batching (cc.vmap)

def _batched_fun(fun, fun_args, fun_dims, size):
    from .vmap import batch_graph
    return batch_graph(fun, [None if d is None else 0 for d in fun_dims], size, [0] * len(fun.outputs))


def _lift(args, dims, size):
    """Every argument batched at 0 (unbatched ones broadcast): a custom call's rules then see one batch layout."""
    from ..primitives.rules import materialize
    return [a if d is not None else materialize(a, size) for a, d in zip(args, dims)]


def _region_axes(consts_dims, n_rest):
    return [None if d is None else 0 for d in consts_dims] + [0] * n_rest


def _cjvp_batch(args, dims, /, *, fun, jvp, n_fun_consts, n_jvp_consts, name=""):
    # the function and its rule are both batched, and the call stays a custom_jvp_call: differentiating the
    # vmapped function still uses the rule (JAX's order-independence of vmap and grad)
    from ..primitives.rules import batch_size
    from .vmap import batch_graph
    size = batch_size(args, dims)
    k = n_fun_consts + n_jvp_consts
    xs = list(args[:k]) + _lift(args[k:], dims[k:], size)
    n_args, n_out = len(args) - k, len(fun.outputs)
    bfun = batch_graph(fun, _region_axes(dims[:n_fun_consts], n_args), size, [0] * n_out)
    bjvp = batch_graph(jvp, _region_axes(dims[n_fun_consts:k], 2 * n_args), size, [0] * (2 * n_out))
    res = custom_jvp_call(*xs, fun=bfun, jvp=bjvp, n_fun_consts=n_fun_consts, n_jvp_consts=n_jvp_consts,
                          name=name)
    return tuple(res), (0,) * n_out


def _cvjp_batch(args, dims, /, *, fun, fwd, bwd, n_fun_consts, n_fwd_consts, n_bwd_consts, name=""):
    from ..primitives.rules import batch_size
    from .vmap import batch_graph
    size = batch_size(args, dims)
    k = _cvjp_counts(n_fun_consts, n_fwd_consts, n_bwd_consts)
    xs = list(args[:k]) + _lift(args[k:], dims[k:], size)
    n_args, n_out = len(args) - k, len(fun.outputs)
    n_res = len(fwd.outputs) - n_out
    bfun = batch_graph(fun, _region_axes(dims[:n_fun_consts], n_args), size, [0] * n_out)
    bfwd = batch_graph(fwd, _region_axes(dims[n_fun_consts:n_fun_consts + n_fwd_consts], n_args), size,
                       [0] * (n_out + n_res))
    bbwd = batch_graph(bwd, _region_axes(dims[n_fun_consts + n_fwd_consts:k], n_res + n_out), size, [0] * n_args)
    res = custom_vjp_call(*xs, fun=bfun, fwd=bfwd, bwd=bbwd, n_fun_consts=n_fun_consts, n_fwd_consts=n_fwd_consts,
                          n_bwd_consts=n_bwd_consts, name=name)
    return tuple(res), (0,) * n_out


def _remat_batch(args, dims, /, *, fun, prevent_cse=True, name=""):
    from ..primitives.rules import batch_size
    g = _batched_fun(fun, args, dims, batch_size(args, dims))
    res = remat_call(*args, fun=g, prevent_cse=prevent_cse, name=name)
    return tuple(res), (0,) * len(fun.outputs)


custom_jvp_call.batch = _cjvp_batch
custom_vjp_call.batch = _cvjp_batch
remat_call.batch = _remat_batch

__all__ = ["custom_jvp_call", "custom_vjp_call", "remat_call"]
