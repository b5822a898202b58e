"""The GPU test catalogue: functions (and their gradients) that every GPU test emits, assembles and (with a device)
runs against the CPU backend. Each entry covers one thread mapping or op family: elementwise chains, broadcasts,
row / column / whole-array reductions, argmax, gathers, pads, concatenation, int and bool ops, matmuls (plain,
transposed, batched), convolutions and pooling, symbolic sizes, and the MLP and LeNet-5 training steps."""
from __future__ import annotations

import numpy as np

import compiler as cc

nn = cc.nn


class Entry:
    """name, fn, make_args(rng) -> args, grad: argnums to differentiate (None: no gradient), specs: cc.Spec
    strings to lower a symbolic version with (None: concrete shapes only)."""

    def __init__(self, name, fn, make_args, grad=0, specs=None, rtol=1e-4):
        self.name, self.fn, self.make_args, self.grad, self.specs = name, fn, make_args, grad, specs
        self.rtol = rtol          # float32 tolerance against the CPU backend

    def args(self, seed=0):
        return self.make_args(np.random.default_rng(seed))

    def __repr__(self):
        return self.name


def f32(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def pos32(rng, *shape):
    return (np.abs(rng.standard_normal(shape)) + 0.5).astype(np.float32)


def labels(rng, n, k=10):
    return rng.integers(0, k, n)


# ---- models ----

def mlp(params, x):
    h = nn.relu(nn.dense(x, params["w1"], params["b1"]))
    h = nn.relu(nn.dense(h, params["w2"], params["b2"]))
    return nn.dense(h, params["w3"], params["b3"])


def mlp_loss(params, x, y):
    return nn.cross_entropy(mlp(params, x), y)


def lenet5(params, x, key=0, rate=0.0):
    h = nn.relu(nn.conv2d(x, params["conv1_w"], params["conv1_b"]))
    h = nn.max_pool2d(h, 2)
    h = nn.relu(nn.conv2d(h, params["conv2_w"], params["conv2_b"]))
    h = nn.max_pool2d(h, 2)
    h = h.reshape(h.shape[0], -1)
    h = nn.relu(nn.dense(h, params["fc1_w"], params["fc1_b"]))
    h = nn.relu(nn.dense(h, params["fc2_w"], params["fc2_b"]))
    h = nn.dropout(h, rate, key)
    return nn.dense(h, params["fc3_w"], params["fc3_b"])


def lenet_loss(params, x, y, key):
    return nn.cross_entropy(lenet5(params, x, key, 0.25), y)


_SGD = cc.optim.sgd(0.05, momentum=0.9, weight_decay=5e-4)


def train_step(loss):
    def step(params, state, *batch):
        value, grads = cc.value_and_grad(loss)(params, *batch)
        params, state = _SGD.update(params, grads, state)
        return params, state, value
    step.__name__ = f"{loss.__name__}_step"
    return step


def mlp_args(rng, batch=32, sizes=(64, 128, 128, 10)):
    params = cc.nn.init.mlp(list(sizes), seed=int(rng.integers(1 << 30)))
    return params, f32(rng, batch, sizes[0]), labels(rng, batch, sizes[-1])


def lenet_args(rng, batch=8):
    params = cc.nn.init.lenet5(seed=int(rng.integers(1 << 30)))
    return params, rng.random((batch, 1, 32, 32)).astype(np.float32), labels(rng, batch), np.int64(7)


def mlp_step_args(rng):
    p, x, y = mlp_args(rng)
    return p, _SGD.init(p), x, y


def lenet_step_args(rng):
    p, x, y, k = lenet_args(rng)
    return p, _SGD.init(p), x, y, k


def _softmax_ce(x, y):
    return nn.cross_entropy(x, y)


E = Entry
def random_key(r):
    return cc.random.key(int(r.integers(0, 2 ** 32)))


def random_draws(k):
    # threefry2x32 in every mode on the GPU: bits (xor), keys (pair), f64 uniforms (pair words), through fold_in
    R = cc.random
    return (R.bits(k, (40, 33)), R.split(k, 3), R.uniform(R.fold_in(k, 1), (40, 33)),
            R.normal(k, (100,), np.float64), R.randint(k, (50,), -7, 1000))


CATALOGUE = [
    # ---- elementwise: grid-stride launches ----
    E("chain", lambda x, a, b: np.tanh(x * a + b) * nn.sigmoid(x) + 0.5 * x * x,
      lambda r: (f32(r, 1000), np.float32(0.7), np.float32(-0.2)), grad=(0, 1), specs=("f32[N]", "f32[]", "f32[]")),
    E("exp/log/sqrt", lambda x: np.exp(-x) + np.log(x) * np.sqrt(x), lambda r: (pos32(r, 7, 33),)),
    E("sin/cos/pow", lambda x, y: np.sin(x) * np.cos(y) + np.power(np.abs(x) + 1, y),
      lambda r: (f32(r, 300), f32(r, 300)), grad=(0, 1)),
    E("broadcast 3-D", lambda x, b: x * b[:, None, :] - np.maximum(x, 0.1),
      lambda r: (f32(r, 4, 5, 6), f32(r, 4, 6)), grad=(0, 1), specs=("f32[A,5,C]", "f32[A,C]")),
    E("where/compare", lambda x, y: np.where(x > y, x * 2, y - 1) + (x == y),
      lambda r: (f32(r, 50), f32(r, 50)), grad=(0, 1)),
    E("float64 chain", lambda x: np.tanh(x) * np.exp(x / 4) + 1 / (1 + np.exp(-x)), lambda r: (r.standard_normal(500),)),
    E("int and bool ops", lambda i, j: ((i // 3 + j % 5) * (i > j), np.logical_and(i > 0, j < 2), np.abs(i - j)),
      lambda r: (r.integers(-20, 20, 64), r.integers(-20, 20, 64).astype(np.int32)), grad=None),
    E("casts", lambda x: (x.astype(np.int32), (x > 0).astype(np.float32) * x, x.astype(np.float64)),
      lambda r: (f32(r, 40, scale=5),), grad=None),
    # ---- shapes and indexing ----
    E("transpose/reshape", lambda x: np.transpose(x, (2, 0, 1)).reshape(6, -1) * 3,
      lambda r: (f32(r, 4, 5, 6),)),
    E("slices/pad/concat", lambda x: np.concatenate([np.pad(x[1:, ::2], 1)[:6], x[:, :3] * 2], axis=1),
      lambda r: (f32(r, 6, 8),)),
    E("gather/take", lambda x, i: np.take(x, i, axis=0) * 2 + x[np.array([0, -1])].sum(),
      lambda r: (f32(r, 10, 4), r.integers(0, 10, (3, 2))), grad=0),
    E("one_hot/argmax", lambda x: (np.argmax(x, axis=-1), np.argmax(x, axis=0), (x == x.max(-1, keepdims=True)) * 1.0),
      lambda r: (f32(r, 20, 300),), grad=None),
    # ---- reductions ----
    E("row sum (long rows)", lambda x: np.sum(x * x, axis=-1), lambda r: (f32(r, 37, 3000),),
      specs=("f32[N,M]",)),
    E("row max/min (short rows)", lambda x: x.max(axis=-1) - x.min(axis=-1), lambda r: (f32(r, 300, 7),)),
    E("column sum", lambda x: x.sum(axis=0) + x.mean(axis=(0, 2))[:, None], lambda r: (f32(r, 50, 6, 7),)),
    E("whole sum/mean/var", lambda x: (x.sum(), x.mean() * x.var(), np.max(x)), lambda r: (f32(r, 123, 45),),
      grad=None),
    E("whole sum (grad)", lambda x: np.sum(np.tanh(x)) / x.size, lambda r: (f32(r, 3000),)),
    E("softmax", lambda x: nn.softmax(x) * np.arange(x.shape[-1], dtype=np.float32),
      lambda r: (f32(r, 64, 1000),), grad=None),
    # NOTE: the gradient through the row max adds a sum that is 0 exactly and ~1e-4 * row length in float32 (the
    # summation order decides which), at each row's argmax; the GPU's tree sum is the closer one to float64.
    E("log_softmax (grad)", lambda x: np.sum(nn.log_softmax(x) * 0.3), lambda r: (f32(r, 33, 517),), rtol=1e-3),
    E("softmax cross-entropy", _softmax_ce, lambda r: (f32(r, 64, 1000), labels(r, 64, 1000)),
      specs=("f32[N,1000]", "i64[N]")),
    E("normalize", lambda x: (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-5), lambda r: (f32(r, 200, 30),)),
    # ---- linear algebra ----
    E("matmul", lambda a, b: a @ b, lambda r: (f32(r, 130, 70), f32(r, 70, 150)), grad=(0, 1),
      specs=("f32[M,K]", "f32[K,N]")),
    E("matmul transposed + epilogue", lambda a, b: np.tanh(a.T @ b.T + 1.0),
      lambda r: (f32(r, 33, 17), f32(r, 9, 33)), grad=(0, 1)),
    E("batched matmul", lambda a, b: np.matmul(a, b) * 0.5, lambda r: (f32(r, 3, 20, 30), f32(r, 3, 30, 10)),
      grad=(0, 1)),
    E("matmul float64", lambda a, b: a @ b, lambda r: (r.standard_normal((40, 50)), r.standard_normal((50, 20))),
      grad=(0, 1)),
    E("int matmul", lambda a, b: a @ b, lambda r: (r.integers(-3, 3, (8, 9)), r.integers(-3, 3, (9, 5))),
      grad=None),
    E("dense relu", lambda x, w, b: nn.relu(nn.dense(x, w, b)), lambda r: (f32(r, 16, 64), f32(r, 64, 32), f32(r, 32)),
      grad=(0, 1, 2), specs=("f32[N,64]", "f32[64,32]", "f32[32]")),
    # ---- convolution and pooling ----
    E("conv2d + pool", lambda x, w, b: nn.max_pool2d(nn.relu(nn.conv2d(x, w, b, padding=1)), 2),
      lambda r: (f32(r, 2, 3, 12, 12), f32(r, 4, 3, 3, 3, scale=0.3), f32(r, 4)), grad=(0, 1, 2)),
    E("conv2d stride 2", lambda x, w: nn.conv2d(x, w, stride=2), lambda r: (f32(r, 2, 2, 9, 9), f32(r, 3, 2, 3, 3)),
      grad=(0, 1)),
    # ---- models ----
    E("mlp loss", mlp_loss, mlp_args, specs=None),
    E("lenet loss", lenet_loss, lenet_args),
    E("dropout", lambda x, k: nn.dropout(x, 0.5, k), lambda r: (f32(r, 64, 64), np.int64(3)), grad=None),
    E("dropout uint32 key", lambda x, k: nn.dropout(x, 0.25, k), lambda r: (f32(r, 64, 64), random_key(r)), grad=None),
    E("random draws", random_draws, lambda r: (random_key(r),), grad=None, specs=("u32[2]",)),
    E("mlp train step", train_step(mlp_loss), mlp_step_args, grad=None),
    E("lenet train step", train_step(lenet_loss), lenet_step_args, grad=None),
]
IDS = [e.name for e in CATALOGUE]


def gradient_of(entry):
    """cc.value_and_grad of the entry's function w.r.t. its grad argnums (summed to a scalar when needed)."""
    fn = entry.fn

    def scalar(*args):
        # weighted sums: a plain sum of normalized values is 0 up to rounding noise, and compares badly
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = 0.0
        for o in outs:
            w = np.linspace(0.5, 1.5, max(o.size, 1), dtype=o.dtype)[:o.size].reshape(o.shape)
            total = total + np.sum(o * w)
        return total
    scalar.__name__ = "grad_" + "".join(c if c.isalnum() else "_" for c in entry.name)
    return cc.value_and_grad(scalar, argnums=entry.grad)


def cases():
    """(id, entry, fn) for every function and every gradient."""
    out = []
    for e in CATALOGUE:
        out.append((e.name, e, e.fn))
        if e.grad is not None:
            out.append((e.name + " (grad)", e, gradient_of(e)))
    return out


CASES = cases()
CASE_IDS = [c[0] for c in CASES]
