"""scipy.special functions vive implements (cc.special.erf works on arrays and inside traced code alike; when SciPy
is imported, scipy.special.erf on a traced value reaches the same primitive). The primitives name theirs in their
`surface` ("cc.special.erf"), so a new one appears here without an edit."""
from .ops_math import surface_functions

globals().update(surface_functions("cc.special."))
__all__ = sorted(surface_functions("cc.special."))
