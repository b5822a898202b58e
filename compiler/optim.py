"""Optimizers as pure functions of (params, grads, state), and learning-rate schedules of the step count.

Everything here is plain NumPy on pytrees, so it runs eagerly and traces: one `cc.compile`d function can do
forward + backward + update, with the state (step count, momentum buffers) passed in and returned:

    opt = cc.optim.sgd(0.05, momentum=0.9, weight_decay=5e-4)
    state = opt.init(params)

    @cc.compile
    def step(params, state, x, y):
        loss, grads = cc.value_and_grad(loss_fn)(params, x, y)
        params, state = opt.update(params, grads, state)
        return params, state, loss
"""
from __future__ import annotations

import math

import numpy as np

from . import pytree

__all__ = ["Optimizer", "Schedule", "sgd", "adam", "adamw", "rmsprop", "clip_by_global_norm", "constant", "step_decay", "exponential_decay", "cosine_decay",
           "linear_warmup"]


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _like(v, p):
    """A scalar hyperparameter in p's dtype: Python numbers stay weak (f32 * 0.1 stays f32); arrays and traced
    values (a schedule's result, usually f64) are cast."""
    if isinstance(v, (int, float)):
        return float(v)
    v = _arr(v)
    return v if v.dtype == p.dtype else v.astype(p.dtype)


def _zeros_like(p):
    return np.zeros(np.shape(p), dtype=_arr(p).dtype)


def _leaves(tree, like_td, what):
    leaves, td = pytree.flatten(tree)
    if td != like_td:
        raise ValueError(f"optimizer update: {what} has pytree structure {td}, params have {like_td}")
    return leaves


class Optimizer:
    """`init(params) -> state`; `update(params, grads, state) -> (params, state)`. Pure: inputs are never
    mutated, so the same call traces and compiles. `lr` is a number or a schedule `lr(step) -> number` of the
    number of updates done so far (0 for the first), written in NumPy so it traces with the step."""

    def __init__(self, name, init, update, hyper):
        self.name = name
        self._init = init
        self._update = update
        self.hyper = hyper

    def init(self, params):
        return self._init(params)

    def update(self, params, grads, state):
        return self._update(params, grads, state)

    def __repr__(self):
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self.hyper.items()) + ")"


def _lr_at(lr, step):
    return lr(step) if callable(lr) else lr


def sgd(lr, momentum=0.0, weight_decay=0.0, nesterov=False) -> Optimizer:
    """Stochastic gradient descent as in PyTorch (dampening 0):

        g <- g + wd * p;   v <- mu * v + g;   p <- p - lr * v          (nesterov: p <- p - lr * (g + mu * v))

    State: {"step": int64 count, "momentum": v per param (only when momentum > 0)}; v starts at 0, which equals
    PyTorch's first-step v = g.
    >>> opt = sgd(0.1, momentum=0.9); state = opt.init(params); params, state = opt.update(params, grads, state)
    """
    momentum, weight_decay = float(momentum), float(weight_decay)
    if momentum < 0 or weight_decay < 0:
        raise ValueError(f"sgd: momentum and weight_decay must be >= 0, got {momentum}, {weight_decay}")
    if nesterov and momentum == 0:
        raise ValueError("sgd: nesterov needs momentum > 0")

    def init(params):
        state = {"step": np.zeros((), np.int64)}
        if momentum:
            state["momentum"] = pytree.tree_map(_zeros_like, params)
        return state

    def update(params, grads, state):
        ps, td = pytree.flatten(params)
        gs = _leaves(grads, td, "grads")
        step = state["step"]
        lr_t = _lr_at(lr, step)
        vs = _leaves(state["momentum"], td, "state['momentum']") if momentum else [None] * len(ps)
        new_p, new_v = [], []
        for p, g, v in zip(ps, gs, vs):
            if weight_decay:
                g = g + weight_decay * p
            if momentum:
                v = momentum * v + g
                d = g + momentum * v if nesterov else v
            else:
                d = g
            new_p.append(p - _like(lr_t, p) * d)
            new_v.append(v)
        new_state = {"step": step + 1}
        if momentum:
            new_state["momentum"] = pytree.unflatten(td, new_v)
        return pytree.unflatten(td, new_p), new_state

    return Optimizer("sgd", init, update, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                               nesterov=nesterov))


def adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0) -> Optimizer:
    """Adam as in PyTorch (weight decay added to the gradient):

        g <- g + wd * p;  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- step + 1
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """
    b1, b2, eps, weight_decay = float(b1), float(b2), float(eps), float(weight_decay)

    def init(params):
        return {"step": np.zeros((), np.int64), "m": pytree.tree_map(_zeros_like, params),
                "v": pytree.tree_map(_zeros_like, params)}

    def update(params, grads, state):
        ps, td = pytree.flatten(params)
        gs = _leaves(grads, td, "grads")
        ms = _leaves(state["m"], td, "state['m']")
        vs = _leaves(state["v"], td, "state['v']")
        step = state["step"]
        lr_t = _lr_at(lr, step)
        t = _arr(step + 1).astype(np.float64)
        # b^t as exp(t log b): a traced integer exponent needs no pow
        c1 = 1.0 / (1.0 - np.exp(t * math.log(b1)))
        c2 = 1.0 / (1.0 - np.exp(t * math.log(b2)))
        new_p, new_m, new_v = [], [], []
        for p, g, m, v in zip(ps, gs, ms, vs):
            if weight_decay:
                g = g + weight_decay * p
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * np.square(g)
            upd = (m * _like(c1, p)) / (np.sqrt(v * _like(c2, p)) + eps)
            new_p.append(p - _like(lr_t, p) * upd)
            new_m.append(m)
            new_v.append(v)
        return pytree.unflatten(td, new_p), {"step": step + 1, "m": pytree.unflatten(td, new_m),
                                             "v": pytree.unflatten(td, new_v)}

    return Optimizer("adam", init, update, dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))


def adamw(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01) -> Optimizer:
    """AdamW as in PyTorch: weight decay decoupled from the gradient, scaled by the learning rate, applied first:

        p <- p * (1 - lr * wd);  then Adam's update with g (m, v, bias corrections as in `adam`)

    State: {"step", "m", "v"} as in `adam`, so a checkpoint of one loads into the other.
    """
    b1, b2, eps, weight_decay = float(b1), float(b2), float(eps), float(weight_decay)
    if weight_decay < 0:
        raise ValueError(f"adamw: weight_decay must be >= 0, got {weight_decay}")
    inner = adam(lr, b1, b2, eps)

    def update(params, grads, state):
        if weight_decay:
            lr_t = _lr_at(lr, state["step"])
            params = pytree.tree_map(lambda p: p * (1.0 - _like(lr_t, p) * weight_decay), params)
        return inner.update(params, grads, state)

    return Optimizer("adamw", inner.init, update, dict(lr=lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))


def rmsprop(lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False) -> Optimizer:
    """RMSprop as in PyTorch (eps added outside the square root):

        g <- g + wd * p;  s <- alpha s + (1 - alpha) g^2
        centered: a <- alpha a + (1 - alpha) g;  d = sqrt(s - a^2) + eps      else d = sqrt(s) + eps
        momentum > 0: b <- mu b + g / d;  p <- p - lr * b                     else p <- p - lr * g / d

    State: {"step", "square_avg": s, "grad_avg": a (centered only), "momentum": b (momentum > 0 only)}.
    """
    alpha, eps, momentum, weight_decay = float(alpha), float(eps), float(momentum), float(weight_decay)
    if momentum < 0 or weight_decay < 0 or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"rmsprop: need 0 <= alpha <= 1, momentum >= 0 and weight_decay >= 0, got alpha={alpha}, "
                         f"momentum={momentum}, weight_decay={weight_decay}")
    centered = bool(centered)

    def init(params):
        state = {"step": np.zeros((), np.int64), "square_avg": pytree.tree_map(_zeros_like, params)}
        if centered:
            state["grad_avg"] = pytree.tree_map(_zeros_like, params)
        if momentum:
            state["momentum"] = pytree.tree_map(_zeros_like, params)
        return state

    def update(params, grads, state):
        ps, td = pytree.flatten(params)
        gs = _leaves(grads, td, "grads")
        ss = _leaves(state["square_avg"], td, "state['square_avg']")
        as_ = _leaves(state["grad_avg"], td, "state['grad_avg']") if centered else [None] * len(ps)
        bs = _leaves(state["momentum"], td, "state['momentum']") if momentum else [None] * len(ps)
        step = state["step"]
        lr_t = _lr_at(lr, step)
        new_p, new_s, new_a, new_b = [], [], [], []
        for p, g, s, a, b in zip(ps, gs, ss, as_, bs):
            if weight_decay:
                g = g + weight_decay * p
            s = alpha * s + (1.0 - alpha) * np.square(g)
            if centered:
                a = alpha * a + (1.0 - alpha) * g
                d = np.sqrt(s - np.square(a)) + eps
            else:
                d = np.sqrt(s) + eps
            if momentum:
                b = momentum * b + g / d
                upd = b
            else:
                upd = g / d
            new_p.append(p - _like(lr_t, p) * upd)
            new_s.append(s)
            new_a.append(a)
            new_b.append(b)
        new_state = {"step": step + 1, "square_avg": pytree.unflatten(td, new_s)}
        if centered:
            new_state["grad_avg"] = pytree.unflatten(td, new_a)
        if momentum:
            new_state["momentum"] = pytree.unflatten(td, new_b)
        return pytree.unflatten(td, new_p), new_state

    return Optimizer("rmsprop", init, update, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                                   weight_decay=weight_decay, centered=centered))


def clip_by_global_norm(grads, max_norm):
    """Scale every leaf of `grads` by min(1, max_norm / (norm + 1e-6)), norm = sqrt(sum of all squares): the math
    of torch.nn.utils.clip_grad_norm_, returned rather than done in place. `max_norm` may be traced.
    >>> grads = clip_by_global_norm(grads, 1.0)
    """
    if isinstance(max_norm, (int, float)) and not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be > 0, got {max_norm}")
    leaves, td = pytree.flatten(grads)
    if not leaves:
        return grads
    total = None
    for g in leaves:
        sq = np.sum(np.square(g))
        total = sq if total is None else total + sq
    scale = np.minimum(max_norm / (np.sqrt(total) + 1e-6), 1.0)
    return pytree.unflatten(td, [g * _like(scale, _arr(g)) for g in leaves])


# ---- learning-rate schedules: functions of the step count (an int64 scalar, possibly traced) ----

def _f64(step):
    return _arr(step).astype(np.float64)


class Schedule:
    """A learning rate as a function of the step count, with a readable repr."""

    def __init__(self, fn, text):
        self.fn, self.text = fn, text

    def __call__(self, step):
        return self.fn(step)

    def __repr__(self):
        return self.text


def constant(lr):
    return Schedule(lambda step: lr, f"constant({lr})")


def step_decay(lr, factor, every):
    """lr * factor^(step // every): e.g. halve every 1000 steps with step_decay(0.1, 0.5, 1000)."""
    every = int(every)
    return Schedule(lambda step: lr * np.exp(_f64(_arr(step) // every) * math.log(factor)),
                    f"step_decay({lr}, {factor}, every={every})")


def exponential_decay(lr, rate, steps):
    """lr * rate^(step / steps), smoothly."""
    return Schedule(lambda step: lr * np.exp(_f64(step) * (math.log(rate) / steps)),
                    f"exponential_decay({lr}, {rate}, steps={steps})")


def cosine_decay(lr, total_steps, final_lr=0.0):
    """final + (lr - final) * (1 + cos(pi * min(step, total) / total)) / 2."""
    total = int(total_steps)
    return Schedule(lambda step: final_lr + (lr - final_lr) * 0.5 * (
        1.0 + np.cos(np.minimum(_f64(step), float(total)) * (math.pi / total))),
        f"cosine_decay({lr}, total_steps={total}, final_lr={final_lr})")


def linear_warmup(schedule, warmup_steps):
    """Scale `schedule` (a number or a schedule) by min(1, (step + 1) / warmup_steps)."""
    w = float(warmup_steps)
    return Schedule(lambda step: _lr_at(schedule, step) * np.minimum((_f64(step) + 1.0) / w, 1.0),
                    f"linear_warmup({schedule!r}, {int(w)})")
