"""The "cuda" backend of cc.compile: the CPU pipeline's loop-level kernels as PTX (codegen/ptx.py), run through
runtime.cuda. Registered when `compiler` is imported, so `.ptx()` works on any lowered function.

    step = cc.compile(train_step, backend="cuda")              # arch="sm_90" to target Hopper; default sm_80
    params, loss = step(params, x, y)                          # NumPy in -> NumPy out (copies both ways)
    dparams = cc.cuda.to_device(params)                        # runtime.cuda.DeviceArray leaves
    dparams, loss = step(dparams, x, y)                        # any DeviceArray in -> DeviceArrays out
    cc.cuda.to_host(loss)                                      # NumPy again (any pytree)

Outputs live where the inputs live: when any argument leaf is a DeviceArray every output is a fresh DeviceArray
(nothing is copied back, so parameters stay on the device across training steps); otherwise they are NumPy
arrays. Without a driver or device, calling raises BackendError (compiling and `.ptx()` still work).

NOTE: like the rest of compiler/backends this module implements `cc.compile`, so it may import runtime/ (lazily).
"""
from __future__ import annotations

import contextlib

import threading

import numpy as np
from ..lazy import sympy

from .. import pytree
from .build import Lowered, register_backend, program_meta
from .executable import Executable, fits_signature
from . import profile as _profile
from ..errors import BackendError, DTypeError
from ..inputs import C_ALIGNED
from ..lower.checks import STATUS_WORDS
from runtime import status as rt_status

FLAT_WAVES = 16               # flat launches: at most this many blocks per SM (grid-stride covers the rest)


def _cuda():
    import runtime.cuda as cuda
    return cuda


def default_arch():
    from ..codegen import ptx_support as px       # NOTE: at call time: it imports llvmlite
    return px.DEFAULT_ARCH


class CudaLowered(Lowered):
    """A function lowered for the GPU: `.llvm_ir()` is the NVPTX module, `.ptx()` its PTX for `.arch`,
    `.launches` the GPU launches in run order (`.describe()` prints them)."""

    def __init__(self, graph, backend, name, out_tree, arch=None):
        super().__init__(graph, backend, name, out_tree)
        self.arch = arch or default_arch()
        self._gpu = None

    @property
    def gpu_program(self):
        if self._gpu is None:
            from ..codegen.ptx import generate
            import time
            t0 = time.perf_counter()
            self._gpu = generate(self.kernels, self.name)
            self.timings["codegen"] = time.perf_counter() - t0
        return self._gpu

    @property
    def launches(self):
        return self.gpu_program.launches

    def describe(self):
        return self.gpu_program.describe()

    def llvm_ir(self) -> str:
        return self.gpu_program.llvm_ir

    def ptx(self, arch=None) -> str:
        return cached_ptx(self.gpu_program, arch or self.arch, self.timings)

    def optimized_llvm_ir(self) -> str:
        raise BackendError("cuda: the optimized NVPTX IR is not kept; .llvm_ir() and .ptx() show the GPU code")

    def asm(self) -> str:
        raise BackendError("cuda: no SASS disassembly here; .ptx() is the GPU code (assemble it with ptxas)")


def _ptx_key(llvm_ir: str, arch: str) -> str:
    import llvmlite
    from llvmlite import binding
    from runtime import cache
    from ..codegen import ptx_support as px
    from ..version import __version__
    return cache.make_key(llvm_ir, triple=px.TRIPLE, cpu=arch, features="ptx", data_layout="",
                          llvmlite_version=llvmlite.__version__,
                          llvm_version=".".join(map(str, binding.llvm_version_info)), opt=3,
                          version=f"{__version__} {_pipeline_digest()}")


def _pipeline_digest() -> str:
    """sha256 of codegen/ptx_support.py, which holds the NVPTX pipeline (module_to_ptx): a changed pipeline is a new
    cache entry for the same IR."""
    global _DIGEST
    if _DIGEST is None:
        import hashlib
        from ..codegen import ptx_support as px
        with open(px.__file__, "rb") as fh:
            _DIGEST = hashlib.sha256(fh.read()).hexdigest()
    return _DIGEST


_DIGEST = None


def cached_ptx(gpu, arch: str, timings=None) -> str:
    """gpu.ptx(arch) through the disk cache (runtime/cache.py, entries of kind "ptx"): LLVM's NVPTX pipeline and
    code generation cost 0.5-1.5 s a program in every process; a later process reads the PTX text instead (the
    driver keeps its own cache of what it assembles from PTX). Keyed by the module's IR text, the arch, LLVM's and
    vive's versions and the pipeline's source."""
    import time
    from runtime import cache
    text = gpu._ptx.get(arch)
    if text is not None:
        return text
    t0 = time.perf_counter()
    key = _ptx_key(gpu.llvm_ir, arch)
    entry = cache.load(key)
    if entry is not None and entry[1].get("kind") == "ptx":
        try:
            text = entry[0].decode()
        except UnicodeDecodeError:
            text = None
    hit = text is not None
    if not hit:
        text = gpu.ptx(arch)
        cache.store(key, text.encode(), {"kind": "ptx", "arch": arch})
    gpu._ptx[arch] = text
    if timings is not None:
        timings["ptx"] = time.perf_counter() - t0
        timings["ptx_cache_hit"] = hit
    return text


class CudaBackend:
    """What `register_backend("cuda", ...)` gives cc.compile: build() and ptx()."""

    def build(self, lowered, arch=None):
        low = CudaLowered(lowered.graph, "cuda", lowered.name, lowered.out_tree, arch)
        low.check_indices = getattr(lowered, "check_indices", True)
        program = low.kernels
        gpu = low.gpu_program
        ptx = cached_ptx(gpu, low.arch, low.timings)
        meta, consts = program_meta(program, gpu.llvm_ir, gpu.name)
        low.executable = CudaExecutable(meta, gpu, ptx, consts, list(low.graph.in_types), low.out_tree, low.name,
                                        program)
        return low

    def profile(self, exe, leaves, repeat=10, warmup=1):
        """f.profile() on the GPU: each launch between a pair of CUDA events, `repeat` calls (backends/profile.py)."""
        return profile_launches(exe, leaves, repeat, warmup)

    def ptx(self, lowered, arch=None):
        """PTX of any lowered function (a CPU-lowered one too: its kernels, emitted for the GPU)."""
        if isinstance(lowered, CudaLowered):
            return lowered.ptx(arch)
        from ..codegen.ptx import generate
        gpu = getattr(lowered, "_cuda_gpu_program", None)
        if gpu is None:
            gpu = generate(lowered.kernels, lowered.name)
            lowered._cuda_gpu_program = gpu
        return cached_ptx(gpu, arch or getattr(lowered, "arch", None) or default_arch())


register_backend("cuda", CudaBackend)


# ---- running ----

def _cdiv(a, b):
    return -(-a // b)


def _lambdify(dims, exprs):
    """A function dims tuple -> tuple of ints for a list of size expressions (ints or sympy)."""
    if all(isinstance(e, int) for e in exprs):
        const = tuple(exprs)
        return lambda d: const
    syms = list(dims)
    fn = sympy.lambdify([syms], [sympy.sympify(e) for e in exprs], modules=["math"])
    return lambda d: tuple(int(v) for v in fn(list(d)))


class _DeviceState:
    """What a loaded program needs on the device: the module's functions and the constants."""

    def __init__(self, ptx, gpu, consts):
        cuda = _cuda()
        self.module = cuda.load_module(ptx)
        self.functions = [self.module.function(lc.entry) for lc in gpu.launches]
        self.consts = [cuda.DeviceArray.from_numpy(np.ascontiguousarray(c)) for c in consts]
        self.sm_count = cuda.multiprocessor_count()


class CudaExecutable(Executable):
    """Runs a PtxProgram: uploads NumPy arguments, queues every launch on the stream, returns NumPy arrays or
    (when any argument is a DeviceArray) DeviceArrays. Temporaries are allocated once per dims and thread."""

    def __init__(self, meta, gpu, ptx, consts, in_types, out_tree, name, program):
        super().__init__(meta, None, consts, in_types, out_tree, name)
        self.gpu = gpu
        self.ptx = ptx
        self.program = program
        self._dev = None
        self._dev_lock = threading.Lock()
        n_in, n_out, n_const = len(program.inputs), len(meta["out_bufs"]), len(consts)
        self._n_fixed = n_in + n_out + n_const
        launches = gpu.launches
        self._arg_slots = [[b.slot for b in lc.bufs] for lc in launches]
        exprs = []
        for lc in launches:
            exprs += [lc.work, lc.work_yz[0], lc.work_yz[1]]
        self._sizes = _lambdify(program.dims, exprs)
        self._types = [(None,) * len(lc.bufs) + (_c_int64(),) * len(program.dims) for lc in launches]
        self._plans = {}
        self._plan_maps = {}

    def _device(self):
        if self._dev is None:
            with self._dev_lock:
                if self._dev is None:
                    try:
                        self._dev = _DeviceState(self.ptx, self.gpu, self._consts)
                    except Exception as e:
                        raise _backend_error(e) from None
        return self._dev

    def convert(self, leaves):
        cuda = _cuda()
        if len(leaves) != self.n_in:
            raise TypeError(f"{self.name}: expected {self.n_in} array arguments, got {len(leaves)}")
        out = []
        for i, (x, want) in enumerate(zip(leaves, self._np_dtypes)):
            if isinstance(x, cuda.DeviceArray):
                if x.dtype != want:
                    raise DTypeError(f"{self.name}: argument {i} is a device array of {x.dtype}, compiled for "
                                     f"{self.in_types[i]}")
                out.append(x)
            elif type(x) is not np.ndarray or x.dtype != want or x.flags.num & C_ALIGNED != C_ALIGNED:
                out.append(self._convert_one(i, x, want))
            else:
                out.append(x)
        return out

    def fits(self, leaves):
        """Whether these (already converted) arrays, NumPy or device, fit the symbolic signature and its guards."""
        return fits_signature(leaves, self.in_types) is True and self.guards_hold(leaves)

    def _temps(self, dims, slot_bytes):
        cache = getattr(self._tls, "dev_temps", None)
        if cache is None:
            cache = self._tls.dev_temps = {}
        arrs = cache.get(dims)
        if arrs is None:
            cuda = _cuda()
            if len(cache) > 4:
                cache.clear()
            arrs = cache[dims] = [cuda.DeviceArray((int(n),), np.uint8) for n in slot_bytes]
        return arrs

    def run(self, leaves, checked=False):
        arrays = leaves if checked else self.convert(leaves)
        if self.static:
            if not checked:
                for i, (a, t) in enumerate(zip(arrays, self.in_types)):
                    if tuple(a.shape) != t.shape:
                        raise ValueError(f"{self.name}: argument {i} has shape {tuple(a.shape)}, compiled for {t}")
            dims = ()
            shapes = self._out_shapes_static
            slot_bytes = self._slot_bytes_static
        else:
            dims = tuple(int(arrays[i].shape[ax]) for i, ax in self._dim_src)
            if not checked:
                self._check_shapes(arrays, dims)
            shapes = self._out_shape_fn(dims)
            slot_bytes = [max(s) if s else 0 for s in self._slot_fn(dims)]
        dev = self._device()
        cuda = _cuda()
        with cuda_errors():
            on_device = any(isinstance(a, cuda.DeviceArray) for a in arrays)
            ins = [a if isinstance(a, cuda.DeviceArray) else cuda.DeviceArray.from_numpy(a, pooled=True)
                   for a in arrays]
            outs = [cuda.DeviceArray.pooled(s, dt) for s, dt in zip(shapes, self._out_dtypes)]
            status = self._dev_status(cuda)
            slots = ins + outs + dev.consts + self._temps(dims, slot_bytes) + status
            if _profile._process is not None:        # VIVE_PROFILE: each launch between events, traced
                _evented_run(self, dev, slots, dims).trace(_profile._process)
            else:
                self._launch_all(dev, slots, dims)
            if status:
                # NOTE: the index checks' status word (lower/checks.py) is read back after the launches: one small
                # copy that waits for the queued work (device-resident calls give up running ahead of the host)
                rt_status.raise_for(status[0].numpy(), self._checks)
            res = []
            for kind, x in self._outs:
                if kind == "buf":
                    res.append(outs[x])
                elif kind == "input":
                    res.append(_dev_copy(cuda, ins[x]))
                else:
                    res.append(_dev_copy(cuda, res[x]))
            if not on_device:
                res = [r.numpy() for r in res]
        if self._single:
            return res[0]
        return pytree.unflatten(self.out_tree, res)

    def launcher(self, *args):
        """(queue, outputs): queue() runs the program's launches again on these arguments, writing the same
        output DeviceArrays, with no allocation and no copies: what benchmarks time with CUDA events."""
        dev, slots, dims, outs = self._device_slots(args)
        return (lambda: self._launch_all(dev, slots, dims)), outs

    def _device_slots(self, args):
        """(device, slots, dims, outputs) for running the launches on `args`: inputs moved to the device (device
        arrays as they are), fresh outputs and scratch sized for these dims."""
        leaves, _ = pytree.flatten(args)
        arrays = self.convert(leaves)
        cuda = _cuda()
        dev = self._device()
        ins = [a if isinstance(a, cuda.DeviceArray) else cuda.DeviceArray.from_numpy(a) for a in arrays]
        if self.static:
            dims, shapes, slot_bytes = (), self._out_shapes_static, self._slot_bytes_static
        else:
            dims = tuple(int(ins[i].shape[ax]) for i, ax in self._dim_src)
            shapes = self._out_shape_fn(dims)
            slot_bytes = [max(s) if s else 0 for s in self._slot_fn(dims)]
        outs = [cuda.DeviceArray(s, dt) for s, dt in zip(shapes, self._out_dtypes)]
        slots = (ins + outs + dev.consts + [cuda.DeviceArray((int(n),), np.uint8) for n in slot_bytes]
                 + self._dev_status(cuda))
        return dev, slots, dims, outs

    def _dev_status(self, cuda):
        """[a zeroed device status array] for a program with run-time checks, else []."""
        if not self._checks:
            return []
        return [cuda.DeviceArray.from_numpy(np.zeros(STATUS_WORDS, np.int64), pooled=True)]

    def profile(self, *args, reps=10):
        """[(entry, kind, median ms)] of each launch run alone on these arguments (CUDA events), in run order:
        where a program's GPU time goes. The outputs are overwritten (split-K and reductions accumulate)."""
        if self.gpu.regions:
            raise BackendError(f"cuda: profile() times launches one by one; {self.name} holds control flow, whose "
                               f"launches run from a host loop (time the whole call instead)")
        dev, slots, dims, _ = self._device_slots(args)
        cuda = _cuda()
        kinds = {lc.entry: lc.kind for lc in self.gpu.launches}
        out = []
        for one in self._launch_plan(dev, dims):
            ms = cuda.time_kernel(lambda: self._launch_list(slots, dims, [one]), reps=reps)
            out.append((one[5], kinds[one[5]], ms))
        return out

    def _launch_plan(self, dev, dims):
        """[(function handle, grid, block, argument slots, argument types, entry)] of the launches that run at
        these dims (empty grids left out), computed once per dims."""
        plan = self._plans.get(dims)
        if plan is not None:
            return plan
        sizes = self._sizes(dims)
        sm = dev.sm_count
        plan, by_index = [], {}
        for k, (lc, fn) in enumerate(zip(self.gpu.launches, dev.functions)):
            w, wy, wz = sizes[3 * k:3 * k + 3]
            if w <= 0 or wy <= 0 or wz <= 0:
                continue
            if lc.kind == "flat":
                grid = (min(_cdiv(w, lc.block), sm * FLAT_WAVES), 1, 1)
            elif lc.kind == "rows":
                grid = (min(w, sm * max(1, 2048 // lc.block) * 2), min(wy, 65535), 1)
            elif lc.kind == "gemm":
                grid = (_cdiv(w, 128), min(_cdiv(wy, 128), 65535), min(wz, 65535))
            else:
                grid = (1, 1, 1)
            plan.append((fn.handle, grid, (lc.block, 1, 1), tuple(self._arg_slots[k]), self._types[k], lc.entry))
            by_index[k] = plan[-1]
        if len(self._plans) > 8:
            self._plans.clear()
            self._plan_maps.clear()
        self._plans[dims] = plan
        self._plan_maps[dims] = by_index
        return plan

    def _launch_all(self, dev, slots, dims):
        # NOTE: the driver is called directly (not through cuda.launch_raw): with ~50 launches a training step,
        # the per-launch Python work (lock, context check, message formatting) is a visible part of a step.
        plan = self._launch_plan(dev, dims)
        if self.gpu.regions:        # control flow: launches in the order of the program's steps, loops on the host
            from .cuda_regions import RegionRunner
            RegionRunner(self, self.program.dims).run(self.gpu.steps, slots, dims, self._plan_maps[dims])
            return
        self._launch_list(slots, dims, plan)

    def _launch_list(self, slots, dims, plan):
        cuda = _cuda()
        d = cuda._device()
        cu, stream = d.cu, d.stream
        ok = cu.CUresult.CUDA_SUCCESS
        launch = cu.cuLaunchKernel
        for handle, grid, block, idx, types, entry in plan:
            values = tuple([slots[s].handle for s in idx]) + dims
            err = launch(handle, grid[0], grid[1], grid[2], block[0], 1, 1, 0, stream, (values, types), 0)[0]
            if err != ok:
                cuda._check(cu, (err,), f"cuLaunchKernel({entry}, grid={grid}, block={block})")


def launch_info(exe):
    """The profile's view of a program's GPU launches (KernelInfo: entries, kinds, bytes moved, flops)."""
    info = getattr(exe, "_launch_info", None)
    if info is None:
        from .profile import KernelInfo
        from ..ir.kernel import Kernel
        launches = [Kernel(lc.entry, lc.kind, lc.stmts) for lc in exe.gpu.launches]
        info = exe._launch_info = KernelInfo(exe.name, launches, exe.program.dims, backend="cuda")
    return info


def profile_launches(exe, leaves, repeat=10, warmup=1):
    """A Profile of `repeat` runs of exe's launches, each launch between CUDA events (see _evented_run)."""
    if repeat < 1:
        raise ValueError(f"profile: repeat must be >= 1, got {repeat}")
    with cuda_errors():
        dev, slots, dims, _ = exe._device_slots(leaves)
        for _ in range(warmup):
            exe._launch_all(dev, slots, dims)
        records = [_evented_run(exe, dev, slots, dims) for _ in range(repeat)]
    return _profile.Profile(exe.name, records, [(r.t0, r.t1) for r in records], backend="cuda")


def _evented_run(exe, dev, slots, dims):
    """Run exe's launches once with an event recorded before the first and after each: a CallRecord whose spans
    are the times between neighbouring events, placed on the host clock from when the first event was queued."""
    import time
    cuda = _cuda()
    d = cuda._device()
    cu = d.cu
    info = launch_info(exe)
    index = {name: i for i, name in enumerate(info.names)}
    plan = exe._launch_plan(dev, dims)
    flags = cu.CUevent_flags.CU_EVENT_DEFAULT.value
    events = []
    try:
        for _ in range(len(plan) + 1):
            events.append(cuda._check(cu, cu.cuEventCreate(flags), "cuEventCreate"))
        t0 = time.perf_counter_ns()
        cuda._check(cu, cu.cuEventRecord(events[0], d.stream), "cuEventRecord")
        for j, one in enumerate(plan):
            exe._launch_list(slots, dims, [one])
            cuda._check(cu, cu.cuEventRecord(events[j + 1], d.stream), "cuEventRecord")
        cuda._check(cu, cu.cuEventSynchronize(events[-1]), "cuEventSynchronize")
        t1 = time.perf_counter_ns()
        at = [0.0] + [cuda._check(cu, cu.cuEventElapsedTime(events[0], e), "cuEventElapsedTime") for e in events[1:]]
    finally:
        for e in events:
            cu.cuEventDestroy(e)
    stamps = [t0] * (2 * len(info.names))          # launches skipped at these dims: empty spans
    for j, one in enumerate(plan):
        i = index[one[5]]
        stamps[2 * i] = t0 + int(at[j] * 1e6)
        stamps[2 * i + 1] = t0 + int(at[j + 1] * 1e6)
    return _profile.CallRecord(info, t0, t1, stamps, tuple(dims), threading.get_native_id())


def _c_int64():
    import ctypes
    return ctypes.c_int64


def _dev_copy(cuda, a):
    out = cuda.DeviceArray.pooled(a.shape, a.dtype)
    cuda.copy(out, a)
    return out


@contextlib.contextmanager
def cuda_errors():
    """The driver's errors (no device, a failed launch) become BackendError saying that .ptx() still works."""
    try:
        yield
    except BackendError:
        raise
    except Exception as e:
        if type(e).__name__ in ("CudaError", "CudaUnavailable"):
            raise _backend_error(e) from None
        raise


def _backend_error(e):
    msg = str(e)
    if ".ptx()" not in msg:
        msg += "; compiling to PTX (`.ptx()`) still works without a GPU"
    return BackendError(f"cuda: {msg}")


# ---- moving pytrees ----

def to_device(tree):
    """A pytree with every array leaf copied to the GPU as a runtime.cuda.DeviceArray (DeviceArrays kept)."""
    cuda = _cuda()
    leaves, td = pytree.flatten(tree)
    with cuda_errors():
        out = [x if isinstance(x, cuda.DeviceArray) else cuda.DeviceArray.from_numpy(np.asarray(x))
               for x in leaves]
    return pytree.unflatten(td, out)


def to_host(tree):
    """A pytree with every DeviceArray leaf copied back as a NumPy array (waits for queued GPU work)."""
    cuda = _cuda()
    leaves, td = pytree.flatten(tree)
    return pytree.unflatten(td, [x.numpy() if isinstance(x, cuda.DeviceArray) else x for x in leaves])


def available():
    """(True, device description) when compiled cuda functions can run here, else (False, why not)."""
    return _cuda().available()
