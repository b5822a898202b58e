"""scipy.special functions vive implements (cc.special.erf, cc.special.gammaln, ... work on arrays and inside traced
code alike; when SciPy is imported, scipy.special.gammaln on a traced value reaches the same implementation).
The primitives name theirs in their `surface` ("cc.special.erf"), so a new one appears here without an edit; the
compositions (compiler/special_fns.py, bessel.py) load on first use, because nn.activations, which special_fns
builds on, imports this module."""
from .ops_math import surface_functions

globals().update(surface_functions("cc.special."))

_COMPOSED = {"special_fns": ["gammaln", "gamma", "rgamma", "gammasgn", "digamma", "psi", "polygamma", "multigammaln",
                             "beta", "betaln", "gammainc", "gammaincc", "betainc", "ndtr", "log_ndtr", "ndtri",
                             "erfcinv", "logsumexp"],
             "bessel": ["i0", "i1", "i0e", "i1e", "iv", "ive", "j0", "j1", "jv", "jn", "y0", "y1", "yn"]}
__all__ = sorted(surface_functions("cc.special.")) + [n for names in _COMPOSED.values() for n in names]


def __getattr__(name):
    import importlib
    for mod, names in _COMPOSED.items():
        if name in names:
            return getattr(importlib.import_module(f"compiler.{mod}"), name)
    raise AttributeError(f"module 'compiler.special' has no attribute {name!r}")
