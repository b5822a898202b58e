"""CUDA driver via cuda-bindings: lazy init of the primary context, PTX module loading, device arrays, launches on one
stream, copies and event timing. Says clearly when no driver or device exists; never imports compiler/."""
from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from . import dlpack
from .errors import CudaError, CudaUnavailable

_NO_GPU_HINT = "compiling to PTX (`.ptx()`) still works without one"
_JIT_LOG_BYTES = 1 << 16


class _Device:
    """The initialised driver state: device 0, its retained primary context, one blocking stream."""

    def __init__(self, cu: Any) -> None:
        self.cu = cu
        _check(cu, cu.cuInit(0), "cuInit")
        count = _check(cu, cu.cuDeviceGetCount(), "cuDeviceGetCount")
        if count < 1:
            raise CudaUnavailable(f"no CUDA device: the driver reports 0 devices; {_NO_GPU_HINT}")
        self.dev = _check(cu, cu.cuDeviceGet(0), "cuDeviceGet")
        self.ctx = _check(cu, cu.cuDevicePrimaryCtxRetain(self.dev), "cuDevicePrimaryCtxRetain")
        _check(cu, cu.cuCtxSetCurrent(self.ctx), "cuCtxSetCurrent")
        self.stream = _check(cu, cu.cuStreamCreate(cu.CUstream_flags.CU_STREAM_DEFAULT.value), "cuStreamCreate")
        name = _check(cu, cu.cuDeviceGetName(256, self.dev), "cuDeviceGetName")
        self.name = name.split(b"\0", 1)[0].decode(errors="replace")
        attr = cu.CUdevice_attribute
        self.cc = (self.attribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                   self.attribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
        self.sm_count = self.attribute(attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)

    def attribute(self, a: Any) -> int:
        return _check(self.cu, self.cu.cuDeviceGetAttribute(a, self.dev), "cuDeviceGetAttribute")


_lock = threading.Lock()
_state: _Device | None = None
_failure: CudaUnavailable | None = None        # cached: a missing driver does not appear later in the process
_local = threading.local()                     # per thread: has the primary context been made current here


def _error_text(cu: Any, err: Any) -> str:
    try:
        name = cu.cuGetErrorName(err)[1]
        desc = cu.cuGetErrorString(err)[1]
        return f"{name.decode() if name else err}: {desc.decode() if desc else '?'}"
    except Exception:                          # the lookup itself must never mask the original failure
        return str(err)


_UNAVAILABLE = ("CUDA_ERROR_NO_DEVICE", "CUDA_ERROR_INSUFFICIENT_DRIVER", "CUDA_ERROR_NOT_INITIALIZED",
                "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
                "CUDA_ERROR_DEVICE_UNAVAILABLE", "CUDA_ERROR_STUB_LIBRARY")


def _check(cu: Any, result: tuple, what: str) -> Any:
    """Unpack a cuda-bindings result tuple (CUresult, *values), raising CudaError on failure."""
    err, *values = result
    if err != cu.CUresult.CUDA_SUCCESS:
        text = _error_text(cu, err)
        if getattr(err, "name", "") in _UNAVAILABLE:
            raise CudaUnavailable(f"no usable CUDA device: {what} failed with {text}; {_NO_GPU_HINT}")
        raise CudaError(f"{what} failed: {text}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _init() -> _Device:
    global _state, _failure
    with _lock:
        if _state is None and _failure is None:
            try:
                from cuda.bindings import driver as cu
            except ImportError as e:
                _failure = CudaUnavailable(f"no CUDA support: cuda-bindings is not installed ({e}); "
                                           f"pip install cuda-bindings; {_NO_GPU_HINT}")
            else:
                try:
                    _state = _Device(cu)
                except CudaUnavailable as e:
                    _failure = e
                except CudaError:
                    raise
                except (RuntimeError, OSError) as e:   # cuda.pathfinder's DynamicLibNotFoundError: no libcuda.so
                    _failure = CudaUnavailable(f"no CUDA driver: {type(e).__name__}: {e}; {_NO_GPU_HINT}")
        if _failure is not None:
            raise _failure
        return _state


def _device() -> _Device:
    """The initialised device, with its primary context current on this thread."""
    d = _init()
    if getattr(_local, "ctx", None) is not d.ctx:
        _check(d.cu, d.cu.cuCtxSetCurrent(d.ctx), "cuCtxSetCurrent")
        _local.ctx = d.ctx
    return d


def available() -> tuple[bool, str]:
    """(True, device name) when a CUDA device can run kernels, else (False, why not)."""
    try:
        d = _device()
    except (CudaUnavailable, CudaError) as e:
        return False, str(e)
    return True, f"{d.name} (sm_{d.cc[0]}{d.cc[1]}, {d.sm_count} SMs)"


def device_name() -> str:
    return _device().name


def compute_capability() -> tuple[int, int]:
    return _device().cc


def arch() -> str:
    """The PTX target of device 0, e.g. 'sm_90'."""
    major, minor = compute_capability()
    return f"sm_{major}{minor}"


def multiprocessor_count() -> int:
    return _device().sm_count


# ---------------------------------------------------------------------------------------------------------------
# Modules and functions


class Function:
    """A kernel of a loaded Module; pass it to launch()."""

    def __init__(self, module: "Module", name: str, handle: Any) -> None:
        self.module = module                   # keeps the module loaded while the function lives
        self.name = name
        self.handle = handle
        self._max_dynamic_shmem = 48 * 1024

    def __repr__(self) -> str:
        return f"<cuda Function {self.name}>"


def _unload(cu: Any, handle: Any) -> None:
    try:
        cu.cuModuleUnload(handle)
    except Exception:                          # at interpreter exit the driver may be gone
        pass


class Module:
    """A PTX (or cubin) image loaded into the primary context."""

    def __init__(self, handle: Any, cu: Any) -> None:
        self.handle = handle
        self._finalizer = weakref.finalize(self, _unload, cu, handle)
        self._finalizer.atexit = False         # process exit frees everything; the driver may already be torn down

    def function(self, name: str) -> Function:
        d = _device()
        err, fn = d.cu.cuModuleGetFunction(self.handle, name.encode())
        if err != d.cu.CUresult.CUDA_SUCCESS:
            raise CudaError(f"cuModuleGetFunction({name!r}) failed: {_error_text(d.cu, err)}; "
                            f"is {name!r} a `.entry` in the PTX?")
        return Function(self, name, fn)


def load_module(image: str | bytes) -> Module:
    """Load PTX text (or a cubin as bytes) with the driver's JIT; a rejected image raises CudaError with the log.

    >>> fn = load_module(ptx).function("ew_tanh")
    """
    d = _device()
    cu = d.cu
    data = image.encode() + b"\0" if isinstance(image, str) else bytes(image)
    err_log, info_log = bytearray(_JIT_LOG_BYTES), bytearray(_JIT_LOG_BYTES)
    opt = cu.CUjit_option
    options = [opt.CU_JIT_ERROR_LOG_BUFFER, opt.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
               opt.CU_JIT_INFO_LOG_BUFFER, opt.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES]
    values = [err_log, _JIT_LOG_BYTES, info_log, _JIT_LOG_BYTES]
    err, handle = cu.cuModuleLoadDataEx(data, len(options), options, values)
    if err != cu.CUresult.CUDA_SUCCESS:
        log = err_log.split(b"\0", 1)[0].decode(errors="replace").strip()
        raise CudaError(f"cuModuleLoadDataEx failed: {_error_text(cu, err)}\nJIT log:\n{log or '(empty)'}")
    return Module(handle, cu)


# ---------------------------------------------------------------------------------------------------------------
# Memory


def _free(cu: Any, ptr: Any) -> None:
    try:
        cu.cuMemFree(ptr)
    except Exception:                          # never raise from a finalizer
        pass


_POOL_PER_SIZE = 8                             # freed allocations kept per byte size (DeviceArray.pooled)
_pool: dict[int, list] = {}
_pool_lock = threading.Lock()


def _release(cu: Any, nbytes: int, handle: Any) -> None:
    with _pool_lock:
        free = _pool.setdefault(nbytes, [])
        if len(free) < _POOL_PER_SIZE:
            free.append(handle)
            return
    _free(cu, handle)


class DeviceArray:
    """A contiguous C-order array in device memory; freed when garbage-collected.

    >>> x = DeviceArray.from_numpy(np.arange(4, dtype=np.float32)); x.numpy()
    array([0., 1., 2., 3.], dtype=float32)
    """

    _vive_device_array = True                  # (compiler/inputs.py: not a foreign DLPack array)

    def __init__(self, shape: Sequence[int] | int, dtype: Any) -> None:
        self.shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        if any(s < 0 for s in self.shape):
            raise ValueError(f"DeviceArray: negative dimension in shape {self.shape}")
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.nbytes = self.size * self.dtype.itemsize
        d = _device()
        if self.nbytes == 0:
            self.handle = d.cu.CUdeviceptr(0)
        else:
            self.handle = _check(d.cu, d.cu.cuMemAlloc(self.nbytes), f"cuMemAlloc({self.nbytes} bytes)")
            weakref.finalize(self, _free, d.cu, self.handle).atexit = False

    @classmethod
    def pooled(cls, shape: Sequence[int] | int, dtype: Any = np.float32) -> "DeviceArray":
        """empty(), but the memory comes from (and goes back to, when collected) a per-size cache of freed
        allocations: compiled programs allocate fresh outputs on every call, and cuMemAlloc/cuMemFree cost tens of
        microseconds (cuMemFree also waits for the device). Reuse is safe: all work runs in order on one stream."""
        a = cls.__new__(cls)
        a.shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
        a.dtype = np.dtype(dtype)
        a.size = int(np.prod(a.shape, dtype=np.int64))
        a.nbytes = a.size * a.dtype.itemsize
        d = _device()
        if a.nbytes == 0:
            a.handle = d.cu.CUdeviceptr(0)
            return a
        with _pool_lock:
            free = _pool.get(a.nbytes)
            handle = free.pop() if free else None
        if handle is None:
            handle = _check(d.cu, d.cu.cuMemAlloc(a.nbytes), f"cuMemAlloc({a.nbytes} bytes)")
        a.handle = handle
        weakref.finalize(a, _release, d.cu, a.nbytes, handle).atexit = False
        return a

    @property
    def ptr(self) -> int:
        """The device address as an int."""
        return int(self.handle)

    @classmethod
    def empty(cls, shape: Sequence[int] | int, dtype: Any = np.float32) -> "DeviceArray":
        return cls(shape, dtype)

    @classmethod
    def zeros(cls, shape: Sequence[int] | int, dtype: Any = np.float32) -> "DeviceArray":
        a = cls(shape, dtype)
        if a.nbytes:
            d = _device()
            _check(d.cu, d.cu.cuMemsetD8Async(a.handle, 0, a.nbytes, d.stream), "cuMemsetD8Async")
        return a

    @classmethod
    def from_numpy(cls, a: np.ndarray, pooled: bool = False) -> "DeviceArray":
        """A device copy of a (pooled=True: memory from the cache of freed allocations, see pooled())."""
        a = np.asarray(a)
        a = a if a.flags.c_contiguous else a.copy(order="C")     # (ascontiguousarray makes 0-d arrays 1-d)
        out = cls.pooled(a.shape, a.dtype) if pooled else cls(a.shape, a.dtype)
        if out.nbytes:
            d = _device()
            # NOTE: async on our stream so it orders before later launches; pageable host memory makes the driver
            # stage the copy before returning, so `a` may be freed right after.
            _check(d.cu, d.cu.cuMemcpyHtoDAsync(out.handle, a.ctypes.data, out.nbytes, d.stream), "cuMemcpyHtoD")
        return out

    def numpy(self) -> np.ndarray:
        """A fresh host copy (waits for the work queued before it)."""
        out = np.empty(self.shape, self.dtype)
        if self.nbytes:
            d = _device()
            _check(d.cu, d.cu.cuMemcpyDtoHAsync(out.ctypes.data, self.handle, self.nbytes, d.stream), "cuMemcpyDtoH")
            _check(d.cu, d.cu.cuStreamSynchronize(d.stream), "cuStreamSynchronize")
        return out

    # ---- DLPack: share device memory with PyTorch, JAX, CuPy (runtime/dlpack.py) ----

    def __dlpack_device__(self) -> tuple[int, int]:
        return (dlpack.CUDA, 0)                # vive runs on device 0 (see _Device)

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None,
                   copy: Any = None) -> Any:
        """A DLPack capsule of this array's memory (no copy; the array lives until the consumer is done with it).

        The work queued on vive's stream is finished before the capsule is handed out, so the consumer may read it
        on any stream (`stream` needs no event then)."""
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"DeviceArray: cannot export to device {dl_device} (it lives on CUDA device 0)")
        if copy:
            raise BufferError("DeviceArray: __dlpack__(copy=True) is not supported; export, then copy")
        if self.nbytes:
            synchronize()
        return dlpack.export(self.ptr, self.shape, self.dtype, self.__dlpack_device__(), owner=self)

    @classmethod
    def from_dlpack(cls, x: Any) -> "DeviceArray":
        """A DeviceArray viewing the CUDA memory of any object with __dlpack__ (a torch.cuda tensor, a CuPy or JAX GPU
        array): no copy; the producer's memory stays alive as long as the view does. Must be C-contiguous."""
        kind, ordinal = x.__dlpack_device__()
        if kind not in (dlpack.CUDA, dlpack.CUDA_MANAGED):
            raise TypeError(f"DeviceArray.from_dlpack: {type(x).__name__} is on DLPack device type {kind}, not a "
                            f"CUDA device; use np.from_dlpack for host arrays")
        if ordinal != 0:
            raise ValueError(f"DeviceArray.from_dlpack: the array is on CUDA device {ordinal}; vive uses device 0")
        d = _device()
        try:        # the producer orders its pending writes before work on our stream
            capsule = x.__dlpack__(stream=int(d.stream) or 1)
        except TypeError:
            capsule = x.__dlpack__()
        info = dlpack.consume(capsule)
        if not info.c_contiguous:
            raise ValueError(f"DeviceArray.from_dlpack: strides {info.strides} for shape {info.shape} are not "
                             f"C-contiguous; pass a contiguous array (torch: x.contiguous())")
        a = cls.__new__(cls)
        a.shape = tuple(int(n) for n in info.shape)
        a.dtype = info.dtype
        a.size = int(np.prod(a.shape, dtype=np.int64))
        a.nbytes = a.size * a.dtype.itemsize
        a.handle = d.cu.CUdeviceptr(info.ptr)
        a._dlpack = info                       # the producer's memory: released when this view is collected
        return a

    def __repr__(self) -> str:
        return f"<DeviceArray {self.dtype.name}{list(self.shape)} at {self.ptr:#x}>"


def empty(shape: Sequence[int] | int, dtype: Any = np.float32) -> DeviceArray:
    return DeviceArray.empty(shape, dtype)


def copy(dst: DeviceArray, src: DeviceArray) -> None:
    """Device-to-device copy of src into dst (same number of bytes), queued on the stream."""
    if dst.nbytes != src.nbytes:
        raise ValueError(f"copy: {src.nbytes} bytes ({src.dtype.name}{list(src.shape)}) into "
                         f"{dst.nbytes} bytes ({dst.dtype.name}{list(dst.shape)})")
    if src.nbytes:
        d = _device()
        _check(d.cu, d.cu.cuMemcpyDtoDAsync(dst.handle, src.handle, src.nbytes, d.stream), "cuMemcpyDtoD")


# ---------------------------------------------------------------------------------------------------------------
# Launch, synchronisation, timing

_SCALAR_TYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
                 np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
                 np.dtype(np.uint32): ctypes.c_uint32, np.dtype(np.uint64): ctypes.c_uint64}


def _kernel_args(args: Sequence[Any]) -> tuple[tuple, tuple]:
    values, types = [], []
    for i, a in enumerate(args):
        if isinstance(a, DeviceArray):
            values.append(a.handle)
            types.append(None)                 # None: a CUdeviceptr, passed as the 8-byte .u64 param
        elif isinstance(a, (bool, np.bool_)):
            raise TypeError(f"launch: argument {i} is a bool; pass an int")
        elif isinstance(a, int):
            values.append(a)
            types.append(ctypes.c_int64)
        elif isinstance(a, np.generic) and a.dtype in _SCALAR_TYPES:
            values.append(a.item())
            types.append(_SCALAR_TYPES[a.dtype])
        else:
            # NOTE: a Python float is refused: sending 8 bytes to a 4-byte .f32 param would silently read garbage.
            raise TypeError(f"launch: argument {i} has type {type(a).__name__}; pass a DeviceArray, an int "
                            f"(as .u64/.s64) or a numpy scalar such as np.float32(x)")
    return tuple(values), tuple(types)


def _dims(v: int | Sequence[int], what: str) -> tuple[int, int, int]:
    t = (v,) if isinstance(v, (int, np.integer)) else tuple(v)
    if not 1 <= len(t) <= 3 or any(int(x) < 1 for x in t):
        raise ValueError(f"launch: {what} must be 1 to 3 positive ints, got {v!r}")
    t = tuple(int(x) for x in t) + (1,) * (3 - len(t))
    return t  # type: ignore[return-value]


def launch(fn: Function, grid: int | Sequence[int], block: int | Sequence[int], shmem: int = 0,
           args: Sequence[Any] = ()) -> None:
    """Queue fn<<<grid, block, shmem>>>(*args) on the stream; args are DeviceArrays, ints (c_int64) and numpy scalars.

    >>> launch(fn, grid=132 * 4, block=256, args=(x, y, np.float32(2.0), np.float32(0.5), n))
    """
    d = _device()
    cu = d.cu
    gx, gy, gz = _dims(grid, "grid")
    bx, by, bz = _dims(block, "block")
    if shmem > fn._max_dynamic_shmem:          # above 48 KiB each kernel must opt in
        attr = cu.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
        _check(cu, cu.cuFuncSetAttribute(fn.handle, attr, shmem), f"cuFuncSetAttribute({fn.name}, {shmem} B smem)")
        fn._max_dynamic_shmem = shmem
    params = _kernel_args(args)
    _check(cu, cu.cuLaunchKernel(fn.handle, gx, gy, gz, bx, by, bz, shmem, d.stream, params, 0),
           f"cuLaunchKernel({fn.name}, grid={grid}, block={block})")


def launch_raw(fn: Function, grid: tuple, block: tuple, values: tuple, types: tuple, shmem: int = 0) -> None:
    """launch() without the argument checks, for calls prepared once and made often (compiled programs): grid and
    block are 3-tuples of ints; values/types as cuLaunchKernel's kernelParams (type None: a CUdeviceptr)."""
    d = _device()
    _check(d.cu, d.cu.cuLaunchKernel(fn.handle, *grid, *block, shmem, d.stream, (values, types), 0),
           f"cuLaunchKernel({fn.name}, grid={grid}, block={block})")


def synchronize() -> None:
    """Wait for everything queued on the stream; a kernel fault surfaces here as CudaError."""
    d = _device()
    _check(d.cu, d.cu.cuStreamSynchronize(d.stream), "cuStreamSynchronize")


def time_kernel(fn: Callable[[], Any], reps: int = 20, warmup: int = 2) -> float:
    """Median milliseconds of fn() (which queues GPU work on the stream), each rep timed with a pair of CUDA events."""
    d = _device()
    cu = d.cu
    for _ in range(warmup):
        fn()
    flags = cu.CUevent_flags.CU_EVENT_DEFAULT.value
    events = [(_check(cu, cu.cuEventCreate(flags), "cuEventCreate"), _check(cu, cu.cuEventCreate(flags), "cuEventCreate"))
              for _ in range(reps)]
    try:
        for start, end in events:
            _check(cu, cu.cuEventRecord(start, d.stream), "cuEventRecord")
            fn()
            _check(cu, cu.cuEventRecord(end, d.stream), "cuEventRecord")
        _check(cu, cu.cuEventSynchronize(events[-1][1]), "cuEventSynchronize")
        times = sorted(_check(cu, cu.cuEventElapsedTime(s, e), "cuEventElapsedTime") for s, e in events)
    finally:
        for pair in events:
            for ev in pair:
                cu.cuEventDestroy(ev)
    return float(times[len(times) // 2])
