"""cc.data: seeded minibatches, the digits split, upsampling, batched evaluation."""
from __future__ import annotations

import numpy as np
import pytest

from compiler import data


def test_minibatches_one_epoch_is_one_pass():
    batches = list(data.minibatches(10, 3, seed=0, epoch=0))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert [len(b) for b in data.minibatches(10, 3, drop_last=True)] == [3, 3, 3]
    assert data.num_batches(10, 3) == 4 and data.num_batches(10, 3, drop_last=True) == 3


def test_minibatches_seeded_per_epoch():
    a = np.concatenate(list(data.minibatches(50, 8, seed=1, epoch=2)))
    b = np.concatenate(list(data.minibatches(50, 8, seed=1, epoch=2)))
    c = np.concatenate(list(data.minibatches(50, 8, seed=1, epoch=3)))
    d = np.concatenate(list(data.minibatches(50, 8, seed=2, epoch=2)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)
    np.testing.assert_array_equal(np.concatenate(list(data.minibatches(50, 8, shuffle=False))), np.arange(50))


def test_minibatches_of_arrays_keep_rows_together():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10) * 10
    seen = []
    for xb, yb in data.minibatches((x, y), 4, seed=3):
        np.testing.assert_array_equal(xb[:, 0] * 5, yb)
        seen.extend(yb.tolist())
    assert sorted(seen) == y.tolist()
    only = list(data.minibatches(x, 4, seed=3))
    assert only[0].shape == (4, 2)
    with pytest.raises(ValueError):
        list(data.minibatches((x, y[:5]), 2))


def test_load_digits_split():
    xtr, ytr, xte, yte = data.load_digits(seed=0)
    assert xtr.shape == (1437, 64) and xte.shape == (360, 64)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert 0.0 <= xtr.min() and xtr.max() <= 1.0
    assert set(np.unique(yte)) == set(range(10))
    # disjoint and complete: no test image appears in train
    tr = {r.tobytes() for r in xtr}
    assert sum(r.tobytes() in tr for r in xte) < 5          # a few digits are pixel-identical duplicates
    xtr2, ytr2, _, _ = data.load_digits(seed=0)
    np.testing.assert_array_equal(xtr, xtr2)
    np.testing.assert_array_equal(ytr, ytr2)
    _, y1, _, _ = data.load_digits(seed=1)
    assert not np.array_equal(ytr, y1)


def test_load_digits_images():
    xtr, ytr, xte, yte = data.load_digits(seed=0, image_size=32)
    assert xtr.shape == (1437, 1, 32, 32) and xtr.dtype == np.float32
    x8, _, _, _ = data.load_digits(seed=0, image_size=8)
    assert x8.shape == (1437, 1, 8, 8)
    flat, _, _, _ = data.load_digits(seed=0)
    np.testing.assert_array_equal(x8.reshape(len(x8), -1), flat)
    # upsampling keeps the mean intensity (bilinear, edge-clamped: close, not exact)
    assert abs(xtr.mean() - x8.mean()) < 0.02


def test_upsample_bilinear():
    img = np.array([[0.0, 1.0], [2.0, 3.0]])
    up = data.upsample(img, 4)
    assert up.shape == (4, 4)
    np.testing.assert_allclose(up[0], [0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(up[:, 0], [0, 0.5, 1.5, 2.0])
    np.testing.assert_allclose(data.upsample(np.ones((2, 3, 5, 5)), 32), 1.0)


def test_predict_pads_last_batch_to_one_shape():
    shapes = []

    def fn(params, xb):
        shapes.append(xb.shape)
        return xb @ params

    x = np.random.default_rng(0).standard_normal((10, 3))
    w = np.eye(3)[:, [2, 0, 1]]
    out = data.predict(fn, w, x, batch_size=4)
    np.testing.assert_allclose(out, x @ w)
    assert shapes == [(4, 3)] * 3
    y = np.argmax(x @ w, axis=1)
    y[:3] = (y[:3] + 1) % 3
    assert data.accuracy(fn, w, x, y, batch_size=4) == pytest.approx(0.7)


def test_random_shift():
    x = np.zeros((50, 1, 6, 6), np.float32)
    x[:, 0, 2, 3] = 1.0
    y = data.random_shift(x, 2, rng=0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert np.all(y.sum(axis=(1, 2, 3)) == 1.0)                 # the pixel moves, never leaves (|shift| <= 2)
    r, c = np.nonzero(y[:, 0])[1:]
    assert set((r - 2).tolist()) == {-2, -1, 0, 1, 2} and set((c - 3).tolist()) <= {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(y, data.random_shift(x, 2, rng=0))
    # content shifts rigidly and the border fills
    img = np.arange(25.0).reshape(1, 5, 5)
    for seed in range(10):
        s = data.random_shift(img, 1, rng=seed, fill=-1.0)[0]
        dy, dx = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)
                  if np.array_equal(s[1:4, 1:4], img[0, 1 - a:4 - a, 1 - b:4 - b])][0]
        assert (s == -1).sum() == 25 - (5 - abs(dy)) * (5 - abs(dx))
