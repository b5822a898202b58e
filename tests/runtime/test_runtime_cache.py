import os
import subprocess
import sys

import numpy as np
import pytest

from runtime import cache, compile_module, jit


def _entries(directory):
    return sorted(p for root, _, files in os.walk(directory) for p in (os.path.join(root, f) for f in files))


def _roundtrip_ok(cm):
    import ctypes
    x = np.arange(10, dtype=np.float32)
    y = np.empty_like(x)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(cm.address("add1"))
    fn((ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data), (ctypes.c_int64 * 1)(10))
    return np.array_equal(y, x + 1)


def test_second_compile_hits(add1_ir, _isolated_cache):
    a = compile_module(add1_ir, version="t")
    b = compile_module(add1_ir, version="t")
    assert (a.cache_hit, b.cache_hit) == (False, True)
    assert a.key == b.key
    assert _entries(_isolated_cache) == [cache.entry_path(a.key)]
    assert _roundtrip_ok(b)
    assert "x float>" in b.optimized_ir        # recomputed on demand after a hit
    assert set(b.timings) == {"cache_read", "load"}


def test_key_covers_version_and_opt(add1_ir):
    k = jit.cache_key(add1_ir, version="a")
    assert k != jit.cache_key(add1_ir, version="b")
    assert k != jit.cache_key(add1_ir, version="a", opt=2)
    assert k != jit.cache_key(add1_ir + "\n", version="a")
    assert k == jit.cache_key(add1_ir, version="a")


@pytest.mark.parametrize("damage", ["flip_payload", "truncate", "empty", "bad_magic"])
def test_corrupt_entry_is_rebuilt(add1_ir, damage):
    first = compile_module(add1_ir)
    path = cache.entry_path(first.key)
    data = bytearray(open(path, "rb").read())
    if damage == "flip_payload":
        data[-100] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data[:8] = b"NOTVIVE!"
    open(path, "wb").write(bytes(data))
    with pytest.warns(RuntimeWarning, match="damaged code-cache entry"):
        assert cache.load(first.key) is None
    with pytest.warns(RuntimeWarning, match="damaged code-cache entry"):
        again = compile_module(add1_ir)
    assert not again.cache_hit and _roundtrip_ok(again)
    assert cache.load(first.key) is not None             # overwritten with a good entry
    assert compile_module(add1_ir).cache_hit


def test_foreign_entry_is_ignored(add1_ir):
    other = compile_module(add1_ir.replace("1.0", "2.0"))
    key = jit.cache_key(add1_ir)
    path = cache.entry_path(key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # A valid entry stored under the wrong name (copied file, hash collision in a name): never loaded.
    open(path, "wb").write(open(cache.entry_path(other.key), "rb").read())
    with pytest.warns(RuntimeWarning, match="stored under another key"):
        cm = compile_module(add1_ir)
    assert not cm.cache_hit and _roundtrip_ok(cm)


def test_env_override_and_xdg(add1_ir, tmp_path, monkeypatch):
    monkeypatch.setenv("VIVE_CACHE_DIR", str(tmp_path / "elsewhere"))
    cm = compile_module(add1_ir)
    assert cache.entry_path(cm.key).startswith(str(tmp_path / "elsewhere"))
    assert os.path.exists(cache.entry_path(cm.key))
    monkeypatch.delenv("VIVE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == str(tmp_path / "xdg" / "vive")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "vive")


@pytest.mark.parametrize("env", [{"VIVE_CACHE_DIR": ""}, {"VIVE_NO_CACHE": "1"}])
def test_disabled_cache(add1_ir, _isolated_cache, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    a = compile_module(add1_ir)
    b = compile_module(add1_ir)
    assert not a.cache_hit and not b.cache_hit
    assert not os.path.exists(_isolated_cache) or _entries(_isolated_cache) == []
    assert cache.cache_dir() is None


def test_unwritable_cache_dir_is_not_an_error(add1_ir, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("VIVE_CACHE_DIR", str(blocker))
    cm = compile_module(add1_ir)
    assert not cm.cache_hit and _roundtrip_ok(cm)


def test_warm_hit_in_fresh_process(add1_ir, _isolated_cache):
    compile_module(add1_ir, version="proc")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from runtime import compile_module\n"
        "cm = compile_module(sys.stdin.read(), version='proc')\n"
        "print(cm.cache_hit)\n" % root)
    out = subprocess.run([sys.executable, "-c", code], input=add1_ir, capture_output=True, text=True,
                         env={**os.environ, "VIVE_CACHE_DIR": str(_isolated_cache)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
