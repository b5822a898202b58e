"""How the GPU plan spreads work that has few outputs and a long reduction: split-K gemms (convolution weight
gradients), block-per-element column reductions (bias gradients, sums over the batch), and a LeNet-5 training
step with no launch that leaves one thread (or one block) a long serial loop. Structure and assembly run
anywhere; results against the CPU backend need a device."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import compiler as cc
from compiler.codegen import ptx_support as px
from compiler.ir.kernel import Loop
from gpu_catalogue import _SGD, lenet_loss, train_step

needs_gpu = pytest.mark.gpu


def lower(fn, *args):
    return cc.compile(fn, backend="cuda").lower(*args)


def assemble_both(low):
    for arch in ("sm_80", "sm_90"):
        assert len(px.assemble(low.ptx(arch), arch)) > 100


def serial_steps(stmts):
    """Iterations one thread runs for these statements (symbolic extents count as 10**6)."""
    n = 0
    for s in stmts:
        if isinstance(s, Loop):
            e = s.extent if isinstance(s.extent, int) else 10 ** 6
            n += e * max(1, serial_steps(s.body))
        else:
            n += 1
    return n


def per_thread_work(lc):
    """Roughly the longest serial loop any thread of the launch runs: flat = the loops left inside a thread,
    rows = a row's loops over the block (a reduce-into row over its chunks too), gemm = K steps of 8."""
    if lc.kind == "flat" and lc.parts is not None:
        return max(per_thread_work(p) for p in lc.parts)
    if lc.kind == "flat":
        return serial_steps(lc.body)
    if lc.kind == "gemm":
        steps = -(-lc.gemm.k // 8)
        return -(-steps // (lc.split or 1))
    if lc.kind == "rows" and lc.reduce_into is not None:
        n = 1
        for _, e in lc.reduce_into[1]:
            n *= e
        return -(-n // (lc.block * lc.chunks))
    if lc.kind == "rows":
        return -(-serial_steps(lc.body) // lc.block)
    return serial_steps(lc.stmts)


# ---- structure, any machine ----

def test_long_column_sum_is_a_chunked_block_reduction_with_atomic_adds():
    low = lower(lambda x: x.sum(axis=(0, 2)), np.ones((128, 6, 784), np.float32))
    zero, red = low.launches
    assert zero.kind == "flat" and red.kind == "rows" and red.reduce_into is not None
    assert red.threads and red.work == 6 and red.block == 256 and red.chunks > 1
    assert red.work_yz == (red.chunks, 1)
    text = low.ptx()
    assert "atom.global.add.f32" in text and "bar.sync" in text and "shfl.sync.bfly" in text
    assemble_both(low)


def test_short_column_sum_is_one_block_per_column_without_atomics():
    low = lower(lambda x: x.sum(axis=0), np.ones((128, 10), np.float32))
    (red,) = low.launches                                              # no zeroing launch: the sum is stored
    assert red.kind == "rows" and red.chunks == 1 and red.block == 128 and red.overwrite
    assert "atom." not in low.ptx()
    low = lower(lambda x: x.sum(axis=0), cc.Spec("f32[N,16]"))      # chunks known at run time: zero, then add
    assert len(low.launches) == 2 and not low.launches[-1].overwrite


def test_column_sum_over_a_symbolic_batch_chunks_at_run_time():
    low = lower(lambda x: x.sum(axis=0), cc.Spec("f32[N,16]"))
    red = low.launches[-1]
    assert red.kind == "rows" and isinstance(red.chunks, sympy.Basic)
    assemble_both(low)


def test_int_and_f64_column_sums_assemble():
    for dt in (np.int64, np.float64, np.int32):
        low = lower(lambda x: x.sum(axis=0), np.ones((50000, 3), dt))
        assert low.launches[-1].reduce_into is not None and low.launches[-1].chunks > 1
        assemble_both(low)


def test_small_output_long_k_matmul_is_split_over_k():
    low = lower(lambda a, b: a @ b, np.ones((6, 5000), np.float32), np.ones((5000, 25), np.float32))
    init, g = low.launches
    assert init.kind == "flat" and init.work == 150
    assert g.kind == "gemm" and g.split >= 3 and g.work_yz == (6, g.split)
    text = low.ptx()
    assert "atom.global.add.f32" in text and "ctaid.z" in text
    assemble_both(low)


def test_split_k_with_a_symbolic_k_and_in_f64():
    low = lower(lambda a, b: a @ b, cc.Spec("f32[6,K]"), cc.Spec("f32[K,25]"))
    assert isinstance(low.launches[-1].split, sympy.Basic)
    assemble_both(low)
    low = lower(lambda a, b: a @ b, np.ones((4, 3000)), np.ones((3000, 5)))
    assert low.launches[-1].split and "atom.global.add.f64" in low.ptx()
    assemble_both(low)


def test_big_and_short_k_matmuls_are_not_split():
    for spec_a, spec_b in (("f32[2048,2048]", "f32[2048,2048]"), ("f32[128,120]", "f32[120,84]")):
        low = lower(lambda a, b: a @ b, cc.Spec(spec_a), cc.Spec(spec_b))
        (g,) = low.launches
        assert g.kind == "gemm" and g.split is None


def test_lenet_train_step_leaves_no_thread_a_long_serial_loop():
    params = cc.nn.init.lenet5(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((128, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    low = lower(train_step(lenet_loss), params, _SGD.init(params), x, y, np.int64(5))
    worst = sorted(((per_thread_work(lc), lc.entry, lc.kind) for lc in low.launches), reverse=True)
    assert worst[0][0] <= 1024, worst[:5]
    for lc in low.launches:
        if lc.kind == "serial":
            assert serial_steps(lc.stmts) == 1, lc.entry          # only scalar stores run on one thread
    kinds = {lc.kind for lc in low.launches}
    assert {"flat", "rows", "gemm"} <= kinds
    assert any(lc.split for lc in low.launches) and any(lc.reduce_into is not None for lc in low.launches)


# ---- on the device ----

def close(got, want, rtol=1e-4):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        scale = max(float(np.max(np.abs(want))), 1e-30)
        assert float(np.max(np.abs(got.astype(np.float64) - want))) <= rtol * scale
    else:
        np.testing.assert_array_equal(got, want)


@needs_gpu
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int64, np.int32])
def test_gpu_chunked_column_sums(dt):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((128, 6, 784)) * 10).astype(dt)
    f = lambda x: x.sum(axis=(0, 2))                                  # noqa: E731
    want = cc.compile(f)(x)
    got = cc.compile(f, backend="cuda")(x)
    close(got, want, 1e-4 if dt == np.float32 else 1e-10)
    small = (rng.standard_normal((128, 10)) * 10).astype(dt)           # one block a column, stored
    close(cc.compile(lambda x: x.sum(axis=0), backend="cuda")(small), cc.compile(lambda x: x.sum(axis=0))(small),
          1e-4 if dt == np.float32 else 1e-10)
    g = cc.compile(lambda x: x.sum(axis=0), backend="cuda")
    g.lower(cc.Spec(f"{np.dtype(dt).name.replace('float', 'f').replace('int', 'i')}[N,16]"))
    for n in (3, 128, 100000):                                        # symbolic batch: chunks at run time
        xs = (rng.standard_normal((n, 16)) * 10).astype(dt)
        close(g(xs), cc.compile(lambda x: x.sum(axis=0))(xs), 1e-4 if dt == np.float32 else 1e-10)


@needs_gpu
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_gpu_split_k_matmul(dt):
    rng = np.random.default_rng(1)
    for m, k, n in ((6, 100352, 25), (16, 12800, 150), (128, 400, 120), (3, 7, 5)):
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        f = cc.compile(lambda a, b: 2.0 * (a @ b) + 1.0, backend="cuda")
        want = (2.0 * (a.astype(np.float64) @ b.astype(np.float64)) + 1.0).astype(dt)
        close(f(a, b), want, 1e-4 if dt == np.float32 else 1e-10)
        close(f(a, b), want, 1e-4 if dt == np.float32 else 1e-10)     # again: C is reset before the adds


@needs_gpu
def test_gpu_lenet_step_batch_128_equals_cpu():
    params = cc.nn.init.lenet5(seed=0)
    state = _SGD.init(params)
    rng = np.random.default_rng(3)
    x = rng.random((128, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    step = train_step(lenet_loss)
    want = cc.compile(step)(params, state, x, y, np.int64(5))
    got = cc.compile(step, backend="cuda")(params, state, x, y, np.int64(5))
    from compiler import pytree
    for g, w in zip(pytree.flatten(got)[0], pytree.flatten(want)[0]):
        close(g, w)


def test_merged_flat_launches_keep_every_conflicting_pair_in_order():
    from compiler.codegen.ptx_plan import _access, _conflict, merge_flat, plan_kernel
    params = cc.nn.init.lenet5(seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 32, 32)).astype(np.float32)
    low = lower(train_step(lenet_loss), params, _SGD.init(params), x, rng.integers(0, 10, 16), np.int64(5))
    planned = [lc for k in low.kernels.kernels for lc in plan_kernel(k, "t")]
    merged = merge_flat(planned)
    assert len(merged) < len(planned) - 10
    position = {}
    for g, lc in enumerate(merged):
        for part in (lc.parts or [lc]):
            position[id(part)] = g
        if lc.parts:
            assert lc.work == sum(p.work for p in lc.parts)
            accs = [_access(p) for p in lc.parts]
            assert not any(_conflict(a, b) for i, a in enumerate(accs) for b in accs[i + 1:])
    assert len(position) == len(planned)
    for i, a in enumerate(planned):
        for b in planned[i + 1:]:
            if _conflict(_access(a), _access(b)):
                assert position[id(a)] < position[id(b)], (a.entry, b.entry)
    assert any(lc.parts for lc in low.launches)
    assemble_both(low)


def test_launch_grids_without_a_device(monkeypatch):
    """_launch_all against a recording stand-in for the driver: every launch once, in order, with its grid
    (reduce-into chunks on y, split-K shares on z) and its buffers' handles then the dims."""
    import types
    from runtime import cuda

    calls = []

    class FakeCu:
        class CUresult:
            CUDA_SUCCESS = 0

        @staticmethod
        def cuLaunchKernel(fn, gx, gy, gz, bx, by, bz, shmem, stream, params, extra):
            calls.append((fn, (gx, gy, gz), (bx, by, bz), params))
            return (0,)

    monkeypatch.setattr(cuda, "_device", lambda: types.SimpleNamespace(cu=FakeCu, stream="s"))

    def f(a, b, x):
        return a @ b, x.sum(axis=(0, 2))
    low = lower(f, cc.Spec("f32[6,K]"), cc.Spec("f32[K,25]"), np.ones((128, 6, 784), np.float32))
    ex = low.executable
    dev = types.SimpleNamespace(functions=[types.SimpleNamespace(handle=lc.entry) for lc in low.launches],
                                sm_count=132)
    n_slots = 1 + max(s for lc in low.launches for s in (b.slot for b in lc.bufs))
    slots = [types.SimpleNamespace(handle=f"h{i}") for i in range(n_slots)]
    ex._launch_all(dev, slots, (100000,))
    assert [c[0] for c in calls] == [lc.entry for lc in low.launches]
    for (fn, grid, block, (values, tps)), lc in zip(calls, low.launches):
        assert values == tuple(f"h{b.slot}" for b in lc.bufs) + (100000,) and len(tps) == len(values)
        assert block == (lc.block, 1, 1)
        if lc.kind == "gemm":
            assert grid == (1, 1, 512)                                   # K = 100000: 512 shares
        if lc.reduce_into is not None:
            assert grid == (6, lc.chunks, 1) and lc.chunks > 1
    calls.clear()
    ex._launch_all(dev, slots, (100,))                                  # another K: another plan
    (g,) = [c for c, lc in zip(calls, low.launches) if lc.kind == "gemm"]
    assert g[1] == (1, 1, 2)


def test_profile_times_each_launch_alone_without_a_device(monkeypatch):
    import types
    from runtime import cuda

    calls = []

    class FakeCu:
        class CUresult:
            CUDA_SUCCESS = 0

        @staticmethod
        def cuLaunchKernel(fn, *rest):
            calls.append(fn)
            return (0,)

    class FakeArray:
        def __init__(self, shape, dtype=np.float32):
            self.shape, self.dtype, self.handle = tuple(np.atleast_1d(shape)), np.dtype(dtype), len(calls)

        @classmethod
        def from_numpy(cls, a, pooled=False):
            return cls(a.shape, a.dtype)

    monkeypatch.setattr(cuda, "_device", lambda: types.SimpleNamespace(cu=FakeCu, stream="s"))
    monkeypatch.setattr(cuda, "DeviceArray", FakeArray)
    monkeypatch.setattr(cuda, "time_kernel", lambda fn, reps=20: (fn(), 0.5)[1])
    f = cc.compile(lambda a, b, x: (a @ b, x.sum(axis=0)), backend="cuda")
    args = (np.ones((6, 3000), np.float32), np.ones((3000, 25), np.float32), np.ones((512, 4), np.float32))
    ex = f.lower(*args).executable
    monkeypatch.setattr(ex, "_device", lambda: types.SimpleNamespace(
        functions=[types.SimpleNamespace(handle=lc.entry) for lc in ex.gpu.launches], sm_count=132, consts=[]))
    prof = ex.profile(*args, reps=3)
    assert [p[0] for p in prof] == [lc.entry for lc in ex.gpu.launches] == calls
    assert all(ms == 0.5 for _, _, ms in prof) and {k for _, k, _ in prof} >= {"gemm", "rows"}
