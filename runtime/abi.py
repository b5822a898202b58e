"""The calling convention between Python and compiled code, and the fast callers that implement it.

Native side: every compiled function has ONE entry point

    void @<name>(ptr %bufs, ptr %dims)

`bufs` is a `void*[n_arrays]` of data pointers (inputs, then outputs, then scratch, in the order the compiler
chose) and `dims` an `i64[n_dims]` of the runtime values of the symbolic dimensions (in the compiler's order).

Python side: `call = make_caller(module, name, n_arrays, n_dims)` gives a callable taking the arrays and the
dims as FLAT positional arguments, `call(a0, ..., a_{n_arrays-1}, d0, ..., d_{n_dims-1})`, returning None
(`call(*bufs, *dims)` from lists works too). The flat form is the fastest: nothing is packed per call.

What the caller (the compiler's wrapper) must have validated before calling, because nothing here can:
  * each array has the dtype the kernel was compiled for, the shape implied by `dims`, and is aligned;
  * outputs and scratch are writable, distinct from each other and from the inputs (no aliasing);
  * the dims are the real sizes: the kernel trusts them for every index.
What the call itself checks, raising TypeError/ValueError/OverflowError (never crashing): the argument count,
that each array argument is a numpy.ndarray (or subclass) and C-contiguous, and that each dim is a
non-negative int (anything with __index__ is accepted).

Two implementations, same contract:
  * "fastcall" (default): a JIT-built METH_FASTCALL builtin (PyCFunction_NewEx) that reads each ndarray's
    data pointer straight from the object and each dim with PyLong_AsLongLong, then calls the entry with
    the GIL released (so Python threads calling compiled code run in parallel);
  * "ctypes" (VIVE_CALL=ctypes, or when the ndarray layout probe fails, e.g. free-threaded CPython): plain
    ctypes with per-thread cached pointer arrays; ~10x slower, for debugging.
"""
from __future__ import annotations

import ctypes
import operator
import os
import sys
import sysconfig
import threading

import numpy as np

from . import jit
from .errors import RuntimeBackendError

METH_FASTCALL = 0x80
_INT64_MAX = 2**63 - 1
_WRAPPER_NAME = "vive_fastcall"

# The wrapper is generic: the entry, the counts, PyArray_Type and the flags come from a context struct held by
# the builtin's `self` capsule, so ONE compiled wrapper (disk-cached) serves every compiled function.
# NOTE: offsets 8 (ob_type), 16 (data) and 64 (flags) of PyArrayObject are probed once by _fastcall_ok().
_WRAPPER_IR_TEMPLATE = r"""
@_Py_NoneStruct = external global i8
@_Py_NotImplementedStruct = external global i8
@PyExc_TypeError = external global ptr
@PyExc_ValueError = external global ptr
{strings}
declare ptr @PyCapsule_GetPointer(ptr, ptr)
declare ptr @PyEval_SaveThread()
declare void @PyEval_RestoreThread(ptr)
declare i64 @PyLong_AsLongLong(ptr)
declare ptr @PyErr_Occurred()
declare ptr @PyErr_Format(ptr, ptr, ...)
declare i32 @PyType_IsSubtype(ptr, ptr)
declare void @Py_IncRef(ptr)

define ptr @vive_fastcall(ptr %self, ptr %args, i64 %nargsf) {
entry:
  %ctx = call ptr @PyCapsule_GetPointer(ptr %self, ptr null)
  %noctx = icmp eq ptr %ctx, null
  br i1 %noctx, label %fail, label %have_ctx
have_ctx:
  %fn = load ptr, ptr %ctx
  %nap = getelementptr i8, ptr %ctx, i64 8
  %na = load i64, ptr %nap
  %ndp = getelementptr i8, ptr %ctx, i64 16
  %nd = load i64, ptr %ndp
  %atp = getelementptr i8, ptr %ctx, i64 24
  %atype = load ptr, ptr %atp
  %flp = getelementptr i8, ptr %ctx, i64 32
  %flags = load i64, ptr %flp
  %nargs = and i64 %nargsf, 9223372036854775807
  %want = add i64 %na, %nd
  %okn = icmp eq i64 %nargs, %want
  br i1 %okn, label %alloc, label %bad_count
bad_count:
  %te0 = load ptr, ptr @PyExc_TypeError
  %r0 = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %te0, ptr @.count, i64 %want, i64 %na, i64 %nd, i64 %nargs)
  br label %fail
alloc:
  %bufs = alloca ptr, i64 %na, align 16
  %dims = alloca i64, i64 %nd, align 16
  %hasa = icmp sgt i64 %na, 0
  br i1 %hasa, label %aloop, label %dstart
aloop:
  %i = phi i64 [0, %alloc], [%i1, %anext]
  %ap = getelementptr ptr, ptr %args, i64 %i
  %obj = load ptr, ptr %ap
  %tpp = getelementptr i8, ptr %obj, i64 8
  %tp = load ptr, ptr %tpp
  %exact = icmp eq ptr %tp, %atype
  br i1 %exact, label %acontig, label %asub
asub:
  %sub = call i32 @PyType_IsSubtype(ptr %tp, ptr %atype)
  %issub = icmp ne i32 %sub, 0
  br i1 %issub, label %acontig, label %bad_array
acontig:
  %afp = getelementptr i8, ptr %obj, i64 64
  %af = load i32, ptr %afp
  %softb = and i64 %flags, 2
  %soft = icmp ne i64 %softb, 0
  %mask = select i1 %soft, i32 257, i32 1
  %cbits = and i32 %af, %mask
  %isc = icmp eq i32 %cbits, %mask
  br i1 %isc, label %anext, label %bad_layout
bad_layout:
  br i1 %soft, label %layout_miss, label %bad_contig
layout_miss:
  call void @Py_IncRef(ptr @_Py_NotImplementedStruct)
  ret ptr @_Py_NotImplementedStruct
anext:
  %dp = getelementptr i8, ptr %obj, i64 16
  %data = load ptr, ptr %dp
  %bp = getelementptr ptr, ptr %bufs, i64 %i
  store ptr %data, ptr %bp
  %i1 = add i64 %i, 1
  %adone = icmp eq i64 %i1, %na
  br i1 %adone, label %dstart, label %aloop
bad_array:
  %te1 = load ptr, ptr @PyExc_TypeError
  %tnp = getelementptr i8, ptr %tp, i64 24
  %tname = load ptr, ptr %tnp
  %r1 = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %te1, ptr @.notarr, i64 %i, ptr %tname)
  br label %fail
bad_contig:
  %ve1 = load ptr, ptr @PyExc_ValueError
  %r2 = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %ve1, ptr @.notc, i64 %i)
  br label %fail
dstart:
  %hasd = icmp sgt i64 %nd, 0
  br i1 %hasd, label %dloop, label %docall
dloop:
  %j = phi i64 [0, %dstart], [%j1, %dnext]
  %k = add i64 %na, %j
  %dpp = getelementptr ptr, ptr %args, i64 %k
  %dobj = load ptr, ptr %dpp
  %v = call i64 @PyLong_AsLongLong(ptr %dobj)
  %isneg = icmp slt i64 %v, 0
  br i1 %isneg, label %dneg, label %dnext
dneg:
  %m1 = icmp eq i64 %v, -1
  br i1 %m1, label %dchk, label %bad_dim
dchk:
  %err = call ptr @PyErr_Occurred()
  %haserr = icmp ne ptr %err, null
  br i1 %haserr, label %fail, label %bad_dim
bad_dim:
  %ve2 = load ptr, ptr @PyExc_ValueError
  %r3 = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %ve2, ptr @.neg, i64 %k, i64 %v)
  br label %fail
dnext:
  %sp = getelementptr i64, ptr %dims, i64 %j
  store i64 %v, ptr %sp
  %j1 = add i64 %j, 1
  %ddone = icmp eq i64 %j1, %nd
  br i1 %ddone, label %docall, label %dloop
docall:
  %rel = and i64 %flags, 1
  %dorel = icmp ne i64 %rel, 0
  br i1 %dorel, label %call_nogil, label %call_gil
call_nogil:
  %ts = call ptr @PyEval_SaveThread()
  call void %fn(ptr %bufs, ptr %dims)
  call void @PyEval_RestoreThread(ptr %ts)
  br label %done
call_gil:
  call void %fn(ptr %bufs, ptr %dims)
  br label %done
done:
  call void @Py_IncRef(ptr @_Py_NoneStruct)
  ret ptr @_Py_NoneStruct
fail:
  ret ptr null
}
"""


def _cstring(name: str, text: str) -> str:
    b = text.encode() + b"\0"
    body = "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else f"\\{c:02X}" for c in b)
    return f'@{name} = private unnamed_addr constant [{len(b)} x i8] c"{body}"'


_WRAPPER_IR = _WRAPPER_IR_TEMPLATE.replace("{strings}", "\n".join([
    _cstring(".count", "vive call: expected %zd arguments (%zd arrays, then %zd dims), got %zd"),
    _cstring(".notarr", "vive call: argument %zd must be a numpy.ndarray, got %.200s"),
    _cstring(".notc", "vive call: array argument %zd is not C-contiguous"),
    _cstring(".neg", "vive call: dimension argument %zd is negative: %lld"),
]))

class _CallContext(ctypes.Structure):
    _fields_ = [("fn", ctypes.c_void_p), ("n_arrays", ctypes.c_int64), ("n_dims", ctypes.c_int64),
                ("array_type", ctypes.c_void_p), ("flags", ctypes.c_int64)]


class _PyMethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


class _Owner(str):
    """A module name that also holds the objects a fastcall builtin must keep alive."""


_PyCapsule_New = ctypes.pythonapi.PyCapsule_New
_PyCapsule_New.restype = ctypes.py_object
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_PyCFunction_NewEx = ctypes.pythonapi.PyCFunction_NewEx
_PyCFunction_NewEx.restype = ctypes.py_object
_PyCFunction_NewEx.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]

_lock = threading.Lock()
_wrapper = None
_probe: bool | None = None


def _fastcall_ok() -> bool:
    """Whether PyArrayObject has the layout the wrapper reads (CPython with the GIL, numpy 1.x/2.x)."""
    global _probe
    if _probe is None:
        ok = not sysconfig.get_config_var("Py_GIL_DISABLED") and sys.implementation.name == "cpython"
        if ok:
            a = np.empty(6, np.float32)
            for arr in (a, a[::2]):
                base = id(arr)
                ok = ok and ctypes.c_void_p.from_address(base + 8).value == id(np.ndarray)
                ok = ok and ctypes.c_void_p.from_address(base + 16).value == arr.ctypes.data
                ok = ok and ctypes.c_int.from_address(base + 64).value == arr.flags.num
        _probe = ok
    return _probe


def _wrapper_module():
    global _wrapper
    with _lock:
        if _wrapper is None:
            # The Python version goes into the key: the object binds C-API symbols of this interpreter.
            _wrapper = jit.compile_module(_WRAPPER_IR, opt=2, version="abi-wrapper-2/" + sys.version)
        return _wrapper


def call_mode() -> str:
    """'fastcall' or 'ctypes': what make_caller will build by default (VIVE_CALL overrides)."""
    mode = os.environ.get("VIVE_CALL", "").strip().lower() or "fastcall"
    if mode not in ("fastcall", "ctypes"):
        raise RuntimeBackendError(f"VIVE_CALL={mode!r}: expected 'fastcall' or 'ctypes'")
    if mode == "fastcall" and not _fastcall_ok():
        return "ctypes"
    return mode


def make_caller(module, entry_name: str, n_arrays: int, n_dims: int, *, release_gil: bool = True,
                mode: str | None = None, soft_layout: bool = False):
    """A callable `call(*arrays, *dims) -> None` for the entry `void @entry_name(ptr bufs, ptr dims)`.

        cm = jit.compile_module(ir_text)
        call = make_caller(cm, "f", n_arrays=2, n_dims=1)
        call(x, y, x.shape[0])           # y must be preallocated: np.empty_like(x)

    `module` is a jit.CompiledModule (kept alive by the callable). `mode` is 'fastcall' or 'ctypes'
    (default: VIVE_CALL, else fastcall). `release_gil=False` saves ~40 ns for very short kernels.
    `soft_layout=True`: an array argument that is not C-contiguous AND aligned makes the call return
    NotImplemented without running anything (instead of raising), so a caller can try the call first and convert
    only on a miss (the compiler's per-signature runners: no layout check in Python on the hot path).
    """
    if not (isinstance(n_arrays, int) and isinstance(n_dims, int) and n_arrays >= 0 and n_dims >= 0):
        raise RuntimeBackendError(f"make_caller: bad counts n_arrays={n_arrays!r}, n_dims={n_dims!r}")
    addr = module.address(entry_name)
    mode = (mode or call_mode()).lower()
    if mode == "fastcall" and _fastcall_ok():
        return _fastcall_caller(module, entry_name, addr, n_arrays, n_dims, release_gil, soft_layout)
    if mode in ("fastcall", "ctypes"):
        return _ctypes_caller(module, addr, n_arrays, n_dims, soft_layout)
    raise RuntimeBackendError(f"make_caller: unknown mode {mode!r}; expected 'fastcall' or 'ctypes'")


def _fastcall_caller(module, entry_name, addr, n_arrays, n_dims, release_gil, soft_layout=False):
    wrapper = _wrapper_module()
    ctx = _CallContext(addr, n_arrays, n_dims, id(np.ndarray), (1 if release_gil else 0) | (2 if soft_layout else 0))
    name = entry_name.encode()
    mdef = _PyMethodDef(name, wrapper.address(_WRAPPER_NAME), METH_FASTCALL, None)
    capsule = _PyCapsule_New(ctypes.addressof(ctx), None, None)
    # NOTE: the builtin's m_module slot owns everything the native code points into (ctx, mdef, both
    # engines), so they live exactly as long as the callable; it is a str, so `call.__module__` still reads well.
    owner = _Owner("runtime.abi")
    owner.refs = (module, wrapper, ctx, mdef, name)
    return _PyCFunction_NewEx(ctypes.addressof(mdef), capsule, owner)


def _ctypes_caller(module, addr, n_arrays, n_dims, soft_layout=False):
    entry = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(addr)   # CFUNCTYPE drops the GIL
    n_args = n_arrays + n_dims
    local = threading.local()                                                # per thread: no races on the arrays
    ndarray = np.ndarray

    def call(*args):
        if len(args) != n_args:
            raise TypeError(f"vive call: expected {n_args} arguments ({n_arrays} arrays, then {n_dims} dims), "
                            f"got {len(args)}")
        try:
            bufs, dims = local.bufs, local.dims
        except AttributeError:
            bufs = local.bufs = (ctypes.c_void_p * max(n_arrays, 1))()
            dims = local.dims = (ctypes.c_int64 * max(n_dims, 1))()
        for i in range(n_arrays):
            a = args[i]
            if not isinstance(a, ndarray):
                raise TypeError(f"vive call: argument {i} must be a numpy.ndarray, got {type(a).__name__}")
            if soft_layout and not (a.flags.c_contiguous and a.flags.aligned):
                return NotImplemented
            if not a.flags.c_contiguous:
                raise ValueError(f"vive call: array argument {i} is not C-contiguous")
            bufs[i] = a.ctypes.data
        for j in range(n_dims):
            v = operator.index(args[n_arrays + j])
            if v < 0:
                raise ValueError(f"vive call: dimension argument {n_arrays + j} is negative: {v}")
            if v > _INT64_MAX:                                               # ctypes would wrap silently
                raise OverflowError("int too big to convert")
            dims[j] = v
        entry(bufs, dims)

    call._vive_keepalive = (module, entry)
    return call
