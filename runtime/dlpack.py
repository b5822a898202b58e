"""DLPack capsules (the unversioned "dltensor" form every producer still emits) read and made with ctypes, so device
memory can pass between vive and PyTorch, JAX or CuPy without a copy. CPU arrays need none of this: NumPy's own
np.from_dlpack reads them.

    info = dlpack.consume(torch_cuda_tensor.__dlpack__())      # DLTensorInfo; the producer's memory stays alive
    capsule = dlpack.export(ptr, shape, np.float32, (dlpack.CUDA, 0), owner=device_array)
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

CPU, CUDA, CUDA_HOST, CUDA_MANAGED = 1, 2, 3, 13        # DLDeviceType values vive meets

_INT, _UINT, _FLOAT, _BOOL = 0, 1, 2, 6               # DLDataTypeCode


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32), ("dtype", DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]

_api = ctypes.pythonapi
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

_NAME, _USED = b"dltensor", b"used_dltensor"


class DLTensorInfo:
    """What a capsule describes: data address (byte_offset applied), device, dtype, shape, strides in elements
    (None: C-contiguous). Holding it keeps the producer's memory alive; its deleter runs when this is collected."""

    def __init__(self, ptr, device, dtype, shape, strides, managed):
        self.ptr, self.device, self.dtype, self.shape, self.strides = ptr, device, dtype, shape, strides
        self._managed = managed

    @property
    def c_contiguous(self):
        if self.strides is None:
            return True
        want, ok = 1, True
        for n, s in zip(reversed(self.shape), reversed(self.strides)):
            if n != 1 and s != want:
                ok = False
            want *= n
        return ok

    def __del__(self):
        m, self._managed = self._managed, None
        if m:
            t = DLManagedTensor.from_address(m)
            if t.deleter:
                t.deleter(ctypes.cast(m, ctypes.POINTER(DLManagedTensor)))

    def __repr__(self):
        return f"DLTensorInfo({self.dtype}{list(self.shape)} on {self.device} at {self.ptr:#x})"


def _np_dtype(t: DLDataType):
    if t.lanes != 1:
        raise TypeError(f"DLPack: vector dtypes (lanes={t.lanes}) are not supported")
    kind = {_INT: "i", _UINT: "u", _FLOAT: "f", _BOOL: "b"}.get(t.code)
    if kind is None or t.bits % 8:
        raise TypeError(f"DLPack: unsupported dtype code {t.code} with {t.bits} bits")
    return np.dtype(np.bool_) if kind == "b" else np.dtype(f"{kind}{t.bits // 8}")


def _dl_dtype(dt):
    dt = np.dtype(dt)
    code = {"i": _INT, "u": _UINT, "f": _FLOAT, "b": _BOOL}.get(dt.kind)
    if code is None:
        raise TypeError(f"DLPack: cannot export dtype {dt}")
    return DLDataType(code, dt.itemsize * 8, 1)


def consume(capsule) -> DLTensorInfo:
    """Take a "dltensor" capsule (renamed "used_dltensor", as the protocol asks of a consumer)."""
    if not _api.PyCapsule_IsValid(capsule, _NAME):
        raise TypeError("DLPack: expected an unconsumed 'dltensor' capsule (from x.__dlpack__())")
    m = _api.PyCapsule_GetPointer(capsule, _NAME)
    t = DLManagedTensor.from_address(m).dl_tensor
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    info = DLTensorInfo((t.data or 0) + t.byte_offset, (t.device.device_type, t.device.device_id),
                        _np_dtype(t.dtype), shape, strides, None)
    _api.PyCapsule_SetName(capsule, _USED)
    info._managed = m
    return info


# exported tensors: address of the DLManagedTensor -> (struct, shape array, owner), kept until the deleter runs
_live: dict[int, tuple] = {}
_live_lock = threading.Lock()


@_DELETER
def _delete(p):
    with _live_lock:
        _live.pop(ctypes.addressof(p.contents), None)


# NOTE: the destructor gets the dying capsule: it must be passed on as a raw pointer (a py_object would take a new
# reference to an object whose count already reached zero), hence these void* prototypes of the same functions
_is_valid_raw = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(("PyCapsule_IsValid", _api))
_get_pointer_raw = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(("PyCapsule_GetPointer", _api))


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _capsule_destructor(capsule):
    # a capsule dropped before any consumer took it still owns its tensor
    if _is_valid_raw(capsule, _NAME):
        m = _get_pointer_raw(capsule, _NAME)
        with _live_lock:
            _live.pop(m, None)


def export(ptr: int, shape, dtype, device, owner):
    """A "dltensor" capsule for C-contiguous memory at ptr; `owner` (the array) lives until the consumer's deleter
    call (or until the capsule is dropped unconsumed)."""
    shape = tuple(int(s) for s in shape)
    m = DLManagedTensor()
    dims = (ctypes.c_int64 * max(len(shape), 1))(*shape)
    m.dl_tensor.data = ptr or None
    m.dl_tensor.device = DLDevice(int(device[0]), int(device[1]))
    m.dl_tensor.ndim = len(shape)
    m.dl_tensor.dtype = _dl_dtype(dtype)
    m.dl_tensor.shape = ctypes.cast(dims, ctypes.POINTER(ctypes.c_int64))
    m.dl_tensor.strides = None                       # NULL: C-contiguous
    m.dl_tensor.byte_offset = 0
    m.manager_ctx = None
    m.deleter = _delete
    addr = ctypes.addressof(m)
    with _live_lock:
        _live[addr] = (m, dims, owner)
    return _api.PyCapsule_New(addr, _NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def live_exports() -> int:
    """Exported tensors not yet released by their consumer (for tests)."""
    with _live_lock:
        return len(_live)
