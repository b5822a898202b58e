"""scipy.special functions vive implements (cc.special.erf works on arrays and inside traced code alike; when SciPy
is imported, scipy.special.erf on a traced value reaches the same primitive). Every primitive that declares
`scipy_special=` names appears here, so a new one needs no edit of this file."""
from . import primitives as _P
from .ops_elementwise import surface as _surface

_NAMES = {name: prim for prim in _P.REGISTRY.values() for name in prim.scipy_special}
globals().update({name: _surface(prim) for name, prim in _NAMES.items()})
__all__ = sorted(_NAMES)
