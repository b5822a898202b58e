"""Per-example gradient norms of the digits MLP (64-128-10) with one compiled call of
cc.vmap(cc.grad(loss), in_axes=(None, 0, 0)), checked against a Python loop of per-example gradients.

    python examples/per_example_grads.py              # 512 examples
    python examples/per_example_grads.py --n 64

Per-example gradients are what differentially private SGD clips and what influence estimates read; a batched
gradient only gives their mean. vmap turns the one-example gradient into a batched program (the weight gradients
become batched outer products, not a loop), and compile makes that one native call.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cc  # noqa: E402
from train_mlp import SIZES, loss_fn, mlp  # noqa: E402


def example_loss(params, x, y):
    """The loss of one example: x (64,), y a scalar label. The MLP runs on the vector (its weight gradients are
    outer products, batched by vmap); only the logits get the batch axis of one that cross_entropy expects."""
    return cc.nn.cross_entropy(mlp(params, x)[None], y[None])


per_example_grads = cc.vmap(cc.grad(example_loss), in_axes=(None, 0, 0))


def global_norms(grads):
    """The L2 norm of each example's gradient over all parameters: (N,) from a pytree of (N, ...) gradients."""
    return np.sqrt(sum(np.sum(np.square(g.reshape(len(g), -1)), axis=1) for g in grads.values()))


def _best_of(fn, reps):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="number of examples (default 512)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions, best kept (default 3)")
    args = ap.parse_args(argv)

    x_train, y_train, _, _ = cc.data.load_digits(seed=args.seed)
    x, y = x_train[:args.n], y_train[:args.n]
    params = cc.nn.init.mlp(SIZES, seed=args.seed)

    batched = cc.compile(per_example_grads)
    t0 = time.perf_counter()
    batched(params, x, y)
    compile_s = time.perf_counter() - t0
    grads, t_vmap = _best_of(lambda: batched(params, x, y), args.reps)
    norms, t_norms = _best_of(lambda: global_norms(grads), args.reps)

    one = cc.compile(cc.grad(example_loss))
    one(params, x[0], y[0])

    def loop():
        return [one(params, x[i], y[i]) for i in range(len(x))]
    loop_grads, t_loop = _best_of(loop, args.reps)
    loop_norms = np.array([np.sqrt(sum(np.sum(np.square(g[k])) for k in g)) for g in loop_grads])

    err = max(float(np.max(np.abs(grads[k] - np.stack([g[k] for g in loop_grads])))) for k in params)
    norm_err = float(np.max(np.abs(norms - loop_norms) / loop_norms))
    # the mean of the per-example gradients is the gradient of the batch's mean loss
    mean_err = max(float(np.max(np.abs(grads[k].mean(0) - g))) for k, g in cc.grad(loss_fn)(params, x, y).items())

    print(f"MLP {'-'.join(map(str, SIZES))}, {len(x)} digits: per-example gradient norms "
          f"min {norms.min():.4f}, median {np.median(norms):.4f}, max {norms.max():.4f}")
    print(f"  compiled vmap(grad): {t_vmap * 1e3:8.2f} ms  (one call; compiled in {compile_s * 1e3:.0f} ms), "
          f"norms in NumPy {t_norms * 1e3:.2f} ms")
    print(f"  Python loop of compiled grad: {t_loop * 1e3:8.2f} ms  ({len(x)} calls)   "
          f"speedup {t_loop / t_vmap:.1f}x")
    print(f"  max |vmap - loop| gradient entry {err:.2e}, norm rel. error {norm_err:.2e}, "
          f"|mean - batch gradient| {mean_err:.2e}")
    if not (norm_err < 1e-4 and err < 1e-5 and mean_err < 1e-5):
        raise SystemExit("per-example gradients disagree with the loop")
    return {"norms": norms, "loop_norms": loop_norms, "max_abs_err": err, "norm_rel_err": norm_err,
            "mean_err": mean_err, "t_vmap": t_vmap, "t_loop": t_loop, "compile_s": compile_s}


if __name__ == "__main__":
    main()
