"""Hand-written NumPy training steps (forward + backward + SGD-momentum update), the baselines of bench_train.py:
an MLP of ReLU dense layers, and LeNet-5 with im2col convolutions. Parameter names follow cc.nn.init.mlp/lenet5;
updates follow cc.optim.sgd (PyTorch's v <- mu v + g + wd p; p <- p - lr v)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _softmax_xent(logits, y):
    """(mean cross-entropy, d loss / d logits)."""
    n = len(y)
    s = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(s)
    z = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(z[:, 0]) - s[np.arange(n), y]))
    d = e / z
    d[np.arange(n), y] -= 1.0
    return loss, d / n


def _sgd(params, grads, vel, lr, mu, wd):
    for k in params:
        g = grads[k] + wd * params[k] if wd else grads[k]
        vel[k] *= mu
        vel[k] += g
        params[k] -= lr * vel[k]


def mlp_step(params, vel, x, y, lr=0.05, mu=0.9, wd=0.0):
    """One in-place SGD step of a ReLU MLP with weights w1..wL, biases b1..bL; returns the loss."""
    nl = len(params) // 2
    hs = [x]
    h = x
    for i in range(1, nl + 1):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < nl:
            h = np.maximum(h, 0)
        hs.append(h)
    loss, d = _softmax_xent(h, y)
    grads = {}
    for i in range(nl, 0, -1):
        a = hs[i - 1]
        grads[f"w{i}"] = a.T @ d
        grads[f"b{i}"] = d.sum(axis=0)
        if i > 1:
            d = (d @ params[f"w{i}"].T) * (a > 0)
    _sgd(params, grads, vel, lr, mu, wd)
    return loss


def _im2col(x, k):
    """(B, C, H, W) -> (B*OH*OW, C*k*k), columns ordered like an OIHW weight's flattened (c, i, j)."""
    b, c, h, w = x.shape
    win = sliding_window_view(x, (k, k), axis=(2, 3))                     # B, C, OH, OW, k, k
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(b * (h - k + 1) * (w - k + 1), c * k * k)


def _col2im(dcols, shape, k):
    b, c, h, w = shape
    oh, ow = h - k + 1, w - k + 1
    d = dcols.reshape(b, oh, ow, c, k, k).transpose(0, 3, 4, 5, 1, 2)     # B, C, k, k, OH, OW
    dx = np.zeros(shape, dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += d[:, :, i, j]
    return dx


def _conv_fwd(x, w, bias):
    o, c, k, _ = w.shape
    b, _, h, wd = x.shape
    cols = _im2col(x, k)
    y = cols @ w.reshape(o, -1).T + bias                                   # (B*OH*OW, O)
    return y.reshape(b, h - k + 1, wd - k + 1, o).transpose(0, 3, 1, 2), cols


def _conv_bwd(dy, cols, w, xshape, need_dx):
    o, c, k, _ = w.shape
    dyc = dy.transpose(0, 2, 3, 1).reshape(-1, o)
    dw = (dyc.T @ cols).reshape(w.shape)
    db = dyc.sum(axis=0)
    dx = _col2im(dyc @ w.reshape(o, -1), xshape, k) if need_dx else None
    return dx, dw, db


def _pool_fwd(x):
    b, c, h, w = x.shape
    r = x.reshape(b, c, h // 2, 2, w // 2, 2)
    out = r.max(axis=(3, 5))
    mask = r == out[:, :, :, None, :, None]
    return out, mask


def _pool_bwd(dout, mask):
    b, c, h2, _, w2, _ = mask.shape
    return (mask * dout[:, :, :, None, :, None]).reshape(b, c, h2 * 2, w2 * 2)


def lenet_step(params, vel, x, y, lr=0.05, mu=0.9, wd=5e-4, rate=0.0, rng=None):
    """One in-place SGD step of LeNet-5 (conv 6@5x5, relu, pool, conv 16@5x5, relu, pool, 120, 84, dropout, 10)."""
    p = params
    a1, cols1 = _conv_fwd(x, p["conv1_w"], p["conv1_b"])
    r1 = np.maximum(a1, 0)
    q1, m1 = _pool_fwd(r1)
    a2, cols2 = _conv_fwd(q1, p["conv2_w"], p["conv2_b"])
    r2 = np.maximum(a2, 0)
    q2, m2 = _pool_fwd(r2)
    f = q2.reshape(len(x), -1)
    h1 = np.maximum(f @ p["fc1_w"] + p["fc1_b"], 0)
    h2 = np.maximum(h1 @ p["fc2_w"] + p["fc2_b"], 0)
    if rate:
        keep = (rng.random(h2.shape) >= rate).astype(h2.dtype) / (1 - rate)
        h2d = h2 * keep
    else:
        keep, h2d = None, h2
    logits = h2d @ p["fc3_w"] + p["fc3_b"]
    loss, d = _softmax_xent(logits, y)
    g = {"fc3_w": h2d.T @ d, "fc3_b": d.sum(0)}
    d = d @ p["fc3_w"].T
    if keep is not None:
        d = d * keep
    d = d * (h2 > 0)
    g["fc2_w"], g["fc2_b"] = h1.T @ d, d.sum(0)
    d = (d @ p["fc2_w"].T) * (h1 > 0)
    g["fc1_w"], g["fc1_b"] = f.T @ d, d.sum(0)
    d = (d @ p["fc1_w"].T).reshape(q2.shape)
    d = _pool_bwd(d, m2) * (a2 > 0)
    d, g["conv2_w"], g["conv2_b"] = _conv_bwd(d, cols2, p["conv2_w"], q1.shape, True)
    d = _pool_bwd(d, m1) * (a1 > 0)
    _, g["conv1_w"], g["conv1_b"] = _conv_bwd(d, cols1, p["conv1_w"], x.shape, False)
    _sgd(params, g, vel, lr, mu, wd)
    return loss


def lenet_logits(params, x):
    p = params
    q1, _ = _pool_fwd(np.maximum(_conv_fwd(x, p["conv1_w"], p["conv1_b"])[0], 0))
    q2, _ = _pool_fwd(np.maximum(_conv_fwd(q1, p["conv2_w"], p["conv2_b"])[0], 0))
    h = q2.reshape(len(x), -1)
    h = np.maximum(h @ p["fc1_w"] + p["fc1_b"], 0)
    h = np.maximum(h @ p["fc2_w"] + p["fc2_b"], 0)
    return h @ p["fc3_w"] + p["fc3_b"]


def mlp_logits(params, x):
    nl = len(params) // 2
    h = x
    for i in range(1, nl + 1):
        h = h @ params[f"w{i}"] + params[f"b{i}"]
        if i < nl:
            h = np.maximum(h, 0)
    return h
