"""eliminate_dead_code: golden IR."""
from compiler.ir import parse
from compiler.passes import eliminate_dead_code
from helpers import assert_ir, assert_same_result


def test_dce_drops_unused_exp():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[3] = exp %x
          %1: f32[3] = neg %x
          return %1
        }""")
    out = eliminate_dead_code(g)
    assert_ir(out, """
        graph f(%x: f32[3]) {
          %0: f32[3] = neg %x
          return %0
        }""")
    assert_same_result(g, out)


def test_dce_drops_dead_chains_keeps_inputs_and_shared():
    g = parse("""
        graph f(%x: f32[3], %unused: f32[2]) {
          %0: f32[] = const 1.0
          %1: f32[3] = exp %x
          %2: f32[3] = add %1, %0
          %3: f32[3] = tanh %2
          %4: f32[3] = mul %1, %1
          return %4, %1
        }""")
    out = eliminate_dead_code(g)
    assert_ir(out, """
        graph f(%x: f32[3], %unused: f32[2]) {
          %0: f32[3] = exp %x
          %1: f32[3] = mul %0, %0
          return %1, %0
        }""")
    assert_same_result(g, out)


def test_dce_everything_dead_and_unchanged():
    g = parse("""
        graph f(%x: f32[3]) {
          %0: f32[3] = exp %x
          return %x
        }""")
    assert_ir(eliminate_dead_code(g), """
        graph f(%x: f32[3]) {
          return %x
        }""")
    live = parse("""
        graph f(%x: f32[3]) {
          %0: f32[3] = exp %x
          return %0
        }""")
    assert eliminate_dead_code(live) is live
