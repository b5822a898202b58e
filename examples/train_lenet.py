"""Train LeNet-5 on scikit-learn's handwritten digits (upsampled to 32x32), with the whole training step
(forward, backward, SGD update) compiled by vive into one native call.

    python examples/train_lenet.py                    # defaults: ~98-99% test accuracy
    python examples/train_lenet.py --epochs 3 --out /tmp/lenet

Writes OUT/lenet_curves.png (loss and accuracy per epoch), OUT/lenet_filters.png (the six first-layer filters
and their feature maps for one test digit) and OUT/lenet_metrics.json.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import cc  # noqa: E402

nn = cc.nn
DROPOUT = 0.25          # before the last layer
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
MAX_SHIFT = 2           # augmentation: random translations of up to 2 pixels (of 32)


def lenet5(params, x, key=0, rate=0.0):
    """x: (N, 1, 32, 32) -> logits (N, 10)."""
    h = nn.relu(nn.conv2d(x, params["conv1_w"], params["conv1_b"]))       # N, 6, 28, 28
    h = nn.max_pool2d(h, 2)                                                # N, 6, 14, 14
    h = nn.relu(nn.conv2d(h, params["conv2_w"], params["conv2_b"]))       # N, 16, 10, 10
    h = nn.max_pool2d(h, 2)                                                # N, 16, 5, 5
    h = h.reshape(h.shape[0], -1)                                          # N, 400
    h = nn.relu(nn.dense(h, params["fc1_w"], params["fc1_b"]))             # N, 120
    h = nn.relu(nn.dense(h, params["fc2_w"], params["fc2_b"]))             # N, 84
    h = nn.dropout(h, rate, key)
    return nn.dense(h, params["fc3_w"], params["fc3_b"])                   # N, 10


def loss_fn(params, x, y, key):
    return nn.cross_entropy(lenet5(params, x, key, DROPOUT), y)


def make_step(opt, eager=False):
    def step(params, opt_state, x, y, key):
        loss, grads = cc.value_and_grad(loss_fn)(params, x, y, key)
        params, opt_state = opt.update(params, grads, opt_state)
        return params, opt_state, loss
    return common.jit(step, eager)


def logits_fn(params, x):
    return lenet5(params, x)


def plot_filters(params, image, path):
    """Six first-layer filters (top) and their ReLU feature maps for one test digit (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    maps = np.asarray(nn.relu(nn.conv2d(image[None], params["conv1_w"], params["conv1_b"])))[0]
    fig, ax = plt.subplots(2, 7, figsize=(11, 3.4))
    ax[0, 0].imshow(image[0], cmap="gray")
    ax[0, 0].set_title("input")
    ax[1, 0].axis("off")
    for i in range(6):
        w = params["conv1_w"][i, 0]
        lim = np.abs(w).max()
        ax[0, i + 1].imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax[0, i + 1].set_title(f"filter {i + 1}")
        ax[1, i + 1].imshow(maps[i], cmap="viridis")
        ax[1, i + 1].set_title(f"map {i + 1}")
    for a in ax.flat:
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle("LeNet-5 first layer: 5x5 filters and their feature maps (after ReLU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None):
    args = common.parse_args(argv, __doc__.splitlines()[0], epochs=10, batch_size=16, lr=0.02)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    x_train, y_train, x_test_n, y_test, prepare = common.digits_32(args.seed, MAX_SHIFT)

    n_steps = args.epochs * cc.data.num_batches(len(x_train), args.batch_size, drop_last=True)
    opt = cc.optim.sgd(cc.optim.cosine_decay(args.lr, n_steps), momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    params = nn.init.lenet5(seed=args.seed)
    opt_state = opt.init(params)
    print(f"LeNet-5 on digits: {len(x_train)} train / {len(x_test_n)} test images of 32x32, "
          f"{sum(p.size for p in params.values())} parameters, {opt}")

    step = make_step(opt, args.eager)
    xb0, yb0 = x_train[:args.batch_size], y_train[:args.batch_size]
    n_kernels, compile_s = common.compile_step(step, (params, opt_state, xb0, yb0, np.array(0, np.int64)), args.eager)
    logits = common.jit(logits_fn, args.eager)

    def evaluate(p):
        return cc.data.accuracy(logits, p, x_test_n, y_test, batch_size=180)

    params, opt_state, hist = common.train(step, params, opt_state, x_train, y_train, epochs=args.epochs,
                                           batch_size=args.batch_size, seed=args.seed, evaluate=evaluate,
                                           prepare=prepare)
    plot_filters(params, x_test_n[0], os.path.join(args.out, "lenet_filters.png"))
    return common.report(hist, t_start, args, "lenet", "LeNet-5 on digits (vive)", n_kernels, compile_s)


if __name__ == "__main__":
    main()
