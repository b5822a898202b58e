"""Time of every compiler stage on graphs of about 1k, 10k and 100k nodes (issue 17: each stage linear in the
number of nodes). The graph is value_and_grad of an unrolled RNN (matmuls, tanh, slices, a reduction), sized by
its number of steps; the time per node should stay flat from column to column.

    python benchmarks/bench_passes.py [--sizes 1000,10000,100000] [--llvm] [--gc-off]

`--llvm` adds LLVM's own optimisation and code generation (slow at 100k nodes; off by default).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import compiler as cc  # noqa: E402
import zoo_models as zm  # noqa: E402
from compiler import pytree  # noqa: E402
from compiler.ir import parse, print_graph, verify  # noqa: E402
from compiler.passes import GENERIC_PIPELINE  # noqa: E402
from compiler.passes.manager import pass_name  # noqa: E402


def stages(nodes_wanted, llvm):
    """[(stage, seconds)] and the traced node count, for an RNN gradient of about nodes_wanted nodes."""
    from compiler.passes.fuse import fuse_graph
    from compiler.passes.memory import plan_memory, order_slots
    from compiler.lower import lower_plan
    from compiler.codegen.llvm import generate
    import runtime
    steps = max(1, nodes_wanted // 14)
    fn, args = zm.rnn(steps)
    out = []

    def timed(name, f):
        t0 = time.perf_counter()
        r = f()
        out.append((name, time.perf_counter() - t0))
        return r
    g = timed("trace + vjp", lambda: cc.trace(fn, *args))
    text = timed("print", lambda: print_graph(g))
    timed("parse", lambda: parse(text))
    timed("verify", lambda: verify(g))
    leaves = pytree.flatten(args)[0]
    timed("interpret", lambda: cc.interpret(g, *leaves))
    for p in GENERIC_PIPELINE:
        g2 = timed(pass_name(p), lambda: p(g))
        g = g2
    plan, program = timed("fuse + lower", lambda: fuse_graph(g, lambda p: lower_plan(p, use_blas=True)))
    timed("plan_memory", lambda: (plan_memory(program), order_slots(program)))
    t = runtime.host_target()
    ir_text = timed("codegen (LLVM IR text)", lambda: generate(program, blas=runtime.blas_symbols(), triple=t.triple,
                                                               data_layout=t.data_layout, entry="bench"))
    if llvm:
        timed("LLVM opt + codegen", lambda: runtime.compile_module(ir_text, use_cache=False))
    return out, len(cc.trace(fn, *args).nodes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--llvm", action="store_true")
    ap.add_argument("--gc-off", action="store_true",
                    help="pause Python's cyclic GC: at 100k nodes its full collections of the ~1 GB heap show as "
                         "per-node time growing in every stage")
    a = ap.parse_args()
    if a.gc_off:
        import gc
        gc.disable()
    sizes = [int(s) for s in a.sizes.split(",")]
    cols, counts = [], []
    for n in sizes:
        res, count = stages(n, a.llvm)
        cols.append(dict(res))
        counts.append(count)
        names = [r[0] for r in res]
        print(f"... {count} nodes done", file=sys.stderr, flush=True)
    head = f"{'stage':<34}" + "".join(f"{f'{c} nodes':>22}" for c in counts)
    print(head)
    print(f"{'':<34}" + "".join(f"{'s':>10} {'us/node':>11}" for _ in counts))
    for name in names:
        print(f"{name:<34}" + "".join(f"{col[name]:>10.3f} {col[name] / c * 1e6:>11.1f}"
                                       for col, c in zip(cols, counts)))
    tot = [sum(col.values()) for col in cols]
    print(f"{'total':<34}" + "".join(f"{t:>10.3f} {t / c * 1e6:>11.1f}" for t, c in zip(tot, counts)))


if __name__ == "__main__":
    main()
