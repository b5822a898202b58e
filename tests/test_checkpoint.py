"""cc.save / cc.load: exact round trips of pytrees (no pickle), bit-identical resume of training, clear errors."""
from __future__ import annotations

import collections
import json
import math

import numpy as np
import pytest

import compiler as cc
from compiler import optim


def assert_same(a, b):
    """Same structure, types, dtypes and bits."""
    assert type(a) is type(b) or (isinstance(a, tuple) and hasattr(a, "_fields")), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_every_kind(tmp_path):
    rng = np.random.default_rng(0)
    Pt = collections.namedtuple("Pt", ["x", "y"])
    tree = {
        "f32": rng.standard_normal((3, 4)).astype(np.float32),
        "f64": np.array([np.nan, -0.0, np.inf, 1e-310]),
        "f16": np.arange(5, dtype=np.float16),
        "ints": [np.arange(6, dtype=np.int8).reshape(2, 3), np.array([2 ** 40], np.int64), np.uint32(7)],
        "bool": np.array([[True, False]]),
        "c64": np.array([1 + 2j], np.complex64),
        "empty": np.zeros((0, 3), np.float32),
        "scalar0d": np.zeros((), np.int64),
        "npscalar": np.float64(0.1),
        "py": (1, -2 ** 70, 0.1, float("inf"), float("nan"), True, None, "text", 1 + 2j),
        "nested": [[], (), {}, [None, (np.float32(1.5),)]],
        "pt": Pt(np.ones(2), 3),
        5: "int key",
    }
    path = tmp_path / "ckpt.npz"
    cc.save(path, tree)
    back = cc.load(path)
    assert_same(tree, back)
    assert type(back["pt"]).__name__ == "Pt" and back["pt"]._fields == ("x", "y")
    assert back["pt"].y == 3
    assert isinstance(back["ints"][2], np.uint32) and isinstance(back["scalar0d"], np.ndarray)
    # an ordinary .npz: np.load reads it without pickle
    with np.load(path, allow_pickle=False) as z:
        assert "__vive_tree__" in z.files
        np.testing.assert_array_equal(z["a0"], tree["f32"])


def test_save_uses_the_exact_path_and_overwrites(tmp_path):
    path = tmp_path / "weights.ckpt"
    cc.save(str(path), [np.ones(3)])
    cc.save(str(path), [np.zeros(2)])
    assert path.exists() and not (tmp_path / "weights.ckpt.npz").exists()
    assert_same(cc.load(str(path)), [np.zeros(2)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.ckpt"]


def loss_fn(p, x, y):
    h = np.tanh(x @ p["w1"] + p["b1"])
    return cc.nn.cross_entropy(h @ p["w2"], y)


def test_resume_sgd_bit_identical(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    params = {"w1": rng.standard_normal((5, 8)).astype(np.float32) * 0.5, "b1": np.zeros(8, np.float32),
              "w2": rng.standard_normal((8, 3)).astype(np.float32) * 0.5}
    opt = optim.sgd(optim.cosine_decay(0.2, 6), momentum=0.9, weight_decay=1e-3)

    @cc.compile
    def step(p, s, x, y):
        loss, g = cc.value_and_grad(loss_fn)(p, x, y)
        p, s = opt.update(p, g, s)
        return p, s, loss

    p, s = params, opt.init(params)
    for _ in range(6):
        p, s, _ = step(p, s, x, y)
    straight = (p, s)

    p, s = params, opt.init(params)
    for _ in range(3):
        p, s, _ = step(p, s, x, y)
    cc.save(tmp_path / "mid.npz", {"params": p, "opt": s, "epoch": 3})
    ck = cc.load(tmp_path / "mid.npz")
    assert ck["epoch"] == 3 and int(ck["opt"]["step"]) == 3
    p, s = ck["params"], ck["opt"]
    for _ in range(3):
        p, s, _ = step(p, s, x, y)
    assert_same(straight, (p, s))


def test_adam_state_round_trip(tmp_path):
    params = {"w": np.ones((2, 2), np.float32)}
    opt = optim.adamw(0.1)
    p, s = opt.update(params, {"w": np.full((2, 2), 0.5, np.float32)}, opt.init(params))
    cc.save(tmp_path / "a.npz", (p, s))
    assert_same((p, s), cc.load(tmp_path / "a.npz"))


class Thing:
    pass


@pytest.mark.parametrize("tree,where", [({"a": [1, Thing()]}, "tree['a'][1]"),
                                        ({"a": {1.5: 2}}, "tree['a']"),
                                        ({"a": np.array([object()], dtype=object)}, "tree['a']"),
                                        ([{1, 2}], "tree[0]")])
def test_save_rejects_unsupported(tmp_path, tree, where):
    with pytest.raises(cc.CheckpointError, match=__import__("re").escape(where)):
        cc.save(tmp_path / "x.npz", tree)
    assert not list(tmp_path.iterdir())


def test_load_rejects_foreign_files(tmp_path):
    assert issubclass(cc.CheckpointError, cc.ViveError)
    text = tmp_path / "t.npz"
    text.write_text("hello")
    npy = tmp_path / "a.npy"
    np.save(npy, np.ones(3))
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    pickled = tmp_path / "p.npz"
    np.savez(pickled, __vive_tree__=np.array([{"a": 1}], dtype=object))
    for path, msg in [(text, "not a vive checkpoint"), (npy, "single array"), (plain, "__vive_tree__"),
                      (pickled, "not a vive checkpoint")]:
        with pytest.raises(cc.CheckpointError, match=msg):
            cc.load(path)
    with pytest.raises(FileNotFoundError):
        cc.load(tmp_path / "missing.npz")


def write_meta(path, meta, **arrays):
    raw = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, __vive_tree__=raw, **arrays)


@pytest.mark.parametrize("meta,msg", [
    ({"format": "other", "version": 1, "tree": {"t": "none"}}, "header"),
    ({"format": "vive-checkpoint", "version": 99, "tree": {"t": "none"}}, "version 99"),
    ({"format": "vive-checkpoint", "version": 1, "tree": {"t": "blob"}}, "unknown node type 'blob'"),
    ({"format": "vive-checkpoint", "version": 1, "tree": {"t": "list", "items": [{"t": "array", "key": "a9",
      "dtype": "<f8", "shape": [3], "scalar": False}]}}, "'a9' for tree\\[0\\] is missing"),
    ({"format": "vive-checkpoint", "version": 1, "tree": {"t": "array", "key": "a0", "dtype": "<f4",
      "shape": [3], "scalar": False}}, "the tree says <f4"),
    ({"format": "vive-checkpoint", "version": 1, "tree": {"t": "dict", "items": [[1]]}}, "malformed 'dict'"),
])
def test_load_rejects_damaged_trees(tmp_path, meta, msg):
    path = tmp_path / "d.npz"
    write_meta(path, meta, a0=np.ones(3))
    with pytest.raises(cc.CheckpointError, match=msg):
        cc.load(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "c.npz"
    cc.save(path, {"w": np.ones(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(cc.CheckpointError, match="not a vive checkpoint"):
        cc.load(path)                                   # a zip-level failure, reported as a CheckpointError
