"""scipy.special functions vive implements (cc.special.erf works on arrays and inside traced code alike; when SciPy
is imported, scipy.special.erf on a traced value reaches the same primitive)."""
from .ops_math import erf  # noqa: F401

__all__ = ["erf"]
