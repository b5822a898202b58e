"""Primitives with an effect: debug_print (cc.debug.print), which prints runtime values each time it runs.

An effectful node is never removed (Graph.reachable_from keeps it live), folded or merged with another. The trace
threads an ordering token through the effectful nodes it records (trace.record): each one reads the token the
previous one made, so every schedule of the graph keeps them in program order.

debug_print's params: `fmt` (a str.format string), `trees` (one spec per argument, positional ones first: the
argument's pytree structure as a Python literal with `...` for each array), `names` (the keyword names of the
last arguments) and `token` (whether the last input is the ordering token). Its result is that token: a bool[].
"""
from __future__ import annotations

import ast
import sys
import threading
from functools import lru_cache

import numpy as np

from ..errors import ShapeError
from ..ir.types import TensorType, BOOL
from .base import Primitive
from .rules import zero_derivative

TOKEN = TensorType(BOOL, ())


# ---- pytree structure <-> a spec string (printable and parsable as a param) ----

def tree_spec(td) -> str:
    """The spec of a pytree.TreeDef: `...` per array, Python literals for dicts, lists, tuples and None (a
    namedtuple or registered class prints as the tuple of its children)."""
    if td.kind == "leaf":
        return "..."
    if td.kind == "none":
        return "None"
    kids = [tree_spec(c) for c in td.children]
    if td.kind == "dict":
        return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(td.meta, kids)) + "}"
    if td.kind == "list":
        return "[" + ", ".join(kids) + "]"
    return "(" + "".join(c + ", " for c in kids) + ")"


@lru_cache(maxsize=256)
def _parsed(spec):
    tree = ast.literal_eval(spec)
    return tree, _count(tree)


def _count(tree):
    n, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if t is Ellipsis:
            n += 1
        elif isinstance(t, dict):
            stack.extend(t.values())
        elif isinstance(t, (list, tuple)):
            stack.extend(t)
    return n


def n_leaves(spec) -> int:
    return _parsed(spec)[1]


def _fill(tree, it):
    if tree is Ellipsis:
        return next(it)
    if isinstance(tree, dict):
        return {k: _fill(v, it) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_fill(v, it) for v in tree]
    if isinstance(tree, tuple):
        return tuple(_fill(v, it) for v in tree)
    return tree


def format_values(fmt, trees, names, arrays):
    """fmt.format(*args, **kwargs) with the arguments rebuilt from their specs and the flat arrays."""
    it = iter(arrays)
    values = [_fill(_parsed(s)[0], it) for s in trees]
    k = len(values) - len(names)
    return fmt.format(*values[:k], **dict(zip(names, values[k:])))


_emit_lock = threading.Lock()


def emit(text):
    """Print one debug line to sys.stdout, whole (threads printing at once never interleave within a line), and
    flushed (so it keeps its place among output written by native code)."""
    out = sys.stdout
    with _emit_lock:
        out.write(text + "\n")
        out.flush()


# ---- the primitive ----

def _debug_print_shape(*types, fmt, trees, names=(), token=False):
    want = sum(n_leaves(s) for s in trees) + bool(token)
    if len(types) != want:
        raise ShapeError(f"debug_print: {len(types)} operands for {want} (arguments {trees}"
                         f"{' and a token' if token else ''})")
    if token and types[-1] != TOKEN:
        raise ShapeError(f"debug_print: the ordering token must be {TOKEN}, got {types[-1]}")
    if len(names) > len(trees):
        raise ShapeError(f"debug_print: {len(names)} keyword names for {len(trees)} arguments")
    return TOKEN


def _debug_print_np(*arrays, fmt, trees, names=(), token=False):
    emit(format_values(fmt, trees, tuple(names), arrays[:len(arrays) - bool(token)]))
    return np.zeros((), np.bool_)


def _debug_print_batch(args, dims, /, **params):
    # under vmap the print shows the whole batch (the batch axis first), once per call, as in JAX
    return debug_print(*args, **params), None


debug_print = Primitive("debug_print", numpy=_debug_print_np, shape=_debug_print_shape, kind="other",
                        effect=True, differentiable=False, batch=_debug_print_batch, **zero_derivative)

__all__ = ["debug_print", "tree_spec", "n_leaves", "format_values", "emit", "TOKEN"]
