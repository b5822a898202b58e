"""Train LeNet-5 on the digits data-parallel over MPI: every rank takes its part of each global batch, the
gradients are averaged by MPI_Iallreduce inside the one compiled step, every rank applies the same update.

    mpiexec -n 2 .venv/bin/python examples/train_lenet_dp.py                 # 2 ranks on this machine
    mpiexec -f hosts -n 8 .venv/bin/python examples/train_lenet_dp.py         # hosts: one "name:ranks" per line
    .venv/bin/python examples/train_lenet_dp.py                               # a world of one: plain training
    mpiexec -n 2 .venv/bin/python examples/train_lenet_dp.py --resume         # continue from OUT/lenet_dp_ckpt.npz

Rank 0 logs, evaluates, and saves a checkpoint after every epoch; `--resume` continues from it bit-identically
(the data order, augmentation and dropout of an epoch depend only on (seed, epoch, rank)). `--timeline` writes
OUT/lenet_dp_timeline.json (Chrome trace: kernels and all-reduces of one step on every rank).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import cc  # noqa: E402
from train_lenet import loss_fn, logits_fn, MOMENTUM, WEIGHT_DECAY, MAX_SHIFT  # noqa: E402

from compiler import distributed as dist  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=32, help="global batch (split over the ranks; default 32)")
    ap.add_argument("--lr", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out")
    ap.add_argument("--bucket-kb", type=float, default=None, help="gradient bucket size in KiB (default 64)")
    ap.add_argument("--no-overlap", action="store_true", help="blocking all-reduces where the update needs them")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/lenet_dp_ckpt.npz")
    ap.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs (try --resume)")
    ap.add_argument("--timeline", action="store_true", help="write OUT/lenet_dp_timeline.json for one step")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rank, size = dist.init()
    log = print if rank == 0 else (lambda *a, **k: None)
    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "lenet_dp_ckpt.npz")
    if args.batch_size % size:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of the {size} ranks")

    x_train, y_train, x_test, y_test, prepare = common.digits_32(args.seed, MAX_SHIFT)
    n_batches = cc.data.num_batches(len(x_train), args.batch_size, drop_last=True)
    opt = cc.optim.sgd(cc.optim.cosine_decay(args.lr, args.epochs * n_batches), momentum=MOMENTUM,
                       weight_decay=WEIGHT_DECAY)
    start = 0
    if args.resume:
        # rank 0 reads the file (other machines may not see it); the others take its structure from their own
        # fresh state, then broadcast fills in rank 0's values
        fresh = cc.nn.init.lenet5(seed=args.seed)
        like = {"params": fresh, "opt_state": opt.init(fresh), "epoch": np.array(0)}
        state = dist.broadcast(cc.load(ckpt) if rank == 0 else like)
        params, opt_state, start = state["params"], state["opt_state"], int(state["epoch"])
        log(f"resumed from {ckpt} after epoch {start}")
    else:
        params = dist.broadcast(cc.nn.init.lenet5(seed=args.seed))      # one initialisation, rank 0's
        opt_state = opt.init(params)
    bucket = None if args.bucket_kb is None else int(args.bucket_kb * 1024)
    step = dist.data_parallel_step(loss_fn, opt, bucket_bytes=bucket, overlap=not args.no_overlap)
    logits = cc.compile(logits_fn)
    log(f"LeNet-5 data-parallel on {size} rank(s): global batch {args.batch_size} ({args.batch_size // size} per "
        f"rank), {sum(p.size for p in params.values())} parameters")

    stop = args.epochs if args.stop_after is None else min(args.epochs, args.stop_after)
    for epoch in range(start, stop):
        t0 = time.perf_counter()
        rng = np.random.default_rng([args.seed, epoch, rank])
        total = 0.0
        for i, (xb, yb) in enumerate(cc.data.minibatches((x_train, y_train), args.batch_size, seed=args.seed,
                                                         epoch=epoch, drop_last=True, rank=rank, size=size)):
            key = np.array(((args.seed * 1_000_003 + epoch * n_batches + i) * size + rank) % (1 << 62), np.int64)
            xb = prepare(xb, rng)
            if args.timeline and epoch == start and i == 3:     # a warm step, traced on every rank
                tl = dist.timeline(step, params, opt_state, xb, yb, key,
                                   path=os.path.join(args.out, "lenet_dp_timeline.json"))
                log(f"timeline: {tl['summary']}")
            params, opt_state, loss = step(params, opt_state, xb, yb, key)
            total += float(loss)
        secs = time.perf_counter() - t0
        if rank == 0:
            acc = cc.data.accuracy(logits, params, x_test, y_test, batch_size=180)
            cc.save(ckpt, {"params": params, "opt_state": opt_state, "epoch": np.array(epoch + 1)})
            log(f"epoch {epoch + 1:2d}/{args.epochs}  loss {total / n_batches:.4f}  test accuracy {100 * acc:.2f}%  "
                f"({secs:.2f} s, {n_batches * args.batch_size / secs:.0f} samples/s)", flush=True)
    dist.barrier()
    return params


if __name__ == "__main__":
    main()
