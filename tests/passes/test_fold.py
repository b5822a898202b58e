"""fold_constants: golden IR, meaning checked against the reference interpreter."""
import numpy as np

from compiler.ir import parse
from compiler.ir.printer import format_array
from compiler.passes import fold_constants
from helpers import assert_ir, assert_same_result


def test_folds_scalar_chain_and_drops_dead_consts():
    g = parse("""
        graph f(%x: f32[N,3]) {
          %0: f32[] = const 2.0
          %1: f32[] = const 3.0
          %2: f32[] = mul %0, %1
          %3: f32[] = exp %2
          %4: f32[N,3] = mul %x, %3
          return %4
        }""")
    out = fold_constants(g)
    assert_ir(out, f"""
        graph f(%x: f32[N,3]) {{
          %0: f32[] = const {format_array(np.exp(np.float32(6.0))[()])}
          %1: f32[N,3] = mul %x, %0
          return %1
        }}""")
    assert out.nodes[0].params["value"].dtype == np.float32
    assert_same_result(g, out)


def test_folds_arrays_and_shape_ops():
    g = parse("""
        graph f(%x: f32[2,3]) {
          %0: f32[3,2] = const [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
          %1: f32[2,3] = transpose %0 {perm=(1, 0)}
          %2: f32[3] = reduce_sum %1 {axes=(0,)}
          %3: f32[2,3] = add %x, %2
          return %3
        }""")
    out = fold_constants(g)
    assert_ir(out, """
        graph f(%x: f32[2,3]) {
          %0: f32[3] = const [3.0, 7.0, 11.0]
          %1: f32[2,3] = add %x, %0
          return %1
        }""")
    assert_same_result(g, out)


def test_int_and_bool_and_cast_keep_dtypes():
    g = parse("""
        graph f(%x: f64[2]) {
          %0: i32[] = const 7
          %1: i32[] = const 2
          %2: i32[] = div %0, %1
          %3: f64[] = cast %2 {dtype=f64}
          %4: bool[] = gt %0, %1
          %5: f64[2] = mul %x, %3
          return %5, %4
        }""")
    out = fold_constants(g)
    assert_ir(out, """
        graph f(%x: f64[2]) {
          %0: f64[] = const 3.0
          %1: bool[] = const True
          %2: f64[2] = mul %x, %0
          return %2, %1
        }""")
    assert_same_result(g, out)


def test_nan_and_inf_fold_like_numpy():
    g = parse("""
        graph f(%x: f32[2]) {
          %0: f32[] = const 0.0
          %1: f32[] = log %0
          %2: f32[] = mul %1, %0
          %3: f32[2] = add %x, %2
          return %3, %1
        }""")
    out = fold_constants(g)
    assert_ir(out, """
        graph f(%x: f32[2]) {
          %0: f32[] = const -inf
          %1: f32[] = const nan
          %2: f32[2] = add %x, %1
          return %2, %0
        }""")
    assert_same_result(g, out)


def test_unchanged_returns_same_object():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[] = const 2.0
          %1: f32[3] = mul %x, %0
          return %1
        }""")
    assert fold_constants(g) is g


def test_does_not_fold_big_or_growing_or_dim():
    g = parse("""
        graph f(%x: f32[100,100]) {
          %0: f32[] = const 1.0
          %1: f32[100,100] = broadcast_in_dim %0 {dims=(), shape=(100, 100)}
          %2: f32[100] = broadcast_in_dim %0 {dims=(), shape=(100,)}
          %3: i64[] = dim {expr=N}
          %4: f32[100,100] = add %x, %1
          %5: f32[100,100] = add %4, %2
          return %5, %3
        }""")
    assert fold_constants(g) is g


def test_small_broadcast_folds():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[] = const 1.5
          %1: f32[3] = broadcast_in_dim %0 {dims=(), shape=(3,)}
          %2: f32[3] = add %x, %1
          return %2
        }""")
    out = fold_constants(g)
    assert_ir(out, """
        graph f(%x: f32[3]) {
          %0: f32[3] = const [1.5, 1.5, 1.5]
          %1: f32[3] = add %x, %0
          return %1
        }""")
    assert_same_result(g, out)


def test_folded_value_does_not_alias_operand():
    g = parse("""
        graph f() {
          %0: f32[2,2] = const [[1.0, 2.0], [3.0, 4.0]]
          %1: f32[4] = reshape %0 {shape=(4,)}
          return %1, %0
        }""")
    out = fold_constants(g)
    a, b = out.nodes[1].params["value"], g.nodes[0].params["value"]
    assert a.shape == (4,) and not np.shares_memory(a, b)


def test_error_at_run_time_is_not_folded():
    g = parse("""
        graph f() {
          %0: f32[0] = const []
          %1: f32[] = reduce_max %0 {axes=(0,)}
          return %1
        }""")
    assert fold_constants(g) is g


def test_dead_consts_that_were_dead_before_stay():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[] = const 2.0
          %1: f32[] = neg %0
          %2: f32[3] = exp %x
          return %2
        }""")
    out = fold_constants(g)
    assert_ir(out, """
        graph f(%x: f32[3]) {
          %0: f32[] = const 2.0
          %1: f32[] = const -2.0
          %2: f32[3] = exp %x
          return %2
        }""")
