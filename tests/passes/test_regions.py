"""optimize_regions (passes/regions.py): the generic pipeline inside regions, unread results and operands dropped;
pure (its input graph is unchanged) and the identity on graphs without regions."""
import numpy as np

import compiler as cc
from compiler.ir.printer import print_graph
from compiler.passes import optimize_regions, run_pipeline, GENERIC_PIPELINE


def f(h, xs, w):
    def step(c, x):
        a = np.exp(c) + x
        b = np.exp(c) + x
        return a * b, (a.sum(), w * 2.0)
    c, (s, _) = cc.scan(step, h, xs)
    return c


WANT = """graph f(%h: f32[3], %xs: f32[T,3], %w: f32[3]) {
  %0: (f32[3],) = scan %h, %xs {length=T, n_carry=1, n_consts=0, reverse=False}
    graph body(%c: f32[3], %x: f32[3]) {
      %0: f32[3] = exp %c
      %1: f32[3] = add %0, %x
      %2: f32[3] = mul %1, %1
      return %2
    }
  %1: f32[3] = get %0 {index=0}
  return %1
}"""


def test_unread_ys_and_operands_dropped_body_optimized_and_pure():
    g = cc.trace(f, cc.Spec("f32[3]"), cc.Spec("f32[T,3]"), cc.Spec("f32[3]"))
    before = print_graph(g)
    assert "(f32[3], f32[T], f32[T,3]) = scan" in before and "mul %w" in before
    out = optimize_regions(g)
    assert print_graph(out) == WANT
    assert print_graph(g) == before
    assert run_pipeline(g, GENERIC_PIPELINE, verify=True) is not g
    h, xs, w = np.ones(3, np.float32), np.full((4, 3), 0.1, np.float32), np.ones(3, np.float32)
    np.testing.assert_allclose(cc.interpret(out, h, xs, w)[0], f(h, xs, w), rtol=1e-6)


def test_cond_results_and_while_consts_dropped():
    def k(i, x, y):
        r, _ = cc.switch(i, [lambda a, b: (a + 1.0, b * 2.0), lambda a, b: (a * 3.0, b - 1.0)], x, y)
        v = cc.while_loop(lambda c: c[0] < y.sum(), lambda c: (c[0] + 1.0, c[1] * 0.5), (x.sum(), x))
        return r, v[1]
    g = cc.trace(k, np.int32(0), np.ones(3, np.float32), np.ones(3, np.float32))
    out = optimize_regions(g)
    cond = [n for n in out.nodes if n.prim.name == "cond"][0]
    assert len(cond.out.type) == 1 and len(cond.inputs) == 2          # the index and x: y is read by no branch
    assert all(len(b.inputs) == 1 for b in cond.params["branches"])
    for i in (0, 1, 5):
        args = (np.int32(i), np.arange(3, dtype=np.float32), np.full(3, 2.0, np.float32))
        got = cc.interpret(out, *args)
        want = k(*args)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b)


def test_identity_without_regions():
    g = cc.trace(lambda x: np.exp(x) + 1.0, np.ones(3, np.float32))
    assert optimize_regions(g) is g
