"""Identical internal functions are compiled once (runtime/jit_split.py merge_duplicates): uses call the one kept,
external and self-calling functions are never dropped, and the module still computes what it did. And the short
LIGHT pass list compiles correct code, cached apart from the O-levels."""
import ctypes

import numpy as np

from runtime import compile_module
from runtime.jit_split import merge_duplicates

_BODY = """
{{
entry:
  br label %head
head:
  %i = phi i64 [0, %entry], [%i1, %body]
  %more = icmp slt i64 %i, %n
  br i1 %more, label %body, label %exit
body:
  %p = getelementptr float, ptr %x, i64 %i
  %v = load float, ptr %p
  %w = fmul float %v, {factor}
  store float %w, ptr %p
  %i1 = add nuw nsw i64 %i, 1
  br label %head
exit:
  ret void
}}"""


def _module():
    fns = []
    for name, factor, linkage in (("a", "2.0", "internal "), ("b", "2.0", "internal "), ("c", "3.0", "internal "),
                                  ("e", "2.0", "")):
        fns.append(f'define {linkage}void @"{name}"(ptr noalias %x, i64 %n) noinline nounwind'
                   + _BODY.format(factor=f"{float(factor):e}"))
    # @"b" is also named by a global (a table of function pointers): it must follow the merge there too
    head = '@table = internal constant [2 x ptr] [ptr @"a", ptr @"b"]'
    entry = ('define void @"f"(ptr %x, i64 %n)\n{\nentry:\n  call void @"a"(ptr %x, i64 %n)\n'
             '  call void @"b"(ptr %x, i64 %n)\n  call void @"c"(ptr %x, i64 %n)\n'
             '  %q = getelementptr [2 x ptr], ptr @table, i64 0, i64 1\n  %g = load ptr, ptr %q\n'
             '  call void %g(ptr %x, i64 %n)\n  ret void\n}')
    return "\n".join([head] + fns + [entry]) + "\n"


def test_identical_internal_functions_merge():
    text = _module()
    merged = merge_duplicates(text)
    assert 'define internal void @"a"' in merged and 'define internal void @"b"' not in merged
    assert '@"b"' not in merged                                  # every use renamed, the table's too
    assert 'define internal void @"c"' in merged                  # another constant: not a duplicate
    assert 'define void @"e"' in merged                           # external: always kept
    assert merge_duplicates(merged) == merged


def test_merged_module_computes_the_same():
    x = np.linspace(-1, 1, 29, dtype=np.float32)
    y = x.copy()
    cm = compile_module(_module(), use_cache=False)
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(cm.address("f"))
    f(y.ctypes.data, len(y))
    np.testing.assert_allclose(y, x * 2 * 2 * 3 * 2, rtol=1e-6)
    e = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(cm.address("e"))
    z = x.copy()
    e(z.ctypes.data, len(z))
    np.testing.assert_allclose(z, x * 2, rtol=1e-6)


def test_self_calling_and_lone_functions_are_left_alone():
    rec = ('define internal void @"r{k}"(i64 %n) nounwind\n{{\nentry:\n  %z = icmp eq i64 %n, 0\n'
           '  br i1 %z, label %out, label %more\nmore:\n  %m = sub i64 %n, 1\n  call void @"r{k}"(i64 %m)\n'
           '  br label %out\nout:\n  ret void\n}}')
    text = rec.format(k=1) + "\n" + rec.format(k=2) + "\n"
    assert merge_duplicates(text) == text                         # they differ only by naming themselves
    one = 'define internal void @"z"() nounwind\n{\nentry:\n  ret void\n}\n'
    assert merge_duplicates(one) == one


def test_light_pipeline_compiles_and_keys_apart(add1_ir):
    """opt=jit.LIGHT (the short pass list the gemm kernels use) computes the same and is cached apart from O1."""
    from runtime import jit
    light = compile_module(add1_ir, opt=jit.LIGHT)
    o1 = compile_module(add1_ir, opt=1)
    assert light.key != o1.key and light.codegen_opt == 1 and not light.cache_hit
    assert compile_module(add1_ir, opt=jit.LIGHT).cache_hit
    assert "define" in light.optimized_ir
    x = np.arange(5, dtype=np.float32)
    y = np.zeros(5, np.float32)
    bufs = (ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data)
    dims = (ctypes.c_int64 * 1)(5)
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(light.address("add1"))(bufs, dims)
    np.testing.assert_allclose(y, x + 1)
