"""Finds a CBLAS sgemm/dgemm that generated code can call: the OpenBLAS bundled in numpy's wheel (no scipy).

`blas_symbols()` loads the library into the JIT's symbol space and says which names and integer width to emit.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os

from . import jit

CBLAS_ROW_MAJOR, CBLAS_COL_MAJOR = 101, 102
CBLAS_NO_TRANS, CBLAS_TRANS = 111, 112

# (sgemm, dgemm, set_num_threads, int bits). numpy 2 wheels ship scipy-openblas64 (ILP64, "scipy_" prefix and
# "64_" suffix); numpy 1.2x shipped openblas64_ ("64_" suffix only); system libraries are LP64 and unprefixed.
_FLAVOURS = [
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_openblas_set_num_threads64_", 64),
    ("cblas_sgemm64_", "cblas_dgemm64_", "openblas_set_num_threads64_", 64),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", "scipy_openblas_set_num_threads", 32),
    ("cblas_sgemm", "cblas_dgemm", "openblas_set_num_threads", 32),
]

_found: dict | None = None
_searched = False


def _candidate_libraries():
    """numpy's bundled OpenBLAS first, then system libraries. A generator: find_library runs ldconfig/gcc
    subprocesses (~40 ms), so it only runs when numpy's own library is not usable."""
    try:
        import numpy
        root = os.path.dirname(os.path.abspath(numpy.__file__))
        for d in (os.path.join(root, os.pardir, "numpy.libs"), os.path.join(root, ".dylibs")):
            yield from sorted(os.path.normpath(p) for p in glob.glob(os.path.join(d, "*openblas*")))
    except ImportError:
        pass
    for name in ("openblas", "cblas", "blas"):
        path = ctypes.util.find_library(name)
        if path:
            yield path


def _probe(path: str) -> dict | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for sgemm, dgemm, set_threads, bits in _FLAVOURS:
        if hasattr(lib, sgemm) and hasattr(lib, dgemm):
            # NOTE: probed through this library's own handle, so the names (and int width) are its own,
            # not whatever another loaded library happens to export under the same name.
            if not jit.load_library(path):
                return None
            return {"sgemm": sgemm, "dgemm": dgemm, "int_bits": bits, "layout": "cblas", "library": path,
                    "set_num_threads": set_threads if hasattr(lib, set_threads) else None,
                    "lapack": _lapack_names(lib, dgemm, bits)}
    return None


# the LAPACK routines compiled code calls (np.linalg's decompositions), each in s (f32) and d (f64)
LAPACK_ROUTINES = ("gesv", "getrf", "potrf", "syevd", "gesdd")


def _lapack_names(lib, dgemm, bits):
    """{'dgesv': symbol, ...} in the library's naming ('scipy_dgesv_64_' beside 'scipy_cblas_dgemm64_'), or None.
    Only the ILP64 interface: the generated calls pass 64-bit integers."""
    if bits != 64:
        return None
    prefix = "scipy_" if dgemm.startswith("scipy_") else ""
    names = {t + r: f"{prefix}{t}{r}_64_" for t in "sd" for r in LAPACK_ROUTINES}
    return names if all(hasattr(lib, n) for n in names.values()) else None


def blas_symbols() -> dict | None:
    """{'sgemm', 'dgemm', 'int_bits', 'layout': 'cblas', 'library', 'set_num_threads', 'lapack'} or None if no BLAS.
    'lapack': {'dgesv': symbol, ...} for LAPACK_ROUTINES when the library has them (ILP64 only), else None.

    The functions are CBLAS: `void sgemm(i32 order, i32 transA, i32 transB, iN M, iN N, iN K, float alpha,
    ptr A, iN lda, ptr B, iN ldb, float beta, ptr C, iN ldc)` with N = int_bits (dgemm: double alpha/beta);
    order/trans take CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS. The library is loaded, so JIT code that
    names these symbols resolves. VIVE_NO_BLAS=1 makes this return None (to test the fallback loops).
    """
    global _found, _searched
    if os.environ.get("VIVE_NO_BLAS", "") not in ("", "0"):
        return None
    # NOTE: jit's lock, not one of our own: the JIT calls back into here while holding it (a cached object
    # that needs BLAS), so a second lock could deadlock against a thread searching from this side.
    with jit._LOCK:
        if not _searched:
            for path in _candidate_libraries():
                _found = _probe(path)
                if _found is not None:
                    break
            _searched = True
    return dict(_found) if _found is not None else None
