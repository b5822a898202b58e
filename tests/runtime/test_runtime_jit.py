import ctypes

import numpy as np
import pytest

from helpers import run_in_threads
from runtime import RuntimeBackendError, compile_module, host_target, jit


def _call_add1(cm, x):
    y = np.empty_like(x)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(cm.address("add1"))
    fn((ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data), (ctypes.c_int64 * 1)(x.size))
    return y


def test_host_target_facts():
    t = host_target()
    assert t.triple and t.cpu and t.data_layout.startswith("e-")
    assert t.features.endswith(",-prefer-256-bit")
    assert t.features.count("prefer-256-bit") == 1
    assert host_target() is t


@pytest.mark.parametrize("n", [0, 1, 7, 16, 1000])
def test_add_kernel_matches_numpy(add1_ir, n):
    cm = compile_module(add1_ir)
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    np.testing.assert_array_equal(_call_add1(cm, x), x + np.float32(1))


def test_o3_vectorizes_and_reports(add1_ir):
    cm = compile_module(add1_ir, use_cache=False)
    assert not cm.cache_hit
    assert {"parse", "opt", "codegen", "load"} <= set(cm.timings)
    assert "x float>" in cm.optimized_ir            # the loop vectoriser ran
    asm = cm.asm()
    assert "add1:" in asm and "ret" in asm
    assert cm.asm() == asm                          # a fresh TM each time; no crash on reuse


def test_bad_ir_is_a_clean_error():
    with pytest.raises(RuntimeBackendError, match="does not parse"):
        compile_module("define void @f( {")
    with pytest.raises(RuntimeBackendError, match="does not verify"):
        compile_module("""
        define i32 @f(i1 %c) {
        entry:
          br i1 %c, label %a, label %b
        a:
          %x = add i32 1, 2
          br label %b
        b:
          ret i32 %x
        }""")


def test_unresolved_symbol_is_a_clean_error():
    ir = """
    declare void @vive_no_such_symbol_anywhere()
    define void @f(ptr %b, ptr %d) {
      call void @vive_no_such_symbol_anywhere()
      ret void
    }"""
    with pytest.raises(RuntimeBackendError, match="vive_no_such_symbol_anywhere"):
        compile_module(ir)


def test_missing_function_address(add1_ir):
    cm = compile_module(add1_ir)
    with pytest.raises(RuntimeBackendError, match="nope"):
        cm.address("nope")


def test_libm_calls_resolve():
    ir = """
    declare float @expf(float)
    define void @e(ptr %bufs, ptr %dims) {
      %x = load ptr, ptr %bufs
      %v = load float, ptr %x
      %r = call float @expf(float %v)
      store float %r, ptr %x
      ret void
    }"""
    cm = compile_module(ir)
    x = np.array([1.5], np.float32)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(cm.address("e"))
    fn((ctypes.c_void_p * 1)(x.ctypes.data), None)
    assert x[0] == pytest.approx(np.exp(np.float32(1.5)), rel=1e-6)
    assert "expf" in cm.externals


def test_concurrent_compiles(add1_ir):
    results = []

    def work(k):
        cm = compile_module(add1_ir.replace("1.0", f"{k}.0"))
        x = np.arange(33, dtype=np.float32)
        results.append((k, _call_add1(cm, x)))

    run_in_threads(work)
    for k, y in results:
        np.testing.assert_array_equal(y, np.arange(33, dtype=np.float32) + k)
    assert len(results) == 4


def test_openmp_flag_is_boolean():
    assert isinstance(jit.has_openmp(), bool)
    assert jit.load_library("libvive-definitely-missing.so.9") is False
