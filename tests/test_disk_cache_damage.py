"""A damaged entry of the disk cache (program metadata, constants or object code) is reported with a
RuntimeWarning and compiled anew; results stay right and the entry is rewritten."""
import os

import numpy as np
import pytest

import compiler as cc
from compiler.backends import build
from compiler.programs import clear_program_cache
from runtime import cache


def _f(x, w):
    return np.tanh(x @ w) * 2.0 + np.array([1.0, -1.0, 0.5], np.float32)     # a constant array too


def _args():
    r = np.random.default_rng(0)
    return r.standard_normal((4, 5)).astype(np.float32), r.standard_normal((5, 3)).astype(np.float32)


def _want():
    x, w = _args()
    return np.tanh(x @ w) * 2.0 + np.array([1.0, -1.0, 0.5], np.float32)


def _program_entry(directory):
    """(key, path) of the one program entry (the one whose metadata has the program format)."""
    for root, _, files in os.walk(directory):
        for name in files:
            if name.endswith(".vo"):
                key = name[:-3]
                entry = cache.load(key, directory)
                if entry is not None and entry[1].get("format") == build._FORMAT:
                    return key, os.path.join(root, name)
    raise AssertionError("no program entry")


def _compile_again():
    clear_program_cache()
    low = cc.compile(_f).lower(*_args())
    return low


@pytest.mark.parametrize("damage", ["no_ir", "wrong_format", "bad_consts"])
def test_damaged_program_entry_compiles_anew(damage, tmp_path, monkeypatch):
    d = str(tmp_path / "cache")
    monkeypatch.setenv("VIVE_CACHE_DIR", d)
    monkeypatch.delenv("VIVE_NO_CACHE", raising=False)
    first = _compile_again()
    assert not first.cache_hit
    np.testing.assert_allclose(first(*_args()), _want(), rtol=1e-5, atol=1e-6)
    assert _compile_again().cache_hit
    key, _ = _program_entry(d)
    blob, meta = cache.load(key, d)
    if damage == "no_ir":
        del meta["ir"]
    elif damage == "wrong_format":
        meta["format"] = "something-else"
    else:
        blob = b"PK\x03\x04 not a zip"
    cache.store(key, blob, meta, d)                  # a whole, checksummed entry with damaged contents
    with pytest.warns(RuntimeWarning, match="damaged code-cache entry"):
        again = _compile_again()
    assert not again.cache_hit
    np.testing.assert_allclose(again(*_args()), _want(), rtol=1e-5, atol=1e-6)
    assert _compile_again().cache_hit                # rewritten with a good entry


def test_flipped_byte_in_object_entry_compiles_anew(tmp_path, monkeypatch):
    d = str(tmp_path / "cache")
    monkeypatch.setenv("VIVE_CACHE_DIR", d)
    monkeypatch.delenv("VIVE_NO_CACHE", raising=False)
    _compile_again()
    key, program_path = _program_entry(d)
    objects = [os.path.join(r, n) for r, _, fs in os.walk(d) for n in fs if n.endswith(".vo")
               and os.path.join(r, n) != program_path]
    assert objects
    for path in objects:                             # every object entry (the program's and the call wrapper's)
        data = bytearray(open(path, "rb").read())
        data[-10] ^= 0x55
        open(path, "wb").write(bytes(data))
    clear_program_cache()
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        f = cc.compile(_f)
        out = f(*_args())
    np.testing.assert_allclose(out, _want(), rtol=1e-5, atol=1e-6)
