"""eliminate_common_subexpressions: golden IR; params and consts compared by value, never by identity."""
from compiler.ir import parse
from compiler.passes import eliminate_common_subexpressions as cse
from helpers import assert_ir, assert_same_result


def check(src, expected):
    g = parse(src)
    out = cse(g)
    assert_ir(out, expected)
    assert_same_result(g, out)
    return out


def test_merges_repeated_chain():
    check("""
        graph f(%x: f32[N,3]) {
          %0: f32[N,3] = exp %x
          %1: f32[N,3] = exp %x
          %2: f32[N,3] = tanh %0
          %3: f32[N,3] = tanh %1
          %4: f32[N,3] = add %2, %3
          return %4
        }""", """
        graph f(%x: f32[N,3]) {
          %0: f32[N,3] = exp %x
          %1: f32[N,3] = tanh %0
          %2: f32[N,3] = add %1, %1
          return %2
        }""")


def test_consts_by_value_and_commutative_ops():
    check("""
        graph f(%x: f32[3], %y: f32[3]) {
          %0: f32[] = const 2.0
          %1: f32[3] = mul %x, %0
          %2: f32[] = const 2.0
          %3: f32[3] = mul %2, %x
          %4: f32[3] = add %x, %y
          %5: f32[3] = add %y, %x
          %6: f32[3] = sub %x, %y
          %7: f32[3] = sub %y, %x
          return %1, %3, %4, %5, %6, %7
        }""", """
        graph f(%x: f32[3], %y: f32[3]) {
          %0: f32[] = const 2.0
          %1: f32[3] = mul %x, %0
          %2: f32[3] = add %x, %y
          %3: f32[3] = sub %x, %y
          %4: f32[3] = sub %y, %x
          return %1, %1, %2, %2, %3, %4
        }""")


def test_different_params_or_values_or_dtypes_stay():
    g = parse("""
        graph f(%x: f32[2,3]) {
          %0: f32[] = const 0.0
          %1: f32[] = const -0.0
          %2: f64[] = const 0.0
          %3: f32[3] = reduce_sum %x {axes=(0,)}
          %4: f32[2] = reduce_sum %x {axes=(1,)}
          %5: f32[3,2] = transpose %x {perm=(1, 0)}
          %6: f32[6] = reshape %x {shape=(6,)}
          %7: f32[3,2] = reshape %x {shape=(3, 2)}
          %8: f32[] = const nan
          %9: f32[] = const 1.0
          %10: f32[2] = const [1.0, 1.0]
          return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10
        }""")
    assert cse(g) is g


def test_nan_consts_merge():
    check("""
        graph f() {
          %0: f32[] = const nan
          %1: f32[] = const nan
          return %0, %1
        }""", """
        graph f() {
          %0: f32[] = const nan
          return %0, %0
        }""")


def test_random_with_different_keys_stay_same_key_merges():
    check("""
        graph f() {
          %0: u32[] = const 1
          %1: u32[] = const 2
          %2: u32[4] = threefry2x32 %0, %0, %0, %0 {mode='xor', shape=(4,)}
          %3: u32[4] = threefry2x32 %1, %0, %0, %0 {mode='xor', shape=(4,)}
          %4: u32[] = const 1
          %5: u32[4] = threefry2x32 %4, %4, %4, %4 {mode='xor', shape=(4,)}
          return %2, %3, %5
        }""", """
        graph f() {
          %0: u32[] = const 1
          %1: u32[] = const 2
          %2: u32[4] = threefry2x32 %0, %0, %0, %0 {mode='xor', shape=(4,)}
          %3: u32[4] = threefry2x32 %1, %0, %0, %0 {mode='xor', shape=(4,)}
          return %2, %3, %2
        }""")


def test_big_consts_compared_by_bytes():
    import numpy as np
    from compiler.ir.graph import GraphBuilder
    from compiler.primitives import const, add
    b = GraphBuilder("f")
    x = b.input(__import__("compiler").TensorType("f32", (100,)), "x")
    a1 = np.arange(100, dtype=np.float32)
    c1 = b.add(const, [], {"value": a1})
    c2 = b.add(const, [], {"value": a1.copy()})
    a3 = a1.copy()
    a3[50] = -1
    c3 = b.add(const, [], {"value": a3})
    outs = [b.add(add, [x, c]) for c in (c1, c2, c3)]
    g = b.build(outs)
    out = cse(g)
    assert out.count("const") == 2 and out.count("add") == 2
    assert out.outputs[0] is out.outputs[1] and out.outputs[2] is not out.outputs[0]
    assert_same_result(g, out)


def test_unchanged_is_same_object():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[3] = exp %x
          %1: f32[3] = log %x
          return %0, %1
        }""")
    assert cse(g) is g
