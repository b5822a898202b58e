"""cc.save / cc.load: a pytree of arrays and Python scalars in one .npz file, without pickle.

    cc.save("ckpt.npz", {"params": params, "opt": state, "epoch": 3})
    tree = cc.load("ckpt.npz")

The file is an ordinary NumPy .npz: the leaves that are arrays are members "a0", "a1", ... (in the tree's
traversal order), and the tree's structure is JSON in the member "__vive_tree__" (as uint8 bytes, so np.load with
allow_pickle=False reads every member). Supported: dicts with str (or int) keys, lists, tuples, namedtuples, None,
Python bool/int/float/complex/str, and NumPy arrays and scalars of any non-object dtype (arrays come back
bit-identical, with their dtype and shape; NumPy scalars such as np.int64(3) come back as NumPy scalars).

A namedtuple comes back as a namedtuple of the same name and fields, but of a type made at load time (a file names
no code to import); it equals the original as a tuple. Anything else (an object, a set, an object array) is a
CheckpointError on save, naming where in the tree it sits; a file that is not such a checkpoint is a CheckpointError
on load.
"""
from __future__ import annotations

import collections
import json
import os
import zipfile

import numpy as np

from .errors import ViveError

__all__ = ["save", "load", "CheckpointError"]

_TREE_KEY = "__vive_tree__"
_FORMAT = "vive-checkpoint"
_VERSION = 1


class CheckpointError(ViveError, ValueError):
    """A tree that cannot be saved (unsupported leaf or key), or a file that is not a vive checkpoint."""


def _where(path):
    return "tree" + "".join(f"[{p!r}]" for p in path)


def _encode(x, path, arrays):
    """x -> a JSON-able node; array leaves go to `arrays`. Recursion on the tree's nesting depth, which is small."""
    if x is None:
        return {"t": "none"}
    if isinstance(x, bool):
        return {"t": "bool", "v": bool(x)}
    if isinstance(x, int):
        return {"t": "int", "v": int(x)}
    if isinstance(x, float) and not isinstance(x, np.generic):      # np.float64 subclasses float
        # repr round-trips every double exactly; inf and nan as strings keep the JSON standard
        return {"t": "float", "v": repr(float(x))}
    if isinstance(x, complex) and not isinstance(x, np.generic):    # so does np.complex128
        return {"t": "complex", "v": [repr(x.real), repr(x.imag)]}
    if isinstance(x, str):
        return {"t": "str", "v": x}
    if isinstance(x, dict):
        items = []
        for k in x:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise CheckpointError(f"cc.save: {_where(path)} has a key {k!r} of type {type(k).__name__}; "
                                      f"dict keys must be str or int")
            items.append([k, _encode(x[k], path + (k,), arrays)])
        return {"t": "dict", "items": items}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return {"t": "namedtuple", "name": type(x).__name__, "fields": list(x._fields),
                "items": [_encode(c, path + (i,), arrays) for i, c in enumerate(x)]}
    if isinstance(x, (list, tuple)):
        return {"t": type(x).__name__, "items": [_encode(c, path + (i,), arrays) for i, c in enumerate(x)]}
    if isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "__array__"):
        a = np.asarray(x)
        if a.dtype.hasobject or a.dtype.kind == "V":
            raise CheckpointError(f"cc.save: {_where(path)} is an array of dtype {a.dtype}; only numeric, bool and "
                                  f"string dtypes are saved (no pickle)")
        name = f"a{len(arrays)}"
        arrays[name] = a
        return {"t": "array", "key": name, "dtype": a.dtype.str, "shape": list(a.shape),
                "scalar": isinstance(x, np.generic)}
    raise CheckpointError(f"cc.save: {_where(path)} is a {type(x).__module__}.{type(x).__qualname__}; a checkpoint "
                          f"holds dicts, lists, tuples, None, Python numbers and strings, and NumPy arrays")


def save(path, tree) -> None:
    """Write `tree` to `path` (exactly that name: no ".npz" is appended), replacing the file atomically."""
    arrays = {}
    node = _encode(tree, (), arrays)
    meta = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": node})
    arrays[_TREE_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _bad(path, why):
    return CheckpointError(f"cc.load: {path!r} is not a vive checkpoint: {why}")


def _decode(node, arrays, path, where):
    """Inverse of _encode; every field is checked, so a foreign or damaged file fails with a CheckpointError."""
    if not isinstance(node, dict) or "t" not in node:
        raise _bad(path, f"malformed tree node at {_where(where)}")
    t = node["t"]
    try:
        if t == "none":
            return None
        if t == "bool":
            return bool(node["v"])
        if t == "int":
            if not isinstance(node["v"], int):
                raise TypeError
            return node["v"]
        if t == "float":
            return float(node["v"])
        if t == "complex":
            return complex(float(node["v"][0]), float(node["v"][1]))
        if t == "str":
            return str(node["v"])
        if t == "dict":
            return {k: _decode(c, arrays, path, where + (k,)) for k, c in node["items"]}
        if t in ("list", "tuple", "namedtuple"):
            items = [_decode(c, arrays, path, where + (i,)) for i, c in enumerate(node["items"])]
            if t == "list":
                return items
            if t == "tuple":
                return tuple(items)
            return collections.namedtuple(node["name"], node["fields"])(*items)
        if t == "array":
            key = node["key"]
            if key not in arrays or key == _TREE_KEY:
                raise _bad(path, f"array {key!r} for {_where(where)} is missing")
            a = arrays[key]
            if a.dtype.str != node["dtype"] or list(a.shape) != list(node["shape"]):
                raise _bad(path, f"array {key!r} for {_where(where)} is {a.dtype.str}{list(a.shape)}, the tree "
                                 f"says {node['dtype']}{node['shape']}")
            return a[()] if node["scalar"] else a
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise _bad(path, f"malformed {t!r} node at {_where(where)} ({type(e).__name__}: {e})") from None
    raise _bad(path, f"unknown node type {t!r} at {_where(where)}")


def load(path):
    """Read a tree written by `save`. Arrays are read with allow_pickle=False; a missing file is FileNotFoundError,
    any other file a CheckpointError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"cc.load: no such file: {path!r}")
    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise _bad(path, "it holds a single array, not an .npz archive")
        with z:
            arrays = {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise _bad(path, f"{type(e).__name__}: {e}") from None
    if _TREE_KEY not in arrays:
        raise _bad(path, f"an .npz without the {_TREE_KEY!r} member (members: {sorted(arrays)[:8]})")
    raw = arrays.pop(_TREE_KEY)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(path, f"its tree is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or "tree" not in meta:
        raise _bad(path, "its tree has no vive-checkpoint header")
    if meta.get("version") != _VERSION:
        raise _bad(path, f"format version {meta.get('version')!r}; this vive reads version {_VERSION}")
    return _decode(meta["tree"], arrays, path, ())
