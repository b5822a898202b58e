"""A module split into parts compiled on several threads (runtime/jit_split.py, jit_parallel.py) computes what the
whole module computes, links calls between its parts, keeps one copy of mutable globals, and caches its parts."""
import ctypes
import os

import numpy as np
import pytest

from runtime import cache, compile_module, jit, jit_split

# @scale_k (k = 0..5) multiplies n floats by k+2; @f calls every one in turn, counting calls in @count (a mutable
# global its kernels read too: a second copy in another part would count wrong); the @pure_k differ in a dead
# instruction (identical ones would be merged before the split)
_KERNEL = """
define internal void @"scale_{k}"(ptr noalias %x, ptr noalias %y, i64 %n) noinline nounwind
{{
entry:
  %c = load i64, ptr @count
  %c1 = add i64 %c, {k}
  store i64 %c1, ptr @count
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  %px = getelementptr float, ptr %x, i64 %i
  %v = load float, ptr %px
  %w = fmul float %v, {factor}
  %py = getelementptr float, ptr %y, i64 %i
  store float %w, ptr %py
  %i1 = add nuw nsw i64 %i, 1
  br label %head
exit:
  ret void
}}
define internal void @"pure_{k}"(ptr noalias %x, ptr noalias %y, i64 %n) noinline nounwind
{{
entry:
  %unused = add i64 %n, {k}
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  %px = getelementptr float, ptr %x, i64 %i
  %v = load float, ptr %px
  %py = getelementptr float, ptr %y, i64 %i
  %u = load float, ptr %py
  %w = fadd float %v, %u
  store float %w, ptr %py
  %i1 = add nuw nsw i64 %i, 1
  br label %head
exit:
  ret void
}}
"""


def _module(n_kernels=6):
    parts = ["@count = internal global i64 0",
             "@table = private unnamed_addr constant [2 x float] [float 1.0, float 2.0]"]
    calls = []
    for k in range(n_kernels):
        parts.append(_KERNEL.format(k=k, factor=f"{float(k + 2):e}"))
        calls.append(f'  call void @"scale_{k}"(ptr %x, ptr %t, i64 %n)\n'
                     f'  call void @"pure_{k}"(ptr %t, ptr %y, i64 %n)')
    parts.append("define void @f(ptr %x, ptr %y, ptr %t, i64 %n)\n{\nentry:\n" + "\n".join(calls)
                 + "\n  ret void\n}\n"
                 "define i64 @get_count()\n{\nentry:\n  %c = load i64, ptr @count\n  ret i64 %c\n}")
    return "\n".join(parts)


def _run(cm, n=37):
    x = np.linspace(-2, 3, n, dtype=np.float32)
    y = np.zeros(n, np.float32)
    t = np.empty(n, np.float32)
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(cm.address("f"))
    f(x.ctypes.data, y.ctypes.data, t.ctypes.data, n)
    count = ctypes.CFUNCTYPE(ctypes.c_int64)(cm.address("get_count"))()
    return y, count


@pytest.fixture
def small_parts(monkeypatch):
    """Split even the small test module."""
    monkeypatch.setattr(jit_split, "MIN_SPLIT_LINES", 10)
    monkeypatch.setattr(jit_split, "MIN_PART_LINES", 5)
    monkeypatch.setenv("VIVE_COMPILE_THREADS", "3")


def _expected(n_kernels=6, n=37):
    x = np.linspace(-2, 3, n, dtype=np.float32)
    return sum(x * np.float32(k + 2) for k in range(n_kernels)), sum(range(n_kernels))


def test_split_keeps_functions_and_one_copy_of_mutable_globals(small_parts):
    text = _module()
    texts = jit_split.split_module(text, 3)
    assert len(texts) == 3
    defined = [[line.split("@")[1].split("(")[0] for line in t.splitlines() if line.startswith("define")]
               for t in texts]
    names = sorted(n for d in defined for n in d)
    assert names == sorted(['"scale_%d"' % k for k in range(6)] + ['"pure_%d"' % k for k in range(6)]
                           + ["f", "get_count"])
    # the functions touching @count (all scale_k, f, get_count) share part 0, which alone defines @count
    assert all('"scale_' in n or n in ("f", "get_count") for n in defined[0] if "pure" not in n)
    assert all("scale" not in n for d in defined[1:] for n in d)
    assert sum("@count = internal global" in t for t in texts) == 1
    assert all("@table = private" in t for t in texts)          # constants are copied, harmless
    # a function called from another part is hidden there, declared where it is called
    assert 'define hidden void @"pure_0"' in "".join(texts[1:])
    assert 'declare hidden void @"pure_0"' in texts[0]


def test_small_or_single_function_modules_stay_whole():
    assert jit_split.split_module(_module(), 1) == [_module()]
    small = "define void @g()\n{\nentry:\n  ret void\n}\n"
    assert jit_split.split_module(small, 4) == [small]


def test_split_compile_matches_whole_compile(small_parts, monkeypatch):
    split = compile_module(_module(), use_cache=False)
    assert "compile_parts" in split.timings               # it did compile in parts
    y, count = _run(split)
    want_y, want_count = _expected()
    np.testing.assert_allclose(y, want_y, rtol=1e-6)
    assert count == want_count
    monkeypatch.setenv("VIVE_COMPILE_THREADS", "1")
    whole = compile_module(_module(), use_cache=False)
    assert "compile_parts" not in whole.timings
    whole_y, whole_count = _run(whole)
    np.testing.assert_array_equal(y, whole_y)
    assert count == whole_count


def test_split_entry_caches_its_parts(small_parts, _isolated_cache):
    a = compile_module(_module(), version="split")
    b = compile_module(_module(), version="split")
    assert (a.cache_hit, b.cache_hit) == (False, True)
    obj, meta = cache.load(a.key, str(_isolated_cache))
    assert len(meta["parts"]) == 3 and sum(meta["parts"]) == len(obj)
    y, count = _run(b)
    np.testing.assert_allclose(y, _expected()[0], rtol=1e-6)
    assert count == _expected()[1]


def test_bad_part_sizes_in_an_entry_compile_anew(small_parts, _isolated_cache):
    a = compile_module(_module(), version="split")
    obj, meta = cache.load(a.key, str(_isolated_cache))
    meta["parts"] = [meta["parts"][0], len(obj)]                # inconsistent, yet a well-formed entry
    cache.store(a.key, obj, meta, str(_isolated_cache))
    assert jit._unpack(obj, meta) is None
    with pytest.warns(RuntimeWarning, match="part sizes do not add up"):
        b = compile_module(_module(), version="split")
    assert not b.cache_hit
    np.testing.assert_allclose(_run(b)[0], _expected()[0], rtol=1e-6)


def test_a_part_that_fails_falls_back_to_the_whole_module(small_parts, monkeypatch):
    from runtime import jit_parallel
    calls = []

    def broken(text, *opts):
        calls.append(text)
        raise RuntimeError("simulated failure of one part")
    monkeypatch.setattr(jit_parallel, "_compile_part", broken)
    cm = compile_module(_module(), use_cache=False)
    assert calls and "compile_parts" not in cm.timings
    np.testing.assert_allclose(_run(cm)[0], _expected()[0], rtol=1e-6)


def test_compile_threads_reads_the_environment(monkeypatch):
    monkeypatch.setenv("VIVE_COMPILE_THREADS", "1")
    assert jit_split.compile_threads() == 1
    monkeypatch.setenv("VIVE_COMPILE_THREADS", "3")
    assert jit_split.compile_threads() == 3
    monkeypatch.delenv("VIVE_COMPILE_THREADS")
    assert 1 <= jit_split.compile_threads() <= jit_split.MAX_PARTS
    import os
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    monkeypatch.setattr(jit_split, "running_tasks", lambda: 1)
    assert jit_split.compile_threads() == 2                  # idle 2-core machine
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    monkeypatch.setattr(jit_split, "running_tasks", lambda: 3)
    assert jit_split.compile_threads() == 1                  # both cores busy elsewhere: no split
    monkeypatch.setattr(jit_split, "running_tasks", lambda: 1)
    assert jit_split.compile_threads() == 2                  # a busy minute that has just ended: idle now
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    monkeypatch.setattr(jit_split, "running_tasks", lambda: None)
    assert jit_split.compile_threads() == 2                  # no /proc: the average alone


def test_running_tasks_reads_proc():
    n = jit_split.running_tasks()
    if os.path.exists("/proc/loadavg"):
        assert isinstance(n, int) and n >= 1                 # this thread runs while it reads
    else:
        assert n is None


@pytest.mark.parametrize("line, owned", [
    ('@"vive.blas_threads" = internal global i32 0', True),
    ("@z = global i64 0", True),
    ("@w = internal thread_local(localdynamic) global i64 0", True),
    ("@x = constant i32 0", True),                               # others would link to it: one copy
    ("@t = private unnamed_addr constant [2 x float] zeroinitializer", False),
    ('@"y" = external global i32', False),                       # a declaration
    ('@llvm.compiler.used = appending global [1 x ptr] [ptr @f], section "llvm.metadata"', False),
])
def test_which_globals_stay_in_part_zero(line, owned):
    m = jit_split._GLOBAL.match(line)
    assert m is not None and jit_split._owned(m) == owned
