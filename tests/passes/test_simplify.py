"""simplify_algebra: one golden test per identity, plus the cases that must stay (types, NaN semantics)."""
import numpy as np
import pytest

from compiler.ir import parse
from compiler.passes import simplify_algebra
from helpers import assert_ir, assert_same_result


def check(src, expected):
    g = parse(src)
    out = simplify_algebra(g)
    assert_ir(out, expected)
    assert out.out_types == g.out_types
    assert_same_result(g, out)
    return out


def unchanged(src):
    g = parse(src)
    assert simplify_algebra(g) is g


@pytest.mark.parametrize("op,lhs,rhs,unit", [
    ("mul", "%x", "%0", "1.0"), ("mul", "%0", "%x", "1.0"), ("add", "%x", "%0", "0.0"),
    ("add", "%0", "%x", "0.0"), ("sub", "%x", "%0", "0.0"), ("div", "%x", "%0", "1.0"),
])
def test_identity_elements(op, lhs, rhs, unit):
    check(f"""
        graph f(%x: f32[N,3]) {{
          %0: f32[] = const {unit}
          %1: f32[N,3] = {op} {lhs}, {rhs}
          %2: f32[N,3] = exp %1
          return %2
        }}""", """
        graph f(%x: f32[N,3]) {
          %0: f32[N,3] = exp %x
          return %0
        }""")


def test_identity_with_array_of_ones_of_same_shape():
    check("""
        graph f(%x: f32[3]) {
          %0: f32[3] = const [1.0, 1.0, 1.0]
          %1: f32[3] = mul %0, %x
          return %1
        }""", """
        graph f(%x: f32[3]) {
          return %x
        }""")


@pytest.mark.parametrize("src", [
    # 0 - x is not x; x / 1 with 1 on the left is not x either
    """graph f(%x: f32[3]) {
         %0: f32[] = const 0.0
         %1: f32[3] = sub %0, %x
         return %1
       }""",
    """graph f(%x: f32[3]) {
         %0: f32[] = const 1.0
         %1: f32[3] = div %0, %x
         return %1
       }""",
    # x + 0 where the zero broadcasts x to a bigger shape: the result is not x's type
    """graph f(%x: f32[3]) {
         %0: f32[2,3] = const [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
         %1: f32[2,3] = add %x, %0
         return %1
       }""",
    # the broadcast sets the result's shape: x is a scalar
    """graph f(%x: f32[]) {
         %0: f32[] = const 1.0
         %1: f32[N] = broadcast_in_dim %0 {dims=(), shape=(N,)}
         %2: f32[N] = mul %x, %1
         return %2
       }""",
    # float x * 0 keeps NaN and inf semantics
    """graph f(%x: f32[3]) {
         %0: f32[] = const 0.0
         %1: f32[3] = mul %x, %0
         return %1
       }""",
    # a const that is not all ones
    """graph f(%x: f32[2]) {
         %0: f32[2] = const [1.0, 2.0]
         %1: f32[2] = mul %x, %0
         return %1
       }""",
    # x * -1 is real work (and neg of it is not a double negation)
    """graph f(%x: f32[2]) {
         %0: f32[] = const -1.0
         %1: f32[2] = mul %x, %0
         %2: f32[2] = neg %1
         return %2
       }""",
])
def test_not_simplified(src):
    unchanged(src)


def test_float_mul_zero_keeps_nan():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[] = const 0.0
          %1: f32[3] = mul %x, %0
          return %1
        }""")
    from compiler.trace import interpret
    out = interpret(simplify_algebra(g), np.array([np.nan, np.inf, 1.0], np.float32))[0]
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 0


def test_int_mul_zero():
    check("""
        graph f(%x: i32[N,4], %y: i64[3]) {
          %0: i32[] = const 0
          %1: i32[N,4] = mul %x, %0
          %2: i64[3] = const [0, 0, 0]
          %3: i64[3] = mul %2, %y
          return %1, %3
        }""", """
        graph f(%x: i32[N,4], %y: i64[3]) {
          %0: i32[] = const 0
          %1: i32[N,4] = broadcast_in_dim %0 {dims=(), shape=(N, 4)}
          %2: i64[3] = const [0, 0, 0]
          return %1, %2
        }""")


def test_double_negation():
    check("""
        graph f(%x: f32[3], %i: i32[3]) {
          %0: f32[3] = neg %x
          %1: f32[3] = neg %0
          %2: i32[3] = neg %i
          %3: i32[3] = neg %2
          %4: i32[3] = neg %3
          return %1, %4
        }""", """
        graph f(%x: f32[3], %i: i32[3]) {
          %0: i32[3] = neg %i
          return %x, %0
        }""")


def test_double_negation_keeps_inner_when_used():
    check("""
        graph f(%x: f32[3]) {
          %0: f32[3] = neg %x
          %1: f32[3] = neg %0
          %2: f32[3] = mul %0, %1
          return %2
        }""", """
        graph f(%x: f32[3]) {
          %0: f32[3] = neg %x
          %1: f32[3] = mul %0, %x
          return %1
        }""")


def test_transpose_of_transpose_composes():
    check("""
        graph f(%x: f32[2,3,4]) {
          %0: f32[3,4,2] = transpose %x {perm=(1, 2, 0)}
          %1: f32[4,3,2] = transpose %0 {perm=(1, 0, 2)}
          return %1
        }""", """
        graph f(%x: f32[2,3,4]) {
          %0: f32[4,3,2] = transpose %x {perm=(2, 1, 0)}
          return %0
        }""")


def test_transpose_of_transpose_identity_and_identity_perm():
    check("""
        graph f(%x: f32[N,3,M]) {
          %0: f32[3,M,N] = transpose %x {perm=(1, 2, 0)}
          %1: f32[N,3,M] = transpose %0 {perm=(2, 0, 1)}
          %2: f32[N,3,M] = transpose %1 {perm=(0, 1, 2)}
          %3: f32[N,3,M] = tanh %2
          return %3
        }""", """
        graph f(%x: f32[N,3,M]) {
          %0: f32[N,3,M] = tanh %x
          return %0
        }""")


def test_reshape_chain_and_same_shape():
    check("""
        graph f(%x: f32[N,6], %y: f32[2,3]) {
          %0: f32[N,2,3] = reshape %x {shape=(N, 2, 3)}
          %1: f32[6,N] = reshape %0 {shape=(6, N)}
          %2: f32[N,6] = reshape %1 {shape=(N, 6)}
          %3: f32[2,3] = reshape %y {shape=(2, 3)}
          %4: f32[3,2] = reshape %y {shape=(3, 2)}
          %5: f32[6] = reshape %4 {shape=(6,)}
          return %2, %3, %5
        }""", """
        graph f(%x: f32[N,6], %y: f32[2,3]) {
          %0: f32[6] = reshape %y {shape=(6,)}
          return %x, %y, %0
        }""")


def test_broadcast_of_scalar_into_implicit_broadcast():
    check("""
        graph f(%x: f32[N,3], %b: f32[3], %c: bool[N,3]) {
          %0: f32[] = const 2.0
          %1: f32[N,3] = broadcast_in_dim %0 {dims=(), shape=(N, 3)}
          %2: f32[N,3] = mul %x, %1
          %3: f32[N,3] = broadcast_in_dim %b {dims=(1,), shape=(N, 3)}
          %4: f32[N,3] = add %3, %2
          %5: f32[N,3] = select %c, %4, %1
          return %5
        }""", """
        graph f(%x: f32[N,3], %b: f32[3], %c: bool[N,3]) {
          %0: f32[] = const 2.0
          %1: f32[N,3] = mul %x, %0
          %2: f32[N,3] = add %b, %1
          %3: f32[N,3] = select %c, %2, %0
          return %3
        }""")


def test_broadcast_kept_when_it_sets_the_shape():
    # both operands are broadcast: one may go, the other sets the result's shape; a broadcast that
    # 4umPy's implicit broadcasting would not do (x along axis 0 of [3,4]) stays
    check("""
        graph f(%x: f32[3], %s: f32[]) {
          %0: f32[4,3] = broadcast_in_dim %x {dims=(1,), shape=(4, 3)}
          %1: f32[4,3] = broadcast_in_dim %s {dims=(), shape=(4, 3)}
          %2: f32[4,3] = add %0, %1
          %3: f32[3,4] = broadcast_in_dim %x {dims=(0,), shape=(3, 4)}
          %4: f32[3,4] = exp %3
          %5: f32[3,4] = mul %3, %s
          return %2, %4, %5
        }""", """
        graph f(%x: f32[3], %s: f32[]) {
          %0: f32[4,3] = broadcast_in_dim %s {dims=(), shape=(4, 3)}
          %1: f32[4,3] = add %x, %0
          %2: f32[3,4] = broadcast_in_dim %x {dims=(0,), shape=(3, 4)}
          %3: f32[3,4] = exp %2
          %4: f32[3,4] = mul %2, %s
          return %1, %3, %4
        }""")


def test_broadcast_then_identity():
    check("""
        graph f(%x: f32[N,3]) {
          %0: f32[] = const 1.0
          %1: f32[N,3] = broadcast_in_dim %0 {dims=(), shape=(N, 3)}
          %2: f32[N,3] = mul %x, %1
          return %2
        }""", """
        graph f(%x: f32[N,3]) {
          return %x
        }""")


def test_broadcast_and_cast_to_same_type():
    check("""
        graph f(%x: f32[N,3], %i: i32[2]) {
          %0: f32[N,3] = broadcast_in_dim %x {dims=(0, 1), shape=(N, 3)}
          %1: f32[N,3] = cast %0 {dtype=f32}
          %2: i32[2] = cast %i {dtype=i32}
          %3: f32[2] = cast %i {dtype=f32}
          return %1, %2, %3
        }""", """
        graph f(%x: f32[N,3], %i: i32[2]) {
          %0: f32[2] = cast %i {dtype=f32}
          return %x, %i, %0
        }""")


def test_unchanged_graph_is_same_object():
    unchanged("""
        graph f(%x: f32[3]) {
          %0: f32[3] = exp %x
          return %0
        }""")


def test_broadcast_of_broadcast_composes_then_drops():
    check("""
        graph f(%x: f32[N,10], %s: f32[], %v: f32[3]) {
          %0: f32[N] = broadcast_in_dim %s {dims=(), shape=(N,)}
          %1: f32[N,10] = broadcast_in_dim %0 {dims=(0,), shape=(N, 10)}
          %2: f32[N,10] = mul %x, %1
          %3: f32[3,1] = broadcast_in_dim %v {dims=(0,), shape=(3, 1)}
          %4: f32[2,3,5] = broadcast_in_dim %3 {dims=(1, 2), shape=(2, 3, 5)}
          return %2, %4
        }""", """
        graph f(%x: f32[N,10], %s: f32[], %v: f32[3]) {
          %0: f32[N,10] = mul %x, %s
          %1: f32[2,3,5] = broadcast_in_dim %v {dims=(1,), shape=(2, 3, 5)}
          return %0, %1
        }""")


# ---- a sum that reuses an earlier sum (_factor_sum) ----

def test_sum_of_a_scaled_term_reuses_the_earlier_sum():
    # softmax backward: sum(a + k*e) over rows where s = sum(e) exists and k is constant along the row
    check("""
        graph f(%x: f32[4,5], %a: f32[4,5], %k: f32[4]) {
          %0: f32[4,5] = exp %x
          %1: f32[4] = reduce_sum %0 {axes=(1,)}
          %2: f32[4,5] = broadcast_in_dim %k {dims=(0,), shape=(4, 5)}
          %3: f32[4,5] = mul %2, %0
          %4: f32[4,5] = add %a, %3
          %5: f32[4,5] = neg %4
          %6: f32[4] = reduce_sum %5 {axes=(1,)}
          return %1, %6
        }""", """
        graph f(%x: f32[4,5], %a: f32[4,5], %k: f32[4]) {
          %0: f32[4,5] = exp %x
          %1: f32[4] = reduce_sum %0 {axes=(1,)}
          %2: f32[4] = mul %k, %1
          %3: f32[4,5] = neg %a
          %4: f32[4] = reduce_sum %3 {axes=(1,)}
          %5: f32[4] = sub %4, %2
          return %1, %5
        }""")


def test_sum_reuse_maps_the_factor_onto_the_kept_axes():
    # reduce over axis 0 of [3,4,5]: k varies along axes 1 and 2 (its dims (1, 2); read by the product with
    # NumPy's implicit broadcasting once the explicit one goes) -> a [4,5] factor
    out = check("""
        graph f(%x: f32[3,4,5], %k: f32[4,5]) {
          %0: f32[3,4,5] = tanh %x
          %1: f32[4,5] = reduce_sum %0 {axes=(0,)}
          %2: f32[3,4,5] = broadcast_in_dim %k {dims=(1, 2), shape=(3, 4, 5)}
          %3: f32[3,4,5] = mul %0, %2
          %4: f32[4,5] = reduce_sum %3 {axes=(0,)}
          return %1, %4
        }""", """
        graph f(%x: f32[3,4,5], %k: f32[4,5]) {
          %0: f32[3,4,5] = tanh %x
          %1: f32[4,5] = reduce_sum %0 {axes=(0,)}
          %2: f32[4,5] = mul %k, %1
          return %1, %2
        }""")
    assert len(out.nodes) == 3


def _row_scaled_sums(later_axis):
    """exp(x) summed over axis 0, then k * exp(x) (k along axis 0) summed over later_axis."""
    size = 5 if later_axis == 0 else 4
    return f"""graph f(%x: f32[4,5], %k: f32[4]) {{
          %0: f32[4,5] = exp %x
          %1: f32[5] = reduce_sum %0 {{axes=(0,)}}
          %2: f32[4,5] = broadcast_in_dim %k {{dims=(0,), shape=(4, 5)}}
          %3: f32[4,5] = mul %2, %0
          %4: f32[{size}] = reduce_sum %3 {{axes=({later_axis},)}}
          return %1, %4
        }}"""


@pytest.mark.parametrize("src", [
    # the factor varies along the summed axis: sum(k*e) is not k*sum(e)
    """graph f(%x: f32[4,5], %k: f32[5]) {
          %0: f32[4,5] = exp %x
          %1: f32[4] = reduce_sum %0 {axes=(1,)}
          %3: f32[4,5] = mul %k, %0
          %4: f32[4] = reduce_sum %3 {axes=(1,)}
          return %1, %4
        }""",
    # k (along axis 0) varies along the summed axis 0
    _row_scaled_sums(0),
    # the earlier sum is over other axes
    _row_scaled_sums(1),
    # no earlier sum of any term: the sum stays one loop
    """graph f(%x: f32[4,5], %a: f32[4,5]) {
          %0: f32[4,5] = exp %x
          %1: f32[4,5] = add %a, %0
          %2: f32[4] = reduce_sum %1 {axes=(1,)}
          return %2
        }""",
    # integers: kept as written
    """graph f(%x: i32[4,5], %k: i32[4]) {
          %1: i32[4] = reduce_sum %x {axes=(1,)}
          %2: i32[4,5] = broadcast_in_dim %k {dims=(0,), shape=(4, 5)}
          %3: i32[4,5] = mul %2, %x
          %4: i32[4] = reduce_sum %3 {axes=(1,)}
          return %1, %4
        }""",
])
def test_sum_not_rewritten(src):
    unchanged(src)


def test_cross_entropy_backward_sums_exp_once_per_row():
    # the hand-written softmax cross-entropy of the benchmarks: its backward's sums reuse sum(e^z) (an exp pass
    # less per row), and value and gradient still match float64 NumPy
    import compiler as cc

    def ce(logits, labels):
        m = logits.max(axis=1, keepdims=True)
        z = logits - m
        lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -np.take_along_axis(z - lse, labels[:, None], axis=1).mean()
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((64, 37)).astype(np.float32)
    labels = rng.integers(0, 37, 64)
    f = cc.compile(cc.value_and_grad(ce))
    row = [k for k in f.lower(logits, labels).kernels.kernels if "exp" in str(k)]
    assert len(row) == 1 and str(row[0]).count("exp(") == 2        # the lse pass and the gradient's store
    l, g = f(logits, labels)
    x = logits.astype(np.float64)
    s = np.exp(x - x.max(1, keepdims=True))
    s /= s.sum(1, keepdims=True)
    want = s.copy()
    want[np.arange(64), labels] -= 1
    np.testing.assert_allclose(l, -np.log(s[np.arange(64), labels]).mean(), rtol=1e-5)
    np.testing.assert_allclose(g, want / 64, rtol=1e-4, atol=1e-7)


def test_sum_reuse_with_a_symbolic_size():
    check("""
        graph f(%x: f32[N,5], %k: f32[N]) {
          %0: f32[N,5] = logistic %x
          %1: f32[N] = reduce_sum %0 {axes=(1,)}
          %2: f32[N,5] = broadcast_in_dim %k {dims=(0,), shape=(N, 5)}
          %3: f32[N,5] = mul %0, %2
          %4: f32[N,5] = sub %0, %3
          %5: f32[N] = reduce_sum %4 {axes=(1,)}
          return %5
        }""", """
        graph f(%x: f32[N,5], %k: f32[N]) {
          %0: f32[N,5] = logistic %x
          %1: f32[N] = reduce_sum %0 {axes=(1,)}
          %2: f32[N] = mul %k, %1
          %3: f32[N] = sub %1, %2
          return %3
        }""")
