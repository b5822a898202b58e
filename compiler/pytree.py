"""Pytrees: nested dict/list/tuple/None of leaves, flattened to a list plus a hashable TreeDef."""
from __future__ import annotations


class TreeDef:
    """The structure of a pytree; hashable and comparable, so it can key a compile cache."""
    __slots__ = ("kind", "meta", "children", "n_leaves", "_hash")

    def __init__(self, kind, meta, children):
        self.kind, self.meta, self.children = kind, meta, tuple(children)
        self.n_leaves = 1 if kind == "leaf" else sum(c.n_leaves for c in self.children)
        self._hash = hash((kind, meta, self.children))

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self._hash == other._hash and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.meta, self.children)) + "}"
        inner = ", ".join(map(repr, self.children))
        return f"[{inner}]" if self.kind == "list" else f"({inner}{',' if len(self.children) == 1 else ''})"


LEAF = TreeDef("leaf", None, ())


def flatten(tree, is_leaf=None):
    leaves = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _flatten(x, leaves, is_leaf):
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return LEAF
    if x is None:
        return TreeDef("none", None, ())
    if isinstance(x, dict):
        keys = sorted(x, key=_key_order)
        return TreeDef("dict", tuple(keys), [_flatten(x[k], leaves, is_leaf) for k in keys])
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return TreeDef("namedtuple", type(x), [_flatten(c, leaves, is_leaf) for c in x])
    if isinstance(x, (list, tuple)):
        return TreeDef(type(x).__name__, None, [_flatten(c, leaves, is_leaf) for c in x])
    leaves.append(x)
    return LEAF


def _key_order(k):
    return (type(k).__name__, k)


def unflatten(treedef: TreeDef, leaves):
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == "dict":
        return dict(zip(td.meta, children))
    if td.kind == "namedtuple":
        return td.meta(*children)
    return list(children) if td.kind == "list" else tuple(children)


def tree_map(fn, tree, *rest):
    leaves, td = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(td, [fn(x, *ys) for x, *ys in zip(leaves, *others)])


def leaf_paths(td: TreeDef, prefix=()):
    """The key path of every leaf, in flatten order: ('params', 'w1'), (0,), ..."""
    if td.kind == "leaf":
        return [prefix]
    if td.kind == "none":
        return []
    keys = td.meta if td.kind == "dict" else range(len(td.children))
    out = []
    for k, c in zip(keys, td.children):
        out.extend(leaf_paths(c, prefix + (k,)))
    return out
