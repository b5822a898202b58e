"""cc.Spec and printed types follow a grammar (ir/typeparse.py): parsed, never evaluated, errors name the column."""
import sys

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import compiler as cc
from compiler.ir.types import TensorType, parse_type, symbol, _parse_dim_expr

INT64_MAX = 2 ** 63 - 1
N, M = symbol("N"), symbol("M")


@pytest.mark.parametrize("text,col,words", [
    ("f32[().__class__.__base__.__subclasses__().__len__()]", 7, "unexpected character '.'"),
    ("f32[__import__('os').getpid()]", 16, "unexpected character"),
    ("f32[-1]", 5, "negative size -1"),
    ("f32[N,3-5]", 7, "negative size -2"),
    ("f32[-N]", 5, "negative for every value of N"),
    ("f32[1e3]", 6, "whole numbers"),
    ("f32[2.0]", 6, "whole numbers"),
    ("f32[9223372036854775808]", 5, "larger than the int64 maximum"),
    ("f32[99999999999999999999999]", 5, "larger than the int64 maximum"),
    ("f32[4294967296*4294967296]", 5, "larger than the int64 maximum"),
    ("f32[2**63]", 6, "power too large"),
    ("f32[N**1000]", 6, "power too large"),
    ("f32[N**M]", 8, "whole-number exponent"),
    ("f32[ceiling(N/2)]", 5, "not a size"),
    ("f32[N/2]", 6, "',' or ']'"),
    ("f32[3,]", 7, "expected a size"),
    ("f32[N", 6, "',' or ']'"),
    ("f32[N] f32[3]", 8, "the end of the type"),
    ("c64[3]", 1, "unknown dtype 'c64'"),
    ("float16[3]", 1, "unknown dtype"),
    ("[3]", 1, "expected a dtype"),
    ("f32(3)", 4, "'['"),
    ("f32[N]]", 7, "the end of the type"),
    ("f32[(N]", 7, "')'"),
    ("f32[" + "(" * 100 + "N" + ")" * 100 + "]", 70, "nested more than 64 deep"),
    ("f32[N\u00e9]", 6, "unexpected character"),
])
def test_bad_specs_name_the_column(text, col, words):
    with pytest.raises(cc.ParseError) as e:
        cc.Spec(text)
    err = e.value
    assert isinstance(err, ValueError) and isinstance(err, cc.ViveError)
    assert err.pos == col - 1 and words in err.reason
    msg = str(err)
    assert f"cannot parse type {text!r}" in msg and f"at column {col}" in msg
    lines = msg.splitlines()
    assert lines[1] == "  " + text.replace("\t", " ")
    assert lines[2].strip() == "^" and lines[2].index("^") == 2 + col - 1      # under the column, after the indent
    assert "f32[N,784]" in lines[3]


@pytest.mark.parametrize("text,dtype,shape", [
    ("f32[N,784]", "f32", (N, 784)),
    ("  float64 [ ]  ", "f64", ()),
    ("f32[]", "f32", ()),
    ("i32[\t0 ,N]", "i32", (0, N)),
    ("bool_[1]", "bool", (1,)),
    ("int64[9223372036854775807]", "i64", (INT64_MAX,)),
    ("f32[N-M]", "f32", (N - M,)),                      # a difference is a size expression; checked per call
    ("f32[N - 2, 2*N+1]", "f32", (N - 2, 2 * N + 1)),
    ("f32[(N+1)*(M-1)]", "f32", ((N + 1) * (M - 1),)),
    ("f32[-(1-N)]", "f32", (N - 1,)),
    ("f32[N*N*3]", "f32", (3 * N ** 2,)),
    ("f32[N**2]", "f32", (N ** 2,)),
    ("f32[2**62]", "f32", (2 ** 62,)),
    ("f32[floor, Max]", "f32", (symbol("floor"), symbol("Max"))),    # names, not functions
    ("f32[I, E, S, pi, oo]", "f32", tuple(symbol(s) for s in ("I", "E", "S", "pi", "oo"))),
])
def test_good_specs(text, dtype, shape):
    s = cc.Spec(text)
    assert s.dtype.name == dtype and s.shape == shape
    for d, want in zip(s.shape, shape):
        assert d == want and type(d) is type(want) or sympy.expand(d - want) == 0
    assert cc.Spec(str(s)) == s and str(cc.Spec(str(s))) == str(s)


def test_sympy_names_are_plain_symbols():
    s = cc.Spec("f32[N,I]")
    assert s.shape[0] is symbol("N") and s.shape[1] is symbol("I") and s.shape[1].is_positive


def test_spec_from_a_tuple_checks_sizes():
    assert cc.Spec((None, "B", 0, INT64_MAX)).shape == (symbol("d0"), symbol("B"), 0, INT64_MAX)
    with pytest.raises(cc.ShapeError):
        cc.Spec((-1, 3))
    with pytest.raises(cc.ShapeError):
        cc.Spec((2 ** 63,))
    with pytest.raises(cc.ParseError):
        cc.Spec(("N+1",))
    with pytest.raises(cc.ParseError):
        cc.Spec(("__import__('os')",))


def test_printed_forms_of_derived_sizes_parse_back():
    # sizes the primitives make (strided slices, windows, clamps) print with sympy functions
    sizes = [sympy.ceiling(N / 2 - sympy.Rational(1, 2)), sympy.floor((N - 3) / 2) + 1, sympy.Max(M, N),
             sympy.Min(N, 7), sympy.Mod(N, 3), 3 * N ** 2 - N, (M - 2) * (N + 1), -M + N]
    for d in sizes:
        t = TensorType("f32", (d, 3))
        assert parse_type(str(t)) == t
        assert _parse_dim_expr(str(d)) == d
    with pytest.raises(cc.ParseError):
        cc.Spec(str(TensorType("f32", (sizes[0],))))       # cc.Spec keeps to + - *


def test_traced_graph_types_round_trip():
    g = cc.trace(lambda x: x[1::2] * 2, cc.Spec("f32[N]"))
    assert "ceiling" in str(g)
    assert str(cc.parse(str(g))) == str(g)


# ---- properties ----

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,4}", fullmatch=True)
_INTS = st.one_of(st.integers(0, 20), st.integers(0, INT64_MAX))
_WS = st.sampled_from(["", "", " ", "  ", "\t"])


def _leaf():
    return st.one_of(_INTS.map(lambda v: (str(v), sympy.Integer(v))),
                     _NAMES.map(lambda s: (s, symbol(s))))


def _extend(children):
    def binop(args):
        (ta, va), op, (tb, vb), w1, w2 = args
        text = f"({ta}{w1}{op}{w2}{tb})"
        return text, {"+": va + vb, "-": va - vb, "*": va * vb}[op]
    return st.one_of(
        st.tuples(children, st.sampled_from("+-*"), children, _WS, _WS).map(binop),
        children.map(lambda c: (f"-{c[0]}", -c[1])),
        children.map(lambda c: (f"( {c[0]} )", c[1])))


_DIMS = st.recursive(_leaf(), _extend, max_leaves=6)
_DTYPES = st.sampled_from(["f32", "f64", "i32", "i64", "bool", "float32", "float64", "int32", "int64"])


def _valid(v):
    if v.is_Integer:
        return 0 <= int(v) <= INT64_MAX
    return not v.is_negative and all(abs(int(a)) <= INT64_MAX for a in v.atoms(sympy.Integer))


@settings(max_examples=300, deadline=None)
@given(_DTYPES, st.lists(_DIMS, max_size=4), _WS, _WS)
def test_random_specs_parse_as_built_and_round_trip(dt, dims, w1, w2):
    text = f"{w1}{dt}{w2}[{w1}" + f"{w2},{w1}".join(t for t, _ in dims) + f"{w2}]{w1}"
    if not all(_valid(v) for _, v in dims):
        with pytest.raises(cc.ParseError):
            cc.Spec(text)
        return
    s = cc.Spec(text)
    assert s.dtype is cc.ir.dtype(dt)
    assert s == TensorType(dt, [v for _, v in dims])          # sympy built from the same tree, the oracle
    back = cc.Spec(str(s))
    assert back == s and str(back) == str(s)
    assert parse_type(str(s)) == s


_JUNK = st.lists(st.sampled_from(list("f32i64bool[](),.+-*/_ NMxe'\"#;:=!@^&|~`{}\\0123456789")
                                  + ["__class__", "__import__", "lambda", "()", "**", "os", "eval"]),
                 max_size=30).map("".join)


def _no_text_evaluation(mp):
    # the old parser went through sympy.sympify(text), which evals; refuse any string reaching it
    real = sympy.sympify

    def sympify(a, *args, **kw):
        if isinstance(a, str):
            raise AssertionError(f"a type was evaluated: {a!r}")
        return real(a, *args, **kw)
    mp.setattr(sympy, "sympify", sympify)
    mp.setattr(sys.modules["sympy.core.sympify"], "sympify", sympify)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_JUNK, _JUNK.map(lambda s: "f32[" + s), _JUNK.map(lambda s: "f32[" + s + "]")))
def test_junk_never_runs_and_raises_parse_error(text):
    with pytest.MonkeyPatch.context() as mp:
        _no_text_evaluation(mp)
        try:
            t = cc.Spec(text)
        except cc.ParseError as e:
            assert e.pos is not None and 0 <= e.pos <= len(text)
            return
        assert isinstance(t, TensorType) and cc.Spec(str(t)) == t


def test_spec_text_is_not_evaluated(monkeypatch):
    seeded = []
    monkeypatch.setattr(np.random, "seed", lambda *a: seeded.append(a))
    for text in ("f32[np.random.seed(0)]", "f32[N.__class__]", "f32[seed(0)]"):
        with pytest.raises(cc.ParseError):
            cc.Spec(text)
    assert not seeded
