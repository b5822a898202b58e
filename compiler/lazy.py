"""Modules imported on first use, so that `import compiler` does not pay for them (sympy alone takes a few hundred
ms to import; tracing with concrete shapes never needs it).

    from ..lazy import sympy        # then sympy.Integer(3), isinstance(x, sympy.Expr) as usual

The first attribute read imports the real module; each attribute read is then stored on the proxy, so later reads
cost what a module attribute read costs. A module-level statement that reads an attribute imports the module at
import time again: keep those inside functions.
"""
from __future__ import annotations

import importlib
import sys


class LazyModule:
    __slots__ = ("_name", "_module", "__dict__")

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)      # copy, pickle and the like probing the proxy must not import
        mod = self._module
        if mod is None:
            mod = self._module = importlib.import_module(self._name)
        value = getattr(mod, attr)
        setattr(self, attr, value)
        return value

    def __repr__(self):
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


sympy = LazyModule("sympy")


def is_sympy(x, kind="Basic") -> bool:
    """isinstance(x, sympy.<kind>) without importing sympy: before sympy is loaded no object can be one (the
    concrete-shape paths ask this of every size and must not pay for the import)."""
    m = sys.modules.get("sympy")
    return m is not None and isinstance(x, getattr(m, kind))
