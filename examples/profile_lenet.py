"""Profile the compiled LeNet-5 training step (forward, backward, SGD update in one native call), kernel by kernel.

    python examples/profile_lenet.py                       # batch 64; prints the table
    python examples/profile_lenet.py --out docs            # also writes lenet_trace.json and lenet_roofline.png

Open the trace in ui.perfetto.dev (or chrome://tracing): one track per thread, a span per call and per kernel
with its bytes moved and flops. The roofline puts each kernel under the machine's measured copy bandwidth and
gemm throughput.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_lenet import make_step  # noqa: E402
from common import cc  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--out", default=None, help="directory for lenet_trace.json and lenet_roofline.png")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    params = cc.nn.init.lenet5(seed=0)
    opt = cc.optim.sgd(0.01, momentum=0.9, weight_decay=5e-4)
    state = opt.init(params)
    x = rng.standard_normal((args.batch_size, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size)
    step = make_step(opt)
    prof = step.profile(params, state, x, y, np.array(0, np.int64), repeat=args.repeat, warmup=5)
    print(prof)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        print("wrote", prof.save_trace(os.path.join(args.out, "lenet_trace.json")))
        print("wrote", prof.roofline(os.path.join(args.out, "lenet_roofline.png")))
    return prof


if __name__ == "__main__":
    main()
