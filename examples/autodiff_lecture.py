"""The lecture's automatic-differentiation example, computed by vive and checked against the hand derivation.

    f(x1, x2) = (y1, y2)    with  v1 = x1 * x2,  v2 = log(x2),  y1 = sin(v1),  y2 = v1 + v2

at (x1, x2) = (2, 3): forward values, the reverse sweep for y1, forward-mode tangents for both seed directions,
and the text IR of the derivative graphs vive builds for both modes.

    python examples/autodiff_lecture.py
"""
import numpy as np

import compiler as cc
from compiler.transforms import jvp_graph, vjp_graph


def f(x1, x2):
    v1 = x1 * x2
    v2 = np.log(x2)
    y1 = np.sin(v1)
    y2 = v1 + v2
    return y1, y2


def intermediates(x1, x2):
    v1 = x1 * x2
    v2 = np.log(x2)
    return v1, v2, np.sin(v1), v1 + v2


def _row(name, value, expected=None, formula=""):
    check = "" if expected is None else ("  ok" if np.isclose(value, expected, rtol=1e-12) else "  MISMATCH")
    print(f"  {name:<12} = {float(value):>10.6f}   {formula}{check}")
    if expected is not None and not np.isclose(value, expected, rtol=1e-12):
        raise SystemExit(f"{name}: vive gives {value}, the hand derivation {expected}")


def main():
    x1, x2 = 2.0, 3.0
    v1, v2, y1, y2 = intermediates(x1, x2)

    print("Forward values at (x1, x2) = (2, 3)")
    for name, val, formula in [("x1", x1, ""), ("x2", x2, ""), ("v1", v1, "x1 * x2"), ("v2", v2, "log(x2)"),
                               ("y1", y1, "sin(v1)"), ("y2", y2, "v1 + v2")]:
        _row(name, val, None, formula)
    ty1, ty2 = cc.jvp(f, (x1, x2), (0.0, 0.0))[0]
    assert np.isclose(ty1, y1) and np.isclose(ty2, y2)

    print("\nReverse sweep for y1 (seed: dy1/dy1 = 1, dy1/dy2 = 0)")
    # adjoints of v1, v2: pull (1, 0) back through the last two statements, seen as functions of (v1, v2)
    _, pull_v = cc.vjp(lambda a, b: (np.sin(a), a + b), v1, v2)
    bar_v1, bar_v2 = pull_v((1.0, 0.0))
    _, pull_x = cc.vjp(f, x1, x2)
    bar_x1, bar_x2 = pull_x((1.0, 0.0))
    _row("dy1/dy1", 1.0, 1.0, "seed")
    _row("dy1/dy2", 0.0, 0.0, "seed")
    _row("dy1/dv1", bar_v1, np.cos(v1), "cos(v1)")
    _row("dy1/dv2", bar_v2, 0.0, "dy1/dy2 * 1 = 0")
    _row("dy1/dx1", bar_x1, x2 * np.cos(v1), "dy1/dv1 * x2 = x2 cos(v1)")
    _row("dy1/dx2", bar_x2, x1 * np.cos(v1), "dy1/dv1 * x1 + dy1/dv2 / x2 = x1 cos(v1)")

    for seed in [(1.0, 0.0), (0.0, 1.0)]:
        print(f"\nForward mode, seed (dx1, dx2) = {seed}")
        _, (dv1, dv2, dy1, dy2) = cc.jvp(intermediates, (x1, x2), seed)
        d1, d2 = seed
        _row("dv1", dv1, d1 * x2 + x1 * d2, "dx1 * x2 + x1 * dx2")
        _row("dv2", dv2, d2 / x2, "dx2 / x2")
        _row("dy1", dy1, np.cos(v1) * (d1 * x2 + x1 * d2), "cos(v1) * dv1")
        _row("dy2", dy2, (d1 * x2 + x1 * d2) + d2 / x2, "dv1 + dv2")

    g = cc.trace(f, x1, x2)
    print("\nThe traced graph:")
    print(g)
    print("\nForward mode (jvp) graph: tangents dx1, dx2 in; values and tangents out")
    print(jvp_graph(g))
    print("\nReverse mode (vjp) graph: cotangents ct0, ct1 of (y1, y2) in; values and cotangents of x1, x2 out")
    print(vjp_graph(g))


if __name__ == "__main__":
    main()
