"""NumPy's array functions on complex values: those that act on real and imaginary parts alike (reshape, sum,
concatenate, flip, ...) apply to each part; (multi)linear ones (dot, matmul, tensordot, einsum, kron, ...) expand
into products of parts; the complex-specific ones (real, imag, conj, angle, iscomplexobj, ...) are defined here.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import complex_real as O
from . import complex_ops, complex_value
from .complex_value import Complex, as_complex, result_dtype, is_complex, part_dtype, _err
from .errors import TraceError
from .trace import Tracer

# functions whose first argument is the one array they act on, elementwise-independent of the other part
_FIRST = [np.reshape, np.transpose, np.swapaxes, np.moveaxis, np.expand_dims, np.squeeze, np.ravel,
          np.broadcast_to, np.sum, np.mean, np.flip, np.fliplr, np.flipud, np.rot90, np.roll, np.tile, np.repeat,
          np.triu, np.tril, np.diagonal, np.diag, np.trace, np.cumsum, np.diff, np.take, np.take_along_axis,
          np.copy, np.positive, np.split, np.array_split, np.hsplit, np.vsplit, np.atleast_1d, np.atleast_2d,
          np.atleast_3d, np.pad, np.rollaxis]
# functions whose first argument is a sequence of arrays
_SEQUENCE = [np.concatenate, np.stack, np.hstack, np.vstack, np.column_stack, np.dstack]
# bilinear in their first two arguments
_BILINEAR = [np.dot, np.matmul, np.tensordot, np.inner, np.outer, np.kron]


def _parts(c, r, i):
    """Results of a function applied to each part (an array, or a list/tuple of arrays) recombined."""
    if isinstance(r, (list, tuple)):
        return type(r)(Complex(a, b) for a, b in zip(r, i))
    return Complex(r, i)


def _drop_dtype(kwargs, name):
    dt = kwargs.get("dtype")
    if dt is None:
        return kwargs, None
    dt = np.dtype(dt)
    if dt.kind != "c":
        raise _err(TraceError, f"numpy.{name} of complex values with dtype={dt} would drop the imaginary part")
    return {k: v for k, v in kwargs.items() if k != "dtype"}, dt


def first(func, args, kwargs):
    kwargs, dt = _drop_dtype(kwargs, func.__name__)
    if func in (np.atleast_1d, np.atleast_2d, np.atleast_3d) and len(args) > 1:
        return [first(func, (a,), kwargs) for a in args]
    z = as_complex(args[0], dt or result_dtype(args[0]))
    if func is np.pad:
        mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
        if mode == "constant" and "constant_values" in kwargs:
            cv = as_complex(np.asarray(kwargs["constant_values"]), z.dtype)
            return Complex(func(z.re, *args[1:], **{**kwargs, "constant_values": cv.re}),
                           func(z.im, *args[1:], **{**kwargs, "constant_values": cv.im}))
    return _parts(z, func(z.re, *args[1:], **kwargs), func(z.im, *args[1:], **kwargs))


def sequence(func, args, kwargs):
    kwargs, dt = _drop_dtype(kwargs, func.__name__)
    seq = list(args[0])
    dt = dt or result_dtype(*seq)
    zs = [as_complex(x, dt) for x in seq]
    return Complex(func([z.re for z in zs], *args[1:], **kwargs), func([z.im for z in zs], *args[1:], **kwargs))


def multilinear(func, operands, call):
    """func multilinear in `operands` (call(list of part operands) applies it): the sum over choices of real or
    imaginary part per operand, i^k for k imaginary choices; real operands have no imaginary choice."""
    dt = result_dtype(*operands)
    pdt = part_dtype(dt)
    choices = []
    for x in operands:
        if is_complex(x):
            z = as_complex(x, dt)
            choices.append([(z.re, 0), (z.im, 1)])
        else:
            choices.append([(O.asarg(x, pdt), 0)])
    re = im = None
    for pick in itertools.product(*choices):
        k = sum(p[1] for p in pick) % 4
        term = call([p[0] for p in pick])
        if k == 0:
            re = term if re is None else O.add(re, term)
        elif k == 2:
            re = O.negative(term) if re is None else O.subtract(re, term)
        elif k == 1:
            im = term if im is None else O.add(im, term)
        else:
            im = O.negative(term) if im is None else O.subtract(im, term)
    if im is None:
        im = O.zeros_like(re)
    return Complex(re, im)


def bilinear(func, a, b, *rest, **kwargs):
    return multilinear(func, [a, b], lambda ps: func(ps[0], ps[1], *rest, **kwargs))


def _einsum(*args, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if k != "optimize"}
    if isinstance(args[0], str):
        spec, ops = args[0], list(args[1:])
        return multilinear(np.einsum, ops, lambda ps: np.einsum(spec, *ps, **kwargs))
    raise _err(TraceError, "numpy.einsum on complex values: give the subscripts as a string")


def _vdot(a, b):
    return multilinear(np.dot, [np.conjugate(np.ravel(a)), np.ravel(b)], lambda ps: np.dot(ps[0], ps[1]))


def _where(cond, a=None, b=None):
    if a is None or b is None:
        raise _err(TraceError, "np.where(cond) with one argument has a data-dependent shape; use "
                               "np.where(cond, a, b)")
    dt = result_dtype(a, b)
    za, zb = as_complex(a, dt), as_complex(b, dt)
    return Complex(O.where(cond, za.re, zb.re), O.where(cond, za.im, zb.im))


def real(z):
    return as_complex(z).re if is_complex(z) else np.real(z)


def imag(z):
    return as_complex(z).im if is_complex(z) else np.imag(z)


def conjugate(z):
    z = as_complex(z)
    return Complex(z.re, O.negative(z.im), z.weak)


def real_if_close(a, tol=100):
    # NOTE: NumPy returns the real part when every imaginary part is within tol machine epsilons of 0, which only
    # the values decide: known for an argument whose imaginary parts are all zero (pytree.imag_kind), otherwise a
    # traced complex value stays complex (equal in value to the real array NumPy returns when they are close)
    z = as_complex(a)
    return z.re if z.known == "zero" else z


def _known_bools(z, value):
    shape = tuple(z.shape)
    if all(isinstance(d, int) for d in shape):
        return np.full(shape, value)
    return O.broadcast_to(np.asarray(value), shape)


def iscomplex(x):
    """NumPy's elementwise `imag != 0`: a constant (usable in a Python `if`) for an argument whose imaginary parts
    are all nonzero or all zero (the compile signature records which), else a traced array."""
    return _imag_test(x, "iscomplex", "nonzero", O.not_equal)


def isreal(x):
    """NumPy's elementwise `imag == 0`, known or traced as iscomplex."""
    return _imag_test(x, "isreal", "zero", O.equal)


def _imag_test(x, name, when_true, compare):
    if not is_complex(x):
        from . import ops_more
        return getattr(ops_more, name)(x)
    z = as_complex(x)
    if z.known is not None:
        return _known_bools(z, z.known == when_true)
    return compare(z.im, 0.0)


def _var(z, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    # NumPy: mean(|z - mean z|^2) = var(re) + var(im)
    z = as_complex(z)
    return O.add(O.var(z.re, axis, None, out, ddof, keepdims), O.var(z.im, axis, None, out, ddof, keepdims))


def _std(z, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return O.sqrt(_var(z, axis, dtype, out, ddof, keepdims))


def _like(fill):
    def f(a, dtype=None, order="K", subok=True, shape=None):
        dt = np.dtype(dtype) if dtype is not None else as_complex(a).dtype
        base = as_complex(a).re
        if dt.kind != "c":
            return O.full_like(base, fill, dtype=dt, shape=shape)
        pdt = part_dtype(dt)
        return Complex(O.full_like(base, fill, dtype=pdt, shape=shape), O.zeros_like(base, dtype=pdt, shape=shape))
    return f


FUNCTIONS = {
    np.real: real, np.imag: imag, np.conjugate: conjugate, np.conj: conjugate, np.real_if_close: real_if_close,
    np.iscomplex: iscomplex, np.isreal: isreal,
    np.iscomplexobj: lambda x: is_complex(x), np.isrealobj: lambda x: not is_complex(x),
    np.where: _where, np.einsum: _einsum, np.vdot: _vdot, np.var: _var, np.std: _std,
    np.zeros_like: _like(0), np.ones_like: _like(1),
    np.shape: lambda x: as_complex(x).shape, np.ndim: lambda x: as_complex(x).ndim,
    np.size: lambda x, axis=None: np.size(as_complex(x).re, axis),
    np.result_type: lambda *a: result_dtype(*a),
}
for _f in _FIRST:
    FUNCTIONS[_f] = (lambda f: lambda *a, **k: first(f, a, k))(_f)
for _f in _SEQUENCE:
    FUNCTIONS[_f] = (lambda f: lambda *a, **k: sequence(f, a, k))(_f)
for _f in _BILINEAR:
    FUNCTIONS[_f] = (lambda f: lambda a, b, *r, **k: bilinear(f, a, b, *r, **k))(_f)


def apply_function(func, args, kwargs):
    """A NumPy function with a complex argument (Tracer's and Complex's __array_function__ come here)."""
    fn = FUNCTIONS.get(func)
    if fn is None:
        if func is np.angle:
            return complex_ops.angle(*args, **kwargs)
        mod = getattr(func, "__module__", "numpy") or "numpy"
        mod = "numpy" if mod.startswith("numpy.") else mod
        raise _err(TraceError, f"{mod}.{func.__name__} on complex values is not supported by vive (it traces a "
                               f"complex value as its real and imaginary parts; see README's list of complex "
                               f"functions)")
    return fn(*args, **kwargs)


complex_ops.UFUNCS[np.matmul] = lambda a, b: bilinear(np.matmul, a, b)
complex_value._OPS["function"] = apply_function

__all__ = ["apply_function", "bilinear", "multilinear", "Tracer"]
