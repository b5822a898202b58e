"""Arguments of compiled functions: which values are taken as they are, converted, or refused.

NumPy means the same number whatever the byte order or alignment, so those are converted (a copy); what NumPy
itself would compute differently from the plain data (a masked array's mask, np.matrix's `*`) is refused with
the fix. Python scalars (bool, int, float) are weak (NEP 50): typed by the arrays they meet, not by their value,
so only their Python type is part of a compiled signature.
"""
from __future__ import annotations

import sys

import numpy as np

from .errors import DTypeError

# NOTE: PyArrayObject flag bits (NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED): the fast path of a call takes an
# array as it is only when both are set (compiled code may load its elements with their natural alignment).
C_ALIGNED = 0x0001 | 0x0100

PY_SCALARS = (bool, int, float)

# the dtype a weak Python scalar traces with on its own (NumPy's default for its kind)
WEAK_DTYPES = {bool: np.dtype(np.bool_), int: np.dtype(np.int64), float: np.dtype(np.float64)}


def is_weak(x) -> bool:
    """A Python bool/int/float or a subclass (IntEnum), not a NumPy scalar (np.float64 subclasses float but is
    strongly typed)."""
    return isinstance(x, PY_SCALARS) and not isinstance(x, np.generic)


def weak_dtype(x) -> np.dtype:
    """The dtype a weak scalar traces with on its own: bool, int64 or float64 by its Python kind."""
    return WEAK_DTYPES[bool if isinstance(x, bool) else int if isinstance(x, int) else float]


def refuse(x, where=""):
    """Raise DTypeError for ndarray subclasses whose meaning is not their data; otherwise return None."""
    ma = sys.modules.get("numpy.ma")     # (np.ma imports on first touch, ~20 ms: unloaded, nothing is masked)
    if ma is not None and isinstance(x, ma.MaskedArray):
        raise DTypeError(f"{where}masked arrays are not supported: compiled code would read the masked-out values "
                         f"as data; pass x.filled(fill_value) (or x.data to ignore the mask)")
    if isinstance(x, np.matrix):
        raise DTypeError(f"{where}np.matrix is not supported (its * is a matrix product); pass np.asarray(m)")


def is_foreign_array(x) -> bool:
    """An array of another library that speaks DLPack (PyTorch, JAX, CuPy, ...): not NumPy, not a device array of
    vive's own (those implement __dlpack__ too, and backends take them as they are)."""
    return (type(x) is not np.ndarray and hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__")
            and not isinstance(x, np.ndarray) and not getattr(x, "_vive_device_array", False))


def from_dlpack(x, backend="cpu", where=""):
    """A DLPack array as what a backend takes: host memory as an ndarray viewing it (np.from_dlpack, no copy); CUDA
    memory is returned as it is for backend 'cuda' (which views it as a DeviceArray) and refused by the CPU backend."""
    kind = x.__dlpack_device__()[0]
    if kind in (1, 3):                # kDLCPU, kDLCUDAHost (pinned host memory)
        try:
            return np.from_dlpack(x)
        except (BufferError, TypeError, RuntimeError) as e:
            raise DTypeError(f"{where}cannot read this {type(x).__name__} through DLPack: {e}") from None
    if kind in (2, 13) and backend == "cuda":       # kDLCUDA, kDLCUDAManaged
        return x
    from .errors import BackendError
    raise BackendError(f"{where}a {type(x).__name__} on DLPack device type {kind} cannot be read by the {backend} "
                       f"backend; move it to the host first (torch: x.cpu())"
                       + (" or compile with backend='cuda'" if kind in (2, 13) else ""))


def native_dtype(dt: np.dtype) -> np.dtype:
    """dt in the machine's byte order ('>f4' -> '<f4' on x86): the dtype a compiled function works in."""
    return dt if dt.isnative else dt.newbyteorder("=")


def as_array(x, want: np.dtype, where="") -> np.ndarray:
    """x as a C-contiguous, aligned ndarray (never a subclass) of exactly dtype `want` in native byte order.

    Non-native byte order, other memory layouts and ndarray subclasses (np.memmap, ...) are copied or viewed;
    masked arrays and matrices are refused; another dtype is a DTypeError naming the cast to make."""
    refuse(x, where)
    a = from_dlpack(x, "cpu", where) if is_foreign_array(x) else np.asarray(x)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise DTypeError(f"{where}unsupported dtype {a.dtype}")
    dt = native_dtype(a.dtype)
    if dt != want:
        raise DTypeError(f"{where}has dtype {a.dtype}, compiled for {want}; cast it (x.astype(np.{want.name})) "
                         f"or call the cc.compile'd function")
    if not a.dtype.isnative:
        a = a.astype(dt)                  # a byte-swapping copy: C-contiguous and aligned
    if a.flags.num & C_ALIGNED != C_ALIGNED:
        a = np.array(a, order="C", copy=True)      # (np.ascontiguousarray would make 0-d into 1-d)
    return a


def eager_array(x) -> np.ndarray:
    """An argument of an eager transform (cc.grad(f)(x)) as the ndarray the reference interpreter runs on: refused
    like as_array, in native byte order; other dtypes are left for the trace to accept or refuse."""
    refuse(x)
    a = np.asarray(x)
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def scalar_array(x, want: np.dtype, where="") -> np.ndarray:
    """A weak Python scalar as the 0-d array of the dtype its argument was compiled for.

    The compiled dtype is the scalar's own kind (bool, int64, float64) for a function compiled from the same Python
    type; a lowered executable may be called with another one, which is taken only where NumPy's 'same_kind'
    casting would take it (never a float into an int argument)."""
    if not np.can_cast(weak_dtype(x), want, "same_kind"):
        raise DTypeError(f"{where}got a Python {type(x).__name__}, compiled for {want}")
    try:
        return np.asarray(x, dtype=want)
    except OverflowError:
        raise OverflowError(f"{where}Python integer {x} out of bounds for {want}") from None
