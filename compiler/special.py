"""scipy.special functions vive implements (cc.special.erf, cc.special.gammaln, ... work on arrays and inside traced
code alike; when SciPy is imported, scipy.special.gammaln on a traced value reaches the same implementation).
erf is a primitive; the rest are compositions (compiler/special_fns.py, bessel.py), loaded on first use here
because nn.activations, which special_fns builds on, imports this module."""
from .ops_math import erf  # noqa: F401

_COMPOSED = {"special_fns": ["gammaln", "gamma", "rgamma", "gammasgn", "digamma", "psi", "polygamma", "multigammaln",
                             "beta", "betaln", "gammainc", "gammaincc", "betainc", "ndtr", "log_ndtr", "ndtri",
                             "erfcinv", "logsumexp"],
             "bessel": ["i0", "i1", "i0e", "i1e", "iv", "ive", "j0", "j1", "jv", "jn", "y0", "y1", "yn"]}
__all__ = ["erf"] + [n for names in _COMPOSED.values() for n in names]


def __getattr__(name):
    import importlib
    for mod, names in _COMPOSED.items():
        if name in names:
            return getattr(importlib.import_module(f"compiler.{mod}"), name)
    raise AttributeError(f"module 'compiler.special' has no attribute {name!r}")
