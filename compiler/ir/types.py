"""DType, TensorType (dtype + shape of ints or sympy expressions), Spec("f32[N,784]"), promotion, broadcasting."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from ..lazy import is_sympy, sympy

from ..errors import DTypeError, ParseError, ShapeError
from ..guards import SymDim
from .typeparse import INT64_MAX, parse_type_text


class DType:
    """One of the element types vive supports; prints as f32, f64, i32, i64, u32, bool.

    u32 is there for random-number keys and bits (cc.random, JAX's raw uint32[2] keys): arithmetic, comparisons,
    casts and data movement; wrapping arithmetic as NumPy's. `is_int` is true for it too (an integer of either
    signedness); codegen asks `is_unsigned` where signedness matters (compares, division, widening casts)."""
    __slots__ = ("name", "np", "kind", "bits")

    def __init__(self, name, np_dtype, kind, bits):
        self.name, self.np, self.kind, self.bits = name, np.dtype(np_dtype), kind, bits

    @property
    def is_float(self):
        return self.kind == "f"

    @property
    def is_int(self):
        return self.kind in "iu"

    @property
    def is_unsigned(self):
        return self.kind == "u"

    @property
    def is_bool(self):
        return self.kind == "b"

    def __repr__(self):
        return self.name

    __str__ = __repr__

    def __reduce__(self):
        return (dtype, (self.name,))


F32 = DType("f32", np.float32, "f", 32)
F64 = DType("f64", np.float64, "f", 64)
I32 = DType("i32", np.int32, "i", 32)
I64 = DType("i64", np.int64, "i", 64)
U32 = DType("u32", np.uint32, "u", 32)
BOOL = DType("bool", np.bool_, "b", 8)
DTYPES = {d.name: d for d in (F32, F64, I32, I64, U32, BOOL)}
_BY_NUMPY = {d.np: d for d in DTYPES.values()}
_ALIASES = {"float32": F32, "float64": F64, "int32": I32, "int64": I64, "uint32": U32, "bool": BOOL, "bool_": BOOL}


def dtype(x) -> DType:
    """The DType for a name ('f32', 'float32'), a numpy dtype or type, or a DType."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in DTYPES:
        return DTYPES[x]
    if isinstance(x, str) and x in _ALIASES:
        return _ALIASES[x]
    if x is float:
        return F64
    if x is int:
        return I64
    if x is bool:
        return BOOL
    try:
        nd = np.dtype(x)
    except TypeError:
        raise DTypeError(f"unsupported dtype {x!r}: vive supports f32, f64, i32, i64, u32 and bool") from None
    if nd in _BY_NUMPY:
        return _BY_NUMPY[nd]
    raise DTypeError(f"unsupported dtype {nd}: vive supports float32, float64, int32, int64, uint32 and bool")


def promote(*ds) -> DType:
    """NumPy's result type over DTypes and Python scalars (NEP 50: Python scalars are weak)."""
    parts = [d.np if isinstance(d, DType) else d for d in ds]
    return dtype(np.result_type(*parts))


# ---- dims: Python ints or sympy expressions ----

@lru_cache(maxsize=None)
def symbol(name: str) -> sympy.Symbol:
    """The one symbol for a dimension name: positive integer, so sympy simplifies sizes."""
    return sympy.Symbol(name, integer=True, positive=True)


def as_dim(d):
    """Normalise a dim: sympy Integer -> int, int-like -> int, sympy expression kept."""
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        return int(d)
    if isinstance(d, SymDim):
        d = d.expr
    if is_sympy(d):
        if d.is_Integer:
            return int(d)
        return d
    raise ShapeError(f"invalid dimension {d!r}")


def is_static(d) -> bool:
    return isinstance(d, int)


def dims_equal(a, b) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return _sym_eq(a, b)


def shapes_equal(a, b) -> bool:
    return len(a) == len(b) and all(dims_equal(x, y) for x, y in zip(a, b))


def squeeze_units(shape):
    """The shape without its static unit axes."""
    return tuple(d for d in shape if not (isinstance(d, int) and d == 1))


def squeezed_equal(a, b) -> bool:
    """Whether two shapes agree once their static unit axes are dropped: (N, 1, 4) and (N, 4) do."""
    return shapes_equal(squeeze_units(a), squeeze_units(b))


@lru_cache(maxsize=4096)
def _sym_eq(a, b) -> bool:
    return sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0


def prod(dims):
    out = 1
    for d in dims:
        out = out * d
    return as_dim(out) if isinstance(out, int) or is_sympy(out) else out


def dim_str(d) -> str:
    # as sympy prints it (DESIGN.md: `f32[M + N,3]`); the parser reads it back
    return str(d)


class TensorType:
    """Element type plus shape; dims are ints or sympy expressions. Prints as f32[N,784]."""
    __slots__ = ("dtype", "shape", "_hash")

    def __init__(self, dt, shape=()):
        self.dtype = dtype(dt)
        self.shape = tuple(as_dim(d) for d in shape)
        self._hash = None

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return prod(self.shape)

    @property
    def is_static(self):
        return all(isinstance(d, int) for d in self.shape)

    @property
    def free_symbols(self):
        out = set()
        for d in self.shape:
            if not isinstance(d, int):
                out |= d.free_symbols
        return out

    def with_dtype(self, dt):
        return TensorType(dt, self.shape)

    def with_shape(self, shape):
        return TensorType(self.dtype, shape)

    def __eq__(self, other):
        return (isinstance(other, TensorType) and self.dtype is other.dtype
                and len(self.shape) == len(other.shape)
                and all(dims_equal(a, b) for a, b in zip(self.shape, other.shape)))

    def __hash__(self):
        if self._hash is None:
            # equal types hash alike: dims_equal compares expanded forms, so hash those
            self._hash = hash((self.dtype.name, tuple(d if isinstance(d, int) else sympy.expand(d)
                                                      for d in self.shape)))
        return self._hash

    is_tuple = False

    def __str__(self):
        return f"{self.dtype.name}[{','.join(dim_str(d) for d in self.shape)}]"

    __repr__ = __str__


class TupleType:
    """The type of a node with several results (a control-flow op): its elements are read by `get` nodes.
    Prints as (f32[3], i32[]); a one-element tuple as (f32[3],)."""
    __slots__ = ("types",)
    is_tuple = True

    def __init__(self, types):
        self.types = tuple(types)
        if any(t.is_tuple for t in self.types):
            raise TypeError("tuples do not nest")

    def __len__(self):
        return len(self.types)

    def __getitem__(self, i):
        return self.types[i]

    def __iter__(self):
        return iter(self.types)

    @property
    def free_symbols(self):
        out = set()
        for t in self.types:
            out |= t.free_symbols
        return out

    @property
    def is_static(self):
        return all(t.is_static for t in self.types)

    def __eq__(self, other):
        return isinstance(other, TupleType) and self.types == other.types

    def __hash__(self):
        return hash(self.types)

    def __str__(self):
        inner = ", ".join(str(t) for t in self.types)
        return f"({inner},)" if len(self.types) == 1 else f"({inner})"

    __repr__ = __str__


_TYPE_NAMES = frozenset(DTYPES) | frozenset(_ALIASES)


def parse_type(text: str, *, strict: bool = False) -> TensorType:
    """'f32[N,784]' -> TensorType, by the grammar in ir/typeparse.py (never evaluated as Python).

    strict: what cc.Spec accepts (whole numbers, names, + - *); otherwise also the forms sympy prints into
    the IR (ceiling(N/2), Max(1, N), ...), so str(TensorType) always parses back."""
    name, dims = parse_type_text(text, _TYPE_NAMES, symbol, full=not strict)
    return TensorType(name, dims)


@lru_cache(maxsize=4096)
def _parse_dim_expr(text):
    """One printed size ('M + N', 'ceiling(N/2)') back to an int or sympy expression."""
    _, dims = parse_type_text(f"i64[{text}]", _TYPE_NAMES, symbol, full=True)
    if len(dims) != 1:
        raise ParseError(f"cannot parse size {text!r}: expected one size")
    return as_dim(dims[0])


class Spec(TensorType):
    """An abstract argument: cc.Spec("f32[N,784]") or cc.Spec((None, 784), "f32"); letters are symbolic dims."""
    __slots__ = ()

    def __init__(self, text_or_shape, dt=None):
        if isinstance(text_or_shape, str):
            t = parse_type(text_or_shape, strict=True)
            super().__init__(t.dtype, t.shape)
        else:
            super().__init__(dt or "f32", [_spec_dim(i, d) for i, d in enumerate(text_or_shape)])

    def __repr__(self):
        return f"Spec({str(self)!r})"


def _spec_dim(i, d):
    """One entry of cc.Spec((None, "B", 3)): None (a fresh name), a name, or a size in 0..int64 max."""
    if d is None:
        return symbol(f"d{i}")
    if isinstance(d, str):
        if not d.isidentifier() or not d.isascii():
            raise ParseError(f"cc.Spec: dimension {i} is {d!r}; a symbolic size is a name like 'N'")
        return symbol(d)
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        if not 0 <= int(d) <= INT64_MAX:
            raise ShapeError(f"cc.Spec: dimension {i} is {int(d)}; sizes are between 0 and 2**63 - 1")
        return int(d)
    return d


def broadcast_shapes(a, b, op="broadcast"):
    """NumPy broadcasting of two shapes with symbolic dims; ShapeError when they cannot broadcast."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if isinstance(x, int) and x == 1:
            out.append(y)
        elif isinstance(y, int) and y == 1:
            out.append(x)
        elif dims_equal(x, y):
            out.append(x)
        else:
            raise ShapeError(f"{op}: cannot broadcast shapes {_fmt(a)} and {_fmt(b)}")
    return tuple(out)


def _fmt(shape):
    return "[" + ",".join(dim_str(d) for d in shape) + "]"
