"""DType, TensorType, Spec parsing, NumPy (NEP 50) promotion and symbolic broadcasting."""
import numpy as np
import pytest
import sympy

import compiler as cc
from compiler.ir.types import (BOOL, F32, F64, I32, I64, TensorType, Spec, broadcast_shapes, dims_equal, dtype,
                               parse_type, promote, prod, symbol)

N, M = symbol("N"), symbol("M")


def test_dtype_lookup():
    for name, d in [("f32", F32), ("float32", F32), ("f64", F64), ("i32", I32), ("int64", I64), ("bool", BOOL)]:
        assert dtype(name) is d
    assert dtype(np.float32) is F32 and dtype(np.dtype("int32")) is I32 and dtype(np.bool_) is BOOL
    assert dtype(float) is F64 and dtype(int) is I64 and dtype(bool) is BOOL
    assert str(F32) == "f32" and F32.is_float and I32.is_int and BOOL.is_bool and F64.bits == 64
    assert dtype(np.uint32).name == "u32" and dtype("uint32").is_int and dtype("u32").is_unsigned and not I32.is_unsigned


@pytest.mark.parametrize("bad", [np.complex64, complex, np.float16, np.int8, np.uint16, np.uint64, object, "U5", "c8",
                                 "bogus"])
def test_unsupported_dtypes_raise_dtypeerror(bad):
    with pytest.raises(cc.DTypeError) as e:
        dtype(bad)
    assert isinstance(e.value, TypeError)          # DTypeError is also a TypeError
    assert "f32" in str(e.value) or "float32" in str(e.value)   # says what is supported


@pytest.mark.parametrize("args,want", [
    ((F32, 2.0), F32), ((F32, 2), F32), ((I32, 2), I32), ((I32, 2.0), F64), ((BOOL, 1), I64), ((BOOL, 1.0), F64),
    ((BOOL, True), BOOL), ((I32, I64), I64), ((F32, I32), F64), ((F32, I64), F64), ((F32, F64), F64),
    ((BOOL, I32), I32), ((F32, BOOL), F32), ((I64, F32, 3.0), F64),
])
def test_promote_follows_numpy_nep50(args, want):
    assert promote(*args) is want
    ref = np.result_type(*[a.np if hasattr(a, "np") else a for a in args])
    assert dtype(ref) is want


def test_spec_parsing():
    s = cc.Spec("f32[N,784]")
    assert s.dtype is F32 and s.shape == (N, 784) and str(s) == "f32[N,784]"
    assert s.shape[0] is symbol("N")
    assert symbol("N").is_integer and symbol("N").is_positive
    assert cc.Spec("f64[]").shape == () and str(cc.Spec("f64[]")) == "f64[]"
    assert cc.Spec("bool[ 2 , N ]").shape == (2, N)
    assert cc.Spec("int32[3]").dtype is I32
    assert cc.Spec("f32[M + N,3]").shape == (M + N, 3)
    assert cc.Spec("f32[2*N]").shape == (2 * N,)
    assert cc.Spec((None, 784)).shape == (symbol("d0"), 784)
    assert cc.Spec(("B", 3), "i64").shape == (symbol("B"), 3)
    assert repr(s) == "Spec('f32[N,784]')"


@pytest.mark.parametrize("bad", ["f32", "c64[3]", "f32[N,", "f32[N,?]", "float16[2]", "f32[3.5]", "f32[N;3]"])
def test_spec_parse_errors(bad):
    with pytest.raises(cc.ParseError) as e:
        parse_type(bad)
    assert isinstance(e.value, ValueError) and isinstance(e.value, cc.ViveError)
    assert repr(bad) in str(e.value) or "cannot parse" in str(e.value)


def test_tensortype_str_eq_hash():
    assert str(TensorType("f32", (N, 6, 28, 28))) == "f32[N,6,28,28]"
    assert str(TensorType("f32", ())) == "f32[]"
    assert str(TensorType("i64", (M + N, 3))) == "i64[M + N,3]"          # sympy's printing, as DESIGN.md says
    a, b = TensorType("f32", ((N + 1) * M, 2)), TensorType("f32", (M * N + M, 2))
    assert a == b and hash(a) == hash(b)
    assert TensorType("f32", (N,)) != TensorType("f64", (N,))
    assert TensorType("f32", (N,)) != TensorType("f32", (M,))
    assert TensorType("f32", (2, 3)) != TensorType("f32", (3, 2))
    assert TensorType("f32", (sympy.Integer(3),)).shape == (3,) and isinstance(
        TensorType("f32", (sympy.Integer(3),)).shape[0], int)          # sympy integers become ints
    assert TensorType("f32", (N, 3)).size == 3 * N and TensorType("f32", (2, 3)).size == 6
    assert TensorType("f32", (N, 3)).free_symbols == {N} and not TensorType("f32", (N,)).is_static
    with pytest.raises(cc.ShapeError):
        TensorType("f32", (2.5,))


def test_dims_equal_and_prod():
    assert dims_equal(3, 3) and not dims_equal(3, 4)
    assert dims_equal(N + N, 2 * N) and dims_equal((N + 1) * 2, 2 * N + 2)
    assert not dims_equal(N, M) and not dims_equal(N, 3)
    assert prod([2, 3]) == 6 and prod([]) == 1 and prod([N, 2]) == 2 * N
    assert isinstance(prod([sympy.Integer(2), 3]), int)


@pytest.mark.parametrize("a,b,want", [
    ((2, 3), (3,), (2, 3)), ((1,), (4,), (4,)), ((N, 1), (3,), (N, 3)), ((N, 3), (N, 1), (N, 3)),
    ((1, N), (M, 1), (M, N)), ((), (N,), (N,)), ((2, 1, 4), (3, 1), (2, 3, 4)), ((N + M,), (M + N,), (M + N,)),
])
def test_broadcast_shapes(a, b, want):
    got = broadcast_shapes(a, b)
    assert len(got) == len(want) and all(dims_equal(x, y) for x, y in zip(got, want))
    if all(isinstance(d, int) for d in a + b):
        assert got == np.broadcast_shapes(a, b)


@pytest.mark.parametrize("a,b", [((2,), (3,)), ((N,), (M,)), ((N,), (3,)), ((2, N), (N, 2))])
def test_broadcast_shapes_errors(a, b):
    with pytest.raises(cc.ShapeError) as e:
        broadcast_shapes(a, b, "add")
    assert str(e.value).startswith("add: cannot broadcast")
