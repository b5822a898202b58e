"""The canonical text IR: print(parse(text)) == text, names in topological order, params and constants of every
kind, source locations, and parse errors that say the line."""
import textwrap

import numpy as np
import pytest

import compiler as cc
from compiler.ir import parse, print_graph, verify
from compiler.primitives import REGISTRY
from trace_checks import check_every_trace, check_graph  # noqa: F401  (autouse: every trace round-trips)

# One node per primitive (so a new primitive's params must survive the text form too; see test_every_primitive_*)
EVERY_PRIMITIVE = """
graph every(%x: f32[N,3], %y: f32[N,3], %i: i32[N], %b: bool[N,3], %img: f32[N,1,8,8], %w: f32[4,1,3,3], %key: i64[]) {
  %0: f32[N,3] = neg %x
  %1: f32[N,3] = exp %0
  %2: f32[N,3] = log %1
  %3: f32[N,3] = sin %2
  %4: f32[N,3] = cos %3
  %5: f32[N,3] = tanh %4
  %6: f32[N,3] = logistic %5
  %7: f32[N,3] = sqrt %6
  %8: f32[N,3] = abs %7
  %9: f32[N,3] = sign %8
  %10: f32[N,3] = reciprocal %9
  %11: f32[N,3] = square %10
  %12: bool[N,3] = logical_not %b
  %13: f32[N,3] = add %11, %y
  %14: f32[N,3] = sub %13, %y
  %15: f32[N,3] = mul %14, %y
  %16: f32[N,3] = div %15, %y
  %17: f32[N,3] = pow %16, %y
  %18: f32[N,3] = maximum %17, %y
  %19: f32[N,3] = minimum %18, %y
  %20: bool[N,3] = eq %19, %y
  %21: bool[N,3] = ne %19, %y
  %22: bool[N,3] = lt %19, %y
  %23: bool[N,3] = le %19, %y
  %24: bool[N,3] = gt %19, %y
  %25: bool[N,3] = ge %19, %y
  %26: bool[N,3] = logical_and %20, %21
  %27: bool[N,3] = logical_or %26, %12
  %28: f32[N,3] = select %27, %19, %y
  %29: f64[N,3] = cast %28 {dtype=f64}
  %30: f32[2,N,3] = broadcast_in_dim %28 {dims=(1, 2), shape=(2, N, 3)}
  %31: f32[3,N] = transpose %28 {perm=(1, 0)}
  %32: f32[3*N] = reshape %28 {shape=(3*N,)}
  %33: f32[N - 1,2] = slice %28 {start=(1, 0), step=(1, 2), stop=(N, 3)}
  %34: f32[N + 3,5] = pad %28 {hi=(2, 1), interior=(0, 0), lo=(1, 1), value=-0.5}
  %35: f32[2*N,3] = concatenate %28, %y {axis=0}
  %36: f32[N,3] = rev %28 {axes=(0, 1)}
  %37: f32[3] = reduce_sum %28 {axes=(0,)}
  %38: f32[] = reduce_max %28 {axes=(0, 1)}
  %39: i64[N] = argmax %28 {axis=1}
  %40: f32[N,N] = dot_general %28, %y {batch=((), ()), contract=((1,), (1,))}
  %41: f32[N,4,6,6] = conv2d %img, %w {padding=(0, 0), stride=(1, 1)}
  %42: f32[N,4,3,3] = max_pool2d %41 {size=(2, 2), stride=(2, 2)}
  %43: f32[2,2] = const [[1.5, -0.0], [inf, nan]]
  %44: i64[] = dim {expr=N - 1}
  %45: f32[N,10] = one_hot %i {dtype=f32, num_classes=10}
  %46: f32[N,3] = take %28, %i {axis=0}
  %47: f32[N,5] = broadcast_in_dim %38 {dims=(), shape=(N, 5)}
  %48: f32[] = const 0.1
  %49: bool[3] = const [True, False, True]
  %50: i32[0] = const []
  %51: f32[ceiling(N/2),3] = slice %28 {start=(0, 0), step=(2, 1), stop=(N, 3)}
  %52: f32[N,1,8,8] = conv2d_transpose_input %41, %w {in_hw=(8, 8), padding=(0, 0), stride=(1, 1)}
  %53: f32[4,1,3,3] = conv2d_transpose_kernel %img, %41 {kernel_hw=(3, 3), padding=(0, 0), stride=(1, 1)}
  %54: f32[N,4,3,3] = max_pool2d_jvp %41, %41 {size=(2, 2), stride=(2, 2)}
  %55: f32[N,4,6,6] = max_pool2d_vjp %41, %42 {size=(2, 2), stride=(2, 2)}
  %56: f32[7,3] = scatter_add %28, %i {axis=0, size=7}
  %57: i32[N] = check_index %i {axis=0, size=7}
  %58: f32[N,3] = floor %x
  %59: f32[N,3] = ceil %58
  %60: f32[N,3] = trunc %59
  %61: f32[N,3] = rint %60
  %62: f32[N,3] = erf %61
  %63: f32[N,3] = atan2 %62, %y
  %64: f32[N,3] = fmod %63, %y
  %65: f32[3] = reduce_sum %x {axes=(0,)}
  %66: (f32[3], f32[N,3]) = scan %65, %x {length=N, n_carry=1, n_consts=0, reverse=True}
    graph body(%c: f32[3], %r: f32[3]) {
      %0: f32[3] = add %c, %r
      %1: f32[3] = tanh %0
      return %1, %0
    }
  %67: f32[N,3] = get %66 {index=1}
  %68: (i64[], f32[N,3]) = while_loop %key, %key, %67 {n_body_consts=0, n_cond_consts=1}
    graph body(%k: i64[], %v: f32[N,3]) {
      %0: i64[] = const 1
      %1: i64[] = add %k, %0
      %2: f32[N,3] = sin %v
      return %1, %2
    }
    graph cond(%n: i64[], %k: i64[], %v: f32[N,3]) {
      %0: bool[] = lt %k, %n
      return %0
    }
  %69: f32[N,3] = get %68 {index=1}
  %70: i32[] = cast %key {dtype=i32}
  %71: (f32[N,3],) = cond %70, %69, %y
    graph branches.0(%a: f32[N,3], %b: f32[N,3]) {
      return %a
    }
    graph branches.1(%a: f32[N,3], %b: f32[N,3]) {
      %0: f32[N,3] = mul %a, %b
      return %0
    }
  %72: f32[N,3] = get %71 {index=0}
  %73: f32[N,3] = stop_gradient %64
  %74: bool[] = debug_print %73, %i {fmt='{} {k!r}', names=('k',), token=False, trees=('...', "{'a': (...,)}")}
  %75: bool[] = debug_print %74 {fmt='done', names=(), token=True, trees=()}
  %76: f32[N,3] = optimization_barrier %73
  %77: (f32[N,3],) = remat_call %76 {name='g', prevent_cse=True}
    graph fun(%a0: f32[N,3]) {
      %0: f32[N,3] = tanh %a0
      return %0
    }
  %78: f32[N,3] = get %77 {index=0}
  %79: (f32[N,3],) = custom_jvp_call %78 {n_fun_consts=0, n_jvp_consts=0, name='h'}
    graph fun(%a0: f32[N,3]) {
      %0: f32[N,3] = sin %a0
      return %0
    }
    graph jvp(%p: f32[N,3], %t: f32[N,3]) {
      %0: f32[N,3] = sin %p
      %1: f32[N,3] = cos %p
      %2: f32[N,3] = mul %1, %t
      return %0, %2
    }
  %80: f32[N,3] = get %79 {index=0}
  %81: (f32[N,3],) = custom_vjp_call %x, %80 {n_bwd_consts=1, n_fun_consts=0, n_fwd_consts=0, name='k'}
    graph bwd(%c: f32[N,3], %r: f32[N,3], %ct: f32[N,3]) {
      %0: f32[N,3] = mul %ct, %r
      %1: f32[N,3] = add %0, %c
      return %1
    }
    graph fun(%a0: f32[N,3]) {
      %0: f32[N,3] = exp %a0
      return %0
    }
    graph fwd(%a0: f32[N,3]) {
      %0: f32[N,3] = exp %a0
      return %0, %0
    }
  %82: f32[N,3] = get %81 {index=0}
  %83: u32[] = cast %key {dtype=u32}
  %84: u32[N,2] = threefry2x32 %83, %83, %83, %83 {mode='pair', shape=(N,)}
  %85: f32[N,3] = all_sum %x {bucket_bytes=1024}
  %86: f32[N,3] = all_mean %85 {overlap=False}
  %87: f32[3*N] = allreduce_start %32 {slot=0}
  %88: f32[3*N] = allreduce_wait %87, %32 {slot=0}
  %89: f32[N,3] = erfinv %x
  %90: f32[N,N] = solve %40, %40
  %91: f32[2] = slogdet %40
  %92: f32[N,N] = cholesky %40
  %93: f32[N**2 + N] = eigh %40 {uplo='U'}
  %94: f32[4,1,21] = svd %w
  %95: f32[4,1,3] = svd_values %w
  %96: f32[N,3] = copysign %89, %y
  %97: f32[N - 1] = iota {dtype=f32, n=N - 1}
  %98: bool[] = assert_true %74 {msg="holds {x}'s", token=False}
  return %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %64, %72, %73, %82, %84, %86, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97
}"""


def test_every_primitive_round_trips_exactly():
    text = textwrap.dedent(EVERY_PRIMITIVE).strip()
    g = parse(text)
    verify(g)
    assert print_graph(g) == text
    assert print_graph(parse(print_graph(g))) == text


def test_every_primitive_is_in_the_round_trip_text():
    used = {n.prim.name for n in parse(EVERY_PRIMITIVE).nodes}
    missing = sorted(set(REGISTRY) - used)
    assert not missing, f"add a line using {missing} to EVERY_PRIMITIVE in tests/ir/test_printer_parser.py"


def test_constants_round_trip_bit_exactly():
    rng = np.random.default_rng(0)
    for value in [rng.standard_normal((5, 7)).astype(np.float32), rng.standard_normal(3), np.float32(0.1),
                  np.array([np.nan, -np.inf, -0.0, 1e-30], np.float32), rng.integers(-2**40, 2**40, 20),
                  rng.integers(-9, 9, (2, 3)).astype(np.int32), rng.random(40) < 0.5, np.zeros((2, 0), np.float64)]:
        g = cc.trace(lambda: value, name="c")
        text = check_graph(g)
        back = parse(text).nodes[0].params["value"]
        assert back.dtype == np.asarray(value).dtype and back.shape == np.shape(value)
        assert np.asarray(value).tobytes() == back.tobytes()
        assert ("base64(" in text) == (np.size(value) > 16)


def test_names_are_assigned_in_order_and_inputs_keep_theirs():
    def f(params, x):
        return np.tanh(x @ params["w"] + params["b"]), None

    g = cc.trace(f, {"w": np.ones((4, 2), np.float32), "b": np.ones(2, np.float32)}, cc.Spec("f32[N,4]"))
    assert print_graph(g) == textwrap.dedent("""\
        graph f(%params.b: f32[2], %params.w: f32[4,2], %x: f32[N,4]) {
          %0: f32[N,2] = dot_general %x, %params.w {batch=((), ()), contract=((1,), (0,))}
          %1: f32[N,2] = add %0, %params.b
          %2: f32[N,2] = tanh %1
          return %2
        }""")


def test_duplicate_and_missing_input_names_get_unique_names():
    b = cc.ir.GraphBuilder("g")
    x1, x2, x3 = b.input(cc.Spec("f32[2]"), "x"), b.input(cc.Spec("f32[2]"), "x"), b.input(cc.Spec("f32[2]"))
    g = b.build([b.add(REGISTRY["add"], [x1, x2]), x3])
    assert print_graph(g).splitlines()[0] == "graph g(%x: f32[2], %x_1: f32[2], %a2: f32[2]) {"
    assert print_graph(parse(print_graph(g))) == print_graph(g)


def test_locations_print_and_parse():
    g = cc.trace(lambda x: np.exp(x) * 2.0, cc.Spec("f32[3]"))
    text = print_graph(g, locs=True)
    lines = text.splitlines()
    line = test_locations_print_and_parse.__code__.co_firstlineno + 1
    assert lines[1].endswith(f"# tests/ir/test_printer_parser.py:{line}")
    back = parse(text)
    assert [n.loc.line for n in back.nodes] == [n.loc.line for n in g.nodes]
    assert print_graph(back) == print_graph(g)         # without locs the text is the plain canonical form
    assert "#" not in print_graph(g)


@pytest.mark.parametrize("text,msg", [
    ("", "empty"),
    ("graf f() {\n return\n}", "line 1"),
    ("graph f(%x f32[3]) {\n return %x\n}", "bad parameter"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = frobnicate %x\n  return %0\n}", "line 2: unknown primitive 'frobnicate'"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = neg %y\n  return %0\n}", "line 2: undefined value %y"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = neg %x\n  %0: f32[3] = neg %x\n  return %0\n}", "line 3: %0 defined twice"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = neg %x\n}", "missing 'return'"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = neg %x\n  return %1\n}", "line 3: undefined value %1"),
    ("graph f(%x: f32[3]) {\n  %0 = neg %x\n  return %0\n}", "line 2: cannot parse"),
    ("graph f(%x: f32[3]) {\n  %0: f32[3] = reshape %x {shape=(3,)\n  return %0\n}", "line 2"),
    ("graph f(%x: q8[3]) {\n  return %x\n}", "cannot parse type"),
])
def test_parse_errors_say_where(text, msg):
    with pytest.raises(cc.ViveError) as e:
        parse(text)
    assert msg in str(e.value)


def test_parse_accepts_indentation_and_blank_lines():
    g = parse("""
        graph f(%x: f32[N]) {

            %0: f32[N] = exp %x
            return %0, %x
        }""")
    assert print_graph(g) == "graph f(%x: f32[N]) {\n  %0: f32[N] = exp %x\n  return %0, %x\n}"
