"""Train an LSTM on scikit-learn's handwritten digits read as sequences (the 32 rows of the 32x32 upsampled image
are 32 time steps of 32 features), the cell written in plain NumPy inside cc.scan, the whole training step
(forward through the loop, backward through the reversed loop, Adam update) compiled by vive into one native call.

    python examples/train_rnn.py                      # defaults: 97.2-98.3% test accuracy (seeds 0-2), 4-15 s
    python examples/train_rnn.py --epochs 3 --hidden 32 --out /tmp/rnn

Writes OUT/rnn_curves.png (loss and accuracy per epoch) and OUT/rnn_metrics.json.
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
STEPS, FEATURES, CLASSES = 32, 32, 10       # image rows as time steps, each row's pixels as the features
MAX_SHIFT = 1                               # augmentation: random translations of up to 1 pixel


def init_lstm(hidden, seed=0, features=FEATURES, classes=CLASSES):
    """Glorot-uniform input and output weights, orthogonal recurrent weights, forget-gate bias 1."""
    rng = np.random.default_rng(seed)

    def glorot(m, n):
        lim = np.sqrt(6.0 / (m + n))
        return rng.uniform(-lim, lim, (m, n)).astype(np.float32)
    wh = np.concatenate([np.linalg.qr(rng.standard_normal((hidden, hidden)))[0] for _ in range(4)], axis=1)
    b = np.zeros(4 * hidden, np.float32)
    b[hidden:2 * hidden] = 1.0
    return {"wx": glorot(features, 4 * hidden), "wh": wh.astype(np.float32), "b": b,
            "wo": glorot(hidden, classes), "bo": np.zeros(classes, np.float32)}


def sigmoid(z):
    return 0.5 + 0.5 * np.tanh(0.5 * z)     # = 1 / (1 + exp(-z)), without overflow for large -z


def lstm_cell(wh, hidden):
    """One LSTM step as a scan body: carry (h, c), input the step's precomputed x @ wx + b."""
    def cell(carry, zx):
        h, c = carry
        z = zx + h @ wh                                     # (N, 4H): input, forget, cell, output gates
        i = sigmoid(z[:, :hidden])
        f = sigmoid(z[:, hidden:2 * hidden])
        g = np.tanh(z[:, 2 * hidden:3 * hidden])
        o = sigmoid(z[:, 3 * hidden:])
        c = f * c + i * g
        h = o * np.tanh(c)
        return (h, c), None
    return cell


def lstm(params, x):
    """x: (N, 1, 32, 32) or (N, 32, 32) -> logits (N, 10), reading the rows top to bottom."""
    n = x.shape[0]
    hidden = params["wh"].shape[0]
    xs = x.reshape(n, STEPS, FEATURES).transpose(1, 0, 2)          # (T, N, F): time leads, as scan wants
    zx = xs @ params["wx"] + params["b"]                            # every step's input projection at once
    h0 = np.zeros((n, hidden), params["wh"].dtype)
    (h, _), _ = cc.scan(lstm_cell(params["wh"], hidden), (h0, h0), zx)
    return nn.dense(h, params["wo"], params["bo"])


def loss_fn(params, x, y):
    return nn.cross_entropy(lstm(params, x), y)


def make_step(opt, eager=False):
    def step(params, opt_state, x, y, key):          # key unused (no dropout): the signature common.train calls
        loss, grads = cc.value_and_grad(loss_fn)(params, x, y)
        params, opt_state = opt.update(params, grads, opt_state)
        return params, opt_state, loss
    return common.jit(step, eager)


def main(argv=None):
    import argparse
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--hidden", type=int, default=64)
    known, rest = pre.parse_known_args(argv if argv is not None else sys.argv[1:])
    args = common.parse_args(rest, __doc__.splitlines()[0] + " (--hidden H: LSTM width, default 64)",
                             epochs=20, batch_size=32, lr=0.005)
    args.hidden = known.hidden
    os.makedirs(args.out, exist_ok=True)
    t_start = time.perf_counter()

    x_train, y_train, x_test_n, y_test, prepare = common.digits_32(args.seed, MAX_SHIFT)
    n_steps = args.epochs * cc.data.num_batches(len(x_train), args.batch_size, drop_last=True)
    opt = cc.optim.adam(cc.optim.cosine_decay(args.lr, n_steps))
    params = init_lstm(args.hidden, seed=args.seed)
    opt_state = opt.init(params)
    print(f"LSTM ({STEPS} steps x {FEATURES} features -> {args.hidden} hidden -> {CLASSES}) on digits: "
          f"{len(x_train)} train / {len(x_test_n)} test images, {sum(p.size for p in params.values())} "
          f"parameters, {opt}")

    step = make_step(opt, args.eager)
    xb0, yb0 = prepare(x_train[:args.batch_size], np.random.default_rng(0)), y_train[:args.batch_size]
    n_kernels, compile_s = common.compile_step(step, (params, opt_state, xb0, yb0, np.array(0, np.int64)),
                                               args.eager)
    logits = common.jit(lstm, args.eager)

    def evaluate(p):
        # NOTE: batches of 60 keep each step's h @ wh under the size where BLAS hands the gemm to a second
        # thread: on a busy 2-core machine that hand-off stalled each of the 32 steps (1 s per batch of 180)
        return cc.data.accuracy(logits, p, x_test_n, y_test, batch_size=60)

    params, opt_state, hist = common.train(step, params, opt_state, x_train, y_train, epochs=args.epochs,
                                           batch_size=args.batch_size, seed=args.seed, evaluate=evaluate,
                                           prepare=prepare)
    return common.report(hist, t_start, args, "rnn", f"LSTM ({args.hidden} hidden, cc.scan) on digits as row "
                         f"sequences (vive)", n_kernels, compile_s)


if __name__ == "__main__":
    main()
