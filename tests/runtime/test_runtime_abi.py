import sys
import threading

import numpy as np
import pytest

from runtime import RuntimeBackendError, abi, compile_module

MODES = ["fastcall", "ctypes"]

# out[i] = sum_j a[i*m + j] * s, with s = float(dims[2]): two dims, a scalar from a dim, no arrays aliasing.
ROWSUM_IR = """
define void @rowsum(ptr noalias %bufs, ptr noalias %dims) {
entry:
  %a = load ptr, ptr %bufs
  %op = getelementptr ptr, ptr %bufs, i64 1
  %o = load ptr, ptr %op
  %n = load i64, ptr %dims
  %mp = getelementptr i64, ptr %dims, i64 1
  %m = load i64, ptr %mp
  %sp = getelementptr i64, ptr %dims, i64 2
  %si = load i64, ptr %sp
  %s = sitofp i64 %si to double
  br label %rows
rows:
  %i = phi i64 [0, %entry], [%i1, %rowend]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %cols, label %done
cols:
  %j = phi i64 [0, %rows], [%j1, %cols]
  %acc = phi double [0.0, %rows], [%acc1, %cols]
  %base = mul i64 %i, %m
  %idx = add i64 %base, %j
  %ap = getelementptr double, ptr %a, i64 %idx
  %v = load double, ptr %ap
  %acc1 = fadd double %acc, %v
  %j1 = add i64 %j, 1
  %cont = icmp slt i64 %j1, %m
  br i1 %cont, label %cols, label %rowend
rowend:
  %r = fmul double %acc1, %s
  %outp = getelementptr double, ptr %o, i64 %i
  store double %r, ptr %outp
  %i1 = add i64 %i, 1
  br label %rows
done:
  ret void
}
"""

NOARGS_IR = """
@counter = global i64 0
define void @tick(ptr %bufs, ptr %dims) {
  %v = load i64, ptr @counter
  %v1 = add i64 %v, 1
  store i64 %v1, ptr @counter
  ret void
}
"""


@pytest.fixture
def add1(add1_ir):
    return compile_module(add1_ir)


@pytest.mark.parametrize("mode", MODES)
def test_add_call_matches_numpy(add1, mode):
    call = abi.make_caller(add1, "add1", 2, 1, mode=mode)
    for n in (0, 1, 8, 1001):
        x = np.linspace(-3, 3, n, dtype=np.float32)
        y = np.empty_like(x)
        assert call(x, y, n) is None
        np.testing.assert_array_equal(y, x + np.float32(1))


@pytest.mark.parametrize("mode", MODES)
def test_several_dims(mode):
    cm = compile_module(ROWSUM_IR)
    call = abi.make_caller(cm, "rowsum", 2, 3, mode=mode)
    a = np.random.default_rng(0).standard_normal((5, 7))
    out = np.empty(5)
    call(a, out, 5, 7, np.int64(3))                 # numpy ints work: anything with __index__
    np.testing.assert_allclose(out, a.sum(axis=1) * 3, rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_no_arrays_no_dims(mode):
    cm = compile_module(NOARGS_IR)
    call = abi.make_caller(cm, "tick", 0, 0, mode=mode)
    for _ in range(5):
        call()
    import ctypes
    assert ctypes.c_int64.from_address(cm.address("counter")).value == 5


@pytest.mark.parametrize("mode", MODES)
def test_bad_calls_raise_cleanly(add1, mode):
    call = abi.make_caller(add1, "add1", 2, 1, mode=mode)
    x = np.zeros(8, np.float32)
    y = np.empty_like(x)
    with pytest.raises(TypeError, match="expected 3 arguments"):
        call(x, y)
    with pytest.raises(TypeError, match="expected 3 arguments"):
        call(x, y, 8, 8)
    with pytest.raises(TypeError, match="argument 1 must be a numpy.ndarray, got list"):
        call(x, [0.0] * 8, 8)
    with pytest.raises(ValueError, match="not C-contiguous"):
        call(np.zeros(16, np.float32)[::2], y, 8)
    with pytest.raises(ValueError, match="negative"):
        call(x, y, -1)
    with pytest.raises(TypeError):
        call(x, y, 8.0)
    with pytest.raises(OverflowError):
        call(x, y, 2**64)
    call(x, y, 8)                                     # still usable after errors
    np.testing.assert_array_equal(y, 1)


@pytest.mark.parametrize("mode", MODES)
def test_soft_layout_returns_notimplemented_and_runs_nothing(add1, mode):
    soft = abi.make_caller(add1, "add1", 2, 1, mode=mode, soft_layout=True)
    hard = abi.make_caller(add1, "add1", 2, 1, mode=mode)
    x = np.arange(8, dtype=np.float32)
    y = np.full(8, -5.0, np.float32)
    raw = np.zeros(8 * 4 + 1, np.uint8)[1:].view(np.float32)          # misaligned by one byte
    assert not raw.flags.aligned and raw.flags.c_contiguous
    for bad_x, bad_y in ((np.zeros(16, np.float32)[::2], y), (raw, y), (x, raw)):
        assert soft(bad_x, bad_y, 8) is NotImplemented
        np.testing.assert_array_equal(y, -5.0)                            # nothing ran
    with pytest.raises(ValueError, match="not C-contiguous"):
        hard(np.zeros(16, np.float32)[::2], y, 8)                       # the default still raises
    hard(raw, y, 8)                                                     # and takes misaligned arrays
    np.testing.assert_array_equal(y, 1.0)
    assert soft(x, y, 8) is None
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(TypeError, match="expected 3 arguments"):        # other errors are still errors
        soft(x, y)


@pytest.mark.parametrize("mode", MODES)
def test_ndarray_subclass_accepted(add1, mode):
    class Sub(np.ndarray):
        pass
    call = abi.make_caller(add1, "add1", 2, 1, mode=mode)
    x = np.arange(4, dtype=np.float32).view(Sub)
    y = np.empty(4, np.float32)
    call(x, y, 4)
    np.testing.assert_array_equal(y, np.arange(4) + 1)


def test_refcounts_balance(add1):
    call = abi.make_caller(add1, "add1", 2, 1, mode="fastcall")
    x = np.zeros(8, np.float32)
    y = np.empty_like(x)
    n = 10**6 + 7
    before = [sys.getrefcount(o) for o in (x, y, n)]
    for _ in range(1000):
        call(x, y, n // 10**6 + 7)
    try:
        call(x, y)
    except TypeError:
        pass
    assert [sys.getrefcount(o) for o in (x, y, n)] == before


def test_env_selects_ctypes(add1, monkeypatch):
    assert abi.call_mode() == "fastcall"
    fast = abi.make_caller(add1, "add1", 2, 1)
    assert type(fast).__name__ == "builtin_function_or_method"
    monkeypatch.setenv("VIVE_CALL", "ctypes")
    assert abi.call_mode() == "ctypes"
    slow = abi.make_caller(add1, "add1", 2, 1)
    assert type(slow).__name__ == "function"
    monkeypatch.setenv("VIVE_CALL", "bogus")
    with pytest.raises(RuntimeBackendError, match="VIVE_CALL"):
        abi.make_caller(add1, "add1", 2, 1)


def test_bad_make_caller_arguments(add1):
    with pytest.raises(RuntimeBackendError, match="no symbol"):
        abi.make_caller(add1, "missing", 2, 1)
    with pytest.raises(RuntimeBackendError, match="bad counts"):
        abi.make_caller(add1, "add1", -1, 1)
    with pytest.raises(RuntimeBackendError, match="unknown mode"):
        abi.make_caller(add1, "add1", 2, 1, mode="cffi")


def test_caller_keeps_module_alive(add1_ir):
    import gc
    call = abi.make_caller(compile_module(add1_ir), "add1", 2, 1)
    gc.collect()
    x = np.ones(3, np.float32)
    y = np.empty_like(x)
    call(x, y, 3)
    np.testing.assert_array_equal(y, 2)


@pytest.mark.parametrize("mode", MODES)
def test_threads_share_one_function(mode):
    cm = compile_module(ROWSUM_IR)
    call = abi.make_caller(cm, "rowsum", 2, 3, mode=mode)
    errors, barrier = [], threading.Barrier(4)

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            barrier.wait()
            for _ in range(50):
                n, m = rng.integers(1, 40, size=2)
                a = rng.standard_normal((n, m))
                out = np.empty(n)
                call(a, out, int(n), int(m), seed + 1)
                np.testing.assert_allclose(out, a.sum(axis=1) * (seed + 1), rtol=1e-12, atol=1e-12)
        except Exception as e:          # a thread's exception would otherwise vanish
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# Spins until flag[0] != 0 (bounded, so a held GIL fails the test instead of hanging it); flag[1] = seen.
SPIN_IR = """
define void @spin(ptr %bufs, ptr %dims) {
entry:
  %f = load ptr, ptr %bufs
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %v = load volatile i64, ptr %f
  %i1 = add i64 %i, 1
  %seen = icmp ne i64 %v, 0
  %limit = icmp eq i64 %i1, 4000000000
  %stop = or i1 %seen, %limit
  br i1 %stop, label %done, label %loop
done:
  %out = getelementptr i64, ptr %f, i64 1
  %s = zext i1 %seen to i64
  store volatile i64 %s, ptr %out
  ret void
}
"""


@pytest.mark.parametrize("mode", MODES)
def test_gil_is_released_during_the_call(mode):
    call = abi.make_caller(compile_module(SPIN_IR), "spin", 1, 0, mode=mode)
    flag = np.zeros(2, np.int64)
    worker = threading.Thread(target=call, args=(flag,))
    worker.start()
    import time
    time.sleep(0.02)
    flag[0] = 1                      # only runs while the worker is inside native code if it dropped the GIL
    worker.join()
    assert flag[1] == 1


def test_fastcall_builtin_looks_normal(add1):
    call = abi.make_caller(add1, "add1", 2, 1, mode="fastcall")
    assert call.__name__ == "add1"
    assert isinstance(call.__module__, str)
