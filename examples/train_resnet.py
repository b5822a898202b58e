"""Train a small residual CNN on scikit-learn's handwritten digits (upsampled to 32x32): batch norm with running
statistics, strided, dilated and grouped convolutions, padded max pooling and global average pooling, with the whole
training step (forward, backward, SGD update, running-statistics update) compiled by vive into one native call.

    python examples/train_resnet.py                   # defaults: >= 99% test accuracy
    python examples/train_resnet.py --epochs 3 --out /tmp/resnet

Writes OUT/resnet_curves.png (loss and accuracy per epoch) and OUT/resnet_metrics.json.
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
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
BN_MOMENTUM = 0.1       # PyTorch's sense: the weight of the new batch in the running statistics
MAX_SHIFT = 2           # augmentation: random translations of up to 2 pixels (of 32)
GROUPS = 4
C1, C2 = 16, 32         # channels of the two stages

# name: (out channels, in channels per group, kernel); every conv is followed by a batch norm of its outputs
CONVS = {
    "stem": (C1, 1, 3),                       # 3x3 stride 2:            1 x 32 x 32 -> C1 x 16 x 16
    "b1a": (C1, C1 // GROUPS, 3),             # grouped 3x3 + 1x1 mix    C1 x 16 x 16
    "b1m": (C1, C1, 1),
    "b1b": (C1, C1, 3),                       # dilated 3x3 (dilation 2, padding "same")
    "b2a": (C2, C1, 3),                       # 3x3 stride 2:            C1 x 16 x 16 -> C2 x 8 x 8
    "b2b": (C2, C2 // GROUPS, 3),             # grouped 3x3
    "b2s": (C2, C1, 1),                       # shortcut: 1x1 stride 2
}


def init_params(seed=0):
    seeds = np.random.default_rng(seed).integers(0, 2**31, len(CONVS) + 1)
    params, stats = {}, {}
    for (name, (o, i, k)), s in zip(CONVS.items(), seeds):
        params[name + "_w"] = nn.init.he_normal((o, i, k, k), seed=int(s))
        params[name + "_g"] = np.ones(o, np.float32)          # batch norm scale and shift
        params[name + "_b"] = np.zeros(o, np.float32)
        stats[name] = (np.zeros(o, np.float32), np.ones(o, np.float32))
    params["fc_w"] = nn.init.glorot_uniform((C2, 10), seed=int(seeds[-1]))
    params["fc_b"] = np.zeros(10, np.float32)
    return params, stats


def resnet(params, x, stats=None):
    """x: (N, 1, 32, 32) -> (logits (N, 10), new running statistics). stats None: training (batch statistics,
    and the batches' statistics returned); else evaluation with the given running statistics."""
    seen = {}

    def conv_bn(name, h, relu=True, **opts):
        h = nn.conv2d(h, params[name + "_w"], **opts)
        # training normalizes with the batch's own statistics (differentiated through), kept for the running ones
        mean_var = seen.setdefault(name, nn.batch_norm_stats(h)) if stats is None else stats[name]
        h = nn.batch_norm(h, params[name + "_g"], params[name + "_b"], *mean_var)
        return nn.relu(h) if relu else h

    h = conv_bn("stem", x, stride=2, padding=1)                                        # C1 x 16 x 16
    r = conv_bn("b1a", h, padding=1, groups=GROUPS)
    r = conv_bn("b1m", r)
    r = conv_bn("b1b", r, relu=False, padding="same", dilation=2)
    h = nn.relu(h + r)
    h = nn.max_pool2d(h, 3, 1, padding=1)                                              # C1 x 16 x 16
    r = conv_bn("b2a", h, stride=2, padding=1)                                         # C2 x 8 x 8
    r = conv_bn("b2b", r, relu=False, padding=1, groups=GROUPS)
    h = nn.relu(conv_bn("b2s", h, relu=False, stride=2) + r)
    logits = nn.dense(nn.global_avg_pool2d(h), params["fc_w"], params["fc_b"])        # N, 10
    return logits, seen


def loss_fn(params, x, y):
    logits, seen = resnet(params, x)
    return nn.cross_entropy(logits, y), seen


def running(stats, seen, n):
    """update_running_stats from the batch statistics seen in training (n values per channel)."""
    out = {}
    for name, (rm, rv) in stats.items():
        mu, var = seen[name]
        out[name] = ((1.0 - BN_MOMENTUM) * rm + BN_MOMENTUM * mu,
                     (1.0 - BN_MOMENTUM) * rv + BN_MOMENTUM * var * (n[name] / (n[name] - 1)))
    return out


def make_step(opt, counts, eager=False):
    def step(params, state, x, y, key):
        opt_state, stats = state
        (loss, seen), grads = cc.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        params, opt_state = opt.update(params, grads, opt_state)
        return params, (opt_state, running(stats, seen, counts)), loss
    return common.jit(step, eager)


def main(argv=None):
    args = common.parse_args(argv, __doc__.splitlines()[0], epochs=8, batch_size=32, lr=0.1)
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    x_train, y_train, x_test_n, y_test, prepare = common.digits_32(args.seed, MAX_SHIFT)

    n_steps = args.epochs * cc.data.num_batches(len(x_train), args.batch_size, drop_last=True)
    opt = cc.optim.sgd(cc.optim.cosine_decay(args.lr, n_steps), momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    params, stats = init_params(args.seed)
    state = (opt.init(params), stats)
    b = args.batch_size
    counts = {"stem": b * 16 * 16, "b1a": b * 16 * 16, "b1m": b * 16 * 16, "b1b": b * 16 * 16,
              "b2a": b * 8 * 8, "b2b": b * 8 * 8, "b2s": b * 8 * 8}
    print(f"residual CNN on digits: {len(x_train)} train / {len(x_test_n)} test images of 32x32, "
          f"{sum(p.size for p in params.values())} parameters, {opt}")

    step = make_step(opt, counts, args.eager)
    xb0, yb0 = x_train[:b], y_train[:b]
    n_kernels, compile_s = common.compile_step(step, (params, state, xb0, yb0, np.array(0, np.int64)), args.eager)
    logits = common.jit(lambda p, st, x: resnet(p, x, st)[0], args.eager)

    def evaluate(st):
        p, (_, running_stats) = st
        return cc.data.accuracy(lambda p_, x: logits(p_, running_stats, x), p, x_test_n, y_test, batch_size=180)

    # common.train hands evaluate the parameters only; the running statistics ride along in the state
    holder = {}

    def step_and_keep(p, s, x, y, key):
        p, s, loss = step(p, s, x, y, key)
        holder["state"] = s
        return p, s, loss

    params, state, hist = common.train(step_and_keep, params, state, x_train, y_train, epochs=args.epochs,
                                       batch_size=b, seed=args.seed,
                                       evaluate=lambda p: evaluate((p, holder["state"])), prepare=prepare)
    return common.report(hist, t_start, args, "resnet", "residual CNN on digits (vive)", n_kernels, compile_s)


if __name__ == "__main__":
    main()
