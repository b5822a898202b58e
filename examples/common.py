"""What the training examples share: flags, compiling the step (with its kernel count and compile time),
the epoch loop with a tqdm bar, the standardised 32x32 digits, and the final report (line, plot, metrics)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:                      # run from a checkout without `pip install -e .`
    sys.path.insert(0, ROOT)

import compiler as cc  # noqa: E402


def parse_args(argv, description, *, epochs, batch_size, lr, seed=0):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training set (default {epochs})")
    ap.add_argument("--batch-size", type=int, default=batch_size, help=f"minibatch size (default {batch_size})")
    ap.add_argument("--lr", type=float, default=lr, help=f"peak learning rate of the cosine schedule (default {lr})")
    ap.add_argument("--seed", type=int, default=seed, help="seed of the split, init, shuffling and dropout")
    ap.add_argument("--out", default="out", help="directory for the PNGs and metrics (default out/)")
    ap.add_argument("--eager", action="store_true", help="run the step eagerly (reference interpreter), no compile")
    return ap.parse_args(argv)


def jit(fn, eager=False):
    """cc.compile(fn), or fn itself when asked to run eagerly or when this vive has no compile yet."""
    if eager or not hasattr(cc, "compile"):
        return fn
    return cc.compile(fn)


def compile_step(step, args, eager=False):
    """Compile `step` for the shapes of `args` and report it; returns (kernel count or None, seconds)."""
    if eager or not hasattr(step, "lower"):
        print("step: running eagerly (reference interpreter), no compile")
        return None, 0.0
    t0 = time.perf_counter()
    lowered = step.lower(*args)
    secs = time.perf_counter() - t0
    n = count_kernels(lowered)
    how = " (from the on-disk cache)" if getattr(lowered, "cache_hit", False) else ""
    print(f"step: compiled forward + backward + update into {n} kernels in {secs * 1e3:.0f} ms{how}")
    return n, secs


def count_kernels(lowered):
    """Number of kernels of a cc.compile(...).lower(...) result (its `.kernels` is the loop-level program)."""
    k = getattr(lowered, "kernels", None)
    k = getattr(k, "kernels", k)
    try:
        return len(k)
    except TypeError:
        return None


def progress(iterable, total, desc):
    try:
        from tqdm import tqdm
    except ImportError:                       # the bar is a nicety: train without it
        return _NoBar(iterable)
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None)


class _NoBar:
    def __init__(self, it):
        self.it = it

    def __iter__(self):
        return iter(self.it)

    def set_postfix(self, **_):
        pass

    def close(self):
        pass


def train(step, params, opt_state, x, y, *, epochs, batch_size, seed, evaluate, prepare=None):
    """Run `epochs` passes of `step(params, opt_state, xb, yb, key) -> (params, opt_state, loss)`.

    `prepare(xb, rng)` transforms each batch (augmentation); `evaluate(params)` gives the test accuracy after
    each epoch. Every step gets its own dropout key. Returns (params, opt_state, history).
    """
    hist = {"loss": [], "acc": [], "epoch_seconds": []}
    n_batches = cc.data.num_batches(len(x), batch_size, drop_last=True)
    rng = np.random.default_rng([seed, 1])
    it = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        bar = progress(cc.data.minibatches((x, y), batch_size, seed=seed, epoch=epoch, drop_last=True),
                       n_batches, f"epoch {epoch + 1}/{epochs}")
        total = 0.0
        for i, (xb, yb) in enumerate(bar, start=1):
            if prepare is not None:
                xb = prepare(xb, rng)
            key = np.array(seed * 1_000_003 + it, np.int64)
            params, opt_state, loss = step(params, opt_state, xb, yb, key)
            total += float(loss)
            it += 1
            if i % 5 == 0 or i == n_batches:
                bar.set_postfix(loss=f"{total / i:.4f}")
        bar.close()
        hist["epoch_seconds"].append(time.perf_counter() - t0)
        hist["loss"].append(total / n_batches)
        hist["acc"].append(evaluate(params))
        print(f"epoch {epoch + 1:2d}/{epochs}  loss {hist['loss'][-1]:.4f}  test accuracy "
              f"{100 * hist['acc'][-1]:.2f}%  ({hist['epoch_seconds'][-1]:.2f} s)", flush=True)
    return params, opt_state, hist


def plot_curves(hist, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = np.arange(1, len(hist["loss"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(ep, hist["loss"], "o-")
    a.set(xlabel="epoch", ylabel="mean training loss", yscale="log", title="training loss")
    b.plot(ep, 100 * np.asarray(hist["acc"]), "o-", color="C1")
    b.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def save_metrics(path, **metrics):
    with open(path, "w") as f:
        json.dump(metrics, f, indent=1, default=float)


def digits_32(seed, max_shift):
    """The 32x32 digits standardised by the training set's mean and std: (x_train, y_train, x_test_n, y_test,
    prepare), where prepare(xb, rng) shifts a raw training batch by up to max_shift pixels, then standardises it."""
    x_train, y_train, x_test, y_test = cc.data.load_digits(seed=seed, image_size=32)
    mean, std = float(x_train.mean()), float(x_train.std())

    def prepare(xb, rng):                         # augment in [0, 1], then standardize
        return (cc.data.random_shift(xb, max_shift, rng) - mean) / std
    return x_train, y_train, (x_test - mean) / std, y_test, prepare


def report(hist, t_start, args, name, title, n_kernels, compile_s):
    """Print the final line, plot the curves and save the metrics of a training run as out/<name>_*; returns them."""
    ratio = hist["loss"][-1] / hist["loss"][0]
    total_s = time.perf_counter() - t_start
    print(f"final test accuracy {100 * hist['acc'][-1]:.2f}%; last/first epoch loss {ratio:.3f}; "
          f"{total_s:.1f} s in all")
    plot_curves(hist, os.path.join(args.out, f"{name}_curves.png"), title)
    result = dict(hist, kernels=n_kernels, compile_seconds=compile_s, total_seconds=total_s, loss_ratio=ratio,
                  final_accuracy=hist["acc"][-1], args=vars(args))
    save_metrics(os.path.join(args.out, f"{name}_metrics.json"), **result)
    return result
