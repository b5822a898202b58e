"""DLPack: compiled functions take any array with __dlpack__ (no copy where the layout allows); device arrays
export and import DLPack capsules (checked here on host memory: the capsule layout is the same)."""
from __future__ import annotations

import ctypes
import gc

import numpy as np
import pytest

import compiler as cc
import runtime.cuda as rcuda
from runtime import dlpack


class Foreign:
    """An array of 'another library': only the DLPack protocol, no __array__ (NumPy's own capsules inside)."""

    def __init__(self, a):
        self.a = a
        self.exports = 0

    def __dlpack__(self, **kw):
        self.exports += 1
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def _mlp(params, x):
    h = np.tanh(x @ params["w"] + params["b"])
    return (h * h).sum(axis=1)


def test_dlpack_inputs_give_numpy_results():
    rng = np.random.default_rng(0)
    p = {"w": rng.standard_normal((6, 5)).astype(np.float32), "b": rng.standard_normal(5).astype(np.float32)}
    x = rng.standard_normal((7, 6)).astype(np.float32)
    f = cc.compile(_mlp)
    want = f(p, x)
    fx = Foreign(x)
    got = f({"w": Foreign(p["w"]), "b": Foreign(p["b"])}, fx)
    np.testing.assert_array_equal(got, want)
    assert fx.exports == 1 and f.cache_info()["compiles"] == 1           # the same signature as NumPy's
    np.testing.assert_allclose(want, _mlp({k: v.astype(np.float64) for k, v in p.items()}, x.astype(np.float64)),
                               rtol=1e-5)
    g = cc.compile(lambda a, b: a * b + 1.0)
    np.testing.assert_array_equal(g(Foreign(x), x), x * x + np.float32(1.0))
    low = g.lower(x, x)                                                  # an executable converts them too
    np.testing.assert_array_equal(low(Foreign(x), Foreign(x)), x * x + np.float32(1.0))


def test_dlpack_views_without_copy_and_converts_strided():
    from compiler.inputs import from_dlpack, is_foreign_array
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert is_foreign_array(Foreign(x)) and not is_foreign_array(x)
    v = from_dlpack(Foreign(x))
    assert np.shares_memory(v, x)                                        # zero copy on the host
    f = cc.compile(lambda a: a.sum(axis=0))
    np.testing.assert_array_equal(f(Foreign(x.T)), x.T.sum(axis=0))      # strided: converted, same answer
    with pytest.raises(cc.DTypeError):
        f(Foreign(np.ones(3, np.float16)))                               # as for a float16 NumPy array


def test_cuda_memory_on_the_cpu_backend_is_refused():
    class OnGpu(Foreign):
        def __dlpack_device__(self):
            return (2, 0)
    f = cc.compile(lambda a: a + 1)
    with pytest.raises(cc.BackendError, match=r"x\.cpu\(\).*backend='cuda'"):
        f(OnGpu(np.ones(3, np.float32)))


class _Capsule:
    def __init__(self, capsule, device):
        self.capsule, self.device = capsule, device

    def __dlpack__(self, **kw):
        return self.capsule

    def __dlpack_device__(self):
        return self.device


def test_exported_capsules_read_back_by_numpy():
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    before = dlpack.live_exports()
    cap = dlpack.export(a.ctypes.data, a.shape, a.dtype, (dlpack.CPU, 0), owner=a)
    b = np.from_dlpack(_Capsule(cap, (dlpack.CPU, 0)))                   # NumPy consumes our capsule
    assert b.shape == (2, 3, 4) and b.dtype == np.int32 and np.shares_memory(a, b)
    np.testing.assert_array_equal(b, a)
    assert dlpack.live_exports() == before + 1
    del b, cap
    gc.collect()
    assert dlpack.live_exports() == before                               # NumPy called our deleter
    dropped = dlpack.export(a.ctypes.data, a.shape, a.dtype, (dlpack.CPU, 0), owner=a)
    del dropped                                                          # never consumed: the capsule frees it
    gc.collect()
    assert dlpack.live_exports() == before
    for dt in (np.float32, np.float64, np.int64, np.uint8, np.bool_):
        z = np.zeros(5, dt)
        info = dlpack.consume(dlpack.export(z.ctypes.data, z.shape, z.dtype, (dlpack.CPU, 0), owner=z))
        assert info.dtype == np.dtype(dt) and info.shape == (5,) and info.ptr == z.ctypes.data


def test_consume_reads_numpy_capsules():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    info = dlpack.consume(x.__dlpack__())
    assert (info.ptr, info.device, info.dtype, info.shape) == (x.ctypes.data, (1, 0), np.dtype(np.float32), (3, 4))
    assert info.c_contiguous
    t = dlpack.consume(x.T.__dlpack__())
    assert t.strides == (1, 4) and not t.c_contiguous
    cap = x.__dlpack__()
    dlpack.consume(cap)
    with pytest.raises(TypeError, match="unconsumed"):                   # a capsule is taken once
        dlpack.consume(cap)


class _FakeDevice:
    """Just enough of runtime.cuda's device state to run DeviceArray's DLPack code on host memory."""

    class cu:
        CUdeviceptr = int

    stream = 0


def test_device_array_exports_and_imports(monkeypatch):
    monkeypatch.setattr(rcuda, "_device", lambda: _FakeDevice)
    monkeypatch.setattr(rcuda, "synchronize", lambda: None)
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = rcuda.DeviceArray.__new__(rcuda.DeviceArray)
    d.shape, d.dtype, d.size, d.nbytes, d.handle = (2, 3), host.dtype, 6, 24, host.ctypes.data
    assert d.__dlpack_device__() == (2, 0)
    info = dlpack.consume(d.__dlpack__())
    assert (info.ptr, info.device, info.shape, info.dtype) == (host.ctypes.data, (2, 0), (2, 3), host.dtype)
    with pytest.raises(BufferError):
        d.__dlpack__(dl_device=(1, 0))

    class TorchLike:                       # a CUDA tensor of another library (memory: host, for this test)
        def __init__(self, a):
            self.a, self.stream = a, "unset"

        def __dlpack__(self, stream=None):
            self.stream = stream
            return dlpack.export(self.a.ctypes.data, self.a.shape, self.a.dtype, (2, 0), owner=self.a)

        def __dlpack_device__(self):
            return (2, 0)
    t = TorchLike(host)
    v = rcuda.DeviceArray.from_dlpack(t)
    assert v.ptr == host.ctypes.data and v.shape == (2, 3) and v.dtype == np.float32 and v.nbytes == 24
    assert t.stream == 1                   # our stream (0 here: the legacy default one) passed to the producer
    class Strided(TorchLike):
        def __dlpack__(self, stream=None):
            return self.a.__dlpack__()        # NumPy's capsule of a transposed view: strides (1, 3)
    with pytest.raises(ValueError, match="C-contiguous"):
        rcuda.DeviceArray.from_dlpack(Strided(np.ones((3, 2), np.float32).T))
    with pytest.raises(TypeError, match="not a CUDA device"):
        rcuda.DeviceArray.from_dlpack(Foreign(host))


def test_torch_tensors_give_numpy_results():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    f = cc.compile(lambda x, w: np.tanh(x @ w))
    np.testing.assert_array_equal(f(torch.from_numpy(x), torch.from_numpy(w)), f(x, w))
    np.testing.assert_allclose(f(torch.from_numpy(x), torch.from_numpy(w)),
                               torch.tanh(torch.from_numpy(x) @ torch.from_numpy(w)).numpy(), rtol=1e-5, atol=1e-6)
    from compiler.inputs import from_dlpack
    tx = torch.from_numpy(x)
    assert from_dlpack(tx).ctypes.data == tx.data_ptr()          # read in place
    out = f(tx, torch.from_numpy(w))
    assert torch.from_dlpack(out).data_ptr() == out.ctypes.data  # and results go back without a copy
    with pytest.raises(cc.DTypeError, match="detach"):
        f(torch.ones(5, 4, requires_grad=True), torch.from_numpy(w))
    t = torch.from_numpy(x).t()                                  # a strided view
    np.testing.assert_array_equal(cc.compile(lambda a: a * 2)(t), x.T * 2)


def test_ctypes_structs_match_the_dlpack_header():
    # dlpack.h: DLTensor is {void*, DLDevice(2 x i32), i32, DLDataType(u8,u8,u16), i64*, i64*, u64}
    assert ctypes.sizeof(dlpack.DLTensor) == 48
    assert dlpack.DLTensor.shape.offset == 24 and dlpack.DLTensor.byte_offset.offset == 40
    assert ctypes.sizeof(dlpack.DLManagedTensor) == 64
