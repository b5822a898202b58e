"""runtime.cuda: clean failure without a driver (runs everywhere); on a device, the hand-written kernels against numpy,
memory round trips, copies, the JIT error log, and event timing (marked gpu)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gpu_kernels as K
from compiler.codegen import ptx_support as px
from runtime import cuda
from runtime.errors import CudaError, CudaUnavailable

needs_gpu = pytest.mark.gpu                      # skipped with the reason by conftest.py where no device is usable
HAVE_GPU, WHY = cuda.available()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_available_gives_a_reason():
    ok, reason = cuda.available()
    assert isinstance(ok, bool) and isinstance(reason, str) and reason
    assert cuda.available() == (ok, reason)     # cached, same answer


@pytest.mark.skipif(HAVE_GPU, reason="a CUDA device is present: the no-device path cannot be checked here")
def test_without_device_everything_raises_cuda_unavailable():
    assert "PTX" in WHY                          # the message says compiling to PTX still works
    for call in (lambda: cuda.load_module(".version 7.0"), lambda: cuda.DeviceArray.empty(4),
                 lambda: cuda.DeviceArray.from_numpy(np.zeros(3, np.float32)), cuda.synchronize,
                 lambda: cuda.time_kernel(lambda: None), cuda.device_name):
        with pytest.raises(CudaUnavailable, match="PTX"):
            call()
    assert issubclass(CudaUnavailable, RuntimeError) and issubclass(CudaError, RuntimeError)


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_missing_cuda_bindings_is_unavailable_not_a_crash():
    p = _fresh_python("import sys; sys.modules['cuda'] = None\n"
                      "from runtime import cuda\n"
                      "ok, why = cuda.available(); assert not ok and 'cuda-bindings' in why, why\n"
                      "from runtime.errors import CudaUnavailable\n"
                      "try: cuda.DeviceArray.empty(3)\n"
                      "except CudaUnavailable as e: print('raised', e)\n")
    assert p.returncode == 0, p.stderr
    assert "raised no CUDA support" in p.stdout


def test_launch_argument_types_are_checked():
    values, types = cuda._kernel_args([3, np.float32(2.0), np.float64(1.0), np.int32(7)])
    assert values == (3, 2.0, 1.0, 7)
    assert [t.__name__ for t in types] == ["c_long", "c_float", "c_double", "c_int"]
    with pytest.raises(TypeError, match="np.float32"):
        cuda._kernel_args([1.5])
    with pytest.raises(TypeError, match="bool"):
        cuda._kernel_args([True])


# --------------------------------------------------------------------------------------------------------- device


def _grid(n: int, block: int) -> int:
    return max(1, min((n + block - 1) // block, cuda.multiprocessor_count() * 8))


@needs_gpu
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_elementwise_tanh_matches_numpy(dtype):
    np_dt = np.float32 if dtype == "f32" else np.float64
    fn = cuda.load_module(px.module_to_ptx(K.elementwise_tanh_module(dtype), cuda.arch())).function("ew_tanh")
    n = 1_000_003                                # not a multiple of the block
    x = np.random.default_rng(0).standard_normal(n).astype(np_dt) * 3
    a, c = np_dt(1.5), np_dt(-0.25)
    dx, dy = cuda.DeviceArray.from_numpy(x), cuda.empty(n, np_dt)
    cuda.launch(fn, _grid(n, 256), 256, 0, (dx, dy, a, c, n))
    y = dy.numpy()
    # the kernel rounds a*x + c once (fma); a = 1.5 makes a*x + c exact in long double, so round it once here too
    arg = (np.longdouble(a) * x.astype(np.longdouble) + np.longdouble(c)).astype(np_dt)
    ref = np.tanh(arg.astype(np.float64))
    np.testing.assert_allclose(y, ref, rtol=6 * np.finfo(np_dt).eps, atol=np.finfo(np_dt).tiny)


@needs_gpu
@pytest.mark.parametrize("rows, cols", [(37, 1000), (5, 7), (3, 256 * 5 + 3)])
def test_row_max_sum_matches_numpy(rows, cols):
    fn = cuda.load_module(px.module_to_ptx(K.row_reduce_module(), cuda.arch())).function("row_max_sum")
    x = np.random.default_rng(1).standard_normal((rows, cols)).astype(np.float32)
    x[rows // 2, cols // 3] = np.nan             # max and sum propagate NaN like numpy
    dx = cuda.DeviceArray.from_numpy(x)
    dmax, dsum = cuda.empty(rows, np.float32), cuda.empty(rows, np.float32)
    cuda.launch(fn, rows, K.ROW_BLOCK, 0, (dx, dmax, dsum, cols))
    np.testing.assert_array_equal(dmax.numpy(), x.max(axis=1))
    np.testing.assert_allclose(dsum.numpy(), x.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-4)


# Max ulps on the device: f32 exp/logistic use ex2.approx (about 2 ulp of its own); approx=True is MUFU only.
DEVICE_ULP = {"exp": 3, "expm1": 2, "log": 2, "tanh": 3, "logistic": 4, "sin": 2, "cos": 2, "sqrt": 0.5}
APPROX_ABS = {"exp": None, "log": 2e-6, "tanh": 1e-3, "logistic": None, "sin": 1e-6, "cos": 1e-6}


@needs_gpu
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_math_emitters_on_device(dtype):
    np_dt = np.float32 if dtype == "f32" else np.float64
    mod = cuda.load_module(px.module_to_ptx(K.math_module(dtype), cuda.arch()))
    errors = {}
    for name in K.MATH:
        x = K.math_inputs(name, np_dt)
        dy = cuda.empty(x.size, np_dt)
        cuda.launch(mod.function(f"math_{name}"), _grid(x.size, 256), 256, 0,
                    (cuda.DeviceArray.from_numpy(x), dy, x.size))
        errors[name] = K.max_ulp(dy.numpy(), x, name)
    print(dtype, {k: round(v, 2) for k, v in errors.items()})
    bad = {k: v for k, v in errors.items() if v > DEVICE_ULP[k] + (1 if dtype == "f64" else 0)}
    assert not bad, f"max ulp over the bound: {bad}"


@needs_gpu
def test_approx_math_on_device():
    mod = cuda.load_module(px.module_to_ptx(K.math_module("f32", approx=True), cuda.arch()))
    for name in ("log", "tanh", "sin", "cos"):
        x = K.math_inputs(name, np.float32)
        if name in ("sin", "cos"):
            x = x[np.abs(x) < np.pi]               # sin.approx is accurate on [-pi, pi] only
        if name == "log":
            x = x[(x > 1e-3) & (x < 1e3)]
        dy = cuda.empty(x.size, np.float32)
        cuda.launch(mod.function(f"math_{name}"), _grid(x.size, 256), 256, 0,
                    (cuda.DeviceArray.from_numpy(x), dy, x.size))
        ref = K.NUMPY_MATH[name](x.astype(np.float64))
        err = np.abs(dy.numpy() - ref) / (np.abs(ref) if name == "tanh" else 1.0)
        assert err.max() <= APPROX_ABS[name], (name, err.max())


@needs_gpu
def test_memory_round_trip_copy_and_zeros():
    a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    d = cuda.DeviceArray.from_numpy(a)
    assert d.shape == (2, 3, 4) and d.dtype == np.float64 and d.nbytes == a.nbytes and d.ptr != 0
    e = cuda.empty((2, 3, 4), np.float64)
    cuda.copy(e, d)
    np.testing.assert_array_equal(e.numpy(), a)
    np.testing.assert_array_equal(cuda.DeviceArray.zeros(5, np.int32).numpy(), np.zeros(5, np.int32))
    assert cuda.empty(0, np.float32).numpy().shape == (0,)
    with pytest.raises(ValueError, match="bytes"):
        cuda.copy(cuda.empty(3), d)
    for _ in range(50):                          # freed on GC: 50 x 256 MB would not fit otherwise
        cuda.empty(64 << 20, np.float32)


@needs_gpu
def test_bad_ptx_gives_jit_log_and_missing_kernel_is_named():
    ptx = px.module_to_ptx(K.elementwise_tanh_module(), cuda.arch())
    with pytest.raises(CudaError, match="(?s)cuModuleLoadDataEx.*JIT log"):
        cuda.load_module(ptx.replace("fma.rn.f32", "fma.bogus.f32", 1))
    with pytest.raises(CudaError, match="nope"):
        cuda.load_module(ptx).function("nope")


@needs_gpu
def test_time_kernel_and_device_info():
    assert cuda.arch().startswith("sm_") and cuda.device_name()
    fn = cuda.load_module(px.module_to_ptx(K.elementwise_tanh_module(), cuda.arch())).function("ew_tanh")
    n = 1 << 20
    dx, dy = cuda.DeviceArray.zeros(n), cuda.empty(n)
    ms = cuda.time_kernel(lambda: cuda.launch(fn, _grid(n, 256), 256, 0, (dx, dy, np.float32(1), np.float32(0), n)),
                          reps=5)
    assert 0 < ms < 1000
    cuda.synchronize()
