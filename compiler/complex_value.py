"""Complex values while tracing: a pair of real arrays (re, im) of one float dtype, f32 for complex64 and f64 for
complex128.

vive's IR, passes and backends are real-only: a complex NumPy argument is split into its two parts at the call
boundary (pytree.py makes it a node of two real leaves), the traced function sees a `Complex` built from the two
part tracers, and each NumPy function on it is decomposed into real ops on the parts (complex_ops.py). A Complex
returned from a traced function flattens into its parts again and comes back as one complex NumPy array. So jvp,
vjp, vmap and compile work on the parts, with nothing complex below this layer. Gradients follow JAX and autograd:
for real f of z = x + iy, grad(f)(z) = df/dx - i df/dy (pytree.cotangent).
"""
from __future__ import annotations

import numpy as np

from . import pytree
from .errors import DTypeError, TraceError, format_loc
from .trace import Tracer, user_loc
from .ops_base import asarg
from .ops_array import zeros_like

_PART = {np.dtype(np.complex64): np.dtype(np.float32), np.dtype(np.complex128): np.dtype(np.float64)}
_WHOLE = {v: k for k, v in _PART.items()}


class Complex:
    """A complex array while tracing: `re` and `im`, tracers or NumPy arrays of one float dtype and shape.

    A weak Complex stands for a Python complex scalar (NEP 50: complex64 * 1j stays complex64). `known` is
    "nonzero" or "zero" when every imaginary part is known to be so (an argument: pytree.imag_kind), else None."""
    __slots__ = ("re", "im", "weak", "known")
    __array_priority__ = 2000       # above Tracer's: NumPy asks this class first in mixed operations

    def __init__(self, re, im, weak=False):
        self.re, self.im, self.weak, self.known = re, im, weak, None

    # ---- array-like properties ----
    @property
    def dtype(self):
        return _WHOLE[np.dtype(_part_dtype(self.re))]

    @property
    def shape(self):
        return self.re.shape if isinstance(self.re, Tracer) else np.shape(self.re)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return self.re.size if isinstance(self.re, Tracer) else np.size(self.re)

    @property
    def real(self):
        return self.re

    @property
    def imag(self):
        return self.im

    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2)

    def __repr__(self):
        return f"Complex({self.re!r}, {self.im!r})"

    def __len__(self):
        return len(self.re)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx):
        c = Complex(self.re[idx], self.im[idx])
        c.known = self.known
        return c

    def __hash__(self):
        return id(self)

    # ---- Python control flow and conversions: the value is unknown while tracing ----
    def _no_concrete(self, what):
        loc = user_loc()
        where = f" at {loc.file}:{loc.line} in {loc.func}" if loc else ""
        raise TraceError(f"Python {what} on a traced complex value{where}; its value is unknown while tracing")

    def __bool__(self):
        self._no_concrete("`if`/`while`/`and`/`or` (bool())")

    def __float__(self):
        self._no_concrete("float() (which would drop the imaginary part; use np.real(z) or np.abs(z))")

    def __int__(self):
        self._no_concrete("int()")

    def __complex__(self):
        self._no_concrete("complex()")

    def __index__(self):
        self._no_concrete("use as an index (__index__)")

    def __array__(self, dtype=None, copy=None):
        self._no_concrete("conversion to a NumPy array (np.asarray, np.array)")

    def tolist(self):
        self._no_concrete("tolist()")

    def item(self):
        self._no_concrete("item()")

    # ---- NumPy protocol ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _OPS["ufunc"](ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _OPS["function"](func, args, kwargs)

    # ---- ndarray methods ----
    def conj(self):
        return Complex(self.re, np.negative(self.im))

    conjugate = conj

    def copy(self, order="C"):
        return self

    def astype(self, dtype, **_):
        return _OPS["astype"](self, dtype)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return np.reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def ravel(self, order="C"):
        return np.ravel(self, order=order)

    flatten = ravel

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def swapaxes(self, a, b):
        return np.swapaxes(self, a, b)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return np.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def dot(self, b):
        return np.dot(self, b)

    def __abs__(self):
        return np.absolute(self)

    def __neg__(self):
        return Complex(np.negative(self.re), np.negative(self.im), self.weak)

    def __pos__(self):
        return self


# NumPy's protocol on Complex: {"ufunc", "function", "astype"} -> complex_ops' and complex_functions' entries
# (they register themselves: they import this module)
_OPS = {}


def _binop(ufunc, swap=False):
    def op(a, b):
        x, y = (b, a) if swap else (a, b)
        return _OPS["ufunc"](ufunc, "__call__", (x, y), {})
    return op


# Python's operator methods (dunder names: not primitive names)
for _name, _uf in {"__add__": np.add, "__sub__": np.subtract, "__mul__": np.multiply, "__truediv__": np.true_divide,
                   "__pow__": np.power, "__matmul__": np.matmul, "__floordiv__": np.floor_divide,
                   "__mod__": np.remainder}.items():
    setattr(Complex, _name, _binop(_uf))
    setattr(Complex, "__r" + _name[2:], _binop(_uf, swap=True))
for _name, _uf in {"__eq__": np.equal, "__ne__": np.not_equal, "__lt__": np.less, "__le__": np.less_equal,
                   "__gt__": np.greater, "__ge__": np.greater_equal}.items():
    setattr(Complex, _name, _binop(_uf))


def _part_dtype(p):
    return p.dtype if isinstance(p, (Tracer, np.ndarray, np.generic)) else np.asarray(p).dtype


def is_complex(x) -> bool:
    """A traced Complex, a Python complex or a complex NumPy constant."""
    return isinstance(x, Complex) or pytree.is_complex_leaf(x)


def any_complex(xs) -> bool:
    """Whether any of xs (or of the arrays in a list or tuple among them) is complex."""
    for x in xs:
        if isinstance(x, Complex) or pytree.is_complex_leaf(x):
            return True
        if isinstance(x, (list, tuple)) and any(isinstance(e, Complex) or pytree.is_complex_leaf(e) for e in x):
            return True
    return False


def _err(cls, msg):
    return cls(msg + format_loc(user_loc(3)))


def part_dtype(dt) -> np.dtype:
    """The float dtype of the parts of complex dtype dt (complex64 -> float32); clongdouble is refused."""
    dt = np.dtype(dt)
    if dt not in _PART:
        raise _err(DTypeError, f"unsupported dtype {dt}: vive's complex dtypes are complex64 and complex128")
    return _PART[dt]


def _standin(x):
    """What NumPy's promotion sees for x: a dtype, or a Python scalar for weak values (NEP 50)."""
    if isinstance(x, Complex):
        return 0j if x.weak else x.dtype
    if isinstance(x, Tracer):
        if x._weak:
            return {"bool": False, "i64": 0, "f64": 0.0}[x.aval.dtype.name]
        return x.dtype
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        return x
    return np.asarray(x).dtype


def result_dtype(*xs) -> np.dtype:
    """NumPy 2's result dtype of xs, made complex (complex64 + float64 is complex128, complex64 * 1j complex64)."""
    dt = np.result_type(*[_standin(x) for x in xs])
    if dt.kind != "c":
        dt = np.result_type(dt, np.complex64)
    part_dtype(dt)
    return dt


def all_weak(xs) -> bool:
    return all((isinstance(x, Complex) and x.weak) or (isinstance(x, Tracer) and x._weak)
               or (isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic)) for x in xs)


def as_part(x, pdt):
    """A real value (tracer, array or scalar) as a tracer or array of the part dtype pdt."""
    return asarg(x, pdt)


def as_complex(x, dt=None) -> Complex:
    """x (Complex, complex constant, or real tracer / array / scalar) as a Complex of complex dtype dt (default:
    its own, complex128 for real values)."""
    if dt is None:
        dt = x.dtype if isinstance(x, Complex) else result_dtype(x)
    pdt = part_dtype(dt)
    if isinstance(x, Complex):
        if np.dtype(_part_dtype(x.re)) == pdt:
            return x
        c = Complex(as_part(x.re, pdt), as_part(x.im, pdt), x.weak)
        c.known = x.known
        return c
    if pytree.is_complex_leaf(x):
        weak = isinstance(x, complex) and not isinstance(x, np.generic)
        c = Complex(np.asarray(np.real(x), pdt), np.asarray(np.imag(x), pdt), weak)
        c.known = pytree.imag_kind(c.im)
        return c
    re = as_part(x, pdt)
    c = Complex(re, zeros_like(re), isinstance(x, Tracer) and x._weak)
    c.known = "zero"
    return c


def split(x, dt):
    """(re, im) of x in the part dtype of complex dt; im is None for a real x (an exact zero the caller may skip)."""
    if is_complex(x):
        c = as_complex(x, dt)
        return c.re, c.im
    return as_part(x, part_dtype(dt)), None


def combine(aux, parts):
    """pytree's unflatten of a complex node: parts of a trace give a Complex, NumPy parts one complex array."""
    re, im = parts
    if aux == "ct":
        im = np.negative(im)
    if isinstance(re, (Tracer, Complex)) or isinstance(im, (Tracer, Complex)):
        # parts of a Python complex argument are weak tracers: the value stays weak (NEP 50)
        c = Complex(re, im, getattr(re, "_weak", False) and getattr(im, "_weak", False))
        c.known = aux if aux in ("nonzero", "zero") else None
        return c
    if isinstance(re, float) and isinstance(im, float) and not isinstance(re, np.generic):
        return complex(re, im)
    re, im = np.asarray(re), np.asarray(im)
    dt = np.result_type(re.dtype, im.dtype, np.complex64)
    out = np.empty(np.broadcast_shapes(re.shape, im.shape), dt)
    out.real, out.imag = re, im       # (re + 1j * im would turn an infinite part into NaNs)
    return out


pytree.register(Complex, lambda c: ((c.re, c.im), c.known), combine, keys=lambda aux: ("re", "im"))
pytree._COMPLEX[:] = [Complex, {k: pytree.TreeDef("custom", (Complex, k), [pytree.LEAF, pytree.LEAF])
                                for k in (None, "nonzero", "zero")}]


def _tracer_operator(name, real_op):
    """Tracer's operator `name`, sending a complex other operand to Complex's."""
    def op(a, b):
        if isinstance(b, Complex) or pytree.is_complex_leaf(b):
            return getattr(as_complex(a, result_dtype(a, b)), name)(b)
        return real_op(a, b)
    op.__name__ = name
    return op


def install():
    """Tracer's operators and astype take complex operands (x * 1j, x + z, x.astype(np.complex64))."""
    for name in ("__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__matmul__", "__eq__", "__ne__",
                 "__lt__", "__le__", "__gt__", "__ge__"):
        for name in (name, "__r" + name[2:]):
            real_op = getattr(Tracer, name, None)
            if real_op is not None and not getattr(real_op, "_complex_aware", False):
                op = _tracer_operator(name, real_op)
                op._complex_aware = True
                setattr(Tracer, name, op)
    real_astype = Tracer.astype
    if not getattr(real_astype, "_complex_aware", False):
        def astype(self, dtype, *a, **k):
            if np.dtype(dtype).kind == "c":
                return as_complex(self, np.dtype(dtype))
            return real_astype(self, dtype, *a, **k)
        astype._complex_aware = True
        Tracer.astype = astype
