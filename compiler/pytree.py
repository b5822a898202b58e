"""Pytrees: nested dict/list/tuple/namedtuple/None and registered classes of leaves, flattened to a list plus a
hashable TreeDef (the structure, part of a compile signature).

    @dataclasses.dataclass
    class Params: w: np.ndarray; b: np.ndarray
    cc.pytree.register_dataclass(Params)            # fields are children: Params flows through compile and grad
"""
from __future__ import annotations

import dataclasses

import numpy as np


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
        if self.kind == "namedtuple":
            return f"{self.meta.__name__}({inner})"
        if self.kind == "custom":
            return f"{self.meta[0].__name__}({inner})"
        return f"[{inner}]" if self.kind == "list" else f"({inner}{',' if len(self.children) == 1 else ''})"


LEAF = TreeDef("leaf", None, ())

# registered classes: type -> (flatten(x) -> (children, aux), unflatten(aux, children) -> x, child keys or None)
_REGISTRY = {}


def register(cls, flatten, unflatten, keys=None):
    """Make instances of cls pytree nodes: flatten(x) -> (children, aux), unflatten(aux, children) -> x.

    aux is the static part (compared and hashed in compile signatures: it must be hashable); children are
    pytrees. keys(aux) may name the children (for input names and paths), else they are numbered.

    >>> cc.pytree.register(Pair, lambda p: ((p.a, p.b), None), lambda aux, ch: Pair(*ch))
    """
    if not isinstance(cls, type):
        raise TypeError(f"pytree.register: expected a class, got {cls!r}")
    if cls in (dict, list, tuple, type(None)):
        raise ValueError(f"pytree.register: {cls.__name__} is already a pytree node")
    _REGISTRY[cls] = (flatten, unflatten, keys)
    return cls


def register_dataclass(cls=None, *, data_fields=None, meta_fields=()):
    """Register a dataclass (frozen or not) as a pytree node; usable as a decorator.

    Its fields are children, except `meta_fields`, which are static (part of the compile signature: hashable).
    Rebuilding sets the fields directly (no __init__ / __post_init__: they may validate concrete values).

    >>> @cc.pytree.register_dataclass
    ... @dataclasses.dataclass(frozen=True)
    ... class Params:
    ...     w: np.ndarray
    ...     b: np.ndarray
    """
    if cls is None:
        return lambda c: register_dataclass(c, data_fields=data_fields, meta_fields=meta_fields)
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"pytree.register_dataclass: {cls!r} is not a dataclass (decorate it with "
                        f"@dataclasses.dataclass first)")
    names = [f.name for f in dataclasses.fields(cls)]
    meta = tuple(meta_fields)
    data = tuple(n for n in names if n not in meta) if data_fields is None else tuple(data_fields)
    unknown = [n for n in data + meta if n not in names]
    if unknown:
        raise ValueError(f"pytree.register_dataclass: {cls.__name__} has no field(s) {unknown}")
    left = [n for n in names if n not in data and n not in meta]
    if left:        # a rebuilt instance would lack them
        raise ValueError(f"pytree.register_dataclass: fields {left} of {cls.__name__} are in neither data_fields "
                         f"nor meta_fields")

    def flatten_dc(x):
        return [getattr(x, n) for n in data], tuple(getattr(x, n) for n in meta)

    def unflatten_dc(aux, children):
        obj = object.__new__(cls)
        for n, v in zip(data, children):
            object.__setattr__(obj, n, v)       # works on frozen dataclasses too
        for n, v in zip(meta, aux):
            object.__setattr__(obj, n, v)
        return obj
    return register(cls, flatten_dc, unflatten_dc, keys=lambda aux: data)


def is_registered(x) -> bool:
    """Whether x is a pytree node other than a leaf (dict, list, tuple, None or a registered class)."""
    return x is None or isinstance(x, (dict, list, tuple)) or type(x) in _REGISTRY


def hint(x) -> str:
    """For an error about an argument that is no array: how to make its class a pytree, if it looks like one."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return f"; register the dataclass with cc.pytree.register_dataclass({type(x).__name__})"
    if hasattr(x, "__dict__") and not callable(x) and not isinstance(x, type):
        return f"; to pass a {type(x).__name__} register its class with cc.pytree.register(cls, flatten, unflatten)"
    return ""


def flatten(tree, is_leaf=None):
    leaves = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _flatten(x, leaves, is_leaf):
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return LEAF
    reg = _REGISTRY.get(type(x))           # first: a registered subclass of tuple or dict is the user's node
    if reg is not None:
        children, aux = reg[0](x)
        try:
            hash(aux)
        except TypeError:
            raise TypeError(f"pytree: flattening a {type(x).__name__} gave aux data of type {type(aux).__name__}, "
                            f"which is not hashable (it is part of a compile signature: use tuples, not "
                            f"lists or dicts)") from None
        return TreeDef("custom", (type(x), aux), [_flatten(c, leaves, is_leaf) for c in children])
    if x is None:
        return TreeDef("none", None, ())
    if isinstance(x, dict):
        keys = sorted(x, key=_key_order)
        return TreeDef("dict", tuple(keys), [_flatten(x[k], leaves, is_leaf) for k in keys])
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return TreeDef("namedtuple", type(x), [_flatten(c, leaves, is_leaf) for c in x])
    if isinstance(x, (list, tuple)):
        return TreeDef(type(x).__name__, None, [_flatten(c, leaves, is_leaf) for c in x])
    if (x.dtype.kind == "c" if isinstance(x, np.ndarray) else isinstance(x, _COMPLEX_SCALARS)) and _COMPLEX[0]:
        # a complex array is a node of two real leaves, its real and imaginary parts (compiler/complex_value.py)
        im = x.imag if isinstance(x, (complex, np.generic)) else np.array(x.imag)
        leaves.append(x.real if isinstance(x, (complex, np.generic)) else np.array(x.real))
        leaves.append(im)
        return _COMPLEX[1][imag_kind(im)]
    leaves.append(x)
    return LEAF


# [the class standing for a traced complex value, {imag_kind: its TreeDef}], set by compiler/complex_value.py
_COMPLEX = [None, None]


def imag_kind(im):
    """What a complex node's TreeDef records of its imaginary part: "nonzero" (every element), "zero" (every
    element), else None. It is part of a compile signature, so np.iscomplex of an argument is known while tracing
    (a call whose imaginary parts are otherwise compiles its own version); structure checks ignore it."""
    if isinstance(im, (int, float, np.ndarray, np.generic)):
        im = np.asarray(im)
        if im.size and np.all(im != 0):
            return "nonzero"
        if not np.any(im):
            return "zero"
    return None


def same_structure(a: TreeDef, b: TreeDef) -> bool:
    """a == b but for what complex nodes record of their values (imag_kind)."""
    return a == b or _plain(a) == _plain(b)


def _plain(td):
    if td.kind == "custom" and td.meta[0] is _COMPLEX[0] and td.meta[1] in ("nonzero", "zero"):
        return TreeDef("custom", (td.meta[0], None), [_plain(c) for c in td.children])
    if not td.children:
        return td
    return TreeDef(td.kind, td.meta, [_plain(c) for c in td.children])


_COMPLEX_SCALARS = (complex, np.complexfloating)


def is_complex_leaf(x) -> bool:
    """A Python complex, a NumPy complex scalar or a complex ndarray (a subclass too)."""
    return isinstance(x, _COMPLEX_SCALARS) or (isinstance(x, np.ndarray) and x.dtype.kind == "c")


def cotangent(td: TreeDef) -> TreeDef:
    """td with its complex nodes marked as cotangents: their leaves (d/dx, d/dy) unflatten to d/dx - i d/dy, the
    gradient convention of JAX and autograd (grad of |z|**2 is 2 conj(z))."""
    if td.kind == "custom" and td.meta[0] is _COMPLEX[0]:
        return TreeDef("custom", (td.meta[0], "ct"), td.children)
    if not td.children:
        return td
    return TreeDef(td.kind, td.meta, [cotangent(c) for c in td.children])


def imag_leaves(td: TreeDef):
    """One bool per leaf of td: whether it is the imaginary part of a complex node."""
    out = []
    todo = [(td, False)]
    while todo:
        t, is_im = todo.pop()
        if t.kind == "leaf":
            out.append(is_im)
            continue
        cplx = t.kind == "custom" and t.meta[0] is _COMPLEX[0]
        todo.extend(reversed([(c, cplx and k == 1) for k, c in enumerate(t.children)]))
    return out


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
    if td.kind == "custom":
        cls, aux = td.meta
        return _REGISTRY[cls][1](aux, children)
    return list(children) if td.kind == "list" else tuple(children)


def tree_map(fn, tree, *rest):
    leaves, td = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(td, [fn(x, *ys) for x, *ys in zip(leaves, *others)])


def tree_leaves(tree):
    return flatten(tree)[0]


def tree_structure(tree) -> TreeDef:
    return flatten(tree)[1]


def _child_keys(td: TreeDef):
    if td.kind == "dict":
        return td.meta
    if td.kind == "namedtuple":
        return td.meta._fields
    if td.kind == "custom":
        keys = _REGISTRY[td.meta[0]][2]
        if keys is not None:
            return tuple(keys(td.meta[1]))
    return range(len(td.children))


def leaf_paths(td: TreeDef, prefix=()):
    """The key path of every leaf, in flatten order: ('params', 'w1'), (0,), ..."""
    if td.kind == "leaf":
        return [prefix]
    if td.kind == "none":
        return []
    out = []
    for k, c in zip(_child_keys(td), td.children):
        out.extend(leaf_paths(c, prefix + (k,)))
    return out
