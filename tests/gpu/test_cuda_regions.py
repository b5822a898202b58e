"""Control flow on the cuda backend (backends/cuda_regions.py): the host loop of launches.

Without a GPU the loop runs against an emulated driver: device memory is host memory, copies are memmoves, and
each launch runs its kernel compiled for the CPU (on the same buffers, through the pointers the loop put in the
slot tables). That checks everything the host loop decides (tables, swapped carries, row offsets, the final
copies, the condition and index read back) against the eager result; on a GPU the real launches run too."""
from __future__ import annotations

import ctypes
from types import SimpleNamespace

import numpy as np
import pytest

import compiler as cc
import runtime
from compiler import pytree
from compiler.backends import cuda as cuda_backend
from compiler.backends.cuda_regions import RegionRunner, _Ptr
from compiler.codegen.llvm import generate
from compiler.ir.kernel import Program

rng = np.random.default_rng(3)


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def scan_fn(h, xs, w):
    def step(c, x):
        c2 = np.tanh(c * w + x)
        return c2, (c2.sum(), c * 2.0)
    return cc.scan(step, h, xs, reverse=True)


def while_fn(x, lim):
    return cc.while_loop(lambda c: c[1].sum() < lim, lambda c: (c[0] + 1, c[1] * 1.5 + 0.25), (np.int32(0), x))


def switch_fn(i, x):
    return cc.switch(i, [lambda a: a + 1.0, lambda a: a * 3.0, lambda a: -a], x)


def nested_fn(h, xs):
    def outer(c, row):
        c2, ys = cc.scan(lambda a, x: (a * 0.5 + x, a.sum()), c, row)
        return cc.cond(ys.sum() > 0, lambda v: v + 1.0, lambda v: v - 1.0, c2), ys
    return cc.scan(outer, h, xs)


CASES = [
    ("scan", scan_fn, lambda: (_f32(3), _f32(5, 3), _f32(3))),
    ("scan0", scan_fn, lambda: (_f32(3), _f32(0, 3), _f32(3))),
    ("scan2", scan_fn, lambda: (_f32(3), _f32(2, 3), _f32(3))),
    ("while", while_fn, lambda: (np.abs(_f32(3)) + 0.1, np.float32(20.0))),
    ("while0", while_fn, lambda: (np.abs(_f32(3)) + 0.1, np.float32(-1.0))),
    ("switch", switch_fn, lambda: (np.int32(1), _f32(4))),
    ("switch_clamped", switch_fn, lambda: (np.int32(9), _f32(4))),
    ("nested", nested_fn, lambda: (_f32(3), _f32(4, 2, 3))),
]


class _Heap:
    """Emulated device memory: one host array; device addresses are host addresses inside it."""

    def __init__(self, nbytes):
        self.mem = np.zeros(nbytes + 64, np.uint8)
        self.base = self.mem.ctypes.data
        self.top = (-self.base) % 64

    def alloc(self, nbytes):
        addr = self.base + self.top
        self.top += -(-max(int(nbytes), 1) // 64) * 64
        assert self.top <= self.mem.size
        return addr

    def view(self, addr, dtype, shape):
        off = addr - self.base
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self.mem[off:off + n].view(dtype).reshape(shape)


class _FakeCu:
    class CUresult:
        CUDA_SUCCESS = 0

    CUdeviceptr = int

    def cuMemcpyDtoDAsync(self, dst, src, n, stream):
        ctypes.memmove(int(dst), int(src), n)
        return (0,)

    def cuMemcpyDtoHAsync(self, host, src, n, stream):
        ctypes.memmove(host, int(src), n)
        return (0,)

    def cuStreamSynchronize(self, stream):
        return (0,)


class _EmulatedExecutable:
    """What RegionRunner needs of a CudaExecutable: _launch_list, here running each launch's kernel on the CPU."""

    def __init__(self, program, heap):
        self.program = program
        self.heap = heap
        self.compiled = {}
        self.launches = 0

    def _kernel_call(self, k):
        got = self.compiled.get(id(k))
        if got is None:
            saved = [b.slot for b in k.buffers]
            for i, b in enumerate(k.buffers):
                b.slot = i
            t = runtime.host_target()
            one = Program("emu", [], [], list(k.buffers), [k], self.program.dims, {})
            ir = generate(one, triple=t.triple, data_layout=t.data_layout, entry="emu_kernel")
            for b, s in zip(k.buffers, saved):
                b.slot = s
            module = runtime.compile_module(ir, version="test-emulated-cuda")
            got = self.compiled[id(k)] = (k, runtime.make_caller(module, "emu_kernel", len(k.buffers),
                                                                 len(self.program.dims)))
        return got[1]

    def _launch_list(self, slots, dims, todo):
        for (lc,) in todo:
            for part in (lc.parts or [lc]):
                k = part.kernel
                arrays = [self.heap.mem[int(slots[b.slot].handle) - self.heap.base:] for b in k.buffers]
                self._kernel_call(k)(*arrays, *dims)
                self.launches += 1


def _run_emulated(fn, args, monkeypatch):
    low = cc.compile(fn, backend="cuda").lower(*args)
    gpu, program = low.gpu_program, low.kernels
    assert gpu.regions
    leaves, _ = pytree.flatten(args)
    heap = _Heap(1 << 20)
    bufs = sorted((b for b in program.buffers if b.role in ("input", "output", "const")), key=lambda b: b.slot)
    slots = {}
    for b in bufs:
        slots[b.slot] = _Ptr(heap.alloc(b.nbytes))
    for i, b in enumerate(program.inputs):
        heap.view(slots[b.slot].handle, b.dtype.np, b.shape)[...] = np.asarray(leaves[i], b.dtype.np)
    for b in program.buffers:
        if b.role == "const":
            heap.view(slots[b.slot].handle, b.dtype.np, b.shape)[...] = b.array
    for s, sizes in program.slot_sizes.items():
        slots[s] = _Ptr(heap.alloc(max(sizes, default=0)))
    if program.status is not None:
        slots[program.status.slot] = _Ptr(heap.alloc(64))
    fake = SimpleNamespace(_device=lambda: SimpleNamespace(cu=_FakeCu(), stream=None),
                           _check=__import__("runtime.cuda", fromlist=["_check"])._check)
    monkeypatch.setattr(cuda_backend, "_cuda", lambda: fake)
    exe = _EmulatedExecutable(program, heap)
    RegionRunner(exe, program.dims).run(gpu.steps, slots, (), {i: (lc,) for i, lc in enumerate(gpu.launches)})
    outs = []
    for kind, x in program.outputs:
        assert kind == "buf"
        outs.append(heap.view(slots[x.slot].handle, x.dtype.np, x.shape).copy())
    return pytree.unflatten(low.out_tree, outs), exe


@pytest.mark.parametrize("name,fn,make", CASES, ids=[c[0] for c in CASES])
def test_host_loop_against_eager_with_an_emulated_device(name, fn, make, monkeypatch):
    args = make()
    got, exe = _run_emulated(fn, args, monkeypatch)
    want = fn(*args)
    g, tg = pytree.flatten(got)
    w, tw = pytree.flatten(want)
    assert tg == tw
    for a, b in zip(g, w):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-6)
    if name == "scan":
        assert exe.launches >= 5           # one body per iteration at least


@pytest.mark.gpu
@pytest.mark.parametrize("name,fn,make", CASES, ids=[c[0] for c in CASES])
def test_host_loop_on_the_gpu(name, fn, make):
    args = make()
    got = cc.compile(fn, backend="cuda")(*args)
    want = fn(*args)
    for a, b in zip(pytree.flatten(got)[0], pytree.flatten(want)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
