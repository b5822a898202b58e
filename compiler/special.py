"""scipy.special functions vive implements (cc.special.erf, cc.special.gammaln, ... work on arrays and inside traced
code alike; when SciPy is imported, scipy.special.gammaln on a traced value reaches the same implementation).
Every primitive that declares `scipy_special=` names appears here, so a new one needs no edit of this file; the
compositions (compiler/special_fns.py, bessel.py) load on first use, because nn.activations, which special_fns
builds on, imports this module."""
from . import primitives as _P
from .ops_elementwise import surface as _surface

_NAMES = {name: prim for prim in _P.REGISTRY.values() for name in prim.scipy_special}
globals().update({name: _surface(prim) for name, prim in _NAMES.items()})

_COMPOSED = {"special_fns": ["gammaln", "gamma", "rgamma", "gammasgn", "digamma", "psi", "polygamma", "multigammaln",
                             "beta", "betaln", "gammainc", "gammaincc", "betainc", "ndtr", "log_ndtr", "ndtri",
                             "erfcinv", "logsumexp"],
             "bessel": ["i0", "i1", "i0e", "i1e", "iv", "ive", "j0", "j1", "jv", "jn", "y0", "y1", "yn"]}
__all__ = sorted(_NAMES) + [n for names in _COMPOSED.values() for n in names]


def __getattr__(name):
    import importlib
    for mod, names in _COMPOSED.items():
        if name in names:
            return getattr(importlib.import_module(f"compiler.{mod}"), name)
    raise AttributeError(f"module 'compiler.special' has no attribute {name!r}")
