"""Controlling differentiation, as JAX spells it: cc.stop_gradient, cc.custom_jvp, cc.custom_vjp, cc.checkpoint.

Outside a trace a decorated function just runs. Inside one (cc.compile, grad, jvp, ...) it traces its function and
its rules once into region graphs and records one node (custom_prims.py), so that every transform of the
enclosing graph finds the rule, and compiled code runs the plain function (inlined before lowering).
"""
from __future__ import annotations

import functools
import inspect
import threading

import numpy as np

from .. import pytree
from ..errors import TraceError, format_loc
from ..ir.graph import Graph
from ..primitives import stop_gradient as _stop_gradient_p
from ..primitives.rules import zeros
from ..trace import Tracer, trace_stack, abstractify, is_weak, trace_flat, user_loc
from .custom_prims import custom_jvp_call, custom_vjp_call, remat_call


def stop_gradient(x):
    """x unchanged, but with a zero derivative: grad, jvp and vjp treat it as a constant. x may be a pytree.

    >>> cc.grad(lambda x: np.sum(x * cc.stop_gradient(x)))(np.ones(3))     # [1. 1. 1.], not [2. 2. 2.]
    """
    def leaf(a):
        return _stop_gradient_p(a if isinstance(a, Tracer) else np.asarray(a))
    return pytree.tree_map(leaf, x)


# ---- shared machinery ----

_local = threading.local()


def _busy():
    """Custom functions whose rules are being traced on this thread: a call of one of them inside its own rule
    (`ans = f(x)` in a jvp rule) runs its plain function, which also ends the recursion."""
    s = getattr(_local, "busy", None)
    if s is None:
        s = _local.busy = set()
    return s


class _tracing_rules:
    def __init__(self, owner):
        self.owner = owner

    def __enter__(self):
        _busy().add(id(self.owner))

    def __exit__(self, *exc):
        _busy().discard(id(self.owner))


def _name(fn):
    return getattr(fn, "__name__", None) or type(fn).__name__


def _positional(fn, args, kwargs, what):
    if not kwargs:
        return tuple(args)
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: {e}") from None
    if bound.kwargs:
        raise TypeError(f"{what}: keyword-only arguments {sorted(bound.kwargs)} are not supported; pass them "
                        f"positionally")
    return tuple(bound.args)


def _region(fn, in_tree, types, name, weak):
    """Trace fn into a region: inputs are the outer values it closes over, then its arguments.
    Returns (graph, captured outer tracers, out_tree)."""
    g, captured = trace_flat(fn, in_tree, types, name, weak=weak)
    n = g.n_explicit
    return Graph(name, g.inputs[n:] + g.inputs[:n], g.nodes, g.outputs), list(captured), g.out_tree


def _operands(leaves):
    return [x if isinstance(x, Tracer) else np.asarray(x) for x in leaves]


def _split_nondiff(args, nondiff, what):
    bad = [i for i in nondiff if not -len(args) <= i < len(args)]
    if bad:
        raise TraceError(f"{what}: nondiff_argnums {bad} out of range for {len(args)} arguments")
    nondiff = sorted({i % len(args) for i in nondiff}) if args else []
    diff = [a for i, a in enumerate(args) if i not in nondiff]
    fixed = [args[i] for i in nondiff]

    def merge(diff_vals):
        it, out = iter(diff_vals), []
        for i in range(len(args)):
            out.append(args[i] if i in nondiff else next(it))
        return tuple(out)
    return tuple(diff), fixed, merge


def _abstract(args, what):
    leaves, tree = pytree.flatten(tuple(args))
    try:
        types = [abstractify(x) for x in leaves]
    except TraceError as e:
        raise TraceError(f"{what}: {e}") from None
    return leaves, tree, types, [is_weak(x) for x in leaves]


def _as_type(x, t, what):
    """A rule's output leaf as a value of exactly type t (None: zeros; a NumPy 0, a Python scalar or another float
    width are converted; another shape is an error)."""
    if x is None:
        return zeros(t.shape, t.dtype)
    if not isinstance(x, Tracer):
        x = np.asarray(x)
    shape = tuple(x.shape)
    if len(shape) != len(t.shape) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                         for a, b in zip(shape, t.shape)):
        if shape == ():
            return x.astype(t.dtype.np) + zeros(t.shape, t.dtype)       # a scalar, broadcast
        raise TraceError(f"{what}: a value of shape {shape} where {t} is expected")
    if np.dtype(x.dtype) != t.dtype.np:
        x = x.astype(t.dtype.np)
    return x


def _flat_like(value, tree, types, what):
    """The leaves of `value`, which must have structure `tree` (None anywhere: zeros there, as JAX allows), as
    values of `types`."""
    leaves = _leaves_or_none(value, tree, what)
    return [_as_type(x, t, what) for x, t in zip(leaves, types)]


def _leaves_or_none(value, td, what):
    if value is None and td.kind != "none":
        return [None] * td.n_leaves
    if td.kind in ("dict", "list", "tuple", "namedtuple"):
        if td.kind == "dict":
            ok = isinstance(value, dict) and set(value) == set(td.meta)
            kids = [value[k] for k in td.meta] if ok else None
        else:
            ok = isinstance(value, (list, tuple)) and len(value) == len(td.children)
            kids = list(value) if ok else None
        if ok:
            return [x for v, c in zip(kids, td.children) for x in _leaves_or_none(v, c, what)]
    leaves, got = pytree.flatten(value)
    if got != td:
        raise TraceError(f"{what}: got structure {got}, expected {td}")
    return leaves


# ---- custom_jvp ----

class custom_jvp:
    """A function with its own forward-mode derivative, as jax.custom_jvp.

    >>> @cc.custom_jvp
    ... def log1pexp(x):
    ...     return np.log1p(np.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * cc.nn.sigmoid(x)
    grad, jvp, jacfwd, jacrev and hessian use the rule (reverse mode transposes it: the tangent it returns must
    be linear in the tangents); compiled code runs the function. With nondiff_argnums, the rule is called as
    rule(*nondiff_args, primals, tangents) and those arguments take no derivative. Values the function closes
    over are constants to the rule: differentiating with respect to one is an error.
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp = None

    def defjvp(self, jvp, symbolic_zeros=False):
        """Set the rule: jvp(primals, tangents) -> (primal_out, tangent_out), each a tuple of the arguments."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps):
        """One rule per argument: jvps[i](t_i, primal_out, *primals) is the tangent contribution of argument i
        (None: it contributes nothing); their sum is the tangent."""
        if self.nondiff_argnums:
            raise TraceError("custom_jvp.defjvps with nondiff_argnums is not supported; use defjvp")

        def rule(primals, tangents):
            out = self(*primals)           # inside the rule: the plain function
            acc = None
            for f, t in zip(jvps, tangents):
                if f is None:
                    continue
                d = f(t, out, *primals)
                acc = d if acc is None else pytree.tree_map(lambda a, b: a + b, acc, d)
            return out, acc
        self.defjvp(rule)

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        name = _name(self.fun)
        args = _positional(self.fun, args, kwargs, f"custom_jvp function {name}")
        if self.jvp is None:
            raise TraceError(f"custom_jvp function {name} has no rule: define one with @{name}.defjvp")
        if not trace_stack() or id(self) in _busy():
            return self.fun(*args)
        diff, fixed, merge = _split_nondiff(args, self.nondiff_argnums, f"custom_jvp function {name}")
        leaves, tree, types, weak = _abstract(diff, f"custom_jvp function {name}")
        fun_g, fun_cap, out_tree = _region(lambda *d: self.fun(*merge(d)), tree, types, name, weak)
        out_types = fun_g.out_types
        outer = user_loc(2)

        def rule(primals, tangents):
            try:
                res = self.jvp(*fixed, tuple(primals), tuple(tangents))
            except TypeError as e:
                raise TraceError(f"custom_jvp function {name}: calling its rule failed: {e}"
                                 + format_loc(outer)) from None
            if not isinstance(res, (tuple, list)) or len(res) != 2:
                raise TraceError(f"custom_jvp function {name}: the rule must return a pair (primal_out, "
                                 f"tangent_out), got {type(res).__name__}" + format_loc(outer))
            out, tout = res
            o_leaves, o_tree = pytree.flatten(out)
            if not pytree.same_structure(o_tree, out_tree):
                raise TraceError(f"custom_jvp function {name}: the rule's primal output has structure {o_tree}, "
                                 f"but {name} returns {out_tree}" + format_loc(outer))
            o_leaves = [_as_type(x, t, f"custom_jvp function {name}: the rule's primal output")
                        for x, t in zip(o_leaves, out_types)]
            t_leaves = _flat_like(tout, out_tree, out_types, f"custom_jvp function {name}: the rule's tangent output")
            t_leaves = [t if ty.dtype.is_float else zeros(ty.shape, ty.dtype) for t, ty in zip(t_leaves, out_types)]
            return tuple(o_leaves) + tuple(t_leaves)

        with _tracing_rules(self):
            jvp_g, jvp_cap, _ = _region(rule, pytree.TreeDef("tuple", None, [tree, tree]), types + types,
                                        name + "_jvp", weak + weak)
        res = custom_jvp_call(*fun_cap, *jvp_cap, *_operands(leaves), fun=fun_g, jvp=jvp_g,
                              n_fun_consts=len(fun_cap), n_jvp_consts=len(jvp_cap), name=name)
        return pytree.unflatten(out_tree, list(res))


# ---- custom_vjp ----

class custom_vjp:
    """A function with its own reverse-mode derivative, as jax.custom_vjp.

    >>> @cc.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (np.clip(g, -1.0, 1.0),))
    fwd(*args) -> (out, residuals) runs in the forward pass; bwd(residuals, ct) -> a tuple with one cotangent per
    argument (None: zero) runs in the backward pass. With nondiff_argnums, bwd is called as
    bwd(*nondiff_args, residuals, ct) and returns cotangents for the other arguments only. Forward mode (jvp,
    jacfwd) is an error, as in JAX. Values the function closes over are constants to the rule.
    """

    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd, bwd, symbolic_zeros=False):
        self.fwd, self.bwd = fwd, bwd

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        name = _name(self.fun)
        args = _positional(self.fun, args, kwargs, f"custom_vjp function {name}")
        if self.fwd is None:
            raise TraceError(f"custom_vjp function {name} has no rule: define one with {name}.defvjp(fwd, bwd)")
        if not trace_stack() or id(self) in _busy():
            return self.fun(*args)
        what = f"custom_vjp function {name}"
        diff, fixed, merge = _split_nondiff(args, self.nondiff_argnums, what)
        leaves, tree, types, weak = _abstract(diff, what)
        fun_g, fun_cap, out_tree = _region(lambda *d: self.fun(*merge(d)), tree, types, name, weak)
        out_types = fun_g.out_types
        n_out = len(out_types)
        outer = user_loc(2)
        res_tree = []

        def fwd(*d):
            r = self.fwd(*merge(d))
            if not isinstance(r, (tuple, list)) or len(r) != 2:
                raise TraceError(f"{what}: fwd must return a pair (out, residuals), got {type(r).__name__}"
                                 + format_loc(outer))
            out, res = r
            o_leaves, o_tree = pytree.flatten(out)
            if not pytree.same_structure(o_tree, out_tree):
                raise TraceError(f"{what}: fwd's output has structure {o_tree}, but {name} returns {out_tree}"
                                 + format_loc(outer))
            o_leaves = [_as_type(x, t, f"{what}: fwd's output") for x, t in zip(o_leaves, out_types)]
            r_leaves, r_tree = pytree.flatten(res)
            res_tree.append(r_tree)
            return tuple(o_leaves) + tuple(r_leaves)

        with _tracing_rules(self):
            fwd_g, fwd_cap, _ = _region(fwd, tree, types, name + "_fwd", weak)
            r_tree = res_tree[-1]
            arg_trees = tree.children

            def bwd(res, ct):
                cts = self.bwd(*fixed, pytree.unflatten(r_tree, list(res)), pytree.unflatten(out_tree, list(ct)))
                if not isinstance(cts, (tuple, list)) or len(cts) != len(diff):
                    raise TraceError(f"{what}: bwd must return a tuple with one cotangent per differentiated "
                                     f"argument ({len(diff)}), got {cts!r:.80}" + format_loc(outer))
                flat, k = [], 0
                for c, td in zip(cts, arg_trees):
                    flat += _flat_like(c, td, types[k:k + td.n_leaves], f"{what}: bwd's cotangent")
                    k += td.n_leaves
                return tuple(flat)
            res_types = fwd_g.out_types[n_out:]
            bwd_tree = pytree.TreeDef("tuple", None, [pytree.TreeDef("tuple", None, [pytree.LEAF] * len(res_types)),
                                                      pytree.TreeDef("tuple", None, [pytree.LEAF] * n_out)])
            bwd_g, bwd_cap, _ = _region(bwd, bwd_tree, list(res_types) + list(out_types), name + "_bwd", ())
        res = custom_vjp_call(*fun_cap, *fwd_cap, *bwd_cap, *_operands(leaves), fun=fun_g, fwd=fwd_g, bwd=bwd_g,
                              n_fun_consts=len(fun_cap), n_fwd_consts=len(fwd_cap), n_bwd_consts=len(bwd_cap),
                              name=name)
        return pytree.unflatten(out_tree, list(res))


# ---- checkpoint ----

def checkpoint(fun, *, prevent_cse=True, policy=None, static_argnums=()):
    """fun, whose reverse mode recomputes its intermediate values in the backward pass instead of keeping them
    from the forward pass (jax.checkpoint / jax.remat): less memory for more compute.

    >>> block = cc.checkpoint(lambda h, w: np.tanh(np.tanh(h @ w) @ w))
    Only fun's inputs are kept for the backward pass. prevent_cse=False lets CSE merge the recomputation with
    the forward pass again (no memory saved, as JAX warns). Arguments at static_argnums are Python values.
    """
    if policy is not None:
        raise TraceError("checkpoint: policies are not supported; everything inside is recomputed")
    static = tuple(static_argnums)

    @functools.wraps(fun)
    def remat_fn(*args, **kwargs):
        name = _name(fun)
        args = _positional(fun, args, kwargs, f"checkpoint of {name}")
        if not trace_stack():
            return fun(*args)
        diff, _, merge = _split_nondiff(args, static, f"checkpoint of {name}")
        leaves, tree, types, weak = _abstract(diff, f"checkpoint of {name}")
        g, cap, out_tree = _region(lambda *d: fun(*merge(d)), tree, types, name, weak)
        res = remat_call(*cap, *_operands(leaves), fun=g, prevent_cse=bool(prevent_cse), name=name)
        return pytree.unflatten(out_tree, list(res))
    return remat_fn


remat = checkpoint

__all__ = ["stop_gradient", "custom_jvp", "custom_vjp", "checkpoint", "remat"]
